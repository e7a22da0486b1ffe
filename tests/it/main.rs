//! ferryd's integration tests: one binary (faster to link, one place for the harness).
//!
//! Every test starts its own server or binary on ephemeral loopback ports in its own temp dir;
//! see `harness` for the helpers and `docs/testing.md` for the layers.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod admin;
mod attacks_ftps;
mod attacks_sftp;
mod bandwidth;
mod check_config;
mod ci_recipes;
mod cli;
mod cli_config_errors;
mod cli_manuals;
mod cli_paste;
mod cli_umask;
mod clients_ftps;
mod clients_paramiko;
mod clients_rclone;
mod clients_sftp;
mod cross_protocol;
mod daemon;
mod defender;
mod dual_stack;
mod failed_uploads_ftps;
mod failed_uploads_log;
mod failed_uploads_sftp;
mod ftps;
mod ftps_client_certificates;
mod ftps_security;
mod ftps_transfers;
mod harness;
mod hooks;
mod leftovers;
mod limits;
mod object_storage;
mod proxy_protocol;
mod readlink;
mod sandbox;
mod scp;
mod server;
mod service;
mod sftp;
mod sftp_idle;
mod sftp_requests;
mod sftp_socket;
mod umask;

//! ferryd: an FTPS and SFTP file server daemon.
//!
//! The crate is organised as a protocol-neutral core (`config`, `auth`, `vfs`, `audit`) with two
//! thin protocol front ends (`ftp`, `sftp`) and the daemon shell (`server`, `cli`).
//! See `docs/ARCHITECTURE.md` for the map and its invariants.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod connection;
pub mod ftp;
pub mod fuzzing;
pub mod hooks;
pub mod key_material;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod proxy_protocol;
pub mod server;
pub mod services;
pub mod session_core;
pub mod sftp;
pub mod vfs;

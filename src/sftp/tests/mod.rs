//! Tests of the SFTP front end that span its files: request handlers
//! driven in-process through the session's routing and handler table against a temporary
//! home (no SSH connection; the channel and the client tools are tested end to end in
//! `tests/it`).

mod bad_input;
mod extensions;
mod files;
mod fixture;
mod object_storage;
mod paths;

//! Data connections (RFC 959 §3.2-3.3, RFC 4217 §8-9), in the order a connection's setup
//! flows: `accept` (the passive listener and its peer check, or the active connect), `secure`
//! (PROT P: the handshake and the TLS-session-reuse check), `transfer` (the copy loop, TYPE A
//! conversion; uploads in `receive`), with `outcome` saying how it ended. Each file uses only
//! the ones before it; this root only names them for the rest of `ftp`.
//!
//! A transfer runs in its own task (spawned by `control.rs`) that owns its socket and its file
//! reader or writer, and reports an [`Outcome`]; the control connection keeps answering
//! meanwhile. Cancelling the task's token (ABOR, server abort) drops the writer, which discards
//! an atomic upload, so a cut upload is never visible under its final name.

mod accept;
mod outcome;
mod receive;
mod secure;
mod transfer;

pub use accept::{DataChannel, DataSetup, PendingConnection};
pub use outcome::Outcome;
pub use secure::DataTls;
pub use transfer::{run, Job, ListFormat, Listing};

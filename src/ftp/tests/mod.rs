//! Tests of the FTP front end that span its files: command handlers
//! driven in-process through the session's policy and dispatch against a temporary home (no
//! control socket; the data connections themselves are tested end to end in `tests/it`), and
//! the control task's timeouts over a loopback socket on tokio's paused clock (`timeouts`).

mod files;
mod fixture;
mod info;
mod login;
mod timeouts;
mod transfer;

//! Event hooks: commands and webhooks that follow what users do, and gates that check an
//! upload before it gets its final name.
//!
//! [`Hooks`] holds the hook table (global `[[hook]]`s from `ferryd.toml`, and each user's
//! `[[user.hook]]`s from the users file, both replaced on reload) and two ways to run them:
//! - **After the fact** (every event but a gate): the event goes into a bounded queue
//!   (`queue.rs`) and the client's reply never waits for it. A bounded number run at once; a
//!   failed run is retried with backoff; a full queue drops the event with a log line. Every
//!   outcome is logged and counted in the metrics. Events come from the audit trail
//!   ([`crate::audit::AuditSink`]), except uploads, which come from the VFS once published, with
//!   the file's SHA-256 and path ([`crate::vfs::UploadHooks`], `session.rs`).
//! - **Gates** (`before_commit = true`) run inside the upload's commit, between the last byte
//!   and the rename, against the temporary file; a refusal discards the upload.
//!
//! Commands never run inside the daemon under its sandbox (seccomp refuses `execve`): `ferryd
//! serve` starts a runner process before it confines itself (`runner.rs`) and hands it each
//! command, which it runs only if the command is one the configuration names. Without the
//! sandbox (tests, `[sandbox] enabled = false`) they run in-process.

mod command;
mod payload;
mod queue;
mod registry;
mod runner;
mod session;
mod webhook;

pub use command::{CommandOutcome, CommandRequest};
pub use payload::{signature, Payload};
pub use registry::{HookTable, Hooks, HooksError};
pub use runner::{serve_runner, RunnerProcess};
pub use session::SessionHooks;
pub use webhook::{EVENT_HEADER, SIGNATURE_HEADER};

//! The session core both front ends share: what happens to a connection at accept, at login and
//! at its end, whichever protocol it speaks.
//!
//! FTPS and SFTP used to run this sequence by hand, each a little differently; the differences
//! were bugs waiting (an SFTP listener that did not canonicalise the peer split the defender's
//! scores between the protocols). Now a front end:
//!
//! 1. asks [`SessionCore::admit`] when it accepts a socket: the peer becomes canonical, the
//!    defender and the connection limits (total, per address) decide, and an admitted
//!    [`Connection`] comes back with its
//!    [`ConnectionPermit`](crate::limits::ConnectionPermit), or a [`Refused`] saying why, which
//!    the front end turns into its own wire reply (FTP `421`, SSH disconnect);
//! 2. reports each login attempt on the [`Connection`]: [`Connection::log_in`] after the
//!    authenticator accepted (per-user limit, the user's files, the audit `login` event, which
//!    also moves the metrics' session gauge, and the registry entry for `ferryd session`), or
//!    [`Connection::login_failed`] after it refused (the defender's score and the audit event);
//! 3. ends the logged-in [`UserSession`] with [`UserSession::end`] or by dropping it: the audit
//!    `logout` event, the registry entry and the per-user slot go.
//!
//! What stays in the front ends is what only their protocol knows: reply texts and codes, TLS,
//! SSH channels and the logs that describe them.

mod admission;
mod login;

pub use admission::{Admission, Admitted, Connection, Refusal, Refused, SessionCore};
pub use login::{LoggedIn, LoginRefused, UserSession};

#[cfg(test)]
mod tests;

//! When a client starts the TLS handshake of a PROT P data connection, learned per control
//! session, and what the server's timing workarounds make of it.
//!
//! Two client habits need the server to wait (decision 0004): curl starts TLS on the data
//! connection *before* it sends the transfer command, and closes an upload without waiting for
//! the server's new TLS tickets unless the `150` reply is held until its handshake is done; and
//! curl stalls a second when the `227`/`229` reply arrives too early. Clients that start TLS only
//! after the `150` (Python ftplib, lftp) need neither wait, and on a session of small files
//! the waits cost them more than everything else together. So the first data connection shows
//! which kind of client this is, and later ones wait only for a client that needs it.
//!
//! Before anything is learned, the command that set up the connection decides: curl asks with
//! `EPSV`; `PASV` comes from clients that start TLS after the reply (ftplib, lftp) or that are
//! not known to lose tickets. A `PASV` client that does start TLS first is still held for as
//! soon as its hello has been seen, and is waited for on later connections.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// How long a client that connected but sent nothing yet may take to start its TLS handshake
/// before the 150 reply goes out anyway.
const CLIENT_HELLO_GRACE: Duration = Duration::from_millis(5);

/// A pause before the 227/229 reply. curl 7.87 to 8.x stalls for a second before connecting
/// when the reply arrives while it is still sending the command (it then waits for the next
/// control-connection event, which never comes); a reply that is a little later than its
/// read attempt is handled at once. On real networks the round trip does this by itself.
const PASSIVE_REPLY_DELAY: Duration = Duration::from_millis(1);

/// What the session's data connections have shown so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsOrder {
    /// No PROT P data connection was completed yet.
    Unknown,
    /// The client sent its TLS hello before the transfer command arrived (curl).
    BeforeCommand,
    /// The client stayed silent until the 150 reply, then started TLS (ftplib, lftp).
    AfterReply,
}

/// How the passive data connection was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassiveCommand {
    /// `PASV` (RFC 959).
    Pasv,
    /// `EPSV` (RFC 2428).
    Epsv,
}

/// The timing rules for one passive data connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waits {
    /// How long the 150 reply may wait for a client hello not seen yet.
    pub hello_grace: Duration,
    /// The pause before the 227/229 reply.
    pub reply_delay: Duration,
}

impl Waits {
    /// The rules for a connection set up by `command` in a session that has shown `order`.
    pub fn for_connection(order: TlsOrder, command: PassiveCommand) -> Waits {
        let waiting = Waits {
            hello_grace: CLIENT_HELLO_GRACE,
            reply_delay: PASSIVE_REPLY_DELAY,
        };
        match (order, command) {
            (TlsOrder::BeforeCommand, _) | (TlsOrder::Unknown, PassiveCommand::Epsv) => waiting,
            (TlsOrder::AfterReply, _) | (TlsOrder::Unknown, PassiveCommand::Pasv) => Waits {
                hello_grace: Duration::ZERO,
                reply_delay: Duration::ZERO,
            },
        }
    }
}

/// The session's record of its client's habit, shared with its data-connection tasks.
#[derive(Debug, Clone, Default)]
pub struct TlsOrderCell(Arc<AtomicU8>);

impl TlsOrderCell {
    /// What was learned so far.
    pub fn get(&self) -> TlsOrder {
        match self.0.load(Ordering::Relaxed) {
            1 => TlsOrder::BeforeCommand,
            2 => TlsOrder::AfterReply,
            _ => TlsOrder::Unknown,
        }
    }

    /// Records what the latest completed data connection showed; the latest wins, so a client
    /// that changes its habit is followed.
    pub fn set(&self, order: TlsOrder) {
        let value = match order {
            TlsOrder::Unknown => 0,
            TlsOrder::BeforeCommand => 1,
            TlsOrder::AfterReply => 2,
        };
        self.0.store(value, Ordering::Relaxed);
    }
}

/// What `operation` yields by `deadline`. A deadline already reached still takes what is
/// ready at once, without a timer: tokio's timer rounds deadlines up to its next millisecond
/// tick, so even a zero timeout held every 150 reply of a client that starts TLS after it
/// (lftp, ftplib) for about a millisecond.
pub async fn within<F: std::future::Future>(deadline: Instant, operation: F) -> Option<F::Output> {
    if deadline <= Instant::now() {
        tokio::select! {
            biased;
            output = operation => Some(output),
            () = std::future::ready(()) => None,
        }
    } else {
        tokio::time::timeout_at(deadline, operation).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_like_and_unknown_epsv_clients_are_waited_for() {
        for (order, command) in [
            (TlsOrder::BeforeCommand, PassiveCommand::Pasv),
            (TlsOrder::BeforeCommand, PassiveCommand::Epsv),
            (TlsOrder::Unknown, PassiveCommand::Epsv),
        ] {
            let waits = Waits::for_connection(order, command);
            assert_eq!(
                waits.hello_grace, CLIENT_HELLO_GRACE,
                "{order:?} {command:?}"
            );
            assert_eq!(
                waits.reply_delay, PASSIVE_REPLY_DELAY,
                "{order:?} {command:?}"
            );
        }
    }

    #[test]
    fn clients_that_start_tls_after_the_reply_are_not_waited_for() {
        for (order, command) in [
            (TlsOrder::AfterReply, PassiveCommand::Pasv),
            (TlsOrder::AfterReply, PassiveCommand::Epsv),
            (TlsOrder::Unknown, PassiveCommand::Pasv),
        ] {
            let waits = Waits::for_connection(order, command);
            assert_eq!(waits.hello_grace, Duration::ZERO, "{order:?} {command:?}");
            assert_eq!(waits.reply_delay, Duration::ZERO, "{order:?} {command:?}");
        }
    }

    #[test]
    fn the_cell_follows_the_latest_connection() {
        let cell = TlsOrderCell::default();
        assert_eq!(cell.get(), TlsOrder::Unknown);
        cell.clone().set(TlsOrder::AfterReply);
        assert_eq!(cell.get(), TlsOrder::AfterReply);
        cell.set(TlsOrder::BeforeCommand);
        assert_eq!(cell.get(), TlsOrder::BeforeCommand);
    }

    // The clock is paused between two timer ticks: had a timer been used, the runtime would
    // have advanced it to the next tick before giving up.
    #[tokio::test(start_paused = true)]
    async fn a_reached_deadline_takes_what_is_ready_without_a_timer() {
        tokio::time::advance(Duration::from_micros(300)).await;
        let start = Instant::now();
        assert_eq!(within(start, std::future::ready(7)).await, Some(7));
        assert_eq!(within(start, std::future::pending::<()>()).await, None);
        assert_eq!(Instant::now(), start);
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_deadline_waits_for_it() {
        let start = Instant::now();
        let deadline = start + CLIENT_HELLO_GRACE;
        assert_eq!(within(deadline, std::future::pending::<()>()).await, None);
        assert!(Instant::now() >= deadline);
        let late = async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            3
        };
        assert_eq!(
            within(Instant::now() + CLIENT_HELLO_GRACE, late).await,
            Some(3)
        );
    }
}

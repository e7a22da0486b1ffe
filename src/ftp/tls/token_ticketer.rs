//! `TokenTicketer`: a control session's view of the server's one ticket key. Every ticket it
//! issues carries the session's token inside the sealed plaintext, and it opens only tickets
//! that carry it, so tickets bind to their session as tickets under a key of their own would,
//! at a fraction of the memory (an AEAD key schedule per session was 2.2 KiB).

use std::sync::Arc;

use rustls::server::ProducesTickets;

/// A random value naming one control session inside its TLS tickets.
pub(super) type Token = [u8; 16];

/// A session's view of the server's ticketer: every ticket it issues carries its token, and
/// it opens only tickets that carry it.
#[derive(Debug)]
pub(super) struct TokenTicketer {
    pub(super) shared: Arc<dyn ProducesTickets>,
    pub(super) token: Token,
}

impl ProducesTickets for TokenTicketer {
    fn enabled(&self) -> bool {
        self.shared.enabled()
    }

    fn lifetime(&self) -> u32 {
        self.shared.lifetime()
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut sealed = Vec::with_capacity(self.token.len() + plain.len());
        sealed.extend_from_slice(&self.token);
        sealed.extend_from_slice(plain);
        self.shared.encrypt(&sealed)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let opened = self.shared.decrypt(cipher)?;
        // The comparison needs no constant time: the token is sealed, the client never sees it.
        let plain = opened.strip_prefix(self.token.as_slice())?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(shared: &Arc<dyn ProducesTickets>, token: u8) -> TokenTicketer {
        TokenTicketer {
            shared: shared.clone(),
            token: [token; 16],
        }
    }

    #[test]
    fn a_ticket_opens_only_for_the_session_that_issued_it() {
        let shared = rustls::crypto::aws_lc_rs::Ticketer::new().unwrap();
        let (alice, mallory) = (session(&shared, 1), session(&shared, 2));
        let ticket = alice.encrypt(b"resumption state").unwrap();
        assert_eq!(alice.decrypt(&ticket).unwrap(), b"resumption state");
        assert_eq!(mallory.decrypt(&ticket), None, "another session's ticket");
        let foreign = shared.encrypt(b"no token in here").unwrap();
        assert_eq!(alice.decrypt(&foreign), None, "a ticket without the token");
        let other_key = session(&rustls::crypto::aws_lc_rs::Ticketer::new().unwrap(), 1);
        assert_eq!(
            other_key.decrypt(&ticket),
            None,
            "the same token under another key"
        );
        assert!(alice.enabled());
    }
}

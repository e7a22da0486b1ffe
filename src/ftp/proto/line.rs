//! Control-connection line framing: RFC 959 §4.1.3 (Telnet end-of-line `CRLF`) with the Telnet
//! command stripping of RFC 854 that clients rely on for `ABOR` (RFC 959 §4.1.3, `IAC IP IAC DM`).
//!
//! [`LineDecoder`] is I/O-free: the control task pushes whatever the socket returned and pulls
//! complete lines. Memory is bounded by [`MAX_COMMAND_LINE_BYTES`] plus one push.

use std::collections::VecDeque;

/// Longest accepted command line, counted after Telnet stripping and without the terminator.
pub const MAX_COMMAND_LINE_BYTES: usize = 8192;

/// Telnet "interpret as command" (RFC 854).
const IAC: u8 = 255;
const WILL: u8 = 251;
const DONT: u8 = 254;

/// A framing problem with one line; the session can continue after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line exceeded [`MAX_COMMAND_LINE_BYTES`]; the rest of it up to the next LF is dropped.
    #[error("command line longer than {MAX_COMMAND_LINE_BYTES} bytes")]
    TooLong,
}

/// Where we are inside a Telnet command sequence; kept across pushes because TCP may split one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    Data,
    Iac,
    Negotiation,
}

/// Splits a control-connection byte stream into command lines.
///
/// Call [`push`](Self::push) with each chunk read from the socket, then
/// [`next_line`](Self::next_line) until it returns `None`. Lines end with CRLF; a bare LF is
/// accepted too (a trailing CR is stripped), a CR elsewhere is kept for the parser to reject.
#[derive(Debug)]
pub struct LineDecoder {
    ready: VecDeque<Ready>,
    current: Vec<u8>,
    /// Raw bytes (Telnet sequences included) that make up `current`, for `buffered_len`.
    current_raw_len: usize,
    ready_raw_len: usize,
    pending_cr: bool,
    telnet: Telnet,
    discarding: bool,
}

#[derive(Debug)]
struct Ready {
    line: Result<Vec<u8>, LineError>,
    raw_len: usize,
}

impl LineDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self {
            ready: VecDeque::new(),
            current: Vec::new(),
            current_raw_len: 0,
            ready_raw_len: 0,
            pending_cr: false,
            telnet: Telnet::Data,
            discarding: false,
        }
    }

    /// Feeds bytes read from the control connection.
    ///
    /// Drain with [`next_line`](Self::next_line) after every push: completed lines are queued,
    /// so memory stays within one line limit plus one push only if the queue is drained.
    pub fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.push_byte(byte);
        }
    }

    /// The next complete line without its terminator, or `None` until more bytes arrive.
    ///
    /// `Err(LineError::TooLong)` is reported once per over-long line, as soon as the limit is
    /// crossed; the caller should reply 500 and keep reading.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, LineError>> {
        let ready = self.ready.pop_front()?;
        self.ready_raw_len -= ready.raw_len;
        Some(ready.line)
    }

    /// Bytes received but not yet returned by [`next_line`](Self::next_line), Telnet sequences
    /// included (bytes dropped from an over-long line are not counted).
    ///
    /// After `next_line` returns `AUTH TLS`, a non-zero value means the client pipelined
    /// plaintext behind it; those bytes must never be treated as if they came over TLS
    /// (STARTTLS command injection, CVE-2011-0411 class): call
    /// [`discard_buffered`](Self::discard_buffered) before the handshake (or drop the connection).
    pub fn buffered_len(&self) -> usize {
        self.ready_raw_len + self.current_raw_len
    }

    /// Forgets everything buffered, including a partial line and any half-read Telnet sequence.
    pub fn discard_buffered(&mut self) {
        *self = Self::new();
    }

    fn push_byte(&mut self, byte: u8) {
        if self.discarding {
            if byte == b'\n' {
                self.discarding = false;
                self.telnet = Telnet::Data;
                self.pending_cr = false;
            }
            return;
        }
        self.current_raw_len += 1;
        match self.telnet {
            Telnet::Iac => {
                self.telnet = match byte {
                    IAC => {
                        self.flush_cr();
                        self.store(IAC);
                        Telnet::Data
                    }
                    WILL..=DONT => Telnet::Negotiation,
                    // IP, DM, NOP and the other two-byte commands carry nothing for us.
                    _ => Telnet::Data,
                };
            }
            Telnet::Negotiation => self.telnet = Telnet::Data,
            Telnet::Data => match byte {
                IAC => self.telnet = Telnet::Iac,
                b'\n' => self.finish_line(),
                b'\r' => {
                    // Held back: it is the terminator only if LF follows.
                    self.flush_cr();
                    self.pending_cr = true;
                }
                _ => {
                    self.flush_cr();
                    self.store(byte);
                }
            },
        }
    }

    fn flush_cr(&mut self) {
        if std::mem::take(&mut self.pending_cr) {
            self.store(b'\r');
        }
    }

    fn store(&mut self, byte: u8) {
        if self.discarding {
            return;
        }
        if self.current.len() >= MAX_COMMAND_LINE_BYTES {
            self.queue(Err(LineError::TooLong));
            self.discarding = true;
            return;
        }
        self.current.push(byte);
    }

    fn finish_line(&mut self) {
        self.pending_cr = false;
        let line = std::mem::take(&mut self.current);
        self.queue(Ok(line));
    }

    fn queue(&mut self, line: Result<Vec<u8>, LineError>) {
        let raw_len = std::mem::take(&mut self.current_raw_len);
        self.ready_raw_len += raw_len;
        if line.is_err() {
            self.current = Vec::new();
            self.pending_cr = false;
        }
        self.ready.push_back(Ready { line, raw_len });
    }
}

impl Default for LineDecoder {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Expected<'a> = &'a [Result<&'a [u8], LineError>];

    /// Feeds `input` whole, then byte by byte, and checks both produce `expected`.
    fn check(input: &[u8], expected: Expected<'_>) {
        let want: Vec<Result<Vec<u8>, LineError>> =
            expected.iter().map(|r| r.map(<[u8]>::to_vec)).collect();
        let mut whole = LineDecoder::new();
        whole.push(input);
        assert_eq!(drain(&mut whole), want, "whole input {input:?}");
        let mut chunked = LineDecoder::new();
        let mut got = Vec::new();
        for byte in input {
            chunked.push(std::slice::from_ref(byte));
            got.extend(drain(&mut chunked));
            assert!(chunked.buffered_len() <= MAX_COMMAND_LINE_BYTES + 4);
        }
        assert_eq!(got, want, "chunked input {input:?}");
    }

    fn drain(decoder: &mut LineDecoder) -> Vec<Result<Vec<u8>, LineError>> {
        std::iter::from_fn(|| decoder.next_line()).collect()
    }

    #[test]
    fn framing_cases() {
        let long = vec![b'a'; MAX_COMMAND_LINE_BYTES + 10];
        let mut long_then_good = long.clone();
        long_then_good.extend_from_slice(b"\r\nNOOP\r\n");
        let mut exact = vec![b'a'; MAX_COMMAND_LINE_BYTES];
        exact.extend_from_slice(b"\r\n");
        let mut long_then_crlf = vec![b'a'; MAX_COMMAND_LINE_BYTES];
        long_then_crlf.extend_from_slice(b"b\r\nX\n");
        let cases: &[(&[u8], Expected<'_>)] = &[
            (b"USER a\r\nPASS b\r\n", &[Ok(b"USER a"), Ok(b"PASS b")]),
            (b"NOOP\n", &[Ok(b"NOOP")]),
            (b"NOOP", &[]),
            (b"\r\n", &[Ok(b"")]),
            (b"RETR a\rb\r\n", &[Ok(b"RETR a\rb")]),
            (b"RETR a\r\r\n", &[Ok(b"RETR a\r")]),
            (b"STOR x\r", &[]),
            (b"\xff\xf4\xff\xf2ABOR\r\n", &[Ok(b"ABOR")]),
            (b"RETR \xff\xffx\r\n", &[Ok(b"RETR \xffx")]),
            (b"\xff\xfb\x01\xff\xfd\x03NOOP\r\n", &[Ok(b"NOOP")]),
            (b"NO\xff\xf1OP\r\n", &[Ok(b"NOOP")]),
            (&long_then_good, &[Err(LineError::TooLong), Ok(b"NOOP")]),
            (&long, &[Err(LineError::TooLong)]),
            (&exact, &[Ok(&exact[..MAX_COMMAND_LINE_BYTES])]),
            (&long_then_crlf, &[Err(LineError::TooLong), Ok(b"X")]),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn over_long_line_is_reported_once_across_many_pushes() {
        let mut decoder = LineDecoder::new();
        let chunk = [b'x'; 1000];
        let mut errors = 0;
        for _ in 0..50 {
            decoder.push(&chunk);
            errors += drain(&mut decoder).len();
            assert!(decoder.buffered_len() <= MAX_COMMAND_LINE_BYTES);
        }
        assert_eq!(errors, 1);
        decoder.push(b"tail\r\nQUIT\r\n");
        assert_eq!(drain(&mut decoder), vec![Ok(b"QUIT".to_vec())]);
    }

    #[test]
    fn pipelined_bytes_after_auth_tls_can_be_discarded() {
        let mut decoder = LineDecoder::new();
        decoder.push(b"AUTH TLS\r\nUSER evil\r\nPA");
        assert_eq!(decoder.next_line(), Some(Ok(b"AUTH TLS".to_vec())));
        assert_eq!(decoder.buffered_len(), b"USER evil\r\nPA".len());
        decoder.discard_buffered();
        assert_eq!(decoder.buffered_len(), 0);
        assert_eq!(decoder.next_line(), None);
        decoder.push(b"USER good\r\n");
        assert_eq!(decoder.next_line(), Some(Ok(b"USER good".to_vec())));
    }

    #[test]
    fn arbitrary_bytes_in_arbitrary_chunks_stay_bounded_and_parse_without_panic() {
        // A fixed xorshift stream keeps the test deterministic.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"\r\n\xff\xfb\xf4\x00 -\"|,.0123456789ALLOUSERPASTYPEMDTMXCRC";
        let mut decoder = LineDecoder::new();
        for _ in 0..2000 {
            let chunk: Vec<u8> = (0..next() % 40)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            decoder.push(&chunk);
            while let Some(line) = decoder.next_line() {
                if let Ok(line) = line {
                    assert!(line.len() <= MAX_COMMAND_LINE_BYTES);
                    let _ = super::super::command::parse(&line);
                }
            }
            assert!(decoder.buffered_len() <= MAX_COMMAND_LINE_BYTES + 64);
        }
    }
}

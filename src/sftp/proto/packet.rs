//! SFTP packet framing and packet type numbers, draft-ietf-secsh-filexfer-02 §3: every packet
//! is a `uint32` length followed by that many bytes, the first of which is its type.
//!
//! The length is untrusted, so it is checked against [`SFTP_MAX_PACKET_BYTES`] before anything
//! is sized from it, as OpenSSH's `sftp-server.c` `process()` does.

use bytes::{Buf, Bytes, BytesMut};

/// Largest packet body (the bytes after the length prefix) accepted or sent.
///
/// OpenSSH's `SFTP_MAX_MSG_LENGTH`; its client aborts on larger packets, so replies must stay
/// under it too. Advertised to clients through `limits@openssh.com`.
pub const SFTP_MAX_PACKET_BYTES: u32 = 256 * 1024;

/// Largest READ length served; larger requests are clamped by the request loop.
///
/// OpenSSH's value: 1 KiB below the packet limit leaves room for the DATA header.
pub const MAX_READ_LENGTH: u32 = SFTP_MAX_PACKET_BYTES - 1024;

/// Largest WRITE payload a client should send, advertised through `limits@openssh.com`.
///
/// OpenSSH's value: a WRITE of this size plus its header (type, id, handle, offset) still fits
/// in [`SFTP_MAX_PACKET_BYTES`].
pub const MAX_WRITE_LENGTH: u32 = SFTP_MAX_PACKET_BYTES - 1024;

/// `SSH_FXP_INIT`: opens the session; carries a version, not a request id.
pub const SSH_FXP_INIT: u8 = 1;
/// `SSH_FXP_VERSION`: the server's answer to INIT.
pub const SSH_FXP_VERSION: u8 = 2;
/// `SSH_FXP_OPEN`.
pub const SSH_FXP_OPEN: u8 = 3;
/// `SSH_FXP_CLOSE`.
pub const SSH_FXP_CLOSE: u8 = 4;
/// `SSH_FXP_READ`.
pub const SSH_FXP_READ: u8 = 5;
/// `SSH_FXP_WRITE`.
pub const SSH_FXP_WRITE: u8 = 6;
/// `SSH_FXP_LSTAT`.
pub const SSH_FXP_LSTAT: u8 = 7;
/// `SSH_FXP_FSTAT`.
pub const SSH_FXP_FSTAT: u8 = 8;
/// `SSH_FXP_SETSTAT`.
pub const SSH_FXP_SETSTAT: u8 = 9;
/// `SSH_FXP_FSETSTAT`.
pub const SSH_FXP_FSETSTAT: u8 = 10;
/// `SSH_FXP_OPENDIR`.
pub const SSH_FXP_OPENDIR: u8 = 11;
/// `SSH_FXP_READDIR`.
pub const SSH_FXP_READDIR: u8 = 12;
/// `SSH_FXP_REMOVE`.
pub const SSH_FXP_REMOVE: u8 = 13;
/// `SSH_FXP_MKDIR`.
pub const SSH_FXP_MKDIR: u8 = 14;
/// `SSH_FXP_RMDIR`.
pub const SSH_FXP_RMDIR: u8 = 15;
/// `SSH_FXP_REALPATH`.
pub const SSH_FXP_REALPATH: u8 = 16;
/// `SSH_FXP_STAT`.
pub const SSH_FXP_STAT: u8 = 17;
/// `SSH_FXP_RENAME`.
pub const SSH_FXP_RENAME: u8 = 18;
/// `SSH_FXP_READLINK`.
pub const SSH_FXP_READLINK: u8 = 19;
/// `SSH_FXP_SYMLINK`.
pub const SSH_FXP_SYMLINK: u8 = 20;
/// `SSH_FXP_STATUS`.
pub const SSH_FXP_STATUS: u8 = 101;
/// `SSH_FXP_HANDLE`.
pub const SSH_FXP_HANDLE: u8 = 102;
/// `SSH_FXP_DATA`.
pub const SSH_FXP_DATA: u8 = 103;
/// `SSH_FXP_NAME`.
pub const SSH_FXP_NAME: u8 = 104;
/// `SSH_FXP_ATTRS`.
pub const SSH_FXP_ATTRS: u8 = 105;
/// `SSH_FXP_EXTENDED`: a request named by a string.
pub const SSH_FXP_EXTENDED: u8 = 200;
/// `SSH_FXP_EXTENDED_REPLY`.
pub const SSH_FXP_EXTENDED_REPLY: u8 = 201;

const LENGTH_PREFIX_BYTES: usize = 4;

/// Why the byte stream cannot be split into packets.
///
/// Both are fatal for the channel: the stream has lost its framing, so nothing after the
/// offending length can be trusted. The decoder keeps returning the same error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// A length prefix above [`SFTP_MAX_PACKET_BYTES`].
    #[error("packet of {len} bytes exceeds the {SFTP_MAX_PACKET_BYTES} byte limit")]
    TooLarge {
        /// The length the peer claimed.
        len: u32,
    },
    /// A length prefix of zero: not even a type byte.
    #[error("empty packet")]
    Empty,
}

/// Splits the channel's byte stream into packet bodies.
///
/// Feed it whatever the SSH layer delivers with [`push`](Self::push), then drain complete
/// packets with [`next_packet`](Self::next_packet) until it returns `Ok(None)`.
#[derive(Debug, Default)]
pub struct PacketDecoder {
    buffer: BytesMut,
}

impl PacketDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes received from the channel.
    ///
    /// The decoder does not bound its buffer: the caller pushes at most one SSH window's worth
    /// between drains, and draining leaves less than one packet behind.
    pub fn push(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// The next complete packet body (type byte onwards), or `None` until more bytes arrive.
    ///
    /// The body is frozen out of the receive buffer without copying; it shares that buffer's
    /// allocation until dropped.
    pub fn next_packet(&mut self) -> Result<Option<Bytes>, PacketError> {
        let Some(prefix) = self.buffer.get(..LENGTH_PREFIX_BYTES) else {
            return Ok(None);
        };
        let mut prefix = prefix;
        let len = prefix.get_u32();
        if len == 0 {
            return Err(PacketError::Empty);
        }
        if len > SFTP_MAX_PACKET_BYTES {
            return Err(PacketError::TooLarge { len });
        }
        // Lossless: the length was just bounded by a 256 KiB constant.
        let total = LENGTH_PREFIX_BYTES + len as usize;
        if self.buffer.len() < total {
            // One bounded reservation per packet, so a packet arriving in many SSH chunks is
            // assembled without repeated regrowth.
            self.buffer.reserve(total - self.buffer.len());
            return Ok(None);
        }
        self.buffer.advance(LENGTH_PREFIX_BYTES);
        Ok(Some(
            self.buffer.split_to(total - LENGTH_PREFIX_BYTES).freeze(),
        ))
    }

    /// Bytes received but not yet returned as packets.
    pub fn buffered_len(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut framed = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        framed.extend_from_slice(body);
        framed
    }

    /// Feeds `input` in chunks of `chunk` bytes and collects every packet or the first error.
    fn decode_chunked(input: &[u8], chunk: usize) -> Packets {
        let mut decoder = PacketDecoder::new();
        let mut packets = Vec::new();
        for piece in input.chunks(chunk) {
            decoder.push(piece);
            while let Some(packet) = decoder.next_packet()? {
                packets.push(packet.to_vec());
            }
        }
        Ok(packets)
    }

    type Packets = Result<Vec<Vec<u8>>, PacketError>;

    fn check(input: &[u8], expected: Packets) {
        for chunk in [1, 3, 4, 5, 32 * 1024, input.len().max(1)] {
            assert_eq!(decode_chunked(input, chunk), expected, "chunk size {chunk}");
        }
    }

    #[test]
    fn frames_split_in_any_chunking() {
        let large = vec![0x5a; 100 * 1024];
        let max = vec![0xa5; SFTP_MAX_PACKET_BYTES as usize];
        let cases: Vec<(Vec<u8>, Packets)> = vec![
            (Vec::new(), Ok(Vec::new())),
            (vec![0, 0, 0], Ok(Vec::new())),
            (frame(&[1, 0, 0, 0, 3]), Ok(vec![vec![1, 0, 0, 0, 3]])),
            (frame(&[4]), Ok(vec![vec![4]])),
            (
                [frame(b"ab"), frame(&large), frame(b"c")].concat(),
                Ok(vec![b"ab".to_vec(), large.clone(), b"c".to_vec()]),
            ),
            (frame(&max), Ok(vec![max.clone()])),
            (
                [frame(b"x"), frame(&max)[..1000].to_vec()].concat(),
                Ok(vec![b"x".to_vec()]),
            ),
            (vec![0, 0, 0, 0], Err(PacketError::Empty)),
            (
                [frame(b"ok"), vec![0, 0, 0, 0]].concat(),
                Err(PacketError::Empty),
            ),
        ];
        for (input, expected) in cases {
            check(&input, expected);
        }
    }

    #[test]
    fn one_byte_over_the_limit_is_rejected() {
        let len = SFTP_MAX_PACKET_BYTES + 1;
        check(&len.to_be_bytes(), Err(PacketError::TooLarge { len }));
    }

    #[test]
    fn four_gib_claim_is_rejected_before_allocating() {
        let mut decoder = PacketDecoder::new();
        decoder.push(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            decoder.next_packet(),
            Err(PacketError::TooLarge { len: u32::MAX })
        );
        assert!(
            decoder.buffer.capacity() < 1024,
            "reserved for a rejected packet"
        );
        assert_eq!(
            decoder.next_packet(),
            Err(PacketError::TooLarge { len: u32::MAX })
        );
    }

    #[test]
    fn partial_packet_is_buffered_and_reported() {
        let mut decoder = PacketDecoder::new();
        decoder.push(&frame(b"hello")[..6]);
        assert_eq!(decoder.next_packet(), Ok(None));
        assert_eq!(decoder.buffered_len(), 6);
        decoder.push(b"llo");
        assert_eq!(
            decoder.next_packet(),
            Ok(Some(Bytes::from_static(b"hello")))
        );
        assert_eq!(decoder.buffered_len(), 0);
    }
}

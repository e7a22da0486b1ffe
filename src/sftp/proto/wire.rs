//! SSH wire types used inside SFTP packets: `byte`, `uint32`, `uint64` and `string`, as defined
//! in RFC 4251 §5 and used throughout draft-ietf-secsh-filexfer-02 §3.
//!
//! [`Reader`] parses them from a received packet without copying: strings are either borrowed
//! (`&[u8]`) or sliced out of the packet's `Bytes`. [`Writer`] appends them to any
//! [`bytes::BufMut`] (`BytesMut`, `Vec<u8>`).

use bytes::{BufMut, Bytes};

/// Why a field could not be read from the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended before the field did (including a string whose length prefix claims
    /// more bytes than remain).
    #[error("truncated field")]
    Truncated,
    /// The field was complete but its value is not allowed; the text names the rule, for logs.
    #[error("invalid field: {0}")]
    Invalid(&'static str),
}

/// Cursor over one received packet body.
///
/// Every read either consumes exactly the field or fails without consuming anything useful;
/// callers abandon the packet on the first error, so the position after an error is unspecified.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    source: &'a Bytes,
    position: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `source`.
    pub fn new(source: &'a Bytes) -> Self {
        Self {
            source,
            position: 0,
        }
    }

    /// Number of bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.source.len() - self.position
    }

    /// Whether every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Reads one `byte`.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        let [value] = self.array::<1>()?;
        Ok(value)
    }

    /// Reads one big-endian `uint32`.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads one big-endian `uint64`.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads one `string` and borrows its contents from the packet.
    pub fn string(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.string_len()?;
        self.take(len)
    }

    /// Reads one `string` as a zero-copy slice of the packet.
    ///
    /// The slice keeps the whole packet's allocation alive, which is what lets a WRITE's data
    /// travel to the file without a copy.
    pub fn bytes(&mut self) -> Result<Bytes, WireError> {
        let start = self.position;
        let len = self.string_len()?;
        let contents = start + 4;
        self.take(len)?;
        Ok(self.source.slice(contents..contents + len))
    }

    /// Consumes and returns every byte not yet read, for fields that run to the end of the
    /// packet.
    pub fn rest(&mut self) -> Bytes {
        let rest = self.source.slice(self.position..);
        self.position = self.source.len();
        rest
    }

    fn string_len(&mut self) -> Result<usize, WireError> {
        let len = usize::try_from(self.u32()?).map_err(|_| WireError::Truncated)?;
        // Checked here, before any caller could size a buffer from the claimed length.
        if len > self.remaining() {
            return Err(WireError::Truncated);
        }
        Ok(len)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        let end = self.position.checked_add(len).ok_or(WireError::Truncated)?;
        let source: &'a [u8] = self.source;
        let taken = source.get(self.position..end).ok_or(WireError::Truncated)?;
        self.position = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let taken = self.take(N)?;
        let mut value = [0u8; N];
        value.copy_from_slice(taken);
        Ok(value)
    }
}

/// SSH wire encoding on top of [`BufMut`]; `put_u8`, `put_u32` and `put_u64` already come from
/// `BufMut` and are big-endian, as SSH requires.
pub trait Writer: BufMut {
    /// Appends a `string`: a `uint32` length followed by the bytes.
    ///
    /// A length above `u32::MAX` saturates instead of panicking; such a value can only come
    /// from a packet far above `SFTP_MAX_PACKET_BYTES`, which the framing encoders reject, so
    /// the corrupt prefix never reaches a peer.
    fn put_string(&mut self, value: &[u8]) {
        self.put_u32(u32::try_from(value.len()).unwrap_or(u32::MAX));
        self.put_slice(value);
    }
}

impl<B: BufMut + ?Sized> Writer for B {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    enum Field {
        U8(u8),
        U32(u32),
        U64(u64),
        Str(Vec<u8>),
    }

    type Fields = Result<Vec<Field>, WireError>;

    fn read_all(input: &[u8], shape: &[&str]) -> Fields {
        let source = Bytes::copy_from_slice(input);
        let mut reader = Reader::new(&source);
        let mut fields = Vec::new();
        for kind in shape {
            fields.push(match *kind {
                "u8" => Field::U8(reader.u8()?),
                "u32" => Field::U32(reader.u32()?),
                "u64" => Field::U64(reader.u64()?),
                "string" => Field::Str(reader.string()?.to_vec()),
                "bytes" => Field::Str(reader.bytes()?.to_vec()),
                other => panic!("unknown shape {other}"),
            });
        }
        Ok(fields)
    }

    fn check(input: &[u8], shape: &[&str], expected: Fields) {
        assert_eq!(read_all(input, shape), expected, "input {input:02x?}");
    }

    #[test]
    fn reads_each_wire_type_or_reports_truncation() {
        use Field::*;
        let cases: &[(&[u8], &[&str], Fields)] = &[
            (&[7], &["u8"], Ok(vec![U8(7)])),
            (&[], &["u8"], Err(WireError::Truncated)),
            (&[0, 0, 1, 2], &["u32"], Ok(vec![U32(258)])),
            (&[0, 0, 1], &["u32"], Err(WireError::Truncated)),
            (&[0, 0, 0, 0, 0, 0, 1, 0], &["u64"], Ok(vec![U64(256)])),
            (&[0, 0, 0, 0, 0, 0, 1], &["u64"], Err(WireError::Truncated)),
            (
                &[0, 0, 0, 2, b'h', b'i'],
                &["string"],
                Ok(vec![Str(b"hi".to_vec())]),
            ),
            (
                &[0, 0, 0, 2, b'h', b'i'],
                &["bytes"],
                Ok(vec![Str(b"hi".to_vec())]),
            ),
            (&[0, 0, 0, 0], &["string"], Ok(vec![Str(Vec::new())])),
            (
                &[0, 0, 0, 3, b'h', b'i'],
                &["string"],
                Err(WireError::Truncated),
            ),
            (
                &[0xff, 0xff, 0xff, 0xff, 1],
                &["bytes"],
                Err(WireError::Truncated),
            ),
            (&[0, 0, 0], &["string"], Err(WireError::Truncated)),
            (
                &[1, 0, 0, 0, 1, b'x', 0, 0, 0, 9],
                &["u8", "string", "u32"],
                Ok(vec![U8(1), Str(b"x".to_vec()), U32(9)]),
            ),
        ];
        for (input, shape, expected) in cases {
            check(input, shape, expected.clone());
        }
    }

    #[test]
    fn bytes_is_a_slice_of_the_source_not_a_copy() {
        let source = Bytes::from_static(b"\0\0\0\x03abc");
        let mut reader = Reader::new(&source);
        let value = reader.bytes().unwrap();
        assert_eq!(value.as_ptr(), source[4..].as_ptr());
        assert!(reader.is_empty());
    }

    #[test]
    fn writer_output_reads_back() {
        let mut out = Vec::new();
        out.put_u8(9);
        out.put_string(b"name");
        out.put_u64(u64::MAX);
        check(
            &out,
            &["u8", "string", "u64"],
            Ok(vec![
                Field::U8(9),
                Field::Str(b"name".to_vec()),
                Field::U64(u64::MAX),
            ]),
        );
    }

    #[test]
    fn rest_takes_everything_left() {
        let source = Bytes::from_static(b"\x01tail");
        let mut reader = Reader::new(&source);
        reader.u8().unwrap();
        assert_eq!(reader.rest(), Bytes::from_static(b"tail"));
        assert_eq!(reader.remaining(), 0);
    }
}

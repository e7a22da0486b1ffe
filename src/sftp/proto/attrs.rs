//! File attributes (`ATTRS`), draft-ietf-secsh-filexfer-02 §5.
//!
//! Version 3 attributes are a `uint32` flags word followed by the fields it announces, in a
//! fixed order. Unknown flag bits are rejected rather than skipped: their fields would follow
//! with an unknown size, so nothing after them could be parsed reliably.

use bytes::{BufMut, Bytes};

use super::wire::{Reader, WireError, Writer};

/// `SSH_FILEXFER_ATTR_SIZE`: a `uint64` size follows.
pub const SSH_FILEXFER_ATTR_SIZE: u32 = 0x0000_0001;
/// `SSH_FILEXFER_ATTR_UIDGID`: `uint32` uid and `uint32` gid follow.
pub const SSH_FILEXFER_ATTR_UIDGID: u32 = 0x0000_0002;
/// `SSH_FILEXFER_ATTR_PERMISSIONS`: a `uint32` POSIX mode (type and permission bits) follows.
pub const SSH_FILEXFER_ATTR_PERMISSIONS: u32 = 0x0000_0004;
/// `SSH_FILEXFER_ATTR_ACMODTIME`: `uint32` atime and `uint32` mtime (Unix seconds) follow.
pub const SSH_FILEXFER_ATTR_ACMODTIME: u32 = 0x0000_0008;
/// `SSH_FILEXFER_ATTR_EXTENDED`: a `uint32` count of (type, data) string pairs follows.
pub const SSH_FILEXFER_ATTR_EXTENDED: u32 = 0x8000_0000;

/// Most extended attribute pairs accepted in one `ATTRS`.
///
/// The remaining packet bytes already bound the count to 32 Ki, but each decoded pair costs
/// 64 bytes of `Vec` even when empty on the wire, so that bound alone would let a 256 KiB
/// packet cost 2 MiB. No known client sends more than a handful; OpenSSH ignores them all.
pub const MAX_EXTENDED_ATTRIBUTES: usize = 1024;

const KNOWN_FLAGS: u32 = SSH_FILEXFER_ATTR_SIZE
    | SSH_FILEXFER_ATTR_UIDGID
    | SSH_FILEXFER_ATTR_PERMISSIONS
    | SSH_FILEXFER_ATTR_ACMODTIME
    | SSH_FILEXFER_ATTR_EXTENDED;

/// Smallest wire size of one extended pair: two empty strings.
const MIN_EXTENDED_PAIR_BYTES: usize = 8;

/// The attributes of one file, each present only when the sender included it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileAttributes {
    /// File size in bytes.
    pub size: Option<u64>,
    /// Numeric owner and group.
    pub uid_gid: Option<(u32, u32)>,
    /// POSIX mode: file type bits (`S_IFMT`) and permission bits.
    pub permissions: Option<u32>,
    /// Access and modification times, Unix seconds (v3 has only 32 bits for them).
    pub atime_mtime: Option<(u32, u32)>,
    /// Vendor extensions as raw (type, data) pairs.
    pub extended: Vec<(Bytes, Bytes)>,
}

impl FileAttributes {
    /// Reads one `ATTRS` structure.
    ///
    /// Strings in `extended` are zero-copy slices of the packet.
    pub fn decode(reader: &mut Reader<'_>) -> Result<Self, WireError> {
        let flags = reader.u32()?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(WireError::Invalid("unknown attribute flags"));
        }
        let mut attrs = Self::default();
        if flags & SSH_FILEXFER_ATTR_SIZE != 0 {
            attrs.size = Some(reader.u64()?);
        }
        if flags & SSH_FILEXFER_ATTR_UIDGID != 0 {
            attrs.uid_gid = Some((reader.u32()?, reader.u32()?));
        }
        if flags & SSH_FILEXFER_ATTR_PERMISSIONS != 0 {
            attrs.permissions = Some(reader.u32()?);
        }
        if flags & SSH_FILEXFER_ATTR_ACMODTIME != 0 {
            attrs.atime_mtime = Some((reader.u32()?, reader.u32()?));
        }
        if flags & SSH_FILEXFER_ATTR_EXTENDED != 0 {
            attrs.extended = decode_extended(reader)?;
        }
        Ok(attrs)
    }

    /// Appends this structure in wire form.
    pub fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_u32(self.flags());
        if let Some(size) = self.size {
            out.put_u64(size);
        }
        if let Some((uid, gid)) = self.uid_gid {
            out.put_u32(uid);
            out.put_u32(gid);
        }
        if let Some(permissions) = self.permissions {
            out.put_u32(permissions);
        }
        if let Some((atime, mtime)) = self.atime_mtime {
            out.put_u32(atime);
            out.put_u32(mtime);
        }
        if !self.extended.is_empty() {
            out.put_u32(u32::try_from(self.extended.len()).unwrap_or(u32::MAX));
            for (kind, data) in &self.extended {
                out.put_string(kind);
                out.put_string(data);
            }
        }
    }

    /// The flags word [`encode`](Self::encode) writes: one bit per present field.
    pub fn flags(&self) -> u32 {
        let mut flags = 0;
        if self.size.is_some() {
            flags |= SSH_FILEXFER_ATTR_SIZE;
        }
        if self.uid_gid.is_some() {
            flags |= SSH_FILEXFER_ATTR_UIDGID;
        }
        if self.permissions.is_some() {
            flags |= SSH_FILEXFER_ATTR_PERMISSIONS;
        }
        if self.atime_mtime.is_some() {
            flags |= SSH_FILEXFER_ATTR_ACMODTIME;
        }
        if !self.extended.is_empty() {
            flags |= SSH_FILEXFER_ATTR_EXTENDED;
        }
        flags
    }

    /// Bytes [`encode`](Self::encode) appends, so a reply can be sized before it is written.
    pub fn encoded_len(&self) -> usize {
        let mut len = 4;
        len += self.size.map_or(0, |_| 8);
        len += self.uid_gid.map_or(0, |_| 8);
        len += self.permissions.map_or(0, |_| 4);
        len += self.atime_mtime.map_or(0, |_| 8);
        if !self.extended.is_empty() {
            len += 4;
            for (kind, data) in &self.extended {
                len += MIN_EXTENDED_PAIR_BYTES + kind.len() + data.len();
            }
        }
        len
    }
}

fn decode_extended(reader: &mut Reader<'_>) -> Result<Vec<(Bytes, Bytes)>, WireError> {
    let count = usize::try_from(reader.u32()?).map_err(|_| WireError::Truncated)?;
    // Both bounds are checked before the Vec is sized from a count the peer chose.
    if count > reader.remaining() / MIN_EXTENDED_PAIR_BYTES {
        return Err(WireError::Truncated);
    }
    if count > MAX_EXTENDED_ATTRIBUTES {
        return Err(WireError::Invalid("too many extended attributes"));
    }
    let mut extended = Vec::with_capacity(count);
    for _ in 0..count {
        extended.push((reader.bytes()?, reader.bytes()?));
    }
    Ok(extended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8], expected: Result<FileAttributes, WireError>) {
        let source = Bytes::copy_from_slice(input);
        let mut reader = Reader::new(&source);
        let decoded = FileAttributes::decode(&mut reader);
        assert_eq!(decoded, expected, "input {input:02x?}");
        if let Ok(attrs) = decoded {
            assert!(reader.is_empty(), "left bytes behind");
            let mut encoded = Vec::new();
            attrs.encode(&mut encoded);
            assert_eq!(encoded, input, "re-encoding differs");
            assert_eq!(attrs.encoded_len(), input.len());
        }
    }

    fn all_flags() -> (Vec<u8>, FileAttributes) {
        let mut wire = Vec::new();
        wire.put_u32(0x8000_000f);
        wire.put_u64(1 << 40);
        wire.put_u32(1000);
        wire.put_u32(100);
        wire.put_u32(0o100_644);
        wire.put_u32(1_700_000_000);
        wire.put_u32(1_700_000_001);
        wire.put_u32(2);
        wire.put_string(b"a@example.com");
        wire.put_string(b"\0\xff");
        wire.put_string(b"");
        wire.put_string(b"");
        let attrs = FileAttributes {
            size: Some(1 << 40),
            uid_gid: Some((1000, 100)),
            permissions: Some(0o100_644),
            atime_mtime: Some((1_700_000_000, 1_700_000_001)),
            extended: vec![
                (
                    Bytes::from_static(b"a@example.com"),
                    Bytes::from_static(b"\0\xff"),
                ),
                (Bytes::new(), Bytes::new()),
            ],
        };
        (wire, attrs)
    }

    #[test]
    fn decodes_and_reencodes_each_flag_combination() {
        let (all_wire, all_attrs) = all_flags();
        let cases: Vec<(Vec<u8>, Result<FileAttributes, WireError>)> = vec![
            (vec![0, 0, 0, 0], Ok(FileAttributes::default())),
            (
                [&[0, 0, 0, 1][..], &5u64.to_be_bytes()].concat(),
                Ok(FileAttributes {
                    size: Some(5),
                    ..FileAttributes::default()
                }),
            ),
            (
                vec![0, 0, 0, 4, 0, 0, 0x41, 0xed],
                Ok(FileAttributes {
                    permissions: Some(0o40_755),
                    ..FileAttributes::default()
                }),
            ),
            (
                vec![0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 2],
                Ok(FileAttributes {
                    atime_mtime: Some((1, 2)),
                    ..FileAttributes::default()
                }),
            ),
            (all_wire, Ok(all_attrs)),
        ];
        for (input, expected) in cases {
            check(&input, expected);
        }
    }

    #[test]
    fn rejects_unknown_flags_and_short_input() {
        let cases: &[(&[u8], WireError)] = &[
            (
                &[0, 0, 0, 0x10],
                WireError::Invalid("unknown attribute flags"),
            ),
            (
                &[0x40, 0, 0, 0],
                WireError::Invalid("unknown attribute flags"),
            ),
            (&[0, 0, 0], WireError::Truncated),
            (&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], WireError::Truncated),
            (&[0, 0, 0, 2, 0, 0, 0, 1], WireError::Truncated),
            (
                &[0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
                WireError::Truncated,
            ),
            (
                &[0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
                WireError::Truncated,
            ),
        ];
        for (input, error) in cases {
            check(input, Err(*error));
        }
    }

    #[test]
    fn every_prefix_of_full_attrs_is_truncated() {
        let (wire, _) = all_flags();
        for len in 0..wire.len() {
            check(&wire[..len], Err(WireError::Truncated));
        }
    }

    #[test]
    fn extended_count_is_capped_even_when_bytes_would_allow_it() {
        let count = MAX_EXTENDED_ATTRIBUTES + 1;
        let mut wire = Vec::new();
        wire.put_u32(SSH_FILEXFER_ATTR_EXTENDED);
        wire.put_u32(u32::try_from(count).unwrap());
        wire.resize(wire.len() + count * MIN_EXTENDED_PAIR_BYTES, 0);
        check(
            &wire,
            Err(WireError::Invalid("too many extended attributes")),
        );
    }
}

//! Server replies: draft-ietf-secsh-filexfer-02 §4 (VERSION), §7 (STATUS, HANDLE, DATA,
//! NAME, ATTRS) and §8 (EXTENDED_REPLY), with the extended reply bodies of OpenSSH's
//! `PROTOCOL` file (`statvfs@openssh.com`, `limits@openssh.com`,
//! `users-groups-by-id@openssh.com`) and of draft-ietf-secsh-filexfer-extensions-00
//! (`check-file`).
//!
//! Every encoder appends one complete packet, length prefix included, or appends nothing and
//! returns [`EncodeError::TooLarge`]: OpenSSH's client drops the connection on a packet above
//! [`SFTP_MAX_PACKET_BYTES`], so an oversized reply must never reach the wire.

use bytes::{BufMut, BytesMut};

use super::attrs::FileAttributes;
use super::packet::{
    MAX_READ_LENGTH, MAX_WRITE_LENGTH, SFTP_MAX_PACKET_BYTES, SSH_FXP_ATTRS, SSH_FXP_DATA,
    SSH_FXP_EXTENDED_REPLY, SSH_FXP_HANDLE, SSH_FXP_NAME, SSH_FXP_STATUS, SSH_FXP_VERSION,
};
use super::request::{
    EXT_COPY_DATA, EXT_EXPAND_PATH, EXT_FSTATVFS, EXT_FSYNC, EXT_HARDLINK, EXT_HOME_DIRECTORY,
    EXT_LIMITS, EXT_LSETSTAT, EXT_POSIX_RENAME, EXT_STATVFS, EXT_USERS_GROUPS_BY_ID,
};
use super::wire::Writer;

/// The protocol version this server speaks.
pub const SFTP_VERSION: u32 = 3;

/// The OpenSSH-style extensions `decode_request` understands, with the version strings OpenSSH's
/// sftp-server advertises for them. Advertise only those the request loop implements.
///
/// `check-file-*` is absent: it is announced differently (draft-ietf-secsh-filexfer-extensions-00)
/// and OpenSSH does not offer it.
pub const OPENSSH_EXTENSIONS: &[(&str, &str)] = &[
    (EXT_POSIX_RENAME, "1"),
    (EXT_STATVFS, "2"),
    (EXT_FSTATVFS, "2"),
    (EXT_HARDLINK, "1"),
    (EXT_FSYNC, "1"),
    (EXT_LSETSTAT, "1"),
    (EXT_LIMITS, "1"),
    (EXT_EXPAND_PATH, "1"),
    (EXT_COPY_DATA, "1"),
    (EXT_HOME_DIRECTORY, "1"),
    (EXT_USERS_GROUPS_BY_ID, "1"),
];

/// Bytes of a NAME reply before its entries (type, id, count); with
/// [`NameEntry::encoded_len`] it sizes a READDIR batch under [`SFTP_MAX_PACKET_BYTES`].
pub const NAME_HEADER_BYTES: usize = 1 + 4 + 4;

/// `ST_RDONLY` bit of [`Statvfs::flag`].
pub const SSH_FXE_STATVFS_ST_RDONLY: u64 = 0x1;
/// `ST_NOSUID` bit of [`Statvfs::flag`].
pub const SSH_FXE_STATVFS_ST_NOSUID: u64 = 0x2;

const LENGTH_PREFIX_BYTES: usize = 4;
const DATA_HEADER_BYTES: usize = 1 + 4 + 4;

/// Error codes of `SSH_FXP_STATUS` (filexfer-02 §7); v3 defines exactly these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusCode {
    /// `SSH_FX_OK`.
    Ok = 0,
    /// `SSH_FX_EOF`: read past the end of a file, or no more directory entries.
    Eof = 1,
    /// `SSH_FX_NO_SUCH_FILE`.
    NoSuchFile = 2,
    /// `SSH_FX_PERMISSION_DENIED`.
    PermissionDenied = 3,
    /// `SSH_FX_FAILURE`: any error without a better code.
    Failure = 4,
    /// `SSH_FX_BAD_MESSAGE`: the request was malformed.
    BadMessage = 5,
    /// `SSH_FX_NO_CONNECTION`: client-side only.
    NoConnection = 6,
    /// `SSH_FX_CONNECTION_LOST`: client-side only.
    ConnectionLost = 7,
    /// `SSH_FX_OP_UNSUPPORTED`: unknown request type or extension, or refused by policy.
    OpUnsupported = 8,
}

impl StatusCode {
    /// The wire value.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// OpenSSH's text for this code, for replies that need no more detail.
    pub const fn message(self) -> &'static str {
        match self {
            Self::Ok => "Success",
            Self::Eof => "End of file",
            Self::NoSuchFile => "No such file",
            Self::PermissionDenied => "Permission denied",
            Self::Failure => "Failure",
            Self::BadMessage => "Bad message",
            Self::NoConnection => "No connection",
            Self::ConnectionLost => "Connection lost",
            Self::OpUnsupported => "Operation unsupported",
        }
    }
}

/// Why a reply was not encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The packet body would exceed [`SFTP_MAX_PACKET_BYTES`]; nothing was appended.
    #[error("reply of {len} bytes exceeds the {SFTP_MAX_PACKET_BYTES} byte packet limit")]
    TooLarge {
        /// Body length the reply would have had.
        len: usize,
    },
}

/// One entry of an `SSH_FXP_NAME` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameEntry {
    /// File name: a bare name for READDIR, an absolute path for REALPATH and friends.
    pub filename: bytes::Bytes,
    /// `ls -l` style line; clients such as OpenSSH's `sftp` display it verbatim.
    pub longname: bytes::Bytes,
    /// Attributes of the file.
    pub attrs: FileAttributes,
}

impl NameEntry {
    /// Bytes this entry adds to a NAME reply.
    pub fn encoded_len(&self) -> usize {
        4 + self.filename.len() + 4 + self.longname.len() + self.attrs.encoded_len()
    }
}

/// Body of the `statvfs@openssh.com` / `fstatvfs@openssh.com` reply: `struct statvfs`, each
/// field as a `uint64`, in this order (OpenSSH `PROTOCOL`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statvfs {
    /// File system block size.
    pub bsize: u64,
    /// Fundamental block size.
    pub frsize: u64,
    /// Size of the file system in `frsize` units.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Free blocks available to unprivileged users.
    pub bavail: u64,
    /// Total inodes.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// Free inodes available to unprivileged users.
    pub favail: u64,
    /// File system id.
    pub fsid: u64,
    /// [`SSH_FXE_STATVFS_ST_RDONLY`] and [`SSH_FXE_STATVFS_ST_NOSUID`] bits.
    pub flag: u64,
    /// Maximum file name length.
    pub namemax: u64,
}

/// Body of the `limits@openssh.com` reply (OpenSSH `PROTOCOL`); 0 means "no limit".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest packet the server accepts.
    pub max_packet_length: u64,
    /// Largest READ the server answers in full.
    pub max_read_length: u64,
    /// Largest WRITE payload the server accepts.
    pub max_write_length: u64,
    /// Most handles one session may hold open.
    pub max_open_handles: u64,
}

impl Limits {
    /// This layer's packet, read and write limits with the session's handle limit.
    pub fn new(max_open_handles: u64) -> Self {
        Self {
            max_packet_length: SFTP_MAX_PACKET_BYTES.into(),
            max_read_length: MAX_READ_LENGTH.into(),
            max_write_length: MAX_WRITE_LENGTH.into(),
            max_open_handles,
        }
    }
}

/// `SSH_FXP_VERSION` with the advertised (name, version) extension pairs.
pub fn encode_version(
    out: &mut BytesMut,
    version: u32,
    extensions: &[(&str, &str)],
) -> Result<(), EncodeError> {
    framed(out, SSH_FXP_VERSION, |out| {
        out.put_u32(version);
        for (name, data) in extensions {
            out.put_string(name.as_bytes());
            out.put_string(data.as_bytes());
        }
    })
}

/// `SSH_FXP_STATUS` with a human-readable message tagged as English.
pub fn encode_status(
    out: &mut BytesMut,
    id: u32,
    code: StatusCode,
    message: &str,
) -> Result<(), EncodeError> {
    framed(out, SSH_FXP_STATUS, |out| {
        out.put_u32(id);
        out.put_u32(code.code());
        out.put_string(message.as_bytes());
        out.put_string(b"en");
    })
}

/// `SSH_FXP_HANDLE`.
pub fn encode_handle(out: &mut BytesMut, id: u32, handle: &[u8]) -> Result<(), EncodeError> {
    framed(out, SSH_FXP_HANDLE, |out| {
        out.put_u32(id);
        out.put_string(handle);
    })
}

/// Bytes of an `SSH_FXP_DATA` reply before its payload (length prefix, type, id, data length).
pub const DATA_REPLY_HEADER_BYTES: usize = LENGTH_PREFIX_BYTES + DATA_HEADER_BYTES;

/// The header of `SSH_FXP_DATA` for `data_len` bytes, written last into room left before a
/// file read, once the read says how long it was.
pub fn data_header(id: u32, data_len: u32) -> Result<[u8; DATA_REPLY_HEADER_BYTES], EncodeError> {
    let body_len =
        DATA_HEADER_BYTES.saturating_add(usize::try_from(data_len).unwrap_or(usize::MAX));
    let packet_len = checked_len(body_len)?;
    let mut header = [0u8; DATA_REPLY_HEADER_BYTES];
    let mut rest = &mut header[..];
    rest.put_u32(packet_len);
    rest.put_u8(SSH_FXP_DATA);
    rest.put_u32(id);
    rest.put_u32(data_len);
    Ok(header)
}

/// The header of `SSH_FXP_DATA` for `data_len` bytes, which the caller appends next.
pub fn encode_data_header(out: &mut BytesMut, id: u32, data_len: u32) -> Result<(), EncodeError> {
    out.put_slice(&data_header(id, data_len)?);
    Ok(())
}

/// `SSH_FXP_DATA` with its payload.
pub fn encode_data(out: &mut BytesMut, id: u32, data: &[u8]) -> Result<(), EncodeError> {
    let data_len = u32::try_from(data.len()).map_err(|_| EncodeError::TooLarge {
        len: DATA_HEADER_BYTES.saturating_add(data.len()),
    })?;
    encode_data_header(out, id, data_len)?;
    out.put_slice(data);
    Ok(())
}

/// `SSH_FXP_NAME`; checked against the limit before anything is written.
pub fn encode_name(out: &mut BytesMut, id: u32, entries: &[NameEntry]) -> Result<(), EncodeError> {
    let body_len = entries.iter().fold(NAME_HEADER_BYTES, |len, entry| {
        len.saturating_add(entry.encoded_len())
    });
    checked_len(body_len)?;
    out.reserve(LENGTH_PREFIX_BYTES + body_len);
    framed(out, SSH_FXP_NAME, |out| {
        out.put_u32(id);
        out.put_u32(u32::try_from(entries.len()).unwrap_or(u32::MAX));
        for entry in entries {
            out.put_string(&entry.filename);
            out.put_string(&entry.longname);
            entry.attrs.encode(out);
        }
    })
}

/// `SSH_FXP_ATTRS`.
pub fn encode_attrs(
    out: &mut BytesMut,
    id: u32,
    attrs: &FileAttributes,
) -> Result<(), EncodeError> {
    framed(out, SSH_FXP_ATTRS, |out| {
        out.put_u32(id);
        attrs.encode(out);
    })
}

/// `SSH_FXP_EXTENDED_REPLY` with an already encoded, extension-specific body.
pub fn encode_extended_reply(out: &mut BytesMut, id: u32, body: &[u8]) -> Result<(), EncodeError> {
    framed(out, SSH_FXP_EXTENDED_REPLY, |out| {
        out.put_u32(id);
        out.put_slice(body);
    })
}

/// The `statvfs@openssh.com` / `fstatvfs@openssh.com` reply.
pub fn encode_statvfs_reply(
    out: &mut BytesMut,
    id: u32,
    stat: &Statvfs,
) -> Result<(), EncodeError> {
    framed(out, SSH_FXP_EXTENDED_REPLY, |out| {
        out.put_u32(id);
        for field in [
            stat.bsize,
            stat.frsize,
            stat.blocks,
            stat.bfree,
            stat.bavail,
            stat.files,
            stat.ffree,
            stat.favail,
            stat.fsid,
            stat.flag,
            stat.namemax,
        ] {
            out.put_u64(field);
        }
    })
}

/// The `limits@openssh.com` reply.
pub fn encode_limits_reply(
    out: &mut BytesMut,
    id: u32,
    limits: &Limits,
) -> Result<(), EncodeError> {
    framed(out, SSH_FXP_EXTENDED_REPLY, |out| {
        out.put_u32(id);
        out.put_u64(limits.max_packet_length);
        out.put_u64(limits.max_read_length);
        out.put_u64(limits.max_write_length);
        out.put_u64(limits.max_open_handles);
    })
}

/// The `check-file-name` / `check-file-handle` reply: the algorithm chosen and the hashes of
/// each block concatenated, with no length prefix (they run to the end of the packet).
pub fn encode_check_file_reply(
    out: &mut BytesMut,
    id: u32,
    algorithm: &str,
    hashes: &[u8],
) -> Result<(), EncodeError> {
    framed(out, SSH_FXP_EXTENDED_REPLY, |out| {
        out.put_u32(id);
        out.put_string(b"check-file");
        out.put_string(algorithm.as_bytes());
        out.put_slice(hashes);
    })
}

/// The `users-groups-by-id@openssh.com` reply: one name per requested id, in request order,
/// each list packed as strings inside one string. An unknown id gets an empty name.
pub fn encode_users_groups_reply<U: AsRef<[u8]>, G: AsRef<[u8]>>(
    out: &mut BytesMut,
    id: u32,
    user_names: &[U],
    group_names: &[G],
) -> Result<(), EncodeError> {
    framed(out, SSH_FXP_EXTENDED_REPLY, |out| {
        out.put_u32(id);
        put_name_list(out, user_names);
        put_name_list(out, group_names);
    })
}

fn put_name_list<N: AsRef<[u8]>>(out: &mut BytesMut, names: &[N]) {
    let inner_len = names.iter().fold(0usize, |len, name| {
        len.saturating_add(4 + name.as_ref().len())
    });
    out.put_u32(u32::try_from(inner_len).unwrap_or(u32::MAX));
    for name in names {
        out.put_string(name.as_ref());
    }
}

/// Appends length prefix, type byte and body; rolls back if the body breaks the limit, so the
/// prefix written is always the true length.
fn framed(
    out: &mut BytesMut,
    packet_type: u8,
    write_body: impl FnOnce(&mut BytesMut),
) -> Result<(), EncodeError> {
    let start = out.len();
    out.put_u32(0);
    out.put_u8(packet_type);
    write_body(out);
    let body_len = out.len() - start - LENGTH_PREFIX_BYTES;
    match checked_len(body_len) {
        Ok(packet_len) => {
            out[start..start + LENGTH_PREFIX_BYTES].copy_from_slice(&packet_len.to_be_bytes());
            Ok(())
        }
        Err(error) => {
            out.truncate(start);
            Err(error)
        }
    }
}

fn checked_len(body_len: usize) -> Result<u32, EncodeError> {
    u32::try_from(body_len)
        .ok()
        .filter(|len| *len <= SFTP_MAX_PACKET_BYTES)
        .ok_or(EncodeError::TooLarge { len: body_len })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::sftp::proto::packet::PacketDecoder;
    use crate::sftp::proto::wire::Reader;

    fn s(value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_string(value);
        out
    }

    fn check(
        encode: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
        packet_type: u8,
        body: &[Vec<u8>],
    ) {
        let mut out = BytesMut::from(&b"prior"[..]);
        encode(&mut out).unwrap();
        let expected_body = [vec![packet_type], body.concat()].concat();
        let expected_len = u32::try_from(expected_body.len()).unwrap().to_be_bytes();
        assert_eq!(&out[..5], b"prior", "earlier output must be left alone");
        assert_eq!(out[5..], [&expected_len[..], &expected_body].concat()[..]);
        let mut decoder = PacketDecoder::new();
        decoder.push(&out[5..]);
        assert_eq!(decoder.next_packet(), Ok(Some(Bytes::from(expected_body))));
    }

    fn n32(value: u32) -> Vec<u8> {
        value.to_be_bytes().to_vec()
    }

    fn n64(value: u64) -> Vec<u8> {
        value.to_be_bytes().to_vec()
    }

    #[test]
    fn status_is_byte_exact() {
        let mut out = BytesMut::new();
        encode_status(&mut out, 7, StatusCode::NoSuchFile, "No such file").unwrap();
        let expected: &[u8] =
            b"\0\0\0\x1f\x65\0\0\0\x07\0\0\0\x02\0\0\0\x0cNo such file\0\0\0\x02en";
        assert_eq!(&out[..], expected);
    }

    #[test]
    fn status_codes_match_openssh() {
        let codes = [
            (StatusCode::Ok, 0),
            (StatusCode::Eof, 1),
            (StatusCode::NoSuchFile, 2),
            (StatusCode::PermissionDenied, 3),
            (StatusCode::Failure, 4),
            (StatusCode::BadMessage, 5),
            (StatusCode::NoConnection, 6),
            (StatusCode::ConnectionLost, 7),
            (StatusCode::OpUnsupported, 8),
        ];
        for (code, value) in codes {
            assert_eq!(code.code(), value, "{code:?}");
        }
        assert_eq!(StatusCode::OpUnsupported.message(), "Operation unsupported");
    }

    #[test]
    fn each_reply_frames_its_body() {
        let attrs = FileAttributes {
            size: Some(3),
            permissions: Some(0o100_600),
            ..FileAttributes::default()
        };
        let mut attrs_wire = Vec::new();
        attrs.encode(&mut attrs_wire);
        let entry = NameEntry {
            filename: Bytes::from_static(b"f"),
            longname: Bytes::from_static(b"-rw------- f"),
            attrs: attrs.clone(),
        };
        let statvfs = Statvfs {
            bsize: 1,
            frsize: 2,
            blocks: 3,
            bfree: 4,
            bavail: 5,
            files: 6,
            ffree: 7,
            favail: 8,
            fsid: 9,
            flag: SSH_FXE_STATVFS_ST_RDONLY,
            namemax: 255,
        };
        let statvfs_wire: Vec<Vec<u8>> = [1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 255].map(n64).into();
        let exts = [("a@b", "1")];
        let (name_attrs, entries) = (attrs_wire.clone(), [entry.clone(), entry]);
        check(
            |o| encode_version(o, 3, &exts),
            2,
            &[n32(3), s(b"a@b"), s(b"1")],
        );
        check(|o| encode_handle(o, 9, b"h\0"), 102, &[n32(9), s(b"h\0")]);
        check(|o| encode_data(o, 9, b"abc"), 103, &[n32(9), s(b"abc")]);
        check(
            |o| encode_attrs(o, 9, &attrs),
            105,
            &[n32(9), attrs_wire.clone()],
        );
        check(|o| encode_name(o, 9, &[]), 104, &[n32(9), n32(0)]);
        let one = [s(b"f"), s(b"-rw------- f"), name_attrs].concat();
        check(
            |o| encode_name(o, 9, &entries),
            104,
            &[n32(9), n32(2), one.clone(), one],
        );
        check(
            |o| encode_extended_reply(o, 9, b"xyz"),
            201,
            &[n32(9), b"xyz".to_vec()],
        );
        check(
            |o| encode_statvfs_reply(o, 9, &statvfs),
            201,
            &[&[n32(9)], &statvfs_wire[..]].concat(),
        );
        let limits_wire = [n64(256 * 1024), n64(255 * 1024), n64(255 * 1024), n64(64)];
        check(
            |o| encode_limits_reply(o, 9, &Limits::new(64)),
            201,
            &[&[n32(9)], &limits_wire[..]].concat(),
        );
        let check_file = [n32(9), s(b"check-file"), s(b"md5"), vec![0xaa; 32]];
        check(
            |o| encode_check_file_reply(o, 9, "md5", &[0xaa; 32]),
            201,
            &check_file,
        );
        let users = [n32(9), s(&[s(b"root"), s(b"")].concat()), s(&s(b"wheel"))];
        check(
            |o| encode_users_groups_reply(o, 9, &["root", ""], &["wheel"]),
            201,
            &users,
        );
        assert_eq!(NameEntry::default().encoded_len(), 12);
    }

    #[test]
    fn data_header_leaves_room_for_the_payload() {
        let mut out = BytesMut::new();
        encode_data_header(&mut out, 5, 4).unwrap();
        out.put_slice(b"file");
        let mut decoder = PacketDecoder::new();
        decoder.push(&out);
        let packet = decoder.next_packet().unwrap().unwrap();
        let mut reader = Reader::new(&packet);
        assert_eq!(reader.u8(), Ok(SSH_FXP_DATA));
        assert_eq!(reader.u32(), Ok(5));
        assert_eq!(reader.string(), Ok(&b"file"[..]));
        assert!(reader.is_empty());
    }

    #[test]
    fn oversized_replies_append_nothing() {
        let max_data = MAX_READ_LENGTH as usize;
        let mut out = BytesMut::from(&b"keep"[..]);
        assert!(encode_data(&mut out, 1, &vec![0; max_data]).is_ok());
        out.truncate(4);
        let limit = SFTP_MAX_PACKET_BYTES as usize;
        let huge = vec![0; limit];
        let long_name = NameEntry {
            filename: Bytes::from(huge.clone()),
            ..NameEntry::default()
        };
        let results = [
            encode_data(&mut out, 1, &huge),
            encode_data_header(&mut out, 1, u32::MAX),
            encode_handle(&mut out, 1, &huge),
            encode_extended_reply(&mut out, 1, &huge),
            encode_name(&mut out, 1, &[long_name]),
        ];
        for result in results {
            assert!(
                matches!(result, Err(EncodeError::TooLarge { .. })),
                "{result:?}"
            );
        }
        assert_eq!(&out[..], b"keep");
        assert_eq!(
            encode_data(&mut out, 1, &huge[..limit - DATA_HEADER_BYTES]),
            Ok(())
        );
    }
}

//! Client requests: draft-ietf-secsh-filexfer-02 §4 (INIT), §6 (file, directory and path
//! requests) and §8 (`SSH_FXP_EXTENDED`), plus the extended requests of OpenSSH's `PROTOCOL`
//! file (`*@openssh.com`) and of draft-ietf-secsh-filexfer-extensions-00 (`check-file-*`,
//! `copy-data`, `home-directory`).
//!
//! Decoding is total: any body yields a [`Request`] or a [`DecodeError`] that carries the
//! request id whenever it could be read, so the loop can still answer that request. Paths and
//! names stay raw bytes; turning them into paths is the caller's job.
//!
//! Bytes after the last field are ignored, as OpenSSH's `sftp-server.c` does.

use bytes::Bytes;

use super::attrs::FileAttributes;
use super::packet::{
    SSH_FXP_CLOSE, SSH_FXP_EXTENDED, SSH_FXP_FSETSTAT, SSH_FXP_FSTAT, SSH_FXP_INIT, SSH_FXP_LSTAT,
    SSH_FXP_MKDIR, SSH_FXP_OPEN, SSH_FXP_OPENDIR, SSH_FXP_READ, SSH_FXP_READDIR, SSH_FXP_READLINK,
    SSH_FXP_REALPATH, SSH_FXP_REMOVE, SSH_FXP_RENAME, SSH_FXP_RMDIR, SSH_FXP_SETSTAT, SSH_FXP_STAT,
    SSH_FXP_SYMLINK, SSH_FXP_WRITE,
};
use super::wire::{Reader, WireError};

/// `posix-rename@openssh.com`: rename that replaces an existing target.
pub const EXT_POSIX_RENAME: &str = "posix-rename@openssh.com";
/// `statvfs@openssh.com`.
pub const EXT_STATVFS: &str = "statvfs@openssh.com";
/// `fstatvfs@openssh.com`.
pub const EXT_FSTATVFS: &str = "fstatvfs@openssh.com";
/// `hardlink@openssh.com`.
pub const EXT_HARDLINK: &str = "hardlink@openssh.com";
/// `fsync@openssh.com`.
pub const EXT_FSYNC: &str = "fsync@openssh.com";
/// `lsetstat@openssh.com`: SETSTAT without following a final symlink.
pub const EXT_LSETSTAT: &str = "lsetstat@openssh.com";
/// `limits@openssh.com`.
pub const EXT_LIMITS: &str = "limits@openssh.com";
/// `expand-path@openssh.com`: REALPATH that also expands `~`.
pub const EXT_EXPAND_PATH: &str = "expand-path@openssh.com";
/// `copy-data`: server-side copy between two open handles.
pub const EXT_COPY_DATA: &str = "copy-data";
/// `home-directory`.
pub const EXT_HOME_DIRECTORY: &str = "home-directory";
/// `users-groups-by-id@openssh.com`.
pub const EXT_USERS_GROUPS_BY_ID: &str = "users-groups-by-id@openssh.com";
/// `check-file-name`: hash of a file named by path.
pub const EXT_CHECK_FILE_NAME: &str = "check-file-name";
/// `check-file-handle`: hash of an open file.
pub const EXT_CHECK_FILE_HANDLE: &str = "check-file-handle";

/// Why a request body could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Truncated or invalid fields; answer `SSH_FX_BAD_MESSAGE` when `id` is known.
    #[error("malformed request")]
    Malformed {
        /// The request id, if the body was long enough to hold one.
        id: Option<u32>,
    },
    /// A type byte that is not a v3 request; answer `SSH_FX_OP_UNSUPPORTED` when `id` is known.
    ///
    /// INIT after the handshake lands here with `id: None`: its `uint32` is a version.
    #[error("unknown request type")]
    UnknownType {
        /// The request id, if the body was long enough to hold one.
        id: Option<u32>,
    },
}

impl DecodeError {
    /// The id to answer, if one could be read.
    pub fn id(&self) -> Option<u32> {
        match *self {
            Self::Malformed { id } | Self::UnknownType { id } => id,
        }
    }
}

/// `pflags` of `SSH_FXP_OPEN` (filexfer-02 §6.3). Unknown bits are kept, not rejected, as
/// OpenSSH does; [`OpenFlags::unknown_bits`] exposes them for logging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct OpenFlags(u32);

impl OpenFlags {
    /// `SSH_FXF_READ`.
    pub const READ: Self = Self(0x01);
    /// `SSH_FXF_WRITE`.
    pub const WRITE: Self = Self(0x02);
    /// `SSH_FXF_APPEND`: every write goes to the end of the file, whatever its offset.
    pub const APPEND: Self = Self(0x04);
    /// `SSH_FXF_CREAT`.
    pub const CREAT: Self = Self(0x08);
    /// `SSH_FXF_TRUNC`; only meaningful with CREAT per the draft.
    pub const TRUNC: Self = Self(0x10);
    /// `SSH_FXF_EXCL`; only meaningful with CREAT per the draft.
    pub const EXCL: Self = Self(0x20);

    const KNOWN: u32 = 0x3f;

    /// Wraps a wire value, keeping every bit.
    pub const fn from_bits_retain(bits: u32) -> Self {
        Self(bits)
    }

    /// The wire value.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Bits this draft does not define.
    pub const fn unknown_bits(self) -> u32 {
        self.0 & !Self::KNOWN
    }
}

impl std::ops::BitOr for OpenFlags {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// One decoded request: the id to echo in the reply and what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Chosen by the client; every reply carries it back.
    pub id: u32,
    /// The operation and its arguments.
    pub kind: RequestKind,
}

/// Every v3 request and every extended request this server understands.
///
/// `Bytes` fields are zero-copy slices of the packet. Lengths and offsets are as sent: READ
/// lengths are not clamped here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// `SSH_FXP_OPEN`.
    Open {
        /// Path to open.
        filename: Bytes,
        /// Access and creation mode.
        pflags: OpenFlags,
        /// Attributes for a newly created file.
        attrs: FileAttributes,
    },
    /// `SSH_FXP_CLOSE`.
    Close {
        /// File or directory handle.
        handle: Bytes,
    },
    /// `SSH_FXP_READ`.
    Read {
        /// File handle.
        handle: Bytes,
        /// Byte offset to read from.
        offset: u64,
        /// Bytes requested; the loop must clamp it to `MAX_READ_LENGTH`.
        len: u32,
    },
    /// `SSH_FXP_WRITE`.
    Write {
        /// File handle.
        handle: Bytes,
        /// Byte offset to write at.
        offset: u64,
        /// The bytes to write, sliced out of the packet.
        data: Bytes,
    },
    /// `SSH_FXP_LSTAT`.
    Lstat {
        /// Path, not following a final symlink.
        path: Bytes,
    },
    /// `SSH_FXP_FSTAT`.
    Fstat {
        /// File handle.
        handle: Bytes,
    },
    /// `SSH_FXP_SETSTAT`.
    Setstat {
        /// Path.
        path: Bytes,
        /// Attributes to change.
        attrs: FileAttributes,
    },
    /// `SSH_FXP_FSETSTAT`.
    Fsetstat {
        /// File handle.
        handle: Bytes,
        /// Attributes to change.
        attrs: FileAttributes,
    },
    /// `SSH_FXP_OPENDIR`.
    Opendir {
        /// Directory path.
        path: Bytes,
    },
    /// `SSH_FXP_READDIR`.
    Readdir {
        /// Directory handle.
        handle: Bytes,
    },
    /// `SSH_FXP_REMOVE`: removes a file, not a directory.
    Remove {
        /// Path.
        path: Bytes,
    },
    /// `SSH_FXP_MKDIR`.
    Mkdir {
        /// Path of the new directory.
        path: Bytes,
        /// Attributes for it.
        attrs: FileAttributes,
    },
    /// `SSH_FXP_RMDIR`.
    Rmdir {
        /// Path.
        path: Bytes,
    },
    /// `SSH_FXP_REALPATH`.
    Realpath {
        /// Path to canonicalize; may be relative or empty.
        path: Bytes,
    },
    /// `SSH_FXP_STAT`.
    Stat {
        /// Path, following symlinks.
        path: Bytes,
    },
    /// `SSH_FXP_RENAME`: fails if `new_path` exists, per the draft.
    Rename {
        /// Existing path.
        old_path: Bytes,
        /// New path.
        new_path: Bytes,
    },
    /// `SSH_FXP_READLINK`.
    Readlink {
        /// Path of the symlink.
        path: Bytes,
    },
    /// `SSH_FXP_SYMLINK`.
    ///
    /// The draft orders the fields (linkpath, targetpath), but OpenSSH's sftp-server reads
    /// them the other way round and keeps that for compatibility (PROTOCOL, "Reversal of
    /// arguments to SSH_FXP_SYMLINK"); OpenSSH's client sends target first. We follow
    /// OpenSSH: the wire's first string is `target`, the second `link_path`.
    Symlink {
        /// What the new link points to (stored verbatim in the link).
        target: Bytes,
        /// Where the new link is created.
        link_path: Bytes,
    },
    /// `posix-rename@openssh.com`: rename replacing an existing `new_path`.
    PosixRename {
        /// Existing path.
        old_path: Bytes,
        /// New path.
        new_path: Bytes,
    },
    /// `statvfs@openssh.com`.
    Statvfs {
        /// Any path on the filesystem to describe.
        path: Bytes,
    },
    /// `fstatvfs@openssh.com`.
    Fstatvfs {
        /// Handle on the filesystem to describe.
        handle: Bytes,
    },
    /// `hardlink@openssh.com`.
    Hardlink {
        /// Existing path.
        old_path: Bytes,
        /// Path of the new link.
        new_path: Bytes,
    },
    /// `fsync@openssh.com`.
    Fsync {
        /// File handle.
        handle: Bytes,
    },
    /// `lsetstat@openssh.com`: SETSTAT without following a final symlink.
    Lsetstat {
        /// Path.
        path: Bytes,
        /// Attributes to change.
        attrs: FileAttributes,
    },
    /// `limits@openssh.com`: asks for the server's packet, read, write and handle limits.
    Limits,
    /// `expand-path@openssh.com`: REALPATH that also expands a leading `~` or `~user`.
    ExpandPath {
        /// Path to expand.
        path: Bytes,
    },
    /// `copy-data`: copies bytes between two open handles on the server.
    CopyData {
        /// Handle opened for reading.
        read_handle: Bytes,
        /// Offset to read from.
        read_offset: u64,
        /// Bytes to copy; 0 means up to end of file.
        read_length: u64,
        /// Handle opened for writing (may equal `read_handle`).
        write_handle: Bytes,
        /// Offset to write at.
        write_offset: u64,
    },
    /// `home-directory`.
    HomeDirectory {
        /// User whose home is asked for; empty means the session's user.
        username: Bytes,
    },
    /// `users-groups-by-id@openssh.com`.
    UsersGroupsById {
        /// uids to name, in order.
        uids: Vec<u32>,
        /// gids to name, in order.
        gids: Vec<u32>,
    },
    /// `check-file-name`.
    CheckFileName {
        /// Path of the file to hash.
        path: Bytes,
        /// Comma-separated hash algorithm names, client's preference first.
        algorithms: Bytes,
        /// Offset of the first byte to hash.
        start_offset: u64,
        /// Bytes to hash; 0 means up to end of file.
        length: u64,
        /// Hash each block of this size separately; 0 means one hash for the whole range.
        block_size: u32,
    },
    /// `check-file-handle`.
    CheckFileHandle {
        /// Handle of the file to hash.
        handle: Bytes,
        /// Comma-separated hash algorithm names, client's preference first.
        algorithms: Bytes,
        /// Offset of the first byte to hash.
        start_offset: u64,
        /// Bytes to hash; 0 means up to end of file.
        length: u64,
        /// Hash each block of this size separately; 0 means one hash for the whole range.
        block_size: u32,
    },
    /// An `SSH_FXP_EXTENDED` request we do not implement; answer `SSH_FX_OP_UNSUPPORTED`.
    UnknownExtended {
        /// The extension name as sent.
        name: Bytes,
    },
}

impl RequestKind {
    /// Short protocol name for logs (the extension name for extended requests).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Open { .. } => "open",
            Self::Close { .. } => "close",
            Self::Read { .. } => "read",
            Self::Write { .. } => "write",
            Self::Lstat { .. } => "lstat",
            Self::Fstat { .. } => "fstat",
            Self::Setstat { .. } => "setstat",
            Self::Fsetstat { .. } => "fsetstat",
            Self::Opendir { .. } => "opendir",
            Self::Readdir { .. } => "readdir",
            Self::Remove { .. } => "remove",
            Self::Mkdir { .. } => "mkdir",
            Self::Rmdir { .. } => "rmdir",
            Self::Realpath { .. } => "realpath",
            Self::Stat { .. } => "stat",
            Self::Rename { .. } => "rename",
            Self::Readlink { .. } => "readlink",
            Self::Symlink { .. } => "symlink",
            Self::PosixRename { .. } => EXT_POSIX_RENAME,
            Self::Statvfs { .. } => EXT_STATVFS,
            Self::Fstatvfs { .. } => EXT_FSTATVFS,
            Self::Hardlink { .. } => EXT_HARDLINK,
            Self::Fsync { .. } => EXT_FSYNC,
            Self::Lsetstat { .. } => EXT_LSETSTAT,
            Self::Limits => EXT_LIMITS,
            Self::ExpandPath { .. } => EXT_EXPAND_PATH,
            Self::CopyData { .. } => EXT_COPY_DATA,
            Self::HomeDirectory { .. } => EXT_HOME_DIRECTORY,
            Self::UsersGroupsById { .. } => EXT_USERS_GROUPS_BY_ID,
            Self::CheckFileName { .. } => EXT_CHECK_FILE_NAME,
            Self::CheckFileHandle { .. } => EXT_CHECK_FILE_HANDLE,
            Self::UnknownExtended { .. } => "extended",
        }
    }
}

/// Decodes `SSH_FXP_INIT` (filexfer-02 §4) and returns the client's protocol version.
///
/// The extension pairs a client may append are skipped: none is defined for clients. Any
/// other packet type, or a truncated body, is `Malformed { id: None }`.
pub fn parse_init(body: &Bytes) -> Result<u32, DecodeError> {
    const MALFORMED: DecodeError = DecodeError::Malformed { id: None };
    let mut reader = Reader::new(body);
    if reader.u8().map_err(|_| MALFORMED)? != SSH_FXP_INIT {
        return Err(MALFORMED);
    }
    let version = reader.u32().map_err(|_| MALFORMED)?;
    while !reader.is_empty() {
        reader.string().map_err(|_| MALFORMED)?;
        reader.string().map_err(|_| MALFORMED)?;
    }
    Ok(version)
}

/// Decodes one request body as returned by `PacketDecoder::next_packet`.
pub fn decode_request(body: Bytes) -> Result<Request, DecodeError> {
    let mut reader = Reader::new(&body);
    let packet_type = reader
        .u8()
        .map_err(|_| DecodeError::Malformed { id: None })?;
    if !is_request_type(packet_type) {
        let id = match packet_type {
            SSH_FXP_INIT => None,
            _ => reader.u32().ok(),
        };
        return Err(DecodeError::UnknownType { id });
    }
    let id = reader
        .u32()
        .map_err(|_| DecodeError::Malformed { id: None })?;
    let kind = decode_kind(packet_type, &mut reader)
        .map_err(|_| DecodeError::Malformed { id: Some(id) })?;
    Ok(Request { id, kind })
}

fn is_request_type(packet_type: u8) -> bool {
    matches!(
        packet_type,
        SSH_FXP_OPEN..=SSH_FXP_SYMLINK | SSH_FXP_EXTENDED
    )
}

// The arms mirror the wire tables of the drafts; one line per short arm keeps them comparable.
#[rustfmt::skip]
fn decode_kind(packet_type: u8, reader: &mut Reader<'_>) -> Result<RequestKind, WireError> {
    use RequestKind as K;
    Ok(match packet_type {
        SSH_FXP_OPEN => K::Open {
            filename: reader.bytes()?,
            pflags: OpenFlags::from_bits_retain(reader.u32()?),
            attrs: FileAttributes::decode(reader)?,
        },
        SSH_FXP_CLOSE => K::Close { handle: reader.bytes()? },
        SSH_FXP_READ => K::Read {
            handle: reader.bytes()?,
            offset: reader.u64()?,
            len: reader.u32()?,
        },
        SSH_FXP_WRITE => K::Write {
            handle: reader.bytes()?,
            offset: reader.u64()?,
            data: reader.bytes()?,
        },
        SSH_FXP_LSTAT => K::Lstat { path: reader.bytes()? },
        SSH_FXP_FSTAT => K::Fstat { handle: reader.bytes()? },
        SSH_FXP_SETSTAT => K::Setstat {
            path: reader.bytes()?,
            attrs: FileAttributes::decode(reader)?,
        },
        SSH_FXP_FSETSTAT => K::Fsetstat {
            handle: reader.bytes()?,
            attrs: FileAttributes::decode(reader)?,
        },
        SSH_FXP_OPENDIR => K::Opendir { path: reader.bytes()? },
        SSH_FXP_READDIR => K::Readdir { handle: reader.bytes()? },
        SSH_FXP_REMOVE => K::Remove { path: reader.bytes()? },
        SSH_FXP_MKDIR => K::Mkdir { path: reader.bytes()?, attrs: FileAttributes::decode(reader)? },
        SSH_FXP_RMDIR => K::Rmdir { path: reader.bytes()? },
        SSH_FXP_REALPATH => K::Realpath { path: reader.bytes()? },
        SSH_FXP_STAT => K::Stat { path: reader.bytes()? },
        SSH_FXP_RENAME => K::Rename { old_path: reader.bytes()?, new_path: reader.bytes()? },
        SSH_FXP_READLINK => K::Readlink { path: reader.bytes()? },
        SSH_FXP_SYMLINK => K::Symlink { target: reader.bytes()?, link_path: reader.bytes()? },
        SSH_FXP_EXTENDED => decode_extended(reader)?,
        _ => return Err(WireError::Invalid("not a request type")),
    })
}

#[rustfmt::skip]
fn decode_extended(reader: &mut Reader<'_>) -> Result<RequestKind, WireError> {
    use RequestKind as K;
    let name = reader.bytes()?;
    let Ok(known) = std::str::from_utf8(&name) else {
        return Ok(K::UnknownExtended { name });
    };
    Ok(match known {
        EXT_POSIX_RENAME => K::PosixRename { old_path: reader.bytes()?, new_path: reader.bytes()? },
        EXT_STATVFS => K::Statvfs { path: reader.bytes()? },
        EXT_FSTATVFS => K::Fstatvfs { handle: reader.bytes()? },
        EXT_HARDLINK => K::Hardlink { old_path: reader.bytes()?, new_path: reader.bytes()? },
        EXT_FSYNC => K::Fsync { handle: reader.bytes()? },
        EXT_LSETSTAT => K::Lsetstat {
            path: reader.bytes()?,
            attrs: FileAttributes::decode(reader)?,
        },
        EXT_LIMITS => K::Limits,
        EXT_EXPAND_PATH => K::ExpandPath { path: reader.bytes()? },
        EXT_COPY_DATA => K::CopyData {
            read_handle: reader.bytes()?,
            read_offset: reader.u64()?,
            read_length: reader.u64()?,
            write_handle: reader.bytes()?,
            write_offset: reader.u64()?,
        },
        EXT_HOME_DIRECTORY => K::HomeDirectory { username: reader.bytes()? },
        EXT_USERS_GROUPS_BY_ID => K::UsersGroupsById {
            uids: id_list(reader.string()?)?,
            gids: id_list(reader.string()?)?,
        },
        EXT_CHECK_FILE_NAME => K::CheckFileName {
            path: reader.bytes()?,
            algorithms: reader.bytes()?,
            start_offset: reader.u64()?,
            length: reader.u64()?,
            block_size: reader.u32()?,
        },
        EXT_CHECK_FILE_HANDLE => K::CheckFileHandle {
            handle: reader.bytes()?,
            algorithms: reader.bytes()?,
            start_offset: reader.u64()?,
            length: reader.u64()?,
            block_size: reader.u32()?,
        },
        _ => K::UnknownExtended { name },
    })
}

/// A string packed with `uint32`s and nothing else, as users-groups-by-id sends its ids.
fn id_list(packed: &[u8]) -> Result<Vec<u32>, WireError> {
    let ids = packed.chunks_exact(4);
    if !ids.remainder().is_empty() {
        return Err(WireError::Invalid(
            "id list is not a whole number of uint32",
        ));
    }
    Ok(ids
        .map(|id| u32::from_be_bytes([id[0], id[1], id[2], id[3]]))
        .collect())
}

#[cfg(test)]
mod tests;

//! Extended requests that are not plain file or path operations: `statvfs@openssh.com`,
//! `fstatvfs@openssh.com`, `limits@openssh.com`, `expand-path@openssh.com`, `home-directory`,
//! `users-groups-by-id@openssh.com`, and `check-file-name`/`check-file-handle`
//! (draft-ietf-secsh-filexfer-extensions-00 §3).
//!
//! Every user is confined to their own tree, whose root is their home: `~` and the home
//! directory are `/`, and the only user name a session knows is its own.

use bytes::BytesMut;

use super::reply::encode;
use crate::sftp::context::{resolve, SessionContext};
use crate::sftp::errors::Failure;
use crate::sftp::handles::MAX_OPEN_HANDLES;
use crate::sftp::listing::path_entry;
use crate::sftp::proto::response::{SSH_FXE_STATVFS_ST_NOSUID, SSH_FXE_STATVFS_ST_RDONLY};
use crate::sftp::proto::{
    encode_check_file_reply, encode_limits_reply, encode_name, encode_statvfs_reply,
    encode_users_groups_reply, Limits, StatusCode, Statvfs, SFTP_MAX_PACKET_BYTES,
};
use crate::vfs::{HashAlgorithm, Permissions, VirtualPath};

/// Hash algorithm names of `check-file`, in the order we prefer when the client lists several.
const CHECK_FILE_ALGORITHMS: &[(&str, HashAlgorithm)] = &[
    ("sha256", HashAlgorithm::Sha256),
    ("sha1", HashAlgorithm::Sha1),
    ("md5", HashAlgorithm::Md5),
    ("crc32", HashAlgorithm::Crc32),
];

/// The draft's smallest block size for per-block hashes.
const MIN_CHECK_FILE_BLOCK: u32 = 256;

/// Room left in a reply packet for the hashes of `check-file`.
const CHECK_FILE_HASH_ROOM: usize = SFTP_MAX_PACKET_BYTES as usize - 1024;

/// `statvfs@openssh.com` on a path.
pub(super) async fn statvfs(
    context: &SessionContext,
    id: u32,
    raw: &[u8],
) -> Result<BytesMut, Failure> {
    statvfs_at(context, id, &resolve(raw)?).await
}

/// The statvfs reply for `path`; sizes come from the user's quota when one is set.
pub(super) async fn statvfs_at(
    context: &SessionContext,
    id: u32,
    path: &VirtualPath,
) -> Result<BytesMut, Failure> {
    let space = context.fs.space(path).await?;
    let block = space.block_size.max(1);
    let mut flag = SSH_FXE_STATVFS_ST_NOSUID;
    if !context
        .fs
        .permissions_at(path)
        .contains(Permissions::UPLOAD)
    {
        flag |= SSH_FXE_STATVFS_ST_RDONLY;
    }
    let stat = Statvfs {
        bsize: block,
        frsize: block,
        blocks: space.total_bytes / block,
        bfree: space.free_bytes / block,
        bavail: space.available_bytes / block,
        files: space.total_files,
        ffree: space.free_files,
        favail: space.free_files,
        fsid: 0,
        flag,
        namemax: 255,
    };
    encode(|out| encode_statvfs_reply(out, id, &stat))
}

/// `limits@openssh.com`: OpenSSH clients size their READs and WRITEs from this.
pub(super) fn limits(id: u32) -> Result<BytesMut, Failure> {
    let limits = Limits::new(MAX_OPEN_HANDLES as u64);
    encode(|out| encode_limits_reply(out, id, &limits))
}

/// `expand-path@openssh.com`: REALPATH that understands `~` and `~user` (modern `scp`).
pub(super) fn expand_path(
    context: &SessionContext,
    id: u32,
    raw: &[u8],
) -> Result<BytesMut, Failure> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| Failure::new(StatusCode::NoSuchFile, "path is not valid UTF-8"))?;
    let relative = match text.strip_prefix('~') {
        None => text,
        Some(rest) => {
            let (user, rest) = rest.split_once('/').unwrap_or((rest, ""));
            if !user.is_empty() && user != context.user {
                return Err(Failure::new(StatusCode::NoSuchFile, "unknown user"));
            }
            rest
        }
    };
    let path = resolve(relative.as_bytes())?;
    encode(|out| encode_name(out, id, &[path_entry(path.as_str())]))
}

/// `home-directory`: `/` for the session's own user.
pub(super) fn home_directory(
    context: &SessionContext,
    id: u32,
    username: &[u8],
) -> Result<BytesMut, Failure> {
    if !username.is_empty() && username != context.user.as_bytes() {
        return Err(Failure::new(StatusCode::NoSuchFile, "unknown user"));
    }
    encode(|out| encode_name(out, id, &[path_entry("/")]))
}

/// `users-groups-by-id@openssh.com`: every id maps to the session's user (see `listing`).
pub(super) fn users_groups(
    context: &SessionContext,
    id: u32,
    uids: &[u32],
    gids: &[u32],
) -> Result<BytesMut, Failure> {
    let name = context.user.as_str();
    let users = vec![name; uids.len()];
    let groups = vec![name; gids.len()];
    encode(|out| encode_users_groups_reply(out, id, &users, &groups))
}

/// The arguments of `check-file-name` / `check-file-handle`.
pub(super) struct CheckFile<'a> {
    /// Comma-separated algorithm names.
    pub algorithms: &'a [u8],
    /// First byte to hash.
    pub start_offset: u64,
    /// Bytes to hash; 0 means to the end.
    pub length: u64,
    /// Per-block hashing when non-zero.
    pub block_size: u32,
}

/// Hashes (part of) the file at `path` with the first algorithm both sides support.
pub(super) async fn check_file(
    context: &SessionContext,
    id: u32,
    path: &VirtualPath,
    request: CheckFile<'_>,
) -> Result<BytesMut, Failure> {
    let (name, algorithm) = choose_algorithm(request.algorithms)?;
    let length = if request.length == 0 {
        u64::MAX
    } else {
        request.length
    };
    let mut hashes = Vec::new();
    if request.block_size == 0 {
        hashes = context
            .fs
            .hash(path, algorithm, Some((request.start_offset, length)))
            .await?;
    } else {
        if request.block_size < MIN_CHECK_FILE_BLOCK {
            return Err(Failure::new(StatusCode::Failure, "block size below 256"));
        }
        let size = context.fs.stat(path).await?.size;
        let end = request.start_offset.saturating_add(length).min(size);
        let block = u64::from(request.block_size);
        let mut offset = request.start_offset;
        while offset < end {
            let take = block.min(end - offset);
            let digest = context
                .fs
                .hash(path, algorithm, Some((offset, take)))
                .await?;
            if hashes.len() + digest.len() > CHECK_FILE_HASH_ROOM {
                return Err(Failure::new(StatusCode::Failure, "too many blocks"));
            }
            hashes.extend_from_slice(&digest);
            offset += take;
        }
    }
    encode(|out| encode_check_file_reply(out, id, name, &hashes))
}

fn choose_algorithm(list: &[u8]) -> Result<(&'static str, HashAlgorithm), Failure> {
    let list = String::from_utf8_lossy(list);
    list.split(',')
        .map(str::trim)
        .find_map(|wanted| {
            CHECK_FILE_ALGORITHMS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
                .copied()
        })
        .ok_or_else(|| Failure::new(StatusCode::Failure, "no supported hash algorithm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_preference_picks_the_first_supported_hash() {
        assert_eq!(choose_algorithm(b"sha512,md5,sha1").unwrap().0, "md5");
        assert_eq!(choose_algorithm(b"SHA256").unwrap().0, "sha256");
        assert!(choose_algorithm(b"sha512").is_err());
        assert!(choose_algorithm(b"").is_err());
    }
}

//! `FileStat` in SFTP form: v3 `ATTRS` and the `ls -l` style longname of READDIR entries.
//!
//! The longname follows OpenSSH's `ls_file()` (sftp-common.c), since clients such as OpenSSH's
//! `sftp` print it verbatim for `ls -l`: mode, links, owner, group, size, date, name. Owner and
//! group show the session's user: every file in a virtual user's view belongs to them as far as
//! they can tell, and the daemon's own account name means nothing to a client. Dates are UTC:
//! the server's local time zone is no more the client's than UTC is.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::proto::{FileAttributes, NameEntry};
use crate::vfs::{FileKind, FileStat};

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;

/// Unix seconds clamped to v3's 32-bit field.
pub(crate) fn unix_secs(time: SystemTime) -> u32 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(elapsed) => u32::try_from(elapsed.as_secs()).unwrap_or(u32::MAX),
        Err(_) => 0,
    }
}

/// The `ATTRS` of a file: size, ids, type and permission bits, times.
pub(crate) fn attributes(stat: &FileStat) -> FileAttributes {
    FileAttributes {
        size: Some(stat.size),
        uid_gid: Some((stat.uid, stat.gid)),
        permissions: Some(type_bits(stat.kind) | stat.mode),
        atime_mtime: Some((unix_secs(stat.atime), unix_secs(stat.mtime))),
        extended: Vec::new(),
    }
}

/// One READDIR entry with its longname.
pub(crate) fn name_entry(name: &str, stat: &FileStat, owner: &str, now: SystemTime) -> NameEntry {
    NameEntry {
        filename: Bytes::copy_from_slice(name.as_bytes()),
        longname: Bytes::from(longname(name, stat, owner, now)),
        attrs: attributes(stat),
    }
}

/// A path-only NAME entry (REALPATH and friends): OpenSSH sends empty attributes there.
pub(crate) fn path_entry(path: &str) -> NameEntry {
    NameEntry {
        filename: Bytes::copy_from_slice(path.as_bytes()),
        longname: Bytes::copy_from_slice(path.as_bytes()),
        attrs: FileAttributes::default(),
    }
}

fn type_bits(kind: FileKind) -> u32 {
    match kind {
        FileKind::Dir => S_IFDIR,
        FileKind::File => S_IFREG,
        FileKind::Symlink => S_IFLNK,
        FileKind::Other => 0,
    }
}

/// `drwxr-xr-x    2 alice    alice        4096 Mar  4 12:34 name`
pub(crate) fn longname(name: &str, stat: &FileStat, owner: &str, now: SystemTime) -> String {
    format!(
        "{} {:>4} {:<8} {:<8} {:>8} {} {}",
        stat.ls_mode(),
        stat.nlink,
        owner,
        owner,
        stat.size,
        stat.ls_time(now),
        name
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn stat(kind: FileKind, mode: u32, size: u64, mtime: u64) -> FileStat {
        let time = UNIX_EPOCH + Duration::from_secs(mtime);
        FileStat {
            kind,
            size,
            mode,
            mtime: time,
            atime: time,
            uid: 1000,
            gid: 1000,
            nlink: 1,
            unique_id: 7,
        }
    }

    #[test]
    fn longname_matches_ls_layout() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let recent = stat(FileKind::File, 0o644, 1234, 1_699_990_000);
        assert_eq!(
            longname("a.txt", &recent, "alice", now),
            "-rw-r--r--    1 alice    alice        1234 Nov 14 19:26 a.txt"
        );
        let old = stat(FileKind::Dir, 0o1777, 4096, 1_000_000_000);
        assert_eq!(
            longname("tmp", &old, "alice", now),
            "drwxrwxrwt    1 alice    alice        4096 Sep  9  2001 tmp"
        );
        let link = stat(FileKind::Symlink, 0o4755, 3, 1_000_000_000);
        assert!(longname("l", &link, "bob", now).starts_with("lrwsr-xr-x"));
    }

    #[test]
    fn attributes_carry_type_bits_and_clamped_times() {
        let attrs = attributes(&stat(FileKind::Dir, 0o755, 0, 5));
        assert_eq!(attrs.permissions, Some(0o040_755));
        assert_eq!(attrs.atime_mtime, Some((5, 5)));
        let far = UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) + 10);
        assert_eq!(unix_secs(far), u32::MAX);
    }
}

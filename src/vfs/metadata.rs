//! Protocol-neutral file metadata: `FileStat`, `FileKind`, `DirEntry`.
//!
//! Both front ends format listings and attributes from these types (FTP `LIST`/`MLSD`, SFTP
//! `ATTRS`), so they carry the union of what either needs and nothing that names the server's
//! file system (no host paths, no raw device numbers: `unique_id` is a hash).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cap_std::fs::MetadataExt as _;

/// What kind of object a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory (including mount points and the directories leading to them).
    Dir,
    /// A symbolic link (only from `lstat` and listings; `stat` follows links).
    Symlink,
    /// Anything else: FIFO, socket, device. Never opened by the VFS.
    Other,
}

/// Metadata of one file system object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStat {
    /// The object's kind.
    pub kind: FileKind,
    /// Size in bytes (for symlinks, the length of the target text).
    pub size: u64,
    /// Permission bits (`0o7777` at most; no file type bits).
    pub mode: u32,
    /// Last modification time.
    pub mtime: SystemTime,
    /// Last access time.
    pub atime: SystemTime,
    /// Owner user id on the server.
    pub uid: u32,
    /// Owner group id on the server.
    pub gid: u32,
    /// Number of hard links.
    pub nlink: u64,
    /// A stable identifier of the underlying object (device and inode, hashed), e.g. for the
    /// MLSD `unique` fact; equal for two names of the same file.
    pub unique_id: u64,
}

impl FileStat {
    /// True for directories.
    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }

    /// True for regular files.
    pub fn is_file(&self) -> bool {
        self.kind == FileKind::File
    }

    /// True for symbolic links.
    pub fn is_symlink(&self) -> bool {
        self.kind == FileKind::Symlink
    }

    /// The type and mode as `ls -l` shows them, e.g. `drwxr-xr-x` or `-rwsr-x--T`.
    ///
    /// FTP `LIST` and SFTP `longname` both use the `ls -l` layout, which FileZilla, WinSCP and
    /// OpenSSH's `sftp` parse; it lives here so the two protocols cannot drift apart.
    pub fn ls_mode(&self) -> String {
        let mut text = String::with_capacity(10);
        text.push(match self.kind {
            FileKind::Dir => 'd',
            FileKind::Symlink => 'l',
            FileKind::File => '-',
            FileKind::Other => 'p',
        });
        let specials = [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')];
        for (shift, special, special_char) in specials {
            let bits = (self.mode >> shift) & 7;
            text.push(if bits & 4 != 0 { 'r' } else { '-' });
            text.push(if bits & 2 != 0 { 'w' } else { '-' });
            text.push(match (self.mode & special != 0, bits & 1 != 0) {
                (true, true) => special_char,
                (true, false) => special_char.to_ascii_uppercase(),
                (false, true) => 'x',
                (false, false) => '-',
            });
        }
        text
    }

    /// The modification time as `ls -l` shows it (UTC): `Mar  4 10:30` when it is less than
    /// about six months old (or up to a day in the future, clock skew), `Mar  4  2019` otherwise.
    pub fn ls_time(&self, now: SystemTime) -> String {
        const SIX_MONTHS_SECS: i64 = 183 * 86_400;
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let seconds = unix_seconds(self.mtime);
        let age = unix_seconds(now).saturating_sub(seconds);
        let Ok(date) = time::OffsetDateTime::from_unix_timestamp(seconds) else {
            return "Jan  1  1970".to_owned();
        };
        let month = MONTHS[usize::from(u8::from(date.month())) - 1];
        if (0..SIX_MONTHS_SECS).contains(&age) || (-86_400..0).contains(&age) {
            format!(
                "{month} {:>2} {:02}:{:02}",
                date.day(),
                date.hour(),
                date.minute()
            )
        } else {
            format!("{month} {:>2} {:>5}", date.day(), date.year())
        }
    }

    pub(crate) fn from_cap(metadata: &cap_std::fs::Metadata) -> FileStat {
        let file_type = metadata.file_type();
        let kind = if file_type.is_symlink() {
            FileKind::Symlink
        } else if file_type.is_dir() {
            FileKind::Dir
        } else if file_type.is_file() {
            FileKind::File
        } else {
            FileKind::Other
        };
        FileStat {
            kind,
            size: metadata.size(),
            mode: metadata.mode() & 0o7777,
            mtime: system_time(metadata.mtime(), metadata.mtime_nsec()),
            atime: system_time(metadata.atime(), metadata.atime_nsec()),
            uid: metadata.uid(),
            gid: metadata.gid(),
            nlink: metadata.nlink(),
            unique_id: unique_id(metadata.dev(), metadata.ino()),
        }
    }

    pub(crate) fn from_std(metadata: std::fs::Metadata) -> FileStat {
        FileStat::from_cap(&cap_std::fs::Metadata::from_just_metadata(metadata))
    }

    /// The metadata of an open file (`fstat`).
    pub(crate) fn of_file(file: &std::fs::File) -> std::io::Result<FileStat> {
        file.metadata().map(FileStat::from_std)
    }
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's file name (one component, never `.` or `..`).
    pub name: String,
    /// Its metadata with `lstat` semantics: a symlink is reported as a symlink.
    pub stat: FileStat,
}

/// Seconds and nanoseconds since the epoch, as `stat` reports them, to a `SystemTime`.
/// Times before 1970 are valid on disk (negative seconds), so both directions are handled.
fn system_time(seconds: i64, nanoseconds: i64) -> SystemTime {
    let nanoseconds = u32::try_from(nanoseconds.clamp(0, 999_999_999)).unwrap_or(0);
    if seconds >= 0 {
        UNIX_EPOCH + Duration::new(seconds.unsigned_abs(), nanoseconds)
    } else {
        UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs()) + Duration::new(0, nanoseconds)
    }
}

/// Mixes device and inode so the identifier is stable for a file but reveals no raw numbers.
fn unique_id(device: u64, inode: u64) -> u64 {
    splitmix64(device ^ splitmix64(inode))
}

fn splitmix64(value: u64) -> u64 {
    let mut mixed = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    mixed ^ (mixed >> 31)
}

/// Seconds since the epoch, negative before it, saturating far out.
fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_before_and_after_the_epoch() {
        assert_eq!(system_time(0, 0), UNIX_EPOCH);
        assert_eq!(
            system_time(10, 5),
            UNIX_EPOCH + Duration::from_secs(10) + Duration::from_nanos(5)
        );
        assert_eq!(system_time(-10, 0), UNIX_EPOCH - Duration::from_secs(10));
    }

    #[test]
    fn unique_id_separates_device_and_inode() {
        assert_ne!(unique_id(1, 2), unique_id(2, 1));
        assert_eq!(unique_id(7, 9), unique_id(7, 9));
    }

    #[test]
    fn stat_of_a_real_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        let stat = FileStat::from_std(std::fs::metadata(&path).unwrap());
        assert_eq!(stat.kind, FileKind::File);
        assert_eq!(stat.size, 5);
        assert_eq!(stat.nlink, 1);
        assert!(stat.mode <= 0o7777);
    }
}

//! The metadata object storage does not keep, made up the same way for every listing, `HEAD`
//! and staged upload: modes 0o644 / 0o755, no owner, one link, the access time equal to the
//! modification time, and an id hashed from the key.

use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::time::{SystemTime, UNIX_EPOCH};

use object_store::ObjectMeta;

use crate::vfs::metadata::{FileKind, FileStat};

/// Permission bits shown for objects (there are none to keep).
const FILE_MODE: u32 = 0o644;
/// Permission bits shown for directories.
const DIR_MODE: u32 = 0o755;

/// Metadata made up for what object storage does not keep: owner, links, access time; the
/// id is a hash of the key.
pub(super) fn synthetic_stat(
    kind: FileKind,
    size: u64,
    mode: u32,
    mtime: SystemTime,
    key: &str,
) -> FileStat {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    FileStat {
        kind,
        size,
        mode,
        mtime,
        atime: mtime,
        uid: 0,
        gid: 0,
        nlink: 1,
        unique_id: hasher.finish(),
    }
}

/// A file's metadata from its object.
pub(super) fn file_stat(meta: &ObjectMeta) -> FileStat {
    synthetic_stat(
        FileKind::File,
        meta.size,
        FILE_MODE,
        SystemTime::from(meta.last_modified),
        meta.location.as_ref(),
    )
}

/// A directory's metadata: the marker's time when known, else the epoch (a prefix has none).
pub(super) fn dir_stat(key: &str, mtime: Option<SystemTime>) -> FileStat {
    synthetic_stat(FileKind::Dir, 0, DIR_MODE, mtime.unwrap_or(UNIX_EPOCH), key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_metadata_is_stable_per_key() {
        let time = UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let one = synthetic_stat(FileKind::File, 5, 0o600, time, "p/a");
        assert_eq!(
            (one.size, one.mode, one.nlink, one.atime),
            (5, 0o600, 1, time)
        );
        assert_eq!(
            one.unique_id,
            synthetic_stat(FileKind::File, 9, 0o644, time, "p/a").unique_id
        );
        assert_ne!(
            one.unique_id,
            synthetic_stat(FileKind::File, 5, 0o600, time, "p/b").unique_id
        );
        let dir = dir_stat("p/d", None);
        assert!(dir.is_dir());
        assert_eq!((dir.mode, dir.mtime), (DIR_MODE, UNIX_EPOCH));
        assert_eq!(dir_stat("p/d", Some(time)).mtime, time);
    }
}

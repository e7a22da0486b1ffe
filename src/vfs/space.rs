//! `SpaceInfo`: free space as a client should see it (SFTP `statvfs@openssh.com`, FTP `AVBL`).
//!
//! When the user has a quota, the quota is the truth (the disk may be far larger than what the
//! user may fill), capped by what the disk really has left (`quota::narrow`); otherwise the
//! file system answers.

/// Capacity and free space, in bytes and files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaceInfo {
    /// Total capacity in bytes.
    pub total_bytes: u64,
    /// Free bytes (for privileged users on the server; equal to `available_bytes` under a quota).
    pub free_bytes: u64,
    /// Bytes this user may still write.
    pub available_bytes: u64,
    /// Total number of files (inodes).
    pub total_files: u64,
    /// Files this user may still create.
    pub free_files: u64,
    /// The file system's preferred block size.
    pub block_size: u64,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::quota::{narrow, QuotaRegistry};
    use super::super::spec::Quota;
    use super::super::storage::{Backend, LocalStorage};
    use super::*;

    const DISK: SpaceInfo = SpaceInfo {
        total_bytes: 1_000_000,
        free_bytes: 600_000,
        available_bytes: 500_000,
        total_files: 1000,
        free_files: 900,
        block_size: 4096,
    };

    #[tokio::test]
    async fn a_quota_narrows_the_backends_capacity() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("f"), vec![0; 100]).unwrap();
        let dir =
            cap_std::fs::Dir::open_ambient_dir(temp.path(), cap_std::ambient_authority()).unwrap();
        let root = Backend::Local(LocalStorage::new(Arc::new(dir)));
        assert_eq!(narrow(DISK, None), DISK);
        let limits = Quota {
            max_bytes: Some(1000),
            max_files: Some(10),
        };
        let account = QuotaRegistry::new()
            .account("alice", limits, &root)
            .await
            .unwrap();
        let narrowed = narrow(DISK, Some(&account));
        assert_eq!(narrowed.total_bytes, 1000);
        assert_eq!((narrowed.free_bytes, narrowed.available_bytes), (900, 900));
        assert_eq!((narrowed.total_files, narrowed.free_files), (10, 9));
        assert_eq!(narrowed.block_size, 4096);
        // A disk with less left than the quota wins; one without inode counts does not.
        let small = SpaceInfo {
            available_bytes: 50,
            total_files: 0,
            free_files: 0,
            ..DISK
        };
        let narrowed = narrow(small, Some(&account));
        assert_eq!(narrowed.available_bytes, 50);
        assert_eq!(narrowed.free_files, 9);
    }
}

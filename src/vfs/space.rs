//! `SpaceInfo`: free space as a client should see it (SFTP `statvfs@openssh.com`, FTP `AVBL`).
//!
//! When the user has a quota, the quota is the truth (the disk may be far larger than what the
//! user may fill), capped by what the disk really has left; otherwise the file system answers.

use super::disk;
use super::error::VfsError;
use super::quota::QuotaAccount;
use cap_std::fs::Dir;

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

/// Space of the file system holding `dir`, narrowed by `quota` when given. Blocking.
pub(crate) fn space(dir: &Dir, quota: Option<&QuotaAccount>) -> Result<SpaceInfo, VfsError> {
    let vfs = disk::statvfs(dir)?;
    let fragment = if vfs.f_frsize > 0 {
        vfs.f_frsize
    } else {
        vfs.f_bsize
    };
    let mut info = SpaceInfo {
        total_bytes: vfs.f_blocks.saturating_mul(fragment),
        free_bytes: vfs.f_bfree.saturating_mul(fragment),
        available_bytes: vfs.f_bavail.saturating_mul(fragment),
        total_files: vfs.f_files,
        free_files: vfs.f_favail,
        block_size: vfs.f_bsize,
    };
    if let Some(quota) = quota {
        let limits = quota.limits();
        let (used_bytes, used_files) = quota.used();
        if let Some(max) = limits.max_bytes {
            let left = max.saturating_sub(used_bytes).min(info.available_bytes);
            info.total_bytes = max;
            info.free_bytes = left;
            info.available_bytes = left;
        }
        if let Some(max) = limits.max_files {
            info.total_files = max;
            // Some file systems (btrfs) report no inode counts at all; then only the quota speaks.
            let disk_free = if vfs.f_files > 0 {
                info.free_files
            } else {
                u64::MAX
            };
            info.free_files = max.saturating_sub(used_files).min(disk_free);
        }
    }
    Ok(info)
}

//! A small tmpfs mounted over a directory, for full-disk tests (needs root, as CI has).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs; unmounted (lazily, so a lingering descriptor cannot block it) on drop.
pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB over `path` (created if missing). Without the privilege to
    /// mount, fails under CI and returns `None` with a loud skip notice elsewhere.
    pub fn mount(path: &Path, mib: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0755"),
                "tmpfs",
            ])
            .arg(path)
            .status();
        let mounted = matches!(status, Ok(status) if status.success());
        if !super::needs(mounted, "cannot mount a tmpfs here (not root?)") {
            return None;
        }
        Some(Tmpfs {
            path: path.to_owned(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Names in `dir` that are ferryd's temporary upload files.
pub fn temp_uploads(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".ferryd-upload-"))
        .collect()
}

/// `len` bytes that no other test file repeats, written to `path`.
pub fn patterned_file(path: &Path, len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(path, &data).unwrap();
    data
}

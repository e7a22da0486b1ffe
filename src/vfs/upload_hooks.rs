//! The seam between uploads and the hooks that follow them: a session hands its `UserFs` an
//! [`UploadHooks`], and every upload asks it at open what it needs ([`UploadPlan`]), gives it
//! the finished file before publishing it (the gate) and tells it once it is published.
//!
//! The SHA-256 hooks receive is computed while the bytes stream to the storage
//! ([`StreamDigest`]); only when they did not arrive in one ascending run (a resumed upload,
//! SFTP writes that overtook one another on their way to the disk) is the finished local file
//! read once more to compute it.

use std::fmt;
use std::future::Future;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};

use super::path::VirtualPath;

/// What the hooks of one upload need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UploadPlan {
    /// A gate must pass the finished file before it is published.
    pub gate: bool,
    /// Someone is told once it is published.
    pub notify: bool,
}

impl UploadPlan {
    /// Nothing follows this upload.
    pub fn is_empty(self) -> bool {
        !self.gate && !self.notify
    }
}

/// An upload whose bytes are all in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedUpload {
    /// Its virtual path.
    pub path: VirtualPath,
    /// The file on the server's disk (for the gate the temporary file, afterwards the final
    /// one); `None` on object storage.
    pub file: Option<PathBuf>,
    /// Its size.
    pub size: u64,
    /// Its SHA-256, when it could be had without reading object storage back.
    pub sha256: Option<[u8; 32]>,
}

/// The future of a gate: `Err` carries the reason to give the client.
pub type GateFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// What follows a session's uploads (implemented by `hooks`).
pub trait UploadHooks: Send + Sync + fmt::Debug {
    /// Asked when an upload to `path` opens.
    fn plan(&self, path: &VirtualPath) -> UploadPlan;
    /// Runs the gates of a finished upload; an `Err` refuses it (it is discarded).
    fn gate<'a>(&'a self, upload: &'a FinishedUpload) -> GateFuture<'a>;
    /// The upload is published under its final name.
    fn published(&self, upload: FinishedUpload);
}

/// The hooks that follow one upload, and what they need.
#[derive(Debug)]
pub(crate) struct Follow {
    pub(crate) hooks: Arc<dyn UploadHooks>,
    plan: UploadPlan,
    pub(crate) digest: Mutex<Option<StreamDigest>>,
}

impl Follow {
    /// `None` when no hook follows an upload to the writer's path.
    pub(crate) fn new(
        hooks: Option<Arc<dyn UploadHooks>>,
        plan_for: impl FnOnce(&dyn UploadHooks) -> UploadPlan,
        start: u64,
    ) -> Option<Follow> {
        let hooks = hooks?;
        let plan = plan_for(hooks.as_ref());
        (!plan.is_empty()).then(|| Follow {
            hooks,
            plan,
            digest: Mutex::new(Some(StreamDigest::starting_at(start))),
        })
    }

    /// Whether a gate must pass the upload before it is published.
    pub(crate) fn gated(&self) -> bool {
        self.plan.gate
    }
}

/// A SHA-256 over the bytes of an upload, as long as they arrive in order from offset 0.
#[derive(Clone, Debug)]
pub(crate) struct StreamDigest {
    hasher: Sha256,
    next: u64,
    in_order: bool,
}

impl StreamDigest {
    /// A digest of an upload whose first write goes to `start` (non-zero: a resume, whose
    /// earlier bytes this digest never sees).
    pub(crate) fn starting_at(start: u64) -> StreamDigest {
        StreamDigest {
            hasher: Sha256::new(),
            next: 0,
            in_order: start == 0,
        }
    }

    /// Bytes on their way to the storage at `offset`.
    pub(crate) fn feed(&mut self, offset: u64, data: &[u8]) {
        if self.in_order && offset == self.next {
            self.hasher.update(data);
            self.next += data.len() as u64;
        } else {
            self.in_order = false;
        }
    }

    /// The digest of a file of `size` bytes, if every byte of it went through `feed` in order.
    pub(crate) fn finish(self, size: u64) -> Option<[u8; 32]> {
        (self.in_order && self.next == size).then(|| self.hasher.finalize().into())
    }
}

/// SHA-256 of a local file, read once (the fallback when the stream was out of order).
pub(crate) fn hash_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 256 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buffer[..read]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    #[test]
    fn bytes_in_order_give_the_file_digest() {
        let mut digest = StreamDigest::starting_at(0);
        digest.feed(0, b"hello ");
        digest.feed(6, b"world");
        assert_eq!(digest.finish(11), Some(sha(b"hello world")));
    }

    #[test]
    fn out_of_order_a_resume_or_a_short_count_give_none() {
        let mut digest = StreamDigest::starting_at(0);
        digest.feed(6, b"world");
        digest.feed(0, b"hello ");
        assert_eq!(digest.finish(11), None);
        let mut resumed = StreamDigest::starting_at(6);
        resumed.feed(6, b"world");
        assert_eq!(resumed.finish(11), None);
        let mut digest = StreamDigest::starting_at(0);
        digest.feed(0, b"hello");
        assert_eq!(digest.finish(11), None, "a file longer than what was fed");
    }

    #[test]
    fn a_file_is_hashed_when_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello world").unwrap();
        assert_eq!(hash_file(&path).unwrap(), sha(b"hello world"));
    }
}

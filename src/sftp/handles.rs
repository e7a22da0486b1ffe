//! `HandleTable`: one session's open files and directories behind opaque handle strings.
//!
//! Handles are a counter in decimal ASCII, never reused within a session, so a stale handle
//! from a closed file can never name a newer one. ASCII because some clients (russh-sftp among
//! them) store handles as strings and fail on bytes that are not UTF-8. The table is bounded by [`MAX_OPEN_HANDLES`]
//! (advertised through `limits@openssh.com`).
//!
//! Open objects are reference-counted: a request task clones what it needs out of the table and
//! works without holding the table, so concurrent READs and WRITEs on one handle do not wait
//! for each other. Dropping the last reference to an uncommitted writer discards its upload.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;

use super::errors::Failure;
use super::proto::{FileAttributes, StatusCode};
use crate::vfs::{DirLister, FileReader, SharedFileWriter, VirtualPath};

/// Most handles one session may hold open.
pub(crate) const MAX_OPEN_HANDLES: usize = 256;

/// The table key behind a handle string.
pub(crate) type HandleId = u64;

/// An open file or directory.
#[derive(Clone, Debug)]
pub(crate) enum Handle {
    /// From OPEN.
    File(Arc<OpenFile>),
    /// From OPENDIR.
    Dir(Arc<OpenDir>),
}

/// The handles a request names, looked up by the session's reader before the request is
/// queued, so a handler never searches the table itself.
#[derive(Debug)]
pub(crate) enum Resolved {
    /// The request names no handle.
    Path,
    /// One handle.
    One(Handle),
    /// Two handles (copy-data: read, then write).
    Two(Handle, Handle),
}

/// An open file: a reader, a writer, or both (READ|WRITE).
#[derive(Debug)]
pub(crate) struct OpenFile {
    /// The path it was opened as.
    pub path: VirtualPath,
    /// Present when opened with READ.
    pub reader: Option<FileReader>,
    /// Present when opened with WRITE or APPEND.
    pub writer: Option<SharedFileWriter>,
    /// When OPEN succeeded, for audit durations.
    pub opened: Instant,
    /// Bytes served by READ, for the audit event.
    pub bytes_read: Arc<AtomicU64>,
    /// Bytes accepted by WRITE, for the audit event.
    pub bytes_written: Arc<AtomicU64>,
    /// Times and permissions set through FSETSTAT (or the mode sent with OPEN) on an upload
    /// that creates its file: given to the new file as CLOSE commits it.
    pub deferred: Mutex<Option<FileAttributes>>,
}

impl OpenFile {
    /// A freshly opened file.
    pub fn new(
        path: VirtualPath,
        reader: Option<FileReader>,
        writer: Option<SharedFileWriter>,
    ) -> OpenFile {
        OpenFile {
            path,
            reader,
            writer,
            opened: Instant::now(),
            bytes_read: Arc::new(AtomicU64::new(0)),
            bytes_written: Arc::new(AtomicU64::new(0)),
            deferred: Mutex::new(None),
        }
    }

    /// Adds to the READ byte count.
    pub fn count_read(&self, bytes: usize) {
        self.bytes_read.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Adds to the WRITE byte count.
    pub fn count_written(&self, bytes: usize) {
        self.bytes_written
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Merges attributes to apply after commit (later values win).
    pub fn defer(&self, attrs: &FileAttributes) {
        let mut deferred = self.deferred.lock().unwrap_or_else(PoisonError::into_inner);
        let merged = deferred.get_or_insert_with(FileAttributes::default);
        if attrs.permissions.is_some() {
            merged.permissions = attrs.permissions;
        }
        if attrs.atime_mtime.is_some() {
            merged.atime_mtime = attrs.atime_mtime;
        }
    }

    /// Takes the deferred attributes.
    pub fn take_deferred(&self) -> Option<FileAttributes> {
        self.deferred
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// The reader, or the status for a handle not opened for reading.
    pub fn reader(&self) -> Result<&FileReader, Failure> {
        self.reader.as_ref().ok_or_else(|| {
            Failure::new(StatusCode::PermissionDenied, "file not opened for reading")
        })
    }

    /// The writer, or the status for a handle not opened for writing.
    pub fn writer(&self) -> Result<&SharedFileWriter, Failure> {
        self.writer.as_ref().ok_or_else(|| {
            Failure::new(StatusCode::PermissionDenied, "file not opened for writing")
        })
    }
}

/// An open directory listing.
#[derive(Debug)]
pub(crate) struct OpenDir {
    /// The directory.
    pub path: VirtualPath,
    /// READDIR runs one batch at a time; the lock is never contended (see `session`).
    pub lister: tokio::sync::Mutex<DirLister>,
}

/// The open handles of one session.
#[derive(Debug, Default)]
pub(crate) struct HandleTable {
    next: HandleId,
    open: HashMap<HandleId, Handle>,
}

impl HandleTable {
    /// Adds `handle` and returns its wire form.
    pub fn insert(&mut self, handle: Handle) -> Result<Bytes, Failure> {
        if self.open.len() >= MAX_OPEN_HANDLES {
            return Err(Failure::new(StatusCode::Failure, "too many open handles"));
        }
        self.next += 1;
        self.open.insert(self.next, handle);
        Ok(Bytes::from(self.next.to_string()))
    }

    /// The handle named by `raw`.
    pub fn get(&self, raw: &[u8]) -> Option<Handle> {
        self.open.get(&parse_id(raw)?).cloned()
    }

    /// Removes and returns the handle named by `raw`.
    pub fn remove(&mut self, raw: &[u8]) -> Option<Handle> {
        self.open.remove(&parse_id(raw)?)
    }

    /// True while any file is open: a transfer the client has not finished.
    pub fn has_open_files(&self) -> bool {
        self.open
            .values()
            .any(|handle| matches!(handle, Handle::File(_)))
    }

    /// Removes every handle (session end).
    pub fn drain(&mut self) -> Vec<Handle> {
        self.open.drain().map(|(_, handle)| handle).collect()
    }
}

/// The table key of a handle string; `None` for anything we never issued.
pub(crate) fn parse_id(raw: &[u8]) -> Option<HandleId> {
    if raw.is_empty() || raw.len() > 20 || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(raw).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_handle() -> Handle {
        // A file handle needs a real file; the table does not care which kind it stores.
        Handle::File(Arc::new(OpenFile::new(VirtualPath::root(), None, None)))
    }

    #[test]
    fn handles_are_unique_bounded_and_removable() {
        let mut table = HandleTable::default();
        let first = table.insert(dir_handle()).unwrap();
        let second = table.insert(dir_handle()).unwrap();
        assert_ne!(first, second);
        assert!(table.get(&first).is_some());
        assert!(table.remove(&first).is_some());
        assert!(table.get(&first).is_none());
        assert!(table.get(b"garbage").is_none());
        for _ in 1..MAX_OPEN_HANDLES {
            table.insert(dir_handle()).unwrap();
        }
        assert!(table.insert(dir_handle()).is_err());
        assert_eq!(table.drain().len(), MAX_OPEN_HANDLES);
    }
}

//! Uploads that failed over an existing file, so that a "resume" of them is refused.
//!
//! A client whose upload fails part-way often resumes it: lftp retries by asking `SIZE`, then
//! sends `REST <size>` + `STOR` and only the rest of the file; curl `-C -` and OpenSSH
//! `reput` do the same. That assumes the server kept the part it received. ferryd never keeps
//! part of an atomic upload, so the file under that name is still the *old* file, and a resume
//! would write the tail of the new file into the old one: a corrupt file, reported as a
//! success. (Seen with lftp after a transient `452`.)
//!
//! So when an atomic upload that replaces an existing file is discarded (whether or not data
//! arrived: lftp resumes from whatever `SIZE` says, not from what it sent), the old file's size and modification time are recorded per user and path. A resuming
//! write (`REST` + `STOR`, `APPE`, an SFTP open without `TRUNC`) of that path is refused while
//! the file is still exactly that old file; any change of the file, a committed upload of it,
//! or [`RECORD_LIFETIME`] ends the record. The record is bounded ([`MAX_RECORDS`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::error::{VfsError, VfsErrorKind};
use super::metadata::FileStat;
use super::path::VirtualPath;

/// How long a discarded upload blocks a resume of its file.
pub const RECORD_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Most records kept (all users); the oldest goes first.
pub const MAX_RECORDS: usize = 4096;

/// The records of all users; shared by every session (a client often resumes on a new one).
#[derive(Debug, Default)]
pub(crate) struct DiscardedUploads {
    records: Mutex<HashMap<(String, String), Record>>,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    size: u64,
    mtime: SystemTime,
    at: Instant,
}

/// What an atomic upload that replaces a file notes if it is discarded.
#[derive(Debug)]
pub(crate) struct DiscardNote {
    uploads: Arc<DiscardedUploads>,
    user: String,
    path: VirtualPath,
    size: u64,
    mtime: SystemTime,
}

impl DiscardedUploads {
    /// Refuses a resuming write of `path` while it is the file an upload failed to replace.
    pub(crate) fn check_resume(
        &self,
        user: &str,
        path: &VirtualPath,
        current: &FileStat,
    ) -> Result<(), VfsError> {
        let key = (user.to_owned(), path.as_str().to_owned());
        let mut records = self.lock();
        let Some(record) = records.get(&key).copied() else {
            return Ok(());
        };
        if record.at.elapsed() > RECORD_LIFETIME
            || record.size != current.size
            || record.mtime != current.mtime
        {
            records.remove(&key);
            return Ok(());
        }
        tracing::warn!(
            %path,
            size = current.size,
            "resume refused: the last upload of this file failed and was discarded"
        );
        Err(VfsError::with_detail(
            VfsErrorKind::Unsupported,
            "nothing to resume: the last upload of this file failed and was discarded, \
             upload the whole file",
        )
        .at(path))
    }

    /// A note to hand to an atomic upload that replaces `existing` at `path`.
    pub(crate) fn note(
        self: &Arc<Self>,
        user: &str,
        path: &VirtualPath,
        existing: &FileStat,
    ) -> DiscardNote {
        DiscardNote {
            uploads: self.clone(),
            user: user.to_owned(),
            path: path.clone(),
            size: existing.size,
            mtime: existing.mtime,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Record>> {
        // Plain values: consistent even if a holder panicked.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DiscardNote {
    /// The upload was discarded: block resumes of the old file.
    pub(crate) fn discarded(&self) {
        let mut records = self.uploads.lock();
        records.retain(|_, record| record.at.elapsed() <= RECORD_LIFETIME);
        if records.len() >= MAX_RECORDS {
            let oldest = records
                .iter()
                .min_by_key(|(_, record)| record.at)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                records.remove(&oldest);
            }
        }
        let key = (self.user.clone(), self.path.as_str().to_owned());
        let record = Record {
            size: self.size,
            mtime: self.mtime,
            at: Instant::now(),
        };
        records.insert(key, record);
    }

    /// The upload was committed: the old file is gone, and so is any earlier record.
    pub(crate) fn committed(&self) {
        let key = (self.user.clone(), self.path.as_str().to_owned());
        self.uploads.lock().remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::metadata::FileKind;

    fn stat(size: u64, mtime_secs: u64) -> FileStat {
        FileStat {
            kind: FileKind::File,
            size,
            mode: 0o644,
            mtime: SystemTime::UNIX_EPOCH + Duration::from_secs(mtime_secs),
            atime: SystemTime::UNIX_EPOCH,
            uid: 0,
            gid: 0,
            nlink: 1,
            unique_id: 1,
        }
    }

    fn path(text: &str) -> VirtualPath {
        VirtualPath::parse_absolute(text).unwrap()
    }

    #[test]
    fn a_resume_of_the_old_file_is_refused_until_it_changes() {
        let uploads = Arc::new(DiscardedUploads::default());
        let old = stat(100, 1000);
        uploads.note("alice", &path("/f"), &old).discarded();
        let refused = uploads
            .check_resume("alice", &path("/f"), &old)
            .unwrap_err();
        assert_eq!(refused.kind, VfsErrorKind::Unsupported);
        assert!(refused.to_string().contains("nothing to resume"));
        // Other users and paths are not affected.
        uploads.check_resume("bob", &path("/f"), &old).unwrap();
        uploads.check_resume("alice", &path("/g"), &old).unwrap();
        // The file changed since: the record is over.
        uploads
            .check_resume("alice", &path("/f"), &stat(100, 1001))
            .unwrap();
        uploads.check_resume("alice", &path("/f"), &old).unwrap();
    }

    #[test]
    fn a_commit_ends_the_record_and_the_records_are_bounded() {
        let uploads = Arc::new(DiscardedUploads::default());
        let old = stat(5, 5);
        let note = uploads.note("alice", &path("/f"), &old);
        note.discarded();
        note.committed();
        uploads.check_resume("alice", &path("/f"), &old).unwrap();
        for index in 0..MAX_RECORDS + 10 {
            let file = path(&format!("/f{index}"));
            uploads.note("alice", &file, &old).discarded();
        }
        assert_eq!(uploads.lock().len(), MAX_RECORDS);
        // The newest are kept.
        let newest = path(&format!("/f{}", MAX_RECORDS + 9));
        assert!(uploads.check_resume("alice", &newest, &old).is_err());
    }
}

//! `LocalReader`: a local file open for downloads.
//!
//! Reads are `pread`s straight into the caller's buffer. Like every call of the local backend
//! they may wait on the disk, so the VFS runs them on tokio's blocking pool; but handing a
//! read to that pool and back costs more than the read itself when the bytes are already in
//! memory (a third of an SFTP download's CPU went to it), so [`RangeReader::read_at_now`]
//! first takes what can be read without waiting: all of a file on tmpfs or ramfs, and
//! elsewhere what the page cache holds (`preadv2` with `RWF_NOWAIT`).

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use rustix::io::{Errno, ReadWriteFlags};

use super::contract::{RangeReader, ReadNow};
use crate::vfs::metadata::FileStat;

/// `statfs` types of file systems whose files live in memory.
const TMPFS_MAGIC: u64 = 0x0102_1994;
const RAMFS_MAGIC: u64 = 0x8584_58f6;

/// A local file open for reading.
#[derive(Debug)]
pub(crate) struct LocalReader {
    file: File,
    /// The file lives in memory: a read never waits on a device.
    in_memory: bool,
    /// The file system refused `RWF_NOWAIT` once; it will again.
    no_nowait: AtomicBool,
}

impl LocalReader {
    pub(crate) fn new(file: File) -> LocalReader {
        let in_memory = rustix::fs::fstatfs(&file).is_ok_and(|stat| {
            // The field's integer type differs between architectures.
            #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
            let kind = stat.f_type as u64;
            kind == TMPFS_MAGIC || kind == RAMFS_MAGIC
        });
        LocalReader {
            file,
            in_memory,
            no_nowait: AtomicBool::new(false),
        }
    }
}

impl RangeReader for LocalReader {
    async fn read_at(&self, offset: u64, length: usize) -> io::Result<Bytes> {
        let mut buffer = Vec::with_capacity(length);
        read_full(&self.file, offset, length, &mut buffer)?;
        Ok(Bytes::from(buffer))
    }

    async fn read_at_into(
        &self,
        offset: u64,
        length: usize,
        out: &mut Vec<u8>,
    ) -> io::Result<usize> {
        read_full(&self.file, offset, length, out)
    }

    fn read_at_now(
        &self,
        offset: u64,
        length: usize,
        out: &mut Vec<u8>,
    ) -> Option<io::Result<ReadNow>> {
        // To `preadv2`, `u64::MAX` means the file's own cursor, not an offset: refused as
        // `pread` refuses every offset past `i64::MAX`.
        if i64::try_from(offset).is_err() {
            return Some(Err(past_any_file()));
        }
        if self.in_memory {
            let appended = read_full(&self.file, offset, length, out);
            return Some(appended.map(|appended| ReadNow {
                appended,
                complete: true,
            }));
        }
        if self.no_nowait.load(Ordering::Relaxed) || length == 0 {
            return None;
        }
        let start = out.len();
        // `preadv2` wants initialised memory; zeroing it costs less than the trip through
        // the blocking pool it saves.
        out.resize(start.saturating_add(length), 0);
        let read = out.get_mut(start..).map(|room| {
            let mut slices = [io::IoSliceMut::new(room)];
            rustix::io::preadv2(&self.file, &mut slices, offset, ReadWriteFlags::NOWAIT)
        });
        match read {
            Some(Ok(read)) => {
                out.truncate(start.saturating_add(read));
                // Nothing read without an error is the end of the file (a page not cached
                // is `EAGAIN`); a short read may be a page cached and the next one not.
                Some(Ok(ReadNow {
                    appended: read,
                    complete: read == 0 || read == length,
                }))
            }
            Some(Err(Errno::OPNOTSUPP)) => {
                out.truncate(start);
                self.no_nowait.store(true, Ordering::Relaxed);
                None
            }
            // Not in the page cache (`EAGAIN`), interrupted, or an error the blocking read
            // will meet again and report.
            Some(Err(_)) | None => {
                out.truncate(start);
                None
            }
        }
    }

    async fn stat(&self) -> io::Result<FileStat> {
        FileStat::of_file(&self.file)
    }
}

/// `pread`s up to `length` bytes into `out`'s spare capacity, until `length` or end of file,
/// and returns how many were appended. The capacity is never zero-filled first: that
/// `memset` cost about as much as copying every byte downloaded. Regular files rarely return
/// short reads, but a short read must not be mistaken for the end.
fn read_full(file: &File, offset: u64, length: usize, out: &mut Vec<u8>) -> io::Result<usize> {
    let start = out.len();
    if i64::try_from(offset).is_err() {
        return Err(past_any_file());
    }
    let end = start.saturating_add(length);
    out.reserve(length);
    while out.len() < end {
        let position = offset.saturating_add((out.len() - start) as u64);
        // rustix grows `out` by what the kernel wrote; a capacity larger than asked for
        // may take a little more, cut off below.
        match rustix::io::pread(file, rustix::buffer::spare_capacity(out), position) {
            Ok(0) => break,
            Ok(_) => {}
            Err(Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
    out.truncate(end);
    Ok(out.len() - start)
}

/// What the kernel answers for an offset past `i64::MAX` (`EINVAL`), which clients get as
/// OpenSSH's `sftp-server` reports it.
fn past_any_file() -> io::Error {
    io::Error::from(Errno::INVAL)
}

#[cfg(test)]
mod tests {
    use super::super::wait_io;
    use super::*;

    const DATA: &[u8] = b"0123456789";

    /// A file with `DATA` in `dir`, read once so its pages are cached.
    fn file_in(dir: &str) -> Option<LocalReader> {
        let mut file = tempfile::tempfile_in(dir).ok()?;
        std::io::Write::write_all(&mut file, DATA).unwrap();
        let reader = LocalReader::new(file);
        assert_eq!(wait_io(reader.read_at(0, 64)).unwrap(), DATA);
        Some(reader)
    }

    #[test]
    fn reads_append_after_what_the_buffer_holds_and_stop_at_the_length_or_the_end() {
        let reader = file_in(".").unwrap();
        let mut out = b"head".to_vec();
        assert_eq!(wait_io(reader.read_at_into(3, 4, &mut out)).unwrap(), 4);
        assert_eq!(out, b"head3456");
        // A buffer with more room than asked for still gets only what was asked for.
        let mut roomy = Vec::with_capacity(1024);
        assert_eq!(wait_io(reader.read_at_into(0, 3, &mut roomy)).unwrap(), 3);
        assert_eq!(roomy, b"012");
        assert_eq!(wait_io(reader.read_at_into(8, 100, &mut out)).unwrap(), 2);
        assert_eq!(out, b"head345689");
        assert_eq!(wait_io(reader.read_at_into(10, 4, &mut out)).unwrap(), 0);
        let error = wait_io(reader.read_at_into(u64::MAX, 4, &mut out)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(out, b"head345689");
    }

    #[test]
    fn a_file_in_memory_is_read_at_once_to_the_end() {
        // tmpfs refuses `RWF_NOWAIT`; it is recognised by its type instead.
        let Some(reader) = file_in("/dev/shm") else {
            eprintln!("no /dev/shm here; nothing to test");
            return;
        };
        assert!(reader.in_memory);
        let mut out = b"h".to_vec();
        let now = reader.read_at_now(2, 100, &mut out).unwrap().unwrap();
        assert_eq!(
            now,
            ReadNow {
                appended: 8,
                complete: true
            }
        );
        assert_eq!(out, b"h23456789");
        let at_end = reader.read_at_now(10, 5, &mut out).unwrap().unwrap();
        assert_eq!(at_end.appended, 0);
        assert!(at_end.complete);
    }

    #[test]
    fn a_file_on_disk_gives_what_its_cache_holds_or_leaves_the_buffer_as_it_was() {
        let reader = file_in(".").unwrap();
        let mut out = b"h".to_vec();
        match reader.read_at_now(2, 4, &mut out) {
            // The pages were just read, so a file system with `RWF_NOWAIT` serves them.
            Some(now) => {
                let now = now.unwrap();
                assert_eq!(out[..1 + now.appended], b"h2345"[..1 + now.appended]);
                assert_eq!(out.len(), 1 + now.appended);
                assert!(now.appended == 4 || !now.complete);
            }
            // Not offered (overlayfs, older kernels): nothing appended.
            None => assert_eq!(out, b"h"),
        }
        // Past the end: nothing, and complete, or not offered.
        let mut empty = Vec::new();
        if let Some(now) = reader.read_at_now(10, 4, &mut empty) {
            assert_eq!(now.unwrap().appended, 0);
        }
        assert!(empty.is_empty());
        // `u64::MAX` is `preadv2`'s "from the file's cursor": refused, not read from 0.
        let far = reader
            .read_at_now(u64::MAX, 4, &mut empty)
            .unwrap()
            .unwrap_err();
        assert_eq!(far.kind(), io::ErrorKind::InvalidInput);
        assert!(empty.is_empty());
    }
}

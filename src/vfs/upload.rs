//! Uploads: `FileWriter` (one owner, sequential) and `SharedFileWriter` (many tasks, positional).
//!
//! A new file or a full overwrite (`WriteMode::Replace`, `WriteMode::CreateNew`) is written to a
//! hidden temporary name in the target's directory and renamed into place only by `commit()`, so
//! nobody ever sees a half-written file under the final name and an aborted overwrite leaves the
//! old content intact. Resumes and random writes (`Append`, `At`, `InPlace`) work on the file
//! itself. Dropping a writer without committing is an abort: the temporary file is removed
//! and its quota returned (on a local disk synchronously, best effort; on a backend that waits,
//! the quota at once and the backend's discard as a task on the runtime: `upload/finish.rs`).
//!
//! Where the backend's calls run follows the backend (`Capabilities::blocking`): a local file's
//! in one blocking-pool hand-off per block or per commit, as always; object storage's awaited
//! on the runtime. A backend without random writes gets the reorder window of `upload_order`
//! between the writer and its staged upload.
//!
//! Sequential writes are buffered into 256 KiB blocks and written behind: one block is on its
//! way to the disk while the next one fills, and an error surfaces on the following call.
//!
//! The first failure of a write (quota, full disk, any I/O error) poisons the writer: every later
//! write, and `commit`, fails with the same kind of error, and `commit` discards the upload. A
//! client that carries on after one failed request (OpenSSH `sftp` fails only the WRITE that hit
//! the error and then sends CLOSE) must not get a file with a hole or a missing tail committed
//! under the final name, or an existing file replaced by it.
//! Quota is reserved when data is accepted, before any byte reaches the disk, and reconciled
//! with the real file size at commit or drop. The quota counts apparent sizes (a write at
//! offset N reserves up to N + length even if the hole costs no disk), so a sparse write far
//! beyond the end is refused by a quota rather than slipping through as "free". A user's
//! upload rate limit is awaited per write call, before the data is accepted.
//!
//! Positional writes into a temporary file (SFTP uploads of new or replaced files, 32 KiB each
//! from OpenSSH) are gathered the same way: a write that continues the gathered block is
//! accepted without touching the disk, and the block goes out when it is full, when a write does
//! not continue it, or at `commit`, `stat`, `set_len` and `sync`. Nobody can see a temporary
//! file, so gathering changes nothing visible; a failed write of a gathered block is returned
//! to the call that wrote it and makes `commit` fail (the upload is discarded, never half
//! committed). This saves a hand-off to the blocking pool per write: an 8 KiB file is written,
//! renamed and given its mode in one.
//!
//! SFTP writes arrive concurrently at arbitrary offsets: convert the writer with
//! [`FileWriter::into_shared`] and clone the [`SharedFileWriter`] into each request task.
//! `commit` on a shared writer waits for writes in flight, then closes it for every clone; the
//! temporary file of an uncommitted writer goes when the last clone is dropped. (Holding an
//! `Arc<FileWriter>` and committing through `Arc::try_unwrap` also works, but then every clone
//! must be gone first.)

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use tokio::sync::RwLock;
use tokio::task::JoinHandle;
use tokio_util::sync::DropGuard;

use super::bandwidth::{throttle, TokenBucket};
use super::discarded::DiscardNote;
use super::error::{VfsError, VfsErrorKind};
use super::metadata::FileStat;
use super::modes::{created_mode, CommitAttributes, NEW_FILE_MODE};
use super::path::VirtualPath;
use super::quota::QuotaAccount;
use super::reader::joined;
use super::storage::{drive, wait_io, Backend, StageMode, Staged, StagedFile as _, Storage as _};
use super::upload_hooks::{Follow, UploadHooks};
use super::upload_order::Sequencer;
use super::upload_quota;
pub use super::write_mode::WriteMode;

mod finish;
mod follow;
mod gather;

/// Bytes gathered before a sequential write goes to the disk.
pub const WRITE_BLOCK_BYTES: usize = 256 * 1024;
/// Positional writes below this size are gathered (temporary files only); larger ones go to the
/// disk as they come.
const GATHER_BELOW_BYTES: usize = 64 * 1024;

/// Where and how a writer is opened; built by `UserFs` after path and permission checks.
pub(crate) struct WriteTarget<'a> {
    /// The mount's storage.
    pub(crate) storage: &'a Backend,
    /// The target's directory, relative to the mount's root.
    pub(crate) parent: PathBuf,
    /// The target's file name in `parent`.
    pub(crate) name: String,
    /// The canonical virtual path, for errors.
    pub(crate) path: VirtualPath,
    /// The target's metadata when it exists (always a regular file).
    pub(crate) existing: Option<FileStat>,
    /// The user's quota when the target lies in the quota-counted root.
    pub(crate) quota: Option<QuotaAccount>,
    /// The user's upload bucket; `None` when unlimited.
    pub(crate) throttle: Option<Arc<TokenBucket>>,
    /// For an atomic upload replacing a file: blocks resumes of the old one if discarded.
    pub(crate) discard_note: Option<DiscardNote>,
    /// The user's umask, for a new file and for the mode a client sends with the upload.
    pub(crate) umask: u32,
    /// What follows the session's uploads (hooks); asked what this one needs.
    pub(crate) hooks: Option<Arc<dyn UploadHooks>>,
}

/// A file being written by one owner. See the module docs.
#[derive(Debug)]
pub struct FileWriter {
    core: Arc<Core>,
    buffer: BytesMut,
    position: u64,
    in_flight: Option<JoinHandle<Result<(), VfsError>>>,
}

/// A file being written by several tasks at explicit offsets; cheap to clone.
#[derive(Clone, Debug)]
pub struct SharedFileWriter {
    core: Arc<Core>,
}

#[derive(Debug)]
struct Core {
    /// The backend's upload (for atomic modes a temporary file, published at commit); shared
    /// so that a writer dropped on a non-blocking backend can hand its discard to a task.
    staged: Arc<Staged>,
    /// The backend's futures complete at once (`Capabilities::blocking`): its calls go to the
    /// blocking pool. Otherwise they are awaited on the runtime.
    blocking: bool,
    /// For a backend without random writes: the reorder window (`upload_order`).
    order: Option<tokio::sync::Mutex<Sequencer>>,
    /// Written under a name nobody sees until commit (`WriteMode::is_atomic`).
    atomic: bool,
    exclusive: bool,
    append: bool,
    path: VirtualPath,
    quota: Option<QuotaAccount>,
    throttle: Option<Arc<TokenBucket>>,
    accounting: Mutex<Accounting>,
    /// Positional writes hold it shared; commit and abort take it exclusively, so they wait
    /// for writes in flight and no write starts after them.
    gate: RwLock<()>,
    /// Set by the blocking half of commit or discard once the file is in its final state, so
    /// a commit whose future was cancelled mid-way is neither repeated nor undone by `Drop`.
    settled: AtomicBool,
    /// Positional writes gathered but not yet written (temporary files only).
    gathered: Mutex<Option<(u64, BytesMut)>>,
    /// The first write failure (see the module docs): later writes and the commit fail too.
    poisoned: Mutex<Option<VfsErrorKind>>,
    /// For an atomic upload replacing a file: a discard notes the old file (`discarded.rs`).
    discard_note: Option<DiscardNote>,
    /// The user's umask, applied to the mode given at commit.
    umask: u32,
    /// Written in place to a file this writer created (so attributes at commit apply to it).
    created_in_place: bool,
    /// The hooks that follow this upload, if any (`upload/follow.rs`).
    follow: Option<Follow>,
}

#[derive(Debug)]
struct Accounting {
    /// Bytes of this file currently counted in the quota.
    tracked: u64,
    /// Bytes the quota may be exceeded by until commit (the file being replaced).
    credit: u64,
    /// Whether this writer counted a file that an abort must give back (the temporary file).
    counts_file: bool,
}

impl FileWriter {
    /// Opens a writer (`UserFs` runs it off the runtime for a blocking backend).
    pub(crate) async fn open(
        target: WriteTarget<'_>,
        mode: WriteMode,
    ) -> Result<FileWriter, VfsError> {
        let WriteTarget {
            storage,
            parent,
            name,
            path,
            existing,
            quota,
            throttle,
            discard_note,
            umask,
            hooks,
        } = target;
        let replaces = mode == WriteMode::Replace && existing.is_some();
        let creates = mode.is_atomic() || existing.is_none();
        if let Some(quota) = &quota {
            let credit = match (&existing, replaces) {
                (Some(old), true) => old.size,
                _ => 0,
            };
            upload_quota::admit(quota, &path, creates, replaces, credit)?;
        }
        let give_back = |error: VfsError| {
            if let (Some(quota), true) = (&quota, creates) {
                quota.release_files(1);
            }
            error.or_path(&path)
        };
        let first_offset = match mode {
            WriteMode::At(offset) => offset,
            WriteMode::Append => existing.as_ref().map_or(0, |old| old.size),
            _ => 0,
        };
        let follow = Follow::new(hooks, |hooks| hooks.plan(&path), first_offset);
        if follow.as_ref().is_some_and(Follow::gated) && !mode.is_atomic() {
            let refusal =
                "uploads here are checked before they appear, so they cannot resume or append";
            return Err(give_back(VfsError::with_detail(
                VfsErrorKind::Unsupported,
                refusal,
            )));
        }
        let append = mode == WriteMode::Append;
        let new_file_mode = created_mode(NEW_FILE_MODE, umask);
        let atomic = mode.is_atomic();
        let stage = match (atomic, existing.is_some()) {
            (true, _) => StageMode::Temporary {
                mode: new_file_mode,
            },
            (false, true) => StageMode::InPlace { append },
            (false, false) => StageMode::CreateInPlace {
                append,
                mode: new_file_mode,
            },
        };
        let (staged, stat) = storage
            .begin_upload(&parent, &name, stage)
            .await
            .map_err(give_back)?;
        if let Some(old) = existing.as_ref().filter(|_| atomic && replaces) {
            // Keep the replaced file's permission bits, as an in-place overwrite would.
            let _ = staged.set_mode(old.mode & 0o777).await;
        }
        let created_in_place = !atomic && existing.is_none();

        let position = match mode {
            WriteMode::Append => stat.size,
            WriteMode::At(offset) => offset,
            _ => 0,
        };
        let capabilities = storage.capabilities();
        let order = (!capabilities.random_writes && !append)
            .then(|| tokio::sync::Mutex::new(Sequencer::new(position)));
        let accounting = Accounting {
            tracked: stat.size,
            credit: if replaces {
                existing.as_ref().map_or(0, |old| old.size)
            } else {
                0
            },
            counts_file: atomic,
        };
        let core = Core {
            staged: Arc::new(staged),
            blocking: capabilities.blocking,
            order,
            atomic,
            exclusive: mode == WriteMode::CreateNew,
            append,
            path,
            quota,
            throttle,
            accounting: Mutex::new(accounting),
            gate: RwLock::new(()),
            settled: AtomicBool::new(false),
            gathered: Mutex::new(None),
            poisoned: Mutex::new(None),
            discard_note,
            umask,
            created_in_place,
            follow,
        };
        Ok(FileWriter {
            core: Arc::new(core),
            buffer: BytesMut::with_capacity(WRITE_BLOCK_BYTES),
            position,
            in_flight: None,
        })
    }

    /// Appends `data` at the sequential position. Data is buffered and written behind; an
    /// error from an earlier block is returned by a later call (at the latest by `commit`).
    pub async fn write_all(&mut self, data: Bytes) -> Result<(), VfsError> {
        if data.is_empty() {
            return Ok(());
        }
        self.core.ensure_open()?;
        self.core.ensure_healthy()?;
        self.core.reserve(self.position, data.len() as u64)?;
        // Paced before buffering, so a throttled client's data waits here and TCP pushes
        // back on the sender instead of the buffer growing.
        throttle(self.core.throttle.as_ref(), data.len()).await;
        let start = self.position;
        self.position += data.len() as u64;
        if self.buffer.is_empty() && data.len() >= WRITE_BLOCK_BYTES {
            return self.submit(start, data).await;
        }
        self.buffer.extend_from_slice(&data);
        if self.buffer.len() >= WRITE_BLOCK_BYTES {
            let block = self.take_buffer();
            let block_start = self.position - block.len() as u64;
            self.submit(block_start, block).await?;
        }
        Ok(())
    }

    /// Writes out buffered data and waits until every sequential write has reached the file.
    pub async fn flush(&mut self) -> Result<(), VfsError> {
        if !self.buffer.is_empty() {
            let block = self.take_buffer();
            let block_start = self.position - block.len() as u64;
            self.submit(block_start, block).await?;
        }
        self.wait_in_flight().await
    }

    /// Writes `data` at `offset` without moving the sequential position; do not interleave
    /// with `write_all` without a `flush` in between, since their order is not defined.
    pub async fn write_at(&self, offset: u64, data: Bytes) -> Result<(), VfsError> {
        self.core.clone().write_at(offset, data, None).await
    }

    /// Truncates or extends the file. Data still buffered by `write_all` is written later, so
    /// `flush` first when mixing the two.
    pub async fn set_len(&self, length: u64) -> Result<(), VfsError> {
        self.core.clone().set_len(length).await
    }

    /// Asks the OS to make what has reached the file durable (`fdatasync`); `flush` first to
    /// include data buffered by `write_all`.
    pub async fn sync(&self) -> Result<(), VfsError> {
        self.core.clone().sync().await
    }

    /// Metadata of the file being written (buffered data not yet included; `flush` first).
    pub async fn stat(&self) -> Result<FileStat, VfsError> {
        self.core.clone().stat().await
    }

    /// The sequential position: where the next `write_all` lands.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Whether the backend's calls go to the blocking pool.
    #[cfg(test)]
    pub(crate) fn is_blocking(&self) -> bool {
        self.core.blocking
    }

    /// The virtual path the file will have (its canonical path).
    pub fn path(&self) -> &VirtualPath {
        &self.core.path
    }

    /// Finishes the upload: writes buffered data, then for atomic modes renames the temporary
    /// file into place (`CreateNew` fails with `AlreadyExists` if the name appeared meanwhile).
    /// Returns the final size. On error the upload is discarded as by `abort`.
    pub async fn commit(mut self) -> Result<u64, VfsError> {
        if let Err(error) = self.wait_in_flight().await {
            self.core.abort().await;
            return Err(error);
        }
        // The last block is written by the commit's own blocking call: for a small file, one
        // hand-off to the blocking pool instead of two.
        if !self.buffer.is_empty() {
            let block = std::mem::take(&mut self.buffer);
            let start = self.position - block.len() as u64;
            *self
                .core
                .gathered
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some((start, block));
        }
        self.core.commit(CommitAttributes::default()).await
    }

    /// Discards the upload: the temporary file is removed and the target left untouched (for
    /// in-place modes, data already written stays). Waits for writes in flight.
    pub async fn abort(mut self) {
        let _ = self.wait_in_flight().await;
        self.core.abort().await;
    }

    /// Writes buffered data and turns the writer into a clonable positional writer.
    pub async fn into_shared(mut self) -> Result<SharedFileWriter, VfsError> {
        self.flush().await?;
        Ok(SharedFileWriter { core: self.core })
    }

    /// The buffered block, leaving a fresh full-size buffer: growing one from empty would
    /// reallocate and copy several times per block.
    fn take_buffer(&mut self) -> Bytes {
        std::mem::replace(&mut self.buffer, BytesMut::with_capacity(WRITE_BLOCK_BYTES)).freeze()
    }

    async fn submit(&mut self, offset: u64, block: Bytes) -> Result<(), VfsError> {
        self.wait_in_flight().await?;
        let core = self.core.clone();
        self.in_flight = Some(if core.direct() {
            tokio::task::spawn_blocking(move || core.write_blocking(offset, block))
        } else {
            tokio::spawn(async move { core.put(offset, block, false, &mut None).await })
        });
        Ok(())
    }

    async fn wait_in_flight(&mut self) -> Result<(), VfsError> {
        match self.in_flight.take() {
            Some(task) => task.await.map_err(|_| joined())?,
            None => Ok(()),
        }
    }
}

impl SharedFileWriter {
    /// Writes `data` at `offset` (at the end for `Append`); safe from concurrent tasks.
    pub async fn write_at(&self, offset: u64, data: Bytes) -> Result<(), VfsError> {
        self.core.clone().write_at(offset, data, None).await
    }

    /// `write_at` dropping `turn` once this write holds its place in line (keeps order).
    pub async fn write_at_in_turn(
        &self,
        offset: u64,
        data: Bytes,
        turn: DropGuard,
    ) -> Result<(), VfsError> {
        self.core.clone().write_at(offset, data, Some(turn)).await
    }

    /// Truncates or extends the file.
    pub async fn set_len(&self, length: u64) -> Result<(), VfsError> {
        self.core.clone().set_len(length).await
    }

    /// Asks the OS to make the file durable (`fdatasync`).
    pub async fn sync(&self) -> Result<(), VfsError> {
        self.core.clone().sync().await
    }

    /// Metadata of the file being written.
    pub async fn stat(&self) -> Result<FileStat, VfsError> {
        self.core.clone().stat().await
    }

    /// Whether the file is new content this writer created (an atomic upload, or a file that
    /// did not exist), so that [`SharedFileWriter::commit_with`] applies attributes to it.
    pub fn creates_file(&self) -> bool {
        self.core.atomic || self.core.created_in_place
    }

    /// The virtual path the file will have.
    pub fn path(&self) -> &VirtualPath {
        &self.core.path
    }

    /// Finishes the upload for every clone (see [`FileWriter::commit`]); waits for writes in
    /// flight. A second call, or a write after it, fails.
    pub async fn commit(&self) -> Result<u64, VfsError> {
        self.core.commit(CommitAttributes::default()).await
    }

    /// Like [`SharedFileWriter::commit`], giving a new file `attributes` (a temporary file
    /// before it is renamed into place; the caller checked that the user may set them). The
    /// mode loses the umask's bits. A writer of an existing file in place ignores them.
    pub async fn commit_with(&self, attributes: CommitAttributes) -> Result<u64, VfsError> {
        self.core.commit(attributes).await
    }

    /// Discards the upload for every clone (see [`FileWriter::abort`]).
    pub async fn abort(&self) {
        self.core.abort().await;
    }
}

impl Core {
    fn ensure_open(&self) -> Result<(), VfsError> {
        if self.is_settled() {
            Err(self.finished())
        } else {
            Ok(())
        }
    }

    fn finished(&self) -> VfsError {
        VfsError::with_detail(VfsErrorKind::Io, "file already closed").at(&self.path)
    }

    /// Counts the growth a write of `length` bytes at `offset` causes, refusing it when the
    /// quota does not allow it.
    fn reserve(&self, offset: u64, length: u64) -> Result<(), VfsError> {
        let Some(quota) = &self.quota else {
            return Ok(());
        };
        let mut accounting = self.lock_accounting();
        let end = if self.append {
            accounting.tracked.saturating_add(length)
        } else {
            offset.saturating_add(length)
        };
        if end > accounting.tracked {
            self.grow(quota, &mut accounting, end)?;
        }
        Ok(())
    }

    /// Counts the file as `end` bytes long from now on, if the quota allows; a refusal is
    /// logged (which quota, by how much) and poisons the writer.
    fn grow(
        &self,
        quota: &QuotaAccount,
        accounting: &mut Accounting,
        end: u64,
    ) -> Result<(), VfsError> {
        let growth = end.saturating_sub(accounting.tracked);
        if let Err(error) = quota.reserve_bytes(growth, accounting.credit) {
            let credit = accounting.credit;
            let error = upload_quota::refused_growth(quota, &self.path, growth, credit, error);
            return Err(self.poison(error));
        }
        accounting.tracked = end;
        Ok(())
    }

    /// Records `error` as the writer's first failure (see the module docs) and returns it.
    fn poison(&self, error: VfsError) -> VfsError {
        let mut poisoned = self.poisoned.lock().unwrap_or_else(PoisonError::into_inner);
        let error = error.at(&self.path);
        if poisoned.is_none() {
            *poisoned = Some(error.kind);
            tracing::info!(%error, "upload write failed (later calls say only that one did)");
        }
        error
    }

    /// Fails when an earlier write failed: nothing more reaches this file.
    fn ensure_healthy(&self) -> Result<(), VfsError> {
        let poisoned = *self.poisoned.lock().unwrap_or_else(PoisonError::into_inner);
        match poisoned {
            None => Ok(()),
            Some(kind) => {
                let detail = if self.atomic {
                    "an earlier write failed, the upload is discarded"
                } else {
                    "an earlier write to this file failed"
                };
                Err(VfsError::with_detail(kind, detail).at(&self.path))
            }
        }
    }

    fn lock_accounting(&self) -> std::sync::MutexGuard<'_, Accounting> {
        // The guarded data stays consistent even if a holder panicked (plain integers).
        self.accounting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets the counted size to the file's real size (after failed or short writes).
    async fn reconcile(&self) -> Result<u64, VfsError> {
        let size = self
            .staged
            .stat()
            .await
            .map_err(|error| VfsError::from_io(error).at(&self.path))?
            .size;
        if let Some(quota) = &self.quota {
            let mut accounting = self.lock_accounting();
            quota.correct_bytes(accounting.tracked, size);
            accounting.tracked = size;
        }
        Ok(size)
    }

    /// The per-block path of a blocking backend without a reorder window: one hand-off per
    /// block, exactly as before non-blocking backends existed.
    fn direct(&self) -> bool {
        self.blocking && self.order.is_none()
    }

    /// The per-block upload path: one `StagedFile::write_at` (a `pwrite` loop, or `write`
    /// for append, on a local file), as before the storage seam.
    fn write_blocking(&self, offset: u64, data: Bytes) -> Result<(), VfsError> {
        self.digest(offset, &data);
        wait_io(self.staged.write_at(offset, data))
            .map_err(|error| self.poison(VfsError::from_io(error)))
    }

    /// Sends `data` at `offset` to the backend: on the blocking pool for a blocking backend
    /// unless the caller is there already (`inline`), awaited otherwise.
    async fn store(
        self: &Arc<Self>,
        offset: u64,
        data: Bytes,
        inline: bool,
    ) -> Result<(), VfsError> {
        if self.blocking && !inline {
            let core = self.clone();
            return tokio::task::spawn_blocking(move || core.write_blocking(offset, data))
                .await
                .map_err(|_| joined())?;
        }
        self.digest(offset, &data);
        self.staged
            .write_at(offset, data)
            .await
            .map_err(|error| self.poison(VfsError::from_io(error)))
    }

    /// Sends `data` at `offset`, through the reorder window when the backend needs one.
    async fn put(
        self: &Arc<Self>,
        offset: u64,
        data: Bytes,
        inline: bool,
        turn: &mut Option<DropGuard>,
    ) -> Result<(), VfsError> {
        let Some(order) = &self.order else {
            return self.store(offset, data, inline).await;
        };
        // Held across the sends, so that concurrent writers reach the backend in order.
        let mut sequencer = order.lock().await;
        drop(turn.take());
        let Some(data) = sequencer
            .accept(offset, data)
            .map_err(|error| self.poison(error))?
        else {
            return Ok(());
        };
        let mut ready = Some((offset, data));
        while let Some((offset, data)) = ready {
            let length = data.len() as u64;
            self.store(offset, data, inline).await?;
            sequencer.sent(length);
            ready = sequencer.take_ready();
        }
        Ok(())
    }

    async fn write_at(
        self: Arc<Self>,
        offset: u64,
        data: Bytes,
        mut turn: Option<DropGuard>,
    ) -> Result<(), VfsError> {
        if self.order.is_none() {
            drop(turn.take());
        }
        // Paced before taking the gate, so a commit does not wait behind a throttled write
        // that has not started yet.
        throttle(self.throttle.as_ref(), data.len()).await;
        let gate = self.gate.read().await;
        if self.is_settled() {
            return Err(self.finished());
        }
        self.ensure_healthy()?;
        if data.is_empty() {
            return Ok(());
        }
        if let Some(order) = &self.order {
            let checked = order.lock().await.check(offset, data.len());
            checked.map_err(|error| self.poison(error))?;
        }
        self.reserve(offset, data.len() as u64)?;
        let (earlier, now) = if self.gathers() && data.len() < GATHER_BELOW_BYTES {
            match self.gather(offset, &data) {
                None => return Ok(()),
                earlier => (earlier, None),
            }
        } else {
            (self.take_gathered(), Some((offset, data)))
        };
        let result = if self.direct() {
            let core = self.clone();
            tokio::task::spawn_blocking(move || {
                if let Some((offset, block)) = earlier {
                    core.write_gathered_blocking(offset, block)?;
                }
                match now {
                    Some((offset, data)) => core.write_blocking(offset, data),
                    None => Ok(()),
                }
            })
            .await
            .map_err(|_| joined())?
        } else {
            self.put_pieces(earlier, now, &mut turn).await
        };
        drop(gate);
        result
    }

    /// The gathered block and then the new write, each through `put`, from the runtime.
    async fn put_pieces(
        self: &Arc<Self>,
        earlier: Option<(u64, BytesMut)>,
        now: Option<(u64, Bytes)>,
        turn: &mut Option<DropGuard>,
    ) -> Result<(), VfsError> {
        if let Some((offset, block)) = earlier {
            self.put(offset, block.freeze(), false, turn).await?;
        }
        match now {
            Some((offset, data)) => self.put(offset, data, false, turn).await,
            None => Ok(()),
        }
    }

    /// Temporary files gather small positional writes; files others may see do not.
    fn gathers(&self) -> bool {
        self.atomic && !self.append
    }

    /// Writes out whatever is gathered (before anything that looks at the file), from where
    /// the backend's calls may be made directly (see [`Core::offload`]).
    async fn flush_gathered(self: &Arc<Self>) -> Result<(), VfsError> {
        match self.take_gathered() {
            Some((offset, block)) => self.put(offset, block.freeze(), true, &mut None).await,
            None => Ok(()),
        }
    }

    /// Runs `job` where this backend's calls belong: for a blocking backend in one hand-off
    /// to the blocking pool (driven by `storage::drive`), otherwise as a task on the runtime.
    /// Either way it runs to its end even if the caller stops waiting, so a commit whose
    /// caller went away is neither repeated nor undone by `Drop`.
    async fn offload<T, F, Job>(self: &Arc<Self>, job: F) -> Result<T, VfsError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Core>) -> Job + Send + 'static,
        Job: Future<Output = Result<T, VfsError>> + Send + 'static,
    {
        let core = self.clone();
        if self.blocking {
            tokio::task::spawn_blocking(move || drive(job(core)))
                .await
                .map_err(|_| joined())?
        } else {
            tokio::spawn(job(core)).await.map_err(|_| joined())?
        }
    }

    async fn set_len(self: Arc<Self>, length: u64) -> Result<(), VfsError> {
        let gate = self.gate.read().await;
        if self.is_settled() {
            return Err(self.finished());
        }
        self.ensure_healthy()?;
        if let Some(quota) = &self.quota {
            let mut accounting = self.lock_accounting();
            if length > accounting.tracked {
                self.grow(quota, &mut accounting, length)?;
            } else {
                quota.release_bytes(accounting.tracked - length);
                accounting.tracked = length;
            }
        }
        let result = self
            .offload(move |core| async move { core.set_len_now(length).await })
            .await;
        drop(gate);
        result
    }

    async fn set_len_now(self: &Arc<Self>, length: u64) -> Result<(), VfsError> {
        self.flush_gathered().await?;
        let truncated = self.staged.set_len(length).await;
        truncated.map_err(|error| self.poison(VfsError::from_io(error)))?;
        if let Some(order) = &self.order {
            order.lock().await.truncated(length);
        }
        Ok(())
    }

    async fn sync(self: Arc<Self>) -> Result<(), VfsError> {
        self.offload(|core| async move {
            core.flush_gathered().await?;
            let synced = core.staged.sync().await;
            synced.map_err(|error| VfsError::from_io(error).at(&core.path))
        })
        .await
    }

    async fn stat(self: Arc<Self>) -> Result<FileStat, VfsError> {
        self.offload(|core| async move {
            core.flush_gathered().await?;
            let stat = core.staged.stat().await;
            stat.map_err(|error| VfsError::from_io(error).at(&core.path))
        })
        .await
    }

    fn is_settled(&self) -> bool {
        self.settled.load(Ordering::SeqCst)
    }
}

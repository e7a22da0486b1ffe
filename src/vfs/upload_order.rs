//! The reorder window of uploads to storage that accepts writes only in order (object storage:
//! a multipart upload has no offsets, `Capabilities::random_writes` is false).
//!
//! SFTP clients pipeline their writes, and although they send them in order, a server that
//! runs requests concurrently can see them complete out of order. So a write at the next
//! expected offset goes to the backend at once; a write ahead of it is held until the gap
//! before it fills, then flushed in order. Held data is bounded: a write may reach at most
//! [`REORDER_WINDOW_BYTES`] beyond the next expected offset, and at most
//! [`REORDER_WINDOW_WRITES`] writes are held at a time, whichever limit comes first (OpenSSH
//! keeps 64 requests of 32 KiB, 2 MiB, in flight; 8 MiB leaves room for clients with larger
//! requests). A write behind what was already sent (a rewrite), overlapping held data, or
//! beyond the window is refused with `Unsupported` and a detail that says why; the writer is
//! then poisoned, so the upload can only be discarded. At commit, held data means a gap was
//! never filled: the upload is discarded rather than published with a hole.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::error::{VfsError, VfsErrorKind};

/// How far beyond the next expected offset a write may reach.
pub const REORDER_WINDOW_BYTES: u64 = 8 * 1024 * 1024;
/// How many writes may wait for a gap to fill.
pub const REORDER_WINDOW_WRITES: usize = 16;

/// Writes of one upload put in order. See the module docs.
#[derive(Debug)]
pub(crate) struct Sequencer {
    /// Where the next write to the backend starts: everything before it was sent.
    next: u64,
    /// Writes ahead of `next`, by offset; they never overlap.
    held: BTreeMap<u64, Bytes>,
}

impl Sequencer {
    /// A sequencer whose first write is expected at `start`.
    pub(crate) fn new(start: u64) -> Sequencer {
        Sequencer {
            next: start,
            held: BTreeMap::new(),
        }
    }

    /// Takes a write: `Ok(Some(data))` when it is at the next expected offset and must be sent
    /// now (then [`Sequencer::sent`]), `Ok(None)` when it is held, an error when it cannot be
    /// taken at all.
    pub(crate) fn accept(&mut self, offset: u64, data: Bytes) -> Result<Option<Bytes>, VfsError> {
        self.check(offset, data.len())?;
        if offset == self.next {
            return Ok(Some(data));
        }
        if self.held.len() >= REORDER_WINDOW_WRITES {
            return Err(refused(format!(
                "object storage accepts writes in order; {REORDER_WINDOW_WRITES} writes \
                 already wait for the gap at offset {} to fill",
                self.next
            )));
        }
        self.held.insert(offset, data);
        Ok(None)
    }

    /// Refuses, before the data is taken anywhere, a write of `length` bytes at `offset` that
    /// goes back, overlaps held data or reaches beyond the window (the writer gathers small
    /// writes before they reach [`Sequencer::accept`], and the client must hear of the
    /// refusal in the reply to the write that caused it).
    pub(crate) fn check(&self, offset: u64, length: usize) -> Result<(), VfsError> {
        let end = offset.saturating_add(length as u64);
        if offset < self.next {
            return Err(refused(format!(
                "object storage accepts writes in order; this write at offset {offset} goes \
                 back before the {} bytes already sent",
                self.next
            )));
        }
        let overlaps_before = self
            .held
            .range(..offset)
            .next_back()
            .is_some_and(|(start, held)| start + held.len() as u64 > offset);
        let overlaps_after = self
            .held
            .range(offset..)
            .next()
            .is_some_and(|(start, _)| *start < end);
        if overlaps_before || overlaps_after {
            return Err(refused(format!(
                "object storage accepts writes in order; this write at offset {offset} \
                 overlaps data waiting to be sent"
            )));
        }
        let ahead = end - self.next;
        if ahead > REORDER_WINDOW_BYTES {
            return Err(refused(format!(
                "object storage accepts writes in order; this write reaches {ahead} bytes \
                 ahead of the next expected offset {}, more than the reorder window of \
                 {REORDER_WINDOW_BYTES}",
                self.next
            )));
        }
        Ok(())
    }

    /// Records that `length` bytes at the next expected offset reached the backend.
    pub(crate) fn sent(&mut self, length: u64) {
        self.next += length;
    }

    /// The held write that now continues what was sent, if any (send it, then `sent`).
    pub(crate) fn take_ready(&mut self) -> Option<(u64, Bytes)> {
        let entry = self.held.first_entry()?;
        if *entry.key() != self.next {
            return None;
        }
        Some(entry.remove_entry())
    }

    /// Fails when data is held: the gap before it was never filled.
    pub(crate) fn ensure_complete(&self) -> Result<(), VfsError> {
        match self.held.keys().next() {
            None => Ok(()),
            Some(first) => Err(refused(format!(
                "the upload has a gap: bytes {} to {first} never arrived",
                self.next
            ))),
        }
    }

    /// After the backend truncated the upload to `length`.
    pub(crate) fn truncated(&mut self, length: u64) {
        self.next = self.next.min(length);
    }
}

fn refused(detail: String) -> VfsError {
    VfsError::with_message(VfsErrorKind::Unsupported, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(length: usize) -> Bytes {
        Bytes::from(vec![7u8; length])
    }

    fn detail(error: VfsError) -> String {
        assert_eq!(error.kind, VfsErrorKind::Unsupported);
        error.detail.unwrap().into_owned()
    }

    #[test]
    fn in_order_writes_go_out_at_once() {
        let mut sequencer = Sequencer::new(0);
        assert_eq!(sequencer.accept(0, block(10)).unwrap().unwrap().len(), 10);
        sequencer.sent(10);
        assert!(sequencer.accept(10, block(5)).unwrap().is_some());
        sequencer.sent(5);
        assert!(sequencer.take_ready().is_none());
        sequencer.ensure_complete().unwrap();
    }

    #[test]
    fn held_writes_follow_when_the_gap_fills() {
        let mut sequencer = Sequencer::new(0);
        assert!(sequencer.accept(20, block(10)).unwrap().is_none());
        assert!(sequencer.accept(10, block(10)).unwrap().is_none());
        assert!(detail(sequencer.ensure_complete().unwrap_err()).contains("bytes 0 to 10"));
        assert!(sequencer.accept(0, block(10)).unwrap().is_some());
        sequencer.sent(10);
        assert_eq!(sequencer.take_ready().unwrap().0, 10);
        sequencer.sent(10);
        assert_eq!(sequencer.take_ready().unwrap().0, 20);
        sequencer.sent(10);
        assert!(sequencer.take_ready().is_none());
        sequencer.ensure_complete().unwrap();
    }

    #[test]
    fn rewrites_overlaps_and_far_writes_are_refused() {
        let mut sequencer = Sequencer::new(0);
        sequencer.accept(0, block(100)).unwrap();
        sequencer.sent(100);
        assert!(detail(sequencer.accept(50, block(10)).unwrap_err()).contains("goes back"));
        sequencer.accept(200, block(100)).unwrap();
        assert!(detail(sequencer.accept(250, block(10)).unwrap_err()).contains("overlaps"));
        assert!(detail(sequencer.accept(150, block(60)).unwrap_err()).contains("overlaps"));
        assert!(detail(sequencer.accept(100, block(101)).unwrap_err()).contains("overlaps"));
        let far = REORDER_WINDOW_BYTES + 100 - 10;
        let message = detail(sequencer.accept(far, block(11)).unwrap_err());
        assert!(
            message.contains(&format!("{} bytes ahead", REORDER_WINDOW_BYTES + 1)),
            "{message}"
        );
        assert!(message.contains(&format!("reorder window of {REORDER_WINDOW_BYTES}")));
        // Exactly at the window's edge is still taken.
        assert!(sequencer.accept(far, block(10)).unwrap().is_none());
    }

    #[test]
    fn at_most_so_many_writes_are_held() {
        let mut sequencer = Sequencer::new(0);
        for index in 0..REORDER_WINDOW_WRITES as u64 {
            assert!(sequencer
                .accept(10 + index * 10, block(10))
                .unwrap()
                .is_none());
        }
        let message = detail(sequencer.accept(1000, block(10)).unwrap_err());
        assert!(message.contains("already wait"), "{message}");
    }
}

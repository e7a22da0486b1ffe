//! `ReadWindow`: the blocks of one read-ahead that a reader still holds, so reads that arrive a
//! little out of order are served from memory instead of restarting the `GET`s.
//!
//! SFTP clients keep many `READ`s in flight and the session runs them concurrently, so they
//! reach the reader in roughly but not exactly ascending order. The window keeps the blocks
//! from [`KEEP_BEHIND`] bytes behind the furthest read up to the last block received; a read
//! inside it is a slice of those blocks (no copy when it lies within one block), a read ahead
//! of it by at most [`SKIP_AHEAD`] bytes pulls more blocks, and anything else is a jump.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Bytes kept behind the furthest read served: reads that lag by up to this much still hit.
pub(crate) const KEEP_BEHIND: u64 = 2 << 20;
/// A read starting at most this far past the last block received pulls blocks up to it
/// (and keeps them) rather than dropping the read-ahead.
pub(crate) const SKIP_AHEAD: u64 = 8 << 20;

/// Where a read falls relative to the window.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Inside, or within [`SKIP_AHEAD`] past its end: the read-ahead serves it.
    Served,
    /// Behind what is kept, or too far ahead: a new read-ahead must start at the offset.
    Jump,
}

/// Consecutive blocks covering `[start, end)` of the object.
#[derive(Debug)]
pub(crate) struct ReadWindow {
    start: u64,
    end: u64,
    blocks: VecDeque<Bytes>,
    /// The highest offset any read has started at; what lies `KEEP_BEHIND` before it goes.
    furthest: u64,
}

impl ReadWindow {
    /// An empty window whose first block will start at `offset`.
    pub(crate) fn at(offset: u64) -> ReadWindow {
        ReadWindow {
            start: offset,
            end: offset,
            blocks: VecDeque::new(),
            furthest: offset,
        }
    }

    /// The offset the next block received starts at.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    pub(crate) fn place(&self, offset: u64) -> Placement {
        if offset >= self.start && offset <= self.end.saturating_add(SKIP_AHEAD) {
            Placement::Served
        } else {
            Placement::Jump
        }
    }

    /// Notes that a read starts at `offset`, so blocks far enough behind it can go.
    pub(crate) fn reading_at(&mut self, offset: u64) {
        self.furthest = self.furthest.max(offset);
        self.trim();
    }

    /// Appends the next block of the object.
    pub(crate) fn push(&mut self, block: Bytes) {
        self.end += block.len() as u64;
        self.blocks.push_back(block);
        self.trim();
    }

    /// The bytes `[offset, offset + length)`, or `None` when the window does not hold them all.
    pub(crate) fn slice(&self, offset: u64, length: usize) -> Option<Bytes> {
        let last = offset.checked_add(length as u64)?;
        if offset < self.start || last > self.end {
            return None;
        }
        let mut block_start = self.start;
        let mut gathered: Option<BytesMut> = None;
        for block in &self.blocks {
            let block_end = block_start + block.len() as u64;
            if block_end <= offset {
                block_start = block_end;
                continue;
            }
            // Both bounds lie inside this block once clamped, so the casts cannot truncate.
            let from = offset.max(block_start) - block_start;
            let to = last.min(block_end) - block_start;
            let part = block.slice(from as usize..to as usize);
            match gathered.as_mut() {
                None if to + block_start == last => return Some(part),
                None => {
                    let mut buffer = BytesMut::with_capacity(length);
                    buffer.extend_from_slice(&part);
                    gathered = Some(buffer);
                }
                Some(buffer) => buffer.extend_from_slice(&part),
            }
            if block_end >= last {
                break;
            }
            block_start = block_end;
        }
        gathered.map(BytesMut::freeze)
    }

    /// Drops whole blocks that end `KEEP_BEHIND` or more before the furthest read.
    fn trim(&mut self) {
        let floor = self.furthest.saturating_sub(KEEP_BEHIND);
        while let Some(front) = self.blocks.front() {
            let front_end = self.start + front.len() as u64;
            if front_end > floor {
                break;
            }
            self.start = front_end;
            self.blocks.pop_front();
        }
        if self.blocks.is_empty() {
            // Nothing held: the window restarts where the next block will begin.
            self.start = self.end;
        }
    }

    /// Bytes held, for the memory bound's test.
    #[cfg(test)]
    fn held(&self) -> u64 {
        self.end - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: usize = 1 << 20;

    fn block(index: u8) -> Bytes {
        Bytes::from(
            (0..BLOCK)
                .map(|i| index.wrapping_add(i as u8))
                .collect::<Vec<u8>>(),
        )
    }

    fn expected(offset: u64, length: usize) -> Vec<u8> {
        (offset..offset + length as u64)
            .map(|at| ((at / BLOCK as u64) as u8).wrapping_add((at % BLOCK as u64) as u8))
            .collect()
    }

    #[test]
    fn a_read_inside_one_block_is_a_slice_and_one_across_blocks_is_joined() {
        let mut window = ReadWindow::at(0);
        window.push(block(0));
        window.push(block(1));
        let inside = window.slice(100, 1000).unwrap();
        assert_eq!(&inside[..], &expected(100, 1000)[..]);
        let across = window.slice(BLOCK as u64 - 10, 30).unwrap();
        assert_eq!(&across[..], &expected(BLOCK as u64 - 10, 30)[..]);
        assert!(
            window.slice(2 * BLOCK as u64 - 10, 30).is_none(),
            "past the end"
        );
    }

    #[test]
    fn reads_out_of_order_within_the_window_are_all_served() {
        let mut window = ReadWindow::at(0);
        window.push(block(0));
        window.push(block(1));
        for offset in [64 * 1024, 0, 192 * 1024, 128 * 1024, BLOCK as u64 + 5] {
            assert_eq!(window.place(offset), Placement::Served);
            window.reading_at(offset);
            let got = window.slice(offset, 32 * 1024).unwrap();
            assert_eq!(&got[..], &expected(offset, 32 * 1024)[..]);
        }
    }

    #[test]
    fn blocks_far_behind_the_furthest_read_are_dropped_and_reading_there_is_a_jump() {
        let mut window = ReadWindow::at(0);
        for index in 0..6 {
            window.push(block(index));
        }
        window.reading_at(5 * BLOCK as u64);
        assert!(window.held() <= KEEP_BEHIND + BLOCK as u64);
        assert_eq!(window.place(0), Placement::Jump);
        assert_eq!(window.place(5 * BLOCK as u64 - 10), Placement::Served);
        assert!(window.slice(0, 10).is_none());
        let lagging = 4 * BLOCK as u64;
        assert_eq!(
            &window.slice(lagging, 10).unwrap()[..],
            &expected(lagging, 10)[..]
        );
    }

    #[test]
    fn a_read_far_ahead_is_a_jump_and_one_just_ahead_is_served() {
        let mut window = ReadWindow::at(3 * BLOCK as u64);
        window.push(block(3));
        assert_eq!(
            window.place(4 * BLOCK as u64 + SKIP_AHEAD),
            Placement::Served
        );
        assert_eq!(
            window.place(4 * BLOCK as u64 + SKIP_AHEAD + 1),
            Placement::Jump
        );
        assert_eq!(window.place(3 * BLOCK as u64 - 1), Placement::Jump);
    }

    #[test]
    fn skipping_ahead_keeps_only_what_is_near_the_furthest_read() {
        let mut window = ReadWindow::at(0);
        window.reading_at(6 * BLOCK as u64);
        for index in 0..7 {
            window.push(block(index));
            assert!(window.held() <= KEEP_BEHIND + BLOCK as u64);
        }
        let offset = 6 * BLOCK as u64 + 7;
        assert_eq!(
            &window.slice(offset, 100).unwrap()[..],
            &expected(offset, 100)[..]
        );
    }
}

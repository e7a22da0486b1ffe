//! `Fetch`: the read-ahead's task. It fetches consecutive segments of an object through ranged
//! `GET`s, up to [`PIPELINE`] at once, and delivers them to the reader in order, as blocks.
//!
//! With one `GET` at a time the link idles for a request's round trip between segments, and a
//! single response stream is slower than the store serves: measured on Garage, SFTP downloads
//! reached 0.6× a direct S3 copy. So the next segments' `GET`s start while the current one is
//! read. A segment starts only once the reader's channel has room for all of its blocks (its
//! permits are reserved first): the blocks waiting in the channel and those of segments being
//! fetched together never exceed the channel's capacity, and no body is left half-read while
//! the client is slow (the store's request timeout covers the whole body).
//!
//! A read-ahead after a jump may serve one random read, so it fetches only the first segment
//! and the next, one at a time, until the reader shows a stream of reads ([`Ramp::open`]):
//! speculative bytes are paid for on a real store.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{BoxStream, FuturesUnordered};
use futures_util::StreamExt as _;
use tokio::sync::{mpsc, Notify};

/// What the read-ahead hands over at a time.
pub(crate) const BLOCK: usize = 1 << 20;
/// Blocks fetched by one `GET`.
pub(crate) const SEGMENT_BLOCKS: usize = 4;
/// Segments whose `GET`s run at once. Measured on Garage (1 GiB, OpenSSH `sftp` down, 3 runs):
/// 2 × 4 MiB reached 0.68× a direct S3 copy, 3 × 4 MiB 0.91×, 2 × 8 MiB 0.95× at 4 MiB more
/// per reader; 4 × 2 MiB 0.76×, with twice the `GET`s.
pub(crate) const PIPELINE: usize = 3;
/// Segments fetched before the reader opens the [`Ramp`].
const RAMP_SEGMENTS: usize = 2;
/// Retries of one segment after its `GET` failed.
const SEGMENT_RETRIES: u32 = 3;

/// One block, or why the read-ahead stopped.
pub(crate) type Delivery = io::Result<Bytes>;

/// Where the bytes come from: an object's ranged `GET`s.
pub(crate) trait SegmentSource: Send + Sync {
    /// The body of `[from, end)`.
    fn get(
        &self,
        from: u64,
        end: u64,
    ) -> impl Future<Output = io::Result<BoxStream<'static, io::Result<Bytes>>>> + Send;
}

/// The read-ahead of one object of `size` bytes.
pub(crate) struct Fetch<S> {
    pub(crate) source: S,
    pub(crate) size: u64,
    pub(crate) ramp: Arc<Ramp>,
}

/// Whether the reader has shown a stream of reads, so fetching may run [`PIPELINE`] deep.
#[derive(Debug, Default)]
pub(crate) struct Ramp {
    open: AtomicBool,
    opened: Notify,
}

impl Ramp {
    pub(crate) fn open(&self) {
        if !self.open.swap(true, Ordering::AcqRel) {
            self.opened.notify_one();
        }
    }

    fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }
}

/// A segment being fetched: the blocks it got so far, and the channel room reserved for them.
struct Running {
    blocks: mpsc::Receiver<Delivery>,
    room: Vec<mpsc::OwnedPermit<Delivery>>,
}

/// Blocks in `bytes` bytes, the last one perhaps short.
fn blocks_in(bytes: u64) -> usize {
    usize::try_from(bytes.div_ceil(BLOCK as u64)).unwrap_or(usize::MAX)
}

impl<S: SegmentSource> Fetch<S> {
    /// Delivers the object from `from` to its end into `sender`. The first segment is
    /// `first_segment` bytes (a lead-in and a block): a single random read should not fetch a
    /// whole segment. Returns when everything is delivered, an error is, or the reader left.
    pub(crate) async fn run(self, from: u64, first_segment: u64, sender: mpsc::Sender<Delivery>) {
        let mut next = from;
        let mut length = first_segment;
        let mut queue: VecDeque<Running> = VecDeque::new();
        let mut fetching = FuturesUnordered::new();
        let mut reserved: Vec<mpsc::OwnedPermit<Delivery>> = Vec::new();
        let mut started = 0;
        loop {
            let open = self.ramp.is_open();
            let depth = if open { PIPELINE } else { 1 };
            let wants_segment =
                next < self.size && queue.len() < depth && (open || started < RAMP_SEGMENTS);
            if wants_segment {
                let end = self.size.min(next.saturating_add(length));
                let count = blocks_in(end - next);
                if reserved.len() >= count {
                    let (blocks, received) = mpsc::channel(count);
                    fetching.push(self.segment(next, end, blocks));
                    queue.push_back(Running {
                        blocks: received,
                        room: reserved.drain(..count).collect(),
                    });
                    next = end;
                    length = (SEGMENT_BLOCKS * BLOCK) as u64;
                    started += 1;
                    continue;
                }
            } else if queue.is_empty() && (open || next >= self.size) {
                return;
            }
            tokio::select! {
                // Drives the GETs; a segment's end shows as its channel closing.
                Some(()) = fetching.next(), if !fetching.is_empty() => {}
                () = self.ramp.opened.notified(), if !open => {}
                permit = sender.clone().reserve_owned(), if wants_segment => match permit {
                    Ok(permit) => reserved.push(permit),
                    Err(_) => return,
                },
                delivery = oldest(&mut queue), if !queue.is_empty() => {
                    let Some(delivery) = delivery else {
                        queue.pop_front();
                        continue;
                    };
                    let failed = delivery.is_err();
                    let room = queue.front_mut().and_then(|running| running.room.pop());
                    // A segment sends at most the blocks it reserved room for.
                    let Some(room) = room else { return };
                    room.send(delivery);
                    if failed {
                        return;
                    }
                }
            }
        }
    }

    /// Fetches `[from, end)` into `blocks`, retrying from the byte where a failed `GET`
    /// stopped; after [`SEGMENT_RETRIES`] the error is what it sends last.
    async fn segment(&self, from: u64, end: u64, blocks: mpsc::Sender<Delivery>) {
        let mut sent = from;
        let mut block = BytesMut::new();
        let mut failures = 0;
        while sent + (block.len() as u64) < end {
            let outcome = self.stream(end, &mut block, &mut sent, &blocks).await;
            let reached = sent + block.len() as u64;
            let error = match outcome {
                Ok(()) if reached >= end => break,
                Ok(()) => io::Error::other("object storage sent less than asked"),
                Err(error) => error,
            };
            failures += 1;
            if failures > SEGMENT_RETRIES {
                let _ = blocks.send(Err(error)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(100 << failures)).await;
        }
        if !block.is_empty() {
            let _ = blocks.send(Ok(block.freeze())).await;
        }
    }

    /// One `GET` from where the segment stands to `end`, sending each full block (and moving
    /// `sent` past it); what it got before an error stays in `block`.
    async fn stream(
        &self,
        end: u64,
        block: &mut BytesMut,
        sent: &mut u64,
        blocks: &mpsc::Sender<Delivery>,
    ) -> io::Result<()> {
        let mut body = self.source.get(*sent + block.len() as u64, end).await?;
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk?;
            while !chunk.is_empty() {
                if block.capacity() == 0 {
                    block.reserve(BLOCK);
                }
                let part = chunk.split_to((BLOCK - block.len()).min(chunk.len()));
                block.extend_from_slice(&part);
                if block.len() == BLOCK {
                    *sent += BLOCK as u64;
                    if blocks
                        .send(Ok(std::mem::take(block).freeze()))
                        .await
                        .is_err()
                    {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }
}

/// The next delivery of the oldest running segment; `None` once it has sent everything.
async fn oldest(queue: &mut VecDeque<Running>) -> Option<Delivery> {
    match queue.front_mut() {
        Some(running) => running.blocks.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;

    /// An object in memory whose `GET`s stream 64 KiB chunks, yielding between them, and record
    /// how many run at once.
    #[derive(Default)]
    struct FakeObject {
        data: Arc<Vec<u8>>,
        running: Arc<AtomicUsize>,
        most_running: Arc<AtomicUsize>,
        ranges: Mutex<Vec<(u64, u64)>>,
        /// A body breaks once when it reaches this offset; `always` makes every body break.
        break_at: Option<u64>,
        always: bool,
        broke: AtomicBool,
    }

    /// Counts a `GET` as running until its body is dropped.
    struct Running(Arc<AtomicUsize>);

    impl Drop for Running {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    impl SegmentSource for FakeObject {
        async fn get(
            &self,
            from: u64,
            end: u64,
        ) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
            self.ranges.lock().unwrap().push((from, end));
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_running.fetch_max(now, Ordering::SeqCst);
            let guard = Running(Arc::clone(&self.running));
            let breaks = self
                .break_at
                .filter(|at| (from..end).contains(at))
                .filter(|_| self.always || !self.broke.swap(true, Ordering::SeqCst));
            let data = Arc::clone(&self.data);
            let body = futures_util::stream::unfold((from, guard), move |(at, guard)| {
                let data = Arc::clone(&data);
                async move {
                    if at >= end {
                        return None;
                    }
                    tokio::task::yield_now().await;
                    if breaks.is_some_and(|point| at >= point) {
                        return Some((Err(io::Error::other("connection reset")), (end, guard)));
                    }
                    let stop = end.min(at + 64 * 1024);
                    let chunk = Bytes::copy_from_slice(&data[at as usize..stop as usize]);
                    Some((Ok(chunk), (stop, guard)))
                }
            });
            Ok(body.boxed())
        }
    }

    fn object(length: usize) -> FakeObject {
        let data = (0..length).map(|index| (index * 7 % 251) as u8).collect();
        FakeObject {
            data: Arc::new(data),
            ..FakeObject::default()
        }
    }

    /// Runs a read-ahead from `from` over `source` and collects what it delivers.
    async fn fetch_all(source: Arc<FakeObject>, from: u64) -> (Vec<u8>, Option<io::Error>) {
        let size = source.data.len() as u64;
        let (sender, mut receiver) = mpsc::channel(PIPELINE * SEGMENT_BLOCKS);
        let ramp = Arc::new(Ramp::default());
        ramp.open();
        let fetch = Fetch {
            source: Shared(source),
            size,
            ramp,
        };
        let task = tokio::spawn(fetch.run(from, 2 * BLOCK as u64, sender));
        let mut got = Vec::new();
        let mut error = None;
        while let Some(delivery) = receiver.recv().await {
            match delivery {
                Ok(block) => got.extend_from_slice(&block),
                Err(failure) => error = Some(failure),
            }
        }
        task.await.unwrap();
        (got, error)
    }

    struct Shared(Arc<FakeObject>);

    impl SegmentSource for Shared {
        async fn get(
            &self,
            from: u64,
            end: u64,
        ) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
            self.0.get(from, end).await
        }
    }

    #[tokio::test]
    async fn segments_are_fetched_several_at_a_time_and_delivered_in_order() {
        let source = Arc::new(object(9 * SEGMENT_BLOCKS * BLOCK + 12_345));
        let (got, error) = fetch_all(Arc::clone(&source), 3 * BLOCK as u64 + 7).await;
        assert!(error.is_none());
        assert!(got == source.data[3 * BLOCK + 7..]);
        const { assert!(PIPELINE > 1) };
        assert_eq!(source.most_running.load(Ordering::SeqCst), PIPELINE);
        let ranges = source.ranges.lock().unwrap().clone();
        assert_eq!(ranges[0], (3 * BLOCK as u64 + 7, 5 * BLOCK as u64 + 7));
        assert!(ranges.windows(2).all(|pair| pair[0].1 == pair[1].0));
        let longest = ranges.iter().map(|(from, end)| end - from).max().unwrap();
        assert_eq!(longest, (SEGMENT_BLOCKS * BLOCK) as u64);
    }

    #[tokio::test]
    async fn a_reader_that_stops_reading_bounds_what_is_fetched() {
        let source = Arc::new(object(40 * BLOCK));
        let (sender, mut receiver) = mpsc::channel(PIPELINE * SEGMENT_BLOCKS);
        let ramp = Arc::new(Ramp::default());
        ramp.open();
        let fetch = Fetch {
            source: Shared(Arc::clone(&source)),
            size: source.data.len() as u64,
            ramp,
        };
        let task = tokio::spawn(fetch.run(0, BLOCK as u64, sender));
        let first = receiver.recv().await.unwrap().unwrap();
        assert_eq!(first.len(), BLOCK);
        for _ in 0..2_000 {
            tokio::task::yield_now().await;
        }
        let asked: u64 = source
            .ranges
            .lock()
            .unwrap()
            .iter()
            .map(|(from, end)| end - from)
            .sum();
        // The block read, and at most a full channel's worth besides.
        assert!(
            asked <= ((PIPELINE * SEGMENT_BLOCKS + 1) * BLOCK) as u64,
            "{asked}"
        );
        assert!(
            asked > (2 * BLOCK) as u64,
            "{asked}: the next segment did start"
        );
        drop(receiver);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn until_the_ramp_opens_two_segments_are_fetched_one_at_a_time() {
        let source = Arc::new(object(10 * SEGMENT_BLOCKS * BLOCK));
        let (sender, mut receiver) = mpsc::channel(PIPELINE * SEGMENT_BLOCKS);
        let ramp = Arc::new(Ramp::default());
        let fetch = Fetch {
            source: Shared(Arc::clone(&source)),
            size: source.data.len() as u64,
            ramp: Arc::clone(&ramp),
        };
        let task = tokio::spawn(fetch.run(0, BLOCK as u64, sender));
        let mut got = Vec::new();
        got.extend_from_slice(&receiver.recv().await.unwrap().unwrap());
        for _ in 0..2_000 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            source.ranges.lock().unwrap().len(),
            2,
            "a random read's GETs"
        );
        assert_eq!(source.most_running.load(Ordering::SeqCst), 1);
        ramp.open();
        while let Some(delivery) = receiver.recv().await {
            got.extend_from_slice(&delivery.unwrap());
        }
        task.await.unwrap();
        assert!(got == *source.data);
        assert_eq!(source.most_running.load(Ordering::SeqCst), PIPELINE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_broken_body_is_resumed_where_it_stopped() {
        let mut object = object(3 * SEGMENT_BLOCKS * BLOCK);
        object.break_at = Some(5 * BLOCK as u64 + 100);
        let source = Arc::new(object);
        let (got, error) = fetch_all(Arc::clone(&source), 0).await;
        assert!(error.is_none());
        assert!(got == *source.data);
        let ranges = source.ranges.lock().unwrap().clone();
        // The retry starts at the byte where the body broke, not at the segment's start.
        let block = BLOCK as u64;
        assert!(
            ranges
                .iter()
                .any(|&(from, end)| from > 5 * block && from < 6 * block && end == 6 * block),
            "{ranges:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_segment_that_keeps_failing_ends_the_read_ahead_with_its_error() {
        let mut object = object(3 * SEGMENT_BLOCKS * BLOCK);
        object.break_at = Some(7 * BLOCK as u64);
        object.always = true;
        let source = Arc::new(object);
        let (got, error) = fetch_all(Arc::clone(&source), 0).await;
        let error = error.expect("the error is delivered");
        assert!(error.to_string().contains("connection reset"), "{error}");
        // Everything before the broken segment arrived, in order, and nothing after it.
        assert_eq!(got.len(), 7 * BLOCK);
        assert!(source.data.starts_with(&got));
    }
}

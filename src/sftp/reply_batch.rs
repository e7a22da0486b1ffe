//! How a batch of SFTP replies goes to the SSH channel: small replies joined into one write,
//! large ones (`DATA`) on their own, never copied.

use std::mem;

use bytes::{Bytes, BytesMut};

/// Replies at least this long go to the channel on their own rather than joined to others.
const ALONE_BYTES: usize = 16 * 1024;

/// A batch's channel writes, in order: runs of small replies joined into one write, each
/// large one (a `DATA` reply) on its own, since joining would copy it and it fills packets
/// anyway.
pub(super) fn channel_writes(batch: Vec<Bytes>) -> Vec<Bytes> {
    let mut writes = Vec::new();
    let mut run: Vec<Bytes> = Vec::new();
    for bytes in batch {
        if bytes.len() < ALONE_BYTES {
            run.push(bytes);
            continue;
        }
        writes.extend(joined(mem::take(&mut run)));
        writes.push(bytes);
    }
    writes.extend(joined(run));
    writes
}

/// Replies as one buffer: none for no replies, a lone one passed on without copying.
fn joined(mut replies: Vec<Bytes>) -> Option<Bytes> {
    if replies.len() <= 1 {
        return replies.pop();
    }
    let size = replies.iter().map(Bytes::len).sum();
    let mut joined = BytesMut::with_capacity(size);
    for reply in &replies {
        joined.extend_from_slice(reply);
    }
    Some(joined.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replies(sizes: &[usize]) -> Vec<Bytes> {
        sizes
            .iter()
            .enumerate()
            .map(|(index, &size)| Bytes::from(vec![index as u8; size]))
            .collect()
    }

    #[test]
    fn small_replies_are_joined_and_large_ones_sent_alone_in_order() {
        let large = ALONE_BYTES + 13;
        let batch = replies(&[20, 30, large, 40, large, large, 50]);
        let expected: Vec<u8> = batch.iter().flat_map(|r| r.to_vec()).collect();
        let pointers: Vec<*const u8> = batch.iter().map(|r| r.as_ptr()).collect();
        let writes = channel_writes(batch);
        let sizes: Vec<usize> = writes.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [50, large, 40, large, large, 50]);
        // The large replies go out as they were built, not copied.
        assert_eq!(writes[1].as_ptr(), pointers[2]);
        assert_eq!(writes[4].as_ptr(), pointers[5]);
        assert_eq!(writes.concat(), expected);
    }

    #[test]
    fn a_lone_reply_is_passed_on_and_an_empty_batch_sends_nothing() {
        let batch = replies(&[20]);
        let pointer = batch[0].as_ptr();
        let writes = channel_writes(batch);
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].as_ptr(), pointer);
        assert!(channel_writes(Vec::new()).is_empty());
    }
}

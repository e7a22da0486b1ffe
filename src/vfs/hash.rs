//! Server-side file checksums (FTP `HASH`/`XSHA256`…, SFTP `check-file`): streamed, off-thread.
//!
//! The whole computation runs in one blocking task that reads large blocks with `pread`, so a
//! multi-gigabyte file costs one task, bounded memory, and no round trips through the runtime.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::storage::{RangeReader as _, Reader};

/// Bytes read per `pread` while hashing.
const HASH_BLOCK_BYTES: usize = 256 * 1024;

/// A checksum algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256 (32-byte digest).
    Sha256,
    /// SHA-1 (20-byte digest).
    Sha1,
    /// MD5 (16-byte digest).
    Md5,
    /// CRC-32 (IEEE), as 4 big-endian bytes.
    Crc32,
}

enum Hasher {
    Sha256(Sha256),
    Sha1(Sha1),
    Md5(Md5),
    Crc32(crc32fast::Hasher),
}

impl Hasher {
    fn new(algorithm: HashAlgorithm) -> Hasher {
        match algorithm {
            HashAlgorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            HashAlgorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            HashAlgorithm::Md5 => Hasher::Md5(Md5::new()),
            HashAlgorithm::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(hasher) => hasher.update(data),
            Hasher::Sha1(hasher) => hasher.update(data),
            Hasher::Md5(hasher) => hasher.update(data),
            Hasher::Crc32(hasher) => hasher.update(data),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha256(hasher) => hasher.finalize().to_vec(),
            Hasher::Sha1(hasher) => hasher.finalize().to_vec(),
            Hasher::Md5(hasher) => hasher.finalize().to_vec(),
            Hasher::Crc32(hasher) => hasher.finalize().to_be_bytes().to_vec(),
        }
    }
}

/// Hashes `length` bytes of `reader` from `offset` (fewer if the file ends first).
pub(crate) async fn hash_file(
    reader: &Reader,
    algorithm: HashAlgorithm,
    offset: u64,
    length: u64,
) -> std::io::Result<Vec<u8>> {
    let mut hasher = Hasher::new(algorithm);
    let mut position = offset;
    let end = offset.saturating_add(length);
    while position < end {
        let want = usize::try_from(end - position)
            .unwrap_or(usize::MAX)
            .min(HASH_BLOCK_BYTES);
        // Short only at the end of the file (`RangeReader::read_at`).
        let block = reader.read_at(position, want).await?;
        if block.is_empty() {
            break;
        }
        hasher.update(&block);
        position += block.len() as u64;
    }
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(algorithm: HashAlgorithm, data: &[u8], offset: u64, length: u64) -> String {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, data).unwrap();
        let reader = Reader::local(file);
        let hash = super::super::storage::wait_io(hash_file(&reader, algorithm, offset, length));
        hex::encode(hash.unwrap())
    }

    #[test]
    fn known_digests() {
        let data = b"The quick brown fox jumps over the lazy dog";
        let all = u64::MAX;
        assert_eq!(
            digest(HashAlgorithm::Sha256, data, 0, all),
            "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"
        );
        assert_eq!(
            digest(HashAlgorithm::Sha1, data, 0, all),
            "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"
        );
        assert_eq!(
            digest(HashAlgorithm::Md5, data, 0, all),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        assert_eq!(digest(HashAlgorithm::Crc32, data, 0, all), "414fa339");
        assert_eq!(
            digest(HashAlgorithm::Sha256, b"", 0, all),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn ranges_hash_only_their_bytes() {
        let data = b"xxThe quick brown fox jumps over the lazy dogyy";
        assert_eq!(
            digest(HashAlgorithm::Md5, data, 2, 43),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        assert_eq!(
            digest(HashAlgorithm::Md5, data, 1_000, 10),
            digest(HashAlgorithm::Md5, b"", 0, 0)
        );
    }

    #[test]
    fn large_input_crosses_blocks() {
        let data = vec![7u8; HASH_BLOCK_BYTES * 2 + 3];
        let expected = hex::encode(Sha256::digest(&data));
        assert_eq!(digest(HashAlgorithm::Sha256, &data, 0, u64::MAX), expected);
    }
}

//! Gathering small positional writes into blocks (temporary files only; see the module docs
//! of `upload`).

use std::sync::PoisonError;

use bytes::BytesMut;

use super::{Core, VfsError, WRITE_BLOCK_BYTES};

impl Core {
    /// Adds `data` at `offset` to the gathered block when it continues it and fits; otherwise
    /// starts a new block with it and returns the previous one, which must be written now.
    pub(super) fn gather(&self, offset: u64, data: &[u8]) -> Option<(u64, BytesMut)> {
        let mut gathered = self.gathered.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((start, block)) = gathered.as_mut() {
            let continues = *start + block.len() as u64 == offset;
            if continues && block.len() + data.len() <= WRITE_BLOCK_BYTES {
                block.extend_from_slice(data);
                return None;
            }
        }
        let mut block = BytesMut::with_capacity(WRITE_BLOCK_BYTES);
        block.extend_from_slice(data);
        gathered.replace((offset, block))
    }

    pub(super) fn take_gathered(&self) -> Option<(u64, BytesMut)> {
        self.gathered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Writes a gathered block (a failure poisons the writer, so `commit` fails too).
    pub(super) fn write_gathered_blocking(
        &self,
        offset: u64,
        block: BytesMut,
    ) -> Result<(), VfsError> {
        self.write_blocking(offset, block.freeze())
    }
}

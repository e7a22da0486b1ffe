//! `WriteMode`: how an upload treats its target (atomic replace, exclusive create, or in place).

/// How `UserFs::open_write` treats the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Write a temporary file and atomically replace (or create) the target on commit.
    Replace,
    /// Like `Replace`, but fail if the target exists, at open and again at commit (SFTP
    /// `EXCL`, FTP `STOU`).
    CreateNew,
    /// Append to the file, creating it when missing (FTP `APPE`); every write lands at the end,
    /// including `write_at` (as `O_APPEND` does).
    Append,
    /// Write in place from this offset without truncating (FTP `REST` + `STOR`); the file is
    /// created when missing.
    At(u64),
    /// Open for random writes without truncation, creating when missing (SFTP `WRITE`
    /// without `TRUNC`); the sequential position starts at 0.
    InPlace,
}

impl WriteMode {
    /// True for the modes that write a temporary file and rename it on commit.
    pub fn is_atomic(self) -> bool {
        matches!(self, WriteMode::Replace | WriteMode::CreateNew)
    }
}

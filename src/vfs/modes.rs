//! Permission bits: what clients may set, and what the umask leaves of what they create.
//!
//! Two kinds of request meet here. Creating something (an upload, a directory, the mode a
//! client sends along with an upload) is masked by the user's umask, as `open(2)` and
//! `mkdir(2)` are by a process umask. Changing the mode of something that exists (`SITE CHMOD`,
//! SFTP `SETSTAT`) is an explicit request and is applied as asked. Neither ever sets setuid,
//! setgid or sticky: a file server's clients have no business with them.

use std::time::SystemTime;

/// Permission bits a client may set: never setuid, setgid or sticky.
pub(crate) const SETTABLE_MODE_BITS: u32 = 0o777;

/// What a new file gets before the umask: read and write for all, as `open(2)` callers ask.
pub(crate) const NEW_FILE_MODE: u32 = 0o666;

/// What a new directory gets before the umask.
pub(crate) const NEW_DIR_MODE: u32 = 0o777;

/// The mode something created with `requested` gets under `umask`.
pub(crate) fn created_mode(requested: u32, umask: u32) -> u32 {
    requested & SETTABLE_MODE_BITS & !umask
}

/// The mode an explicit change to `requested` sets.
pub(crate) fn changed_mode(requested: u32) -> u32 {
    requested & SETTABLE_MODE_BITS
}

/// Attributes given to an upload as it is committed: on the temporary file, before the rename,
/// so the file appears with them (one step instead of a second path lookup afterwards).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitAttributes {
    /// Permission bits, as the client sent them: the new file gets them less the umask.
    pub mode: Option<u32>,
    /// Modification time, with the access time if given.
    pub times: Option<(SystemTime, Option<SystemTime>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_modes_lose_the_umask_and_special_bits_changed_modes_only_special_bits() {
        assert_eq!(created_mode(NEW_FILE_MODE, 0o022), 0o644);
        assert_eq!(created_mode(NEW_DIR_MODE, 0o027), 0o750);
        assert_eq!(created_mode(0o7777, 0), 0o777);
        assert_eq!(changed_mode(0o4755), 0o755);
        assert_eq!(changed_mode(0o1666), 0o666);
    }
}

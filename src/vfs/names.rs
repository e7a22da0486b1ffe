//! File-name policy: the reserved names of in-progress uploads and denied upload patterns.
//!
//! Atomic uploads write to a hidden temporary name next to their target. No client may see,
//! open, overwrite or create such a name, or it could read half-written data or clobber another
//! session's upload; so the prefix is hidden from listings and refused in every path. Denied
//! upload patterns (`*.exe`) are the administrator's list of names nobody may create.
//!
//! Which temporary names belong to a running upload is recorded here, process-wide
//! ([`TempName`]): a temporary file whose name nobody owns was left by a crash (or by a kill),
//! and `leftovers` may remove it without racing a live writer.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Prefix of every temporary upload file. Case-insensitive, for case-folding file systems.
pub(crate) const TEMP_PREFIX: &str = ".ferryd-upload-";

/// True when `name` is reserved for the VFS's own temporary files.
pub(crate) fn is_reserved(name: &str) -> bool {
    name.len() >= TEMP_PREFIX.len()
        && name.as_bytes()[..TEMP_PREFIX.len()].eq_ignore_ascii_case(TEMP_PREFIX.as_bytes())
}

/// Temporary names owned by a live writer, or claimed by whoever is removing a leftover; one
/// record for the whole process, because every session and every sweep must agree on it.
/// A name enters before its file is created and leaves after the file is renamed or removed,
/// so a file with an unowned name is one no running upload will ever touch again.
static OWNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Ownership of one temporary name; the name is released when this is dropped.
#[derive(Debug)]
pub(crate) struct TempName {
    name: String,
}

impl TempName {
    /// The file name.
    pub(crate) fn as_str(&self) -> &str {
        &self.name
    }
}

impl AsRef<OsStr> for TempName {
    fn as_ref(&self) -> &OsStr {
        OsStr::new(&self.name)
    }
}

impl AsRef<Path> for TempName {
    fn as_ref(&self) -> &Path {
        Path::new(&self.name)
    }
}

impl Drop for TempName {
    fn drop(&mut self) {
        owned().remove(&self.name);
    }
}

fn owned() -> MutexGuard<'static, BTreeSet<String>> {
    // A set of names stays consistent even if a holder panicked.
    OWNED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fresh temporary name, owned by the caller until the returned guard is dropped. It does
/// not include the target's name so that it stays short (a 255-byte target name plus a prefix
/// would exceed `NAME_MAX`); 64 random bits make a clash negligible, a name already owned is
/// drawn again, and files are created with `O_EXCL` anyway.
pub(crate) fn temp_name() -> TempName {
    loop {
        let name = format!("{TEMP_PREFIX}{:016x}{TEMP_SUFFIX}", rand::random::<u64>());
        if let Some(owned) = claim(&name) {
            return owned;
        }
    }
}

/// Takes ownership of `name` for handling a leftover; `None` while someone else owns it (a
/// live upload, or another sweep).
pub(crate) fn claim(name: &str) -> Option<TempName> {
    owned().insert(name.to_owned()).then(|| TempName {
        name: name.to_owned(),
    })
}

/// True when a live writer (or a sweep) owns `name` right now.
#[cfg(test)]
pub(crate) fn is_owned(name: &str) -> bool {
    owned().contains(name)
}

/// Suffix of every temporary upload file.
const TEMP_SUFFIX: &str = ".part";

/// True when `name` has exactly the shape `temp_name` produces: only such files are treated
/// as leftovers (skipped by quotas, removed by sweeps), never anything else that merely
/// starts with the reserved prefix.
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX)
        .and_then(|rest| rest.strip_suffix(TEMP_SUFFIX))
        .is_some_and(|hex| {
            hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

/// Glob patterns of file names nobody may upload; `*` and `?` only, case-insensitive.
#[derive(Clone, Debug, Default)]
pub(crate) struct DeniedPatterns {
    /// Lower-cased patterns as characters, so `?` matches one character, not one byte.
    patterns: Vec<Vec<char>>,
}

impl DeniedPatterns {
    /// Compiles the configured patterns; empty patterns are ignored.
    pub(crate) fn new(patterns: &[String]) -> DeniedPatterns {
        DeniedPatterns {
            patterns: patterns
                .iter()
                .filter(|pattern| !pattern.is_empty())
                .map(|pattern| pattern.to_lowercase().chars().collect())
                .collect(),
        }
    }

    /// True when `name` (one file name) matches any pattern.
    pub(crate) fn is_denied(&self, name: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let name: Vec<char> = name.to_lowercase().chars().collect();
        self.patterns
            .iter()
            .any(|pattern| glob_matches(pattern, &name))
    }
}

/// Iterative wildcard match with single-star backtracking: linear in practice and never
/// exponential, whatever a configured pattern looks like.
fn glob_matches(pattern: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                backtrack = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    p = star + 1;
                    n = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(patterns: &[&str], name: &str) -> bool {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        DeniedPatterns::new(&patterns).is_denied(name)
    }

    #[test]
    fn glob_table() {
        assert!(denied(&["*.exe"], "setup.exe"));
        assert!(denied(&["*.exe"], "SETUP.EXE"));
        assert!(denied(&["*.EXE"], "setup.exe"));
        assert!(!denied(&["*.exe"], "setup.exe.txt"));
        assert!(denied(&["*.exe*"], "setup.exe.txt"));
        assert!(denied(&["?.sh"], "a.sh"));
        assert!(!denied(&["?.sh"], "ab.sh"));
        assert!(denied(&["a*b*c"], "axxbyyc"));
        assert!(!denied(&["a*b*c"], "axxbyy"));
        assert!(denied(&["*"], "anything"));
        assert!(denied(&["ünï?"], "ÜNÏX"));
        assert!(!denied(&[], "x"));
        assert!(!denied(&[""], "x"));
        assert!(denied(&["*.bat", "*.exe"], "x.bat"));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let pattern = format!("{}b", "*a".repeat(50));
        let name = "a".repeat(200);
        assert!(!denied(&[&pattern], &name));
    }

    #[test]
    fn reserved_names() {
        assert!(is_reserved(temp_name().as_str()));
        assert!(is_reserved(".FERRYD-UPLOAD-x"));
        assert!(!is_reserved(".ferryd-uploa"));
        assert!(!is_reserved("ferryd-upload-x"));
        assert!(!is_reserved("é"));
        assert_ne!(temp_name().as_str(), temp_name().as_str());
    }

    #[test]
    fn only_the_generated_shape_is_a_temp_name() {
        assert!(is_temp_name(temp_name().as_str()));
        assert!(is_temp_name(".ferryd-upload-0123456789abcdef.part"));
        assert!(!is_temp_name(".ferryd-upload-0123456789ABCDEF.part"));
        assert!(!is_temp_name(".ferryd-upload-0123456789abcde.part"));
        assert!(!is_temp_name(".ferryd-upload-0123456789abcdef.part.x"));
        assert!(!is_temp_name(".ferryd-upload-notes.txt"));
        assert!(!is_temp_name("ferryd-upload-0123456789abcdef.part"));
    }

    #[test]
    fn a_name_is_owned_from_creation_until_its_guard_is_dropped() {
        let name = temp_name();
        let text = name.as_str().to_owned();
        assert!(is_owned(&text));
        // Neither a sweep nor a second writer can take a name that is in use.
        assert!(claim(&text).is_none());
        drop(name);
        assert!(!is_owned(&text));
        let claimed = claim(&text).unwrap();
        assert!(is_owned(&text));
        assert!(claim(&text).is_none());
        drop(claimed);
        assert!(!is_owned(&text));
    }
}

//! File-name policy: the reserved names of in-progress uploads and denied upload patterns.
//!
//! Atomic uploads write to a hidden temporary name next to their target. No client may see,
//! open, overwrite or create such a name, or it could read half-written data or clobber another
//! session's upload; so the prefix is hidden from listings and refused in every path. Denied
//! upload patterns (`*.exe`) are the administrator's list of names nobody may create.

/// Prefix of every temporary upload file. Case-insensitive, for case-folding file systems.
pub(crate) const TEMP_PREFIX: &str = ".ferryd-upload-";

/// True when `name` is reserved for the VFS's own temporary files.
pub(crate) fn is_reserved(name: &str) -> bool {
    name.len() >= TEMP_PREFIX.len()
        && name.as_bytes()[..TEMP_PREFIX.len()].eq_ignore_ascii_case(TEMP_PREFIX.as_bytes())
}

/// A temporary file untouched for this long belongs to no live upload (every write updates
/// its mtime); it was left by a crash and may be removed.
pub(crate) const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// True when `name` is a temporary upload file last modified before `STALE_TEMP_AGE` ago.
pub(crate) fn is_stale_temp(name: &str, modified: std::time::SystemTime) -> bool {
    is_reserved(name)
        && modified
            .elapsed()
            .map(|age| age > STALE_TEMP_AGE)
            .unwrap_or(false)
}

/// A fresh temporary name. It does not include the target's name so that it stays short
/// (a 255-byte target name plus a prefix would exceed `NAME_MAX`); 64 random bits make a clash
/// with a concurrent upload negligible, and files are created with `O_EXCL` anyway.
pub(crate) fn temp_name() -> String {
    format!("{TEMP_PREFIX}{:016x}.part", rand::random::<u64>())
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
        assert!(is_reserved(&temp_name()));
        assert!(is_reserved(".FERRYD-UPLOAD-x"));
        assert!(!is_reserved(".ferryd-uploa"));
        assert!(!is_reserved("ferryd-upload-x"));
        assert!(!is_reserved("é"));
        assert_ne!(temp_name(), temp_name());
    }

    #[test]
    fn only_old_temp_files_are_stale() {
        let old = std::time::SystemTime::now() - STALE_TEMP_AGE * 2;
        let fresh = std::time::SystemTime::now();
        assert!(is_stale_temp(&temp_name(), old));
        assert!(!is_stale_temp(&temp_name(), fresh));
        assert!(!is_stale_temp("user-file", old));
    }
}

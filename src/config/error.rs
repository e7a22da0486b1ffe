//! `ConfigError`: every problem in a config file, each with its key path and line.
//!
//! An admin fixing a config wants the whole list at once, so validation collects problems
//! instead of stopping at the first one.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `ftps.passive_ports`.
    pub key: String,
    /// 1-based line and column of the key in the file, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong, in words an admin can act on.
    pub message: String,
}

/// A config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file was read but has one or more problems.
    #[error("{}", Problems { path, problems })]
    Invalid {
        /// The file (or `<built-in>` for a config built in code).
        path: PathBuf,
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems, empty for a read error.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid { problems, .. } => problems,
        }
    }
}

struct Problems<'a> {
    path: &'a Path,
    problems: &'a [Problem],
}

impl fmt::Display for Problems<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            formatter,
            "{} has {count} problem{}:",
            self.path.display(),
            if count == 1 { "" } else { "s" }
        )?;
        for problem in self.problems {
            write!(formatter, "\n  {}", self.path.display())?;
            if let Some((line, column)) = problem.position {
                write!(formatter, ":{line}:{column}")?;
            }
            write!(formatter, ": {}: {}", problem.key, problem.message)?;
        }
        Ok(())
    }
}

/// Finds where `section.key` is written in `source`, for problems found after parsing.
///
/// TOML allows the same key in several syntaxes; ferryd's files use the common
/// `[section]` + `key = value` form, and a miss simply means no line number.
pub(super) fn locate(source: &str, key_path: &str) -> Option<(usize, usize)> {
    let (section, key) = key_path.split_once('.')?;
    let key = key.split(['[', '.']).next().unwrap_or(key);
    let mut in_section = false;
    for (index, line) in source.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            let header = trimmed
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("");
            in_section = header.trim() == section;
            continue;
        }
        if in_section {
            if let Some((name, _)) = trimmed.split_once('=') {
                if name.trim() == key {
                    return Some((index + 1, line.len() - trimmed.len() + 1));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_key_in_its_section() {
        let source = "[server]\nlisten = 1\n\n[ftps]\n  listen = \"x\"\n";
        assert_eq!(locate(source, "ftps.listen"), Some((5, 3)));
        assert_eq!(locate(source, "server.listen"), Some((2, 1)));
        assert_eq!(locate(source, "sftp.listen"), None);
    }

    #[test]
    fn display_lists_every_problem_with_position() {
        let error = ConfigError::Invalid {
            path: PathBuf::from("f.toml"),
            problems: vec![
                Problem {
                    key: "ftps.listen".into(),
                    position: Some((3, 1)),
                    message: "bad".into(),
                },
                Problem {
                    key: "sftp.listen".into(),
                    position: None,
                    message: "worse".into(),
                },
            ],
        };
        assert_eq!(
            error.to_string(),
            "f.toml has 2 problems:\n  f.toml:3:1: ftps.listen: bad\n  f.toml: sftp.listen: worse"
        );
    }
}

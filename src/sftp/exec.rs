//! The `exec` allow-list: `md5sum`, `sha1sum` and `sha256sum`, answered in-process, and
//! `scp -t` / `scp -f`, handed to `sftp::scp`.
//!
//! No shell ever runs. The command line is split into words with the quoting rules rclone and
//! humans use (single quotes, double quotes, backslash escapes); anything that would need a
//! shell (`;`, `|`, `$`, globs, redirection, …) makes the command refused as a whole. File
//! arguments are paths inside the user's view and are hashed through `UserFs::hash`, so the
//! same permissions and confinement apply as to a download. Without arguments the command
//! hashes what the client sends on stdin, as coreutils does (rclone probes for the command that
//! way). Output and exit status match coreutils: `<hex>  <name>` per file, status 1 if any
//! file failed.

use md5::Md5;
use russh::server::Msg;
use russh::{Channel, ChannelMsg};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::proto::scp::{self, Invocation};
use crate::vfs::{HashAlgorithm, UserFs, VirtualPath};

/// Most bytes hashed from stdin: enough for any probe, bounded against abuse.
const MAX_STDIN_BYTES: usize = 64 * 1024 * 1024;

/// Most files one command may name.
const MAX_FILES: usize = 1024;

/// The refusal text sent on stderr for anything not on the allow-list.
pub(crate) const REFUSAL: &str =
    "ferryd is an SFTP server: only md5sum, sha1sum and sha256sum of files may be run\r\n";

/// An allowed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HashCommand {
    /// The program name as typed (`md5sum`, …), for messages.
    pub program: &'static str,
    /// Which hash.
    pub algorithm: HashAlgorithm,
    /// Files to hash; empty means stdin.
    pub files: Vec<String>,
}

/// A command on the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// `md5sum`, `sha1sum`, `sha256sum`: answered here ([`run`]).
    Hash(HashCommand),
    /// `scp -t` / `scp -f`: the legacy SCP protocol (`sftp::scp`).
    Scp(Invocation),
}

/// Parses an `exec` command line; `None` means refuse.
pub(crate) fn parse(command: &[u8]) -> Option<Command> {
    let text = std::str::from_utf8(command).ok()?;
    let words = split_words(text)?;
    if words.first().is_some_and(|program| program == "scp") {
        return scp::parse_command(&words).ok().map(Command::Scp);
    }
    parse_hash(words).map(Command::Hash)
}

fn parse_hash(words: Vec<String>) -> Option<HashCommand> {
    let mut words = words.into_iter();
    let (program, algorithm) = match words.next()?.as_str() {
        "md5sum" => ("md5sum", HashAlgorithm::Md5),
        "sha1sum" => ("sha1sum", HashAlgorithm::Sha1),
        "sha256sum" => ("sha256sum", HashAlgorithm::Sha256),
        _ => return None,
    };
    let files: Vec<String> = words.collect();
    if files.len() > MAX_FILES || files.iter().any(|file| file.starts_with('-')) {
        return None;
    }
    Some(HashCommand {
        program,
        algorithm,
        files,
    })
}

/// Runs `command` on `channel` and closes it with the command's exit status.
pub(crate) async fn run(channel: Channel<Msg>, command: HashCommand, fs: UserFs) {
    let (mut read, write) = channel.split();
    let mut stdout = String::new();
    let mut stderr = String::new();
    if command.files.is_empty() {
        match hash_stdin(&mut read, command.algorithm).await {
            Some(digest) => stdout.push_str(&format!("{}  -\n", hex::encode(digest))),
            None => stderr.push_str(&format!("{}: -: input too large\n", command.program)),
        }
    }
    for file in &command.files {
        let result = match VirtualPath::root().resolve(file) {
            Ok(path) => fs
                .hash(&path, command.algorithm, None)
                .await
                .map_err(|error| error.kind.description().to_owned()),
            Err(error) => Err(error.to_string()),
        };
        match result {
            Ok(digest) => stdout.push_str(&format!("{}  {file}\n", hex::encode(digest))),
            Err(reason) => stderr.push_str(&format!("{}: {file}: {reason}\n", command.program)),
        }
    }
    let status = u32::from(!stderr.is_empty());
    tracing::info!(
        program = command.program,
        files = command.files.len(),
        status,
        "exec"
    );
    // Every send fails only when the client has gone, and then there is nobody to tell.
    if !stdout.is_empty() {
        let _ = write.data_bytes(stdout.into_bytes()).await;
    }
    if !stderr.is_empty() {
        let _ = write.extended_data_bytes(1, stderr.into_bytes()).await;
    }
    let _ = write.exit_status(status).await;
    let _ = write.eof().await;
    let _ = write.close().await;
}

async fn hash_stdin(
    read: &mut russh::ChannelReadHalf,
    algorithm: HashAlgorithm,
) -> Option<Vec<u8>> {
    let mut hasher = StreamHasher::new(algorithm);
    let mut total = 0usize;
    loop {
        match read.wait().await {
            Some(ChannelMsg::Data { data }) => {
                total += data.len();
                if total > MAX_STDIN_BYTES {
                    return None;
                }
                hasher.update(&data);
            }
            Some(ChannelMsg::Eof | ChannelMsg::Close) | None => return Some(hasher.finish()),
            Some(_) => {}
        }
    }
}

enum StreamHasher {
    Md5(Md5),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl StreamHasher {
    fn new(algorithm: HashAlgorithm) -> StreamHasher {
        match algorithm {
            HashAlgorithm::Md5 => StreamHasher::Md5(Md5::new()),
            HashAlgorithm::Sha1 => StreamHasher::Sha1(Sha1::new()),
            // CRC-32 is never parsed from a command line; SHA-256 is the safe stand-in.
            HashAlgorithm::Sha256 | HashAlgorithm::Crc32 => StreamHasher::Sha256(Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            StreamHasher::Md5(hasher) => hasher.update(data),
            StreamHasher::Sha1(hasher) => hasher.update(data),
            StreamHasher::Sha256(hasher) => hasher.update(data),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            StreamHasher::Md5(hasher) => hasher.finalize().to_vec(),
            StreamHasher::Sha1(hasher) => hasher.finalize().to_vec(),
            StreamHasher::Sha256(hasher) => hasher.finalize().to_vec(),
        }
    }
}

/// Splits a command line into words; `None` if it uses any shell feature.
fn split_words(text: &str) -> Option<Vec<String>> {
    const SHELL_SYNTAX: &str = ";&|<>()$`*?[]{}!#\n\r";
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        inner => word.push(inner),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            escaped @ ('"' | '\\' | '$' | '`') => word.push(escaped),
                            other => {
                                word.push('\\');
                                word.push(other);
                            }
                        },
                        '$' | '`' => return None,
                        inner => word.push(inner),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next()?);
            }
            c if c == ' ' || c == '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c if SHELL_SYNTAX.contains(c) => return None,
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(command: &str) -> Option<Vec<String>> {
        hash(command).map(|parsed| parsed.files)
    }

    fn hash(command: &str) -> Option<HashCommand> {
        match parse(command.as_bytes()) {
            Some(Command::Hash(parsed)) => Some(parsed),
            _ => None,
        }
    }

    #[test]
    fn allowed_commands_with_quoting() {
        let parsed = hash("sha256sum 'a b.txt' dir/c\\ d \"e\\\"f\"").unwrap();
        assert_eq!(parsed.program, "sha256sum");
        assert_eq!(parsed.files, ["a b.txt", "dir/c d", "e\"f"]);
        assert_eq!(files("md5sum"), Some(Vec::new()));
        assert_eq!(files("sha1sum   x  "), Some(vec!["x".to_owned()]));
        // rclone's shellEscape output for "/dir/a b(1).txt".
        assert_eq!(
            files("md5sum /dir/a\\ b\\(1\\).txt"),
            Some(vec!["/dir/a b(1).txt".to_owned()])
        );
    }

    #[test]
    fn everything_else_is_refused() {
        for command in [
            "ls",
            "sh -c md5sum",
            "md5sum x; rm -rf /",
            "md5sum x | cat",
            "md5sum $(id)",
            "md5sum \"$HOME\"",
            "md5sum *.txt",
            "md5sum 'unterminated",
            "md5sum --version",
            "md5sum x > y",
            "scp -t /a /b",
            "scp -S /bin/sh -t /",
            "scp -t / ; ls",
            "scp -f '*.txt'x*",
            "",
        ] {
            assert_eq!(parse(command.as_bytes()), None, "{command}");
        }
    }
    #[test]
    fn scp_uploads_and_downloads_are_allowed() {
        for command in ["scp -t /", "scp -v -r -p -d -t -- 'a b'", "scp -f x y"] {
            let parsed = parse(command.as_bytes());
            assert!(matches!(parsed, Some(Command::Scp(_))), "{command}");
        }
    }
}

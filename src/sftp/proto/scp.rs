//! The SCP protocol (OpenSSH `scp.c`'s "legacy" protocol, `scp -O`): the command line an SSH
//! `exec` request carries, the control records (`C`, `D`, `E`, `T` lines), the one-byte
//! acknowledgements (`0x00`, and `0x01`/`0x02` followed by a message line), and their encoding.
//! No I/O.
//!
//! The protocol has no specification besides OpenSSH's `scp.c` (`source()`, `sink()`,
//! `response()`); PuTTY's `pscp`, Dropbear and BusyBox speak the same bytes. Every record is a
//! line ending in `\n`; lines are bounded by [`MAX_LINE_BYTES`] before anything is allocated
//! for them, sizes are checked to fit a `u64` and never used to size a buffer, modes must be
//! octal, and names must be one path component (no `/`, not `.` or `..`), so a record can
//! never address anything outside the directory it is sent into.

use std::fmt::Write as _;

/// Longest control line accepted, `\n` included (OpenSSH's sink reads into 2 KiB).
pub const MAX_LINE_BYTES: usize = 4096;

/// Longest name in a `C` or `D` record (a file name, as most file systems limit it).
pub const MAX_NAME_BYTES: usize = 255;

/// Most paths one `scp -f` command may name.
pub const MAX_SOURCES: usize = 1024;

/// What an `scp` command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Sink (`-t`, the client uploads) or source (`-f`, the client downloads).
    pub direction: Direction,
    /// `-r`: directories are sent (`D`…`E`) and accepted.
    pub recursive: bool,
    /// `-p`: modification and access times (`T` records) and modes are kept.
    pub preserve: bool,
    /// `-d`: the target must be a directory.
    pub target_is_dir: bool,
}

/// The two roles of the server end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Direction {
    /// `scp -t TARGET`: the server receives files into `TARGET`.
    Sink(String),
    /// `scp -f PATH…`: the server sends these paths.
    Source(Vec<String>),
}

/// Why an `scp` command line is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The program is not `scp`.
    #[error("not an scp command")]
    NotScp,
    /// An option this server does not implement (or a malformed one).
    #[error("unsupported scp option {0:?}")]
    UnsupportedOption(String),
    /// Neither `-t` nor `-f`, or both.
    #[error("scp needs exactly one of -t and -f")]
    NoDirection,
    /// `-t` with other than one target, `-f` with no path or too many.
    #[error("wrong number of paths")]
    WrongPathCount,
}

/// Parses the words of an `exec` command line (already split, no shell involved).
pub fn parse_command(words: &[String]) -> Result<Invocation, CommandError> {
    let Some((program, rest)) = words.split_first() else {
        return Err(CommandError::NotScp);
    };
    if program != "scp" {
        return Err(CommandError::NotScp);
    }
    let (mut sink, mut source) = (false, false);
    let mut invocation = Invocation {
        direction: Direction::Sink(String::new()),
        recursive: false,
        preserve: false,
        target_is_dir: false,
    };
    let mut paths = Vec::new();
    let mut options_done = false;
    for word in rest {
        if options_done || !word.starts_with('-') || word == "-" {
            paths.push(word.clone());
            continue;
        }
        if word == "--" {
            options_done = true;
            continue;
        }
        for flag in word.chars().skip(1) {
            match flag {
                't' => sink = true,
                'f' => source = true,
                'r' => invocation.recursive = true,
                'p' => invocation.preserve = true,
                'd' => invocation.target_is_dir = true,
                // Verbose, and the client-side "no remote-to-remote" marker some scps send.
                'v' | 'q' => {}
                _ => return Err(CommandError::UnsupportedOption(word.clone())),
            }
        }
    }
    invocation.direction = match (sink, source) {
        (true, false) => match <[String; 1]>::try_from(paths) {
            Ok([target]) => Direction::Sink(target),
            Err(_) => return Err(CommandError::WrongPathCount),
        },
        (false, true) => {
            if paths.is_empty() || paths.len() > MAX_SOURCES {
                return Err(CommandError::WrongPathCount);
            }
            Direction::Source(paths)
        }
        _ => return Err(CommandError::NoDirection),
    };
    Ok(invocation)
}

/// One record from the sending side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// `T<mtime> <usec> <atime> <usec>`: times for the next `C` or `D` (seconds since the epoch).
    Times {
        /// Modification time.
        mtime: u64,
        /// Access time.
        atime: u64,
    },
    /// `C<mode> <size> <name>`: a regular file of `size` bytes follows.
    File {
        /// Permission bits (at most `0o7777`).
        mode: u32,
        /// The size the sender announces; never trusted to size a buffer.
        size: u64,
        /// One path component.
        name: String,
    },
    /// `D<mode> 0 <name>`: a directory; its entries follow, then `E`.
    Dir {
        /// Permission bits (at most `0o7777`).
        mode: u32,
        /// One path component.
        name: String,
    },
    /// `E`: the end of the current directory.
    End,
    /// `0x01 message`: the sender had a problem with one file and goes on.
    Warning(String),
    /// `0x02 message`: the sender gives up.
    Fatal(String),
}

/// An acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// `0x00`.
    Ok,
    /// `0x01 message\n`: this file failed, go on.
    Warning(String),
    /// `0x02 message\n`: the peer gives up.
    Fatal(String),
}

/// Why a record or acknowledgement is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// No `\n` within [`MAX_LINE_BYTES`].
    #[error("line too long")]
    LineTooLong,
    /// The first byte is no record type.
    #[error("unexpected record type")]
    UnknownType,
    /// The mode is not 1 to 4 octal digits followed by a space.
    #[error("bad mode")]
    BadMode,
    /// The size is not a decimal number that fits 64 bits.
    #[error("bad size")]
    BadSize,
    /// A time is not a decimal number, or its microseconds are out of range.
    #[error("bad time")]
    BadTime,
    /// The name is empty, too long, not UTF-8, or not a single path component.
    #[error("bad file name")]
    BadName,
    /// Extra or missing fields.
    #[error("malformed record")]
    Malformed,
}

/// Splits the first line off `buffer`: `Ok(Some(len))` when `buffer[..len]` is a whole line
/// (its `\n` included), `Ok(None)` when more bytes are needed, an error when no `\n` can
/// arrive within the limit.
pub fn line_length(buffer: &[u8]) -> Result<Option<usize>, RecordError> {
    let window = &buffer[..buffer.len().min(MAX_LINE_BYTES)];
    match window.iter().position(|&byte| byte == b'\n') {
        Some(index) => Ok(Some(index + 1)),
        None if buffer.len() >= MAX_LINE_BYTES => Err(RecordError::LineTooLong),
        None => Ok(None),
    }
}

/// Parses one record line (with or without its `\n`).
pub fn parse_record(line: &[u8]) -> Result<Record, RecordError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let Some((&kind, body)) = line.split_first() else {
        return Err(RecordError::UnknownType);
    };
    match kind {
        b'C' => {
            let (mode, size, name) = mode_size_name(body)?;
            Ok(Record::File { mode, size, name })
        }
        b'D' => {
            let (mode, _, name) = mode_size_name(body)?;
            Ok(Record::Dir { mode, name })
        }
        b'E' if body.is_empty() => Ok(Record::End),
        b'E' => Err(RecordError::Malformed),
        b'T' => parse_times(body),
        1 => Ok(Record::Warning(message(body))),
        2 => Ok(Record::Fatal(message(body))),
        _ => Err(RecordError::UnknownType),
    }
}

/// Parses an acknowledgement at the start of `buffer`: `Ok(Some((ack, consumed)))`, or
/// `Ok(None)` when more bytes are needed.
pub fn parse_ack(buffer: &[u8]) -> Result<Option<(Ack, usize)>, RecordError> {
    match buffer.first() {
        None => Ok(None),
        Some(0) => Ok(Some((Ack::Ok, 1))),
        Some(1 | 2) => {
            let Some(len) = line_length(buffer)? else {
                return Ok(None);
            };
            let text = message(&buffer[1..len - 1]);
            let ack = if buffer[0] == 1 {
                Ack::Warning(text)
            } else {
                Ack::Fatal(text)
            };
            Ok(Some((ack, len)))
        }
        Some(_) => Err(RecordError::UnknownType),
    }
}

/// `C<mode> <size> <name>\n`.
pub fn encode_file(mode: u32, size: u64, name: &str) -> Vec<u8> {
    format!(
        "C{:04o} {size} {}\n",
        mode & 0o7777,
        name.replace('\n', " ")
    )
    .into_bytes()
}

/// `D<mode> 0 <name>\n`.
pub fn encode_dir(mode: u32, name: &str) -> Vec<u8> {
    format!("D{:04o} 0 {}\n", mode & 0o7777, name.replace('\n', " ")).into_bytes()
}

/// `T<mtime> 0 <atime> 0\n`.
pub fn encode_times(mtime: u64, atime: u64) -> Vec<u8> {
    format!("T{mtime} 0 {atime} 0\n").into_bytes()
}

/// `E\n`.
pub const END: &[u8] = b"E\n";

/// The positive acknowledgement.
pub const OK: &[u8] = &[0];

/// An error line: `0x01` (this file failed) or, when `fatal`, `0x02` (the transfer ends),
/// then `scp: <message>\n` as OpenSSH's `run_err` words it. Newlines in `message` are
/// replaced so it stays one line.
pub fn encode_error(fatal: bool, message: &str) -> Vec<u8> {
    let mut out = vec![if fatal { 2 } else { 1 }];
    let mut text = String::with_capacity(message.len() + 6);
    let _ = write!(text, "scp: {}", one_line(message));
    let mut bytes = text.into_bytes();
    bytes.truncate(MAX_LINE_BYTES - 2);
    out.extend_from_slice(&bytes);
    out.push(b'\n');
    out
}

/// Whether `name` can be sent as one path component in a record (what a listing may hold
/// but a record cannot carry is skipped by the source).
pub fn is_sendable_name(name: &str) -> bool {
    check_name(name.as_bytes()).is_ok()
}

fn mode_size_name(body: &[u8]) -> Result<(u32, u64, String), RecordError> {
    let mut fields = body.splitn(3, |&byte| byte == b' ');
    let mode = parse_mode(fields.next().ok_or(RecordError::Malformed)?)?;
    let size =
        parse_decimal(fields.next().ok_or(RecordError::Malformed)?).ok_or(RecordError::BadSize)?;
    let name = check_name(fields.next().ok_or(RecordError::Malformed)?)?;
    Ok((mode, size, name))
}

fn parse_mode(field: &[u8]) -> Result<u32, RecordError> {
    if field.is_empty() || field.len() > 4 {
        return Err(RecordError::BadMode);
    }
    field.iter().try_fold(0u32, |mode, &digit| match digit {
        b'0'..=b'7' => Ok(mode << 3 | u32::from(digit - b'0')),
        _ => Err(RecordError::BadMode),
    })
}

fn parse_decimal(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 20 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    field.iter().try_fold(0u64, |value, &digit| {
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

fn parse_times(body: &[u8]) -> Result<Record, RecordError> {
    let fields: Vec<&[u8]> = body.split(|&byte| byte == b' ').take(5).collect();
    let [mtime, mtime_usec, atime, atime_usec] = fields[..] else {
        return Err(RecordError::Malformed);
    };
    let seconds = |field: &[u8]| parse_decimal(field).ok_or(RecordError::BadTime);
    let micros = |field: &[u8]| match parse_decimal(field) {
        Some(usec) if usec < 1_000_000 => Ok(()),
        _ => Err(RecordError::BadTime),
    };
    micros(mtime_usec)?;
    micros(atime_usec)?;
    Ok(Record::Times {
        mtime: seconds(mtime)?,
        atime: seconds(atime)?,
    })
}

fn check_name(raw: &[u8]) -> Result<String, RecordError> {
    let name = std::str::from_utf8(raw).map_err(|_| RecordError::BadName)?;
    let bad = name.is_empty()
        || name.len() > MAX_NAME_BYTES
        || name == "."
        || name == ".."
        || name.contains(['/', '\0', '\n']);
    if bad {
        return Err(RecordError::BadName);
    }
    Ok(name.to_owned())
}

fn message(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn check(line: &[u8], expected: Result<Record, RecordError>) {
        assert_eq!(
            parse_record(line),
            expected,
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }

    fn file(mode: u32, size: u64, name: &str) -> Result<Record, RecordError> {
        Ok(Record::File {
            mode,
            size,
            name: name.to_owned(),
        })
    }

    #[test]
    fn command_lines_of_openssh_pscp_dropbear_and_busybox() {
        let sink = |target: &str| Direction::Sink(target.to_owned());
        let parsed = parse_command(&words("scp -v -r -p -d -t -- /up")).unwrap();
        assert_eq!(
            parsed,
            Invocation {
                direction: sink("/up"),
                recursive: true,
                preserve: true,
                target_is_dir: true,
            }
        );
        assert_eq!(
            parse_command(&words("scp -t .")).unwrap().direction,
            sink(".")
        );
        let parsed = parse_command(&words("scp -rpf a b")).unwrap();
        assert!(parsed.recursive && parsed.preserve && !parsed.target_is_dir);
        assert_eq!(
            parsed.direction,
            Direction::Source(vec!["a".to_owned(), "b".to_owned()])
        );
        let dashed = parse_command(&words("scp -f -- -name")).unwrap();
        assert_eq!(
            dashed.direction,
            Direction::Source(vec!["-name".to_owned()])
        );
    }

    #[test]
    fn other_command_lines_are_refused() {
        for (line, error) in [
            ("", CommandError::NotScp),
            ("/usr/bin/scp -t x", CommandError::NotScp),
            (
                "scp -S sh -t x",
                CommandError::UnsupportedOption("-S".into()),
            ),
            ("scp -3 -t x", CommandError::UnsupportedOption("-3".into())),
            ("scp x", CommandError::NoDirection),
            ("scp -t -f x", CommandError::NoDirection),
            ("scp -t", CommandError::WrongPathCount),
            ("scp -t a b", CommandError::WrongPathCount),
            ("scp -f", CommandError::WrongPathCount),
        ] {
            assert_eq!(parse_command(&words(line)), Err(error), "{line}");
        }
    }

    #[test]
    fn records_parse() {
        check(b"C0644 12 a b.txt\n", file(0o644, 12, "a b.txt"));
        check(b"C755 0 x", file(0o755, 0, "x"));
        check(
            b"C0644 18446744073709551615 big\n",
            file(0o644, u64::MAX, "big"),
        );
        check(
            b"D0750 0 dir\n",
            Ok(Record::Dir {
                mode: 0o750,
                name: "dir".to_owned(),
            }),
        );
        check(b"E\n", Ok(Record::End));
        check(
            b"T1700000000 0 1700000001 999999\n",
            Ok(Record::Times {
                mtime: 1_700_000_000,
                atime: 1_700_000_001,
            }),
        );
        check(
            b"\x01scp: oops\n",
            Ok(Record::Warning("scp: oops".to_owned())),
        );
        check(b"\x02fatal\n", Ok(Record::Fatal("fatal".to_owned())));
    }

    #[test]
    fn malformed_records_are_refused() {
        use RecordError::*;
        for (line, error) in [
            (&b"C0644 12\n"[..], Malformed),
            (b"C0648 1 x", BadMode),
            (b"C06440 1 x", BadMode),
            (b"C 1 x", BadMode),
            (b"Crwx 1 x", BadMode),
            (b"C0644 -1 x", BadSize),
            (b"C0644 +1 x", BadSize),
            (b"C0644 1x x", BadSize),
            (b"C0644 18446744073709551616 x", BadSize),
            (b"C0644 99999999999999999999999 x", BadSize),
            (b"C0644  x", BadSize),
            (b"C0644 1 ", BadName),
            (b"C0644 1 .", BadName),
            (b"C0644 1 ..", BadName),
            (b"C0644 1 a/b", BadName),
            (b"C0644 1 /etc/passwd", BadName),
            (b"C0644 1 a\0b", BadName),
            (b"C0644 1 \xff", BadName),
            (b"D0755 0 ../up", BadName),
            (b"E junk", Malformed),
            (b"T1 0 2", Malformed),
            (b"T1 0 2 0 9", Malformed),
            (b"T1 1000000 2 0", BadTime),
            (b"T-1 0 2 0", BadTime),
            (b"X", UnknownType),
            (b"", UnknownType),
        ] {
            check(line, Err(error));
        }
        let long = format!("C0644 1 {}", "n".repeat(MAX_NAME_BYTES + 1));
        check(long.as_bytes(), Err(BadName));
    }

    #[test]
    fn lines_are_bounded_before_they_are_kept() {
        assert_eq!(line_length(b"E\nC"), Ok(Some(2)));
        assert_eq!(line_length(b"C0644 1"), Ok(None));
        assert_eq!(
            line_length(&vec![b'a'; MAX_LINE_BYTES]),
            Err(RecordError::LineTooLong)
        );
        let mut late = vec![b'a'; MAX_LINE_BYTES];
        late.push(b'\n');
        assert_eq!(line_length(&late), Err(RecordError::LineTooLong));
    }

    #[test]
    fn acks_parse() {
        assert_eq!(parse_ack(b""), Ok(None));
        assert_eq!(parse_ack(b"\0rest"), Ok(Some((Ack::Ok, 1))));
        assert_eq!(parse_ack(b"\x01no"), Ok(None));
        assert_eq!(
            parse_ack(b"\x01no\nC"),
            Ok(Some((Ack::Warning("no".to_owned()), 4)))
        );
        assert_eq!(
            parse_ack(b"\x02bye\n"),
            Ok(Some((Ack::Fatal("bye".to_owned()), 5)))
        );
        assert_eq!(parse_ack(b"C"), Err(RecordError::UnknownType));
    }

    #[test]
    fn encoding_round_trips() {
        assert_eq!(encode_file(0o100644, 5, "a b"), b"C0644 5 a b\n");
        assert_eq!(
            parse_record(&encode_file(0o600, 7, "x")),
            file(0o600, 7, "x")
        );
        assert_eq!(encode_dir(0o755, "d"), b"D0755 0 d\n");
        assert_eq!(encode_times(1, 2), b"T1 0 2 0\n");
        assert_eq!(encode_error(false, "x: no\nsuch"), b"\x01scp: x: no such\n");
        assert_eq!(encode_error(true, "bad")[0], 2);
        assert!(is_sendable_name("ok") && !is_sendable_name("a\nb") && !is_sendable_name(".."));
    }
}

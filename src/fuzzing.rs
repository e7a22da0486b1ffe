//! Fuzzing entry points: one `pub fn(&[u8])` per target, shared by the cargo-fuzz targets in
//! `fuzz/fuzz_targets/` (each a one-line call) and by `tests/fuzz_corpus.rs`, which replays
//! every seed and every past crash in `fuzz/corpus/<target>/` during a normal `cargo test`.
//!
//! Each function feeds untrusted bytes to a pure parser and asserts the invariants the rest of
//! the daemon relies on; a violated invariant panics, which is how a fuzzer reports a finding.
//! What each one checks:
//!
//! - [`ftp_line`]: bytes split into arbitrary chunks through `LineDecoder`, each line through
//!   `parse`. Chunking never changes the lines; no line exceeds `MAX_COMMAND_LINE_BYTES`; the
//!   decoder holds at most one line's worth when nothing is Telnet padding; an unknown verb
//!   carries at most 8 upper-case letters or digits and a password never shows in `Debug`; a
//!   line echoed into a reply cannot forge a second reply line.
//! - [`ftp_address`]: PORT and EPRT arguments. An accepted address never has port 0, formats
//!   back to an argument that parses to the same address, and `parse` agrees with
//!   `parse_port`/`parse_eprt`; a PASV reply text parses back as the address it announced.
//! - [`sftp_packet`]: bytes in arbitrary chunks through `PacketDecoder`, each body through
//!   `parse_init` and `decode_request`. Chunking never changes the packets; no packet exceeds
//!   `SFTP_MAX_PACKET_BYTES`; after draining, the decoder buffers less than one maximal packet;
//!   decoded fields are slices no longer than their packet; attributes round-trip.
//! - [`vfs_path`]: a current directory and a client path. A resolved `VirtualPath` is absolute,
//!   has no empty, `.` or `..` component, no NUL, respects both length limits, resolves to
//!   itself again from any directory, has a consistent parent and name, and maps to a relative
//!   OS path that cannot climb; errors match the input that caused them.
//! - [`config`]: any text as `ferryd.toml`. `Config::parse` returns a config or a non-empty
//!   list of problems, never panics, and what it returns can be displayed and used.
//! - [`users_file`]: any text as the users file. Parsing never panics; whatever it accepts is
//!   written back (as `ferryd user …` does) to text that parses to the same records, and
//!   writing that again gives the same text (saves are stable).
//! - [`proxy_header`]: bytes as the start of a connection from a trusted proxy, read the way
//!   the listener reads them (exactly the bytes `parse` asks for). It never asks for nothing,
//!   never for a byte past the header it then accepts, never for more than `MAX_HEADER_BYTES`;
//!   a header's verdict does not depend on what follows it; a client address is canonical.
//!
//! - [`scp_records`]: bytes as an SCP channel stream and as an `scp` command line. Lines are
//!   split as the SCP session splits them (never longer than `MAX_LINE_BYTES`, an over-long
//!   line refused only once that many bytes are held); every accepted `C`/`D` record has a mode
//!   of at most `0o7777` and a name that is one path component (not empty, `.` or `..`, no
//!   `/`), and records re-encode to themselves; an error line is one bounded line; an accepted
//!   command line has one sink target or 1 to `MAX_SOURCES` sources.
//!
//! Nothing here does I/O: the config target names a file it never opens.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Component, Path};

use bytes::Bytes;

use crate::config::Config;
use crate::ftp::proto::{
    format_pasv, parse, parse_eprt, parse_port, AddressError, Command, LineDecoder, LineError,
    ParseError, Reply, ReplyCode, MAX_COMMAND_LINE_BYTES,
};
use crate::proxy_protocol::header;
use crate::sftp::proto::attrs::MAX_EXTENDED_ATTRIBUTES;
use crate::sftp::proto::scp::{self, Direction, Record, MAX_LINE_BYTES};
use crate::sftp::proto::wire::Reader;
use crate::sftp::proto::{
    decode_request, parse_init, FileAttributes, PacketDecoder, PacketError, RequestKind,
    SFTP_MAX_PACKET_BYTES,
};
use crate::vfs::path::{MAX_COMPONENT_BYTES, MAX_PATH_BYTES};
use crate::vfs::{PathError, VirtualPath};

/// Telnet IAC: the only byte that lets raw input outgrow the decoded line.
const IAC: u8 = 255;

/// Control-connection bytes: the first byte seeds the chunk sizes, the rest is the stream.
pub fn ftp_line(data: &[u8]) {
    let (seed, stream) = split_seed(data);
    let whole = decode_lines(&[stream]);
    let chunked = decode_lines(&chunks(seed, stream));
    assert_eq!(whole.lines, chunked.lines, "chunking changed the lines");
    if !stream.contains(&IAC) {
        // Without Telnet sequences every buffered byte is a line byte or one held-back CR.
        assert!(
            chunked.most_buffered <= MAX_COMMAND_LINE_BYTES + 1,
            "decoder held {} bytes after draining",
            chunked.most_buffered
        );
    }
    for line in whole.lines.iter().flatten() {
        assert!(line.len() <= MAX_COMMAND_LINE_BYTES, "line over the limit");
        check_command(line);
        check_echo(line);
    }
}

/// A PORT or EPRT argument: the whole input, as text (lossily, since `parse` refuses the rest).
pub fn ftp_address(data: &[u8]) {
    let argument = String::from_utf8_lossy(data);
    let port = parse_port(&argument);
    if let Ok(address) = port {
        assert_ne!(address.port(), 0, "PORT accepted port 0");
        assert_eq!(parse_port(&port_argument(address)), Ok(address));
    }
    let eprt = parse_eprt(&argument);
    if let Ok(address) = eprt {
        assert_ne!(address.port(), 0, "EPRT accepted port 0");
        assert_eq!(parse_eprt(&eprt_argument(address)), Ok(address));
    }
    // The command parser must accept exactly what the address parsers accept.
    let parsed_port = parse(format!("PORT {argument}").as_bytes());
    let parsed_eprt = parse(format!("EPRT {argument}").as_bytes());
    let comparable = !argument.is_empty()
        && !argument.contains(['\r', '\n', '\0'])
        && argument.len() + "PORT ".len() <= MAX_COMMAND_LINE_BYTES;
    if comparable {
        assert_eq!(parsed_port.ok(), port.ok().map(Command::Port));
        assert_eq!(parsed_eprt.ok(), eprt.ok().map(Command::Eprt));
    }
    if let [a, b, c, d, high, low, ..] = *data {
        let announced =
            SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), u16::from_be_bytes([high, low]));
        check_pasv_text(announced);
    }
}

/// SFTP channel bytes: the first byte seeds the chunk sizes, the rest is the stream.
pub fn sftp_packet(data: &[u8]) {
    let (seed, stream) = split_seed(data);
    let whole = decode_packets(&[stream]);
    let chunked = decode_packets(&chunks(seed, stream));
    assert_eq!(
        whole.packets, chunked.packets,
        "chunking changed the packets"
    );
    assert_eq!(
        whole.error, chunked.error,
        "chunking changed the framing error"
    );
    let max = SFTP_MAX_PACKET_BYTES as usize;
    assert!(
        chunked.most_buffered < 4 + max,
        "decoder held {} bytes after draining",
        chunked.most_buffered
    );
    for packet in &whole.packets {
        assert!(!packet.is_empty() && packet.len() <= max, "packet size");
        check_request(packet);
    }
    // The raw stream as one body too, so the fuzzer reaches request decoding without having
    // to discover the length prefix first.
    check_request(&Bytes::copy_from_slice(stream));
    check_attrs(stream);
}

/// SCP channel bytes (records and acknowledgements), and the same bytes as a command line.
pub fn scp_records(data: &[u8]) {
    let words: Vec<String> = String::from_utf8_lossy(data)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if let Ok(invocation) = scp::parse_command(&words) {
        match invocation.direction {
            Direction::Sink(target) => assert!(words.contains(&target), "invented target"),
            Direction::Source(paths) => {
                assert!(
                    !paths.is_empty() && paths.len() <= scp::MAX_SOURCES,
                    "paths"
                )
            }
        }
    }
    let mut rest = data;
    loop {
        match scp::line_length(rest) {
            Ok(Some(len)) => {
                assert!(
                    len <= MAX_LINE_BYTES && rest[len - 1] == b'\n',
                    "line split"
                );
                check_scp_record(&rest[..len]);
                rest = &rest[len..];
            }
            Ok(None) => {
                assert!(rest.len() < MAX_LINE_BYTES, "an over-long line was kept");
                break;
            }
            Err(_) => {
                assert!(rest.len() >= MAX_LINE_BYTES, "a short line was refused");
                break;
            }
        }
    }
    check_scp_record(data);
    if let Ok(Some((_, len))) = scp::parse_ack(data) {
        assert!(
            len >= 1 && len <= data.len() && len <= MAX_LINE_BYTES,
            "ack length"
        );
    }
}

fn check_scp_record(line: &[u8]) {
    let Ok(record) = scp::parse_record(line) else {
        return;
    };
    let encoded = match &record {
        Record::File { mode, size, name } => {
            check_scp_name(*mode, name);
            scp::encode_file(*mode, *size, name)
        }
        Record::Dir { mode, name } => {
            check_scp_name(*mode, name);
            scp::encode_dir(*mode, name)
        }
        Record::Times { mtime, atime } => scp::encode_times(*mtime, *atime),
        Record::End => scp::END.to_vec(),
        Record::Warning(message) | Record::Fatal(message) => {
            let line = scp::encode_error(matches!(record, Record::Fatal(_)), message);
            let newlines = line.iter().filter(|&&byte| byte == b'\n').count();
            assert!(newlines == 1 && line.len() <= MAX_LINE_BYTES, "error line");
            return;
        }
    };
    assert_eq!(
        scp::parse_record(&encoded).as_ref(),
        Ok(&record),
        "re-encoding"
    );
}

fn check_scp_name(mode: u32, name: &str) {
    assert!(mode <= 0o7777, "mode");
    let one_component = !name.is_empty() && name != "." && name != ".." && !name.contains('/');
    assert!(
        one_component && scp::is_sendable_name(name),
        "name {name:?}"
    );
}

/// A current directory and a client path: the first byte says how many of the following bytes
/// form the directory; the rest is the path resolved in it.
pub fn vfs_path(data: &[u8]) {
    let (seed, rest) = split_seed(data);
    let split = usize::from(seed).min(rest.len());
    let (cwd_bytes, input) = rest.split_at(split);
    let root = VirtualPath::root();
    let cwd = root
        .resolve_bytes(cwd_bytes)
        .unwrap_or_else(|_| root.clone());
    check_virtual_path(&cwd);
    let resolved = cwd.resolve_bytes(input);
    let Ok(text) = std::str::from_utf8(input) else {
        assert_eq!(resolved, Err(PathError::InvalidUtf8));
        return;
    };
    assert_eq!(
        resolved,
        cwd.resolve(text),
        "resolve_bytes differs from resolve"
    );
    match &resolved {
        Ok(path) => {
            check_virtual_path(path);
            assert!(path.starts_with(&root));
            assert_eq!(
                root.resolve(path.as_str()).as_ref(),
                Ok(path),
                "not idempotent"
            );
            assert_eq!(
                cwd.resolve(path.as_str()).as_ref(),
                Ok(path),
                "cwd leaked in"
            );
            assert_eq!(
                VirtualPath::parse_absolute(path.as_str()).as_ref(),
                Ok(path)
            );
        }
        Err(PathError::NulByte) => assert!(text.contains('\0')),
        Err(PathError::TooLong) => {}
        Err(PathError::ComponentTooLong) => {
            assert!(text.split('/').any(|name| name.len() > MAX_COMPONENT_BYTES));
        }
        Err(other) => panic!("resolve returned {other:?}"),
    }
    if text.starts_with('/') {
        assert_eq!(
            resolved,
            root.resolve(text),
            "absolute input depends on cwd"
        );
    } else if let (Ok(path), Ok(joined)) = (&resolved, root.resolve(&format!("{cwd}/{text}"))) {
        // Both can fail on length alone; when both succeed they must agree.
        assert_eq!(path, &joined, "relative resolution differs from joining");
    }
}

/// Any text as a config file; bytes that are not UTF-8 cannot come from `read_to_string`.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, Path::new("fuzz.toml")) {
        Ok(config) => {
            assert!(config.ftps.passive_ports.start() <= config.ftps.passive_ports.end());
            assert!(config.passive_port_count() >= 1);
            assert_eq!(config.source.as_deref(), Some(Path::new("fuzz.toml")));
        }
        Err(error) => {
            assert!(!error.problems().is_empty(), "error without problems");
            let shown = error.to_string();
            for problem in error.problems() {
                assert!(shown.contains(&problem.message));
                if let Some((line, column)) = problem.position {
                    assert!(line >= 1 && column >= 1, "positions are 1-based");
                    assert!(line <= text.lines().count().max(1) + 1, "line past the end");
                }
            }
        }
    }
}

/// Any text as the users file (`auth::users_file`, which is pure: `user_db` does the I/O).
pub fn users_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("users.toml");
    let Ok(users) = crate::auth::users_file::parse(text, path) else {
        return;
    };
    let rendered = match crate::auth::users_file_render::render(&users, path) {
        Ok(rendered) => rendered,
        Err(error) => panic!("accepted records cannot be written back: {error}"),
    };
    let reparsed = match crate::auth::users_file::parse(&rendered, path) {
        Ok(reparsed) => reparsed,
        Err(error) => panic!("a written users file does not parse: {error}\n{rendered}"),
    };
    assert!(
        reparsed == users,
        "records changed in a save/load round trip"
    );
    let again = crate::auth::users_file_render::render(&reparsed, path);
    assert!(
        again.ok().as_deref() == Some(rendered.as_str()),
        "saves are not stable"
    );
}

/// The start of a proxied connection, read as `proxy_protocol::read_header` reads it.
pub fn proxy_header(data: &[u8]) {
    let mut read = 0;
    let (header, length) = loop {
        match header::parse(&data[..read]) {
            Ok(header::Parsed::NeedMore(more)) => {
                assert!(more > 0, "asked for no bytes");
                read += more;
                assert!(
                    read <= header::MAX_HEADER_BYTES,
                    "asked for {read} bytes, over the limit"
                );
                if read > data.len() {
                    return;
                }
            }
            Ok(header::Parsed::Complete { header, length }) => break (header, length),
            Err(_) => return,
        }
    };
    assert_eq!(
        length, read,
        "the header ends before the bytes it asked for"
    );
    assert_eq!(
        header::parse(data),
        Ok(header::Parsed::Complete { header, length }),
        "what follows the header changed its verdict"
    );
    if let header::Header::Proxied { source, .. } = header {
        assert_eq!(
            source.ip(),
            source.ip().to_canonical(),
            "mapped client address"
        );
    }
}

/// The first byte (or 0) and the rest.
fn split_seed(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((seed, rest)) => (*seed, rest),
        None => (0, data),
    }
}

/// `data` cut into pieces of 1 to 64 bytes, sizes drawn from a generator seeded by `seed`.
///
/// Deriving the cuts from the input keeps every run reproducible from the corpus file alone.
fn chunks(seed: u8, data: &[u8]) -> Vec<&[u8]> {
    let mut state = u32::from(seed) | 0x100;
    let mut pieces = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        // A 32-bit xorshift: tiny, full-period, and good enough to vary the cut points.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let size = (state % 64) as usize + 1;
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

struct Lines {
    lines: Vec<Result<Vec<u8>, LineError>>,
    most_buffered: usize,
}

fn decode_lines(pieces: &[&[u8]]) -> Lines {
    let mut decoder = LineDecoder::new();
    let mut lines = Vec::new();
    let mut most_buffered = 0;
    let mut pushed = 0;
    for piece in pieces {
        decoder.push(piece);
        pushed += piece.len();
        assert!(
            decoder.buffered_len() <= pushed,
            "buffered more than pushed"
        );
        lines.extend(std::iter::from_fn(|| decoder.next_line()));
        most_buffered = most_buffered.max(decoder.buffered_len());
    }
    Lines {
        lines,
        most_buffered,
    }
}

/// `parse` must not panic, and what it returns must be safe to log.
fn check_command(line: &[u8]) {
    match parse(line) {
        Ok(command) => {
            let verb = command.verb();
            assert!(
                !verb.is_empty()
                    && verb
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            );
            if let Command::Pass(_) = &command {
                assert_eq!(format!("{command:?}"), "Pass(Password(<redacted>))");
            }
        }
        Err(ParseError::UnknownCommand(shown)) => {
            assert!(
                shown.len() <= 8,
                "unknown verb echoes {} bytes",
                shown.len()
            );
            assert!(shown
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        }
        Err(_) => {}
    }
}

/// A server that echoes client text (a file name in a 550, say) must still send one reply.
fn check_echo(line: &[u8]) {
    let text = String::from_utf8_lossy(line);
    let single = Reply::new(ReplyCode::FileUnavailable, text.as_ref()).to_bytes();
    assert_reply_shape(&single, 1);
    // Eight lines show the framing as well as eight thousand, at a fraction of the cost.
    let parts: Vec<&str> = text.split(' ').take(8).collect();
    let multi = Reply::multiline(ReplyCode::SystemStatus, parts.iter().copied()).to_bytes();
    assert_reply_shape(&multi, parts.len());
}

/// `reply` is exactly `lines` CRLF-terminated lines and only its last one is a final line.
fn assert_reply_shape(reply: &[u8], lines: usize) {
    let body = reply.strip_suffix(b"\r\n").unwrap_or_default();
    assert!(reply.ends_with(b"\r\n"), "reply without CRLF");
    let split: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    assert_eq!(split.len(), lines, "reply line count");
    for (index, line) in split.iter().enumerate() {
        let line = if index + 1 < split.len() {
            line.strip_suffix(b"\r").unwrap_or_default()
        } else {
            line
        };
        assert!(!line.contains(&b'\r'), "bare CR inside a reply line");
        let is_final =
            line.len() >= 4 && line[..3].iter().all(u8::is_ascii_digit) && line[3] == b' ';
        assert_eq!(
            is_final,
            index + 1 == split.len(),
            "line {index} of {lines} misframed"
        );
    }
}

fn port_argument(address: SocketAddrV4) -> String {
    let [a, b, c, d] = address.ip().octets();
    let [high, low] = address.port().to_be_bytes();
    format!("{a},{b},{c},{d},{high},{low}")
}

fn eprt_argument(address: SocketAddr) -> String {
    let protocol = if address.is_ipv4() { 1 } else { 2 };
    format!("|{protocol}|{}|{}|", address.ip(), address.port())
}

/// The `h1,h2,h3,h4,p1,p2` inside a 227 text parses as the address it announced.
fn check_pasv_text(announced: SocketAddrV4) {
    let text = format_pasv(*announced.ip(), announced.port());
    let inner = text
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(inner, _)| inner);
    let Some(inner) = inner else {
        panic!("227 text without parentheses: {text}");
    };
    let expected = if announced.port() == 0 {
        Err(AddressError::InvalidPort)
    } else {
        Ok(announced)
    };
    assert_eq!(parse_port(inner), expected);
}

struct Packets {
    packets: Vec<Bytes>,
    error: Option<PacketError>,
    most_buffered: usize,
}

fn decode_packets(pieces: &[&[u8]]) -> Packets {
    let mut decoder = PacketDecoder::new();
    let mut packets = Vec::new();
    let mut most_buffered = 0;
    for piece in pieces {
        decoder.push(piece);
        loop {
            match decoder.next_packet() {
                Ok(Some(packet)) => packets.push(packet),
                Ok(None) => break,
                // Fatal for the channel: the session drops it, so nothing after it matters.
                Err(error) => {
                    return Packets {
                        packets,
                        error: Some(error),
                        most_buffered,
                    }
                }
            }
        }
        most_buffered = most_buffered.max(decoder.buffered_len());
    }
    Packets {
        packets,
        error: None,
        most_buffered,
    }
}

/// Decoding never panics, and every decoded field fits inside the packet it came from.
fn check_request(body: &Bytes) {
    let _ = parse_init(body);
    let Ok(request) = decode_request(body.clone()) else {
        return;
    };
    let size = body.len();
    let fits = |field: &Bytes| assert!(field.len() <= size, "field longer than its packet");
    match &request.kind {
        RequestKind::Write { handle, data, .. } => {
            fits(handle);
            fits(data);
            assert!(handle.len() + data.len() <= size);
        }
        RequestKind::Open {
            filename, attrs, ..
        } => {
            fits(filename);
            check_decoded_attrs(attrs, size);
        }
        RequestKind::Setstat { attrs, .. }
        | RequestKind::Fsetstat { attrs, .. }
        | RequestKind::Mkdir { attrs, .. }
        | RequestKind::Lsetstat { attrs, .. } => check_decoded_attrs(attrs, size),
        RequestKind::UsersGroupsById { uids, gids } => {
            assert!(4 * (uids.len() + gids.len()) <= size, "more ids than bytes");
        }
        _ => {}
    }
    assert!(!request.kind.name().is_empty());
}

fn check_decoded_attrs(attrs: &FileAttributes, size: usize) {
    assert!(attrs.extended.len() <= MAX_EXTENDED_ATTRIBUTES);
    assert!(
        attrs.encoded_len() <= size,
        "attributes larger than their packet"
    );
}

/// Decoded attributes re-encode to a form that decodes to the same value.
fn check_attrs(data: &[u8]) {
    let source = Bytes::copy_from_slice(data);
    let mut reader = Reader::new(&source);
    let Ok(attrs) = FileAttributes::decode(&mut reader) else {
        return;
    };
    check_decoded_attrs(&attrs, data.len());
    let mut encoded = Vec::new();
    attrs.encode(&mut encoded);
    assert_eq!(encoded.len(), attrs.encoded_len(), "encoded_len is wrong");
    let encoded = Bytes::from(encoded);
    let mut again = Reader::new(&encoded);
    assert_eq!(FileAttributes::decode(&mut again).as_ref(), Ok(&attrs));
    assert!(
        again.is_empty(),
        "re-encoded attributes have trailing bytes"
    );
}

/// The structural promises of `VirtualPath`, checked from its public API only.
fn check_virtual_path(path: &VirtualPath) {
    let text = path.as_str();
    assert!(text.starts_with('/'), "{text:?} is relative");
    assert!(text.len() <= MAX_PATH_BYTES, "{text:?} is too long");
    assert!(!text.contains('\0'), "{text:?} has a NUL");
    assert_eq!(path.is_root(), text == "/");
    if !path.is_root() {
        let names: Vec<&str> = text[1..].split('/').collect();
        for name in &names {
            assert!(
                !name.is_empty() && *name != "." && *name != "..",
                "{text:?} not normal"
            );
            assert!(name.len() <= MAX_COMPONENT_BYTES);
        }
        assert_eq!(path.depth(), names.len());
        let Some(parent) = path.parent() else {
            panic!("{text:?} has no parent");
        };
        let Some(name) = path.file_name() else {
            panic!("{text:?} has no name");
        };
        assert_eq!(
            parent.join_name(name).as_ref(),
            Ok(path),
            "parent/name mismatch"
        );
        assert!(path.starts_with(&parent));
        assert_eq!(parent.depth() + 1, path.depth());
    }
    for component in path.to_relative_path().components() {
        assert!(
            matches!(component, Component::Normal(_) | Component::CurDir),
            "{text:?} maps to an OS path with {component:?}"
        );
    }
}

//! Property tests (proptest) for the pure parsers and the path resolver, against the public API:
//! `VirtualPath` resolution, FTP line framing, command parsing, reply encoding and time values,
//! SFTP packet framing and attribute encoding, client-certificate fingerprint spellings.
//!
//! The fuzz targets (`src/fuzzing.rs`) search for panics in unstructured bytes; these tests
//! state the same promises over structured inputs that random bytes rarely hit (paths built from
//! `..` and `.`, framed packets, valid calendar dates), and run in every `cargo test`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use proptest::prelude::*;

use ferryd::auth::CertificateFingerprint;
use ferryd::ftp::proto::{parse, LineDecoder, LineError, Reply, ReplyCode, Timestamp};
use ferryd::ftp::proto::{Command, MAX_COMMAND_LINE_BYTES};
use ferryd::sftp::proto::wire::Reader;
use ferryd::sftp::proto::{decode_request, FileAttributes, PacketDecoder, SFTP_MAX_PACKET_BYTES};
use ferryd::vfs::path::{MAX_COMPONENT_BYTES, MAX_PATH_BYTES};
use ferryd::vfs::{PathError, VirtualPath};

// ---------------------------------------------------------------- path resolver

/// One component of a client path, weighted towards the ones that move around the tree.
fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("..".to_owned()),
        2 => Just(".".to_owned()),
        2 => Just(String::new()),
        4 => "[a-c]{1,3}",
        1 => "\\PC{1,4}",
        1 => "[.]{1,4}",
        1 => (250usize..260).prop_map(|len| "n".repeat(len)),
    ]
}

/// A client path: components joined by `/`, absolute or relative.
fn client_path() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(component(), 0..12)).prop_map(|(absolute, parts)| {
        let joined = parts.join("/");
        if absolute {
            format!("/{joined}")
        } else {
            joined
        }
    })
}

/// A current directory, built the way a session builds one: by resolving client input.
fn directory() -> impl Strategy<Value = VirtualPath> {
    client_path().prop_map(|path| {
        VirtualPath::root()
            .resolve(&path)
            .unwrap_or_else(|_| VirtualPath::root())
    })
}

/// What resolution should produce, as a plain component stack.
fn model(cwd: &VirtualPath, input: &str) -> Vec<String> {
    let mut stack: Vec<String> = if input.starts_with('/') {
        Vec::new()
    } else {
        cwd.components().map(str::to_owned).collect()
    };
    for part in input.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            name => stack.push(name.to_owned()),
        }
    }
    stack
}

fn assert_normal(path: &VirtualPath) {
    let text = path.as_str();
    assert!(text.starts_with('/'), "{text:?} is relative");
    assert!(text.len() <= MAX_PATH_BYTES);
    if !path.is_root() {
        for name in text[1..].split('/') {
            assert!(!matches!(name, "" | "." | ".."), "{text:?} is not normal");
            assert!(name.len() <= MAX_COMPONENT_BYTES);
        }
    }
}

proptest! {
    #[test]
    fn resolved_paths_are_absolute_normal_and_idempotent(cwd in directory(), input in client_path()) {
        if let Ok(path) = cwd.resolve(&input) {
            assert_normal(&path);
            prop_assert_eq!(VirtualPath::root().resolve(path.as_str()), Ok(path.clone()));
            prop_assert_eq!(cwd.resolve(path.as_str()), Ok(path.clone()));
            prop_assert_eq!(path.resolve("."), Ok(path.clone()));
            prop_assert_eq!(path.resolve(""), Ok(path.clone()));
        }
    }

    #[test]
    fn resolution_matches_a_component_stack(cwd in directory(), input in client_path()) {
        let expected = model(&cwd, &input);
        match cwd.resolve(&input) {
            Ok(path) => {
                let got: Vec<&str> = path.components().collect();
                prop_assert_eq!(got, expected);
            }
            Err(PathError::ComponentTooLong) => {
                prop_assert!(input.split('/').any(|name| name.len() > MAX_COMPONENT_BYTES));
            }
            Err(PathError::TooLong) => {
                let rendered: usize = expected.iter().map(|name| name.len() + 1).sum();
                prop_assert!(input.len() > MAX_PATH_BYTES || rendered > MAX_PATH_BYTES);
            }
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn no_input_leaves_the_root(cwd in directory(), input in "\\PC{0,64}") {
        if let Ok(path) = cwd.resolve(&input) {
            assert_normal(&path);
            prop_assert!(path.starts_with(&VirtualPath::root()));
            for part in path.to_relative_path().components() {
                let safe = matches!(
                    part,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                );
                prop_assert!(safe, "{:?} in {}", part, path);
            }
        }
    }

    #[test]
    fn parent_and_join_name_are_inverse(cwd in directory(), name in "[^/\\x00]{1,16}") {
        if let Some(parent) = cwd.parent() {
            let own_name = cwd.file_name().unwrap();
            prop_assert_eq!(parent.join_name(own_name), Ok(cwd.clone()));
            prop_assert_eq!(cwd.resolve(".."), Ok(parent.clone()));
            prop_assert_eq!(parent.depth() + 1, cwd.depth());
        } else {
            prop_assert!(cwd.is_root());
            prop_assert_eq!(cwd.resolve(".."), Ok(VirtualPath::root()));
        }
        match cwd.join_name(&name) {
            Ok(child) => {
                prop_assert_eq!(child.parent(), Some(cwd.clone()));
                prop_assert_eq!(child.file_name(), Some(name.as_str()));
                prop_assert!(child.starts_with(&cwd));
            }
            Err(error) => prop_assert!(
                name == "." || name == ".." || error == PathError::TooLong,
                "{:?} refused with {:?}", name, error
            ),
        }
    }

    #[test]
    fn resolve_bytes_agrees_with_resolve(cwd in directory(), input in prop::collection::vec(any::<u8>(), 0..32)) {
        let expected = match std::str::from_utf8(&input) {
            Ok(text) => cwd.resolve(text),
            Err(_) => Err(PathError::InvalidUtf8),
        };
        prop_assert_eq!(cwd.resolve_bytes(&input), expected);
    }
}

// ---------------------------------------------------------------- FTP line decoder

/// Runs of one byte, so a handful of runs can build an over-long line.
fn control_stream() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        Just(b'\r'),
        Just(b'\n'),
        Just(0xff),
        Just(0xf4),
        Just(0xfb),
        Just(b' '),
        any::<u8>(),
        b'A'..=b'Z',
    ];
    let run = (byte, prop_oneof![8 => 1usize..4, 1 => 4000usize..9000]);
    prop::collection::vec(run, 0..40).prop_map(|runs| {
        runs.into_iter()
            .flat_map(|(byte, count)| std::iter::repeat_n(byte, count))
            .collect()
    })
}

/// Cut points as fractions, so they scale with whatever length the input has.
fn cuts() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(0.0..1.0f64, 0..16)
}

fn split<'a>(data: &'a [u8], cuts: &[f64]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|f| (f * data.len() as f64) as usize)
        .collect();
    points.push(data.len());
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for point in points {
        pieces.push(&data[start..point]);
        start = point;
    }
    pieces
}

fn lines(pieces: &[&[u8]]) -> Vec<Result<Vec<u8>, LineError>> {
    let mut decoder = LineDecoder::new();
    let mut lines = Vec::new();
    for piece in pieces {
        decoder.push(piece);
        lines.extend(std::iter::from_fn(|| decoder.next_line()));
    }
    lines
}

proptest! {
    #[test]
    fn line_chunking_never_changes_the_lines(data in control_stream(), cuts in cuts()) {
        let whole = lines(&[&data]);
        prop_assert_eq!(lines(&split(&data, &cuts)), whole.clone());
        for line in whole.iter().flatten() {
            prop_assert!(line.len() <= MAX_COMMAND_LINE_BYTES);
        }
    }

    #[test]
    fn decoder_without_telnet_holds_at_most_one_line(data in control_stream(), cuts in cuts()) {
        let data: Vec<u8> = data.into_iter().filter(|&b| b != 0xff).collect();
        let mut decoder = LineDecoder::new();
        for piece in split(&data, &cuts) {
            decoder.push(piece);
            while decoder.next_line().is_some() {}
            prop_assert!(decoder.buffered_len() <= MAX_COMMAND_LINE_BYTES + 1);
        }
    }

    #[test]
    fn lines_without_special_bytes_come_back_verbatim(
        texts in prop::collection::vec("[ -~]{0,40}", 0..8),
        cuts in cuts(),
    ) {
        let data: Vec<u8> = texts.iter().flat_map(|t| format!("{t}\r\n").into_bytes()).collect();
        let expected: Vec<Result<Vec<u8>, LineError>> =
            texts.iter().map(|t| Ok(t.clone().into_bytes())).collect();
        prop_assert_eq!(lines(&split(&data, &cuts)), expected);
    }
}

// ---------------------------------------------------------------- FTP command parser

/// Commands that take no argument, with their canonical verb.
const BARE_VERBS: &[(&str, &str)] = &[
    ("QUIT", "QUIT"),
    ("NOOP", "NOOP"),
    ("SYST", "SYST"),
    ("FEAT", "FEAT"),
    ("CCC", "CCC"),
    ("PWD", "PWD"),
    ("XPWD", "PWD"),
    ("CDUP", "CDUP"),
    ("XCUP", "CDUP"),
    ("ABOR", "ABOR"),
    ("PASV", "PASV"),
    ("EPSV", "EPSV"),
    ("LIST", "LIST"),
    ("NLST", "NLST"),
    ("MLSD", "MLSD"),
    ("STAT", "STAT"),
    ("HELP", "HELP"),
    ("STOU", "STOU"),
];

/// A line that is mostly a known verb followed by mostly printable text.
fn command_line() -> impl Strategy<Value = Vec<u8>> {
    let verb = prop_oneof![
        prop::sample::select(vec![
            "USER", "PASS", "CWD", "XCWD", "MKD", "RMD", "DELE", "RNFR", "RNTO", "SIZE", "MDTM",
            "MFMT", "LIST", "NLST", "RETR", "STOR", "APPE", "REST", "TYPE", "PORT", "EPRT", "EPSV",
            "OPTS", "SITE", "AUTH", "PROT", "PBSZ", "HASH", "XSHA1", "XCRC", "STAT", "HOST",
        ])
        .prop_map(str::to_owned),
        "[A-Za-z0-9]{1,9}",
    ];
    let argument = prop_oneof![
        "[ -~]{0,24}",
        Just("20240229235960 f".to_owned()),
        Just("\"a \"\"b\" 1 2".to_owned()),
        "\\PC{0,8}",
    ];
    (
        verb,
        prop::option::of(argument),
        prop::sample::select(vec!["", "\r\n", "\n", "\r"]),
    )
        .prop_map(|(verb, argument, end)| match argument {
            Some(argument) => format!("{verb} {argument}{end}").into_bytes(),
            None => format!("{verb}{end}").into_bytes(),
        })
}

fn with_random_case(text: &str, flips: &[bool]) -> String {
    text.chars()
        .zip(flips.iter().cycle())
        .map(|(c, &lower)| if lower { c.to_ascii_lowercase() } else { c })
        .collect()
}

proptest! {
    #[test]
    fn parse_never_panics(line in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse(&line);
    }

    #[test]
    fn bare_verbs_parse_in_any_case(
        index in 0..BARE_VERBS.len(),
        flips in prop::collection::vec(any::<bool>(), 1..8),
        trailing in "[ ]{0,3}",
    ) {
        let (verb, canonical) = BARE_VERBS[index];
        let line = format!("{}{trailing}\r\n", with_random_case(verb, &flips));
        let command = parse(line.as_bytes()).unwrap();
        prop_assert_eq!(command.verb(), canonical);
        prop_assert_eq!(parse(command.verb().as_bytes()), Ok(command));
    }

    #[test]
    fn the_canonical_verb_parses_to_the_same_command(line in command_line()) {
        let Ok(command) = parse(&line) else {
            return Ok(());
        };
        let text = std::str::from_utf8(&line).unwrap();
        let rest = text.find(' ').map_or("", |space| &text[space..]);
        let canonical = format!("{}{rest}", command.verb());
        prop_assert_eq!(parse(canonical.as_bytes()), Ok(command));
    }

    #[test]
    fn pass_is_never_shown(password in "[ -~]{1,32}") {
        let command = parse(format!("PASS {password}\r\n").as_bytes()).unwrap();
        let Command::Pass(ref secret) = command else {
            panic!("not PASS: {command:?}");
        };
        prop_assert_eq!(secret.as_str(), password.as_str());
        prop_assert_eq!(format!("{command:?}"), "Pass(Password(<redacted>))");
    }
}

// ---------------------------------------------------------------- FTP replies

fn reply_code() -> impl Strategy<Value = ReplyCode> {
    prop::sample::select(vec![
        ReplyCode::CommandOkay,
        ReplyCode::SystemStatus,
        ReplyCode::FileStatus,
        ReplyCode::ServiceReady,
        ReplyCode::PathCreated,
        ReplyCode::SyntaxError,
        ReplyCode::FileUnavailable,
        ReplyCode::RestartMarker,
    ])
}

/// Checks the framing every client relies on, and returns the encoded lines.
fn check_reply_framing(code: ReplyCode, encoded: &[u8], expected_lines: usize) {
    assert!(encoded.ends_with(b"\r\n"), "no final CRLF");
    for (index, &byte) in encoded.iter().enumerate() {
        match byte {
            b'\r' => assert_eq!(encoded.get(index + 1), Some(&b'\n'), "bare CR at {index}"),
            b'\n' => assert_eq!(encoded[index - 1], b'\r', "bare LF at {index}"),
            _ => {}
        }
    }
    let body = &encoded[..encoded.len() - 2];
    let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), expected_lines);
    let number = code.as_u16().to_string();
    let last = lines.len() - 1;
    for (index, line) in lines.iter().enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let is_final =
            line.len() >= 4 && line[..3].iter().all(u8::is_ascii_digit) && line[3] == b' ';
        assert_eq!(
            is_final,
            index == last,
            "line {index}: {:?}",
            String::from_utf8_lossy(line)
        );
        if index == 0 && last > 0 {
            assert!(line.starts_with(format!("{number}-").as_bytes()));
        }
        if index == last {
            assert!(line.starts_with(format!("{number} ").as_bytes()));
        }
    }
}

proptest! {
    #[test]
    fn single_line_replies_stay_one_line(code in reply_code(), text in "\\PC{0,20}|[\r\n a]{0,20}") {
        let reply = Reply::new(code, text);
        check_reply_framing(code, &reply.to_bytes(), 1);
    }

    #[test]
    fn multiline_replies_frame_every_line(
        code in reply_code(),
        texts in prop::collection::vec("[0-9 ]{0,5}|\\PC{0,10}|[\r\n x]{0,8}", 0..8),
    ) {
        let reply = Reply::multiline(code, texts.clone());
        check_reply_framing(code, &reply.to_bytes(), texts.len().max(1));
    }

    #[test]
    fn encode_appends_the_whole_reply_to_one_buffer(
        code in reply_code(),
        texts in prop::collection::vec("\\PC{0,10}", 1..4),
        prefix in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let reply = Reply::multiline(code, texts);
        let mut out = prefix.clone();
        reply.encode(&mut out);
        prop_assert_eq!(&out[..prefix.len()], &prefix[..]);
        prop_assert_eq!(&out[prefix.len()..], &reply.to_bytes()[..]);
    }
}

// ---------------------------------------------------------------- FTP time values

fn days_in_month(year: u32, month: u32) -> u32 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A valid calendar time `YYYYMMDDHHMMSS` and a millisecond count.
fn calendar_time() -> impl Strategy<Value = (String, u32)> {
    (
        1u32..=9999,
        1u32..=12,
        1u32..=31,
        0u32..24,
        0u32..60,
        0u32..=60,
        0u32..1000,
    )
        .prop_map(|(year, month, day, hour, minute, second, millis)| {
            let day = day.min(days_in_month(year, month));
            let text = format!("{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}");
            (text, millis)
        })
}

proptest! {
    #[test]
    fn timestamps_display_as_parsed((text, millis) in calendar_time()) {
        let parsed = Timestamp::parse(&text).unwrap();
        prop_assert_eq!(parsed.to_string(), text.clone());
        let precise = format!("{text}.{millis:03}");
        prop_assert_eq!(Timestamp::parse(&precise).unwrap().format_with_millis(), precise);
    }

    #[test]
    fn timestamps_survive_system_time((text, millis) in calendar_time()) {
        let parsed = Timestamp::parse(&format!("{text}.{millis:03}")).unwrap();
        // Leap second 60 names the same instant as second 0 of the next minute.
        if !text.ends_with("60") {
            let instant = parsed.to_system_time().unwrap();
            prop_assert_eq!(Timestamp::from_system_time(instant), Ok(parsed));
        }
    }

    #[test]
    fn timestamp_parse_never_panics(text in "[0-9.]{0,24}|\\PC{0,24}") {
        if let Ok(parsed) = Timestamp::parse(&text) {
            prop_assert!(text.starts_with(&parsed.to_string()));
        }
    }
}

// ---------------------------------------------------------------- SFTP framing and attributes

fn frame(body: &[u8]) -> Vec<u8> {
    let mut framed = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(body);
    framed
}

fn packets(pieces: &[&[u8]]) -> (Vec<Bytes>, usize) {
    let mut decoder = PacketDecoder::new();
    let mut packets = Vec::new();
    let mut most_buffered = 0;
    for piece in pieces {
        decoder.push(piece);
        while let Some(packet) = decoder.next_packet().unwrap() {
            packets.push(packet);
        }
        most_buffered = most_buffered.max(decoder.buffered_len());
    }
    (packets, most_buffered)
}

fn attributes() -> impl Strategy<Value = FileAttributes> {
    let pair = (
        prop::collection::vec(any::<u8>(), 0..12),
        prop::collection::vec(any::<u8>(), 0..12),
    );
    (
        any::<Option<u64>>(),
        any::<Option<(u32, u32)>>(),
        any::<Option<u32>>(),
        any::<Option<(u32, u32)>>(),
        prop::collection::vec(pair, 0..4),
    )
        .prop_map(
            |(size, uid_gid, permissions, atime_mtime, extended)| FileAttributes {
                size,
                uid_gid,
                permissions,
                atime_mtime,
                extended: extended
                    .into_iter()
                    .map(|(kind, data)| (Bytes::from(kind), Bytes::from(data)))
                    .collect(),
            },
        )
}

proptest! {
    #[test]
    fn packet_chunking_never_changes_the_packets(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..8),
        partial in prop::collection::vec(any::<u8>(), 0..3),
        cuts in cuts(),
    ) {
        let mut stream: Vec<u8> = bodies.iter().flat_map(|body| frame(body)).collect();
        // A trailing incomplete length prefix must stay buffered, not produce a packet.
        stream.extend_from_slice(&partial);
        let (got, most_buffered) = packets(&split(&stream, &cuts));
        let expected: Vec<Bytes> = bodies.into_iter().map(Bytes::from).collect();
        prop_assert_eq!(got, expected);
        prop_assert!(most_buffered < 4 + SFTP_MAX_PACKET_BYTES as usize);
    }

    #[test]
    fn packet_decoder_sizes_nothing_from_a_bad_length(
        claim in prop_oneof![any::<u32>(), 0u32..4096, Just(SFTP_MAX_PACKET_BYTES + 1)],
        filler in 0usize..4096,
    ) {
        let mut decoder = PacketDecoder::new();
        decoder.push(&claim.to_be_bytes());
        decoder.push(&vec![7; filler]);
        let buffered = 4 + filler;
        match decoder.next_packet() {
            Ok(Some(packet)) => {
                prop_assert_eq!(packet.len(), claim as usize);
                prop_assert_eq!(decoder.buffered_len(), buffered - 4 - packet.len());
            }
            Ok(None) => {
                prop_assert!(claim <= SFTP_MAX_PACKET_BYTES && claim as usize > filler);
                prop_assert_eq!(decoder.buffered_len(), buffered);
            }
            Err(_) => prop_assert!(claim == 0 || claim > SFTP_MAX_PACKET_BYTES),
        }
    }

    #[test]
    fn decode_request_never_panics(body in prop::collection::vec(any::<u8>(), 0..96), kind in 0u8..=21) {
        let mut body = body;
        if let Some(first) = body.first_mut() {
            // Mostly real request types, so decoding gets past the type byte.
            *first = if kind == 21 { 200 } else { kind };
        }
        let _ = decode_request(Bytes::from(body));
    }

    #[test]
    fn attributes_round_trip(attrs in attributes()) {
        let mut wire = Vec::new();
        attrs.encode(&mut wire);
        prop_assert_eq!(wire.len(), attrs.encoded_len());
        let wire = Bytes::from(wire);
        let mut reader = Reader::new(&wire);
        prop_assert_eq!(FileAttributes::decode(&mut reader), Ok(attrs));
        prop_assert!(reader.is_empty());
    }
}

// ---------------------------------------------------------------- certificate fingerprints

proptest! {
    #[test]
    fn every_fingerprint_spelling_reads_as_the_same_digest_and_prints_one_way(
        digest in prop::array::uniform32(any::<u8>()),
        colons in any::<bool>(),
        upper in any::<bool>(),
        prefix in prop::sample::select(vec!["", "sha256:", "SHA256:", "sha256 Fingerprint=", "sha256="]),
    ) {
        let hex: Vec<String> = digest
            .iter()
            .map(|byte| if upper { format!("{byte:02X}") } else { format!("{byte:02x}") })
            .collect();
        let text = format!("{prefix}{}", hex.join(if colons { ":" } else { "" }));
        let fingerprint = CertificateFingerprint::parse(&text).unwrap();
        prop_assert_eq!(fingerprint.as_bytes(), &digest);
        let canonical = fingerprint.to_string();
        prop_assert!(canonical.starts_with("sha256:"));
        prop_assert_eq!(CertificateFingerprint::parse(&canonical), Ok(fingerprint));
    }
}

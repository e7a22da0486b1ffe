//! Decoding tests: every request kind, INIT, and truncated, invalid or unknown bodies, which
//! are refused with the request id whenever it could be read.

use bytes::BufMut;

use super::*;
use crate::sftp::proto::wire::Writer;

const ID: u32 = 0x0102_0304;

fn body(packet_type: u8, fields: &[Vec<u8>]) -> Bytes {
    let mut out = vec![packet_type];
    out.put_u32(ID);
    out.extend(fields.concat());
    Bytes::from(out)
}

fn ext(name: &str, fields: &[Vec<u8>]) -> Bytes {
    body(SSH_FXP_EXTENDED, &[&[s(name.as_bytes())], fields].concat())
}

fn s(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_string(value);
    out
}

fn n32(value: u32) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

fn n64(value: u64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

fn b(value: &'static [u8]) -> Bytes {
    Bytes::from_static(value)
}

fn mode_644() -> FileAttributes {
    FileAttributes {
        permissions: Some(0o644),
        ..FileAttributes::default()
    }
}

fn mode_644_wire() -> Vec<u8> {
    let mut out = Vec::new();
    mode_644().encode(&mut out);
    out
}

fn check(input: Bytes, expected: Result<Request, DecodeError>) {
    let decoded = decode_request(input.clone());
    assert_eq!(decoded, expected, "input {input:02x?}");
}

fn open_body() -> Bytes {
    body(SSH_FXP_OPEN, &[s(b"/up/f.txt"), n32(0x1a), mode_644_wire()])
}

fn write_body() -> Bytes {
    body(SSH_FXP_WRITE, &[s(b"h1"), n64(1 << 33), s(b"payload")])
}

fn copy_data_body() -> Bytes {
    ext(EXT_COPY_DATA, &[s(b"r"), n64(1), n64(0), s(b"w"), n64(9)])
}

#[rustfmt::skip]
#[test]
fn decodes_every_request_kind() {
    use RequestKind as K;
    let pflags = OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC;
    let (p, h, a, z) = (b(b"/p"), b(b"h"), b(b"/a"), b(b"/b"));
    let attrs = mode_644;
    let path = || [s(b"/p")];
    let handle = || [s(b"h")];
    let two_paths = || [s(b"/a"), s(b"/b")];
    let path_attrs = || [s(b"/p"), mode_644_wire()];
    let check_file = || [s(b"/p"), s(b"sha256,md5"), n64(10), n64(20), n32(4096)];
    let algorithms = b(b"sha256,md5");
    let cases = vec![
        (open_body(), K::Open { filename: b(b"/up/f.txt"), pflags, attrs: mode_644() }),
        (body(SSH_FXP_CLOSE, &handle()), K::Close { handle: h.clone() }),
        (body(SSH_FXP_READ, &[s(b"h"), n64(u64::MAX), n32(u32::MAX)]),
            K::Read { handle: h.clone(), offset: u64::MAX, len: u32::MAX }),
        (write_body(), K::Write { handle: b(b"h1"), offset: 1 << 33, data: b(b"payload") }),
        (body(SSH_FXP_LSTAT, &path()), K::Lstat { path: p.clone() }),
        (body(SSH_FXP_FSTAT, &handle()), K::Fstat { handle: h.clone() }),
        (body(SSH_FXP_SETSTAT, &path_attrs()), K::Setstat { path: p.clone(), attrs: attrs() }),
        (body(SSH_FXP_FSETSTAT, &path_attrs()),
            K::Fsetstat { handle: p.clone(), attrs: attrs() }),
        (body(SSH_FXP_OPENDIR, &path()), K::Opendir { path: p.clone() }),
        (body(SSH_FXP_READDIR, &handle()), K::Readdir { handle: h.clone() }),
        (body(SSH_FXP_REMOVE, &path()), K::Remove { path: p.clone() }),
        (body(SSH_FXP_MKDIR, &path_attrs()), K::Mkdir { path: p.clone(), attrs: attrs() }),
        (body(SSH_FXP_RMDIR, &path()), K::Rmdir { path: p.clone() }),
        (body(SSH_FXP_REALPATH, &[s(b"")]), K::Realpath { path: Bytes::new() }),
        (body(SSH_FXP_STAT, &path()), K::Stat { path: p.clone() }),
        (body(SSH_FXP_RENAME, &two_paths()),
            K::Rename { old_path: a.clone(), new_path: z.clone() }),
        (body(SSH_FXP_READLINK, &path()), K::Readlink { path: p.clone() }),
        (body(SSH_FXP_SYMLINK, &two_paths()),
            K::Symlink { target: a.clone(), link_path: z.clone() }),
        (ext(EXT_POSIX_RENAME, &two_paths()),
            K::PosixRename { old_path: a.clone(), new_path: z.clone() }),
        (ext(EXT_STATVFS, &path()), K::Statvfs { path: p.clone() }),
        (ext(EXT_FSTATVFS, &handle()), K::Fstatvfs { handle: h.clone() }),
        (ext(EXT_HARDLINK, &two_paths()),
            K::Hardlink { old_path: a.clone(), new_path: z.clone() }),
        (ext(EXT_FSYNC, &handle()), K::Fsync { handle: h.clone() }),
        (ext(EXT_LSETSTAT, &path_attrs()), K::Lsetstat { path: p.clone(), attrs: attrs() }),
        (ext(EXT_LIMITS, &[]), K::Limits),
        (ext(EXT_EXPAND_PATH, &[s(b"~/x")]), K::ExpandPath { path: b(b"~/x") }),
        (copy_data_body(), K::CopyData {
            read_handle: b(b"r"), read_offset: 1, read_length: 0,
            write_handle: b(b"w"), write_offset: 9,
        }),
        (ext(EXT_HOME_DIRECTORY, &[s(b"bob")]), K::HomeDirectory { username: b(b"bob") }),
        (ext(EXT_USERS_GROUPS_BY_ID, &[s(&[0, 0, 0, 0, 0, 0, 3, 0xe8]), s(b"")]),
            K::UsersGroupsById { uids: vec![0, 1000], gids: vec![] }),
        (ext(EXT_CHECK_FILE_NAME, &check_file()), K::CheckFileName {
            path: p.clone(), algorithms: algorithms.clone(),
            start_offset: 10, length: 20, block_size: 4096,
        }),
        (ext(EXT_CHECK_FILE_HANDLE, &check_file()), K::CheckFileHandle {
            handle: p.clone(), algorithms: algorithms.clone(),
            start_offset: 10, length: 20, block_size: 4096,
        }),
        (ext("x@example.com", &two_paths()), K::UnknownExtended { name: b(b"x@example.com") }),
        (ext("", &path()), K::UnknownExtended { name: Bytes::new() }),
        (body(SSH_FXP_EXTENDED, &[s(b"\xff")]), K::UnknownExtended { name: b(b"\xff") }),
        (body(SSH_FXP_CLOSE, &[s(b"h"), vec![0]]), K::Close { handle: h.clone() }),
    ];
    for (input, kind) in cases {
        check(input, Ok(Request { id: ID, kind }));
    }
}

#[test]
fn every_truncated_prefix_is_malformed_and_keeps_the_id_once_readable() {
    for full in [open_body(), write_body(), copy_data_body()] {
        for len in 0..full.len() {
            let id = (len >= 5).then_some(ID);
            check(full.slice(..len), Err(DecodeError::Malformed { id }));
        }
    }
}

#[test]
fn invalid_fields_are_malformed_with_id() {
    let misaligned_ids = ext(EXT_USERS_GROUPS_BY_ID, &[s(&[0, 0, 1]), s(b"")]);
    let unknown_attr_flag = body(SSH_FXP_SETSTAT, &[s(b"/p"), n32(0x40)]);
    for input in [misaligned_ids, unknown_attr_flag] {
        check(input, Err(DecodeError::Malformed { id: Some(ID) }));
    }
}

#[test]
fn unknown_type_keeps_the_id_when_present() {
    let cases = [
        (b(b"\x63\x01\x02\x03\x04rest"), Some(ID)),
        (b(b"\x02\x01\x02\x03\x04"), Some(ID)),
        (b(b"\x65\x01\x02"), None),
        (b(b"\x01\x00\x00\x00\x03"), None),
    ];
    for (input, id) in cases {
        check(input, Err(DecodeError::UnknownType { id }));
    }
    check(Bytes::new(), Err(DecodeError::Malformed { id: None }));
}

#[test]
fn symlink_reads_target_before_link_path_like_openssh() {
    let input = body(SSH_FXP_SYMLINK, &[s(b"points/here"), s(b"/the/link")]);
    let target = b(b"points/here");
    let link_path = b(b"/the/link");
    let expected = RequestKind::Symlink { target, link_path };
    assert_eq!(
        decode_request(input).map(|request| request.kind),
        Ok(expected)
    );
}

#[test]
fn write_data_is_a_slice_of_the_packet() {
    let input = write_body();
    let Ok(Request {
        kind: RequestKind::Write { data, .. },
        ..
    }) = decode_request(input.clone())
    else {
        panic!("not a write");
    };
    assert_eq!(data.as_ptr(), input[input.len() - data.len()..].as_ptr());
}

#[test]
fn init_yields_the_client_version_and_skips_extensions() {
    let with_extension = [vec![SSH_FXP_INIT], n32(3), s(b"x@example.com"), s(b"1")].concat();
    let cut = with_extension[..with_extension.len() - 1].to_vec();
    let malformed = Err(DecodeError::Malformed { id: None });
    let cases = [
        (b(b"\x01\x00\x00\x00\x03"), Ok(3)),
        (b(b"\x01\x00\x00\x00\x06"), Ok(6)),
        (Bytes::from(with_extension), Ok(3)),
        (Bytes::from(cut), malformed),
        (b(b"\x01\x00\x00\x03"), malformed),
        (b(b"\x03\x00\x00\x00\x03"), malformed),
    ];
    for (input, expected) in cases {
        assert_eq!(parse_init(&input), expected, "input {input:02x?}");
    }
}

#[test]
fn open_flags_and_names() {
    let flags = OpenFlags::from_bits_retain(0x1_0009);
    assert!(flags.contains(OpenFlags::READ | OpenFlags::CREAT));
    assert!(!flags.contains(OpenFlags::WRITE));
    assert_eq!(flags.unknown_bits(), 0x1_0000);
    assert_eq!(RequestKind::Limits.name(), "limits@openssh.com");
    assert_eq!(RequestKind::Rmdir { path: Bytes::new() }.name(), "rmdir");
}

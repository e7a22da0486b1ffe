//! Replays the fuzzing corpus (`fuzz/corpus/<target>/`) through the same `ferryd::fuzzing`
//! entry points the cargo-fuzz targets call, so every seed and every past crash is checked by a
//! plain `cargo test` on the stable toolchain and the targets cannot silently rot.
//!
//! Crashes found by fuzzing also get a named test at the bottom of this file, saying what broke.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

/// A `ferryd::fuzzing` function: panics when an invariant breaks.
type EntryPoint = fn(&[u8]);

/// Every fuzz target and its entry point; a corpus directory or target missing here fails.
const TARGETS: &[(&str, EntryPoint)] = &[
    ("ftp_line", ferryd::fuzzing::ftp_line),
    ("ftp_address", ferryd::fuzzing::ftp_address),
    ("sftp_packet", ferryd::fuzzing::sftp_packet),
    ("vfs_path", ferryd::fuzzing::vfs_path),
    ("config", ferryd::fuzzing::config),
    ("users_file", ferryd::fuzzing::users_file),
    ("proxy_header", ferryd::fuzzing::proxy_header),
    ("scp_records", ferryd::fuzzing::scp_records),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn entry_point(target: &str) -> EntryPoint {
    match TARGETS.iter().find(|(name, _)| *name == target) {
        Some((_, run)) => *run,
        None => panic!("fuzz/corpus/{target} has no entry point in ferryd::fuzzing"),
    }
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    entries
}

#[test]
fn every_corpus_file_passes_its_entry_point() {
    let mut replayed = 0;
    for dir in sorted_entries(&fuzz_dir().join("corpus")) {
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(dir.is_dir(), "fuzz/corpus/{target} is not a directory");
        let run = entry_point(&target);
        let files = sorted_entries(&dir);
        assert!(!files.is_empty(), "fuzz/corpus/{target} has no seeds");
        for file in files {
            let data = fs::read(&file).unwrap();
            // Named on failure, since the panic itself only shows the broken invariant.
            eprintln!("replaying {}", file.display());
            run(&data);
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no corpus found");
}

#[test]
fn every_target_has_a_corpus_and_a_one_line_fuzzer() {
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let declared: Vec<&str> = manifest
        .lines()
        .filter_map(|line| line.strip_prefix("name = \""))
        .filter_map(|rest| rest.strip_suffix('"'))
        .filter(|name| *name != "ferryd-fuzz")
        .collect();
    let mut expected: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
    let mut found = declared.clone();
    expected.sort_unstable();
    found.sort_unstable();
    assert_eq!(
        found, expected,
        "fuzz/Cargo.toml targets differ from TARGETS"
    );
    for target in declared {
        assert!(
            fuzz_dir().join("corpus").join(target).is_dir(),
            "no corpus for {target}"
        );
        let source = fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{target}.rs")))
            .unwrap_or_else(|error| panic!("fuzz_targets/{target}.rs: {error}"));
        let call = format!("ferryd::fuzzing::{target}(data)");
        assert!(source.contains(&call), "{target}.rs does not call {call}");
    }
}

// Entry points on inputs chosen by hand, beyond the seeds: empty input and the extremes of each
// framing, so a broken invariant shows up here with a readable name.

#[test]
fn empty_input_is_fine_for_every_target() {
    for (_, run) in TARGETS {
        run(b"");
        run(b"\0");
    }
}

#[test]
fn ftp_line_with_only_telnet_padding_stays_within_the_limit() {
    let mut data = vec![7];
    data.extend(std::iter::repeat_n([0xff, 0xf1], 10_000).flatten());
    data.extend_from_slice(b"NOOP\r\n");
    ferryd::fuzzing::ftp_line(&data);
}

#[test]
fn sftp_packet_of_exactly_the_maximum_size_is_framed() {
    let max = ferryd::sftp::proto::SFTP_MAX_PACKET_BYTES;
    let mut data = vec![9];
    data.extend_from_slice(&max.to_be_bytes());
    data.push(6);
    data.resize(data.len() + max as usize - 1, 0xa5);
    ferryd::fuzzing::sftp_packet(&data);
}

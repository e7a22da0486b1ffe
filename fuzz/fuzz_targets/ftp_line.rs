//! Control-connection bytes through the line decoder and command parser.
//! The invariants live in `ferryd::fuzzing::ftp_line`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferryd::fuzzing::ftp_line(data));

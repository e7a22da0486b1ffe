//! SFTP channel bytes through packet framing and request decoding.
//! The invariants live in `ferryd::fuzzing::sftp_packet`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferryd::fuzzing::sftp_packet(data));

//! PORT and EPRT arguments.
//! The invariants live in `ferryd::fuzzing::ftp_address`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferryd::fuzzing::ftp_address(data));

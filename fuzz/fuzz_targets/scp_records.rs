//! SCP channel bytes and `scp` command lines through the pure SCP parser.
//! The invariants live in `ferryd::fuzzing::scp_records`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferryd::fuzzing::scp_records(data));

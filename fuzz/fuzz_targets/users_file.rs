//! Any text as the users file through `auth::users_file::parse` and a save/load round trip.
//! The invariants live in `ferryd::fuzzing::users_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferryd::fuzzing::users_file(data));

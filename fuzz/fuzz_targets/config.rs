//! Any text as a `ferryd.toml` through `Config::parse`.
//! The invariants live in `ferryd::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferryd::fuzzing::config(data));

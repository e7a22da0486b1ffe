//! A current directory and a client path through `VirtualPath` resolution.
//! The invariants live in `ferryd::fuzzing::vfs_path`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferryd::fuzzing::vfs_path(data));

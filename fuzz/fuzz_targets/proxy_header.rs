//! Any bytes as the start of a connection from a trusted proxy, through the PROXY protocol
//! header parser. The invariants live in `ferryd::fuzzing::proxy_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferryd::fuzzing::proxy_header(data));

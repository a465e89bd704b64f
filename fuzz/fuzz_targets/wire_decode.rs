//! `wire_decode`: see `swim_core::fuzzing::wire_decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swim_core::fuzzing::wire_decode(data));

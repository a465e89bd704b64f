//! `sim`: see `swim_core::fuzzing::sim`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swim_core::fuzzing::sim(data));

//! `sim`: see `swim_sim::fuzzing::sim`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swim_sim::fuzzing::sim(data));

//! `node_ops`: see `swim_core::fuzzing::node_ops`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swim_core::fuzzing::node_ops(data));

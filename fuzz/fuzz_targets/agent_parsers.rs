//! `agent_parsers`: see `swim_agent::fuzzing::agent_parsers`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| swim_agent::fuzzing::agent_parsers(data));

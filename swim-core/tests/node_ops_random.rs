//! `node_ops` over pseudo-random inputs on stable `cargo test`: a short,
//! deterministic smoke run of the fuzz target (keyed nodes, rotations,
//! allow-lists, sealed and unsealed datagrams mixed), in addition to the
//! committed corpus. `SWIM_NODE_OPS_RUNS=N` runs more.

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn node_ops_on_random_inputs() {
    let runs: u64 = std::env::var("SWIM_NODE_OPS_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for run in 0..runs {
        let len = 256 + (xorshift(&mut state) % 4096) as usize;
        let data: Vec<u8> = (0..len).map(|_| xorshift(&mut state) as u8).collect();
        let r = std::panic::catch_unwind(|| swim_core::fuzzing::node_ops(&data));
        if r.is_err() {
            let path = std::env::temp_dir().join(format!("node_ops_random_{run}"));
            std::fs::write(&path, &data).unwrap();
            panic!(
                "node_ops failed on run {run}; input saved to {}",
                path.display()
            );
        }
    }
}

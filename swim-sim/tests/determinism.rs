//! Determinism: the same seed twice gives the identical trace hash (every
//! datagram byte, event and fault in order); another seed gives another.

use std::time::Duration;
use swim_sim::{for_each_seed, Builder};

fn busy(seed: u64) -> Builder {
    let s = Duration::from_secs;
    Builder::new()
        .seed(seed)
        .nodes(30)
        .loss(0.05)
        .duplicate(0.02)
        .reorder(0.05, Duration::from_millis(40))
        .crash(s(15), [4])
        .restart(s(25), [4])
        .partition(s(20), 0..10, 10..30)
        .repair(s(30), 0..10, 10..30)
        .pause(s(32), [7], s(3))
        .slow(s(20), [9], Duration::from_millis(300))
        .leave(s(35), [12])
        .join_storm(s(36), 5, 0)
        .duration(s(50))
}

#[test]
fn same_seed_same_trace() {
    for_each_seed("determinism", 0..2, |seed| {
        let a = busy(seed).build().run();
        let b = busy(seed).build().run();
        let c = busy(seed + 1000).build().run();
        if a.trace_hash != b.trace_hash || a.events != b.events {
            return Err(format!(
                "seed {seed} diverged: {:016x} vs {:016x}",
                a.trace_hash, b.trace_hash
            ));
        }
        if a.trace_hash == c.trace_hash {
            return Err("different seeds gave the same trace".into());
        }
        Ok(())
    });
}

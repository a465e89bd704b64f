//! Seed sweep: random fault schedules (loss bursts, crashes and restarts,
//! two-way and one-way partitions, pauses, slow nodes, leaves, join storms,
//! duplication, reordering) under every checker, then convergence once the
//! faults stop. CI runs 200 seeds; `SWIM_SEEDS=10000 cargo test --release
//! -p swim-sim --test seed_sweep` runs ten thousand, `SWIM_SEED=S` replays one.

use std::time::Duration;
use swim_sim::{for_each_seed, random_schedule};

#[test]
fn random_fault_schedules_keep_the_invariants() {
    for_each_seed("seed_sweep", 0..200, |seed| {
        let r = random_schedule(seed, 12, Duration::from_secs(120))
            .build()
            .run();
        r.check()?;
        if !r.convergence.converged {
            return Err(format!(
                "did not converge once faults stopped\n{}",
                r.summary()
            ));
        }
        Ok(())
    });
}

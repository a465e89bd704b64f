//! Seed sweeps: random fault schedules, and running a check over the seeds
//! `SWIM_SEED` / `SWIM_SEEDS` select, printing how to replay failures.

use crate::rng::{Purpose, SimRng};
use crate::Builder;
use std::time::Duration;

/// A random fault schedule for `nodes` nodes: during the first 60% of
/// `duration` (after the joins settle), some of: iid loss bursts, crashes
/// (some restarted), two-way or one-way partitions that heal, pauses, slow
/// nodes, a graceful leave, a small join storm, duplication and reordering.
/// Faults stop in time for the convergence bound to be checked.
pub fn random_schedule(seed: u64, nodes: u32, duration: Duration) -> Builder {
    let mut rng = SimRng::new(seed, Purpose::Schedule);
    let nodes = nodes.max(4);
    let dur = duration.as_secs().max(60);
    let start = 10 + rng.below(5);
    let stop = dur * 6 / 10;
    let ms = Duration::from_millis;
    let s = Duration::from_secs;
    let at = |rng: &mut SimRng| s(rng.range(start, stop.saturating_sub(10)));
    let mut b = Builder::new()
        .seed(seed)
        .nodes(nodes)
        .duration(s(dur))
        .converge_within(s(dur - stop - 5))
        .latency(ms(1), ms(1 + rng.range(0, 20)));
    if rng.chance(0.3) {
        b = b.duplicate(0.02);
    }
    if rng.chance(0.3) {
        b = b.reorder(0.05, ms(100));
    }
    let ids: Vec<u32> = (1..nodes).collect();
    let pick = |rng: &mut SimRng, k: usize| rng.pick(&ids, k);
    if rng.chance(0.5) {
        let t = at(&mut rng);
        b = b
            .loss_at(t, rng.range(1, 30) as f64 / 100.0)
            .loss_at(t + s(rng.range(2, 20)), 0.0);
    }
    for _ in 0..rng.range(0, 2) {
        let n = pick(&mut rng, 1);
        let t = at(&mut rng);
        b = b.crash(t, n.clone());
        if rng.chance(0.5) {
            b = b.restart(t + s(rng.range(1, 15)), n);
        }
    }
    if rng.chance(0.5) {
        let split = rng.range(1, u64::from(nodes) - 1) as u32;
        let (l, r): (Vec<u32>, Vec<u32>) = (0..split).chain(split..nodes).partition(|&i| i < split);
        let t = at(&mut rng);
        let back = t + s(rng.range(2, 30));
        b = if rng.chance(0.5) {
            b.partition(t, l.clone(), r.clone())
        } else {
            b.partition_oneway(t, l.clone(), r.clone())
        };
        b = b.repair(back, l, r);
    }
    if rng.chance(0.4) {
        let t = at(&mut rng);
        b = b.pause(t, pick(&mut rng, 1), s(rng.range(1, 8)));
    }
    if rng.chance(0.3) {
        let n = pick(&mut rng, 1);
        let t = at(&mut rng);
        b = b
            .slow(t, n.clone(), ms(rng.range(200, 1500)))
            .slow(t + s(rng.range(5, 20)), n, ms(0));
    }
    if rng.chance(0.3) {
        b = b.leave(at(&mut rng), pick(&mut rng, 1));
    }
    if rng.chance(0.3) {
        b = b.join_storm(at(&mut rng), rng.range(2, 8) as u32, 0);
    }
    b
}

/// Runs `check` for every seed `SWIM_SEED` / `SWIM_SEEDS` select (default
/// `defaults`); panics listing the failures and how to replay each one.
/// `test` names the test target for the replay line.
pub fn for_each_seed(
    test: &str,
    defaults: std::ops::Range<u64>,
    mut check: impl FnMut(u64) -> Result<(), String>,
) {
    let seeds = crate::seeds_from_env(defaults);
    let mut failed = Vec::new();
    for &seed in &seeds {
        if let Err(e) = check(seed) {
            eprintln!("seed {seed} FAILED: {e}");
            eprintln!(
                "  replay: SWIM_SEED={seed} cargo test -p swim-sim --test {test} -- --nocapture"
            );
            failed.push(seed);
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} seeds failed: {:?}; replay one with SWIM_SEED=<seed> cargo test -p swim-sim --test {test} -- --nocapture",
        failed.len(),
        seeds.len(),
        &failed[..failed.len().min(20)]
    );
}

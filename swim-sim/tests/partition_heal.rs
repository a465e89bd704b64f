//! Partition and heal: a 50/50 two-way partition for 60 s, then heal; every
//! node sees the full live set again within 30 s. Also a one-way partition
//! and a held link that is released.

use std::time::Duration;
use swim_sim::{for_each_seed, Builder};

const S: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn fifty_fifty_partition_heals_within_30s() {
    for_each_seed("partition_heal", 0..2, |seed| {
        let r = Builder::new()
            .seed(seed)
            .nodes(40)
            .partition(S(20), 0..20, 20..40)
            .repair(S(80), 0..20, 20..40)
            .duration(S(140))
            .build()
            .run();
        r.check()?;
        match r.convergence.seconds_after_heal {
            Some(t) if t <= 30.0 => Ok(()),
            other => Err(format!(
                "not converged within 30 s of the heal ({other:?})\n{}",
                r.summary()
            )),
        }
    });
}

#[test]
fn one_way_partition_and_held_link_recover() {
    for_each_seed("partition_heal", 0..2, |seed| {
        let r = Builder::new()
            .seed(seed)
            .nodes(20)
            .partition_oneway(S(20), 0..5, 5..20)
            .repair(S(40), 0..5, 5..20)
            .hold(S(50), [1, 2], [3, 4])
            .release(S(58), [1, 2], [3, 4])
            .duration(S(120))
            .build()
            .run();
        r.check()?;
        if !r.convergence.converged {
            return Err(format!("did not converge\n{}", r.summary()));
        }
        Ok(())
    });
}

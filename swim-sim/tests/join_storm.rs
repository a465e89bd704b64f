//! Join storm: 200 nodes join a 20-node cluster through one seed at the
//! same instant; all of them end up seeing all 220 members, with no
//! false positives.

use std::time::Duration;
use swim_sim::{for_each_seed, Builder};

#[test]
fn two_hundred_join_through_one_seed_at_once() {
    let s = Duration::from_secs;
    for_each_seed("join_storm", 0..2, |seed| {
        let r = Builder::new()
            .seed(seed)
            .nodes(20)
            .join_storm(s(20), 200, 0)
            .converge_within(s(40))
            .duration(s(70))
            .build()
            .run();
        r.check()?;
        if r.false_positives.failed_events_about_live > 0 || !r.convergence.converged {
            return Err(format!("join storm went wrong\n{}", r.summary()));
        }
        eprintln!(
            "seed {seed}: converged {:?} s after the storm",
            r.convergence.seconds_after_heal
        );
        Ok(())
    });
}

//! Restart at the same address: a crashed node comes back with fresh state
//! (incarnation 0) and every node sees it Alive again within a few periods,
//! not stuck behind its old incarnation.

use std::time::Duration;
use swim_sim::{for_each_seed, Builder};

#[test]
fn restarted_node_is_alive_everywhere_within_a_few_periods() {
    let s = Duration::from_secs;
    for_each_seed("restart", 0..3, |seed| {
        let r = Builder::new()
            .seed(seed)
            .nodes(30)
            .crash(s(20), [5, 11])
            .restart(s(35), [5])
            .restart(s(36), [11])
            .duration(s(70))
            .build()
            .run();
        r.check()?;
        match r.convergence.seconds_after_heal {
            Some(t) if t <= 10.0 => Ok(()),
            other => Err(format!(
                "restarted nodes not Alive everywhere within 10 s ({other:?})\n{}",
                r.summary()
            )),
        }
    });
}

//! Graceful leave: peers report the leavers Left (never Failed), nobody
//! holds them live afterwards, and nothing resurrects them.

use std::time::Duration;
use swim_sim::{for_each_seed, Builder};

#[test]
fn leavers_are_reported_left_not_failed() {
    let s = Duration::from_secs;
    for_each_seed("leave", 0..3, |seed| {
        let r = Builder::new()
            .seed(seed)
            .nodes(30)
            .leave(s(20), [3, 17, 29])
            .duration(s(60))
            .build()
            .run();
        r.check()?;
        let fp = &r.false_positives;
        if fp.failed_events_about_leavers > 0 || fp.failed_events_about_live > 0 {
            return Err(format!("leavers reported Failed\n{}", r.summary()));
        }
        if !r.convergence.converged {
            return Err(format!("views still hold leavers\n{}", r.summary()));
        }
        Ok(())
    });
}

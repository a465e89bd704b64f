//! "Everywhere" in the pause, crash and restart records means every node
//! that is running and not paused at that moment: a paused node cannot
//! update its view, so its stale view does not hold a record open while it
//! is paused — and counts again, as it is, once it resumes.

use std::time::Duration;
use swim_sim::{Builder, PauseRecord, Report, Tamper};

const S: fn(u64) -> Duration = Duration::from_secs;

fn pause_of(r: &Report, node: u32) -> &PauseRecord {
    r.pauses
        .iter()
        .find(|p| p.node == node)
        .unwrap_or_else(|| panic!("no pause of node {node}: {:?}", r.pauses))
}

#[test]
fn overlapping_pauses_are_each_failed_everywhere() {
    // Node 4 pauses 2 s after node 3, before anyone suspects 3: while
    // paused it still holds 3 live, and by the time it resumes 3 is back.
    let r = Builder::new()
        .seed(1)
        .nodes(10)
        .pause(S(10), [3], S(20))
        .pause(S(12), [4], S(20))
        .duration(S(60))
        .build()
        .run();
    assert_eq!(r.violations, 0, "{}", r.summary());
    for node in [3, 4] {
        let p = pause_of(&r, node);
        let failed = p.failed_all_s.unwrap_or_else(|| panic!("{p:?}"));
        assert!(failed <= 10.0, "{p:?}");
        let alive = p.alive_all_s.unwrap_or_else(|| panic!("{p:?}"));
        assert!(alive <= 2.0, "{p:?}");
    }
}

#[test]
fn a_paused_observer_does_not_hold_back_alive_everywhere() {
    // Node 4 pauses after the cluster declared 3 Failed and resumes 15 s
    // after 3 did: the rest see 3 alive again within a second or two.
    let r = Builder::new()
        .seed(1)
        .nodes(10)
        .pause(S(10), [3], S(20))
        .pause(S(25), [4], S(20))
        .duration(S(70))
        .build()
        .run();
    assert_eq!(r.violations, 0, "{}", r.summary());
    let p = pause_of(&r, 3);
    assert!(p.failed_all_s.is_some_and(|s| s <= 10.0), "{p:?}");
    assert!(p.alive_all_s.is_some_and(|s| s <= 2.0), "{p:?}");
}

#[test]
fn a_paused_observer_does_not_hold_back_crash_and_restart_records() {
    // Node 3 is paused (for good) before node 5 crashes: it holds 5 live.
    let r = Builder::new()
        .seed(1)
        .nodes(10)
        .pause(S(10), [3], S(100))
        .crash(S(12), [5])
        .duration(S(40))
        .build()
        .run();
    let c = &r.detection.crashes[0];
    assert!(c.all_failed_s.is_some_and(|s| s <= 10.0), "{c:?}");
    // Node 3 pauses after the cluster declared 5 Failed, holding it Failed,
    // and is still paused when 5 restarts.
    let r = Builder::new()
        .seed(1)
        .nodes(10)
        .crash(S(10), [5])
        .pause(S(22), [3], S(100))
        .restart(S(25), [5])
        .duration(S(40))
        .build()
        .run();
    let c = &r.detection.crashes[0];
    assert!(c.all_failed_s.is_some_and(|s| s <= 12.0), "{c:?}");
    let restart = &r.restarts[0];
    assert!(restart.all_live_s.is_some_and(|s| s <= 5.0), "{restart:?}");
}

#[test]
fn a_resumed_observer_counts_again() {
    // Node 3's view is frozen from t = 5 s (its events are dropped: it holds
    // everyone live for good). Paused through node 5's crash it does not
    // count; once it resumes, its stale view is a disagreement again.
    let run = |pause: u64| {
        Builder::new()
            .seed(1)
            .nodes(10)
            .tamper(S(5), 3, Tamper::DropEvents)
            .pause(S(10), [3], S(pause))
            .crash(S(12), [5])
            .duration(S(40))
            .build()
            .run()
    };
    let paused = run(100);
    let c = &paused.detection.crashes[0];
    assert!(c.all_failed_s.is_some_and(|s| s <= 10.0), "{c:?}");
    let resumed = run(3);
    let c = &resumed.detection.crashes[0];
    assert_eq!(c.all_failed_s, None, "{c:?}");
    // The same for a pause record: node 3 resumes (at 14 s) before node 5,
    // paused at 12 s, is declared Failed by the others.
    let run = |pause: u64| {
        Builder::new()
            .seed(1)
            .nodes(10)
            .tamper(S(5), 3, Tamper::DropEvents)
            .pause(S(10), [3], S(pause))
            .pause(S(12), [5], S(20))
            .duration(S(40))
            .build()
            .run()
    };
    let r = run(100);
    assert!(
        pause_of(&r, 5).failed_all_s.is_some_and(|s| s <= 10.0),
        "{:?}",
        r.pauses
    );
    let r = run(4);
    assert_eq!(pause_of(&r, 5).failed_all_s, None, "{:?}", r.pauses);
}

#[test]
fn the_last_holdout_pausing_completes_alive_everywhere() {
    // Node 3 declares 5 Failed, then its view freezes (events dropped): it
    // never sees 5's restart. Everyone else does; when 3 pauses at 30 s, the
    // nodes that count all hold 5 live, and the record closes right then.
    let r = Builder::new()
        .seed(1)
        .nodes(10)
        .crash(S(10), [5])
        .tamper(S(24), 3, Tamper::DropEvents)
        .restart(S(25), [5])
        .pause(S(30), [3], S(100))
        .duration(S(40))
        .build()
        .run();
    let restart = &r.restarts[0];
    assert_eq!(restart.all_live_s, Some(5.0), "{restart:?}");
}

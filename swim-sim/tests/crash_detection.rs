//! Crash detection: 1% of the nodes crash; every live node reports them
//! Failed quickly (issue target: median ≤ 5 s, max ≤ 10 s after the crash),
//! with no false positives and no invariant violations.

use std::time::Duration;
use swim_sim::{for_each_seed, Builder, Report};

const S: fn(u64) -> Duration = Duration::from_secs;

fn crash_run(seed: u64, nodes: u32) -> Report {
    Builder::new()
        .seed(seed)
        .nodes(nodes)
        .crash_random(S(30), (nodes as usize).div_ceil(100))
        .duration(S(60))
        .build()
        .run()
}

/// Per-run checks: everything detected, no false positives, convergence.
fn check(r: &Report) -> Result<(), String> {
    r.check()?;
    let d = &r.detection;
    if d.undetected > 0 {
        return Err(format!(
            "{} crashes undetected\n{}",
            d.undetected,
            r.summary()
        ));
    }
    if d.all_failed_max_s.unwrap_or(f64::INFINITY) > 10.0 {
        return Err(format!(
            "a crash took over 10 s to reach every node\n{}",
            r.summary()
        ));
    }
    if r.false_positives.failed_events_about_live > 0 {
        return Err(format!(
            "false positives on a clean network\n{}",
            r.summary()
        ));
    }
    if !r.convergence.converged {
        return Err(format!("did not converge after the crash\n{}", r.summary()));
    }
    Ok(())
}

/// Runs the seeds and checks the target over all their crashes
/// together: median time until every live node reports Failed ≤ 5 s,
/// max ≤ 10 s.
fn detection_target(nodes: u32, seeds: std::ops::Range<u64>) {
    let mut all = Vec::new();
    for_each_seed("crash_detection", seeds, |seed| {
        let r = crash_run(seed, nodes);
        all.extend(r.detection.crashes.iter().filter_map(|c| c.all_failed_s));
        check(&r)
    });
    all.sort_by(f64::total_cmp);
    let median = all[all.len() / 2];
    eprintln!("N={nodes}: Failed at every live node after {all:.2?} s (median {median:.2} s)");
    assert!(
        median <= 5.0,
        "median detection {median:.2} s > 5 s over {all:.2?}"
    );
}

#[test]
fn one_percent_of_100_nodes_crash() {
    detection_target(100, 0..7);
}

/// The N=1,000 target: `cargo test --release -p swim-sim --test crash_detection -- --ignored`.
#[test]
#[ignore = "N=1,000: run with --release -- --ignored"]
fn one_percent_of_1000_nodes_crash() {
    for_each_seed("crash_detection", 0..3, |seed| {
        check(&crash_run(seed, 1000))
    });
}

//! Slow node: a few members handle every datagram late and wake up late
//! (each lag uniform in [0, 1 s]), so they miss acks and accuse healthy
//! peers. Lifeguard
//! (local health, nacks, dynamic suspicion, buddy) must cut the false
//! Failed declarations at least tenfold compared with plain SWIM.

use std::time::Duration;
use swim_core::Config;
use swim_sim::{for_each_seed, without_lifeguard, Builder, Report};

fn slow_run(seed: u64, config: Config) -> Report {
    let s = Duration::from_secs;
    Builder::new()
        .seed(seed)
        .nodes(50)
        .config(config)
        .slow_random(s(20), 2, Duration::from_millis(1000))
        .duration(s(200))
        .build()
        .run()
}

#[test]
fn lifeguard_cuts_false_failures_tenfold() {
    for_each_seed("slow_node_lifeguard", 0..2, |seed| {
        let with = slow_run(seed, Config::lan());
        let without = slow_run(seed, without_lifeguard(Config::lan()));
        with.check()?;
        // The control run's slow members flap until the end, so its views
        // need not agree then (the convergence checker requires it); its
        // other invariants still hold.
        let broken: Vec<_> = without
            .violation_list
            .iter()
            .filter(|v| !format!("{v:?}").contains("NotConverged"))
            .collect();
        if !broken.is_empty() {
            return Err(format!("without Lifeguard: {broken:?}"));
        }
        let (w, wo) = (
            with.false_positives.failed_events_about_live,
            without.false_positives.failed_events_about_live,
        );
        eprintln!("seed {seed}: false Failed with Lifeguard {w}, without {wo}");
        if wo < 10 {
            return Err(format!(
                "the scenario provoked too few false Failed without Lifeguard ({wo})"
            ));
        }
        if w * 10 > wo {
            return Err(format!(
                "Lifeguard: {w} false Failed vs {wo} without (need ≥ 10× fewer)\nwith:\n{}without:\n{}",
                with.summary(),
                without.summary()
            ));
        }
        Ok(())
    });
}

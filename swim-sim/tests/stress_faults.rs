//! Each stress fault does what it says: slow nodes lag on both lanes, GC
//! pauses alternate and bound their buffer, mass crashes take a fraction,
//! churn crashes/restarts/leaves/joins, flapping links and inbound-only
//! loss drop what they should — and all of it replays from the seed.

use std::time::Duration;
use swim_sim::{Builder, Churn, Flapping, GcPauses, Pick};

const S: fn(u64) -> Duration = Duration::from_secs;
const MS: fn(u64) -> Duration = Duration::from_millis;

#[test]
fn slow_nodes_lag_on_both_lanes() {
    let r = Builder::new()
        .seed(1)
        .nodes(20)
        .slow(S(10), [3, 4], S(2))
        .duration(S(60))
        .build()
        .run();
    let d = r.slow_datagram_lag.expect("datagrams lagged");
    let t = r.slow_timer_lag.expect("timers lagged");
    // Timers: a fresh U[0, 2 s] draw per wake-up, mean ≈ 1 s.
    assert!((0.7..1.3).contains(&t.mean_s), "{t:?}");
    assert!(t.max_s <= 2.0 + 1e-9, "{t:?}");
    // Datagrams: the same draw, plus FIFO queueing behind earlier ones.
    assert!(d.mean_s >= 0.9, "{d:?}");
    assert!(d.events > 100 && t.events > 50, "{d:?} {t:?}");
    let calm = Builder::new()
        .seed(1)
        .nodes(20)
        .duration(S(30))
        .build()
        .run();
    assert!(calm.slow_datagram_lag.is_none() && calm.slow_timer_lag.is_none());
}

#[test]
fn gc_pauses_alternate_and_bound_the_buffer() {
    let gc = GcPauses {
        run_min: S(5),
        run_max: S(10),
        pause: S(3),
    };
    let r = Builder::new()
        .seed(2)
        .nodes(20)
        .gc_pauses(S(10), S(70), Pick::Count(2), gc)
        .duration(S(100))
        .build()
        .run();
    // 60 s of cycles of 8–13 s: 4–8 pauses per node.
    assert!((8..=16).contains(&r.pauses.len()), "{:?}", r.pauses);
    assert!(r.pauses.iter().all(|p| p.len_s == 3.0));
    assert_eq!(r.load.pause_dropped, 0);
    let long = GcPauses { pause: S(20), ..gc };
    let r = Builder::new()
        .seed(2)
        .nodes(20)
        .pause_queue(4)
        .gc_pauses(S(10), S(40), [5], long)
        .duration(S(100))
        .build()
        .run();
    assert!(r.load.pause_dropped > 0, "{}", r.summary());
}

#[test]
fn mass_crash_takes_a_fraction() {
    let r = Builder::new()
        .seed(3)
        .nodes(50)
        .crash_pick(S(20), Pick::Fraction(0.1), None)
        .duration(S(50))
        .build()
        .run();
    assert_eq!(r.detection.crashed, 5);
    assert!(r.detection.crashes.iter().all(|c| c.at_s == 20.0));
    assert_eq!(r.detection.undetected, 0, "{}", r.summary());
}

#[test]
fn churn_crashes_restarts_leaves_and_joins() {
    let churn = Churn {
        crashes_per_min: 4.0,
        restart_after: S(5),
        leaves_per_min: 2.0,
        joins_per_min: 2.0,
    };
    let r = Builder::new()
        .seed(4)
        .nodes(30)
        .churn(S(10), S(70), churn)
        .duration(S(140))
        .build()
        .run();
    assert!(r.detection.crashed >= 2, "{}", r.summary());
    assert!(!r.restarts.is_empty());
    assert!(
        r.restarts.iter().all(|x| x.all_live_s.is_some()),
        "{:?}",
        r.restarts
    );
    assert!(r.nodes > 30, "joins add nodes");
    r.check().unwrap();
    assert!(r.convergence.converged, "{}", r.summary());
}

#[test]
fn flapping_links_and_inbound_loss_drop_traffic() {
    let r = Builder::new()
        .seed(5)
        .nodes(20)
        .flapping(S(10), S(50), Flapping::default())
        .inbound_loss(S(10), [7], 0.8, Some(S(50)))
        .duration(S(60))
        .build()
        .run();
    assert!(r.load.link_down > 0, "{}", r.summary());
    assert!(r.load.lost_inbound > 0, "{}", r.summary());
    assert_eq!(r.load.lost, 0, "inbound loss is not iid loss");
    let none = Flapping {
        pairs: 0.0,
        ..Flapping::default()
    };
    let r = Builder::new()
        .seed(5)
        .nodes(20)
        .flapping(S(10), S(50), none)
        .duration(S(60))
        .build()
        .run();
    assert_eq!(r.load.link_down, 0);
}

#[test]
fn stress_faults_replay_from_the_seed() {
    let run = |seed| {
        Builder::new()
            .seed(seed)
            .nodes(30)
            .slow_pick(S(10), Pick::Count(2), MS(500), Some(S(40)))
            .gc_pauses(
                S(10),
                S(40),
                [5],
                GcPauses {
                    run_min: S(3),
                    run_max: S(6),
                    pause: S(2),
                },
            )
            .flapping(S(10), S(40), Flapping::default())
            .inbound_loss(S(10), Pick::Count(1), 0.5, Some(S(40)))
            .churn(
                S(10),
                S(40),
                Churn {
                    crashes_per_min: 3.0,
                    restart_after: S(5),
                    leaves_per_min: 1.0,
                    joins_per_min: 1.0,
                },
            )
            .duration(S(60))
            .build()
            .run()
    };
    let (a, b, c) = (run(1), run(1), run(2));
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.events, b.events);
    assert_ne!(a.trace_hash, c.trace_hash);
}

#[test]
fn broadcasts_are_tracked_to_every_node() {
    let r = Builder::new()
        .seed(6)
        .nodes(20)
        .broadcast(S(10), 3, 1024)
        .broadcast(S(11), 4, 8)
        .duration(S(30))
        .build()
        .run();
    assert_eq!(r.broadcasts.len(), 2);
    for b in &r.broadcasts {
        assert!(b.accepted && b.of == 19 && b.reached == 19, "{b:?}");
        assert!(b.all_s.is_some_and(|s| s < 10.0), "{b:?}");
    }
}

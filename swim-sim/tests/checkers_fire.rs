//! A checker that cannot fail is a defect: each invariant checker is shown
//! firing on a deliberately broken node (`Builder::tamper`), and staying
//! quiet on the same run without the breakage.

use std::time::Duration;
use swim_sim::{Builder, Report, Tamper, ViolationKind};

const S: fn(u64) -> Duration = Duration::from_secs;

fn kinds(r: &Report) -> Vec<ViolationKind> {
    r.violation_list.iter().map(|v| v.kind).collect()
}

/// Runs `scenario` with and without `tamper` applied to `node` at `at`;
/// the broken run must report `kind`, the healthy one no violation.
fn fires(
    scenario: impl Fn() -> Builder,
    at: Duration,
    node: u32,
    tamper: Tamper,
    kind: ViolationKind,
) {
    let healthy = scenario().build().run();
    assert_eq!(healthy.violations, 0, "healthy run:\n{}", healthy.summary());
    let broken = scenario().tamper(at, node, tamper).build().run();
    assert!(
        kinds(&broken).contains(&kind),
        "{tamper:?} did not make the {kind:?} checker fire:\n{}",
        broken.summary()
    );
}

#[test]
fn self_failed_fires_when_a_node_does_not_refute_a_failed_claim() {
    // Paused long enough to be declared Failed; after resuming it hears the
    // claim. A healthy node refutes; this one never sees claims about itself.
    let scenario = || {
        Builder::new()
            .seed(1)
            .nodes(10)
            .pause(S(10), [3], S(15))
            .duration(S(60))
    };
    fires(
        scenario,
        S(5),
        3,
        Tamper::IgnoreClaimsAboutSelf,
        ViolationKind::SelfFailed,
    );
}

#[test]
fn incarnation_checker_fires_when_a_node_forgets_its_incarnation() {
    // The pause makes node 3 refute (incarnation ≥ 1); then it silently
    // starts over at incarnation 0.
    let scenario = || {
        Builder::new()
            .seed(2)
            .nodes(10)
            .pause(S(10), [3], S(15))
            .duration(S(60))
    };
    fires(
        scenario,
        S(40),
        3,
        Tamper::Amnesia,
        ViolationKind::IncarnationDecreased,
    );
}

#[test]
fn resurrection_fires_when_a_node_brings_back_a_crashed_member() {
    // Node 2 reports crashed node 5 Failed, then is rebuilt from a stale
    // member list that still holds 5 alive at its old incarnation.
    let scenario = || {
        Builder::new()
            .seed(3)
            .nodes(10)
            .crash(S(10), [5])
            .duration(S(60))
    };
    fires(
        scenario,
        S(30),
        2,
        Tamper::Rollback,
        ViolationKind::Resurrection,
    );
}

#[test]
fn convergence_fires_when_a_running_node_goes_silent() {
    // Node 3 keeps running but nothing it sends arrives: the others hold it
    // Failed forever while the simulator knows it runs.
    let scenario = || {
        Builder::new()
            .seed(4)
            .nodes(10)
            .converge_within(S(30))
            .duration(S(70))
    };
    fires(
        scenario,
        S(20),
        3,
        Tamper::Mute,
        ViolationKind::NotConverged,
    );
}

#[test]
fn oversize_fires_on_a_datagram_over_the_mtu() {
    let scenario = || Builder::new().seed(5).nodes(5).duration(S(20));
    fires(
        scenario,
        S(5),
        1,
        Tamper::Pad,
        ViolationKind::OversizedDatagram,
    );
}

#[test]
fn view_checker_fires_when_events_and_members_disagree() {
    // Node 3 loses its events; its table then says node 5 is Failed while
    // the events it emitted say nothing.
    let scenario = || {
        Builder::new()
            .seed(6)
            .nodes(10)
            .crash(S(20), [5])
            .duration(S(40))
    };
    fires(
        scenario,
        S(10),
        3,
        Tamper::DropEvents,
        ViolationKind::ViewMismatch,
    );
}

#[test]
fn resurrection_is_not_waived_for_a_member_once_falsely_failed() {
    // Node 5 is paused long enough to be declared Failed while running (a
    // false positive), comes back, then really crashes. A node that brings
    // it back from a stale list is still caught.
    let scenario = || {
        Builder::new()
            .seed(7)
            .nodes(10)
            .pause(S(10), [5], S(15))
            .crash(S(40), [5])
            .duration(S(80))
    };
    let healthy = scenario().build().run();
    assert!(healthy.false_positives.distinct_live_declared_failed > 0);
    fires(
        scenario,
        S(60),
        2,
        Tamper::Rollback,
        ViolationKind::Resurrection,
    );
}

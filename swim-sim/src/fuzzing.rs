//! The `sim` fuzz target's body (`fuzz/fuzz_targets/sim.rs` calls it; the
//! committed corpus is replayed by `tests/fuzz_corpus.rs`).
//!
//! The input bytes choose a master seed, a cluster (4–10 nodes, LAN or
//! local timers, Lifeguard on or off, small or default packets) and a fault
//! schedule: loss bursts, crashes and restarts, two-way and one-way
//! partitions, held links, pauses, slow nodes, a leave, a join storm,
//! duplication and reordering. Every fault ends by half the run; the rest is
//! quiet time for the convergence checker (a generous bound: at least 40 s
//! of virtual time). The simulator's checkers run on every step; any
//! violation panics with the replayable seed and schedule.

use crate::{Builder, NodeId};
use std::time::Duration;

/// Reads the fuzzer's bytes; zeros once they run out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |v, _| (v << 8) | u64::from(self.u8()))
    }

    /// A value in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        let span = hi.saturating_sub(lo) + 1;
        lo + u64::from(self.u8()) % span
    }

    fn chance(&mut self) -> bool {
        self.u8() & 1 == 1
    }
}

/// Target `sim`: runs the schedule `data` describes; panics on any checker
/// violation.
pub fn sim(data: &[u8]) {
    let (builder, plan) = schedule(data);
    let report = builder.build().run();
    if let Err(e) = report.check() {
        panic!("sim target: {e}\nschedule: {plan}\n{}", report.summary());
    }
}

/// The simulation `data` describes, and a readable account of it.
pub fn schedule(data: &[u8]) -> (Builder, String) {
    let mut u = Bytes(data);
    let s = Duration::from_secs;
    let ms = Duration::from_millis;
    let seed = u.u64();
    let nodes = u.range(4, 10) as u32;
    let dur = u.range(90, 150);
    let stop = dur / 2;
    let kind = u.u8() % 3;
    let mut config = match kind {
        0 => swim_core::Config::lan(),
        1 => swim_core::Config::local(),
        _ => crate::without_lifeguard(swim_core::Config::lan()),
    };
    if u.chance() {
        config.max_packet_size = 512;
        config.max_meta_size = 64;
        config.max_payload_size = 256;
    }
    let mut plan = format!(
        "seed {seed}, {nodes} nodes, {dur} s, {} config (probe interval {:?}, lifeguard {}, max_packet_size {}), faults until {stop} s:",
        ["lan", "local", "lan without Lifeguard"][usize::from(kind)],
        config.probe_interval,
        config.lifeguard_suspicion,
        config.max_packet_size,
    );
    let mut b = Builder::new()
        .seed(seed)
        .nodes(nodes)
        .config(config)
        .duration(s(dur))
        .converge_within(s(dur - stop - 5))
        .latency(ms(1), ms(u.range(1, 40)));
    if u.chance() {
        b = b.duplicate(f64::from(u.range(1, 10) as u8) / 100.0);
        plan.push_str(" duplicate;");
    }
    if u.chance() {
        b = b.reorder(
            f64::from(u.range(1, 10) as u8) / 100.0,
            ms(u.range(10, 200)),
        );
        plan.push_str(" reorder;");
    }
    // Node 0 is everyone's seed: it is never crashed nor made to leave.
    let other = |u: &mut Bytes<'_>| u.range(1, u64::from(nodes) - 1) as NodeId;
    let any = |u: &mut Bytes<'_>| u.range(0, u64::from(nodes) - 1) as NodeId;
    let faults = u.range(0, 6);
    for _ in 0..faults {
        let at = u.range(5, stop - 5);
        let len = u.range(1, stop - at);
        let (t, end) = (s(at), s(at + len));
        match u.u8() % 9 {
            0 => {
                let p = f64::from(u.range(1, 40) as u8) / 100.0;
                b = b.loss_at(t, p).loss_at(end, 0.0);
                plan.push_str(&format!(" loss {p} {at}..{}s;", at + len));
            }
            1 => {
                let n = other(&mut u);
                b = b.crash(t, [n]);
                if u.chance() {
                    b = b.restart(end, [n]);
                    plan.push_str(&format!(" crash {n} {at}s, restart {}s;", at + len));
                } else {
                    plan.push_str(&format!(" crash {n} {at}s;"));
                }
            }
            k @ (2 | 3) => {
                let split = u.range(1, u64::from(nodes) - 1) as NodeId;
                let (l, r): (Vec<NodeId>, Vec<NodeId>) = (0..nodes).partition(|&i| i < split);
                b = if k == 2 {
                    b.partition(t, l.clone(), r.clone())
                } else {
                    b.partition_oneway(t, l.clone(), r.clone())
                };
                b = b.repair(end, l, r);
                let kind = if k == 2 {
                    "partition"
                } else {
                    "one-way partition"
                };
                plan.push_str(&format!(" {kind} at {split} {at}..{}s;", at + len));
            }
            4 => {
                let (x, y) = (any(&mut u), any(&mut u));
                if x != y {
                    b = b.hold(t, [x], [y]).release(end, [x], [y]);
                    plan.push_str(&format!(" hold {x}->{y} {at}..{}s;", at + len));
                }
            }
            5 => {
                let n = any(&mut u);
                b = b.pause(t, [n], s(len));
                plan.push_str(&format!(" pause {n} {at}..{}s;", at + len));
            }
            6 => {
                let n = any(&mut u);
                let d = ms(u.range(1, 255) * 8);
                b = b.slow(t, [n], d).slow(end, [n], ms(0));
                plan.push_str(&format!(" slow {n} by {d:?} {at}..{}s;", at + len));
            }
            7 => {
                let n = other(&mut u);
                b = b.leave(t, [n]);
                plan.push_str(&format!(" leave {n} {at}s;"));
            }
            _ => {
                let count = u.range(1, 8) as u32;
                b = b.join_storm(t, count, 0);
                plan.push_str(&format!(" join storm of {count} {at}s;"));
            }
        }
    }
    (b, plan)
}

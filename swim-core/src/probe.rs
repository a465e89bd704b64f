//! Failure detection: randomized round-robin probing, direct ping, indirect
//! ping-req through `k` helpers, Lifeguard nacks and the local health
//! multiplier; and the helper side (relaying a probe for someone else).

use crate::wire::Body;
use crate::{Addr, State, Swim};
use std::time::Duration;

/// Virtual time since the node's epoch.
type Time = Duration;

/// The probe in flight.
#[derive(Clone)]
pub(crate) struct Probe<A> {
    target: A,
    seq: u32,
    timeout_at: Time,
    acked: bool,
    indirect: bool,
    helpers: Vec<A>,
    nacks: u32,
    /// The suspicion's originator that asked for this probe: it hears the
    /// outcome if the target answers.
    asked_by: Option<A>,
}

/// A probe that ended without an ack: an ack for it that comes late (from
/// the target, or relayed by a helper) still proves the target runs.
#[derive(Clone)]
struct Ended<A> {
    target: A,
    seq: u32,
    helpers: Vec<A>,
}

/// Probe scheduling state.
#[derive(Clone)]
pub(crate) struct Prober<A> {
    /// This pass's walk over the table's slots.
    walk: Walk,
    current: Option<Probe<A>>,
    /// The last probe that failed.
    ended: Option<Ended<A>>,
    pub(crate) next_at: Option<Time>,
    /// Lifeguard local health score, 0..=awareness_max.
    pub(crate) awareness: u32,
    relays: Vec<Relay<A>>,
    /// Suspects to probe before resuming the round-robin (a few nodes do,
    /// so that a real failure gathers its confirmations fast and a live
    /// suspect hears of its suspicion from more sides).
    urgent: Vec<(A, Option<A>)>,
}

/// An indirect probe this node runs for a requester.
#[derive(Clone)]
struct Relay<A> {
    seq: u32,
    requester: A,
    req_seq: u32,
    target: A,
    nack_at: Time,
    expires: Time,
    nacked: bool,
    budget: usize,
}

impl<A: Addr> Prober<A> {
    pub(crate) fn new() -> Self {
        Prober {
            walk: Walk::default(),
            current: None,
            ended: None,
            next_at: None,
            awareness: 0,
            relays: Vec::new(),
            urgent: Vec::new(),
        }
    }

    /// Whether an ack from `from` with `seq` answers a ping this node sent
    /// (its probe in flight, or one it relays): a round trip that proves
    /// `from` is at that address.
    pub(crate) fn expects_ack(&self, from: A, seq: u32) -> bool
    where
        A: PartialEq,
    {
        self.current
            .as_ref()
            .is_some_and(|p| p.seq == seq && (from == p.target || p.helpers.contains(&from)))
            || self.relays.iter().any(|r| r.seq == seq && r.target == from)
    }

    /// Indirect probes relayed for others (for the fuzzers' bound checks).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn relays_len(&self) -> usize {
        self.relays.len()
    }

    pub(crate) fn next_deadline(&self) -> Option<Time> {
        let timeout = self
            .current
            .as_ref()
            .filter(|p| !p.acked)
            .map(|p| p.timeout_at);
        match (self.next_at, timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Randomized round-robin without storing an order: a pass visits slot
/// positions `(a·i + b) mod m` for `i` in `0..m`, with `m` the power of two
/// at or above the table's size and `a` odd (so every position exactly
/// once), `a` and `b` drawn anew each pass. A member that joins during a pass
/// sits at a random point of it; if the table outgrows `m`, a new pass
/// starts at once. Saves a 4-byte order entry per member, which at 10,000
/// members (a table of 10,000 per member) is 400 MB cluster-wide.
#[derive(Clone, Copy, Debug, Default)]
struct Walk {
    m: u64,
    a: u64,
    b: u64,
    i: u64,
}

impl Walk {
    fn new(slots: u64, rng: &mut crate::rng::Rng) -> Walk {
        let m = slots.max(1).next_power_of_two();
        let b = rng.below(m as usize) as u64;
        let a = (rng.below(m as usize) as u64) | 1;
        Walk { m, a, b, i: 0 }
    }

    /// Whether the table has outgrown this pass.
    fn covers(&self, slots: u64) -> bool {
        slots <= self.m
    }

    fn next_pos(&mut self) -> Option<usize> {
        if self.i >= self.m {
            return None;
        }
        let pos =
            (u128::from(self.a) * u128::from(self.i) + u128::from(self.b)) % u128::from(self.m);
        self.i += 1;
        usize::try_from(pos).ok()
    }
}

impl<A: Addr> Swim<A> {
    /// `d` scaled by the Lifeguard health multiplier.
    pub(crate) fn scaled(&self, d: Duration) -> Duration {
        if self.config.lifeguard_awareness {
            d * (self.prober.awareness + 1)
        } else {
            d
        }
    }

    pub(crate) fn awareness_delta(&mut self, delta: i64) {
        if !self.config.lifeguard_awareness {
            return;
        }
        let max = i64::from(self.config.awareness_max);
        let v = (i64::from(self.prober.awareness) + delta).clamp(0, max);
        self.prober.awareness = u32::try_from(v).unwrap_or(0);
    }

    pub(crate) fn tick_probe(&mut self) {
        let now = self.now;
        let due = self
            .prober
            .current
            .as_ref()
            .filter(|p| !p.acked && now >= p.timeout_at)
            .map(|p| p.indirect);
        match due {
            Some(false) => self.send_indirect(),
            // The helpers had one probe timeout of their own (and sent
            // their nacks): the probe failed. Concluding now rather than at
            // the end of the period reports a crash ~0.2 s sooner; an ack
            // that comes later still counts as evidence of life.
            Some(true) => self.finish_probe(),
            None => {}
        }
        if self.prober.next_at.is_some_and(|t| now >= t) {
            self.finish_probe();
            self.start_probe();
        }
    }

    /// Settles the probe in flight at the end of its period.
    fn finish_probe(&mut self) {
        let Some(p) = self.prober.current.take() else {
            return;
        };
        if p.acked {
            return;
        }
        self.prober.ended = Some(Ended {
            target: p.target,
            seq: p.seq,
            helpers: p.helpers.clone(),
        });
        self.stats.probes_failed += 1;
        let expected = if self.config.lifeguard_nack {
            p.helpers.len() as u32
        } else {
            0
        };
        // Lifeguard: missing nacks mean *we* may be the slow one. One point
        // per failed probe at most, and none when a helper's nack got
        // through (our own path works; the target is the problem). Counting
        // every silent helper drove the score to its maximum in partitions,
        // where the helpers across the split are silent for the network's
        // sake, and slowed probing to a crawl (netns split test).
        let delta = u32::from(expected == 0 || p.nacks == 0);
        self.awareness_delta(i64::from(delta));
        self.suspect(p.target);
    }

    fn start_probe(&mut self) {
        let interval = self.scaled(self.config.probe_interval);
        self.prober.next_at = Some(self.now + interval);
        let Some((target, asked_by)) = self.next_target() else {
            return;
        };
        let seq = self.next_seq();
        self.stats.probes += 1;
        let timeout = self.scaled(self.config.probe_timeout);
        self.prober.current = Some(Probe {
            target,
            seq,
            timeout_at: self.now + timeout,
            acked: false,
            indirect: false,
            helpers: Vec::new(),
            nacks: 0,
            asked_by,
        });
        self.send_packet(target, Body::Ping { seq }, usize::MAX);
    }

    /// The next member in this pass's random walk that is Alive or Suspect
    /// (urgent suspects first); a new walk at the end of each pass.
    fn next_target(&mut self) -> Option<(A, Option<A>)> {
        while let Some((a, asked_by)) = self.prober.urgent.pop() {
            if self
                .table
                .lookup(&a)
                .is_some_and(|s| s.state == State::Suspect)
            {
                return Some((a, asked_by));
            }
        }
        if self.table.counts().live() == 0 {
            return None;
        }
        let slots = self.table.capacity_slots() as u64;
        if !self.prober.walk.covers(slots) {
            self.prober.walk = Walk::new(slots, &mut self.rng);
        }
        for _ in 0..2 {
            while let Some(pos) = self.prober.walk.next_pos() {
                if let Some(s) = self.table.slot_at(pos) {
                    if matches!(s.state, State::Alive | State::Suspect) {
                        return Some((s.addr, None));
                    }
                }
            }
            self.prober.walk = Walk::new(slots, &mut self.rng);
        }
        None
    }

    /// Probes `member` next (if it is still Suspect then): this node
    /// verifies a suspicion, on its own account or because `asked_by`
    /// (the suspicion's originator) asked it to.
    pub(crate) fn probe_next(&mut self, member: A, asked_by: Option<A>) {
        // Bounded: a node that cannot verify in time falls back to the
        // last-chance ping.
        if self.prober.urgent.len() < 8 && !self.prober.urgent.iter().any(|u| u.0 == member) {
            self.prober.urgent.push((member, asked_by));
        }
    }

    fn send_indirect(&mut self) {
        let Some(p) = self.prober.current.as_mut() else {
            return;
        };
        p.indirect = true;
        let (target, seq) = (p.target, p.seq);
        let helpers = self.random_members(self.config.indirect_checks, Some(target));
        let relay_wait = self.scaled(self.config.probe_timeout);
        if let Some(p) = self.prober.current.as_mut() {
            p.timeout_at = self.now + relay_wait;
        }
        // The direct path once more, alongside the helpers: under loss the
        // first ping or its ack is the likeliest casualty, and a probe
        // that fails for the network's sake starts a suspicion the whole
        // cluster pays for (at 30% loss this halves false suspicions).
        self.send_packet(target, Body::Ping { seq }, usize::MAX);
        for &h in &helpers {
            self.stats.indirect_probes += 1;
            self.send_packet(h, Body::PingReq { seq, target }, usize::MAX);
        }
        if let Some(p) = self.prober.current.as_mut() {
            p.helpers = helpers;
        }
    }

    pub(crate) fn on_ack(&mut self, from: A, seq: u32) {
        if let Some(p) = self.prober.current.as_mut() {
            if p.seq == seq && !p.acked && (from == p.target || p.helpers.contains(&from)) {
                p.acked = true;
                let (target, asked_by) = (p.target, p.asked_by);
                self.awareness_delta(-1);
                if self.config.evidence_of_life {
                    // Relayed or direct: the target answered a probe.
                    self.suspicions.heard_from(&target, self.now);
                }
                // Asked to verify a suspicion, and the target answered with
                // its refutation: the originator, a witness, hears it from
                // us at once (it may have missed it under loss).
                if let (Some(to), Some(s)) = (asked_by, self.table.lookup(&target).copied()) {
                    if s.state == State::Alive {
                        let u = self.record(&s);
                        self.send_packet_with(to, &u);
                    }
                }
                return;
            }
        }
        // A late ack for our last failed probe (from its target, or relayed
        // by a helper): the target runs after all.
        if let Some(e) = self.prober.ended.as_ref() {
            if e.seq == seq && (from == e.target || e.helpers.contains(&from)) {
                let target = e.target;
                self.prober.ended = None;
                if self.config.evidence_of_life {
                    self.suspicions.heard_from(&target, self.now);
                }
                return;
            }
        }
        // An ack for a probe we relay?
        if let Some(i) = self
            .prober
            .relays
            .iter()
            .position(|r| r.seq == seq && r.target == from)
        {
            let r = self.prober.relays.swap_remove(i);
            // The relayed ack carries what we now know of the target first:
            // if the requester suspects it, that is likely its refutation,
            // which the requester may have missed (the target's own ack to
            // it, or gossip, was lost).
            let about = self.table.lookup(&r.target).map(|s| self.record(s));
            self.send_reply_with(
                r.requester,
                Body::Ack { seq: r.req_seq },
                about.as_ref(),
                r.budget,
            );
        }
        // Acks to healing pings and late acks land here too: their
        // piggybacked updates were applied already; nothing else to do.
    }

    pub(crate) fn on_nack(&mut self, from: A, seq: u32) {
        if let Some(p) = self.prober.current.as_mut() {
            if p.seq == seq && p.helpers.contains(&from) {
                p.nacks += 1;
                self.stats.nacks_received += 1;
                return;
            }
        }
        self.stats.datagrams_dropped += 1;
    }

    /// Helper side: probe `target` for `from`.
    pub(crate) fn on_ping_req(&mut self, from: A, seq: u32, target: A, budget: usize) {
        if target == self.local {
            // "Ping me for them": we are alive; answer directly.
            self.send_packet(from, Body::Ack { seq }, budget);
            return;
        }
        // Probing the requester for itself, or an address we do not know,
        // would let anyone bounce datagrams off us.
        if target == from || self.table.lookup(&target).is_none() {
            self.stats.datagrams_dropped += 1;
            return;
        }
        if self.prober.relays.len() >= self.config.max_relays {
            self.stats.relay_drops += 1;
            return;
        }
        let own = self.next_seq();
        let timeout = self.scaled(self.config.probe_timeout);
        let interval = self.scaled(self.config.probe_interval);
        self.prober.relays.push(Relay {
            seq: own,
            requester: from,
            req_seq: seq,
            target,
            nack_at: self.now + timeout.mul_f64(0.8),
            expires: self.now + interval,
            nacked: false,
            budget,
        });
        self.send_packet(target, Body::Ping { seq: own }, budget);
    }

    pub(crate) fn relay_deadline(&self) -> Option<Time> {
        let nack = self.config.lifeguard_nack;
        self.prober
            .relays
            .iter()
            .map(|r| {
                if nack && !r.nacked {
                    r.nack_at.min(r.expires)
                } else {
                    r.expires
                }
            })
            .min()
    }

    pub(crate) fn tick_relays(&mut self) {
        let now = self.now;
        let mut i = 0;
        while let Some(r) = self.prober.relays.get_mut(i) {
            if self.config.lifeguard_nack && !r.nacked && now >= r.nack_at {
                r.nacked = true;
                let (to, seq, budget) = (r.requester, r.req_seq, r.budget);
                self.stats.nacks_sent += 1;
                self.send_packet(to, Body::Nack { seq }, budget);
                continue;
            }
            if now >= r.expires {
                self.prober.relays.swap_remove(i);
                continue;
            }
            i += 1;
        }
    }

    /// Up to `k` distinct random live (Alive or Suspect) members, never this
    /// node nor `except`, uniformly. O(k²), independent of the table.
    pub(crate) fn random_members(&mut self, k: usize, except: Option<A>) -> Vec<A> {
        // O(k²) with k the (small) fanout, whatever the table holds: the
        // table keeps live members in a dense list, and Floyd's algorithm
        // draws `want` distinct positions of it (skipping `except`'s).
        const LIVE: [State; 2] = [State::Alive, State::Suspect];
        let live = self.table.len_in(&LIVE);
        let skip = except
            .and_then(|e| self.table.find(&e))
            .and_then(|id| self.table.position_in(&LIVE, id));
        let pool = live - usize::from(skip.is_some());
        let want = k.min(pool);
        let mut picks: Vec<usize> = Vec::with_capacity(want);
        for j in pool - want..pool {
            let t = self.rng.below(j + 1);
            picks.push(if picks.contains(&t) { j } else { t });
        }
        // Floyd's set is uniform, its order is not: shuffle it.
        self.rng.shuffle(&mut picks);
        picks
            .into_iter()
            .filter_map(|p| {
                let p = match skip {
                    Some(s) if p >= s => p + 1,
                    _ => p,
                };
                self.table.nth_in(&LIVE, p).map(|(_, s)| s.addr)
            })
            .collect()
    }

    pub(crate) fn is_live(&self, a: &A) -> bool {
        self.table
            .lookup(a)
            .is_some_and(|s| matches!(s.state, State::Alive | State::Suspect))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_visits_every_slot_once_in_a_new_order_each_pass() {
        let mut rng = crate::rng::Rng::new(5);
        let mut orders = Vec::new();
        for slots in [1u64, 2, 7, 64, 100, 1000] {
            for _ in 0..3 {
                let mut w = Walk::new(slots, &mut rng);
                assert!(w.covers(slots));
                let m = slots.next_power_of_two();
                let mut seen: Vec<usize> = core::iter::from_fn(|| w.next_pos()).collect();
                if slots == 100 {
                    orders.push(seen.clone());
                }
                seen.sort_unstable();
                assert_eq!(seen, (0..m as usize).collect::<Vec<_>>(), "slots = {slots}");
            }
        }
        assert_ne!(orders[0], orders[1]);
        assert_ne!(orders[1], orders[2]);
    }
}

//! Failure detection: randomized round-robin probing, direct ping, indirect
//! ping-req through `k` helpers, Lifeguard nacks and the local health
//! multiplier; and the helper side (relaying a probe for someone else).

use crate::member::SlotId;
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
}

/// Probe scheduling state.
#[derive(Clone)]
pub(crate) struct Prober<A> {
    /// Probe order: slot ids, shuffled each pass.
    order: Vec<SlotId>,
    cursor: usize,
    current: Option<Probe<A>>,
    pub(crate) next_at: Option<Time>,
    /// Lifeguard local health score, 0..=awareness_max.
    pub(crate) awareness: u32,
    relays: Vec<Relay<A>>,
    /// Suspects to probe before resuming the round-robin (a few nodes do,
    /// so that a real failure gathers its confirmations fast and a live
    /// suspect hears of its suspicion from more sides).
    urgent: Vec<A>,
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
            order: Vec::new(),
            cursor: 0,
            current: None,
            next_at: None,
            awareness: 0,
            relays: Vec::new(),
            urgent: Vec::new(),
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Time> {
        let timeout = self
            .current
            .as_ref()
            .filter(|p| !p.acked && !p.indirect)
            .map(|p| p.timeout_at);
        match (self.next_at, timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Entries in the probe order and indirect probes relayed for others
    /// (for the fuzzers' bound checks).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn sizes(&self) -> (usize, usize) {
        (self.order.len(), self.relays.len())
    }

    /// Inserts a new member at a random position of the part of the pass
    /// not yet probed: O(1).
    pub(crate) fn insert(&mut self, id: SlotId, r: usize) {
        self.order.push(id);
        let last = self.order.len() - 1;
        let span = last + 1 - self.cursor.min(last);
        let j = self.cursor.min(last) + r % span.max(1);
        self.order.swap(last, j);
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
        let send_indirect = self
            .prober
            .current
            .as_ref()
            .is_some_and(|p| !p.acked && !p.indirect && now >= p.timeout_at);
        if send_indirect {
            self.send_indirect();
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
        self.stats.probes_failed += 1;
        let expected = if self.config.lifeguard_nack {
            p.helpers.len() as u32
        } else {
            0
        };
        let delta = if expected > 0 {
            expected.saturating_sub(p.nacks)
        } else {
            1
        };
        self.awareness_delta(i64::from(delta));
        self.suspect(p.target);
    }

    fn start_probe(&mut self) {
        let interval = self.scaled(self.config.probe_interval);
        self.prober.next_at = Some(self.now + interval);
        let Some(target) = self.next_target() else {
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
        });
        self.send_packet(target, Body::Ping { seq }, usize::MAX);
    }

    /// The next member in the shuffled round-robin order that is Alive or
    /// Suspect; reshuffles at the end of each pass.
    fn next_target(&mut self) -> Option<A> {
        while let Some(a) = self.prober.urgent.pop() {
            if self
                .table
                .lookup(&a)
                .is_some_and(|s| s.state == State::Suspect)
            {
                return Some(a);
            }
        }
        for _ in 0..2 {
            while let Some(&id) = self.prober.order.get(self.prober.cursor) {
                self.prober.cursor += 1;
                if let Some(s) = self.table.get(id) {
                    if matches!(s.state, State::Alive | State::Suspect) {
                        return Some(s.addr);
                    }
                }
            }
            self.rebuild_order();
            if self.prober.order.is_empty() {
                return None;
            }
        }
        None
    }

    fn rebuild_order(&mut self) {
        let mut order = core::mem::take(&mut self.prober.order);
        order.clear();
        order.extend(
            self.table
                .iter()
                .filter(|(_, s)| matches!(s.state, State::Alive | State::Suspect))
                .map(|(id, _)| id),
        );
        self.rng.shuffle(&mut order);
        self.prober.order = order;
        self.prober.cursor = 0;
    }

    /// A member we just heard is suspected: with probability about
    /// (k + 1) / n, probe it next (so about k + 1 members cluster-wide do).
    pub(crate) fn maybe_probe_urgently(&mut self, member: A) {
        if !self.config.lifeguard_suspicion {
            return;
        }
        let n = self.table.counts().live().max(1);
        let p = (f64::from(self.config.suspicion_confirmations) + 1.0) / n as f64;
        if self.prober.urgent.len() < 4 && self.rng.unit() < p {
            self.prober.urgent.push(member);
        }
    }

    /// Adds a member (new, or back from Failed/Left) to the probe order.
    pub(crate) fn probe_insert(&mut self, id: SlotId) {
        // Members that fail and come back re-enter the order each time:
        // past twice the table's bound, rebuild it instead (amortized O(1)),
        // so churn cannot grow it without bound.
        if self.prober.order.len() >= 2 * self.config.max_members {
            self.rebuild_order();
            return;
        }
        let r = self.rng.below(usize::MAX);
        self.prober.insert(id, r);
    }

    fn send_indirect(&mut self) {
        let Some(p) = self.prober.current.as_mut() else {
            return;
        };
        p.indirect = true;
        let (target, seq) = (p.target, p.seq);
        let helpers = self.random_members(self.config.indirect_checks, Some(target));
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
                self.awareness_delta(-1);
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
            self.send_packet(r.requester, Body::Ack { seq: r.req_seq }, r.budget);
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
    /// node nor `except`. Expected O(k) when most members are live.
    pub(crate) fn random_members(&mut self, k: usize, except: Option<A>) -> Vec<A> {
        let mut out = Vec::with_capacity(k);
        let live = self.table.counts().live();
        let eligible = live - usize::from(except.is_some_and(|e| self.is_live(&e)));
        let want = k.min(eligible);
        if want == 0 {
            return out;
        }
        let slots = self.table.capacity_slots();
        let mut tries = 0;
        while out.len() < want && tries < 16 * want + 32 {
            tries += 1;
            let pos = self.rng.below(slots);
            if let Some(s) = self.table.slot_at(pos) {
                if matches!(s.state, State::Alive | State::Suspect)
                    && Some(s.addr) != except
                    && !out.contains(&s.addr)
                {
                    out.push(s.addr);
                }
            }
        }
        if out.len() < want {
            // Sparse table (mostly tombstones): fall back to a scan.
            let mut rest: Vec<A> = self
                .table
                .iter()
                .filter(|(_, s)| matches!(s.state, State::Alive | State::Suspect))
                .map(|(_, s)| s.addr)
                .filter(|a| Some(*a) != except && !out.contains(a))
                .collect();
            self.rng.shuffle(&mut rest);
            out.extend(rest.into_iter().take(want - out.len()));
        }
        out
    }

    pub(crate) fn is_live(&self, a: &A) -> bool {
        self.table
            .lookup(a)
            .is_some_and(|s| matches!(s.state, State::Alive | State::Suspect))
    }
}

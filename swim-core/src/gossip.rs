//! Dissemination: packing piggybacked updates and broadcasts into every
//! datagram, dedicated gossip rounds, and application broadcasts.

use crate::hash::{KeyedState, Map};
use crate::queue::Offer;
use crate::wire::{Body, Broadcast, PacketBuilder, Update, UpdateKind};
use crate::{Addr, Event, State, Swim};
use std::collections::VecDeque;
use std::time::Duration;

/// Remembers the last `window` broadcast ids so each is delivered once.
#[derive(Clone)]
pub(crate) struct Seen<A> {
    set: Map<(A, u64), ()>,
    order: VecDeque<(A, u64)>,
    window: usize,
}

impl<A: Addr> Seen<A> {
    pub(crate) fn new(window: usize, hasher: KeyedState) -> Self {
        Seen {
            set: Map::with_hasher(hasher),
            order: VecDeque::new(),
            window,
        }
    }

    /// Broadcast ids remembered (for the fuzzers' bound checks).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn len(&self) -> usize {
        self.order.len().max(self.set.len())
    }

    /// Records `id`; `false` if it was seen already.
    pub(crate) fn insert(&mut self, id: (A, u64)) -> bool {
        if self.set.contains_key(&id) {
            return false;
        }
        self.set.insert(id, ());
        self.order.push_back(id);
        while self.order.len() > self.window {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// Items that did not fit are passed over this many times per packet.
const MAX_SKIPS: usize = 8;

impl<A: Addr> Swim<A> {
    /// How many times each update is piggybacked: ⌈λ·log10(n+1)⌉, and at
    /// least 2λ (in a handful of nodes, λ sends to random members miss one
    /// of them too often). Not rounded up per factor of ten before
    /// multiplying: at 1,000 members that alone made it 4λ instead of 3λ.
    pub(crate) fn retransmit_limit(&self) -> u32 {
        let n = self.table.counts().live() + 1;
        let log = ((n + 1) as f64).log10().max(2.0);
        (f64::from(self.config.retransmit_mult) * log).ceil() as u32
    }

    /// Builds a datagram to `to` with `body`, piggybacks what fits within
    /// `budget` bytes (and `max_packet_size`), and emits it.
    pub(crate) fn send_packet(&mut self, to: A, body: Body<A>, budget: usize) {
        let max = self.max_datagram().min(budget);
        let Some(mut b) = PacketBuilder::new(&body, max) else {
            // The body alone exceeds the budget (a tiny request asking for
            // a large answer): send nothing rather than amplify.
            self.stats.datagrams_dropped += 1;
            return;
        };
        self.piggyback(&mut b, to);
        let payload = b.finish();
        self.emit_datagram(to, payload);
    }

    /// A gossip datagram to `to` that carries `first` ahead of the
    /// piggybacked queue.
    pub(crate) fn send_packet_with(&mut self, to: A, first: &Update<A>) {
        self.send_reply_with(to, Body::Gossip, Some(first), usize::MAX);
    }

    /// `body` to `to` within `budget` bytes, carrying `first` (if any)
    /// ahead of the piggybacked queue.
    pub(crate) fn send_reply_with(
        &mut self,
        to: A,
        body: Body<A>,
        first: Option<&Update<A>>,
        budget: usize,
    ) {
        let max = self.max_datagram().min(budget);
        let Some(mut b) = PacketBuilder::new(&body, max) else {
            self.stats.datagrams_dropped += 1;
            return;
        };
        if let Some(u) = first {
            b.push_update(u);
        }
        self.piggyback(&mut b, to);
        let payload = b.finish();
        self.emit_datagram(to, payload);
    }

    /// Fills a packet: first what `to` must hear about itself (Lifeguard
    /// buddy system: its suspicion; healing: its failure), then queued
    /// updates least-sent first with a guaranteed share for broadcasts.
    /// Returns how many items went in.
    pub(crate) fn piggyback(&mut self, b: &mut PacketBuilder<A>, to: A) -> usize {
        // A reply to an unvalidated source carries news but spends none of
        // its resend budget (spoofed requests must not shrink its reach).
        let uncounted = self.guard.unvalidated == Some(to);
        self.updates.uncounted = uncounted;
        self.broadcasts.uncounted = uncounted;
        let count = self.piggyback_inner(b, to);
        self.updates.uncounted = false;
        self.broadcasts.uncounted = false;
        count
    }

    fn piggyback_inner(&mut self, b: &mut PacketBuilder<A>, to: A) -> usize {
        let mut count = 0;
        let to_state = self.table.lookup(&to).map(|s| s.state);
        if let Some(s) = self.table.lookup(&to).copied() {
            let kind = match s.state {
                State::Suspect if self.config.lifeguard_buddy => {
                    Some(UpdateKind::Suspect { by: self.local })
                }
                State::Failed => Some(UpdateKind::Failed { by: self.local }),
                State::Left => Some(UpdateKind::Left),
                State::Alive | State::Suspect => None,
            };
            if let Some(kind) = kind {
                if b.push_update(&Update {
                    addr: to,
                    incarnation: s.incarnation(),
                    kind,
                }) {
                    count += 1;
                }
            }
        }
        if matches!(to_state, Some(State::Suspect | State::Failed | State::Left)) {
            // A member we suspect or hold down gets only what it must hear
            // about itself: news sent to a crashed node is lost and still
            // spends its resend budget (after a 10% mass crash, pings and
            // last chances to the dead carried full datagrams of news).
            return count;
        }
        let limit = self.retransmit_limit();
        let share = usize::from(self.config.broadcast_share_percent);
        // While both queues hold items, every other packet is broadcast
        // first with all its room (a payload larger than the share would
        // otherwise never fit: at 2,000 queued updates 400–1,024 B
        // broadcasts went into 0 of 343 datagrams); the others give
        // broadcasts their share and the updates the rest.
        let reserve = if self.broadcasts.is_empty() || self.updates.is_empty() {
            0
        } else {
            self.broadcast_turn = !self.broadcast_turn;
            if self.broadcast_turn {
                usize::MAX
            } else {
                b.remaining() * share / 100
            }
        };
        // Broadcasts first, up to their guaranteed share while updates wait.
        let mut taken_bc: Vec<(A, u64)> = Vec::new();
        if !self.broadcasts.is_empty() {
            let cap = if reserve > 0 { reserve } else { usize::MAX };
            let start = b.remaining();
            self.broadcasts.select(limit, MAX_SKIPS, |bc| {
                let used = start - b.remaining();
                if used >= cap {
                    return Offer::Stop;
                }
                if crate::wire::broadcast_len(bc) > cap - used {
                    return Offer::Skipped;
                }
                if b.push_broadcast(bc) {
                    taken_bc.push((bc.origin, bc.id));
                    Offer::Taken
                } else {
                    Offer::Skipped
                }
            });
            count += taken_bc.len();
        }
        if !self.updates.is_empty() {
            self.updates.select(limit, MAX_SKIPS, |u| {
                if b.remaining() < 4 {
                    return Offer::Stop;
                }
                if u.addr == to
                    && !matches!(u.kind, UpdateKind::Alive { .. })
                    && self
                        .table
                        .lookup(&to)
                        .is_some_and(|s| s.state != State::Alive)
                {
                    // Already told it above.
                    return Offer::Skipped;
                }
                if b.push_update(u) {
                    count += 1;
                    Offer::Taken
                } else {
                    Offer::Skipped
                }
            });
        }
        // Space the updates left: more broadcasts.
        if reserve > 0 && b.remaining() > 4 {
            let mut more = 0;
            self.broadcasts.select(limit, MAX_SKIPS, |bc| {
                if taken_bc.contains(&(bc.origin, bc.id)) {
                    return Offer::Skipped;
                }
                if b.push_broadcast(bc) {
                    more += 1;
                    Offer::Taken
                } else {
                    Offer::Skipped
                }
            });
            count += more;
        }
        count
    }

    /// The current dedicated-gossip interval: `gossip_interval` doubled per
    /// consecutive busy round, at most the probe interval.
    fn gossip_every(&self) -> Duration {
        let base = self.config.gossip_interval;
        let cap = self.config.probe_interval.max(base);
        base.saturating_mul(1 << self.gossip_backoff.min(16))
            .min(cap)
    }

    /// Arms the dedicated-gossip timer if anything is queued.
    pub(crate) fn arm_gossip(&mut self) {
        if self.next_gossip_at.is_none() && self.config.gossip_fanout > 0 {
            let at = (self.last_gossip + self.gossip_every()).max(self.now);
            self.next_gossip_at = Some(at);
        }
    }

    /// Brings the next gossip round forward to now (news that decides
    /// liveness), but never closer than a quarter interval to the previous
    /// round; under churn (backed off) not closer than the current interval,
    /// unless it is a `verdict` (Failed or Left).
    pub(crate) fn expedite_gossip(&mut self, verdict: bool) {
        if self.config.gossip_fanout == 0 {
            return;
        }
        let gap = if self.gossip_backoff == 0 {
            self.config.gossip_interval / 4
        } else if verdict {
            // Under churn, a verdict still goes out within one interval,
            // but a mass failure (a verdict every few milliseconds) no
            // longer means a round every 50 ms.
            self.config.gossip_interval
        } else {
            self.gossip_every()
        };
        let soon = self.now.max(self.last_gossip + gap);
        self.next_gossip_at = Some(self.next_gossip_at.map_or(soon, |t| t.min(soon)));
    }

    pub(crate) fn tick_gossip(&mut self) {
        if self.next_gossip_at.is_some_and(|t| self.now >= t) {
            self.next_gossip_at = None;
            self.gossip_round();
        }
    }

    /// Whether anything queued is fresh: sent fewer than `gossip_fanout`
    /// times, i.e. it has not had one dedicated round yet.
    fn has_fresh_news(&self) -> bool {
        let fresh = u32::try_from(self.config.gossip_fanout).unwrap_or(u32::MAX);
        self.updates.has_fresh(fresh) || self.broadcasts.has_fresh(fresh)
    }

    /// Sends queued news to `gossip_fanout` random members, while anything
    /// queued is fresh or the last round filled its datagrams (news in
    /// bulk, until the queue thins out). News gets about one dedicated round (`gossip_fanout`
    /// sends); the rest of its resend budget rides on probes and acks,
    /// which are sent anyway. A round that finds fresh news right after
    /// another one did (the queue is churning) doubles the interval, up to
    /// the probe interval; a quiet round resets it. Before this, gossip ran
    /// every 50–200 ms while anything at all was queued: 33 datagrams per
    /// member per period at 30% loss.
    pub(crate) fn gossip_round(&mut self) {
        let bulk = self.gossip_full && !(self.updates.is_empty() && self.broadcasts.is_empty());
        if !bulk && !self.has_fresh_news() {
            self.gossip_backoff = 0;
            self.gossip_full = false;
            return;
        }
        if !self.send_budget.has_room(self.now, &self.config, 0.25) {
            // Optional traffic waits for the budget; probes and acks keep
            // the rest of it. Try again one interval later.
            self.gossip_full = false;
            self.next_gossip_at = Some(self.now + self.config.gossip_interval);
            return;
        }
        let busy = self.now < self.last_gossip + self.gossip_every() * 2;
        self.last_gossip = self.now;
        let targets = self.random_members(self.config.gossip_fanout, None);
        let max = self.max_datagram();
        let mut full = false;
        for to in targets {
            let Some(mut b) = PacketBuilder::new(&Body::Gossip, max) else {
                return;
            };
            if self.piggyback(&mut b, to) == 0 {
                continue;
            }
            let payload = b.finish();
            full |= payload.len() >= max * 3 / 4;
            self.emit_datagram(to, payload);
        }
        // Full datagrams are news in bulk (a join storm): keep the pace, the
        // bytes per item are the same either way. A trickle of fresh items
        // (suspicions under loss) backs off instead of paying a datagram
        // each.
        self.gossip_backoff = if busy && !full {
            self.gossip_backoff.saturating_add(1)
        } else {
            0
        };
        self.gossip_full = full;
        if full || self.has_fresh_news() {
            self.arm_gossip();
        }
    }

    /// A broadcast arrived: deliver it once, and pass it on.
    pub(crate) fn receive_broadcast(&mut self, b: Broadcast<A>) {
        if b.origin == self.local || !self.seen.insert((b.origin, b.id)) {
            return;
        }
        self.emit(Event::Message {
            from: b.origin,
            payload: b.payload.clone(),
            broadcast: true,
        });
        self.remember_broadcast(&b);
        if self.broadcasts.push((b.origin, b.id), b) {
            self.stats.broadcast_queue_drops += 1;
        }
        self.arm_gossip();
    }
}

//! Joining (with retries and paged member lists), the facilitator role,
//! push-pull state sync, and healing (re-probing failed members, re-joining
//! through the seeds when isolated).

use crate::wire::{
    Body, PacketBuilder, Update, UpdateKind, MEMBERS_JOIN_REPLY, MEMBERS_MORE, MEMBERS_SYNC_REPLY,
    MEMBERS_SYNC_REQUEST,
};
use crate::{Addr, State, Swim};
use std::time::Duration;

/// Virtual time since the node's epoch.
type Time = Duration;

/// Largest page a periodic sync sends, in bytes: keeps anti-entropy cheap
/// (a few bytes per member per period) whatever the cluster size.
const SYNC_PAGE: usize = 512;

/// Join progress.
#[derive(Clone)]
pub(crate) struct Joiner<A> {
    pub(crate) seeds: Vec<A>,
    /// In flight: (request seq, attempt number, next retry).
    attempt: Option<(u32, u32, Time)>,
    /// The last join this node started: its `MORE` pages are followed.
    last_seq: Option<u32>,
    /// A paged member list being fetched: (peer, seq, cursor, retry at,
    /// tries, size budget of each request).
    paging: Option<(A, u32, u32, Time, u32, usize)>,
    /// After the first join completes, fetch the whole table once more from
    /// a random member: members that joined while we did are otherwise only
    /// learned from gossip we may have missed.
    resync_at: Option<Time>,
    /// A join is under way whose completion schedules the resync.
    resync_pending: bool,
}

impl<A: Addr> Joiner<A> {
    pub(crate) fn new() -> Self {
        Joiner {
            seeds: Vec::new(),
            attempt: None,
            last_seq: None,
            paging: None,
            resync_at: None,
            resync_pending: false,
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Time> {
        [
            self.attempt.map(|a| a.2),
            self.paging.map(|p| p.3),
            self.resync_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether `seq` is the join (or page request) this node sent last.
    pub(crate) fn expects_reply(&self, seq: u32) -> bool {
        self.last_seq == Some(seq)
    }

    pub(crate) fn in_progress(&self) -> bool {
        self.attempt.is_some()
    }
}

impl<A: Addr> Swim<A> {
    pub(crate) fn start_join(&mut self, seeds: &[A]) {
        let mut list: Vec<A> = seeds.iter().copied().filter(|s| *s != self.local).collect();
        list.sort_unstable();
        list.dedup();
        self.joiner.seeds = list;
        if self.joiner.seeds.is_empty() {
            return;
        }
        let seq = self.next_seq();
        self.joiner.last_seq = Some(seq);
        self.joiner.paging = None;
        self.joiner.resync_at = None;
        self.joiner.resync_pending = true;
        self.send_joins(seq, 0);
    }

    fn send_joins(&mut self, seq: u32, attempt: u32) {
        let backoff = self
            .config
            .join_retry_initial
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.config.join_retry_max);
        let jitter = self.jitter(backoff / 4);
        self.joiner.attempt = Some((seq, attempt, self.now + backoff + jitter));
        let seeds = self.joiner.seeds.clone();
        for seed in seeds {
            self.send_join(seed, seq, 0, usize::MAX);
        }
    }

    /// A join request, padded so the reply can be a full datagram, at most
    /// `budget` bytes (a request for the next page answers a `Members`
    /// datagram, and its retries repeat it: no amplification).
    fn send_join(&mut self, to: A, seq: u32, cursor: u32, budget: usize) {
        self.stats.joins_sent += 1;
        let me = self.self_update();
        let max = self.max_datagram().min(budget);
        let probe = Body::Join {
            seq,
            cursor,
            pad: 0,
        };
        let Some(mut b) = PacketBuilder::new(&probe, max) else {
            return;
        };
        b.push_update(&me);
        let room = b.remaining().saturating_sub(4);
        let pad = u16::try_from(room).unwrap_or(u16::MAX);
        let body = Body::Join { seq, cursor, pad };
        let b = PacketBuilder::new(&body, max).or_else(|| PacketBuilder::new(&probe, max));
        let Some(mut b) = b else { return };
        b.push_update(&me);
        let payload = b.finish();
        self.emit_datagram(to, payload);
    }

    pub(crate) fn tick_join(&mut self) {
        let Some((seq, attempt, at)) = self.joiner.attempt else {
            return;
        };
        if self.now >= at {
            self.send_joins(seq, attempt.saturating_add(1));
        }
    }

    /// Page retries and the one resync after joining.
    pub(crate) fn tick_paging(&mut self) {
        if let Some((peer, seq, cursor, at, tries, budget)) = self.joiner.paging {
            if self.now >= at {
                if tries >= 3 {
                    self.joiner.paging = None;
                } else {
                    self.request_page(peer, seq, cursor, tries + 1, budget);
                }
            }
        }
        if self.joiner.resync_at.is_some_and(|t| self.now >= t) {
            self.joiner.resync_at = None;
            if let Some(&peer) = self.random_members(1, None).first() {
                let seq = self.next_seq();
                self.joiner.last_seq = Some(seq);
                self.request_page(peer, seq, 0, 0, usize::MAX);
            }
        }
    }

    /// Asks `peer` for the page of its table at `cursor`, with a retry; each
    /// request at most `budget` bytes.
    fn request_page(&mut self, peer: A, seq: u32, cursor: u32, tries: u32, budget: usize) {
        let wait = self.config.probe_interval / 2 * (1 << tries.min(4));
        self.joiner.paging = Some((peer, seq, cursor, self.now + wait, tries, budget));
        self.send_join(peer, seq, cursor, budget);
    }

    /// Seed side: answer with one page of members (the facilitator: the
    /// most recently joined only), at most `budget` bytes.
    pub(crate) fn on_join(
        &mut self,
        from: A,
        seq: u32,
        cursor: u32,
        claimed: Option<u64>,
        budget: usize,
    ) {
        let max = self.max_datagram().min(budget);
        let body = Body::Members {
            seq,
            flags: MEMBERS_JOIN_REPLY,
            cursor: 0,
            records: Vec::new(),
        };
        let Some(mut b) = PacketBuilder::new(&body, max) else {
            self.stats.datagrams_dropped += 1;
            return;
        };
        if cursor == 0 {
            b.push_record(&self.self_update());
            // A restarted joiner learns what the cluster remembers of it.
            if let Some(s) = self.table.lookup(&from).copied() {
                if s.state != State::Alive || Some(s.incarnation()) != claimed {
                    b.push_record(&self.record(&s));
                }
            }
        }
        let next = if self.config.facilitator {
            // The most recently joined live members, the joiner excluded.
            let recent: Vec<A> = self.recent.iter().rev().copied().collect();
            let mut given = 0;
            for a in recent {
                if a == from || given == self.config.facilitator_members {
                    continue;
                }
                if let Some(s) = self.table.lookup(&a).copied() {
                    if matches!(s.state, State::Alive | State::Suspect) {
                        if !b.push_record(&self.record(&s)) {
                            break;
                        }
                        given += 1;
                    }
                }
            }
            None
        } else {
            self.fill_page(&mut b, cursor, Some(from), true)
        };
        if let Some(next) = next {
            b.set_members_flags(MEMBERS_JOIN_REPLY | MEMBERS_MORE);
            b.set_members_cursor(next);
        }
        let payload = b.finish();
        self.emit_datagram(from, payload);
    }

    /// Adds records from slot position `cursor` on; returns where to go on
    /// if the page filled up before the table ended.
    fn fill_page(
        &self,
        b: &mut PacketBuilder<A>,
        cursor: u32,
        skip: Option<A>,
        live_only: bool,
    ) -> Option<u32> {
        // A page answers one datagram: look at no more than this many slots
        // for it (a table of mostly tombstones must not make one join
        // request cost O(cluster size)); the cursor carries on from there.
        const SCAN: usize = 1024;
        let end = self.table.capacity_slots();
        let mut pos = cursor as usize;
        let stop = pos.saturating_add(SCAN);
        while pos < end {
            if pos >= stop {
                return u32::try_from(pos).ok();
            }
            if let Some(s) = self.table.slot_at(pos) {
                let wanted = !live_only || matches!(s.state, State::Alive | State::Suspect);
                if wanted && Some(s.addr) != skip && !b.push_record(&self.record(s)) {
                    return u32::try_from(pos).ok();
                }
            }
            pos += 1;
        }
        None
    }

    /// A table slot as a wire record.
    pub(crate) fn record(&self, s: &crate::member::Slot<A>) -> Update<A> {
        let kind = match s.state {
            State::Alive => UpdateKind::Alive {
                meta: self.table.meta(&s.addr),
            },
            State::Suspect => UpdateKind::Suspect { by: self.local },
            State::Failed => UpdateKind::Failed { by: self.local },
            State::Left => UpdateKind::Left,
        };
        Update {
            addr: s.addr,
            incarnation: s.incarnation(),
            kind,
        }
    }

    pub(crate) fn on_members(
        &mut self,
        from: A,
        seq: u32,
        flags: u8,
        cursor: u32,
        records: &[Update<A>],
        budget: usize,
    ) {
        self.apply_updates(records);
        if flags & MEMBERS_JOIN_REPLY != 0 {
            let ours = self.joiner.last_seq == Some(seq);
            if ours {
                self.joiner.attempt = None;
                if flags & MEMBERS_MORE != 0 {
                    self.request_page(from, seq, cursor, 0, budget);
                } else {
                    self.joiner.paging = None;
                    if core::mem::take(&mut self.joiner.resync_pending) {
                        // We are in: announce ourselves (the seed does too,
                        // but in a join storm it is the one source of a
                        // hundred such announcements).
                        self.announce_self();
                        let wait = self.config.probe_interval * 2;
                        let j = self.jitter(self.config.probe_interval);
                        self.joiner.resync_at = Some(self.now + wait + j);
                    }
                }
            }
        }
        if flags & MEMBERS_SYNC_REQUEST != 0 {
            self.send_sync(from, seq, MEMBERS_SYNC_REPLY, budget);
        }
    }

    /// One page of our table, from the rotating sync cursor.
    fn send_sync(&mut self, to: A, seq: u32, flags: u8, budget: usize) {
        let max = self.max_datagram().min(budget).min(SYNC_PAGE);
        let body = Body::Members {
            seq,
            flags,
            cursor: 0,
            records: Vec::new(),
        };
        let Some(mut b) = PacketBuilder::new(&body, max) else {
            self.stats.datagrams_dropped += 1;
            return;
        };
        b.push_record(&self.self_update());
        self.push_recent_broadcasts(&mut b);
        let next = self.fill_page(&mut b, self.sync_cursor, Some(to), false);
        self.sync_cursor = next.unwrap_or(0);
        let payload = b.finish();
        self.emit_datagram(to, payload);
    }

    /// `from` sent us a datagram but is not in our table: send it a sync
    /// request no larger than `budget` (it answers with a page that starts
    /// with its own record). At most one such request per quarter period,
    /// whoever asks.
    pub(crate) fn maybe_ask_who(&mut self, from: A, budget: usize) {
        if self.table.find(&from).is_some() || self.now < self.next_whois_at {
            return;
        }
        self.next_whois_at = self.now + self.config.probe_interval / 4;
        let seq = self.next_seq();
        self.send_sync(from, seq, MEMBERS_SYNC_REQUEST, budget);
    }

    pub(crate) fn tick_sync(&mut self) {
        let Some(interval) = self.config.sync_interval else {
            return;
        };
        if self.next_sync_at.is_none_or(|t| self.now < t) {
            return;
        }
        let n = self.table.counts().live() + 1;
        // Larger clusters sync less often (memberlist's push-pull scale).
        let scale = if n > 32 {
            (n as f64 / 32.0).log2().ceil() + 1.0
        } else {
            1.0
        };
        let next = interval.mul_f64(scale);
        let j = self.jitter(next / 4);
        self.next_sync_at = Some(self.now + next + j);
        if !self.send_budget.has_room(self.now, &self.config, 0.25) {
            return;
        }
        if let Some(&to) = self.random_members(1, None).first() {
            self.stats.syncs += 1;
            let seq = self.next_seq();
            self.send_sync(to, seq, MEMBERS_SYNC_REQUEST, usize::MAX);
        }
    }

    /// Healing: ping one random Failed member (the ping carries its failure,
    /// so a live one refutes in its ack); and re-join through the seeds when
    /// no other member is alive.
    pub(crate) fn tick_reconnect(&mut self) {
        let Some(interval) = self.config.reconnect_interval else {
            return;
        };
        if self.next_reconnect_at.is_none_or(|t| self.now < t) {
            return;
        }
        let j = self.jitter(interval / 2);
        self.next_reconnect_at = Some(self.now + interval + j);
        let counts = self.table.counts();
        // Re-join through the seeds when this node is isolated (every
        // interval), and when a seed is not a live member (at most every 30
        // intervals: a dead seed must not cost every node a full member list
        // each interval): after a partition that outlived `retention`, both
        // sides reaped the other, so re-probing Failed members cannot heal
        // it; the seeds are the one address known to reach the rest.
        let isolated = counts.live() == 0 && !self.joiner.seeds.is_empty();
        let seed_lost = self.joiner.seeds.iter().any(|s| !self.is_live(s))
            && self
                .last_rejoin
                .is_none_or(|t| self.now >= t + interval * 30);
        if (isolated || seed_lost) && !self.joiner.in_progress() {
            self.last_rejoin = Some(self.now);
            let seeds = self.joiner.seeds.clone();
            self.start_join(&seeds);
        }
        // Members held down: Failed, and Left too (a live member that a
        // forged or replayed Left evicted hears it here and refutes; a
        // member that really left does not answer).
        const DOWN: &[State] = &[State::Failed, State::Left];
        let down = self.table.len_in(DOWN);
        if down == 0 {
            return;
        }
        // About one ping per down member per interval cluster-wide, and at
        // least one every four intervals from each node: a node that missed
        // a refutation (it alone still holds a live member down) corrects
        // itself within a minute.
        let p = (down as f64 / counts.live().max(1) as f64).max(0.25);
        if self.rng.unit() >= p {
            return;
        }
        if let Some(target) = self.random_down(DOWN) {
            let seq = self.next_seq();
            self.send_packet(target, Body::Ping { seq }, usize::MAX);
        }
    }

    /// A uniformly random member in one of `states`. O(1): the table keeps
    /// a dense list per state.
    fn random_down(&mut self, states: &[State]) -> Option<A> {
        let n = self.table.len_in(states);
        if n == 0 {
            return None;
        }
        let i = self.rng.below(n);
        self.table.nth_in(states, i).map(|(_, s)| s.addr)
    }
}

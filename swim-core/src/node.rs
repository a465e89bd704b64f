//! The node: state, public API, and datagram dispatch. The protocol parts
//! live in their own files (`probe`, `membership`, `gossip`, `join`); this
//! one only routes inputs to them.

use crate::allow::AllowList;
use crate::hash::KeyedState;
use crate::join::Joiner;
use crate::member::Table;
use crate::probe::Prober;
use crate::queue::TxQueue;
use crate::rng::Rng;
use crate::suspicion::Suspicions;
use crate::wire::envelope::EnvelopeConfig;
use crate::wire::{Body, Broadcast, Limits, Packet, Update, UpdateKind};
use crate::{Action, Addr, Config, ConfigError, Event, State, Stats};
use bytes::Bytes;
use core::fmt;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A member as this node currently sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member<A> {
    /// Its address (and identity).
    pub addr: A,
    /// Its incarnation number.
    pub incarnation: u64,
    /// Its state.
    pub state: State,
    /// Its metadata.
    pub meta: Bytes,
}

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The payload is larger than `Config::max_payload_size`.
    PayloadTooLarge {
        /// The payload's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The metadata is larger than `Config::max_meta_size`.
    MetaTooLarge {
        /// The metadata's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// No such member is known (or it is not alive).
    UnknownMember,
    /// This node has left the cluster.
    Left,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::PayloadTooLarge { size, max } => {
                write!(f, "payload of {size} bytes exceeds the {max}-byte limit")
            }
            Error::MetaTooLarge { size, max } => {
                write!(f, "metadata of {size} bytes exceeds the {max}-byte limit")
            }
            Error::UnknownMember => f.write_str("no such live member"),
            Error::Left => f.write_str("this node has left the cluster"),
        }
    }
}

impl std::error::Error for Error {}

/// Replies to a datagram are at most this many times its size (no
/// amplification: QUIC's anti-amplification factor).
pub(crate) const REPLY_FACTOR: usize = 3;

/// Claims more than this far above a known incarnation are forged: honest
/// incarnations grow by one per refutation (memberlist #358: one message at
/// `u64::MAX` evicted a node for good).
pub(crate) const MAX_INCARNATION_JUMP: u64 = 1 << 32;

/// One cluster member's protocol state machine.
///
/// # Driving it
///
/// * **Inputs**: [`handle_datagram`](Self::handle_datagram) for every UDP
///   datagram received, [`tick`](Self::tick) at or after
///   [`next_deadline`](Self::next_deadline).
/// * **Commands**: [`join`](Self::join), [`leave`](Self::leave),
///   [`broadcast`](Self::broadcast), [`send_to`](Self::send_to),
///   [`set_meta`](Self::set_meta).
/// * **Outputs**: every input and command returns the [`Action`]s to
///   perform, in order: datagrams to send and events to report. After any
///   call, `next_deadline()` may have changed.
/// * **Getters**: [`members`](Self::members), [`local`](Self::local),
///   [`stats`](Self::stats), [`config`](Self::config).
///
/// `now` is always passed in; time that goes backwards is treated as the
/// latest time seen. The same seed and the same inputs give the same
/// outputs, bit for bit.
///
/// `Clone` copies the whole state (a snapshot: both copies then make the same
/// random choices, so never run two clones on the network at once).
#[derive(Clone)]
pub struct Swim<A: Addr> {
    pub(crate) local: A,
    pub(crate) config: Config,
    pub(crate) limits: Limits,
    pub(crate) rng: Rng,
    pub(crate) stats: Stats,
    pub(crate) incarnation: u64,
    pub(crate) meta: Bytes,
    pub(crate) left: bool,
    /// A leave in progress (see `leave.rs`).
    pub(crate) leaving: Option<crate::leave::Leaving<A>>,
    pub(crate) epoch: Option<Instant>,
    /// Virtual time: since `epoch` (the first input's `now`).
    pub(crate) now: Duration,
    pub(crate) table: Table<A>,
    pub(crate) updates: TxQueue<A, Update<A>>,
    pub(crate) broadcasts: TxQueue<(A, u64), Broadcast<A>>,
    pub(crate) seen: crate::gossip::Seen<A>,
    pub(crate) next_broadcast_id: u64,
    pub(crate) suspicions: Suspicions<A>,
    pub(crate) damping: crate::damping::Damping<A>,
    pub(crate) prober: Prober<A>,
    pub(crate) joiner: Joiner<A>,
    pub(crate) recent: VecDeque<A>,
    pub(crate) tombstones: VecDeque<(Duration, A, u64)>,
    pub(crate) next_gossip_at: Option<Duration>,
    /// When the last dedicated gossip round ran.
    pub(crate) last_gossip: Duration,
    /// Dedicated gossip backs off under churn: consecutive rounds that
    /// found fresh news double the interval, up to the probe interval.
    pub(crate) gossip_backoff: u32,
    /// The last gossip round filled a datagram: news in bulk.
    pub(crate) gossip_full: bool,
    /// Alternates packets between broadcast-first and update-first.
    pub(crate) broadcast_turn: bool,
    /// The per-member send budget (see `budget.rs`).
    pub(crate) send_budget: crate::budget::SendBudget,
    pub(crate) next_sync_at: Option<Duration>,
    pub(crate) next_reconnect_at: Option<Duration>,
    /// When the last re-join through the seeds started.
    pub(crate) last_rejoin: Option<Duration>,
    /// No request to an unknown sender before this time.
    pub(crate) next_whois_at: Duration,
    /// No notice to a sender we hold down before this time.
    pub(crate) next_tell_down_at: Duration,
    pub(crate) sync_cursor: u32,
    /// The datagram being handled claimed we are suspect, failed or left.
    pub(crate) claims_about_us: bool,
    /// The source of the datagram being handled.
    pub(crate) sender: Option<A>,
    pub(crate) seq: u32,
    pub(crate) out: Vec<Action<A>>,
    pub(crate) envelope: EnvelopeConfig,
    pub(crate) allow: AllowList,
    /// Reused buffer for opening and sealing envelopes.
    pub(crate) scratch: Vec<u8>,
    /// Replay windows, validated sources, the current reply budget.
    pub(crate) guard: crate::security::Guard<A>,
}

impl<A: Addr> Swim<A> {
    /// Creates a node at `local` with a validated `config`; `seed` drives
    /// every random choice (give each node its own).
    pub fn new(local: A, config: Config, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = Rng::new(seed);
        let hasher = KeyedState::new(rng.u64(), rng.u64());
        let limits = Limits {
            max_meta_size: config.max_meta_size,
            max_payload_size: config.max_payload_size,
            max_items: config.max_packet_size,
        };
        let seq = rng.u32();
        Ok(Swim {
            local,
            limits,
            stats: Stats::default(),
            incarnation: 0,
            meta: Bytes::new(),
            left: false,
            leaving: None,
            epoch: None,
            now: Duration::ZERO,
            table: Table::new(hasher),
            updates: TxQueue::new(config.max_update_queue, hasher),
            broadcasts: TxQueue::new(config.max_broadcast_queue, hasher),
            seen: crate::gossip::Seen::new(config.broadcast_dedup_window, hasher),
            next_broadcast_id: 0,
            suspicions: Suspicions::new(hasher, local),
            damping: crate::damping::Damping::new(
                config.flap_damping_half_life.unwrap_or(Duration::ZERO),
            ),
            prober: Prober::new(),
            joiner: Joiner::new(),
            recent: VecDeque::new(),
            tombstones: VecDeque::new(),
            next_gossip_at: None,
            last_gossip: Duration::ZERO,
            gossip_backoff: 0,
            gossip_full: false,
            broadcast_turn: false,
            send_budget: crate::budget::SendBudget::new(&config),
            next_sync_at: None,
            next_reconnect_at: None,
            last_rejoin: None,
            next_whois_at: Duration::ZERO,
            next_tell_down_at: Duration::ZERO,
            sync_cursor: 0,
            claims_about_us: false,
            sender: None,
            seq,
            out: Vec::new(),
            envelope: EnvelopeConfig::default(),
            allow: AllowList::new(),
            scratch: Vec::new(),
            guard: crate::security::Guard::new(seed, config.max_members, hasher),
            rng,
            config,
        })
    }

    /// Sets this node's metadata, announced with a new incarnation.
    pub fn set_meta(&mut self, now: Instant, meta: Bytes) -> Result<Vec<Action<A>>, Error> {
        if meta.len() > self.config.max_meta_size {
            return Err(Error::MetaTooLarge {
                size: meta.len(),
                max: self.config.max_meta_size,
            });
        }
        if self.left || self.leaving.is_some() {
            return Err(Error::Left);
        }
        self.enter(now);
        if meta != self.meta {
            self.meta = meta;
            self.incarnation = self.incarnation.saturating_add(1);
            self.announce_self();
        }
        Ok(self.take())
    }

    /// Starts joining the cluster through `seeds`: a join request goes to
    /// each, and is retried with exponential backoff until one answers.
    /// Seeds equal to the local address are ignored; an empty list makes
    /// this node the first member.
    pub fn join(&mut self, now: Instant, seeds: &[A]) -> Vec<Action<A>> {
        self.enter(now);
        if !self.left && self.leaving.is_none() {
            self.start_join(seeds);
        }
        self.take()
    }

    /// Seeds the table with members learned elsewhere — a member list saved
    /// before a restart, or static configuration — as if a join had taught
    /// them: each unknown one is added Alive with its incarnation and
    /// metadata and reported [`Event::Joined`], nothing is disseminated, and
    /// the protocol then probes and syncs them like any other member. Known
    /// members, this node itself, and members beyond `max_members` are
    /// skipped. Members whose state is not Alive are skipped too (a snapshot
    /// is no evidence of failure).
    ///
    /// ```
    /// # use std::net::SocketAddrV4;
    /// # use std::time::Instant;
    /// # use swim_core::{Config, Member, State, Swim};
    /// let me: SocketAddrV4 = "10.0.0.1:7946".parse().unwrap();
    /// let saved = vec![Member {
    ///     addr: "10.0.0.2:7946".parse().unwrap(),
    ///     incarnation: 3,
    ///     state: State::Alive,
    ///     meta: Default::default(),
    /// }];
    /// let mut node = Swim::new(me, Config::lan(), 7).unwrap();
    /// let events = node.restore(Instant::now(), saved);
    /// assert_eq!(events.len(), 1);
    /// assert_eq!(node.live_members(), 1);
    /// ```
    pub fn restore(
        &mut self,
        now: Instant,
        members: impl IntoIterator<Item = Member<A>>,
    ) -> Vec<Action<A>> {
        self.enter(now);
        for m in members {
            if m.addr == self.local || m.state != State::Alive || self.table.find(&m.addr).is_some()
            {
                continue;
            }
            if m.meta.len() > self.config.max_meta_size {
                self.stats.updates_rejected += 1;
                continue;
            }
            if self.table.counts().total() >= self.config.max_members {
                self.stats.member_table_full += 1;
                continue;
            }
            let stamp = self.stamp();
            self.table
                .insert(m.addr, m.incarnation, State::Alive, stamp);
            self.table.set_meta(m.addr, &m.meta);
            self.emit(Event::Joined {
                member: m.addr,
                meta: m.meta,
            });
        }
        self.take()
    }

    /// Handles one datagram received from `from` (the UDP source address:
    /// replies go there, never to an address written inside the message).
    /// A datagram that does not decode changes nothing and is counted in
    /// [`Stats::decode_errors`].
    pub fn handle_datagram(&mut self, now: Instant, from: A, bytes: &[u8]) -> Vec<Action<A>> {
        self.enter(now);
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += bytes.len() as u64;
        if self.left || from == self.local {
            self.stats.datagrams_dropped += 1;
            return self.take();
        }
        if self.leaving.is_some() {
            if let Some((packet, trusted)) = self.open_datagram(from, bytes) {
                let budget = self.begin_budget(from, bytes.len(), trusted);
                self.leaving_datagram(from, &packet.body, budget);
                self.end_budget();
            }
            return self.take();
        }
        if let Some((packet, trusted)) = self.open_datagram(from, bytes) {
            self.handle_packet(from, packet, trusted, bytes.len());
        }
        // Datagrams held until their sender answered a challenge (that
        // answer was this datagram).
        for (packet, len) in core::mem::take(&mut self.guard.released) {
            self.handle_packet(from, packet, true, len);
        }
        self.take()
    }

    /// One opened datagram of `len` bytes: everything it causes this node to
    /// send, to anyone, totals at most 3× `len` unless it is `trusted`.
    fn handle_packet(&mut self, from: A, packet: Packet<A>, trusted: bool, len: usize) {
        match packet.body {
            Body::Ack { seq } => self.note_round_trip(from, seq),
            Body::Members { seq, flags, .. } => self.note_join_reply(from, seq, flags),
            _ => {}
        }
        let budget = self.begin_budget(from, len, trusted);
        self.claims_about_us = false;
        if self.config.evidence_of_life {
            // The sender runs: a suspicion of it waits for its refutation.
            self.suspicions.heard_from(&from, self.now);
        }
        self.sender = Some(from);
        self.apply_updates(&packet.updates);
        self.sender = None;
        for b in packet.broadcasts {
            self.receive_broadcast(b);
        }
        // The sender believes we are suspect or failed (or an older such
        // claim), or we hold the sender Failed or Left though it plainly
        // runs: it hears our view straight back (our Alive; its own record,
        // which it refutes), in the reply if the body asks for one, else in
        // a datagram of its own.
        let replies = matches!(packet.body, Body::Ping { .. } | Body::Join { .. });
        // Our own record goes first: news for a member we hold suspect or
        // down is otherwise only its own record, and two members that each
        // hold the other down would trade claims forever.
        let me = self.claims_about_us.then(|| self.self_update());
        let ask_who = !matches!(packet.body, Body::Join { .. } | Body::Members { .. });
        match packet.body {
            Body::Gossip => {}
            Body::Ping { seq } => {
                self.send_reply_with(from, Body::Ack { seq }, me.as_ref(), budget)
            }
            Body::Ack { seq } => self.on_ack(from, seq),
            Body::Nack { seq } => self.on_nack(from, seq),
            Body::PingReq { seq, target } => self.on_ping_req(from, seq, target, budget),
            Body::Join { seq, cursor, .. } => {
                // What the joiner says of itself (a restarted node announces
                // a low incarnation; the reply tells it what we remember).
                let claimed = packet
                    .updates
                    .iter()
                    .find(|u| u.addr == from)
                    .map(|u| u.incarnation);
                self.on_join(from, seq, cursor, claimed, budget)
            }
            Body::Members {
                seq,
                flags,
                cursor,
                records,
            } => self.on_members(from, seq, flags, cursor, &records, budget),
            Body::User { payload } => {
                self.emit(Event::Message {
                    from,
                    payload,
                    broadcast: false,
                });
            }
        }
        // The reply the body asked for came first; then, within what is
        // left of the budget: the sender believes we are suspect or failed
        // (or an older such claim), so it hears our current Alive straight
        // back (a ping's or join's reply carried it already) ...
        if !replies && (self.claims_about_us || self.should_tell_down(from)) {
            self.send_reply_with(from, Body::Gossip, me.as_ref(), budget);
        }
        // ... and a member we never heard of is talking to us (we missed its
        // join): ask it for its own record.
        if ask_who {
            self.maybe_ask_who(from, budget);
        }
        self.end_budget();
    }

    /// Runs every timer due at `now`. Call it at or after
    /// [`next_deadline`](Self::next_deadline); calling it early is harmless.
    pub fn tick(&mut self, now: Instant) -> Vec<Action<A>> {
        self.enter(now);
        if self.left {
            return self.take();
        }
        if self.leaving.is_some() {
            self.tick_leave();
            return self.take();
        }
        self.tick_probe();
        self.tick_relays();
        self.tick_suspicions();
        self.tick_gossip();
        self.tick_join();
        self.tick_paging();
        self.tick_sync();
        self.tick_reconnect();
        self.tick_reap();
        self.take()
    }

    /// The earliest time `tick` has work to do; `None` when there is none
    /// (before the first input, or after leaving).
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.left {
            return None;
        }
        let epoch = self.epoch?;
        if self.leaving.is_some() {
            return self.leave_deadline().map(|t| epoch + t);
        }
        let next = self.timers().into_iter().filter_map(|(_, t)| t).min()?;
        Some(epoch + next)
    }

    /// Every timer's next deadline (virtual time), named: the one table
    /// `next_deadline` takes the minimum of.
    pub(crate) fn timers(&self) -> [(&'static str, Option<Duration>); 8] {
        [
            ("probe", self.prober.next_deadline()),
            ("relays", self.relay_deadline()),
            ("suspicions", self.suspicions.next_deadline()),
            ("gossip", self.next_gossip_at),
            ("join", self.joiner.next_deadline()),
            ("sync", self.next_sync_at),
            ("reconnect", self.next_reconnect_at),
            ("reap", self.tombstones.front().map(|t| t.0)),
        ]
    }

    /// Leaves the cluster: announces `Left` (with a new incarnation) in
    /// pings to `Config::leave_fanout` members and stops probing. Keep
    /// driving the node (`handle_datagram`, `tick` at `next_deadline`)
    /// until [`has_left`](Self::has_left): unacknowledged notices are sent
    /// again to other members every probe timeout, for at most three probe
    /// intervals; then the node is inert and may shut down. Members report
    /// it as left, not failed.
    pub fn leave(&mut self, now: Instant) -> Vec<Action<A>> {
        self.enter(now);
        if self.left || self.leaving.is_some() {
            return self.take();
        }
        self.start_leave();
        self.take()
    }

    /// Whether a leave has finished (acknowledged by enough members, or
    /// given up): the node sends nothing more and may be dropped.
    pub fn has_left(&self) -> bool {
        self.left
    }

    /// Disseminates an application payload to every member (each receives
    /// it once, as [`Event::Message`] with `broadcast: true`).
    pub fn broadcast(&mut self, now: Instant, payload: Bytes) -> Result<Vec<Action<A>>, Error> {
        self.check_payload(&payload)?;
        self.enter(now);
        let id = self.next_broadcast_id;
        self.next_broadcast_id += 1;
        self.seen.insert((self.local, id));
        let b = Broadcast {
            origin: self.local,
            id,
            payload,
        };
        self.remember_broadcast(&b);
        if self.broadcasts.push((b.origin, b.id), b) {
            self.stats.broadcast_queue_drops += 1;
        }
        self.gossip_round();
        Ok(self.take())
    }

    /// Sends an application payload to one live member (delivered at most
    /// once, as [`Event::Message`] with `broadcast: false`; not retried).
    pub fn send_to(
        &mut self,
        now: Instant,
        member: A,
        payload: Bytes,
    ) -> Result<Vec<Action<A>>, Error> {
        self.check_payload(&payload)?;
        self.enter(now);
        let live = self
            .table
            .lookup(&member)
            .is_some_and(|s| matches!(s.state, State::Alive | State::Suspect));
        if !live {
            return Err(Error::UnknownMember);
        }
        self.send_packet(member, Body::User { payload }, usize::MAX);
        Ok(self.take())
    }

    /// Every known member except this node (all states, tombstones of failed
    /// and left members included until reaped), in address order.
    pub fn members(&self) -> impl Iterator<Item = Member<A>> + '_ {
        let mut all: Vec<_> = self.table.iter().map(|(_, s)| *s).collect();
        all.sort_unstable_by_key(|s| s.addr);
        all.into_iter().map(move |s| Member {
            addr: s.addr,
            incarnation: s.incarnation(),
            state: s.state,
            meta: self.table.meta(&s.addr),
        })
    }

    /// One member's current view, if known.
    pub fn member(&self, addr: &A) -> Option<Member<A>> {
        self.table.lookup(addr).map(|s| Member {
            addr: s.addr,
            incarnation: s.incarnation(),
            state: s.state,
            meta: self.table.meta(&s.addr),
        })
    }

    /// Number of members (other than this node) currently Alive or Suspect.
    pub fn live_members(&self) -> usize {
        self.table.counts().live()
    }

    /// This node as it announces itself.
    pub fn local(&self) -> Member<A> {
        Member {
            addr: self.local,
            incarnation: self.incarnation,
            state: if self.left || self.leaving.is_some() {
                State::Left
            } else {
                State::Alive
            },
            meta: self.meta.clone(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The Lifeguard local health score (0 = healthy; timers are scaled by
    /// score + 1).
    pub fn health_score(&self) -> u32 {
        self.prober.awareness
    }

    // ----- internals shared by the protocol parts -----

    fn enter(&mut self, now: Instant) {
        match self.epoch {
            None => {
                self.epoch = Some(now);
                self.now = Duration::ZERO;
                self.start_timers();
            }
            Some(epoch) => {
                let t = now.saturating_duration_since(epoch);
                if t > self.now {
                    self.now = t;
                }
            }
        }
    }

    fn start_timers(&mut self) {
        let now = self.now;
        let jitter = self.jitter(self.config.probe_interval);
        self.prober.next_at = Some(now + jitter);
        if let Some(i) = self.config.sync_interval {
            let j = self.jitter(i);
            self.next_sync_at = Some(now + i / 2 + j);
        }
        if let Some(i) = self.config.reconnect_interval {
            let j = self.jitter(i);
            self.next_reconnect_at = Some(now + j);
        }
    }

    /// A uniformly random duration in `[0, d)`.
    pub(crate) fn jitter(&mut self, d: Duration) -> Duration {
        d.mul_f64(self.rng.unit())
    }

    fn take(&mut self) -> Vec<Action<A>> {
        core::mem::take(&mut self.out)
    }

    fn check_payload(&self, payload: &Bytes) -> Result<(), Error> {
        if self.left || self.leaving.is_some() {
            return Err(Error::Left);
        }
        if payload.len() > self.config.max_payload_size {
            return Err(Error::PayloadTooLarge {
                size: payload.len(),
                max: self.config.max_payload_size,
            });
        }
        Ok(())
    }

    pub(crate) fn emit(&mut self, e: Event<A>) {
        self.out.push(Action::Event(e));
    }

    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Time of the last change, for the table: deciseconds since the epoch.
    pub(crate) fn stamp(&self) -> u32 {
        u32::try_from(self.now.as_millis() / 100).unwrap_or(u32::MAX)
    }

    /// This node's own `Alive` update.
    pub(crate) fn self_update(&self) -> Update<A> {
        Update {
            addr: self.local,
            incarnation: self.incarnation,
            kind: UpdateKind::Alive {
                meta: self.meta.clone(),
            },
        }
    }

    /// Queues this node's current `Alive` for dissemination.
    pub(crate) fn announce_self(&mut self) {
        let u = self.self_update();
        self.enqueue(u);
    }
}

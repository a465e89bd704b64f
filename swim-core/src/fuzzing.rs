//! Fuzz target bodies, as library code (cargo feature `fuzzing`).
//!
//! Each `fuzz/fuzz_targets/*.rs` is a one-line call into this module, and
//! `tests/fuzz_corpus.rs` replays every committed corpus file through the
//! same functions on stable `cargo test`. A target fails by panicking: a
//! panic here is a bug in swim-core (or in an oracle), never bad input.
//!
//! * [`wire_decode`]: bytes → [`wire::decode`] for both address types; what
//!   decodes re-encodes (and re-packs with [`PacketBuilder`]) to the same
//!   bytes, and tighter limits only ever reject.
//! * [`envelope`]: bytes → `EnvelopeConfig::open` under five configurations
//!   (none, label, keyring, keyring + label, and the plaintext migration
//!   switch); what opens re-seals to the same bytes; and the bytes as a plain
//!   packet seal, open back, and fail authentication when any bit flips.
//! * [`node_ops`]: a sequence of operations on one node (hostile or
//!   well-formed datagrams from anyone, answers to what the node sent, time
//!   steps, ticks, join, leave, broadcast, send_to, set_meta; envelopes
//!   switched and keys rotated on the node and its peers, allow-lists, sealed
//!   datagrams under three replay runs, replays of sealed datagrams, and
//!   challenges both ways), with the node's invariants checked after every
//!   step.
//!
//! The third target, `sim` (a seed and a fault schedule through the
//! simulator and its checkers), lives in `swim_sim::fuzzing`: swim-sim
//! depends on this crate, not the other way round.
//!
//! [`footprint`] and [`check_bounds`] expose a node's internal table and
//! queue sizes, so tests can show that hostile input cannot grow memory past
//! the configured bounds.

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a fuzz oracle fails by panicking"
)]

use crate::allow::AllowList;
use crate::node::MAX_INCARNATION_JUMP;
use crate::wire::envelope::replay;
use crate::wire::envelope::{
    EnvelopeConfig, Key, Keyring, Label, ENVELOPE_RANGE, KEY_ID_LEN, KEY_LEN, LABELED, NONCE_LEN,
    SEALED,
};
use crate::wire::{
    self, Body, Broadcast, Limits, Packet, PacketBuilder, Update, UpdateKind, MEMBERS_JOIN_REPLY,
    MEMBERS_MORE, MEMBERS_SYNC_REPLY, MEMBERS_SYNC_REQUEST,
};
use crate::{Action, Addr, Config, Event, Member, State, Stats, Swim};
use arbitrary::Unstructured;
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// ----- bounds -----

/// Sizes of a node's internal tables and queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// Members in the table (all states).
    pub members: usize,
    /// Table slots, used or free.
    pub slots: usize,
    /// Updates queued for dissemination.
    pub updates: usize,
    /// Update queue bucket entries, stale ones included.
    pub update_entries: usize,
    /// Broadcasts queued.
    pub broadcasts: usize,
    /// Broadcast queue bucket entries, stale ones included.
    pub broadcast_entries: usize,
    /// Broadcast ids remembered for deduplication.
    pub seen: usize,
    /// Running suspicions.
    pub suspicions: usize,
    /// Reaping deadlines (tombstones) pending.
    pub tombstones: usize,
    /// Indirect probes relayed for others.
    pub relays: usize,
    /// Recently joined members (facilitator).
    pub recent: usize,
    /// Security tables: replay windows, challenges, held datagrams,
    /// validated sources, recent broadcasts.
    pub security: usize,
}

/// A node's current [`Footprint`].
pub fn footprint<A: Addr>(node: &Swim<A>) -> Footprint {
    Footprint {
        members: node.table.counts().total(),
        slots: node.table.capacity_slots(),
        updates: node.updates.len(),
        update_entries: node.updates.raw_len(),
        broadcasts: node.broadcasts.len(),
        broadcast_entries: node.broadcasts.raw_len(),
        seen: node.seen.len(),
        suspicions: node.suspicions.len(),
        tombstones: node.tombstones.len(),
        relays: node.prober.relays_len(),
        recent: node.recent.len(),
        security: node.guard.footprint(),
    }
}

/// Panics unless every table and queue of `node` is within the bound its
/// configuration sets.
pub fn check_bounds<A: Addr>(node: &Swim<A>) {
    let c = node.config();
    let f = footprint(node);
    let m = c.max_members;
    let check = |ok: bool, what: &str| assert!(ok, "{what} out of bounds: {f:?}");
    check(f.members <= m, "members");
    check(f.slots <= m, "table slots");
    check(f.updates <= c.max_update_queue, "update queue");
    check(
        f.update_entries <= 4 * c.max_update_queue + 64 + m,
        "update queue entries",
    );
    check(f.broadcasts <= c.max_broadcast_queue, "broadcast queue");
    check(
        f.broadcast_entries <= 4 * c.max_broadcast_queue + 64 + m,
        "broadcast queue entries",
    );
    check(f.seen <= c.broadcast_dedup_window, "broadcast dedup window");
    check(f.suspicions <= f.members, "suspicions");
    check(f.tombstones <= 4 * m, "tombstones");
    check(f.relays <= c.max_relays, "relays");
    check(f.recent <= c.facilitator_members + 1, "recent members");
    check(
        f.security <= 2 * m.max(1024) + 64 + 32 + 16,
        "security tables",
    );
}

/// The replay windows of a node, exposed for `benches/envelope.rs`.
pub struct ReplayWindows(replay::ReplayGuard);

impl ReplayWindows {
    /// Room for `capacity` sender epochs.
    pub fn new(capacity: usize) -> Self {
        ReplayWindows(replay::ReplayGuard::new(
            capacity,
            crate::hash::KeyedState::new(1, 2),
        ))
    }

    /// Trusts `id`'s epoch from `id.counter` on (an answered challenge).
    pub fn admit(&mut self, id: replay::ReplayId) {
        self.0.admit(id);
    }

    /// Checks and marks `id`: `true` if fresh.
    pub fn check(&mut self, id: replay::ReplayId) -> bool {
        self.0.check(id) == replay::Verdict::Fresh
    }
}

/// Whether `packet` carries an Alive claim for `addr` (in its updates or,
/// for a member list, its records).
fn introduces(packet: &Packet<V4>, addr: V4) -> bool {
    let records = match &packet.body {
        Body::Members { records, .. } => records.as_slice(),
        _ => &[],
    };
    packet
        .updates
        .iter()
        .chain(records)
        .any(|u| u.addr == addr && matches!(u.kind, UpdateKind::Alive { .. }))
}

/// Every timer of `node`, for failure messages.
fn timers<A: Addr>(node: &Swim<A>) -> String {
    let timers: Vec<String> = node
        .timers()
        .iter()
        .map(|(name, t)| format!("{name} {t:?}"))
        .collect();
    format!("now {:?}; {}", node.now, timers.join(", "))
}

// ----- wire_decode -----

/// Target `wire_decode`: `data` as one datagram, for both address types.
///
/// If it decodes, re-encoding gives `data` back, [`wire::packet_len`] is
/// its length, a [`PacketBuilder`] limited to exactly that length accepts
/// every item and produces the same bytes, and decoding under tight limits
/// either gives the same packet or fails because a limit was exceeded.
pub fn wire_decode(data: &[u8]) {
    round_trip::<SocketAddrV4>(data);
    round_trip::<SocketAddr>(data);
}

fn round_trip<A: Addr>(data: &[u8]) {
    let tight = Limits {
        max_meta_size: 8,
        max_payload_size: 8,
        max_items: 3,
    };
    let Ok(p) = wire::decode::<A>(data, &Limits::UNLIMITED) else {
        assert!(
            wire::decode::<A>(data, &tight).is_err(),
            "tighter limits accepted what unlimited ones rejected"
        );
        return;
    };
    assert_eq!(wire::encode(&p), data, "re-encoding differs: {p:?}");
    assert_eq!(wire::packet_len(&p), data.len(), "packet_len is wrong");

    let mut b = PacketBuilder::new(&p.body, data.len()).expect("body fits");
    if let Body::Members { records, .. } = &p.body {
        for r in records {
            assert!(b.push_record(r), "builder refused a record that fits");
        }
    }
    for u in &p.updates {
        assert!(b.push_update(u), "builder refused an update that fits");
    }
    for x in &p.broadcasts {
        assert!(b.push_broadcast(x), "builder refused a broadcast that fits");
    }
    assert_eq!(b.len(), data.len(), "builder length is wrong");
    assert_eq!(&b.finish()[..], data, "builder output differs");

    match wire::decode::<A>(data, &tight) {
        Ok(q) => assert_eq!(q, p, "limits changed the decoded packet"),
        Err(_) => {
            let records = match &p.body {
                Body::Members { records, .. } => records.as_slice(),
                _ => &[],
            };
            let over_meta = records.iter().chain(&p.updates).any(
                |u| matches!(&u.kind, UpdateKind::Alive { meta } if meta.len() > tight.max_meta_size),
            );
            let over_payload = p
                .broadcasts
                .iter()
                .any(|x| x.payload.len() > tight.max_payload_size)
                || matches!(&p.body, Body::User { payload } if payload.len() > tight.max_payload_size);
            let over_items = [records.len(), p.updates.len(), p.broadcasts.len()]
                .iter()
                .any(|&n| n > tight.max_items);
            assert!(
                over_meta || over_payload || over_items,
                "tight limits rejected a packet within them: {p:?}"
            );
        }
    }
}

// ----- envelope -----

/// The configurations [`envelope`] opens and seals under.
fn envelope_configs() -> &'static [EnvelopeConfig] {
    static CONFIGS: OnceLock<Vec<EnvelopeConfig>> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let label = Label::new("prod-eu").expect("label");
        let ring = Keyring::new(Key::from_bytes([0x5a; KEY_LEN]).expect("key"));
        let mut all = vec![
            EnvelopeConfig::default(),
            EnvelopeConfig {
                label: Some(label.clone()),
                ..EnvelopeConfig::default()
            },
            EnvelopeConfig {
                keyring: Some(ring.clone()),
                ..EnvelopeConfig::default()
            },
            EnvelopeConfig {
                label: Some(label.clone()),
                keyring: Some(ring.clone()),
                ..EnvelopeConfig::default()
            },
        ];
        all.push(EnvelopeConfig {
            label: Some(label),
            keyring: Some(ring),
            accept_plaintext: true,
            send_plaintext: false,
        });
        all
    })
}

/// Target `envelope`: `data` as a received datagram, and as a plain packet
/// to protect, under every configuration of [`envelope_configs`].
pub fn envelope(data: &[u8]) {
    let configs = envelope_configs();
    let (plain, labeled) = (&configs[0], &configs[1]);
    let mut scratch = Vec::new();
    let mut out = Vec::new();
    for c in configs {
        // What opens is a valid inner packet and re-seals to the same bytes.
        if let Ok(inner) = c.open(data, &mut scratch) {
            let inner = inner.to_vec();
            assert!(
                inner.first().is_some_and(|b| !ENVELOPE_RANGE.contains(b)),
                "opened to an empty or nested packet"
            );
            let (form, nonce) = match data[0] {
                LABELED => (labeled, [0; NONCE_LEN]),
                SEALED => {
                    let nonce: [u8; NONCE_LEN] = data[1 + KEY_ID_LEN..][..NONCE_LEN]
                        .try_into()
                        .expect("nonce");
                    (c, nonce)
                }
                _ => (plain, [0; NONCE_LEN]),
            };
            form.seal(&inner, nonce, &mut out).expect("re-seal");
            assert_eq!(out, data, "re-sealing what opened gives other bytes");
        }
        // The bytes as a packet: seal, open back, and detect tampering.
        let nonce = [data.len() as u8; NONCE_LEN];
        match c.seal(data, nonce, &mut out) {
            Err(_) => assert!(
                data.first().is_none_or(|b| ENVELOPE_RANGE.contains(b)),
                "refused to seal a valid inner packet"
            ),
            Ok(()) => {
                assert_eq!(out.len(), data.len() + c.overhead(), "overhead is wrong");
                let opened = c.open(&out, &mut scratch).expect("open what was sealed");
                assert_eq!(opened, data, "open(seal(x)) != x");
                if c.encrypts() {
                    let bit = data.first().map_or(0, |&b| usize::from(b));
                    let i = bit / 8 % out.len();
                    out[i] ^= 1 << (bit % 8);
                    // The migration switch accepts plain packets: a flip
                    // that turns the first byte into a plain one is one.
                    let now_plain = i == 0 && !ENVELOPE_RANGE.contains(&out[0]);
                    assert!(
                        c.open(&out, &mut scratch).is_err() || (c.accept_plaintext && now_plain),
                        "a flipped bit at byte {i} went unnoticed"
                    );
                }
            }
        }
    }
}

// ----- node_ops -----

type V4 = SocketAddrV4;

/// The node under test in [`node_ops`].
pub const LOCAL: V4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 7946);

/// Peer `i` of the address pool the fuzzers draw from.
pub fn peer(i: u16) -> V4 {
    let [hi, lo] = (i + 2).to_be_bytes();
    SocketAddrV4::new(Ipv4Addr::new(10, 0, hi, lo), 7946)
}

/// One real instant as the origin; all later time is virtual.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(|| {
        #[expect(
            clippy::disallowed_methods,
            reason = "one real Instant as the origin; all later time is virtual"
        )]
        Instant::now()
    })
}

/// Target `node_ops`: `data` drives a sequence of operations on one node
/// (see the module docs); every step's invariants are checked.
pub fn node_ops(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(mut h) = Harness::new(&mut u) else {
        return;
    };
    for _ in 0..512 {
        if u.is_empty() || h.step(&mut u).is_err() {
            break;
        }
    }
}

/// A small configuration whose bounds a fuzzer can reach, shaped by `u`.
fn small_config(u: &mut Unstructured<'_>) -> arbitrary::Result<Config> {
    let mut c = Config::local();
    c.max_members = u.int_in_range(2..=64)?;
    c.max_update_queue = u.int_in_range(16..=48)?;
    c.max_broadcast_queue = u.int_in_range(1..=8)?;
    c.broadcast_dedup_window = 16;
    c.max_relays = u.int_in_range(1..=4)?;
    c.max_packet_size = *u.choose(&[256, 512, 1400])?;
    let room = c.max_packet_size - 64;
    c.max_meta_size = (*u.choose(&[0, 8, 64, 512])?).min(room);
    c.max_payload_size = (*u.choose(&[1, 32, 300, 1024])?).min(room);
    c.facilitator = u.arbitrary()?;
    c.facilitator_members = u.int_in_range(1..=8)?;
    c.lifeguard_nack = u.arbitrary()?;
    c.lifeguard_suspicion = u.arbitrary()?;
    c.lifeguard_awareness = u.arbitrary()?;
    c.lifeguard_buddy = u.arbitrary()?;
    c.indirect_checks = u.int_in_range(0..=4)?;
    c.gossip_fanout = u.int_in_range(0..=3)?;
    if u.arbitrary()? {
        c.sync_interval = None;
    }
    if u.arbitrary()? {
        c.reconnect_interval = None;
    }
    c.leave_fanout = u.int_in_range(1..=4)?;
    c.retention = Duration::from_secs(*u.choose(&[10, 60])?);
    if c.validate().is_err() {
        c = Config::local();
        c.max_members = 64;
    }
    Ok(c)
}

fn limits(c: &Config) -> Limits {
    Limits {
        max_meta_size: c.max_meta_size,
        max_payload_size: c.max_payload_size,
        max_items: c.max_packet_size,
    }
}

fn stats_fields(s: &Stats) -> [u64; 27] {
    [
        s.datagrams_received,
        s.bytes_received,
        s.datagrams_sent,
        s.bytes_sent,
        s.decode_errors,
        s.datagrams_dropped,
        s.probes,
        s.indirect_probes,
        s.nacks_received,
        s.nacks_sent,
        s.probes_failed,
        s.suspicions,
        s.refutations,
        s.update_queue_drops,
        s.broadcast_queue_drops,
        s.member_table_full,
        s.relay_drops,
        s.updates_rejected,
        s.joins_sent,
        s.syncs,
        s.reaped,
        s.not_allowed,
        s.envelope_rejected,
        s.replays_rejected,
        s.challenges_sent,
        s.sources_validated,
        s.unverified_dropped,
    ]
}

fn event_member<A: Copy>(e: &Event<A>) -> A {
    match e {
        Event::Joined { member, .. }
        | Event::Updated { member, .. }
        | Event::Suspected { member }
        | Event::Alive { member }
        | Event::Failed { member }
        | Event::Left { member } => *member,
        Event::Message { from, .. } => *from,
    }
}

/// What produced a batch of actions.
enum Cause<'a> {
    Datagram {
        from: V4,
        bytes: &'a [u8],
        packet: &'a Packet<V4>,
    },
    Tick,
    Other,
}

struct Harness {
    node: Swim<V4>,
    limits: Limits,
    /// Time passed on the last call.
    now: Duration,
    started: bool,
    sent: u64,
    sent_bytes: u64,
    received: u64,
    received_bytes: u64,
    prev: Stats,
    incarnations: BTreeMap<V4, u64>,
    local_inc: u64,
    /// What the node sent lately, decoded.
    recent: VecDeque<(V4, Packet<V4>)>,
    /// Ping-req senders and their largest ping-req datagram.
    requesters: BTreeMap<V4, usize>,
    /// How the simulated peers wrap what they send (keyed or not).
    peers: EnvelopeConfig,
    /// The peers' replay epochs and their last counters.
    peer_runs: [(u64, u64); 3],
    /// Sealed datagrams already delivered (replaying one must do nothing).
    delivered: VecDeque<Vec<u8>>,
    /// Challenges the node sent: (to, cookie).
    challenges: VecDeque<(V4, [u8; replay::COOKIE_LEN])>,
    /// The allow-list set on the node, if any.
    allow: Option<AllowList>,
}

/// A node_ops key: one of three, so rotations and mismatches happen.
fn fuzz_key(i: u8) -> Key {
    Key::from_bytes([0x11u8.wrapping_mul(i + 1); KEY_LEN]).expect("key")
}

/// The envelopes node_ops switches the node and its peers between.
fn fuzz_envelope(u: &mut Unstructured<'_>) -> arbitrary::Result<EnvelopeConfig> {
    let label = if u.int_in_range(0u8..=3)? == 0 {
        Some(Label::new("fz").expect("label"))
    } else {
        None
    };
    let keyring = match u.int_in_range(0u8..=5)? {
        0 => None,
        k => {
            let mut ring = Keyring::new(fuzz_key(k % 3));
            if k > 3 {
                ring.add(fuzz_key((k + 1) % 3)).expect("room");
            }
            Some(ring)
        }
    };
    let accept_plaintext = u.int_in_range(0u8..=4)? == 0;
    let send_plaintext = accept_plaintext && u.arbitrary()?;
    Ok(EnvelopeConfig {
        label,
        keyring,
        accept_plaintext,
        send_plaintext,
    })
}

impl Harness {
    fn new(u: &mut Unstructured<'_>) -> arbitrary::Result<Self> {
        let config = small_config(u)?;
        let seed = u.arbitrary()?;
        let limits = limits(&config);
        let node = Swim::new(LOCAL, config, seed).expect("valid config");
        Ok(Harness {
            node,
            limits,
            now: Duration::ZERO,
            started: false,
            sent: 0,
            sent_bytes: 0,
            received: 0,
            received_bytes: 0,
            prev: Stats::default(),
            incarnations: BTreeMap::new(),
            local_inc: 0,
            recent: VecDeque::new(),
            requesters: BTreeMap::new(),
            peers: EnvelopeConfig::default(),
            peer_runs: [(0x1111, 0), (0x2222, 0), (0x3333, 0)],
            delivered: VecDeque::new(),
            challenges: VecDeque::new(),
            allow: None,
        })
    }

    fn instant(&mut self) -> Instant {
        origin() + self.now
    }

    fn step(&mut self, u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
        match u.int_in_range(0u8..=24)? {
            20 => {
                // Envelope set (keys added, made primary, removed: a
                // rotation), on the node, the peers, or both.
                let env = fuzz_envelope(u)?;
                match u.int_in_range(0u8..=2)? {
                    0 => self.peers = env,
                    1 => {
                        self.node.set_envelope(env).expect("valid");
                    }
                    _ => {
                        self.node.set_envelope(env.clone()).expect("valid");
                        self.peers = env;
                    }
                }
                self.check(&[], &Cause::Other);
            }
            21 => {
                let allow = match u.int_in_range(0u8..=2)? {
                    0 => AllowList::new(),
                    1 => AllowList::parse(["10.0.0.0/24"]).expect("cidr"),
                    _ => AllowList::parse(["10.0.0.0/29", "192.168.0.0/16"]).expect("cidr"),
                };
                self.allow = (!allow.is_empty()).then(|| allow.clone());
                self.node.set_allow_list(allow);
                self.check(&[], &Cause::Other);
            }
            22 => {
                // A replay: a sealed datagram delivered before, from anyone.
                if !self.delivered.is_empty() {
                    let i = u.choose_index(self.delivered.len())?;
                    let bytes = self.delivered.get(i).cloned().unwrap_or_default();
                    let from = self.addr(u)?;
                    self.datagram(from, &bytes);
                }
            }
            23 => {
                // A peer answers a challenge the node sent (or a stranger
                // answers it from elsewhere).
                if let Some(&(to, cookie)) = self.challenges.back() {
                    let from = if u.arbitrary()? { to } else { self.addr(u)? };
                    let inner = replay::control_packet(replay::RESPONSE, cookie);
                    let run = u.int_in_range(0..=2usize)?;
                    if let Some(bytes) = self.seal_as_peer(&inner, run) {
                        self.datagram(from, &bytes);
                    }
                }
            }
            24 => {
                // A peer sends a challenge.
                let from = self.addr(u)?;
                let inner = replay::control_packet(replay::CHALLENGE, u.arbitrary()?);
                let run = u.int_in_range(0..=2usize)?;
                if let Some(bytes) = self.seal_as_peer(&inner, run) {
                    self.datagram(from, &bytes);
                }
            }
            0 | 1 => {
                let from = self.addr(u)?;
                let n = u.int_in_range(0..=1500usize)?.min(u.len());
                let bytes = u.bytes(n)?.to_vec();
                self.datagram(from, &bytes);
            }
            2..=4 => {
                let from = self.addr(u)?;
                let p = self.packet(u)?;
                let bytes = self.wrap(u, &p)?;
                self.datagram(from, &bytes);
            }
            5 | 6 => self.answer(u)?,
            7 => {
                // Echo something the node sent, from its destination or
                // from anyone.
                if let Some((to, p)) = self.pick_recent(u)? {
                    let from = if u.arbitrary()? { to } else { self.addr(u)? };
                    let bytes = self.wrap(u, &p)?;
                    self.datagram(from, &bytes);
                }
            }
            8 => self.now += Duration::from_millis(u.int_in_range(0..=1000)?),
            9 => self.now += Duration::from_secs(u.int_in_range(0..=600)?),
            10 | 11 => self.tick(),
            12 | 13 => {
                if let Some(t) = self.node.next_deadline() {
                    self.now = self.now.max(t.saturating_duration_since(origin()));
                }
                self.tick();
            }
            14 => {
                let n = u.int_in_range(0..=3)?;
                let mut seeds = Vec::new();
                for _ in 0..n {
                    seeds.push(self.addr(u)?);
                }
                let now = self.instant();
                let actions = self.node.join(now, &seeds);
                self.started = true;
                self.check(&actions, &Cause::Other);
            }
            15 => {
                if u.int_in_range(0..=3)? == 0 {
                    let now = self.instant();
                    let actions = self.node.leave(now);
                    self.started = true;
                    self.check(&actions, &Cause::Other);
                }
            }
            16 => {
                let max = self.node.config().max_payload_size;
                let payload = self.blob(u, max)?;
                let now = self.instant();
                let r = self.node.broadcast(now, payload.clone());
                self.command(r, payload.len() > max);
            }
            17 => {
                let to = self.addr(u)?;
                let max = self.node.config().max_payload_size;
                let payload = self.blob(u, max)?;
                let now = self.instant();
                let live = self
                    .node
                    .member(&to)
                    .is_some_and(|m| matches!(m.state, State::Alive | State::Suspect));
                let r = self.node.send_to(now, to, payload.clone());
                if payload.len() <= max && !self.left() {
                    assert_eq!(r.is_ok(), live, "send_to to {to} (live: {live})");
                }
                self.command(r, payload.len() > max);
            }
            18 => {
                let max = self.node.config().max_meta_size;
                let meta = self.blob(u, max)?;
                let now = self.instant();
                let r = self.node.set_meta(now, meta.clone());
                self.command(r, meta.len() > max);
            }
            _ => {
                // Time that goes backwards is clamped.
                let back = Duration::from_millis(u.int_in_range(0..=5000)?);
                let saved = self.now;
                self.now = self.now.saturating_sub(back);
                self.tick();
                self.now = saved;
            }
        }
        Ok(())
    }

    fn left(&self) -> bool {
        self.node.has_left()
    }

    fn command(&mut self, r: Result<Vec<Action<V4>>, crate::Error>, too_large: bool) {
        match r {
            Ok(actions) => {
                assert!(!too_large, "an oversized payload was accepted");
                self.started = true;
                self.check(&actions, &Cause::Other);
            }
            Err(e) => {
                assert!(!matches!(e, crate::Error::UnknownMember) || !too_large);
                if too_large {
                    assert!(
                        matches!(
                            e,
                            crate::Error::PayloadTooLarge { .. }
                                | crate::Error::MetaTooLarge { .. }
                                | crate::Error::Left
                        ),
                        "{e:?}"
                    );
                }
                self.check(&[], &Cause::Other);
            }
        }
    }

    fn tick(&mut self) {
        let now = self.instant();
        let actions = self.node.tick(now);
        self.started = true;
        self.check(&actions, &Cause::Tick);
    }

    /// `p` as the peers send it: sealed (with one of three replay runs) when
    /// they are keyed, else plain or labeled.
    fn wrap(&mut self, u: &mut Unstructured<'_>, p: &Packet<V4>) -> arbitrary::Result<Vec<u8>> {
        let plain = wire::encode(p);
        if self.peers.encrypts() {
            let run = u.int_in_range(0..=2usize)?;
            return Ok(self
                .seal_as_peer(&plain, run)
                .unwrap_or_else(|| plain.to_vec()));
        }
        let mut out = Vec::new();
        match self.peers.seal(&plain, [0; NONCE_LEN], &mut out) {
            Ok(()) => Ok(out),
            Err(_) => Ok(plain.to_vec()),
        }
    }

    /// Seals `inner` under the peers' envelope as peer run `run`.
    fn seal_as_peer(&mut self, inner: &[u8], run: usize) -> Option<Vec<u8>> {
        let (epoch, counter) = self.peer_runs.get_mut(run)?;
        *counter += 1;
        let id = replay::ReplayId {
            epoch: *epoch,
            counter: *counter,
        };
        let mut out = Vec::new();
        self.peers.seal(inner, id.nonce(*counter), &mut out).ok()?;
        Some(out)
    }

    fn datagram(&mut self, from: V4, bytes: &[u8]) {
        let members_before: Vec<Member<V4>> = self.node.members().collect();
        let local_before = self.node.local();
        let was_left = self.left();
        let mut scratch = Vec::new();
        let opened = self
            .node
            .envelope()
            .open_with_id(bytes, &mut scratch)
            .map(|(inner, id)| (inner.to_vec(), id));
        let not_allowed = self
            .allow
            .as_ref()
            .is_some_and(|a| !a.contains(std::net::IpAddr::V4(*from.ip())));
        if !was_left && from != LOCAL && !not_allowed {
            if let Ok((_, Some(_))) = &opened {
                self.sealed_datagram(from, bytes, members_before, local_before);
                return;
            }
        }
        let decoded: Result<Packet<V4>, ()> = match &opened {
            Ok((inner, _)) => wire::decode::<V4>(inner, &self.limits).map_err(|_| ()),
            Err(_) => Err(()),
        };
        let now = self.instant();
        let actions = self.node.handle_datagram(now, from, bytes);
        self.started = true;
        self.received += 1;
        self.received_bytes += bytes.len() as u64;
        let s = self.node.stats();
        let mut unchanged = self.prev;
        unchanged.datagrams_received += 1;
        unchanged.bytes_received += bytes.len() as u64;
        let ignored = if was_left || from == LOCAL {
            unchanged.datagrams_dropped += 1;
            true
        } else if not_allowed {
            unchanged.not_allowed += 1;
            true
        } else if decoded.is_err() {
            // Counted once: as an envelope the node does not accept (first
            // bytes 0xC0..=0xCF), or as a decode error.
            assert_eq!(
                s.decode_errors + s.envelope_rejected,
                self.prev.decode_errors + self.prev.envelope_rejected + 1,
                "an undecodable datagram was not counted once"
            );
            unchanged.decode_errors = s.decode_errors;
            unchanged.envelope_rejected = s.envelope_rejected;
            true
        } else {
            false
        };
        match decoded {
            Ok(packet) if !ignored => {
                if matches!(packet.body, Body::PingReq { .. }) {
                    let e = self.requesters.entry(from).or_insert(0);
                    *e = (*e).max(bytes.len());
                }
                self.check(
                    &actions,
                    &Cause::Datagram {
                        from,
                        bytes,
                        packet: &packet,
                    },
                );
            }
            _ => {
                assert!(actions.is_empty(), "an ignored datagram made {actions:?}");
                assert_eq!(s, unchanged, "an ignored datagram changed counters");
                assert!(
                    self.node.members().eq(members_before),
                    "an ignored datagram changed the member list"
                );
                assert_eq!(self.node.local(), local_before);
                self.check(&actions, &Cause::Other);
            }
        }
    }

    /// A sealed datagram the node authenticates. A replay of one delivered
    /// before (from any source, under any key still installed) changes
    /// nothing and draws at most 3x its size (a challenge); a fresh one is
    /// checked like any call (its source may be validated: no 3x oracle).
    fn sealed_datagram(
        &mut self,
        from: V4,
        bytes: &[u8],
        members_before: Vec<Member<V4>>,
        local_before: Member<V4>,
    ) {
        let replayed = self.delivered.iter().any(|d| d == bytes);
        let now = self.instant();
        let actions = self.node.handle_datagram(now, from, bytes);
        self.started = true;
        self.received += 1;
        self.received_bytes += bytes.len() as u64;
        if replayed {
            let total: usize = actions
                .iter()
                .map(|a| match a {
                    Action::Send { payload, .. } => payload.len(),
                    Action::Event(e) => panic!("a replayed sealed datagram made {e:?}"),
                })
                .sum();
            assert!(
                total <= 3 * bytes.len(),
                "a replayed {}-byte sealed datagram drew {total} bytes",
                bytes.len()
            );
            assert!(
                self.node.members().eq(members_before),
                "a replayed sealed datagram changed the member list"
            );
            assert_eq!(self.node.local(), local_before, "a replay changed us");
        } else {
            if self.delivered.len() == 32 {
                self.delivered.pop_front();
            }
            self.delivered.push_back(bytes.to_vec());
        }
        self.check(&actions, &Cause::Other);
    }

    /// Opens a datagram the node emitted (it can open its own form): the
    /// plain packet, or `None` for a replay control packet (a challenge is
    /// remembered for the harness to answer).
    fn open_own(&mut self, to: V4, payload: &[u8]) -> Option<Packet<V4>> {
        let mut scratch = Vec::new();
        let (inner, _) = self
            .node
            .envelope()
            .open_with_id(payload, &mut scratch)
            .unwrap_or_else(|e| panic!("the node emitted a datagram it cannot open: {e}"));
        if let Some((kind, cookie)) = replay::parse_control(inner) {
            if kind == replay::CHALLENGE {
                if self.challenges.len() == 8 {
                    self.challenges.pop_front();
                }
                self.challenges.push_back((to, cookie));
            }
            return None;
        }
        Some(
            wire::decode::<V4>(inner, &self.limits)
                .unwrap_or_else(|e| panic!("the node emitted an undecodable datagram: {e}")),
        )
    }

    /// Invariants after any call that returned `actions`.
    fn check(&mut self, actions: &[Action<V4>], cause: &Cause<'_>) {
        let max_packet = self.node.config().max_packet_size;
        if let Cause::Datagram { bytes, packet, .. } = cause {
            // One budget per datagram, whatever it triggers (issue 12).
            let total: usize = actions
                .iter()
                .map(|a| match a {
                    Action::Send { payload, .. } => payload.len(),
                    Action::Event(_) => 0,
                })
                .sum();
            assert!(
                total <= 3 * bytes.len(),
                "a {}-byte datagram ({:?}) drew {total} bytes in all",
                bytes.len(),
                packet.body
            );
        }
        for a in actions {
            match a {
                Action::Send { to, payload } => {
                    assert!(
                        payload.len() <= max_packet,
                        "a {}-byte datagram exceeds max_packet_size {max_packet}",
                        payload.len()
                    );
                    assert_ne!(*to, LOCAL, "the node sent a datagram to itself");
                    let Some(p) = self.open_own(*to, payload) else {
                        self.sent += 1;
                        self.sent_bytes += payload.len() as u64;
                        continue;
                    };
                    if let Cause::Datagram {
                        from,
                        bytes,
                        packet,
                    } = cause
                    {
                        self.check_reply(*from, bytes, packet, *to, payload, &p);
                    }
                    self.sent += 1;
                    self.sent_bytes += payload.len() as u64;
                    if self.recent.len() == 16 {
                        self.recent.pop_front();
                    }
                    self.recent.push_back((*to, p));
                }
                Action::Event(e) => {
                    assert_ne!(
                        event_member(e),
                        LOCAL,
                        "an event about the node itself: {e:?}"
                    );
                }
            }
        }

        let s = self.node.stats();
        assert_eq!(s.datagrams_sent, self.sent, "datagrams_sent");
        assert_eq!(s.bytes_sent, self.sent_bytes, "bytes_sent");
        assert_eq!(s.datagrams_received, self.received, "datagrams_received");
        assert_eq!(s.bytes_received, self.received_bytes, "bytes_received");
        for (i, (a, b)) in stats_fields(&self.prev)
            .iter()
            .zip(stats_fields(&s))
            .enumerate()
        {
            assert!(*a <= b, "stats counter {i} went down");
        }
        self.prev = s;

        let config = self.node.config().clone();
        let members: Vec<Member<V4>> = self.node.members().collect();
        assert!(members.len() <= config.max_members, "too many members");
        assert!(members.windows(2).all(|w| w[0].addr < w[1].addr));
        assert!(self.node.live_members() <= members.len());
        let mut now_known = BTreeMap::new();
        for m in &members {
            assert_ne!(m.addr, LOCAL, "the node lists itself as a member");
            assert!(
                m.meta.len() <= config.max_meta_size,
                "oversized metadata kept"
            );
            if let Some(&old) = self.incarnations.get(&m.addr) {
                assert!(
                    m.incarnation >= old,
                    "{}'s incarnation went down: {old} -> {}",
                    m.addr,
                    m.incarnation
                );
            }
            now_known.insert(m.addr, m.incarnation);
        }
        self.incarnations = now_known;

        let me = self.node.local();
        assert!(
            matches!(me.state, State::Alive | State::Left),
            "the node holds itself {:?}",
            me.state
        );
        assert!(
            me.incarnation >= self.local_inc,
            "own incarnation went down"
        );
        self.local_inc = me.incarnation;

        check_bounds(&self.node);

        let deadline = self.node.next_deadline();
        if self.node.has_left() {
            assert!(deadline.is_none(), "a node that left has timers");
        } else if me.state == State::Left {
            // Leaving: retries until acked or three periods.
            assert!(deadline.is_some(), "a leaving node has no timer");
        } else if self.started {
            let d = deadline.expect("a running node has a deadline");
            if matches!(cause, Cause::Tick) {
                // The node's own clock: the latest `now` it accepted.
                let now = self.node.epoch.expect("started") + self.node.now;
                assert!(
                    d > now,
                    "tick left a deadline at or before now (busy loop): {}",
                    timers(&self.node)
                );
            }
        }
    }

    /// Replies to a datagram go to its source and are at most 3× its size;
    /// the exceptions are a relayed probe (to the known member a ping-req
    /// named) and a relayed answer (to an earlier ping-req's sender).
    fn check_reply(
        &self,
        from: V4,
        bytes: &[u8],
        packet: &Packet<V4>,
        to: V4,
        payload: &[u8],
        out: &Packet<V4>,
    ) {
        let budget = 3 * bytes.len();
        if to == from {
            assert!(
                payload.len() <= budget,
                "a {}-byte reply ({:?}) to a {}-byte datagram ({:?})",
                payload.len(),
                out.body,
                bytes.len(),
                packet.body
            );
            return;
        }
        match (&out.body, &packet.body) {
            // Verifying a member a stranger introduced: a bare ping to it.
            (Body::Ping { .. }, _)
                if out.updates.is_empty()
                    && out.broadcasts.is_empty()
                    && introduces(packet, to) => {}
            (Body::Ping { .. }, Body::PingReq { target, .. }) if *target == to => {
                assert!(payload.len() <= budget, "relayed ping over budget");
                assert!(
                    self.node.member(&to).is_some(),
                    "relayed ping to a stranger"
                );
            }
            (Body::Ack { .. }, _) => {
                let Some(&req) = self.requesters.get(&to) else {
                    panic!("an ack to {to}, which never asked, for a datagram from {from}");
                };
                assert!(payload.len() <= 3 * req, "relayed ack over budget");
            }
            _ => panic!(
                "a datagram from {from} ({:?}) made the node send {:?} to {to}",
                packet.body, out.body
            ),
        }
    }

    // ----- input generation -----

    fn pick_recent(&self, u: &mut Unstructured<'_>) -> arbitrary::Result<Option<(V4, Packet<V4>)>> {
        if self.recent.is_empty() {
            return Ok(None);
        }
        let i = u.choose_index(self.recent.len())?;
        Ok(self.recent.get(i).cloned())
    }

    /// A well-formed answer to something the node sent, from its addressee.
    fn answer(&mut self, u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
        let Some((to, sent)) = self.pick_recent(u)? else {
            return Ok(());
        };
        let body = match sent.body {
            Body::Ping { seq } => Body::Ack { seq },
            Body::PingReq { seq, .. } => {
                if u.arbitrary()? {
                    Body::Ack { seq }
                } else {
                    Body::Nack { seq }
                }
            }
            Body::Join { seq, .. } => Body::Members {
                seq,
                flags: MEMBERS_JOIN_REPLY | if u.arbitrary()? { MEMBERS_MORE } else { 0 },
                cursor: u.int_in_range(0..=80)?,
                records: self.updates(u, 24)?,
            },
            Body::Members { seq, flags, .. } if flags & MEMBERS_SYNC_REQUEST != 0 => {
                Body::Members {
                    seq,
                    flags: MEMBERS_SYNC_REPLY,
                    cursor: 0,
                    records: self.updates(u, 24)?,
                }
            }
            _ => Body::Ping {
                seq: u.arbitrary()?,
            },
        };
        let p = Packet {
            body,
            updates: self.updates(u, 4)?,
            broadcasts: Vec::new(),
        };
        let bytes = self.wrap(u, &p)?;
        self.datagram(to, &bytes);
        Ok(())
    }

    fn addr(&self, u: &mut Unstructured<'_>) -> arbitrary::Result<V4> {
        Ok(match u.int_in_range(0u8..=11)? {
            0..=6 => peer(u.int_in_range(0..=15)?),
            7 => LOCAL,
            8 => match self.pick_recent(u)? {
                Some((to, _)) => to,
                None => peer(0),
            },
            9 => SocketAddrV4::new(Ipv4Addr::from(u.arbitrary::<u32>()?), u.arbitrary()?),
            10 => peer(u.int_in_range(16..=200)?),
            _ => {
                let n = self.incarnations.len();
                if n == 0 {
                    peer(1)
                } else {
                    let i = u.choose_index(n)?;
                    *self.incarnations.keys().nth(i).unwrap_or(&LOCAL)
                }
            }
        })
    }

    fn seq(&self, u: &mut Unstructured<'_>) -> arbitrary::Result<u32> {
        if u.arbitrary()? {
            if let Some((_, p)) = self.pick_recent(u)? {
                if let Body::Ping { seq }
                | Body::PingReq { seq, .. }
                | Body::Join { seq, .. }
                | Body::Members { seq, .. } = p.body
                {
                    return Ok(seq);
                }
            }
        }
        u.arbitrary()
    }

    fn incarnation(&self, u: &mut Unstructured<'_>, addr: V4) -> arbitrary::Result<u64> {
        let cur = if addr == LOCAL {
            self.local_inc
        } else {
            self.incarnations.get(&addr).copied().unwrap_or(0)
        };
        Ok(match u.int_in_range(0u8..=8)? {
            0 | 1 => cur,
            2 => cur.saturating_add(1),
            3 => cur.saturating_sub(1),
            4 => u.int_in_range(0..=4)?,
            5 => u64::MAX,
            6 => cur.saturating_add(MAX_INCARNATION_JUMP + u64::from(u.arbitrary::<bool>()?)),
            7 => cur.saturating_add(2),
            _ => u.arbitrary()?,
        })
    }

    /// A payload or metadata blob: empty, at the cap, just over, or any
    /// length up to the cap.
    fn blob(&self, u: &mut Unstructured<'_>, cap: usize) -> arbitrary::Result<Bytes> {
        let len = match u.int_in_range(0u8..=5)? {
            0 => 0,
            1 => cap,
            2 => cap + 1,
            _ => u.int_in_range(0..=cap.min(64))?,
        };
        let mut v = vec![0; len];
        u.fill_buffer(&mut v)?;
        Ok(Bytes::from(v))
    }

    fn update(&self, u: &mut Unstructured<'_>) -> arbitrary::Result<Update<V4>> {
        let addr = self.addr(u)?;
        let incarnation = self.incarnation(u, addr)?;
        let kind = match u.int_in_range(0u8..=3)? {
            0 => UpdateKind::Alive {
                meta: self.blob(u, self.limits.max_meta_size)?,
            },
            1 => UpdateKind::Suspect { by: self.addr(u)? },
            2 => UpdateKind::Failed { by: self.addr(u)? },
            _ => UpdateKind::Left,
        };
        Ok(Update {
            addr,
            incarnation,
            kind,
        })
    }

    fn updates(&self, u: &mut Unstructured<'_>, max: usize) -> arbitrary::Result<Vec<Update<V4>>> {
        let n = u.int_in_range(0..=max)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.update(u)?);
        }
        Ok(v)
    }

    fn packet(&self, u: &mut Unstructured<'_>) -> arbitrary::Result<Packet<V4>> {
        let body = match u.int_in_range(0u8..=7)? {
            0 => Body::Gossip,
            1 => Body::Ping { seq: self.seq(u)? },
            2 => Body::Ack { seq: self.seq(u)? },
            3 => Body::PingReq {
                seq: self.seq(u)?,
                target: self.addr(u)?,
            },
            4 => Body::Nack { seq: self.seq(u)? },
            5 => Body::Join {
                seq: self.seq(u)?,
                cursor: u.int_in_range(0..=80)?,
                pad: u.int_in_range(0..=700)?,
            },
            6 => Body::Members {
                seq: self.seq(u)?,
                flags: u.arbitrary::<u8>()? & wire::MEMBERS_ALL_FLAGS,
                cursor: u.int_in_range(0..=80)?,
                records: self.updates(u, 32)?,
            },
            _ => Body::User {
                payload: self.blob(u, self.limits.max_payload_size)?,
            },
        };
        let n = u.int_in_range(0..=3)?;
        let mut broadcasts = Vec::with_capacity(n);
        for _ in 0..n {
            broadcasts.push(Broadcast {
                origin: self.addr(u)?,
                id: u.int_in_range(0..=20)?,
                payload: self.blob(u, self.limits.max_payload_size)?,
            });
        }
        Ok(Packet {
            body,
            updates: self.updates(u, 16)?,
            broadcasts,
        })
    }
}

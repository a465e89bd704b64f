//! The edge between the network and the protocol: the address allow-list,
//! the label / authenticated-encryption envelope, replay windows and
//! challenges, source validation and reply budgets, decoding, and sealing of
//! every datagram this node emits.

use crate::allow::AllowList;
use crate::hash::{KeyedState, Map};
use crate::rng::Rng;
use crate::wire::envelope::replay::{
    self, ReplayGuard, Verdict, CHALLENGE, CONTROL, COOKIE_LEN, RESPONSE,
};
use crate::wire::envelope::{EnvelopeConfig, EnvelopeConfigError, ReplayId};
use crate::wire::{self, Broadcast, Packet, PacketBuilder};
use crate::{Action, Addr, Swim};
use bytes::Bytes;
use std::collections::VecDeque;
use std::time::Duration;

/// Most challenges outstanding at once (further sources wait their turn).
const MAX_CHALLENGES: usize = 64;
/// Most sealed datagrams held while their sender's epoch is challenged.
const MAX_PENDING: usize = 32;
/// Most held datagrams per source.
const MAX_PENDING_PER_SOURCE: usize = 4;
/// A held datagram is processed once its sender answered the challenge, if
/// the sender sealed at most this many datagrams between the two (it is
/// recent: a capture from long ago never is).
const PENDING_SPAN: u64 = 32;
/// Smallest replay table (sender epochs remembered), whatever `max_members`.
const MIN_EPOCHS: usize = 1024;
/// Recent broadcasts kept for anti-entropy (sync pages carry them).
const RECENT_BROADCASTS: usize = 16;
/// A sealed datagram held until its sender answers a challenge.
#[derive(Clone)]
struct Pending<A> {
    from: A,
    id: ReplayId,
    packet: Packet<A>,
    len: usize,
    expires: Duration,
}

/// Security state: replay windows, challenges, validated sources, the reply
/// budget of the datagram being handled.
#[derive(Clone)]
pub(crate) struct Guard<A> {
    /// This run's replay epoch (random per run: derived from the seed).
    epoch: u64,
    /// Sealed datagrams sent in this run.
    counter: u64,
    replay: ReplayGuard,
    /// Recent challenges: (source, cookie until answered, expiry). An
    /// answered one stays until it expires: one challenge per source per
    /// probe interval, however many replays arrive.
    challenges: VecDeque<(A, Option<[u8; COOKIE_LEN]>, Duration)>,
    pending: VecDeque<Pending<A>>,
    /// Datagrams released by an answered challenge, handled next.
    pub(crate) released: Vec<(Packet<A>, usize)>,
    /// Sources proven by a round trip to be at their address.
    validated: Map<A, ()>,
    validated_order: VecDeque<A>,
    validated_cap: usize,
    /// Bytes the datagram being handled may still cause to be sent
    /// (`usize::MAX` outside `handle_datagram`).
    pub(crate) budget_left: usize,
    /// The datagram being handled came from this unvalidated source: replies
    /// to it carry news without spending its resend budget.
    pub(crate) unvalidated: Option<A>,
    /// Recent application broadcasts, re-sent in sync pages (anti-entropy).
    recent_broadcasts: VecDeque<(Duration, Broadcast<A>)>,
    recent_cursor: usize,
    /// Source of the datagram being handled.
    pub(crate) source: Option<A>,
    /// A fresh sealed datagram from an unvalidated source: challenge it
    /// first, within the datagram's budget.
    challenge_first: Option<A>,
    /// New members introduced by strangers, waiting for an ack.
    pub(crate) quarantine: VecDeque<crate::admission::Quarantined<A>>,
}

impl<A: Addr> Guard<A> {
    pub(crate) fn new(seed: u64, max_members: usize, hasher: KeyedState) -> Self {
        // Its own stream: the node's PRNG draws stay as they were.
        let epoch = Rng::new(seed ^ 0x5EA1_ED0E_F0C4_0001).u64();
        let cap = max_members.max(MIN_EPOCHS);
        Guard {
            epoch,
            counter: 0,
            replay: ReplayGuard::new(cap, hasher),
            challenges: VecDeque::new(),
            pending: VecDeque::new(),
            released: Vec::new(),
            validated: Map::with_hasher(hasher),
            validated_order: VecDeque::new(),
            validated_cap: cap,
            budget_left: usize::MAX,
            unvalidated: None,
            recent_broadcasts: VecDeque::new(),
            recent_cursor: 0,
            source: None,
            challenge_first: None,
            quarantine: VecDeque::new(),
        }
    }

    /// Whether a round trip proved `addr` is where it says.
    pub(crate) fn is_validated(&self, addr: &A) -> bool {
        self.validated.contains_key(addr)
    }

    /// Records that a round trip proved `addr`; `true` if it is new.
    pub(crate) fn validate(&mut self, addr: A) -> bool {
        if self.validated.contains_key(&addr) {
            return false;
        }
        while self.validated.len() >= self.validated_cap {
            match self.validated_order.pop_front() {
                Some(old) => {
                    self.validated.remove(&old);
                }
                None => break,
            }
        }
        self.validated.insert(addr, ());
        self.validated_order.push_back(addr);
        true
    }

    /// Entries held in the bounded tables (for the fuzzers' bound checks).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn footprint(&self) -> usize {
        self.replay.len()
            + self.challenges.len()
            + self.pending.len()
            + self.validated.len()
            + self.recent_broadcasts.len()
            + self.quarantine.len()
    }
}

impl<A: Addr> Swim<A> {
    /// Sets the cluster label, keyring and plaintext-migration switches.
    /// Takes effect for the next datagram in either direction. Rotate keys
    /// by setting a config whose keyring has the new key added, then made
    /// primary, then the old one removed (see SECURITY.md).
    ///
    /// Nonces are drawn from the node's seeded PRNG: with a key, give every
    /// run of a node a fresh random seed (the runtimes do), or nonces repeat.
    pub fn set_envelope(&mut self, envelope: EnvelopeConfig) -> Result<(), EnvelopeConfigError> {
        envelope.validate()?;
        self.envelope = envelope;
        Ok(())
    }

    /// The envelope in force.
    pub fn envelope(&self) -> &EnvelopeConfig {
        &self.envelope
    }

    /// Accepts datagrams only from sources inside these networks (every
    /// message kind). An empty list accepts every source.
    pub fn set_allow_list(&mut self, allow: AllowList) {
        self.allow = allow;
    }

    /// Allow-list, envelope, replay window, decode. `None` (counted) if the
    /// datagram must be dropped (or is held until its sender answers a
    /// challenge); otherwise the packet and whether it is *trusted*: sealed,
    /// fresh, and from a source a round trip validated (its replies are not
    /// limited to the anti-amplification budget).
    pub(crate) fn open_datagram(&mut self, from: A, bytes: &[u8]) -> Option<(Packet<A>, bool)> {
        if !self.allow.is_empty() && !from.source_ip().is_some_and(|ip| self.allow.contains(ip)) {
            self.stats.not_allowed += 1;
            return None;
        }
        let mut scratch = core::mem::take(&mut self.scratch);
        let opened = match self.envelope.open_with_id(bytes, &mut scratch) {
            Ok((plain, id)) => {
                if plain.first() == Some(&CONTROL) {
                    let control = replay::parse_control(plain);
                    Err((control, id))
                } else {
                    Ok((wire::decode::<A>(plain, &self.limits), id))
                }
            }
            Err(_) => {
                self.stats.envelope_rejected += 1;
                self.scratch = scratch;
                return None;
            }
        };
        self.scratch = scratch;
        let (decoded, id) = match opened {
            Ok(x) => x,
            Err((control, id)) => {
                match (control, id) {
                    (Some((kind, cookie)), Some(id)) => self.on_control(from, id, kind, cookie),
                    _ => self.stats.decode_errors += 1,
                }
                return None;
            }
        };
        let Some(id) = id else {
            // Plain or labeled: never trusted (anyone can forge it).
            return match decoded {
                Ok(p) => Some((p, false)),
                Err(_) => {
                    self.stats.decode_errors += 1;
                    None
                }
            };
        };
        let verdict = self.guard.replay.check(id);
        let packet = match decoded {
            Ok(p) => p,
            Err(_) => {
                self.stats.decode_errors += 1;
                return None;
            }
        };
        match verdict {
            Verdict::Replayed => {
                self.stats.replays_rejected += 1;
                None
            }
            Verdict::UnknownEpoch => {
                // A restarted sender, a new one, or a capture of an earlier
                // run: hold it, and ask the source to prove itself (within
                // the datagram's budget).
                self.hold(from, id, packet, bytes.len());
                self.guard.budget_left = bytes.len().saturating_mul(crate::node::REPLY_FACTOR);
                self.challenge(from);
                self.guard.budget_left = usize::MAX;
                None
            }
            Verdict::Fresh => {
                let trusted = self.guard.is_validated(&from);
                if !trusted {
                    // Challenged first thing in the datagram's budget.
                    self.guard.challenge_first = Some(from);
                }
                Some((packet, trusted))
            }
        }
    }

    fn hold(&mut self, from: A, id: ReplayId, packet: Packet<A>, len: usize) {
        let now = self.now;
        while self.guard.pending.front().is_some_and(|p| p.expires <= now) {
            self.guard.pending.pop_front();
        }
        let mine = self.guard.pending.iter().filter(|p| p.from == from).count();
        if mine >= MAX_PENDING_PER_SOURCE || self.guard.pending.len() >= MAX_PENDING {
            self.stats.datagrams_dropped += 1;
            return;
        }
        let expires = now + self.config.probe_interval;
        self.guard.pending.push_back(Pending {
            from,
            id,
            packet,
            len,
            expires,
        });
    }

    /// Sends `to` a challenge, unless one is outstanding for it (or too many
    /// are). Only in keyed mode: a challenge must be sealed.
    fn challenge(&mut self, to: A) {
        if !self.envelope.encrypts() {
            return;
        }
        let now = self.now;
        while self.guard.challenges.front().is_some_and(|c| c.2 <= now) {
            self.guard.challenges.pop_front();
        }
        if self.guard.challenges.len() >= MAX_CHALLENGES
            || self.guard.challenges.iter().any(|c| c.0 == to)
        {
            return;
        }
        let mut cookie = [0u8; COOKIE_LEN];
        let (a, b) = (self.rng.u64(), self.rng.u64());
        for (dst, src) in cookie
            .iter_mut()
            .zip(a.to_le_bytes().into_iter().chain(b.to_le_bytes()))
        {
            *dst = src;
        }
        let expires = now + self.config.probe_interval;
        self.guard.challenges.push_back((to, Some(cookie), expires));
        self.stats.challenges_sent += 1;
        let packet = replay::control_packet(CHALLENGE, cookie);
        self.emit_datagram(to, Bytes::copy_from_slice(&packet));
    }

    fn on_control(&mut self, from: A, id: ReplayId, kind: u8, cookie: [u8; COOKIE_LEN]) {
        if kind == CHALLENGE {
            if !self.envelope.encrypts() {
                // Sending the weaker form (migration): a response could not
                // be sealed, and a control packet never goes out unsealed.
                self.stats.datagrams_dropped += 1;
                return;
            }
            // Prove we are here, now: as small as the challenge (1×).
            let packet = replay::control_packet(RESPONSE, cookie);
            self.guard.budget_left = replay::CONTROL_LEN
                .saturating_add(self.envelope.overhead())
                .saturating_mul(crate::node::REPLY_FACTOR);
            self.emit_datagram(from, Bytes::copy_from_slice(&packet));
            self.guard.budget_left = usize::MAX;
            return;
        }
        let Some(c) = self
            .guard
            .challenges
            .iter_mut()
            .find(|c| c.0 == from && c.1 == Some(cookie))
        else {
            // Not ours, expired, or answered already (a replayed response).
            self.stats.datagrams_dropped += 1;
            return;
        };
        c.1 = None;
        // A key holder at `from` answered our fresh cookie: its epoch is
        // current and at `id.counter` now.
        if self.guard.validate(from) {
            self.stats.sources_validated += 1;
        }
        let known = self.guard.replay.knows(id.epoch);
        self.guard.replay.admit(id);
        let pending = core::mem::take(&mut self.guard.pending);
        for p in pending {
            if p.from != from {
                self.guard.pending.push_back(p);
                continue;
            }
            let recent = p.id.epoch == id.epoch
                && id.counter >= p.id.counter
                && id.counter - p.id.counter <= PENDING_SPAN;
            let fresh = if known {
                self.guard.replay.check(p.id) == Verdict::Fresh
            } else {
                recent
            };
            if recent && fresh {
                self.guard.released.push((p.packet, p.len));
            } else {
                self.stats.replays_rejected += 1;
            }
        }
    }

    /// This run's replay epoch (tests build sealed datagrams with it).
    #[cfg(test)]
    pub(crate) fn guard_epoch(&self) -> u64 {
        self.guard.epoch
    }

    /// Starts the reply budget of one datagram of `len` bytes from `from`:
    /// everything it makes this node send, to anyone, totals at most 3× its
    /// size unless it is trusted.
    pub(crate) fn begin_budget(&mut self, from: A, len: usize, trusted: bool) -> usize {
        let budget = if trusted {
            usize::MAX
        } else {
            len.saturating_mul(crate::node::REPLY_FACTOR)
        };
        self.guard.budget_left = budget;
        self.guard.unvalidated = (!self.guard.is_validated(&from)).then_some(from);
        self.guard.source = Some(from);
        if let Some(to) = self.guard.challenge_first.take() {
            self.challenge(to);
        }
        budget
    }

    /// Ends the datagram's budget: sends are no longer limited.
    pub(crate) fn end_budget(&mut self) {
        self.guard.budget_left = usize::MAX;
        self.guard.unvalidated = None;
        self.guard.source = None;
    }

    /// Largest plain packet: `max_packet_size` less the envelope's overhead,
    /// and within what the datagram being handled may still cause.
    pub(crate) fn max_datagram(&self) -> usize {
        self.config
            .max_packet_size
            .min(self.guard.budget_left)
            .saturating_sub(self.envelope.overhead())
    }

    /// Wraps a plain packet in the envelope and emits it.
    pub(crate) fn emit_datagram(&mut self, to: A, plain: Bytes) {
        let len = plain.len() + self.envelope.overhead();
        let stranger = self.guard.unvalidated.is_some()
            && !self.send_budget.has_room(self.now, &self.config, 0.5);
        if stranger || !self.send_budget.take(self.now, len, &self.config) {
            self.stats.send_budget_drops += 1;
            return;
        }
        let payload = if self.envelope.overhead() == 0 {
            if plain.first() == Some(&CONTROL) {
                self.stats.datagrams_dropped += 1;
                return;
            }
            plain
        } else {
            let mut nonce = [0u8; wire::envelope::NONCE_LEN];
            if self.envelope.encrypts() {
                self.guard.counter = self.guard.counter.saturating_add(1);
                let id = ReplayId {
                    epoch: self.guard.epoch,
                    counter: self.guard.counter,
                };
                nonce = id.nonce(self.rng.u64());
            }
            let mut out = Vec::with_capacity(plain.len() + self.envelope.overhead());
            if self.envelope.seal(&plain, nonce, &mut out).is_err() {
                self.stats.datagrams_dropped += 1;
                return;
            }
            Bytes::from(out)
        };
        if payload.len() > self.guard.budget_left {
            self.stats.datagrams_dropped += 1;
            return;
        }
        self.guard.budget_left -= payload.len();
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += payload.len() as u64;
        self.out.push(Action::Send { to, payload });
    }

    /// Keeps a broadcast for anti-entropy: sync pages carry recent ones, so
    /// members that missed it (loss, a spent resend budget) still get it.
    pub(crate) fn remember_broadcast(&mut self, b: &Broadcast<A>) {
        let keep = self.config.sync_interval.unwrap_or(Duration::ZERO) * 4;
        let now = self.now;
        while self
            .guard
            .recent_broadcasts
            .front()
            .is_some_and(|(t, _)| *t + keep <= now)
            || self.guard.recent_broadcasts.len() >= RECENT_BROADCASTS
        {
            self.guard.recent_broadcasts.pop_front();
        }
        if !keep.is_zero() {
            self.guard.recent_broadcasts.push_back((now, b.clone()));
        }
    }

    /// Fills up to half of a sync page with recent broadcasts, rotating.
    pub(crate) fn push_recent_broadcasts(&mut self, b: &mut PacketBuilder<A>) {
        let n = self.guard.recent_broadcasts.len();
        if n == 0 {
            return;
        }
        let stop = b.remaining() / 2;
        let start = self.guard.recent_cursor % n;
        for i in 0..n {
            if b.remaining() <= stop {
                break;
            }
            let Some((_, bc)) = self.guard.recent_broadcasts.get((start + i) % n) else {
                continue;
            };
            if wire::broadcast_len(bc) + stop < b.remaining() {
                b.push_broadcast(bc);
            }
        }
        self.guard.recent_cursor = start + 1;
    }
}

//! Replay protection for sealed datagrams: who sent a datagram and in what order, carried in
//! the nonce (so it is authenticated and costs no extra byte), and the receiver's windows.
//!
//! # The replay id
//!
//! A sealed datagram's 24-byte nonce is `[epoch: u64 LE][counter: u64 LE][random: 8]`:
//! * `epoch` is drawn at random once per run of the sender (a restart draws a new one);
//! * `counter` counts the sender's sealed datagrams in this run, from 1;
//! * 8 random bytes keep nonces unique even if two runs shared an epoch.
//!
//! The nonce is an input of XChaCha20-Poly1305, so a changed epoch or counter fails
//! authentication exactly like a changed byte of ciphertext.
//!
//! # Windows
//!
//! The receiver keeps, per sender epoch, the highest counter accepted and a 256-bit bitmap of
//! the counters below it (`ReplayGuard`, inside the node). A counter at or below `highest - 256`, or one
//! already marked, is a replay. Epochs live in a bounded table (second-chance FIFO): the
//! memory is `capacity × ~64 bytes` whatever arrives.
//!
//! An **unknown epoch** (a sender that restarted, one never heard from, or a capture of an
//! earlier run) is not trusted: the receiver answers with a [`CHALLENGE`] carrying a random
//! cookie, sealed, to the datagram's source. Only a key holder at that address can seal the
//! [`RESPONSE`] echoing it; the response's own replay id then opens a window for the sender's
//! *current* epoch, with every counter up to the response's marked as seen. A capture from an
//! earlier run can therefore never be accepted: its epoch is never admitted again.
//!
//! # Control packets
//!
//! ```text
//! inner packet of a sealed datagram: [0xCE][kind: 1 challenge | 2 response][cookie: 16]
//! ```
//!
//! They exist only inside the sealed form (a plain or labeled datagram starting with `0xCE` is
//! an unknown envelope), and are handled by the node before decoding.

use super::NONCE_LEN;
use crate::hash::{KeyedState, Map};
use std::collections::VecDeque;

/// First byte of a control packet inside a sealed datagram.
pub const CONTROL: u8 = 0xCE;
/// Control kind: "prove you are at this address, now".
pub const CHALLENGE: u8 = 1;
/// Control kind: the answer to a challenge, echoing its cookie.
pub const RESPONSE: u8 = 2;
/// Bytes in a challenge cookie.
pub const COOKIE_LEN: usize = 16;
/// Bytes in a control packet.
pub const CONTROL_LEN: usize = 2 + COOKIE_LEN;

/// Counters below the highest accepted that a window still tells apart.
pub const WINDOW: u64 = 256;
const WORDS: usize = (WINDOW / 64) as usize;

/// Who sealed a datagram, and its place in that sender's sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReplayId {
    /// Random per run of the sender.
    pub epoch: u64,
    /// Sealed datagrams the sender sent in this run, this one included.
    pub counter: u64,
}

impl ReplayId {
    /// The nonce carrying this id, with `random` as its last 8 bytes.
    pub fn nonce(self, random: u64) -> [u8; NONCE_LEN] {
        let mut n = [0u8; NONCE_LEN];
        let parts = self
            .epoch
            .to_le_bytes()
            .into_iter()
            .chain(self.counter.to_le_bytes())
            .chain(random.to_le_bytes());
        for (dst, src) in n.iter_mut().zip(parts) {
            *dst = src;
        }
        n
    }

    /// The id a nonce carries.
    pub fn from_nonce(nonce: &[u8; NONCE_LEN]) -> ReplayId {
        let (epoch, rest) = nonce.split_first_chunk::<8>().unwrap_or((&[0; 8], &[]));
        let (counter, _) = rest.split_first_chunk::<8>().unwrap_or((&[0; 8], &[]));
        ReplayId {
            epoch: u64::from_le_bytes(*epoch),
            counter: u64::from_le_bytes(*counter),
        }
    }
}

/// A control packet: `[CONTROL][kind][cookie]`.
pub fn control_packet(kind: u8, cookie: [u8; COOKIE_LEN]) -> [u8; CONTROL_LEN] {
    let mut p = [0u8; CONTROL_LEN];
    for (dst, src) in p.iter_mut().zip([CONTROL, kind].into_iter().chain(cookie)) {
        *dst = src;
    }
    p
}

/// Parses a control packet; `None` if `inner` is not exactly one.
pub fn parse_control(inner: &[u8]) -> Option<(u8, [u8; COOKIE_LEN])> {
    let (&[c, kind], cookie) = inner.split_first_chunk::<2>()?;
    if c != CONTROL || !(kind == CHALLENGE || kind == RESPONSE) {
        return None;
    }
    let cookie: [u8; COOKIE_LEN] = cookie.try_into().ok()?;
    Some((kind, cookie))
}

/// What [`ReplayGuard::check`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A known epoch, a counter not seen before: accepted and now marked.
    Fresh,
    /// A known epoch, a counter already seen or too old: drop.
    Replayed,
    /// An epoch not in the table: challenge its source before trusting it.
    UnknownEpoch,
}

#[derive(Clone)]
struct Window {
    highest: u64,
    /// Bit `i` of the whole set: counter `highest - i` was seen (`i < WINDOW`).
    seen: [u64; WORDS],
    /// Used since its last second chance.
    used: bool,
}

impl Window {
    fn bit(&self, back: u64) -> bool {
        let (w, b) = ((back / 64) as usize, back % 64);
        self.seen.get(w).is_some_and(|word| word >> b & 1 == 1)
    }

    fn set(&mut self, back: u64) {
        let (w, b) = ((back / 64) as usize, back % 64);
        if let Some(word) = self.seen.get_mut(w) {
            *word |= 1 << b;
        }
    }

    /// Moves `highest` up by `by`: every bit goes `by` places further back.
    fn advance(&mut self, by: u64) {
        if by >= WINDOW {
            self.seen = [0; WORDS];
            return;
        }
        let (words, bits) = ((by / 64) as usize, by % 64);
        let mut out = [0u64; WORDS];
        for (i, dst) in out.iter_mut().enumerate() {
            let Some(src) = i.checked_sub(words) else {
                continue;
            };
            let lo = self.seen.get(src).copied().unwrap_or(0);
            let carry = src
                .checked_sub(1)
                .and_then(|j| self.seen.get(j))
                .copied()
                .unwrap_or(0);
            *dst = if bits == 0 {
                lo
            } else {
                (lo << bits) | (carry >> 64u64.saturating_sub(bits))
            };
        }
        self.seen = out;
    }

    fn check(&mut self, counter: u64) -> Verdict {
        self.used = true;
        if counter > self.highest {
            self.advance(counter.saturating_sub(self.highest));
            self.highest = counter;
            self.set(0);
            return Verdict::Fresh;
        }
        let back = self.highest.saturating_sub(counter);
        if back >= WINDOW || self.bit(back) {
            return Verdict::Replayed;
        }
        self.set(back);
        Verdict::Fresh
    }
}

/// Replay windows of the sender epochs this node trusts, at most `capacity` of them.
#[derive(Clone)]
pub(crate) struct ReplayGuard {
    windows: Map<u64, Window>,
    order: VecDeque<u64>,
    capacity: usize,
    /// Windows dropped to make room (their senders are challenged again).
    pub(crate) evictions: u64,
}

impl ReplayGuard {
    pub(crate) fn new(capacity: usize, hasher: KeyedState) -> Self {
        ReplayGuard {
            windows: Map::with_hasher(hasher),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            evictions: 0,
        }
    }

    /// Checks `id` against its epoch's window, and marks it if fresh.
    pub(crate) fn check(&mut self, id: ReplayId) -> Verdict {
        match self.windows.get_mut(&id.epoch) {
            Some(w) => w.check(id.counter),
            None => Verdict::UnknownEpoch,
        }
    }

    /// Whether `epoch` has a window.
    pub(crate) fn knows(&self, epoch: u64) -> bool {
        self.windows.contains_key(&epoch)
    }

    /// Trusts `id.epoch` from now on: counters up to `id.counter` count as seen (the
    /// response to a challenge proved the sender is at `id.counter` now). An epoch already
    /// known keeps its window.
    pub(crate) fn admit(&mut self, id: ReplayId) {
        if self.knows(id.epoch) {
            let _ = self.check(id);
            return;
        }
        while self.windows.len() >= self.capacity {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            match self.windows.get_mut(&old) {
                Some(w) if w.used => {
                    w.used = false;
                    self.order.push_back(old);
                }
                Some(_) => {
                    self.windows.remove(&old);
                    self.evictions = self.evictions.saturating_add(1);
                }
                None => {}
            }
        }
        self.windows.insert(
            id.epoch,
            Window {
                highest: id.counter,
                seen: [u64::MAX; WORDS],
                used: false,
            },
        );
        self.order.push_back(id.epoch);
    }

    /// Epochs held.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn len(&self) -> usize {
        self.windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(cap: usize) -> ReplayGuard {
        ReplayGuard::new(cap, KeyedState::new(1, 2))
    }

    fn id(epoch: u64, counter: u64) -> ReplayId {
        ReplayId { epoch, counter }
    }

    #[test]
    fn nonce_round_trip() {
        let i = id(0x0102_0304_0506_0708, 42);
        let n = i.nonce(7);
        assert_eq!(ReplayId::from_nonce(&n), i);
        assert_eq!(&n[16..], &7u64.to_le_bytes());
    }

    #[test]
    fn control_round_trip_and_rejects() {
        let p = control_packet(CHALLENGE, [9; COOKIE_LEN]);
        assert_eq!(parse_control(&p), Some((CHALLENGE, [9; COOKIE_LEN])));
        assert_eq!(parse_control(&p[..CONTROL_LEN - 1]), None);
        let mut bad = p;
        bad[1] = 3;
        assert_eq!(parse_control(&bad), None);
        assert_eq!(parse_control(&[0xB1; CONTROL_LEN]), None);
    }

    #[test]
    fn window_accepts_each_counter_once_in_any_order() {
        let mut g = guard(4);
        assert_eq!(g.check(id(1, 5)), Verdict::UnknownEpoch);
        g.admit(id(1, 10));
        for c in [0, 5, 10] {
            assert_eq!(g.check(id(1, c)), Verdict::Replayed, "{c} <= admitted");
        }
        for c in [11, 13, 12, 300, 299, 100] {
            assert_eq!(g.check(id(1, c)), Verdict::Fresh, "{c}");
            assert_eq!(g.check(id(1, c)), Verdict::Replayed, "{c} again");
        }
        // 300 - 256 = 44: everything at or below is too old.
        assert_eq!(g.check(id(1, 44)), Verdict::Replayed);
        assert_eq!(g.check(id(1, 45)), Verdict::Fresh);
        // A jump of more than the window forgets the bitmap but not the floor.
        assert_eq!(g.check(id(1, 10_000)), Verdict::Fresh);
        assert_eq!(g.check(id(1, 301)), Verdict::Replayed);
        assert_eq!(g.check(id(1, 9_999)), Verdict::Fresh);
        assert_eq!(g.check(id(1, 9_999)), Verdict::Replayed);
    }

    #[test]
    fn shifts_across_word_boundaries_keep_bits() {
        let mut g = guard(1);
        g.admit(id(7, 1000));
        for c in 1001..=1200 {
            if c % 3 == 0 {
                assert_eq!(g.check(id(7, c)), Verdict::Fresh);
            }
        }
        for by in [1u64, 63, 64, 65, 130] {
            let top = 1200 + by;
            assert_eq!(g.check(id(7, top)), Verdict::Fresh);
            for c in (top - WINDOW + 1)..=1200 {
                let want = if c % 3 == 0 || c <= 1000 {
                    Verdict::Replayed
                } else {
                    Verdict::Fresh
                };
                let mut probe = g.clone();
                assert_eq!(probe.check(id(7, c)), want, "by {by}, counter {c}");
            }
        }
    }

    #[test]
    fn table_is_bounded_and_keeps_used_epochs() {
        let mut g = guard(3);
        for e in 1..=3 {
            g.admit(id(e, 1));
        }
        assert_eq!(g.check(id(1, 2)), Verdict::Fresh); // 1 used: second chance
        g.admit(id(4, 1));
        assert_eq!(g.len(), 3);
        assert!(g.knows(1) && !g.knows(2) && g.knows(3) && g.knows(4));
        for e in 5..1000 {
            g.admit(id(e, 1));
        }
        assert_eq!(g.len(), 3);
        assert_eq!(g.evictions, 996);
    }
}

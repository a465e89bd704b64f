//! Suspicion timers with Lifeguard's dynamic timeout, and who may turn a
//! suspicion into a Failed verdict.
//!
//! A suspicion starts at `max` and shrinks toward `min` as independent
//! members confirm it: `timeout(c) = max(min, max − (max − min) ·
//! ln(c + 1) / ln(k + 1))` after `c` confirmations, `k` expected.
//!
//! **Witnesses decide.** That timeout applies at *witnesses*: nodes whose
//! own probe of the suspect failed (the suspicion's originator and its
//! confirmers). A node that only heard of the suspicion waits for their
//! verdict for twice the minimum, then probes the suspect itself ([`Due::Verify`]):
//! if that probe fails it is a witness too. Every node held a timer of its
//! own before, so the one node in a hundred that missed a refutation under
//! loss declared a live member Failed for the whole cluster; now only the
//! few nodes that talked to the suspect can, and they are the ones its
//! refutation reaches first (in its acks and straight replies). A crash is
//! still reported at `min` by the witnesses, and spreads from them.

use crate::hash::{KeyedState, Map};
use core::hash::Hash;
use std::collections::BTreeSet;
use std::time::Duration;

/// Virtual time since the node's epoch.
type Instant = Duration;

#[derive(Clone)]
struct Suspicion<A> {
    incarnation: u64,
    start: Instant,
    min: Duration,
    max: Duration,
    k: u32,
    /// Distinct members that suspect it (the first included).
    /// Inline (no second allocation to miss in cache): k + 1 ≤ 8 with the
    /// presets.
    confirmers: smallvec::SmallVec<[A; 8]>,
    deadline: Instant,
    /// The last-chance probe was sent (see [`Due::Check`]).
    checked: bool,
    /// When the suspect last showed it runs (any datagram from it) since
    /// the suspicion began: evidence of life holds the expiry off.
    heard: Option<Instant>,
    /// This node's own probe of the suspect failed.
    witnessed: bool,
    /// A passive holder's own probe was requested ([`Due::Verify`]).
    verifying: bool,
}

impl<A> Suspicion<A> {
    /// The expiry: Lifeguard's dynamic timeout at a witness; elsewhere
    /// twice the minimum (the witnesses' verdict comes at about the
    /// minimum; the rest is for it to spread), then a probe of our own.
    fn expiry(&self) -> Instant {
        if self.witnessed {
            self.start + self.timeout()
        } else {
            self.start + (self.min * 2).min(self.max)
        }
    }

    fn timeout(&self) -> Duration {
        let c = self.confirmers.len().saturating_sub(1) as f64;
        if self.k == 0 {
            return self.min;
        }
        let frac = ((c + 1.0).ln() / (f64::from(self.k) + 1.0).ln()).min(1.0);
        let span = self.max.saturating_sub(self.min).as_secs_f64();
        let t = self.max.as_secs_f64() - span * frac;
        Duration::from_secs_f64(t.max(self.min.as_secs_f64()))
    }
}

/// Every running suspicion, with an ordered deadline index.
#[derive(Clone)]
pub(crate) struct Suspicions<A> {
    /// Lookup only (never iterated): a hash map, one cache miss per
    /// confirmation at scale instead of a B-tree walk.
    by_member: Map<A, Suspicion<A>>,
    deadlines: BTreeSet<(Instant, A)>,
    /// This node: a suspicion or confirmation by it makes it a witness.
    local: A,
}

/// Parameters of a new suspicion.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub(crate) min: Duration,
    pub(crate) max: Duration,
    pub(crate) k: u32,
}

impl<A: Ord + Copy + Hash> Suspicions<A> {
    pub(crate) fn new(hasher: KeyedState, local: A) -> Self {
        Suspicions {
            by_member: Map::with_hasher(hasher),
            deadlines: BTreeSet::new(),
            local,
        }
    }

    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn len(&self) -> usize {
        self.by_member.len()
    }

    /// Starts (or restarts, for a new incarnation) a suspicion of `member`.
    pub(crate) fn start(&mut self, now: Instant, member: A, incarnation: u64, by: A, t: Timeouts) {
        self.remove(&member);
        let mut s = Suspicion {
            incarnation,
            start: now,
            min: t.min,
            max: t.max.max(t.min),
            k: t.k,
            confirmers: smallvec::smallvec![by],
            deadline: now,
            checked: false,
            heard: None,
            witnessed: by == self.local,
            verifying: false,
        };
        s.deadline = s.expiry();
        self.deadlines.insert((s.deadline, member));
        self.by_member.insert(member, s);
    }

    /// Records that `by` independently suspects `member` at `incarnation`.
    /// Returns `true` if it is a new confirmation (worth re-gossiping).
    pub(crate) fn confirm(&mut self, now: Instant, member: &A, incarnation: u64, by: A) -> bool {
        let local = self.local;
        let Some(s) = self.by_member.get_mut(member) else {
            return false;
        };
        if s.incarnation != incarnation {
            return false;
        }
        if by == local && !s.witnessed {
            // Our own probe failed just now: we are a witness from now on,
            // and our timeout counts from our own observation (one that
            // came late, after `max`, must not find its expiry long past).
            s.witnessed = true;
            s.start = now;
            s.verifying = false;
            s.checked = false;
        }
        let new = !s.confirmers.contains(&by) && s.confirmers.len() <= s.k as usize;
        if new {
            s.confirmers.push(by);
        }
        Self::reschedule(&mut self.deadlines, *member, s);
        new
    }

    /// The members known to suspect `member` (this node included if it
    /// does): the witnesses a confirmation must reach.
    pub(crate) fn witnesses(&self, member: &A) -> smallvec::SmallVec<[A; 8]> {
        self.by_member
            .get(member)
            .map(|s| s.confirmers.clone())
            .unwrap_or_default()
    }

    /// Moves a suspicion's deadline to its (new) expiry, unless a hold or
    /// a check already set it later.
    fn reschedule(deadlines: &mut BTreeSet<(Instant, A)>, member: A, s: &mut Suspicion<A>) {
        if s.checked || s.verifying {
            return;
        }
        let deadline = s.expiry();
        if deadline != s.deadline {
            deadlines.remove(&(s.deadline, member));
            s.deadline = deadline;
            deadlines.insert((deadline, member));
        }
    }

    pub(crate) fn remove(&mut self, member: &A) {
        if let Some(s) = self.by_member.remove(member) {
            self.deadlines.remove(&(s.deadline, *member));
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// The suspect sent us something (a late ack, a ping, gossip): it
    /// runs. Returns `true` if a suspicion of it is open.
    pub(crate) fn heard_from(&mut self, member: &A, now: Instant) -> bool {
        match self.by_member.get_mut(member) {
            Some(s) => {
                s.heard = Some(now);
                true
            }
            None => false,
        }
    }

    /// The first suspicion due at `now`, and what it asks for:
    ///
    /// 1. *Evidence of life*: if the suspect was heard from since the
    ///    suspicion began, it is running and will refute once it handles the
    ///    suspicion; the expiry moves to `hold` after the last datagram from
    ///    it, never past the suspicion's maximum timeout (a member that
    ///    talks but never refutes is failed then), reported as
    ///    [`Due::Check`] (the caller reminds it of the suspicion).
    /// 2. *No witness*: a node whose own probe did not fail asks for one
    ///    ([`Due::Verify`]) and waits `verify` for it.
    /// 3. *Last chance*: once, the expiry moves `grace` later and the caller
    ///    pings the suspect carrying the suspicion ([`Due::Check`]); a live
    ///    suspect's ack carries its refutation.
    /// 4. Otherwise the suspicion is removed: [`Due::Expired`].
    ///
    /// A crashed member sends nothing: only the `grace` of step 3 delays
    /// its detection at the witnesses.
    pub(crate) fn pop_due(&mut self, now: Instant, w: Waits) -> Option<Due<A>> {
        let &(t, member) = self.deadlines.first()?;
        if t > now {
            return None;
        }
        self.deadlines.remove(&(t, member));
        let s = self.by_member.get_mut(&member)?;
        let held = s
            .heard
            .map(|h| (h + w.hold).min(s.start + s.max))
            .filter(|&until| until > now);
        let (due, until) = if let Some(until) = held {
            (Due::Check(member, s.incarnation), until)
        } else if !s.witnessed && !s.verifying && !w.verify.is_zero() {
            // A new observation window: evidence of life during our own
            // probe holds the suspicion as at a witness.
            s.verifying = true;
            s.start = now;
            (Due::Verify(member, s.incarnation), now + w.verify)
        } else if !s.checked && !w.grace.is_zero() {
            s.checked = true;
            (Due::Check(member, s.incarnation), now + w.grace)
        } else {
            let s = self.by_member.remove(&member)?;
            return Some(Due::Expired(member, s.incarnation));
        };
        s.deadline = until;
        self.deadlines.insert((until, member));
        Some(due)
    }
}

/// How long each step of [`Suspicions::pop_due`] waits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Waits {
    /// Last-chance probe (zero: none).
    pub(crate) grace: Duration,
    /// Evidence of life holds the expiry this long after the suspect's
    /// last datagram (zero: no hold).
    pub(crate) hold: Duration,
    /// A passive holder's own probe gets this long (zero: passive holders
    /// expire at `max` like witnesses).
    pub(crate) verify: Duration,
}

/// What a due suspicion asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due<A> {
    /// Probe the suspect once more (member, incarnation).
    Check(A, u64),
    /// Probe the suspect in the normal way (direct, then indirect), so this
    /// node can witness (member, incarnation).
    Verify(A, u64),
    /// Declare it failed (member, incarnation).
    Expired(A, u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        min: Duration::from_secs(2),
        max: Duration::from_secs(6),
        k: 3,
    };
    const ME: u32 = 100;

    fn waits(grace: u64, hold: u64, verify: u64) -> Waits {
        Waits {
            grace: Duration::from_millis(grace),
            hold: Duration::from_millis(hold),
            verify: Duration::from_millis(verify),
        }
    }

    #[test]
    fn starts_at_max_and_shrinks_to_min_at_a_witness() {
        let now = Duration::from_secs(100);
        let mut s = Suspicions::new(KeyedState::new(1, 2), ME);
        s.start(now, 1u32, 0, ME, T);
        assert_eq!(s.next_deadline(), Some(now + T.max));
        assert!(s.confirm(now, &1, 0, 101));
        assert!(!s.confirm(now, &1, 0, 101), "same confirmer counts once");
        assert!(
            !s.confirm(now, &1, 1, 102),
            "other incarnation does not count"
        );
        let d1 = s.next_deadline().unwrap() - now;
        assert!(d1 < T.max && d1 > T.min, "{d1:?}");
        assert!(s.confirm(now, &1, 0, 102));
        assert!(s.confirm(now, &1, 0, 103));
        assert_eq!(s.next_deadline(), Some(now + T.min));
        assert!(!s.confirm(now, &1, 0, 104), "beyond k nothing changes");
    }

    #[test]
    fn a_passive_holder_waits_twice_the_minimum_then_verifies() {
        let now = Duration::from_secs(100);
        let wait = T.min * 2;
        let mut s = Suspicions::new(KeyedState::new(1, 2), ME);
        s.start(now, 1u32, 0, 7, T);
        for by in 101..104 {
            s.confirm(now, &1, 0, by);
        }
        assert_eq!(
            s.next_deadline(),
            Some(now + wait),
            "confirmations do not hurry it"
        );
        let w = waits(400, 0, 1500);
        assert_eq!(s.pop_due(now + wait, w), Some(Due::Verify(1, 0)));
        // Its own probe failed a second later: a witness whose timeout
        // counts from then (fully confirmed: the minimum), then the last
        // chance.
        let seen = now + wait + Duration::from_millis(1000);
        s.confirm(seen, &1, 0, ME);
        assert_eq!(s.next_deadline(), Some(seen + T.min));
        let t = seen + T.min;
        assert_eq!(s.pop_due(t, w), Some(Due::Check(1, 0)));
        assert_eq!(
            s.pop_due(t + Duration::from_millis(400), w),
            Some(Due::Expired(1, 0))
        );
    }

    #[test]
    fn a_verification_the_suspect_answers_holds_the_suspicion() {
        let now = Duration::from_secs(100);
        let wait = T.min * 2;
        let mut s = Suspicions::new(KeyedState::new(1, 2), ME);
        s.start(now, 1u32, 0, 7, T);
        let w = waits(400, 2000, 1500);
        assert_eq!(s.pop_due(now + wait, w), Some(Due::Verify(1, 0)));
        // Our own probe got an ack (no refutation in it): held, reminded.
        let acked = now + wait + Duration::from_millis(300);
        s.heard_from(&1, acked);
        let t = now + wait + Duration::from_millis(1500);
        assert_eq!(s.pop_due(t, w), Some(Due::Check(1, 0)));
        assert_eq!(s.next_deadline(), Some(acked + w.hold));
    }

    #[test]
    fn becoming_a_witness_brings_the_expiry_forward() {
        let now = Duration::from_secs(100);
        let mut s = Suspicions::new(KeyedState::new(1, 2), ME);
        s.start(now, 1u32, 0, 7, T);
        for by in 101..104 {
            s.confirm(now, &1, 0, by);
        }
        s.confirm(now, &1, 0, ME);
        assert_eq!(s.next_deadline(), Some(now + T.min));
    }

    #[test]
    fn unconfirmed_suspicion_gets_one_last_check() {
        let now = Duration::from_secs(100);
        let w = waits(400, 0, 0);
        let g = w.grace;
        let mut s = Suspicions::new(KeyedState::new(1, 2), ME);
        s.start(now, 1u32, 3, ME, T);
        s.start(now, 2u32, 3, ME, T);
        for by in 101..104 {
            s.confirm(now, &2, 3, by);
        }
        // Fully confirmed: a check at min, expiry one grace later.
        assert_eq!(s.pop_due(now + T.min, w), Some(Due::Check(2, 3)));
        assert_eq!(s.pop_due(now + T.min + g, w), Some(Due::Expired(2, 3)));
        // Unconfirmed: a check at max, expiry one grace later.
        assert_eq!(s.pop_due(now + T.max, w), Some(Due::Check(1, 3)));
        assert_eq!(s.pop_due(now + T.max, w), None);
        assert_eq!(s.pop_due(now + T.max + g, w), Some(Due::Expired(1, 3)));
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn evidence_of_life_holds_the_expiry_until_max() {
        let now = Duration::from_secs(100);
        let w = waits(0, 2000, 0);
        let mut s = Suspicions::new(KeyedState::new(1, 2), ME);
        s.start(now, 1u32, 3, ME, Timeouts { k: 0, ..T });
        assert!(s.heard_from(&1, now + Duration::from_millis(1500)));
        assert!(!s.heard_from(&2, now), "no suspicion of 2");
        // Due at min, but heard 0.5 s before: held until 2 s after that.
        assert_eq!(s.pop_due(now + T.min, w), Some(Due::Check(1, 3)));
        assert_eq!(s.next_deadline(), Some(now + Duration::from_millis(3500)));
        // It keeps talking but never refutes: failed at max all the same.
        s.heard_from(&1, now + Duration::from_millis(5000));
        assert_eq!(
            s.pop_due(now + Duration::from_millis(3500), w),
            Some(Due::Check(1, 3))
        );
        assert_eq!(s.next_deadline(), Some(now + T.max));
        assert_eq!(s.pop_due(now + T.max, w), Some(Due::Expired(1, 3)));
    }

    #[test]
    fn pops_in_deadline_order() {
        let now = Duration::from_secs(100);
        let mut s = Suspicions::new(KeyedState::new(1, 2), ME);
        s.start(now, 1u32, 5, ME, T);
        s.start(
            now + Duration::from_secs(1),
            2u32,
            7,
            ME,
            Timeouts { k: 0, ..T },
        );
        let w = waits(0, 0, 0);
        assert_eq!(s.pop_due(now + Duration::from_secs(2), w), None);
        assert_eq!(
            s.pop_due(now + Duration::from_secs(3), w),
            Some(Due::Expired(2, 7))
        );
        assert_eq!(
            s.pop_due(now + Duration::from_secs(6), w),
            Some(Due::Expired(1, 5))
        );
        assert_eq!(s.len(), 0);
    }
}

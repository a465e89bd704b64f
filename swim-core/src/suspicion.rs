//! Suspicion timers with Lifeguard's dynamic timeout.
//!
//! A suspicion starts at `max` and shrinks toward `min` as independent
//! members confirm it: `timeout(c) = max(min, max − (max − min) ·
//! ln(c + 1) / ln(k + 1))` after `c` confirmations, `k` expected.

use std::collections::{BTreeMap, BTreeSet};
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
    confirmers: Vec<A>,
    deadline: Instant,
    /// The last-chance probe was sent (see [`Due::Check`]).
    checked: bool,
}

impl<A> Suspicion<A> {
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
    by_member: BTreeMap<A, Suspicion<A>>,
    deadlines: BTreeSet<(Instant, A)>,
}

/// Parameters of a new suspicion.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub(crate) min: Duration,
    pub(crate) max: Duration,
    pub(crate) k: u32,
}

impl<A: Ord + Copy> Suspicions<A> {
    pub(crate) fn new() -> Self {
        Suspicions {
            by_member: BTreeMap::new(),
            deadlines: BTreeSet::new(),
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
            confirmers: vec![by],
            deadline: now,
            checked: false,
        };
        s.deadline = now + s.timeout();
        self.deadlines.insert((s.deadline, member));
        self.by_member.insert(member, s);
    }

    /// Records that `by` independently suspects `member` at `incarnation`.
    /// Returns `true` if it is a new confirmation (worth re-gossiping).
    pub(crate) fn confirm(&mut self, member: &A, incarnation: u64, by: A) -> bool {
        let Some(s) = self.by_member.get_mut(member) else {
            return false;
        };
        if s.incarnation != incarnation || s.confirmers.contains(&by) {
            return false;
        }
        if s.confirmers.len() > s.k as usize {
            return false;
        }
        s.confirmers.push(by);
        let deadline = s.start + s.timeout();
        if deadline != s.deadline {
            self.deadlines.remove(&(s.deadline, *member));
            s.deadline = deadline;
            self.deadlines.insert((deadline, *member));
        }
        true
    }

    pub(crate) fn remove(&mut self, member: &A) {
        if let Some(s) = self.by_member.remove(member) {
            self.deadlines.remove(&(s.deadline, *member));
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// The first suspicion due at `now`. One that timed out without its `k`
    /// confirmations first gets a last chance: it is extended by `grace`
    /// and reported as [`Due::Check`] (the caller pings the suspect, whose
    /// ack carries its refutation if it is alive); when due again, or when
    /// it had all its confirmations, it is removed and reported as
    /// [`Due::Expired`].
    pub(crate) fn pop_due(&mut self, now: Instant, grace: Duration) -> Option<Due<A>> {
        let &(t, member) = self.deadlines.first()?;
        if t > now {
            return None;
        }
        self.deadlines.remove(&(t, member));
        let s = self.by_member.get_mut(&member)?;
        let confirmed = s.k == 0 || s.confirmers.len() > s.k as usize;
        if !s.checked && !confirmed && !grace.is_zero() {
            s.checked = true;
            s.deadline = now + grace;
            self.deadlines.insert((s.deadline, member));
            return Some(Due::Check(member, s.incarnation));
        }
        let s = self.by_member.remove(&member)?;
        Some(Due::Expired(member, s.incarnation))
    }
}

/// What a due suspicion asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due<A> {
    /// Probe the suspect once more (member, incarnation).
    Check(A, u64),
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

    #[test]
    fn starts_at_max_and_shrinks_to_min() {
        let now = Duration::from_secs(100);
        let mut s = Suspicions::new();
        s.start(now, 1u32, 0, 100, T);
        assert_eq!(s.next_deadline(), Some(now + T.max));
        assert!(s.confirm(&1, 0, 101));
        assert!(!s.confirm(&1, 0, 101), "same confirmer counts once");
        assert!(!s.confirm(&1, 1, 102), "other incarnation does not count");
        let d1 = s.next_deadline().unwrap() - now;
        assert!(d1 < T.max && d1 > T.min, "{d1:?}");
        assert!(s.confirm(&1, 0, 102));
        assert!(s.confirm(&1, 0, 103));
        assert_eq!(s.next_deadline(), Some(now + T.min));
        assert!(!s.confirm(&1, 0, 104), "beyond k nothing changes");
    }

    #[test]
    fn unconfirmed_suspicion_gets_one_last_check() {
        let now = Duration::from_secs(100);
        let g = Duration::from_millis(400);
        let mut s = Suspicions::new();
        s.start(now, 1u32, 3, 100, T);
        s.start(now, 2u32, 3, 100, T);
        for by in 101..104 {
            s.confirm(&2, 3, by);
        }
        // Fully confirmed: expires at min without a check.
        assert_eq!(s.pop_due(now + T.min, g), Some(Due::Expired(2, 3)));
        // Unconfirmed: a check at max, expiry one grace later.
        assert_eq!(s.pop_due(now + T.max, g), Some(Due::Check(1, 3)));
        assert_eq!(s.pop_due(now + T.max, g), None);
        assert_eq!(s.pop_due(now + T.max + g, g), Some(Due::Expired(1, 3)));
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn pops_in_deadline_order() {
        let now = Duration::from_secs(100);
        let mut s = Suspicions::new();
        s.start(now, 1u32, 5, 100, T);
        s.start(
            now + Duration::from_secs(1),
            2u32,
            7,
            100,
            Timeouts { k: 0, ..T },
        );
        let g = Duration::ZERO;
        assert_eq!(s.pop_due(now + Duration::from_secs(2), g), None);
        assert_eq!(
            s.pop_due(now + Duration::from_secs(3), g),
            Some(Due::Expired(2, 7))
        );
        assert_eq!(
            s.pop_due(now + Duration::from_secs(6), g),
            Some(Due::Expired(1, 5))
        );
        assert_eq!(s.len(), 0);
    }
}

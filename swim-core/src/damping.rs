//! Flap damping: a member that was declared Failed and then proved alive
//! gets longer suspicion timeouts for a while.
//!
//! Every wrong Failed verdict about a member (it refuted, or came back at a
//! newer incarnation) adds one to its penalty; the penalty halves every
//! `half_life`. A suspicion of the member starts with its timeouts scaled by
//! `1 + penalty` (at most `1 + MAX_PENALTY`). A member that is slow for a
//! reason that lasts (an overloaded host, a long GC) is therefore declared
//! Failed at most once in a while instead of every few seconds, while a
//! member that never flapped is detected as fast as ever: a crash is not a
//! flap, and the first crash after a long quiet time costs nothing extra.
//!
//! Memory is bounded: at most `MAX_ENTRIES` members are remembered; when
//! full, the entry with the smallest remaining penalty makes room.

use std::time::Duration;

/// Virtual time since the node's epoch.
type Time = Duration;

/// Most members remembered.
const MAX_ENTRIES: usize = 256;
/// Largest penalty (timeouts scaled by at most 1 + this).
const MAX_PENALTY: f64 = 3.0;

#[derive(Clone, Debug)]
pub(crate) struct Damping<A> {
    entries: Vec<(A, f64, Time)>,
    half_life: Duration,
}

impl<A: Copy + PartialEq> Damping<A> {
    pub(crate) fn new(half_life: Duration) -> Self {
        Damping {
            entries: Vec::new(),
            half_life,
        }
    }

    fn decayed(&self, penalty: f64, since: Time, now: Time) -> f64 {
        if self.half_life.is_zero() {
            return 0.0;
        }
        let halves = now.saturating_sub(since).as_secs_f64() / self.half_life.as_secs_f64();
        penalty * 0.5f64.powf(halves)
    }

    /// The timeout scale for a new suspicion of `member` (1 = no damping).
    pub(crate) fn factor(&self, member: &A, now: Time) -> f64 {
        self.entries
            .iter()
            .find(|e| e.0 == *member)
            .map_or(1.0, |e| 1.0 + self.decayed(e.1, e.2, now))
    }

    /// `member` was declared Failed and has proved alive since.
    pub(crate) fn flapped(&mut self, member: A, now: Time) {
        if let Some(i) = self.entries.iter().position(|e| e.0 == member) {
            let p = self.decayed(self.entries[i].1, self.entries[i].2, now);
            self.entries[i] = (member, (p + 1.0).min(MAX_PENALTY), now);
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            let weakest = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| (i, self.decayed(e.1, e.2, now)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(i, _)| i);
            if let Some(i) = weakest {
                self.entries.swap_remove(i);
            }
        }
        self.entries.push((member, 1.0, now));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalty_grows_per_flap_and_halves_per_half_life() {
        let hl = Duration::from_secs(60);
        let mut d = Damping::new(hl);
        let t0 = Duration::from_secs(10);
        assert_eq!(d.factor(&1u32, t0), 1.0);
        d.flapped(1, t0);
        assert!((d.factor(&1, t0) - 2.0).abs() < 1e-9);
        assert!((d.factor(&1, t0 + hl) - 1.5).abs() < 1e-9);
        d.flapped(1, t0 + hl);
        assert!((d.factor(&1, t0 + hl) - 2.5).abs() < 1e-9);
        for _ in 0..10 {
            d.flapped(1, t0 + hl);
        }
        assert!((d.factor(&1, t0 + hl) - (1.0 + MAX_PENALTY)).abs() < 1e-9);
        assert_eq!(d.factor(&2, t0), 1.0, "others are not damped");
    }

    #[test]
    fn bounded_and_evicts_the_weakest() {
        let mut d = Damping::new(Duration::from_secs(60));
        let t = Duration::from_secs(1000);
        d.flapped(0u32, Duration::ZERO); // long decayed by t
        for m in 1..MAX_ENTRIES as u32 {
            d.flapped(m, t);
        }
        assert_eq!(d.len(), MAX_ENTRIES);
        d.flapped(9999, t);
        assert_eq!(d.len(), MAX_ENTRIES);
        assert_eq!(d.factor(&0, t), 1.0, "the decayed entry made room");
        assert!(d.factor(&9999, t) > 1.5);
    }
}

//! Every node's view, tracked from its events in O(1) per event: one bit per
//! (observer, member) for "holds it live" (Alive or Suspect), one for "has
//! reported it Failed or Left", live counts per observer, and for each member
//! the number of *active* observers that hold it live.
//!
//! An observer is active while it runs and is not paused: a paused
//! (SIGSTOPped) node cannot update its view, so its stale view does not
//! count while it is paused ("Failed everywhere" / "alive everywhere" mean
//! at every active node). It is kept, not dropped: when the node resumes,
//! its view counts again as it is — a resumed node that still holds a
//! long-Failed member live is a disagreement from then on. Pausing and
//! resuming cost O(members the observer holds live).

use crate::NodeId;

/// A fixed-size set of node ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    pub(crate) fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    pub(crate) fn get(&self, i: NodeId) -> bool {
        self.0[i as usize / 64] & (1 << (i % 64)) != 0
    }
    /// Sets bit `i`; `true` if it changed.
    pub(crate) fn set(&mut self, i: NodeId) -> bool {
        let w = &mut self.0[i as usize / 64];
        let changed = *w & (1 << (i % 64)) == 0;
        *w |= 1 << (i % 64);
        changed
    }
    /// Clears bit `i`; `true` if it changed.
    pub(crate) fn clear(&mut self, i: NodeId) -> bool {
        let w = &mut self.0[i as usize / 64];
        let changed = *w & (1 << (i % 64)) != 0;
        *w &= !(1 << (i % 64));
        changed
    }
    pub(crate) fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
    pub(crate) fn iter(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.0.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let b = w.trailing_zeros();
                    w &= w - 1;
                    wi as u32 * 64 + b
                })
            })
        })
    }
    pub(crate) fn reset(&mut self) {
        self.0.iter_mut().for_each(|w| *w = 0);
    }
}

/// All observers' views.
#[derive(Debug)]
pub(crate) struct Views {
    live: Vec<Bits>,
    reported_dead: Vec<Bits>,
    counts: Vec<u32>,
    holders: Vec<u32>,
    active: Bits,
    active_count: u32,
}

impl Views {
    pub(crate) fn new(n: usize) -> Self {
        Views {
            live: vec![Bits::new(n); n],
            reported_dead: vec![Bits::new(n); n],
            counts: vec![0; n],
            holders: vec![0; n],
            active: Bits::new(n),
            active_count: 0,
        }
    }

    /// `o` now holds `m` live. `true` if that is news.
    pub(crate) fn mark_live(&mut self, o: NodeId, m: NodeId) -> bool {
        let changed = self.live[o as usize].set(m);
        if changed {
            self.counts[o as usize] += 1;
            if self.active.get(o) {
                self.holders[m as usize] += 1;
            }
        }
        changed
    }

    /// `o` reported `m` Failed or Left. Returns `m`'s remaining holders if
    /// `o` is active and held it live until now.
    pub(crate) fn mark_dead(&mut self, o: NodeId, m: NodeId) -> Option<u32> {
        self.reported_dead[o as usize].set(m);
        if !self.live[o as usize].clear(m) {
            return None;
        }
        self.counts[o as usize] -= 1;
        self.active.get(o).then(|| {
            self.holders[m as usize] -= 1;
            self.holders[m as usize]
        })
    }

    /// Observer `o` runs and is not paused: its view counts (again).
    pub(crate) fn activate(&mut self, o: NodeId) {
        if self.active.set(o) {
            self.active_count += 1;
            for m in self.live[o as usize].iter() {
                self.holders[m as usize] += 1;
            }
        }
    }

    /// Observer `o` paused, left or stopped: its view stops counting (it is
    /// kept). Calls `released` with each member it held and that member's
    /// remaining holders.
    pub(crate) fn deactivate(&mut self, o: NodeId, mut released: impl FnMut(NodeId, u32)) {
        if self.active.clear(o) {
            self.active_count -= 1;
            for m in self.live[o as usize].iter() {
                self.holders[m as usize] -= 1;
                released(m, self.holders[m as usize]);
            }
        }
    }

    /// Whether `o`'s view counts.
    pub(crate) fn is_active(&self, o: NodeId) -> bool {
        self.active.get(o)
    }

    /// Whether every active observer other than `m` holds `m` live.
    pub(crate) fn all_hold_live(&self, m: NodeId) -> bool {
        self.holders(m) + u32::from(self.is_active(m)) >= self.active_count
    }

    /// Whether `o` reported `m` dead since `m` last (re)started.
    pub(crate) fn reported_dead(&self, o: NodeId, m: NodeId) -> bool {
        self.reported_dead[o as usize].get(m)
    }

    /// Forgets that `o` reported `m` dead (counted once).
    pub(crate) fn forget_report(&mut self, o: NodeId, m: NodeId) {
        self.reported_dead[o as usize].clear(m);
    }

    /// `m` restarted: nobody's earlier report about it counts any more.
    pub(crate) fn member_restarted(&mut self, m: NodeId) {
        for r in &mut self.reported_dead {
            r.clear(m);
        }
    }

    /// Observer `o` stopped (crash, leave): drop its view. Calls `released`
    /// with each member it held and that member's remaining holders (if it
    /// was active).
    pub(crate) fn observer_stopped(&mut self, o: NodeId, released: impl FnMut(NodeId, u32)) {
        self.deactivate(o, released);
        self.live[o as usize].reset();
        self.reported_dead[o as usize].reset();
        self.counts[o as usize] = 0;
    }

    /// Members `o` holds live.
    pub(crate) fn count(&self, o: NodeId) -> u32 {
        self.counts[o as usize]
    }

    /// Active observers holding `m` live.
    pub(crate) fn holders(&self, m: NodeId) -> u32 {
        self.holders[m as usize]
    }

    /// Whether `o`'s live set is exactly `expected` without `o` itself.
    pub(crate) fn matches(&self, o: NodeId, expected: &Bits) -> bool {
        let mine = &self.live[o as usize].0;
        let (wi, bit) = (o as usize / 64, 1u64 << (o % 64));
        mine.iter()
            .zip(&expected.0)
            .enumerate()
            .all(|(i, (&a, &e))| a == if i == wi { e & !bit } else { e })
    }

    /// `o`'s live set.
    pub(crate) fn live_set(&self, o: NodeId) -> &Bits {
        &self.live[o as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_holders_follow_marks() {
        let mut v = Views::new(130);
        v.activate(0);
        v.activate(2);
        assert!(v.mark_live(0, 1));
        assert!(!v.mark_live(0, 1));
        assert!(v.mark_live(2, 1));
        assert!(v.mark_live(0, 129));
        assert_eq!((v.count(0), v.holders(1)), (2, 2));
        assert_eq!(v.mark_dead(0, 1), Some(1));
        assert_eq!(v.mark_dead(0, 1), None);
        assert!(v.reported_dead(0, 1));
        let mut released = vec![];
        v.observer_stopped(2, |m, h| released.push((m, h)));
        assert_eq!(released, [(1, 0)]);
        let mut expected = Bits::new(130);
        expected.set(0);
        expected.set(129);
        assert!(v.matches(0, &expected));
        assert_eq!(v.live_set(0).iter().collect::<Vec<_>>(), [129]);
    }

    #[test]
    fn a_paused_view_stops_counting_and_counts_again_as_it_is() {
        let mut v = Views::new(10);
        for o in 0..3 {
            v.activate(o);
        }
        v.mark_live(0, 5);
        v.mark_live(1, 5);
        v.mark_live(2, 5);
        assert!(v.all_hold_live(5));
        // Observer 2 pauses holding 5 live: it is released, not forgotten.
        let mut released = vec![];
        v.deactivate(2, |m, h| released.push((m, h)));
        assert_eq!(released, [(5, 2)]);
        v.deactivate(2, |_, _| panic!("deactivated twice"));
        // The active ones declare 5 dead: no active holder is left.
        assert_eq!(v.mark_dead(0, 5), Some(1));
        assert_eq!(v.mark_dead(1, 5), Some(0));
        assert_eq!((v.holders(5), v.count(2)), (0, 1));
        // A paused observer's marks change its view, not the holders.
        assert!(v.mark_live(2, 6));
        assert_eq!(v.holders(6), 0);
        assert_eq!(v.mark_dead(2, 6), None);
        // Resumed, its stale view holds 5 live again.
        v.activate(2);
        assert_eq!(v.holders(5), 1);
        assert!(!v.all_hold_live(6));
        v.mark_live(0, 6);
        v.mark_live(1, 6);
        v.mark_live(2, 6);
        assert!(v.all_hold_live(6));
        // A member that is itself active is not expected to hold itself.
        v.mark_live(1, 0);
        v.mark_live(2, 0);
        assert!(v.all_hold_live(0));
        // A stopped observer's view is dropped.
        v.observer_stopped(2, |_, _| {});
        assert_eq!((v.holders(5), v.count(2)), (0, 0));
        v.activate(2);
        assert_eq!(v.holders(5), 0);
    }
}

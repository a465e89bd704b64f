//! Every node's view, tracked from its events in O(1) per event: one bit per
//! (observer, member) for "holds it live" (Alive or Suspect), one for "has
//! reported it Failed or Left", live counts per observer, and for each member
//! the number of running observers that hold it live.

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
}

impl Views {
    pub(crate) fn new(n: usize) -> Self {
        Views {
            live: vec![Bits::new(n); n],
            reported_dead: vec![Bits::new(n); n],
            counts: vec![0; n],
            holders: vec![0; n],
        }
    }

    /// `o` now holds `m` live. `true` if that is news.
    pub(crate) fn mark_live(&mut self, o: NodeId, m: NodeId) -> bool {
        let changed = self.live[o as usize].set(m);
        if changed {
            self.counts[o as usize] += 1;
            self.holders[m as usize] += 1;
        }
        changed
    }

    /// `o` reported `m` Failed or Left. Returns `m`'s remaining holders if
    /// `o` held it live until now.
    pub(crate) fn mark_dead(&mut self, o: NodeId, m: NodeId) -> Option<u32> {
        self.reported_dead[o as usize].set(m);
        self.live[o as usize].clear(m).then(|| {
            self.counts[o as usize] -= 1;
            self.holders[m as usize] -= 1;
            self.holders[m as usize]
        })
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
    /// with each member it held and that member's remaining holders.
    pub(crate) fn observer_stopped(&mut self, o: NodeId, mut released: impl FnMut(NodeId, u32)) {
        let held: Vec<NodeId> = self.live[o as usize].iter().collect();
        for m in held {
            self.holders[m as usize] -= 1;
            released(m, self.holders[m as usize]);
        }
        self.live[o as usize].reset();
        self.reported_dead[o as usize].reset();
        self.counts[o as usize] = 0;
    }

    /// Members `o` holds live.
    pub(crate) fn count(&self, o: NodeId) -> u32 {
        self.counts[o as usize]
    }

    /// Running observers holding `m` live.
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
}

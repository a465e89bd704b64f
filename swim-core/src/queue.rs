//! The dissemination queue: least-sent first, newest first among equals, a
//! retransmit budget per item, at most one item per key (a newer item about
//! the same key replaces the older), bounded.
//!
//! Items live in a slab; buckets (by how often an item was sent) hold slab
//! positions with a generation. Taking an item appends it to the next
//! bucket and leaves the old bucket entry stale (skipped, compacted later),
//! so each step is O(1), and packing a datagram walks the slab in roughly
//! the order items were queued (cache-friendly at any backlog size).

use crate::hash::{KeyedState, Map};
use core::hash::Hash;

#[derive(Clone)]
struct Slot<K, V> {
    key: K,
    gen: u32,
    sent: u32,
    value: Option<V>,
}

/// What the packer did with an offered item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Put in the packet: counts as one transmission.
    Taken,
    /// Did not fit; try the next one.
    Skipped,
    /// The packet is full; stop offering.
    Stop,
}

#[derive(Clone)]
pub(crate) struct TxQueue<K, V> {
    slots: Vec<Slot<K, V>>,
    free: Vec<u32>,
    index: Map<K, u32>,
    /// `buckets[s]`: (slot, generation) of items sent `s` times, oldest first.
    buckets: Vec<Vec<(u32, u32)>>,
    stale: usize,
    max: usize,
    taken: Vec<u32>,
}

impl<K: Copy + Eq + Hash, V> TxQueue<K, V> {
    pub(crate) fn new(max: usize, hasher: KeyedState) -> Self {
        TxQueue {
            slots: Vec::new(),
            free: Vec::new(),
            index: Map::with_hasher(hasher),
            buckets: vec![Vec::new()],
            stale: 0,
            max,
            taken: Vec::new(),
        }
    }

    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn contains(&self, key: &K) -> bool {
        self.index.contains_key(key)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        let i = *self.index.get(key)?;
        self.slots.get(i as usize)?.value.as_ref()
    }

    fn live(&self, (i, gen): (u32, u32), bucket: usize) -> bool {
        self.slots
            .get(i as usize)
            .is_some_and(|s| s.gen == gen && s.sent as usize == bucket && s.value.is_some())
    }

    /// Queues `value` under `key`, replacing any older item for that key.
    /// Returns `true` if another item had to be dropped to make room.
    pub(crate) fn push(&mut self, key: K, value: V) -> bool {
        let mut dropped = false;
        let i = if let Some(&i) = self.index.get(&key) {
            // Replace in place: a new generation makes old bucket entries stale.
            self.stale += 1;
            i
        } else {
            if self.index.len() >= self.max {
                dropped = self.evict_one();
            }
            let i = match self.free.pop() {
                Some(i) => i,
                None => {
                    self.slots.push(Slot {
                        key,
                        gen: 0,
                        sent: 0,
                        value: None,
                    });
                    (self.slots.len() - 1) as u32
                }
            };
            self.index.insert(key, i);
            i
        };
        let Some(slot) = self.slots.get_mut(i as usize) else {
            return dropped;
        };
        slot.key = key;
        slot.gen = slot.gen.wrapping_add(1);
        slot.sent = 0;
        slot.value = Some(value);
        let gen = slot.gen;
        if let Some(b) = self.buckets.first_mut() {
            b.push((i, gen));
        }
        self.maybe_compact();
        dropped
    }

    /// Like [`push`](Self::push), but the item starts as if already sent
    /// `spent` times: it gets that many fewer transmissions.
    pub(crate) fn push_spent(&mut self, key: K, value: V, spent: u32) -> bool {
        let dropped = self.push(key, value);
        if spent == 0 {
            return dropped;
        }
        let Some(&i) = self.index.get(&key) else {
            return dropped;
        };
        if let Some(slot) = self.slots.get_mut(i as usize) {
            slot.sent = spent;
            let gen = slot.gen;
            self.stale += 1;
            while self.buckets.len() <= spent as usize {
                self.buckets.push(Vec::new());
            }
            if let Some(bk) = self.buckets.get_mut(spent as usize) {
                bk.push((i, gen));
            }
        }
        dropped
    }

    /// Like [`push`](Self::push), but an item already queued under `key`
    /// keeps its sent count (only its value changes): a refinement of news
    /// already under way is not news of its own.
    pub(crate) fn push_keep_count(&mut self, key: K, value: V) -> bool {
        if let Some(&i) = self.index.get(&key) {
            if let Some(slot) = self.slots.get_mut(i as usize) {
                slot.value = Some(value);
                return false;
            }
        }
        self.push(key, value)
    }

    /// Whether any item has been sent fewer than `times` times.
    pub(crate) fn has_fresh(&self, times: u32) -> bool {
        self.buckets
            .iter()
            .take(times as usize)
            .enumerate()
            .any(|(b, bucket)| bucket.iter().any(|e| self.live(*e, b)))
    }

    pub(crate) fn remove(&mut self, key: &K) {
        if let Some(i) = self.index.remove(key) {
            self.release(i);
        }
    }

    fn release(&mut self, i: u32) {
        if let Some(slot) = self.slots.get_mut(i as usize) {
            slot.value = None;
            slot.gen = slot.gen.wrapping_add(1);
            self.free.push(i);
            self.stale += 1;
        }
    }

    /// Drops the most-sent (least useful) item, oldest first.
    fn evict_one(&mut self) -> bool {
        for b in (0..self.buckets.len()).rev() {
            let Some(bucket) = self.buckets.get(b) else {
                continue;
            };
            let victim = bucket.iter().copied().find(|e| self.live(*e, b));
            if let Some((i, _)) = victim {
                if let Some(key) = self.slots.get(i as usize).map(|s| s.key) {
                    self.index.remove(&key);
                }
                self.release(i);
                return true;
            }
        }
        false
    }

    /// Offers items to `pack`, least-sent first, newest first among equals.
    /// A taken item is counted as sent once and dropped once it was sent
    /// `limit` times. At most `max_skips` items that did not fit are passed
    /// over before giving up.
    pub(crate) fn select(
        &mut self,
        limit: u32,
        max_skips: usize,
        mut pack: impl FnMut(&V) -> Offer,
    ) {
        let mut skips = 0;
        self.taken.clear();
        'outer: for (b, bucket) in self.buckets.iter().enumerate() {
            for &(i, gen) in bucket.iter().rev() {
                let Some(slot) = self.slots.get(i as usize) else {
                    continue;
                };
                if slot.gen != gen || slot.sent as usize != b {
                    continue;
                }
                let Some(value) = slot.value.as_ref() else {
                    continue;
                };
                match pack(value) {
                    Offer::Taken => self.taken.push(i),
                    Offer::Skipped => {
                        skips += 1;
                        if skips > max_skips {
                            break 'outer;
                        }
                    }
                    Offer::Stop => break 'outer,
                }
            }
        }
        let taken = core::mem::take(&mut self.taken);
        for &i in &taken {
            let Some(slot) = self.slots.get_mut(i as usize) else {
                continue;
            };
            slot.sent += 1;
            self.stale += 1;
            if slot.sent >= limit {
                let key = slot.key;
                self.index.remove(&key);
                self.release(i);
            } else {
                let (gen, sent) = (slot.gen, slot.sent as usize);
                while self.buckets.len() <= sent {
                    self.buckets.push(Vec::new());
                }
                if let Some(bk) = self.buckets.get_mut(sent) {
                    bk.push((i, gen));
                }
            }
        }
        self.taken = taken;
        self.maybe_compact();
    }

    fn maybe_compact(&mut self) {
        if self.index.is_empty() && self.stale > 0 {
            // Everything was disseminated: hold no memory for it.
            self.slots = Vec::new();
            self.free = Vec::new();
            self.index = Map::with_hasher(*self.index.hasher());
            self.buckets = vec![Vec::new()];
            self.stale = 0;
            return;
        }
        if self.stale <= 2 * self.index.len() + 64 {
            return;
        }
        let mut buckets = core::mem::take(&mut self.buckets);
        for (b, bucket) in buckets.iter_mut().enumerate() {
            bucket.retain(|e| self.live(*e, b));
            if bucket.capacity() > 4 * bucket.len() + 64 {
                bucket.shrink_to(2 * bucket.len());
            }
        }
        while buckets.len() > 1 && buckets.last().is_some_and(Vec::is_empty) {
            buckets.pop();
        }
        self.buckets = buckets;
        if self.index.capacity() > 4 * self.index.len() + 64 {
            self.index.shrink_to(2 * self.index.len());
        }
        self.stale = 0;
    }

    /// Bucket entries held, stale ones included (for bounds checks).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn raw_len(&self) -> usize {
        self.buckets.iter().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(max: usize) -> TxQueue<u32, u32> {
        TxQueue::new(max, KeyedState::new(9, 9))
    }

    fn take_all(q: &mut TxQueue<u32, u32>, limit: u32, n: usize) -> Vec<u32> {
        let mut out = Vec::new();
        q.select(limit, 8, |v| {
            if out.len() == n {
                return Offer::Stop;
            }
            out.push(*v);
            Offer::Taken
        });
        out
    }

    #[test]
    fn least_sent_then_newest_first() {
        let mut q = q(100);
        q.push(1, 10);
        q.push(2, 20);
        assert_eq!(take_all(&mut q, 5, 1), vec![20]);
        q.push(3, 30);
        // 1 and 3 unsent (3 newer), then 2 (sent once).
        assert_eq!(take_all(&mut q, 5, 3), vec![30, 10, 20]);
    }

    #[test]
    fn budget_drops_items() {
        let mut q = q(100);
        q.push(1, 10);
        for _ in 0..3 {
            assert_eq!(take_all(&mut q, 3, 5), vec![10]);
        }
        assert!(q.is_empty());
        assert_eq!(take_all(&mut q, 3, 5), Vec::<u32>::new());
    }

    #[test]
    fn newer_replaces_older_for_same_key() {
        let mut q = q(100);
        q.push(1, 10);
        take_all(&mut q, 9, 5);
        q.push(1, 11);
        assert_eq!(q.len(), 1);
        assert_eq!(take_all(&mut q, 9, 5), vec![11]);
    }

    #[test]
    fn bounded_evicts_most_sent() {
        let mut q = q(3);
        q.push(1, 10);
        q.push(2, 20);
        take_all(&mut q, 9, 1); // 20 sent once
        q.push(3, 30);
        assert!(q.push(4, 40), "a drop is reported");
        assert_eq!(q.len(), 3);
        assert!(q.get(&2).is_none(), "the most-sent item went");
    }

    #[test]
    fn skipped_items_stay() {
        let mut q = q(100);
        q.push(1, 10);
        q.push(2, 99);
        let mut got = Vec::new();
        q.select(9, 8, |v| {
            if *v == 99 {
                Offer::Skipped
            } else {
                got.push(*v);
                Offer::Taken
            }
        });
        assert_eq!(got, vec![10]);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn stale_entries_are_compacted() {
        let mut q = q(1000);
        for round in 0..200u32 {
            for k in 0..10 {
                q.push(k, round);
            }
            take_all(&mut q, 50, 10);
        }
        assert!(q.raw_len() <= 3 * q.len() + 64 + 20, "raw {}", q.raw_len());
    }
}

//! The dissemination queue: least-sent first, newest first among equals, a
//! retransmit budget per item, at most one item per key (a newer item about
//! the same key replaces the older), bounded.
//!
//! Items sit in buckets by how often they were sent. Moving an item to the
//! next bucket appends a new bucket entry and leaves the old one stale (it is
//! skipped, and compacted away later), so taking an item costs O(1).

use crate::hash::{KeyedState, Map};
use core::hash::Hash;

struct Entry<V> {
    id: u64,
    sent: u32,
    value: V,
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

pub(crate) struct TxQueue<K, V> {
    entries: Map<K, Entry<V>>,
    buckets: Vec<Vec<(u64, K)>>,
    next_id: u64,
    stale: usize,
    max: usize,
    taken: Vec<K>,
}

impl<K: Copy + Eq + Hash, V> TxQueue<K, V> {
    pub(crate) fn new(max: usize, hasher: KeyedState) -> Self {
        TxQueue {
            entries: Map::with_hasher(hasher),
            buckets: vec![Vec::new()],
            next_id: 0,
            stale: 0,
            max,
            taken: Vec::new(),
        }
    }

    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|e| &e.value)
    }

    /// Queues `value` under `key`, replacing any older item for that key.
    /// Returns `true` if another item had to be dropped to make room.
    pub(crate) fn push(&mut self, key: K, value: V) -> bool {
        let id = self.next_id;
        self.next_id += 1;
        let mut dropped = false;
        if let Some(old) = self.entries.insert(key, Entry { id, sent: 0, value }) {
            let _ = old;
            self.stale += 1;
        } else if self.entries.len() > self.max {
            dropped = self.evict_one(key);
        }
        if let Some(b) = self.buckets.first_mut() {
            b.push((id, key));
        }
        self.maybe_compact();
        dropped
    }

    pub(crate) fn remove(&mut self, key: &K) {
        if self.entries.remove(key).is_some() {
            self.stale += 1;
        }
    }

    /// Drops the most-sent (least useful) item other than `keep`.
    fn evict_one(&mut self, keep: K) -> bool {
        for b in (0..self.buckets.len()).rev() {
            let Some(bucket) = self.buckets.get(b) else {
                continue;
            };
            let victim = bucket.iter().find(|(id, k)| {
                *k != keep
                    && self
                        .entries
                        .get(k)
                        .is_some_and(|e| e.id == *id && e.sent as usize == b)
            });
            if let Some(&(_, k)) = victim {
                self.entries.remove(&k);
                self.stale += 1;
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
            for &(id, key) in bucket.iter().rev() {
                let Some(e) = self.entries.get(&key) else {
                    continue;
                };
                if e.id != id || e.sent as usize != b {
                    continue;
                }
                match pack(&e.value) {
                    Offer::Taken => self.taken.push(key),
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
        for key in &taken {
            let Some(e) = self.entries.get_mut(key) else {
                continue;
            };
            e.sent += 1;
            self.stale += 1;
            if e.sent >= limit {
                self.entries.remove(key);
            } else {
                let (id, sent) = (e.id, e.sent as usize);
                while self.buckets.len() <= sent {
                    self.buckets.push(Vec::new());
                }
                if let Some(bk) = self.buckets.get_mut(sent) {
                    bk.push((id, *key));
                }
            }
        }
        self.taken = taken;
        self.maybe_compact();
    }

    fn maybe_compact(&mut self) {
        if self.stale <= 2 * self.entries.len() + 64 {
            return;
        }
        let entries = &self.entries;
        for (b, bucket) in self.buckets.iter_mut().enumerate() {
            bucket.retain(|(id, k)| {
                entries
                    .get(k)
                    .is_some_and(|e| e.id == *id && e.sent as usize == b)
            });
        }
        while self.buckets.len() > 1 && self.buckets.last().is_some_and(Vec::is_empty) {
            self.buckets.pop();
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

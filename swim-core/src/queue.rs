//! The dissemination queue: least-sent first, newest first among equals, a
//! retransmit budget per item, at most one item per key (a newer item about
//! the same key replaces the older), bounded.
//!
//! Items live in a slab. Each slot sits on exactly one intrusive doubly
//! linked list, the bucket of items sent that many times (oldest at the
//! head, newest at the tail). Taking, replacing or removing an item unlinks
//! it at once, so there are no stale entries anywhere:
//!
//! * `push`: O(1) (a hash lookup, a link; eviction is the head of the top
//!   bucket);
//! * `select`: O(items offered), whatever the backlog or its history;
//! * memory: O(len): the slab is renumbered when it holds more than four
//!   times the live items (amortised O(1) per removal), and freed outright
//!   when the queue empties.
//!
//! The bucket list is kept trimmed (its last bucket is non-empty unless the
//! queue is), and it is never longer than the highest sent count held.

use crate::hash::{KeyedState, Map};
use core::hash::Hash;

/// "No slot": the end of a list.
const NIL: u32 = u32::MAX;

#[derive(Clone)]
struct Slot<K, V> {
    key: K,
    /// Times sent; also the bucket the slot is linked into.
    sent: u32,
    /// Neighbours in the bucket list (`prev` is older, `next` newer).
    prev: u32,
    next: u32,
    /// `None` on a free slot.
    value: Option<V>,
}

/// One bucket: a list of slots, oldest at `head`, newest at `tail`.
#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

const EMPTY: List = List {
    head: NIL,
    tail: NIL,
};

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
    /// `buckets[s]`: the items sent `s` times.
    buckets: Vec<List>,
    max: usize,
    taken: Vec<u32>,
    /// While set, [`select`](Self::select) counts nothing as sent (a reply
    /// to an unvalidated source must not spend the resend budget).
    pub(crate) uncounted: bool,
}

impl<K: Copy + Eq + Hash, V> TxQueue<K, V> {
    pub(crate) fn new(max: usize, hasher: KeyedState) -> Self {
        TxQueue {
            slots: Vec::new(),
            free: Vec::new(),
            index: Map::with_hasher(hasher),
            buckets: vec![EMPTY],
            max,
            taken: Vec::new(),
            uncounted: false,
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

    /// Queues `value` under `key`, replacing any older item for that key
    /// (the new item starts unsent, as the newest). Returns `true` if
    /// another item had to be dropped to make room.
    pub(crate) fn push(&mut self, key: K, value: V) -> bool {
        if let Some(&i) = self.index.get(&key) {
            self.unlink(i);
            if let Some(slot) = self.slots.get_mut(i as usize) {
                slot.sent = 0;
                slot.value = Some(value);
            }
            self.link_newest(i);
            self.trim();
            return false;
        }
        self.insert_new(key, value)
    }

    /// Like [`push`](Self::push), except that when an item for `key` is
    /// already queued only its value is replaced: it keeps its sent count
    /// and its place in the order (a confirmation of news already being
    /// spread does not restart its resend count). Returns `true` if another
    /// item had to be dropped to make room.
    pub(crate) fn push_keep_count(&mut self, key: K, value: V) -> bool {
        if let Some(&i) = self.index.get(&key) {
            if let Some(slot) = self.slots.get_mut(i as usize) {
                slot.value = Some(value);
            }
            return false;
        }
        self.insert_new(key, value)
    }

    /// Queues an item for a key not queued yet, evicting if full.
    fn insert_new(&mut self, key: K, value: V) -> bool {
        let dropped = self.index.len() >= self.max && self.evict_one();
        let slot = Slot {
            key,
            sent: 0,
            prev: NIL,
            next: NIL,
            value: Some(value),
        };
        let i = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    *s = slot;
                }
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, i);
        self.link_newest(i);
        self.trim();
        dropped
    }

    /// Like [`push`](Self::push), but the item starts as if already sent
    /// `spent` times: it gets that many fewer transmissions (a question
    /// for a few, not news for all).
    pub(crate) fn push_spent(&mut self, key: K, value: V, spent: u32) -> bool {
        let dropped = self.push(key, value);
        if spent == 0 {
            return dropped;
        }
        if let Some(&i) = self.index.get(&key) {
            self.unlink(i);
            if let Some(slot) = self.slots.get_mut(i as usize) {
                slot.sent = spent;
            }
            self.link_newest(i);
            self.trim();
        }
        dropped
    }

    /// Whether any item has been sent fewer than `times` times. O(times).
    pub(crate) fn has_fresh(&self, times: u32) -> bool {
        self.buckets
            .iter()
            .take(times as usize)
            .any(|b| b.head != NIL)
    }

    pub(crate) fn remove(&mut self, key: &K) {
        if let Some(i) = self.index.remove(key) {
            self.unlink(i);
            self.release(i);
            self.trim();
            self.maybe_shrink();
        }
    }

    /// Drops the most-sent (least useful) item, oldest first: the head of
    /// the last bucket, which `trim` keeps non-empty.
    fn evict_one(&mut self) -> bool {
        let Some(i) = self.buckets.last().map(|b| b.head).filter(|&i| i != NIL) else {
            return false;
        };
        if let Some(key) = self.slots.get(i as usize).map(|s| s.key) {
            self.index.remove(&key);
        }
        self.unlink(i);
        self.release(i);
        self.trim();
        true
    }

    /// Offers items to `pack`, least-sent first, newest first among equals.
    /// A taken item is counted as sent once (it becomes the newest of the
    /// next bucket, in the order taken) and dropped once it was sent
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
        'outer: for bucket in &self.buckets {
            let mut i = bucket.tail;
            while let Some(slot) = self.slots.get(i as usize) {
                if let Some(value) = slot.value.as_ref() {
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
                i = slot.prev;
            }
        }
        if self.taken.is_empty() || self.uncounted {
            return;
        }
        let taken = core::mem::take(&mut self.taken);
        for &i in &taken {
            self.unlink(i);
            let Some(slot) = self.slots.get_mut(i as usize) else {
                continue;
            };
            slot.sent = slot.sent.saturating_add(1);
            if slot.sent >= limit {
                let key = slot.key;
                self.index.remove(&key);
                self.release(i);
            } else {
                self.link_newest(i);
            }
        }
        self.taken = taken;
        self.trim();
        self.maybe_shrink();
    }

    /// Links slot `i` as the newest of the bucket its sent count names.
    fn link_newest(&mut self, i: u32) {
        let Some(b) = self.slots.get(i as usize).map(|s| s.sent as usize) else {
            return;
        };
        while self.buckets.len() <= b {
            self.buckets.push(EMPTY);
        }
        let Some(list) = self.buckets.get_mut(b) else {
            return;
        };
        let old_tail = list.tail;
        list.tail = i;
        if old_tail == NIL {
            list.head = i;
        } else if let Some(t) = self.slots.get_mut(old_tail as usize) {
            t.next = i;
        }
        if let Some(s) = self.slots.get_mut(i as usize) {
            s.prev = old_tail;
            s.next = NIL;
        }
    }

    /// Unlinks slot `i` from its bucket.
    fn unlink(&mut self, i: u32) {
        let Some((b, prev, next)) = self.slots.get_mut(i as usize).map(|s| {
            (
                s.sent as usize,
                core::mem::replace(&mut s.prev, NIL),
                core::mem::replace(&mut s.next, NIL),
            )
        }) else {
            return;
        };
        match self.slots.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => {
                if let Some(list) = self.buckets.get_mut(b) {
                    list.head = next;
                }
            }
        }
        match self.slots.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => {
                if let Some(list) = self.buckets.get_mut(b) {
                    list.tail = prev;
                }
            }
        }
    }

    /// Frees an unlinked slot whose key is already out of the index.
    fn release(&mut self, i: u32) {
        if let Some(slot) = self.slots.get_mut(i as usize) {
            slot.value = None;
            self.free.push(i);
        }
    }

    /// Drops empty buckets at the top, so the last one holds the most-sent
    /// items (amortised O(1): a bucket is added only by a take).
    fn trim(&mut self) {
        while self.buckets.len() > 1 && self.buckets.last().is_some_and(|b| b.head == NIL) {
            self.buckets.pop();
        }
    }

    /// Keeps memory O(len): frees everything once the queue is empty, and
    /// renumbers the slab once it is more than four times the live items.
    /// Either takes at least three quarters of the slab's slots freed since
    /// it last ran, so the cost is amortised O(1) per removal.
    fn maybe_shrink(&mut self) {
        let live = self.index.len();
        if live == 0 {
            if self.slots.capacity() > 0 {
                self.slots = Vec::new();
                self.free = Vec::new();
                self.index = Map::with_hasher(*self.index.hasher());
                self.buckets = vec![EMPTY];
                self.taken = Vec::new();
            }
            return;
        }
        if self.slots.len() <= 4 * live + 64 {
            return;
        }
        let mut old = core::mem::take(&mut self.slots);
        let mut slots = Vec::with_capacity(live);
        let mut index = Map::with_capacity_and_hasher(live, *self.index.hasher());
        for (b, list) in self.buckets.iter_mut().enumerate() {
            let mut i = list.head;
            *list = EMPTY;
            while let Some(slot) = old.get_mut(i as usize) {
                let next = slot.next;
                if let Some(value) = slot.value.take() {
                    let n = slots.len() as u32;
                    slots.push(Slot {
                        key: slot.key,
                        sent: b as u32,
                        prev: list.tail,
                        next: NIL,
                        value: Some(value),
                    });
                    if list.tail == NIL {
                        list.head = n;
                    } else if let Some(t) = slots.get_mut(list.tail as usize) {
                        t.next = n;
                    }
                    list.tail = n;
                    index.insert(slot.key, n);
                }
                i = next;
            }
        }
        self.slots = slots;
        self.index = index;
        self.free = Vec::new();
        if self.taken.capacity() > 4 * live + 64 {
            self.taken = Vec::new();
        }
    }

    /// Slab slots held, free ones included (for bounds checks; with no
    /// stale entries this is at most `max(4 * len + 64, max)`).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn raw_len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    fn a_spent_item_gets_only_the_rest_of_its_budget_and_goes_after_fresh_ones() {
        let mut q = q(100);
        q.push_spent(1, 10, 4);
        q.push(2, 20);
        assert!(q.has_fresh(1), "item 2 is unsent");
        // Unsent first, then the spent one; limit 6: the spent one has 2 left.
        assert_eq!(take_all(&mut q, 6, 5), vec![20, 10]);
        assert_eq!(take_all(&mut q, 6, 5), vec![20, 10]);
        assert_eq!(take_all(&mut q, 6, 5), vec![20], "item 1 used its 2 sends");
        assert!(!q.has_fresh(3), "item 2 was sent 3 times");
        assert!(q.has_fresh(4));
    }

    impl<K: Copy + Eq + Hash + core::fmt::Debug, V> TxQueue<K, V> {
        /// (key, sent) of every item in the order `select` offers them,
        /// after checking every structural invariant.
        fn checked_order(&self) -> Vec<(K, u32)> {
            let mut out = Vec::new();
            for (b, list) in self.buckets.iter().enumerate() {
                let mut prev = NIL;
                let mut i = list.head;
                while i != NIL {
                    let s = &self.slots[i as usize];
                    assert_eq!(s.prev, prev, "prev link of slot {i}");
                    assert_eq!(s.sent as usize, b, "slot {i} in the wrong bucket");
                    assert!(s.value.is_some(), "free slot {i} linked");
                    assert_eq!(self.index.get(&s.key), Some(&i), "index of {:?}", s.key);
                    out.push((s.key, s.sent, i));
                    prev = i;
                    i = s.next;
                    assert!(out.len() <= self.slots.len(), "cycle in bucket {b}");
                }
                assert_eq!(list.tail, prev, "tail of bucket {b}");
            }
            assert_eq!(out.len(), self.index.len(), "every item linked once");
            assert_eq!(out.len() + self.free.len(), self.slots.len());
            for &f in &self.free {
                assert!(self.slots[f as usize].value.is_none());
            }
            assert!(
                self.buckets.len() == 1 || self.buckets.last().unwrap().head != NIL,
                "top bucket trimmed"
            );
            assert!(self.slots.len() <= self.max.max(1), "slab within the bound");
            assert!(self.slots.len() <= 4 * out.len() + 64, "memory O(len)");
            // Offer order: fewest sends first, newest (tail) first.
            let mut order = Vec::new();
            for b in 0..self.buckets.len() {
                let mut bucket: Vec<_> = out
                    .iter()
                    .filter(|e| e.1 as usize == b)
                    .map(|e| (e.0, e.1))
                    .collect();
                bucket.reverse();
                order.extend(bucket);
            }
            order
        }
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
        assert_eq!(q.checked_order(), vec![(1, 0)], "back to unsent");
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
        // Among equals the oldest goes.
        assert!(q.push(5, 50));
        assert!(q.get(&1).is_none(), "the oldest unsent item went");
        q.checked_order();
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
        assert_eq!(q.checked_order(), vec![(2, 0), (1, 1)]);
    }

    #[test]
    fn max_skips_bounds_the_walk() {
        let mut q = q(100);
        for k in 0..10 {
            q.push(k, k);
        }
        let mut offered = 0;
        q.select(9, 3, |_| {
            offered += 1;
            Offer::Skipped
        });
        assert_eq!(offered, 4, "three skips allowed, the fourth ends it");
    }

    #[test]
    fn push_keep_count_keeps_sends_and_place() {
        let mut q = q(100);
        q.push(1, 10);
        q.push(2, 20);
        assert_eq!(take_all(&mut q, 3, 2), vec![20, 10]);
        assert!(!q.push_keep_count(2, 21));
        assert_eq!(q.get(&2), Some(&21), "value replaced");
        assert_eq!(q.len(), 2);
        // Still sent once, still where it was (taken first, so older).
        assert_eq!(q.checked_order(), vec![(1, 1), (2, 1)]);
        assert_eq!(take_all(&mut q, 3, 2), vec![10, 21]);
        // Third send hits the limit of 3: a count restarted by the
        // confirmation would have kept it.
        assert_eq!(take_all(&mut q, 3, 2), vec![21, 10]);
        assert!(q.is_empty());
        // A plain push restarts the count.
        q.push(1, 10);
        take_all(&mut q, 3, 1);
        take_all(&mut q, 3, 1);
        q.push(1, 11);
        assert_eq!(q.checked_order(), vec![(1, 0)]);
    }

    #[test]
    fn push_keep_count_of_a_new_key_is_a_push() {
        let mut q = q(2);
        assert!(!q.push_keep_count(1, 10));
        assert!(!q.push_keep_count(2, 20));
        take_all(&mut q, 9, 1); // 20 sent once
        assert!(q.push_keep_count(3, 30), "full: evicts");
        assert!(q.get(&2).is_none(), "the most-sent item went");
        assert_eq!(q.checked_order(), vec![(3, 0), (1, 0)]);
    }

    #[test]
    fn no_stale_entries_and_memory_follows_len() {
        let mut q = q(1000);
        for round in 0..200u32 {
            for k in 0..10 {
                q.push(k, round);
            }
            take_all(&mut q, 50, 10);
            assert_eq!(q.raw_len(), 10, "one slot per item, nothing stale");
        }
        for k in 0..1000 {
            q.push(k, k);
        }
        assert_eq!(q.raw_len(), 1000);
        for k in 0..995 {
            q.remove(&k);
        }
        assert!(q.raw_len() <= 4 * 5 + 64, "raw {}", q.raw_len());
        assert_eq!(q.checked_order().len(), 5);
        for k in 995..1000 {
            q.remove(&k);
        }
        assert_eq!(
            (q.raw_len(), q.slots.capacity()),
            (0, 0),
            "empty holds nothing"
        );
    }

    // ----- the queue against a plain reference model -----

    /// The specification, as a `Vec`: each item has a stamp, taken from a
    /// clock on every push (new or replacing) and every take.
    #[derive(Default)]
    struct Model {
        items: Vec<(u32, u32, u32, u64)>, // key, value, sent, stamp
        clock: u64,
        max: usize,
    }

    impl Model {
        fn tick(&mut self) -> u64 {
            self.clock += 1;
            self.clock
        }
        fn pos(&self, k: u32) -> Option<usize> {
            self.items.iter().position(|e| e.0 == k)
        }
        fn push(&mut self, k: u32, v: u32, keep: bool) -> bool {
            if let Some(p) = self.pos(k) {
                let t = self.tick();
                let e = &mut self.items[p];
                e.1 = v;
                if !keep {
                    e.2 = 0;
                    e.3 = t;
                }
                return false;
            }
            let dropped = self.items.len() >= self.max && !self.items.is_empty() && {
                // Most sent, then oldest.
                let (p, _) = self
                    .items
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, e)| (e.2, core::cmp::Reverse(e.3)))
                    .unwrap();
                self.items.remove(p);
                true
            };
            let t = self.tick();
            self.items.push((k, v, 0, t));
            dropped
        }
        fn order(&self) -> Vec<(u32, u32, u32, u64)> {
            let mut o = self.items.clone();
            o.sort_by_key(|e| (e.2, core::cmp::Reverse(e.3)));
            o
        }
        fn select(&mut self, limit: u32, max_skips: usize, script: &[Offer]) -> Vec<u32> {
            let mut offered = Vec::new();
            let mut taken = Vec::new();
            let mut skips = 0;
            for e in self.order() {
                let d = script.get(offered.len()).copied().unwrap_or(Offer::Stop);
                offered.push(e.1);
                match d {
                    Offer::Taken => taken.push(e.0),
                    Offer::Skipped => {
                        skips += 1;
                        if skips > max_skips {
                            break;
                        }
                    }
                    Offer::Stop => break,
                }
            }
            for k in taken {
                let t = self.tick();
                let p = self.pos(k).unwrap();
                self.items[p].2 += 1;
                self.items[p].3 = t;
                if self.items[p].2 >= limit {
                    self.items.remove(p);
                }
            }
            offered
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(u32, u32),
        PushKeep(u32, u32),
        Remove(u32),
        Select(u32, usize, Vec<Offer>),
    }

    fn op(keys: u32) -> impl Strategy<Value = Op> {
        let offer = prop_oneof![
            6 => Just(Offer::Taken),
            2 => Just(Offer::Skipped),
            1 => Just(Offer::Stop),
        ];
        prop_oneof![
            4 => (0..keys, any::<u32>()).prop_map(|(k, v)| Op::Push(k, v)),
            2 => (0..keys, any::<u32>()).prop_map(|(k, v)| Op::PushKeep(k, v)),
            2 => (0..keys).prop_map(Op::Remove),
            4 => (1u32..6, 0usize..4, proptest::collection::vec(offer, 0..40))
                .prop_map(|(l, s, o)| Op::Select(l, s, o)),
        ]
    }

    fn run(max: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
        let mut q = q(max);
        let mut m = Model {
            max,
            ..Model::default()
        };
        for op in ops {
            match op {
                Op::Push(k, v) => prop_assert_eq!(q.push(k, v), m.push(k, v, false)),
                Op::PushKeep(k, v) => {
                    prop_assert_eq!(q.push_keep_count(k, v), m.push(k, v, true));
                }
                Op::Remove(k) => {
                    q.remove(&k);
                    if let Some(p) = m.pos(k) {
                        m.items.remove(p);
                    }
                }
                Op::Select(limit, skips, script) => {
                    let mut offered = Vec::new();
                    q.select(limit, skips, |v| {
                        let d = script.get(offered.len()).copied().unwrap_or(Offer::Stop);
                        offered.push(*v);
                        d
                    });
                    prop_assert_eq!(offered, m.select(limit, skips, &script));
                }
            }
            let want: Vec<_> = m.order().iter().map(|e| (e.0, e.2)).collect();
            prop_assert_eq!(q.checked_order(), want);
            for e in &m.items {
                prop_assert_eq!(q.get(&e.0), Some(&e.1));
            }
            prop_assert_eq!(q.len(), m.items.len());
            prop_assert_eq!(q.is_empty(), m.items.is_empty());
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Small queues: eviction, replacement and the order, densely.
        #[test]
        fn behaves_like_the_reference_model(
            max in 1usize..12,
            ops in proptest::collection::vec(op(16), 0..200),
        ) {
            run(max, ops)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Queues of hundreds: the slab renumbering runs too.
        #[test]
        fn behaves_like_the_reference_model_at_size(
            max in 100usize..300,
            ops in proptest::collection::vec(op(300), 0..1500),
        ) {
            run(max, ops)?;
        }
    }
}

//! The membership table: one compact slot per known member, an O(1) address
//! index, O(1) uniform sampling by state, metadata on the side, and the
//! precedence rules.

use crate::hash::KeyedState;
use crate::wire::State;
use crate::Addr;
use bytes::Bytes;
use core::hash::BuildHasher;
use hashbrown::HashTable;
use std::collections::BTreeMap;

/// Slot index in the table. Stable for a member's lifetime in the table.
pub(crate) type SlotId = u32;

/// One member, 24 bytes with a 6-byte address (the incarnation is two
/// `u32` halves so the slot is 4-aligned, not 8). Metadata lives in a side
/// map: most members have none, and the table dominates memory (a 10,000-node
/// cluster holds 10⁸ slots across its members).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot<A> {
    pub(crate) addr: A,
    inc: [u32; 2],
    pub(crate) state: State,
    /// `false`: the slot is free (on the free list).
    pub(crate) used: bool,
    /// Time of the last change, in deciseconds since the node's epoch
    /// (saturating; 13 years fit).
    pub(crate) changed: u32,
    /// Position of this slot's id in its state's dense list
    /// (`Table::by_state`); meaningless while the slot is free.
    pos: u32,
}

impl<A> Slot<A> {
    pub(crate) fn incarnation(&self) -> u64 {
        (u64::from(self.inc[0]) << 32) | u64::from(self.inc[1])
    }

    fn set_incarnation(&mut self, inc: u64) {
        self.inc = [(inc >> 32) as u32, inc as u32];
    }
}

/// Rank for precedence at equal incarnation.
pub(crate) fn rank(s: State) -> u8 {
    match s {
        State::Alive => 0,
        State::Suspect => 1,
        State::Failed => 2,
        State::Left => 3,
    }
}

/// Does a claim `(inc, state)` override what we hold `(cur_inc, cur)`?
///
/// Higher incarnation wins; at equal incarnation the higher rank wins
/// (Alive < Suspect < Failed < Left). Equal claims do not override.
pub(crate) fn overrides(inc: u64, state: State, cur_inc: u64, cur: State) -> bool {
    inc > cur_inc || (inc == cur_inc && rank(state) > rank(cur))
}

/// Counts by state (occupied slots only).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub(crate) alive: usize,
    pub(crate) suspect: usize,
    pub(crate) failed: usize,
    pub(crate) left: usize,
}

impl Counts {
    fn slot(&mut self, s: State) -> &mut usize {
        match s {
            State::Alive => &mut self.alive,
            State::Suspect => &mut self.suspect,
            State::Failed => &mut self.failed,
            State::Left => &mut self.left,
        }
    }
    /// Alive + Suspect.
    pub(crate) fn live(&self) -> usize {
        self.alive + self.suspect
    }
    pub(crate) fn total(&self) -> usize {
        self.alive + self.suspect + self.failed + self.left
    }
}

/// The table of every member except the local node.
///
/// Besides the slots and the address index, it keeps one dense list of slot
/// ids per state (`by_state`, indexed by [`rank`]); every slot remembers its
/// position there, so a state change, insert or removal moves one id
/// (swap-remove, O(1)), and a uniformly random member of any set of states
/// is one random number and two array reads, however sparse the table is
/// (no rejection sampling over free slots or tombstones, no scan).
#[derive(Clone)]
pub(crate) struct Table<A> {
    slots: Vec<Slot<A>>,
    free: Vec<SlotId>,
    by_state: [Vec<SlotId>; 4],
    index: HashTable<SlotId>,
    hasher: KeyedState,
    meta: BTreeMap<A, Bytes>,
    counts: Counts,
}

impl<A: Addr> Table<A> {
    pub(crate) fn new(hasher: KeyedState) -> Self {
        Table {
            slots: Vec::new(),
            free: Vec::new(),
            by_state: Default::default(),
            index: HashTable::new(),
            hasher,
            meta: BTreeMap::new(),
            counts: Counts::default(),
        }
    }

    pub(crate) fn counts(&self) -> Counts {
        self.counts
    }

    /// Number of slot positions (used or free): the range of `slot_at`.
    pub(crate) fn capacity_slots(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn find(&self, addr: &A) -> Option<SlotId> {
        let hash = self.hasher.hash_one(addr);
        let slots = &self.slots;
        self.index
            .find(hash, |&id| {
                slots.get(id as usize).is_some_and(|s| s.addr == *addr)
            })
            .copied()
    }

    pub(crate) fn get(&self, id: SlotId) -> Option<&Slot<A>> {
        self.slots.get(id as usize).filter(|s| s.used)
    }

    pub(crate) fn lookup(&self, addr: &A) -> Option<&Slot<A>> {
        self.find(addr).and_then(|id| self.get(id))
    }

    /// Slot at a raw position, used or not (for random sampling).
    pub(crate) fn slot_at(&self, pos: usize) -> Option<&Slot<A>> {
        self.slots.get(pos).filter(|s| s.used)
    }

    /// Inserts a new member. The caller checks `max_members` and that the
    /// address is not present.
    pub(crate) fn insert(&mut self, addr: A, incarnation: u64, state: State, now: u32) -> SlotId {
        let mut slot = Slot {
            addr,
            inc: [0, 0],
            state,
            used: true,
            changed: now,
            pos: 0,
        };
        slot.set_incarnation(incarnation);
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(s) = self.slots.get_mut(id as usize) {
                    *s = slot;
                }
                id
            }
            None => {
                if self.slots.len() == self.slots.capacity() {
                    // Grow by a quarter, not double: the table is the
                    // dominant per-member cost.
                    let extra = (self.slots.len() / 4).max(16);
                    self.slots.reserve_exact(extra);
                }
                self.slots.push(slot);
                (self.slots.len() - 1) as SlotId
            }
        };
        let hash = self.hasher.hash_one(addr);
        let slots = &self.slots;
        let hasher = &self.hasher;
        self.index.insert_unique(hash, id, |&other| {
            slots
                .get(other as usize)
                .map_or(0, |s| hasher.hash_one(s.addr))
        });
        *self.counts.slot(state) += 1;
        self.list_push(id, state);
        id
    }

    /// Appends `id` to `state`'s dense list and records its position.
    fn list_push(&mut self, id: SlotId, state: State) {
        let Some(list) = self.by_state.get_mut(usize::from(rank(state))) else {
            return;
        };
        if list.len() == list.capacity() {
            // Same quarter growth as the slots: these lists hold one id per
            // member between them.
            let extra = (list.len() / 4).max(16);
            list.reserve_exact(extra);
        }
        let pos = list.len() as u32;
        list.push(id);
        if let Some(s) = self.slots.get_mut(id as usize) {
            s.pos = pos;
        }
    }

    /// Removes slot `id` (holding `state`) from its dense list: the last id
    /// takes its place.
    fn list_remove(&mut self, id: SlotId, state: State) {
        let Some(pos) = self.slots.get(id as usize).map(|s| s.pos as usize) else {
            return;
        };
        let Some(list) = self.by_state.get_mut(usize::from(rank(state))) else {
            return;
        };
        if list.get(pos) != Some(&id) {
            debug_assert!(false, "slot {id} not at its recorded position");
            return;
        }
        list.swap_remove(pos);
        if let Some(&moved) = list.get(pos) {
            if let Some(s) = self.slots.get_mut(moved as usize) {
                s.pos = pos as u32;
            }
        }
    }

    /// Number of members in any of `states` (each state at most once).
    pub(crate) fn len_in(&self, states: &[State]) -> usize {
        states
            .iter()
            .filter_map(|&s| self.by_state.get(usize::from(rank(s))))
            .map(Vec::len)
            .sum()
    }

    /// The `i`-th member of the concatenation of `states`' dense lists, for
    /// `i < len_in(states)`: with `i` uniform, a uniform member of those
    /// states. O(`states.len()`). The order changes as members change state.
    pub(crate) fn nth_in(&self, states: &[State], mut i: usize) -> Option<(SlotId, &Slot<A>)> {
        for &s in states {
            let list = self.by_state.get(usize::from(rank(s)))?;
            match list.get(i) {
                Some(&id) => return self.get(id).map(|slot| (id, slot)),
                None => i -= list.len(),
            }
        }
        None
    }

    /// Where `id` sits in the concatenation [`nth_in`](Self::nth_in) walks,
    /// if its state is one of `states`.
    pub(crate) fn position_in(&self, states: &[State], id: SlotId) -> Option<usize> {
        let slot = self.get(id)?;
        let mut offset = 0;
        for &s in states {
            if s == slot.state {
                return Some(offset + slot.pos as usize);
            }
            offset += self.by_state.get(usize::from(rank(s)))?.len();
        }
        None
    }

    /// Changes a member's incarnation and state.
    pub(crate) fn set(&mut self, id: SlotId, incarnation: u64, state: State, now: u32) {
        let Some(s) = self.slots.get_mut(id as usize).filter(|s| s.used) else {
            return;
        };
        let old = s.state;
        *self.counts.slot(old) -= 1;
        *self.counts.slot(state) += 1;
        s.set_incarnation(incarnation);
        s.state = state;
        s.changed = now;
        if old != state {
            self.list_remove(id, old);
            self.list_push(id, state);
        }
    }

    /// Forgets a member entirely.
    pub(crate) fn remove(&mut self, id: SlotId) {
        let Some(s) = self.slots.get_mut(id as usize).filter(|s| s.used) else {
            return;
        };
        s.used = false;
        let addr = s.addr;
        let state = s.state;
        *self.counts.slot(state) -= 1;
        let hash = self.hasher.hash_one(addr);
        if let Ok(entry) = self.index.find_entry(hash, |&other| other == id) {
            entry.remove();
        }
        self.meta.remove(&addr);
        self.list_remove(id, state);
        self.free.push(id);
    }

    pub(crate) fn meta(&self, addr: &A) -> Bytes {
        self.meta.get(addr).cloned().unwrap_or_default()
    }

    /// Sets metadata; returns whether it changed.
    pub(crate) fn set_meta(&mut self, addr: A, meta: &Bytes) -> bool {
        if meta.is_empty() {
            return self.meta.remove(&addr).is_some();
        }
        match self.meta.get(&addr) {
            Some(old) if old == meta => false,
            _ => {
                self.meta.insert(addr, meta.clone());
                true
            }
        }
    }

    /// Every used slot, in slot order (deterministic; callers that promise
    /// address order sort).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (SlotId, &Slot<A>)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.used)
            .map(|(i, s)| (i as SlotId, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddrV4;

    fn a(i: u32) -> SocketAddrV4 {
        SocketAddrV4::new(i.into(), 7946)
    }

    #[test]
    fn precedence_rules() {
        use State::*;
        assert!(overrides(2, Alive, 1, Failed));
        assert!(!overrides(1, Alive, 1, Suspect));
        assert!(overrides(1, Suspect, 1, Alive));
        assert!(overrides(1, Failed, 1, Suspect));
        assert!(overrides(1, Left, 1, Failed));
        assert!(!overrides(1, Alive, 1, Alive));
        assert!(!overrides(0, Left, 1, Alive));
    }

    #[test]
    fn insert_find_remove_reuse() {
        let mut t = Table::new(KeyedState::new(1, 2));
        for i in 0..100 {
            t.insert(a(i), 0, State::Alive, 0);
        }
        assert_eq!(t.counts().alive, 100);
        let id = t.find(&a(42)).unwrap();
        assert_eq!(t.get(id).unwrap().addr, a(42));
        t.set(id, 3, State::Failed, 5);
        assert_eq!(t.counts().failed, 1);
        t.remove(id);
        assert!(t.find(&a(42)).is_none());
        assert_eq!(t.counts().total(), 99);
        let id2 = t.insert(a(1000), 0, State::Alive, 0);
        assert_eq!(id2, id, "freed slot is reused");
        assert_eq!(t.find(&a(1000)), Some(id2));
        for i in 0..100 {
            if i != 42 {
                assert!(t.find(&a(i)).is_some(), "{i}");
            }
        }
    }

    /// Every used slot sits exactly once in its state's list, at its
    /// recorded position; the lists hold nothing else.
    fn check_lists(t: &Table<SocketAddrV4>) {
        let mut listed = 0;
        for (r, list) in t.by_state.iter().enumerate() {
            for (pos, &id) in list.iter().enumerate() {
                let s = t.get(id).expect("listed slot is used");
                assert_eq!(usize::from(rank(s.state)), r);
                assert_eq!(s.pos as usize, pos);
            }
            listed += list.len();
        }
        assert_eq!(listed, t.counts().total());
        assert_eq!(t.iter().count(), listed);
    }

    #[test]
    fn state_lists_follow_every_change() {
        use State::*;
        let states = [Alive, Suspect, Failed, Left];
        let mut rng = crate::rng::Rng::new(9);
        let mut t = Table::new(KeyedState::new(3, 4));
        let mut present: Vec<u32> = Vec::new();
        for step in 0..5_000u32 {
            let op = rng.below(10);
            if op < 4 || present.is_empty() {
                let a_ = 10_000 + step;
                t.insert(a(a_), 0, states[rng.below(4)], 0);
                present.push(a_);
            } else if op < 8 {
                let a_ = present[rng.below(present.len())];
                let id = t.find(&a(a_)).unwrap();
                t.set(id, 1, states[rng.below(4)], 1);
            } else {
                let i = rng.below(present.len());
                let a_ = present.swap_remove(i);
                t.remove(t.find(&a(a_)).unwrap());
            }
            if step % 97 == 0 {
                check_lists(&t);
            }
        }
        check_lists(&t);
        // nth_in walks exactly the members of the asked states, and
        // position_in inverts it.
        for set in [
            &[Alive, Suspect][..],
            &[Failed][..],
            &[Failed, Left][..],
            &states[..],
        ] {
            let n = t.len_in(set);
            let want = t.iter().filter(|(_, s)| set.contains(&s.state)).count();
            assert_eq!(n, want);
            let mut seen: Vec<SlotId> = (0..n)
                .map(|i| {
                    let (id, s) = t.nth_in(set, i).unwrap();
                    assert!(set.contains(&s.state));
                    assert_eq!(t.position_in(set, id), Some(i));
                    id
                })
                .collect();
            assert!(t.nth_in(set, n).is_none());
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), n);
        }
    }

    #[test]
    fn slot_is_compact() {
        assert_eq!(core::mem::size_of::<Slot<SocketAddrV4>>(), 24);
    }
}

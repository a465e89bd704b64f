//! The one event queue: a min-heap ordered by `(time, sequence)`, so
//! delivery order is total and a run is a pure function of its seed.

use crate::NodeId;
use bytes::Bytes;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Something that happens at a virtual instant.
#[derive(Debug)]
pub(crate) enum Ev {
    /// A datagram reaches `to` (`stage`: fresh from the network, already
    /// delayed by a slow node, or released from a paused node's buffer).
    Deliver {
        from: NodeId,
        to: NodeId,
        payload: Bytes,
        stage: Stage,
    },
    /// A node's protocol timer, valid only for that node `generation`.
    Timer { node: NodeId, generation: u32 },
    /// Entry `index` of the fault timeline.
    Fault(u32),
    /// Periodic sampling of views, convergence and progress.
    Sample,
}

/// Where a datagram is on its way into a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Just arrived from the network.
    Fresh,
    /// Already delayed by the slow node's lag.
    Lagged,
    /// Was queued while the node was paused.
    Buffered,
}

#[derive(Debug)]
struct Entry {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap, we pop the earliest first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Events by `(time in ns, insertion sequence)`.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

impl Queue {
    /// Schedules `ev` at `at` (ns of virtual time).
    pub(crate) fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            ev,
        });
    }

    /// The earliest event, if any.
    pub(crate) fn pop(&mut self) -> Option<(u64, Ev)> {
        self.heap.pop().map(|e| (e.at, e.ev))
    }

    /// Time of the earliest event.
    pub(crate) fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|e| e.at)
    }

    /// Events waiting.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_insertion() {
        let mut q = Queue::default();
        q.push(5, Ev::Fault(0));
        q.push(3, Ev::Fault(1));
        q.push(5, Ev::Fault(2));
        q.push(3, Ev::Fault(3));
        let order: Vec<u32> = std::iter::from_fn(|| q.pop())
            .map(|(_, e)| match e {
                Ev::Fault(i) => i,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, [1, 3, 0, 2]);
    }
}

//! A tiny deterministic network of nodes on virtual time, for the core's
//! own tests. (The full simulator, with faults and metrics, is swim-sim.)

use crate::{Action, Config, Event, State, Swim};
use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

pub(crate) type A = SocketAddrV4;

pub(crate) fn addr(i: usize) -> A {
    SocketAddrV4::new([10, 0, (i >> 8) as u8, i as u8].into(), 7946)
}

/// An event as a node reported it, with the virtual time.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) at: Duration,
    pub(crate) node: usize,
    pub(crate) event: Event<A>,
}

/// A datagram on the wire: (deliver at, sequence, from, to, bytes).
type InFlight = (Duration, u64, usize, usize, Bytes);

pub(crate) struct Net {
    pub(crate) start: Instant,
    pub(crate) now: Duration,
    pub(crate) nodes: Vec<Option<Swim<A>>>,
    queue: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    rng: crate::rng::Rng,
    /// Directed links that drop everything.
    pub(crate) blocked: BTreeSet<(usize, usize)>,
    /// Drop probability for every datagram.
    pub(crate) loss: f64,
    pub(crate) events: Vec<Seen>,
    pub(crate) max_datagram: usize,
    pub(crate) datagrams: u64,
    /// When set, every datagram sent is recorded here: (from, to, bytes).
    pub(crate) tap: Option<Vec<(usize, usize, Bytes)>>,
}

impl Net {
    pub(crate) fn new(n: usize, config: Config, seed: u64) -> Net {
        let nodes = (0..n)
            .map(|i| {
                Some(
                    Swim::new(
                        addr(i),
                        config.clone(),
                        seed.wrapping_mul(1000).wrapping_add(i as u64),
                    )
                    .unwrap(),
                )
            })
            .collect();
        #[expect(
            clippy::disallowed_methods,
            reason = "one real Instant as the origin; all later time is virtual"
        )]
        let start = Instant::now();
        Net {
            start,
            now: Duration::ZERO,
            nodes,
            queue: BinaryHeap::new(),
            seq: 0,
            rng: crate::rng::Rng::new(seed),
            blocked: BTreeSet::new(),
            loss: 0.0,
            events: Vec::new(),
            max_datagram: 0,
            datagrams: 0,
            tap: None,
        }
    }

    pub(crate) fn index(&self, a: A) -> usize {
        let o = a.ip().octets();
        (usize::from(o[2]) << 8) | usize::from(o[3])
    }

    fn perform(&mut self, node: usize, actions: Vec<Action<A>>) {
        for a in actions {
            match a {
                Action::Send { to, payload } => {
                    self.datagrams += 1;
                    self.max_datagram = self.max_datagram.max(payload.len());
                    let to = self.index(to);
                    if let Some(tap) = self.tap.as_mut() {
                        tap.push((node, to, payload.clone()));
                    }
                    if to >= self.nodes.len() {
                        continue;
                    }
                    if self.blocked.contains(&(node, to)) || self.rng.unit() < self.loss {
                        continue;
                    }
                    let latency = Duration::from_micros(1000 + self.rng.below(4000) as u64);
                    self.seq += 1;
                    self.queue
                        .push(Reverse((self.now + latency, self.seq, node, to, payload)));
                }
                Action::Event(event) => self.events.push(Seen {
                    at: self.now,
                    node,
                    event,
                }),
            }
        }
    }

    /// Injects a datagram as if `from` had sent it to `to`.
    pub(crate) fn inject(&mut self, from: A, to: usize, bytes: &[u8]) {
        let now = self.start + self.now;
        if let Some(n) = self.nodes[to].as_mut() {
            let actions = n.handle_datagram(now, from, bytes);
            self.perform(to, actions);
        }
    }

    /// Node `i` starts leaving; its notice goes through the network.
    pub(crate) fn leave(&mut self, i: usize) {
        let now = self.start + self.now;
        if let Some(n) = self.nodes[i].as_mut() {
            let actions = n.leave(now);
            self.perform(i, actions);
        }
    }

    /// Node `i` joins through `seed` (or starts the cluster if `i == seed`).
    pub(crate) fn join(&mut self, i: usize, seed: usize) {
        let now = self.start + self.now;
        let seeds = if i == seed { vec![] } else { vec![addr(seed)] };
        if let Some(n) = self.nodes[i].as_mut() {
            let actions = n.join(now, &seeds);
            self.perform(i, actions);
        }
    }

    pub(crate) fn join_all_through(&mut self, seed: usize) {
        let now = self.start + self.now;
        for i in 0..self.nodes.len() {
            let seeds = if i == seed { vec![] } else { vec![addr(seed)] };
            if let Some(n) = self.nodes[i].as_mut() {
                let actions = n.join(now, &seeds);
                self.perform(i, actions);
            }
        }
    }

    pub(crate) fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next_msg = self.queue.peek().map(|Reverse(m)| m.0);
            let next_timer = self
                .nodes
                .iter()
                .enumerate()
                .filter_map(|(i, n)| {
                    n.as_ref()
                        .and_then(|n| n.next_deadline())
                        .map(|t| (t - self.start, i))
                })
                .min();
            let msg_first = match (next_msg, next_timer) {
                (Some(m), Some((t, _))) => m <= t,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let at = if msg_first {
                next_msg.unwrap()
            } else {
                next_timer.unwrap().0
            };
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            let now = self.start + self.now;
            if msg_first {
                let Reverse((_, _, from, to, payload)) = self.queue.pop().unwrap();
                if let Some(n) = self.nodes[to].as_mut() {
                    let actions = n.handle_datagram(now, addr(from), &payload);
                    self.perform(to, actions);
                }
            } else {
                let i = next_timer.unwrap().1;
                let actions = self.nodes[i].as_mut().unwrap().tick(now);
                self.perform(i, actions);
            }
        }
        self.now = end;
    }

    pub(crate) fn crash(&mut self, i: usize) {
        self.nodes[i] = None;
    }

    pub(crate) fn node_opt(&self, i: usize) -> Option<&Swim<A>> {
        self.nodes.get(i).and_then(Option::as_ref)
    }

    pub(crate) fn node(&self, i: usize) -> &Swim<A> {
        self.nodes[i].as_ref().unwrap()
    }

    pub(crate) fn node_mut(&mut self, i: usize) -> &mut Swim<A> {
        self.nodes[i].as_mut().unwrap()
    }

    /// The state node `i` holds for member `j` (None: unknown).
    pub(crate) fn view(&self, i: usize, j: usize) -> Option<State> {
        self.node(i).member(&addr(j)).map(|m| m.state)
    }

    /// Whether every running node sees every other running node Alive.
    pub(crate) fn converged(&self) -> bool {
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].is_some())
            .collect();
        up.iter().all(|&i| {
            up.iter()
                .all(|&j| i == j || self.view(i, j) == Some(State::Alive))
        })
    }

    pub(crate) fn events_about(&self, j: usize) -> impl Iterator<Item = &Seen> {
        let a = addr(j);
        self.events.iter().filter(move |s| match &s.event {
            Event::Joined { member, .. }
            | Event::Updated { member, .. }
            | Event::Suspected { member }
            | Event::Alive { member }
            | Event::Failed { member }
            | Event::Left { member } => *member == a,
            Event::Message { .. } => false,
        })
    }

    /// Runs in steps of `step` until `cond` holds or `limit` passes; returns
    /// the virtual time it took.
    pub(crate) fn run_until(
        &mut self,
        limit: Duration,
        step: Duration,
        cond: impl Fn(&Net) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        while self.now - start < limit {
            if cond(self) {
                return Some(self.now - start);
            }
            self.run_for(step);
        }
        cond(self).then(|| self.now - start)
    }
}

//! Hot paths of the protocol machine at 100, 1,000 and 10,000 members.
//!
//! Run: `cargo bench -p swim-core --bench core`
//!
//! * `ping_ack`: a ping arrives, the ack goes out (steady state: nothing
//!   queued to piggyback).
//! * `gossip_8_fresh_updates`: a gossip datagram with 8 updates that each
//!   change our view (a higher incarnation), applied and queued.
//! * `probe_packed_from_full_backlog`: the probe timer fires with thousands
//!   of updates queued; the ping is packed to `max_packet_size`. (An *ack* is
//!   never packed from the whole backlog here: replies are capped at three
//!   times the request's size, so this is the path that packs full
//!   datagrams.)
//! * `ping_ack_full_queue`: a ping with nothing piggybacked arrives at a
//!   node whose update queue is at its cap (min(n, 4,096)) after 3,000
//!   datagrams of churn; the ack packs what its reply budget allows.
//! * `ping_8_fresh_ack_full_queue`: the same node; the ping carries 8 fresh
//!   updates (higher incarnations, so each is applied and queued: a
//!   replacement, or an eviction when n > 4,096) and the ack, with a
//!   larger reply budget, packs about 25 updates from the queue.
//!
//! The last two run >= 5,000 iterations on one node (no clone): the queue's
//! history (taken, replaced and evicted items) is part of what is measured.

#![allow(
    clippy::disallowed_methods,
    reason = "a bench needs one real Instant as its origin"
)]

use divan::{black_box, Bencher};
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};
use swim_core::wire::{self, Body, Packet, Update, UpdateKind};
use swim_core::{Action, Config, Swim};

fn main() {
    divan::main();
}

const SIZES: &[usize] = &[100, 1_000, 10_000];

fn addr(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new([10, (i >> 16) as u8, (i >> 8) as u8, i as u8].into(), 7946)
}

fn config() -> Config {
    let mut c = Config::lan();
    c.gossip_fanout = 0;
    c.sync_interval = None;
    c.reconnect_interval = None;
    c
}

fn alive(i: usize, inc: u64) -> Update<SocketAddrV4> {
    Update {
        addr: addr(i),
        incarnation: inc,
        kind: UpdateKind::Alive {
            meta: bytes::Bytes::new(),
        },
    }
}

fn gossip(updates: Vec<Update<SocketAddrV4>>) -> Vec<u8> {
    wire::encode(&Packet {
        body: Body::Gossip,
        updates,
        broadcasts: vec![],
    })
}

/// A node that knows `n` members (1..=n) and, if `drain`, has nothing left
/// to disseminate.
fn node(n: usize, drain: bool) -> (Swim<SocketAddrV4>, Instant) {
    let t0 = Instant::now();
    let mut node = Swim::new(addr(0), config(), 1).unwrap();
    let _ = node.tick(t0);
    let all: Vec<_> = (1..=n).map(|i| alive(i, 0)).collect();
    for chunk in all.chunks(100) {
        let _ = node.handle_datagram(t0, addr(1), &gossip(chunk.to_vec()));
    }
    if drain {
        // Piggyback everything away on pings sent to ourselves' peers.
        let mut seq = 0;
        loop {
            seq += 1;
            let ping = wire::encode(&Packet {
                body: Body::Ping { seq },
                updates: (1..=100).map(|i| alive(i, 0)).collect(),
                broadcasts: vec![],
            });
            let acks = node.handle_datagram(t0, addr(1), &ping);
            let carried = acks.iter().any(|a| match a {
                Action::Send { payload, .. } => {
                    let limits = wire::Limits {
                        max_meta_size: 512,
                        max_payload_size: 1024,
                        max_items: 2000,
                    };
                    wire::decode::<SocketAddrV4>(payload, &limits)
                        .map(|p| !p.updates.is_empty())
                        .unwrap_or(false)
                }
                _ => false,
            });
            if !carried || seq > 1_000_000 {
                break;
            }
        }
    }
    (node, t0)
}

#[divan::bench(args = SIZES)]
fn ping_ack(b: Bencher, n: usize) {
    let (mut node, t) = node(n, true);
    let ping = wire::encode(&Packet::<SocketAddrV4> {
        body: Body::Ping { seq: 77 },
        updates: vec![],
        broadcasts: vec![],
    });
    let from = addr(n / 2);
    b.bench_local(|| black_box(node.handle_datagram(t, from, black_box(&ping))));
}

#[divan::bench(args = SIZES)]
fn gossip_8_fresh_updates(b: Bencher, n: usize) {
    let (mut node, t) = node(n, true);
    let mut round = 0u64;
    let from = addr(1);
    b.with_inputs(|| {
        round += 1;
        let ups = (0..8)
            .map(|j| alive(1 + ((round as usize * 8 + j) % n), round))
            .collect();
        gossip(ups)
    })
    .bench_local_values(|d| black_box(node.handle_datagram(t, from, &d)));
}

// One fresh clone per sample, timed right after it is made (so it is as
// hot in cache as a long-running node's state).
#[divan::bench(args = SIZES, sample_count = 300, sample_size = 1)]
fn probe_packed_from_full_backlog(b: Bencher, n: usize) {
    let (base, t) = node(n, false);
    let due = t + Duration::from_secs(2);
    b.with_inputs(|| base.clone()).bench_local_refs(|node| {
        let out = node.tick(due);
        debug_assert!(out
            .iter()
            .any(|a| matches!(a, Action::Send { payload, .. } if payload.len() > 1000)));
        black_box(out)
    });
}

/// Fresh Alive updates for members 1..=n, round-robin, each at a higher
/// incarnation than the last one about the same member.
struct Fresh {
    n: usize,
    next: usize,
}

impl Fresh {
    fn take(&mut self, k: usize) -> Vec<Update<SocketAddrV4>> {
        (0..k)
            .map(|_| {
                let (i, inc) = (self.next % self.n, self.next / self.n + 1);
                self.next += 1;
                alive(1 + i, inc as u64)
            })
            .collect()
    }
}

fn ping_with(seq: u32, updates: Vec<Update<SocketAddrV4>>) -> Vec<u8> {
    wire::encode(&Packet {
        body: Body::Ping { seq },
        updates,
        broadcasts: vec![],
    })
}

/// A node of `n` members whose update queue is at its cap and has served
/// 3,000 pings, each bringing 8 fresh updates (the churn regime).
fn churned(n: usize) -> (Swim<SocketAddrV4>, Instant, Fresh) {
    let (mut node, t) = node(n, false);
    let mut fresh = Fresh { n, next: 0 };
    let from = addr(n / 2);
    for seq in 0..3_000 {
        let _ = node.handle_datagram(t, from, &ping_with(seq, fresh.take(8)));
    }
    let queued = swim_core::fuzzing::footprint(&node).updates;
    assert_eq!(
        queued,
        n.min(node.config().max_update_queue),
        "queue at its cap"
    );
    (node, t, fresh)
}

#[divan::bench(args = SIZES, sample_count = 100, sample_size = 50)]
fn ping_ack_full_queue(b: Bencher, n: usize) {
    let (mut node, t, _) = churned(n);
    let ping = ping_with(77, vec![]);
    let from = addr(n / 2);
    b.bench_local(|| black_box(node.handle_datagram(t, from, black_box(&ping))));
}

#[divan::bench(args = SIZES, sample_count = 100, sample_size = 50)]
fn ping_8_fresh_ack_full_queue(b: Bencher, n: usize) {
    let (mut node, t, mut fresh) = churned(n);
    let from = addr(n / 2);
    let mut seq = 0;
    b.with_inputs(|| {
        seq += 1;
        ping_with(seq, fresh.take(8))
    })
    .bench_local_values(|d| black_box(node.handle_datagram(t, from, &d)));
}

//! The dissemination queue (`TxQueue`) at its cap, per datagram, old layout
//! against new in one run.
//!
//! Run: `cargo bench -p swim-core --bench queue`
//!
//! `New` is `src/queue.rs` (per-bucket intrusive lists: no stale entries);
//! `Old` is the layout before issue 11 item 5 (`benches/support/old_queue.rs`:
//! bucket vectors whose taken/replaced/evicted entries go stale until a
//! compaction at `stale > 2 * len + 64`). Both are compiled into this bench
//! from their source files (the queue is crate-private).
//!
//! The regime: `n` members, a queue capped at `min(n, 4,096)` (the
//! `Config::lan()` `max_update_queue`), real `Update<SocketAddrV4>` items
//! (Alive, no metadata: 11–13 bytes on the wire), packed with the real
//! `PacketBuilder` to `max_packet_size` (1,400 bytes: ~100 updates), with the
//! retransmit limit the node would use (λ·⌈log10(n+1)⌉, at least 2·λ). Before
//! timing, the queue runs 3,000 steady-state datagrams (8 fresh updates
//! pushed, one datagram packed), so the bucket spread and the old layout's
//! stale entries are what a long-running node has.
//!
//! * `push_into_full`: one fresh update pushed (round-robin over members, a
//!   higher incarnation): a replacement when every member is queued
//!   (n ≤ 4,096), an eviction of the most-sent item otherwise.
//! * `pack_datagram`: one datagram packed from the full queue; before each
//!   (untimed) 8 fresh updates are pushed, as under churn.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "the queue sources are compiled here for their bench-facing subset"
)]

#[path = "../src/hash.rs"]
mod hash;
#[path = "support/old_queue.rs"]
mod old_queue;
#[path = "../src/queue.rs"]
mod queue;

use divan::{black_box, Bencher};
use hash::KeyedState;
use std::cell::RefCell;
use std::net::SocketAddrV4;
use swim_core::wire::{Body, PacketBuilder, Update, UpdateKind};
use swim_core::Config;

fn main() {
    divan::main();
}

const SIZES: &[usize] = &[100, 1_000, 10_000];
/// Fresh updates arriving per datagram sent (churn).
const PUSHES_PER_DATAGRAM: usize = 8;
/// Items that did not fit passed over before giving up (as `gossip.rs`).
const MAX_SKIPS: usize = 8;
const WARMUP_DATAGRAMS: usize = 3_000;

type U = Update<SocketAddrV4>;

/// The queue operations the protocol uses, for both layouts.
trait Queue {
    fn new(max: usize) -> Self;
    fn push(&mut self, key: SocketAddrV4, u: U) -> bool;
    fn pack(&mut self, limit: u32, b: &mut PacketBuilder<SocketAddrV4>) -> usize;
}

macro_rules! impl_queue {
    ($name:ident, $m:ident) => {
        struct $name($m::TxQueue<SocketAddrV4, U>);
        impl Queue for $name {
            fn new(max: usize) -> Self {
                $name($m::TxQueue::new(max, KeyedState::new(1, 2)))
            }
            fn push(&mut self, key: SocketAddrV4, u: U) -> bool {
                self.0.push(key, u)
            }
            fn pack(&mut self, limit: u32, b: &mut PacketBuilder<SocketAddrV4>) -> usize {
                let mut n = 0;
                self.0.select(limit, MAX_SKIPS, |u| {
                    if b.remaining() < 4 {
                        return $m::Offer::Stop;
                    }
                    if b.push_update(u) {
                        n += 1;
                        $m::Offer::Taken
                    } else {
                        $m::Offer::Skipped
                    }
                });
                n
            }
        }
    };
}
impl_queue!(Old, old_queue);
impl_queue!(New, queue);

fn addr(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new([10, (i >> 16) as u8, (i >> 8) as u8, i as u8].into(), 7946)
}

/// A queue of `n` members' updates in steady state, and the source of
/// fresh updates.
struct Regime<Q> {
    q: Q,
    n: usize,
    next: usize,
    limit: u32,
    max_packet: usize,
}

impl<Q: Queue> Regime<Q> {
    fn new(n: usize) -> Self {
        let c = Config::lan();
        let log = ((n + 2) as f64).log10().ceil().max(2.0) as u32;
        let mut r = Regime {
            q: Q::new(c.max_update_queue.min(n)),
            n,
            next: 0,
            limit: c.retransmit_mult * log,
            max_packet: c.max_packet_size,
        };
        for _ in 0..n {
            r.push_fresh();
        }
        for _ in 0..WARMUP_DATAGRAMS {
            for _ in 0..PUSHES_PER_DATAGRAM {
                r.push_fresh();
            }
            r.pack();
        }
        r
    }

    /// Pushes news about the next member (round-robin), at a higher
    /// incarnation than the last.
    fn push_fresh(&mut self) -> bool {
        let i = self.next % self.n;
        let inc = (self.next / self.n) as u64 + 1;
        self.next += 1;
        let u = Update {
            addr: addr(i + 1),
            incarnation: inc,
            kind: UpdateKind::Alive {
                meta: bytes::Bytes::new(),
            },
        };
        self.q.push(u.addr, u)
    }

    /// Packs one ping datagram; returns how many updates went in.
    fn pack(&mut self) -> usize {
        let mut b =
            PacketBuilder::new(&Body::Ping { seq: 1 }, self.max_packet).expect("a ping fits");
        let n = self.q.pack(self.limit, &mut b);
        black_box(b.finish());
        n
    }
}

#[divan::bench(types = [Old, New], args = SIZES, sample_count = 100, sample_size = 50)]
fn push_into_full<Q: Queue>(b: Bencher, n: usize) {
    let mut r = Regime::<Q>::new(n);
    b.bench_local(|| black_box(r.push_fresh()));
}

#[divan::bench(types = [Old, New], args = SIZES, sample_count = 5_000, sample_size = 1)]
fn pack_datagram<Q: Queue>(b: Bencher, n: usize) {
    let r = RefCell::new(Regime::<Q>::new(n));
    b.with_inputs(|| {
        let mut r = r.borrow_mut();
        for _ in 0..PUSHES_PER_DATAGRAM {
            r.push_fresh();
        }
    })
    .bench_local_values(|()| {
        let packed = r.borrow_mut().pack();
        black_box(packed)
    });
}

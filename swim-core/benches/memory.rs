//! Heap bytes per known member, measured with a counting allocator.
//!
//! Run: `cargo bench -p swim-core --bench memory`
//!
//! A node learns `n` members (Alive, no metadata, `SocketAddrV4` addresses),
//! every update is disseminated until the queue is empty (steady state), and
//! the heap it holds is divided by `n`.

#![allow(
    unsafe_code,
    reason = "a counting GlobalAlloc needs unsafe impl; bench only"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "a bench needs one real Instant as its origin"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};
use swim_core::wire::{self, Body, Packet, Update, UpdateKind};
use swim_core::{Config, Swim};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn addr(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new([10, (i >> 16) as u8, (i >> 8) as u8, i as u8].into(), 7946)
}

fn main() {
    println!("| members | heap bytes | bytes per member |");
    println!("|---:|---:|---:|");
    for n in [100usize, 1_000, 10_000, 50_000] {
        let t0 = Instant::now();
        let mut config = Config::lan();
        config.sync_interval = None;
        config.reconnect_interval = None;
        config.probe_interval = Duration::from_secs(3600);
        config.probe_timeout = Duration::from_secs(1);
        config.retention = Duration::from_secs(1_000_000);
        let before = LIVE.load(Ordering::Relaxed);
        let mut node = Swim::new(addr(0), config, 1).unwrap();
        let _ = node.tick(t0);
        let empty = LIVE.load(Ordering::Relaxed) - before;
        let all: Vec<_> = (1..=n)
            .map(|i| Update {
                addr: addr(i),
                incarnation: 0,
                kind: UpdateKind::Alive {
                    meta: bytes::Bytes::new(),
                },
            })
            .collect();
        for chunk in all.chunks(100) {
            let d = wire::encode(&Packet {
                body: Body::Gossip,
                updates: chunk.to_vec(),
                broadcasts: vec![],
            });
            let _ = node.handle_datagram(t0, addr(1), &d);
        }
        drop(all);
        // Dedicated gossip until every update used its retransmit budget.
        let mut t = t0;
        for _ in 0..1_000_000 {
            t += Duration::from_millis(200);
            let out = node.tick(t);
            if out.is_empty() {
                break;
            }
        }
        let held = LIVE.load(Ordering::Relaxed) - before - empty;
        println!("| {n} | {held} | {:.1} |", held as f64 / n as f64);
        assert_eq!(node.live_members(), n);
        drop(node);
    }
}

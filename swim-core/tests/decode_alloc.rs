//! `wire::decode` allocates in proportion to the datagram: the bound its
//! documentation states, checked with a counting allocator on worst-case
//! datagrams (as many minimum-size items as fit), on random packets, and on
//! every truncation of them (decodes that fail part-way).
//!
//! One test in this binary: the counters are per thread, but one test keeps
//! the harness from allocating on the same thread meanwhile.

#![allow(
    unsafe_code,
    reason = "a counting GlobalAlloc needs unsafe impl; test only"
)]
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "test code"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use swim_core::wire::{
    self, Body, Broadcast, Limits, Packet, Update, UpdateKind, MEMBERS_JOIN_REPLY,
};
use swim_core::Addr;

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn add(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + delta;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        add(l.size() as isize);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        add(-(l.size() as isize));
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        add(new as isize - l.size() as isize);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The bound `wire::decode`'s documentation states.
fn bound<A: Addr>(len: usize) -> usize {
    let per_update = size_of::<Update<A>>().div_ceil(wire::min_update_len::<A>());
    let per_broadcast = size_of::<Broadcast<A>>().div_ceil(wire::min_broadcast_len::<A>());
    len * (1 + per_update.max(per_broadcast))
}

/// Peak heap bytes held while decoding `bytes` (the decoded packet
/// included), and whether it decoded.
fn peak_decode<A: Addr>(bytes: &[u8]) -> (usize, bool) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let ok = {
        let packet = wire::decode::<A>(bytes, &Limits::UNLIMITED);
        let ok = packet.is_ok();
        drop(std::hint::black_box(packet));
        ok
    };
    (PEAK.with(Cell::get).saturating_sub(base) as usize, ok)
}

/// A tiny deterministic generator (no dependency for a test).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

trait Gen: Addr {
    fn gen(i: usize, rng: &mut Lcg) -> Self;
}
impl Gen for SocketAddrV4 {
    fn gen(i: usize, _: &mut Lcg) -> Self {
        SocketAddrV4::new([10, 0, (i >> 8) as u8, i as u8].into(), 7946)
    }
}
impl Gen for SocketAddr {
    fn gen(i: usize, rng: &mut Lcg) -> Self {
        if rng.below(4) == 0 {
            SocketAddr::V6(SocketAddrV6::new(
                [0xfd00, 0, 0, 0, 0, 0, 0, i as u16].into(),
                7946,
                0,
                0,
            ))
        } else {
            SocketAddr::V4(SocketAddrV4::gen(i, rng))
        }
    }
}

fn update<A: Gen>(i: usize, rng: &mut Lcg, minimal: bool) -> Update<A> {
    let addr = if minimal {
        A::gen(i, &mut Lcg(1))
    } else {
        A::gen(i, rng)
    };
    if minimal {
        return Update {
            addr,
            incarnation: 0,
            kind: UpdateKind::Left,
        };
    }
    let kind = match rng.below(4) {
        0 => UpdateKind::Alive {
            meta: vec![7u8; rng.below(3) * rng.below(64)].into(),
        },
        1 => UpdateKind::Suspect {
            by: A::gen(i + 1, rng),
        },
        2 => UpdateKind::Failed {
            by: A::gen(i + 2, rng),
        },
        _ => UpdateKind::Left,
    };
    Update {
        addr,
        incarnation: rng.below(1 << 20) as u64,
        kind,
    }
}

fn broadcast<A: Gen>(i: usize, rng: &mut Lcg, minimal: bool) -> Broadcast<A> {
    Broadcast {
        origin: A::gen(i, &mut Lcg(1)),
        id: if minimal { 0 } else { rng.below(1000) as u64 },
        payload: if minimal {
            bytes::Bytes::new()
        } else {
            vec![1u8; rng.below(200)].into()
        },
    }
}

/// Worst cases (only minimum-size items, in each list) and random packets.
fn packets<A: Gen>() -> Vec<Vec<u8>> {
    let mut rng = Lcg(42);
    let mut out = Vec::new();
    for n in [0usize, 1, 2, 3, 10, 100, 155, 1_000, 7_000] {
        let ups: Vec<Update<A>> = (0..n).map(|i| update(i, &mut rng, true)).collect();
        let bcs: Vec<Broadcast<A>> = (0..n).map(|i| broadcast(i, &mut rng, true)).collect();
        for (body, updates, broadcasts) in [
            (Body::Gossip, ups.clone(), vec![]),
            (Body::Gossip, vec![], bcs.clone()),
            (
                Body::Members {
                    seq: 1,
                    flags: MEMBERS_JOIN_REPLY,
                    cursor: 0,
                    records: ups.clone(),
                },
                vec![],
                vec![],
            ),
        ] {
            out.push(wire::encode(&Packet {
                body,
                updates,
                broadcasts,
            }));
        }
    }
    for _ in 0..300 {
        let body = match rng.below(4) {
            0 => Body::<A>::Ping { seq: 9 },
            1 => Body::Members {
                seq: 2,
                flags: MEMBERS_JOIN_REPLY,
                cursor: 5,
                records: (0..rng.below(40))
                    .map(|i| update::<A>(i, &mut rng, false))
                    .collect(),
            },
            2 => Body::User {
                payload: vec![3u8; rng.below(300)].into(),
            },
            _ => Body::Gossip,
        };
        let updates = (0..rng.below(40))
            .map(|i| update::<A>(i, &mut rng, false))
            .collect();
        let broadcasts = (0..rng.below(5))
            .map(|i| broadcast(i, &mut rng, false))
            .collect();
        out.push(wire::encode(&Packet {
            body,
            updates,
            broadcasts,
        }));
    }
    out
}

/// Largest peak/len ratio seen (successful decodes, len >= 64).
fn check<A: Gen>(name: &str) -> f64 {
    let mut worst: f64 = 0.0;
    let mut decoded = 0;
    for p in packets::<A>() {
        // The whole packet, then every truncation of the smaller ones and
        // a sample of the larger ones' (they fail part-way, after
        // reserving).
        let step = (p.len() / 200).max(1);
        for end in (0..=p.len()).rev().step_by(step) {
            let bytes = &p[..end];
            let (peak, ok) = peak_decode::<A>(bytes);
            assert!(
                peak <= bound::<A>(bytes.len()),
                "{name}: {peak} bytes allocated decoding {} bytes (bound {})",
                bytes.len(),
                bound::<A>(bytes.len())
            );
            if ok {
                decoded += 1;
                if bytes.len() >= 64 {
                    worst = worst.max(peak as f64 / bytes.len() as f64);
                }
            }
        }
    }
    assert!(decoded > 300, "{name}: the generator makes valid packets");
    worst
}

#[test]
fn decode_allocates_at_most_the_documented_multiple_of_the_datagram() {
    let v4 = check::<SocketAddrV4>("SocketAddrV4");
    let any = check::<SocketAddr>("SocketAddr");
    println!(
        "SocketAddrV4: bound {}x, worst seen {v4:.2}x; SocketAddr: bound {}x, worst seen {any:.2}x",
        bound::<SocketAddrV4>(1),
        bound::<SocketAddr>(1)
    );
    // The bound is tight enough to mean something: the worst case (only
    // minimum-size updates) comes within one byte per byte of it.
    assert!(
        any + 1.0 >= (bound::<SocketAddr>(1) - 1) as f64 - 0.5,
        "{any}"
    );
}

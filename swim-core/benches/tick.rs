//! `tick` (every timer) at 100, 1,000 and 10,000 members, in the two regimes
//! where table scans used to hide: Failed members are rare (one of the
//! table), and the table is sparse (mostly `Left` tombstones: 1% live, or
//! only 10 live).
//!
//! Run: `cargo bench -p swim-core --bench tick`
//!
//! A node learns `n` members, hears the failures/leaves, and then runs its
//! timers in virtual time: each iteration jumps to `next_deadline()` and
//! calls `tick` (timed); every probe ping to a live member is answered with
//! an ack (untimed), so the regime holds. 2,000 warm-up ticks (the update
//! queue drains), then 6,000 timed ticks. Printed: mean, median, p99 and
//! max nanoseconds per `tick`, and the timers that fired.

#![allow(
    clippy::disallowed_methods,
    reason = "a bench needs real Instants to time, and one as its origin"
)]

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};
use swim_core::wire::{self, Body, Packet, Update, UpdateKind};
use swim_core::{Action, Config, Swim};

const WARMUP: usize = 2_000;
const TIMED: usize = 6_000;

fn addr(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new([10, (i >> 16) as u8, (i >> 8) as u8, i as u8].into(), 7946)
}

fn packet(body: Body<SocketAddrV4>, updates: Vec<Update<SocketAddrV4>>) -> Vec<u8> {
    wire::encode(&Packet {
        body,
        updates,
        broadcasts: vec![],
    })
}

#[derive(Clone, Copy, Debug)]
enum Regime {
    /// One Failed member (the last), the rest Alive.
    RareFailed,
    /// 1% of members (at least 2) Alive, the rest Left.
    Sparse,
    /// 10 members Alive, the rest Left (the probe walk's worst case).
    TenLive,
}

impl Regime {
    fn live(self, n: usize, i: usize) -> bool {
        match self {
            Regime::RareFailed => i < n,
            Regime::Sparse => i <= (n / 100).max(2),
            Regime::TenLive => i <= 10,
        }
    }
}

fn run(regime: Regime, n: usize) {
    let t0 = Instant::now();
    let mut config = Config::lan();
    // Tombstones stay for the whole run (the regime must hold).
    config.retention = Duration::from_secs(10_000_000);
    let limits = wire::Limits {
        max_meta_size: config.max_meta_size,
        max_payload_size: config.max_payload_size,
        max_items: 4096,
    };
    let mut node = Swim::new(addr(0), config, 1).unwrap();
    let _ = node.tick(t0);
    let alive: Vec<_> = (1..=n)
        .map(|i| Update {
            addr: addr(i),
            incarnation: 0,
            kind: UpdateKind::Alive {
                meta: bytes::Bytes::new(),
            },
        })
        .collect();
    for chunk in alive.chunks(100) {
        let _ = node.handle_datagram(t0, addr(1), &packet(Body::Gossip, chunk.to_vec()));
    }
    let down: Vec<_> = (1..=n)
        .filter(|&i| !regime.live(n, i))
        .map(|i| Update {
            addr: addr(i),
            incarnation: 0,
            kind: match regime {
                Regime::RareFailed => UpdateKind::Failed { by: addr(1) },
                Regime::Sparse | Regime::TenLive => UpdateKind::Left,
            },
        })
        .collect();
    for chunk in down.chunks(100) {
        let _ = node.handle_datagram(t0, addr(1), &packet(Body::Gossip, chunk.to_vec()));
    }

    let mut times = Vec::with_capacity(TIMED);
    let mut now = t0;
    for round in 0..WARMUP + TIMED {
        now = node
            .next_deadline()
            .unwrap_or(now + Duration::from_millis(100));
        let start = Instant::now();
        let out = node.tick(now);
        let took = start.elapsed();
        if round >= WARMUP {
            times.push(took.as_nanos() as u64);
        }
        if std::env::var_os("SWIM_TICK_SLOW").is_some() && took > Duration::from_micros(200) {
            let sizes: Vec<usize> = out
                .iter()
                .filter_map(|a| match a {
                    Action::Send { payload, .. } => Some(payload.len()),
                    _ => None,
                })
                .collect();
            eprintln!(
                "slow tick: {regime:?} n={n} round {round} at {:.1} s: {:?}, sent {sizes:?}",
                (now - t0).as_secs_f64(),
                took
            );
        }
        for a in out {
            if let Action::Send { to, payload } = a {
                let idx = ((to.ip().octets()[1] as usize) << 16)
                    | ((to.ip().octets()[2] as usize) << 8)
                    | to.ip().octets()[3] as usize;
                if !regime.live(n, idx) {
                    continue;
                }
                if let Ok(Packet {
                    body: Body::Ping { seq },
                    ..
                }) = wire::decode::<SocketAddrV4>(&payload, &limits)
                {
                    let _ = node.handle_datagram(now, to, &packet(Body::Ack { seq }, vec![]));
                }
            }
        }
    }
    let live = node.live_members();
    times.sort_unstable();
    let sum: u64 = times.iter().sum();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "| {regime:?} | {n} | {live} | {} | {} | {} | {} | {:.0} s |",
        sum / times.len() as u64,
        pct(0.5),
        pct(0.99),
        times[times.len() - 1],
        (now - t0).as_secs_f64(),
    );
}

fn main() {
    println!(
        "| regime | members | live at end | mean ns | median ns | p99 ns | max ns | virtual time |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for regime in [Regime::RareFailed, Regime::Sparse, Regime::TenLive] {
        for n in [100usize, 1_000, 10_000] {
            run(regime, n);
        }
    }
}

//! Seal and open of one 1,400-byte datagram (a full packet on a 1,500-byte MTU path).
//!
//! Run: `cargo bench -p swim-core --bench envelope`

use divan::counter::BytesCount;
use divan::{black_box, Bencher};
use swim_core::fuzzing::ReplayWindows;
use swim_core::wire::envelope::{EnvelopeConfig, Key, Keyring, Label, ReplayId, NONCE_LEN};

/// Datagram size on the wire.
const DATAGRAM: usize = 1400;

fn main() {
    divan::main();
}

fn keyed() -> EnvelopeConfig {
    EnvelopeConfig {
        label: Label::new("prod-eu").ok(),
        keyring: Key::from_bytes([7; 32]).ok().map(Keyring::new),
        ..EnvelopeConfig::default()
    }
}

fn labeled() -> EnvelopeConfig {
    EnvelopeConfig {
        label: Label::new("prod-eu").ok(),
        ..EnvelopeConfig::default()
    }
}

/// A plain packet that seals to exactly `DATAGRAM` bytes under `cfg`.
fn packet(cfg: &EnvelopeConfig) -> Vec<u8> {
    let mut p = vec![0x5A; DATAGRAM - cfg.overhead()];
    p[0] = 0xB1;
    p
}

#[divan::bench]
fn seal_keyed(b: Bencher) {
    let cfg = keyed();
    let plain = packet(&cfg);
    let mut out = Vec::with_capacity(DATAGRAM);
    let mut nonce = [0u8; NONCE_LEN];
    b.counter(BytesCount::new(DATAGRAM)).bench_local(|| {
        nonce[0] = nonce[0].wrapping_add(1);
        cfg.seal(black_box(&plain), nonce, &mut out).ok();
        black_box(&out);
    });
}

#[divan::bench]
fn open_keyed(b: Bencher) {
    let cfg = keyed();
    let mut datagram = Vec::new();
    cfg.seal(&packet(&cfg), [9; NONCE_LEN], &mut datagram).ok();
    assert_eq!(datagram.len(), DATAGRAM);
    let mut scratch = Vec::with_capacity(DATAGRAM);
    b.counter(BytesCount::new(DATAGRAM)).bench_local(|| {
        let ok = cfg.open(black_box(&datagram), &mut scratch).is_ok();
        assert!(ok);
    });
}

#[divan::bench]
fn open_keyed_tampered(b: Bencher) {
    let cfg = keyed();
    let mut datagram = Vec::new();
    cfg.seal(&packet(&cfg), [9; NONCE_LEN], &mut datagram).ok();
    if let Some(last) = datagram.last_mut() {
        *last ^= 1;
    }
    let mut scratch = Vec::with_capacity(DATAGRAM);
    b.counter(BytesCount::new(DATAGRAM)).bench_local(|| {
        let err = cfg.open(black_box(&datagram), &mut scratch).is_err();
        assert!(err);
    });
}

#[divan::bench]
fn seal_labeled(b: Bencher) {
    let cfg = labeled();
    let plain = packet(&cfg);
    let mut out = Vec::with_capacity(DATAGRAM);
    b.counter(BytesCount::new(DATAGRAM)).bench_local(|| {
        cfg.seal(black_box(&plain), [0; NONCE_LEN], &mut out).ok();
        black_box(&out);
    });
}

#[divan::bench]
fn open_labeled(b: Bencher) {
    let cfg = labeled();
    let mut datagram = Vec::new();
    cfg.seal(&packet(&cfg), [0; NONCE_LEN], &mut datagram).ok();
    let mut scratch = Vec::new();
    b.counter(BytesCount::new(DATAGRAM)).bench_local(|| {
        let ok = cfg.open(black_box(&datagram), &mut scratch).is_ok();
        assert!(ok);
    });
}

/// `open_keyed` plus what replay protection adds to every sealed datagram:
/// reading the replay id from the nonce and checking (and marking) it in its
/// sender's window, among 1,000 known senders. Compare with `open_keyed` in
/// the same run.
#[divan::bench]
fn open_keyed_replay_checked(b: Bencher) {
    let cfg = keyed();
    let id = ReplayId {
        epoch: 500,
        counter: 1,
    };
    let mut datagram = Vec::new();
    cfg.seal(&packet(&cfg), id.nonce(9), &mut datagram).ok();
    let mut windows = ReplayWindows::new(1024);
    for epoch in 0..1000 {
        windows.admit(ReplayId { epoch, counter: 0 });
    }
    let mut scratch = Vec::with_capacity(DATAGRAM);
    let mut counter = 0u64;
    b.counter(BytesCount::new(DATAGRAM)).bench_local(|| {
        let (_, id) = cfg
            .open_with_id(black_box(&datagram), &mut scratch)
            .unwrap();
        // The same bytes each time; a fresh counter each time, as a live
        // sender's would be.
        counter += 1;
        let id = ReplayId {
            counter,
            ..id.unwrap()
        };
        assert!(windows.check(black_box(id)));
    });
}

/// The window check alone: a fresh counter from one of 10,000 senders.
#[divan::bench]
fn replay_window_check(b: Bencher) {
    let mut windows = ReplayWindows::new(10_000);
    for epoch in 0..10_000 {
        windows.admit(ReplayId { epoch, counter: 0 });
    }
    let mut n = 0u64;
    b.bench_local(|| {
        n += 1;
        let id = ReplayId {
            epoch: n % 10_000,
            counter: n / 10_000 + 1,
        };
        black_box(windows.check(black_box(id)));
    });
}

/// A replay: the window rejects it (no decryption is saved: the tag is
/// checked first, so a forger cannot make the node keep state).
#[divan::bench]
fn replay_window_reject(b: Bencher) {
    let mut windows = ReplayWindows::new(1024);
    windows.admit(ReplayId {
        epoch: 7,
        counter: 100,
    });
    b.bench_local(|| {
        let id = ReplayId {
            epoch: 7,
            counter: 50,
        };
        assert!(!windows.check(black_box(id)));
    });
}

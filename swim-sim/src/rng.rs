//! Seeds: everything in a run derives from one master seed, through
//! `rand_chacha` (the one portable, seedable PRNG) only.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// What a derived random stream is for; keeps streams independent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Purpose {
    /// Per-datagram network decisions (latency, loss, duplication).
    Net = 1,
    /// A node's protocol seed (index = node, generation).
    Node = 2,
    /// Choices the builder makes (which nodes crash, ...).
    Faults = 3,
    /// Random fault schedules for seed sweeps.
    Schedule = 4,
    /// Choices made while running (which node churn crashes, ...).
    Runtime = 5,
    /// Slow nodes' per-event lag.
    Lag = 6,
}

/// Derives an independent 64-bit seed from `master` for `purpose` and `index`.
pub(crate) fn derive_seed(master: u64, purpose: Purpose, index: u64) -> u64 {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&master.to_le_bytes());
    seed[8..16].copy_from_slice(&(purpose as u64).to_le_bytes());
    seed[16..24].copy_from_slice(&index.to_le_bytes());
    ChaCha8Rng::from_seed(seed).next_u64()
}

/// A deterministic random stream with the few draws the simulator needs.
#[derive(Clone, Debug)]
pub(crate) struct SimRng(ChaCha8Rng);

impl SimRng {
    /// The stream for `purpose` under `master`.
    pub(crate) fn new(master: u64, purpose: Purpose) -> Self {
        SimRng(ChaCha8Rng::seed_from_u64(derive_seed(master, purpose, 0)))
    }

    /// A raw 64-bit draw.
    pub(crate) fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`), without modulo bias worth mentioning
    /// (Lemire's multiply-shift).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.below(hi - lo + 1)
        }
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `true` with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// `k` distinct values from `candidates` (all of them if fewer).
    pub(crate) fn pick<T: Copy>(&mut self, candidates: &[T], k: usize) -> Vec<T> {
        let mut pool: Vec<T> = candidates.to_vec();
        let k = k.min(pool.len());
        for i in 0..k {
            let j = i + self.below((pool.len() - i) as u64) as usize;
            pool.swap(i, j);
        }
        pool.truncate(k);
        pool
    }
}

/// The seeds a test or sweep should run: `SWIM_SEED=S` replays one seed,
/// `SWIM_SEEDS=N` runs seeds `0..N`, otherwise `defaults`.
pub fn seeds_from_env(defaults: std::ops::Range<u64>) -> Vec<u64> {
    if let Some(s) = std::env::var("SWIM_SEED").ok().and_then(|v| parse_u64(&v)) {
        return vec![s];
    }
    if let Some(n) = std::env::var("SWIM_SEEDS").ok().and_then(|v| parse_u64(&v)) {
        return (0..n).collect();
    }
    defaults.collect()
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_seeds_are_stable_and_distinct() {
        let a = derive_seed(1, Purpose::Node, 0);
        assert_eq!(a, derive_seed(1, Purpose::Node, 0));
        assert_ne!(a, derive_seed(1, Purpose::Node, 1));
        assert_ne!(a, derive_seed(2, Purpose::Node, 0));
        assert_ne!(a, derive_seed(1, Purpose::Net, 0));
    }

    #[test]
    fn draws_stay_in_range() {
        let mut r = SimRng::new(7, Purpose::Net);
        for _ in 0..1000 {
            assert!(r.below(10) < 10);
            let v = r.range(5, 8);
            assert!((5..=8).contains(&v));
            assert!((0.0..1.0).contains(&r.unit()));
        }
        let picked = r.pick(&[1, 2, 3, 4, 5], 3);
        assert_eq!(picked.len(), 3);
        let mut p = picked.clone();
        p.sort_unstable();
        p.dedup();
        assert_eq!(p.len(), 3);
    }
}

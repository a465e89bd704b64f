//! A keyed hasher for lookup-only tables (never iterated).
//!
//! `std`'s `RandomState` reads OS randomness, which the core must not do; an
//! unkeyed hasher would let anyone who can send datagrams pick colliding
//! addresses. This one is keyed from the node's seed.

use core::hash::{BuildHasher, Hasher};

/// Builds [`KeyedHasher`]s with a fixed 128-bit key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyedState {
    k0: u64,
    k1: u64,
}

impl KeyedState {
    pub(crate) fn new(k0: u64, k1: u64) -> Self {
        KeyedState { k0, k1: k1 | 1 }
    }
}

impl BuildHasher for KeyedState {
    type Hasher = KeyedHasher;
    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher {
            h: self.k0,
            k: self.k1,
        }
    }
}

/// Multiply-rotate over 64-bit words with a keyed start and multiplier, and
/// a strong final mix: fast for the few bytes of a socket address.
pub(crate) struct KeyedHasher {
    h: u64,
    k: u64,
}

impl KeyedHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.h = (self.h ^ word)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29)
            ^ self.k;
    }
}

impl Hasher for KeyedHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // murmur3 fmix64
        let mut x = self.h ^ self.k;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }
}

/// A lookup-only hash map with the keyed hasher.
pub(crate) type Map<K, V> = hashbrown::HashMap<K, V, KeyedState>;

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::Hash;

    fn h<T: Hash>(s: &KeyedState, t: T) -> u64 {
        s.hash_one(t)
    }

    #[test]
    fn key_changes_hash_and_equal_inputs_agree() {
        let a = KeyedState::new(1, 2);
        let b = KeyedState::new(3, 4);
        let addr: std::net::SocketAddrV4 = "10.0.0.1:7946".parse().unwrap();
        assert_eq!(h(&a, addr), h(&a, addr));
        assert_ne!(h(&a, addr), h(&b, addr));
        let other: std::net::SocketAddrV4 = "10.0.0.2:7946".parse().unwrap();
        assert_ne!(h(&a, addr), h(&a, other));
    }
}

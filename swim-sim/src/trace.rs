//! The trace hash: every delivered datagram, timer tick, event and fault, in
//! order, folded into one number. Same seed ⇒ same hash; the determinism
//! test and `--json` show it.

use crate::NodeId;

/// A running 64-bit hash (FxHash-style multiply-rotate; not for security).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Trace(u64);

impl Default for Trace {
    fn default() -> Self {
        Trace(0xcbf2_9ce4_8422_2325)
    }
}

impl Trace {
    fn mix(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    /// Folds in a tagged record.
    pub(crate) fn mix2(&mut self, tag: u64, now: u64, v: u64) {
        self.mix(tag);
        self.mix(now);
        self.mix(v);
    }

    /// Folds in a delivered datagram, bytes included.
    pub(crate) fn datagram(&mut self, now: u64, from: NodeId, to: NodeId, payload: &[u8]) {
        self.mix2(9, now, u64::from(from) << 32 | u64::from(to));
        self.mix(payload.len() as u64);
        let mut chunks = payload.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let mut w = [0u8; 8];
        w[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.mix(u64::from_le_bytes(w));
    }

    pub(crate) fn value(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_content_matter() {
        let (mut a, mut b, mut c) = (Trace::default(), Trace::default(), Trace::default());
        a.datagram(1, 0, 1, b"hello");
        a.datagram(2, 1, 0, b"world");
        b.datagram(2, 1, 0, b"world");
        b.datagram(1, 0, 1, b"hello");
        c.datagram(1, 0, 1, b"hellp");
        c.datagram(2, 1, 0, b"world");
        assert_ne!(a.value(), b.value());
        assert_ne!(a.value(), c.value());
    }
}

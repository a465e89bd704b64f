//! [`Writer`]: appends encoded fields to a `Vec<u8>`.

/// Appends encoded fields to a buffer.
///
/// Writes cannot fail: the buffer grows. Size limits are enforced by the
/// caller *before* writing (see [`PacketBuilder`](super::PacketBuilder)), so
/// a datagram is never left half-written.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    /// Writes at the end of `buf`.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Writer { buf }
    }

    /// Bytes in the underlying buffer (including any it held before).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the underlying buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Appends one byte.
    #[inline]
    pub fn put_u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Appends a big-endian `u16`.
    #[inline]
    pub fn put_u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Appends a big-endian `u32`.
    #[inline]
    pub fn put_u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Appends raw bytes (no length prefix).
    #[inline]
    pub fn put_slice(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    /// Appends an unsigned LEB128 varint, minimal length ([`varint_len`] bytes).
    #[inline]
    pub fn put_varint(&mut self, v: u64) {
        if v < 0x80 {
            self.buf.push(v as u8);
            return;
        }
        let mut tmp = [0u8; super::reader::MAX_VARINT_LEN];
        let mut n = 0usize;
        let mut v = v;
        for slot in tmp.iter_mut() {
            n = n.wrapping_add(1);
            if v < 0x80 {
                *slot = v as u8;
                break;
            }
            *slot = (v as u8) | 0x80;
            v = v.wrapping_shr(7);
        }
        self.buf.extend_from_slice(tmp.get(..n).unwrap_or_default());
    }

    /// Appends a varint length prefix, then the bytes.
    #[inline]
    pub fn put_bytes(&mut self, v: &[u8]) {
        self.put_varint(len_u64(v.len()));
        self.buf.extend_from_slice(v);
    }
}

/// Encoded size of `v` as a varint: 1 to 10 bytes.
#[inline]
pub const fn varint_len(v: u64) -> usize {
    let bits = u64::BITS.wrapping_sub((v | 1).leading_zeros());
    bits.div_ceil(7) as usize
}

/// A length or count as the `u64` the wire carries.
#[inline]
pub(crate) fn len_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Encoded size of a varint length prefix plus `n` bytes.
#[inline]
pub(crate) fn prefixed_len(n: usize) -> usize {
    varint_len(len_u64(n)).saturating_add(n)
}

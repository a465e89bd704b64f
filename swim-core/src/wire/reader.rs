//! [`Reader`]: a bounds-checked cursor over untrusted bytes.

use super::{DecodeError, DecodeErrorKind};

/// Cursor over untrusted bytes.
///
/// Every read checks the remaining length first and fails with
/// [`DecodeErrorKind::Truncated`] instead of panicking. Each method takes the
/// name of the field being read, which ends up in [`DecodeError::context`].
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes not read yet, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// `Ok` if every byte has been read, else [`DecodeErrorKind::TrailingBytes`].
    pub fn finish(&self, context: &'static str) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::new(DecodeErrorKind::TrailingBytes, context))
        }
    }

    /// Reads exactly `n` bytes.
    pub fn take(&mut self, n: usize, context: &'static str) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self
            .buf
            .split_at_checked(n)
            .ok_or(DecodeError::new(DecodeErrorKind::Truncated, context))?;
        self.buf = tail;
        Ok(head)
    }

    /// Reads exactly `N` bytes into an array.
    pub fn array<const N: usize>(&mut self, context: &'static str) -> Result<[u8; N], DecodeError> {
        let (head, tail) = self
            .buf
            .split_first_chunk::<N>()
            .ok_or(DecodeError::new(DecodeErrorKind::Truncated, context))?;
        self.buf = tail;
        Ok(*head)
    }

    /// Reads one byte.
    pub fn u8(&mut self, context: &'static str) -> Result<u8, DecodeError> {
        let (&b, tail) = self
            .buf
            .split_first()
            .ok_or(DecodeError::new(DecodeErrorKind::Truncated, context))?;
        self.buf = tail;
        Ok(b)
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self, context: &'static str) -> Result<u16, DecodeError> {
        self.array(context).map(u16::from_be_bytes)
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self, context: &'static str) -> Result<u32, DecodeError> {
        self.array(context).map(u32::from_be_bytes)
    }

    /// Reads an unsigned LEB128 varint (7 bits per byte, least significant
    /// group first, high bit set on every byte but the last).
    ///
    /// Only the minimal encoding is accepted, so every value has exactly one
    /// encoding: a final byte of `0` after other bytes, more than 10 bytes,
    /// or a 10th byte above `1` (overflow) are [`DecodeErrorKind::BadVarint`].
    pub fn varint(&mut self, context: &'static str) -> Result<u64, DecodeError> {
        // Fast path: one byte.
        if let Some((&b, tail)) = self.buf.split_first() {
            if b < 0x80 {
                self.buf = tail;
                return Ok(u64::from(b));
            }
        }
        let mut value: u64 = 0;
        let mut shift: u32 = 0;
        for (i, &b) in self.buf.iter().enumerate().take(MAX_VARINT_LEN) {
            if shift == 63 && b > 1 {
                return Err(DecodeError::new(DecodeErrorKind::BadVarint, context));
            }
            value |= u64::from(b & 0x7f).wrapping_shl(shift);
            if b < 0x80 {
                if b == 0 && i > 0 {
                    return Err(DecodeError::new(DecodeErrorKind::BadVarint, context));
                }
                self.buf = self.buf.get(i.wrapping_add(1)..).unwrap_or_default();
                return Ok(value);
            }
            shift = shift.wrapping_add(7);
        }
        let kind = if self.buf.len() >= MAX_VARINT_LEN {
            DecodeErrorKind::BadVarint
        } else {
            DecodeErrorKind::Truncated
        };
        Err(DecodeError::new(kind, context))
    }

    /// Reads a varint that must fit a `u32` ([`DecodeErrorKind::OutOfRange`]
    /// if not).
    pub fn varint_u32(&mut self, context: &'static str) -> Result<u32, DecodeError> {
        let v = self.varint(context)?;
        u32::try_from(v).map_err(|_| DecodeError::new(DecodeErrorKind::OutOfRange, context))
    }

    /// Reads a varint length prefix, then that many bytes.
    ///
    /// A length above `max` is [`DecodeErrorKind::TooLong`] (checked first);
    /// one above the bytes left is [`DecodeErrorKind::Truncated`].
    pub fn bytes(&mut self, max: usize, context: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.varint(context)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= max)
            .ok_or(DecodeError::new(DecodeErrorKind::TooLong, context))?;
        self.take(len, context)
    }

    /// Reads a varint item count and caps it before anything is reserved:
    /// above `max_items` is [`DecodeErrorKind::TooMany`]; more items than the
    /// bytes left could hold at `min_item_len` bytes each is
    /// [`DecodeErrorKind::Truncated`].
    pub fn count(
        &mut self,
        min_item_len: usize,
        max_items: usize,
        context: &'static str,
    ) -> Result<usize, DecodeError> {
        let n = self.varint(context)?;
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n > max_items {
            return Err(DecodeError::new(DecodeErrorKind::TooMany, context));
        }
        if n.saturating_mul(min_item_len) > self.buf.len() {
            return Err(DecodeError::new(DecodeErrorKind::Truncated, context));
        }
        Ok(n)
    }
}

/// Longest varint encoding of a `u64`.
pub const MAX_VARINT_LEN: usize = 10;

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    reason = "tests may panic"
)]
mod tests {
    use super::*;
    use crate::wire::{varint_len, Writer};

    fn read_varint(bytes: &[u8]) -> Result<u64, DecodeErrorKind> {
        let mut r = Reader::new(bytes);
        let v = r.varint("v").map_err(|e| e.kind)?;
        r.finish("v").map_err(|e| e.kind)?;
        Ok(v)
    }

    #[test]
    fn varint_golden() {
        assert_eq!(read_varint(&[0x00]), Ok(0));
        assert_eq!(read_varint(&[0x7f]), Ok(127));
        assert_eq!(read_varint(&[0x80, 0x01]), Ok(128));
        assert_eq!(read_varint(&[0xac, 0x02]), Ok(300));
        assert_eq!(
            read_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn varint_rejects_non_canonical() {
        // Non-minimal: trailing zero group.
        assert_eq!(read_varint(&[0x80, 0x00]), Err(DecodeErrorKind::BadVarint));
        assert_eq!(
            read_varint(&[0x81, 0x80, 0x00]),
            Err(DecodeErrorKind::BadVarint)
        );
        // Overflow: 10th byte above 1.
        assert_eq!(
            read_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            Err(DecodeErrorKind::BadVarint)
        );
        // Too long: 11 bytes.
        assert_eq!(read_varint(&[0x80; 11]), Err(DecodeErrorKind::BadVarint));
        assert_eq!(read_varint(&[0x80; 10]), Err(DecodeErrorKind::BadVarint));
        // Truncated.
        assert_eq!(read_varint(&[]), Err(DecodeErrorKind::Truncated));
        assert_eq!(read_varint(&[0x80]), Err(DecodeErrorKind::Truncated));
        assert_eq!(read_varint(&[0xff; 9]), Err(DecodeErrorKind::Truncated));
    }

    #[test]
    fn varint_round_trips_at_every_width() {
        for shift in 0..64 {
            for v in [1u64 << shift, (1u64 << shift) - 1, (1u64 << shift) + 1] {
                let mut buf = Vec::new();
                Writer::new(&mut buf).put_varint(v);
                assert_eq!(buf.len(), varint_len(v), "len of {v}");
                assert_eq!(read_varint(&buf), Ok(v));
            }
        }
    }

    #[test]
    fn fixed_width_reads() {
        let mut r = Reader::new(&[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(r.u8("a"), Ok(1));
        assert_eq!(r.u16("b"), Ok(0x0203));
        assert_eq!(r.remaining(), 4);
        assert_eq!(r.u32("c"), Ok(0x0405_0607));
        assert!(r.is_empty());
        assert_eq!(
            r.u8("d"),
            Err(DecodeError::new(DecodeErrorKind::Truncated, "d"))
        );
        let mut r = Reader::new(&[1]);
        assert_eq!(r.u16("e").unwrap_err().kind, DecodeErrorKind::Truncated);
        assert_eq!(r.remaining(), 1, "a failed read consumes nothing");
    }

    #[test]
    fn length_prefixed_bytes() {
        let mut r = Reader::new(&[3, b'a', b'b', b'c', 9]);
        assert_eq!(r.bytes(3, "p"), Ok(&b"abc"[..]));
        assert_eq!(
            r.bytes(100, "q").unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        let mut r = Reader::new(&[4, 0, 0, 0, 0]);
        assert_eq!(r.bytes(3, "p").unwrap_err().kind, DecodeErrorKind::TooLong);
        // A huge length is refused by the limit before anything else.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(
            r.bytes(usize::MAX - 1, "p").unwrap_err().kind,
            DecodeErrorKind::TooLong
        );
    }

    #[test]
    fn counts_are_capped() {
        let mut r = Reader::new(&[3, 0, 0, 0, 0, 0, 0]);
        assert_eq!(r.clone().count(2, 3, "n"), Ok(3));
        assert_eq!(
            r.clone().count(2, 2, "n").unwrap_err().kind,
            DecodeErrorKind::TooMany
        );
        assert_eq!(
            r.count(3, 10, "n").unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(
            r.count(1, usize::MAX, "n").unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
    }
}

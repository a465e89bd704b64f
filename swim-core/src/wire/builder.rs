//! [`PacketBuilder`]: packs one datagram up to a size limit.

use super::codec::{broadcast_len, update_len};
use super::writer::{len_u64, varint_len, Writer};
use super::{Body, Broadcast, Update, MEMBERS_ALL_FLAGS};
use crate::Addr;
use bytes::Bytes;
use core::marker::PhantomData;

/// Builds one datagram no larger than a size limit.
///
/// Items are encoded straight into per-section buffers as they are pushed
/// (no per-item allocation); each `push_*` first checks that the finished
/// packet — counts' varints included — would still fit, and writes nothing
/// if not. So `finish().len() == len() <= max_size` always, and decoding the
/// result gives exactly the body and the accepted items, in push order.
#[derive(Clone, Debug)]
pub struct PacketBuilder<A> {
    /// Header, body kind and body fields (for `Members`: seq and flags).
    head: Vec<u8>,
    /// Index of the `Members` flags byte in `head`.
    flags_at: Option<usize>,
    records: Vec<u8>,
    record_count: usize,
    updates: Vec<u8>,
    update_count: usize,
    broadcasts: Vec<u8>,
    broadcast_count: usize,
    /// Size of the finished packet as it stands.
    len: usize,
    max_size: usize,
    _addr: PhantomData<fn() -> A>,
}

impl<A: Addr> PacketBuilder<A> {
    /// Starts a packet with `body` (for `Body::Members`, its `records` are
    /// ignored: add them with `push_record`; flag bits outside
    /// [`MEMBERS_ALL_FLAGS`] are dropped). `None` if the body alone does not
    /// fit in `max_size`.
    pub fn new(body: &Body<A>, max_size: usize) -> Option<Self> {
        let mut head = Vec::new();
        let mut w = Writer::new(&mut head);
        w.put_body_head(body);
        let flags_at = match body {
            Body::Members { flags, .. } => {
                // The flags byte precedes the 4-byte cursor.
                let at = head.len().checked_sub(5)?;
                if let Some(f) = head.get_mut(at) {
                    *f = flags & MEMBERS_ALL_FLAGS;
                }
                Some(at)
            }
            _ => None,
        };
        // Empty update and broadcast lists: one count byte each; plus the
        // record count for `Members`.
        let counts = if flags_at.is_some() { 3 } else { 2 };
        let len = head.len().checked_add(counts)?;
        if len > max_size {
            return None;
        }
        Some(PacketBuilder {
            head,
            flags_at,
            records: Vec::new(),
            record_count: 0,
            updates: Vec::new(),
            update_count: 0,
            broadcasts: Vec::new(),
            broadcast_count: 0,
            len,
            max_size,
            _addr: PhantomData,
        })
    }

    /// The packet length if one more item of `item_len` bytes joined a list
    /// of `count` items, or `None` if it would exceed `max_size`.
    #[inline]
    fn grown_len(&self, count: usize, item_len: usize) -> Option<usize> {
        let old = varint_len(len_u64(count));
        let new = varint_len(len_u64(count.checked_add(1)?));
        let len = self
            .len
            .checked_add(new.wrapping_sub(old))?
            .checked_add(item_len)?;
        (len <= self.max_size).then_some(len)
    }

    /// Adds a `Members` record if it fits; `false` (nothing written) if not,
    /// or if the body is not `Members`.
    pub fn push_record(&mut self, u: &Update<A>) -> bool {
        if self.flags_at.is_none() {
            return false;
        }
        let Some(len) = self.grown_len(self.record_count, update_len(u)) else {
            return false;
        };
        Writer::new(&mut self.records).put_update(u);
        self.record_count = self.record_count.wrapping_add(1);
        self.len = len;
        true
    }

    /// Replaces the `Members` flags byte (bits outside [`MEMBERS_ALL_FLAGS`]
    /// are dropped). Does nothing for other bodies.
    pub fn set_members_flags(&mut self, flags: u8) {
        if let Some(f) = self.flags_at.and_then(|at| self.head.get_mut(at)) {
            *f = flags & MEMBERS_ALL_FLAGS;
        }
    }

    /// Replaces the `Members` cursor (fixed width: the size does not
    /// change). Does nothing for other bodies.
    pub fn set_members_cursor(&mut self, cursor: u32) {
        let Some(at) = self.flags_at.and_then(|at| at.checked_add(1)) else {
            return;
        };
        let end = at.saturating_add(4);
        if let Some(dst) = self.head.get_mut(at..end) {
            dst.copy_from_slice(&cursor.to_be_bytes());
        }
    }

    /// Adds a piggybacked update if it fits; `false` (nothing written) if not.
    #[inline]
    pub fn push_update(&mut self, u: &Update<A>) -> bool {
        let Some(len) = self.grown_len(self.update_count, update_len(u)) else {
            return false;
        };
        if self.updates.capacity() == 0 {
            self.updates
                .reserve(self.max_size.saturating_sub(self.len).min(MAX_RESERVE));
        }
        Writer::new(&mut self.updates).put_update(u);
        self.update_count = self.update_count.wrapping_add(1);
        self.len = len;
        true
    }

    /// Adds a broadcast if it fits; `false` (nothing written) if not.
    pub fn push_broadcast(&mut self, b: &Broadcast<A>) -> bool {
        let Some(len) = self.grown_len(self.broadcast_count, broadcast_len(b)) else {
            return false;
        };
        Writer::new(&mut self.broadcasts).put_broadcast(b);
        self.broadcast_count = self.broadcast_count.wrapping_add(1);
        self.len = len;
        true
    }

    /// Bytes the finished packet would have now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: even an empty packet has a header. (For clippy's
    /// `len_without_is_empty`.)
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The size limit given to [`new`](Self::new).
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Bytes still free under the size limit.
    pub fn remaining(&self) -> usize {
        self.max_size.saturating_sub(self.len)
    }

    /// Number of updates pushed so far.
    pub fn update_count(&self) -> usize {
        self.update_count
    }

    /// Number of records pushed so far.
    pub fn record_count(&self) -> usize {
        self.record_count
    }

    /// Number of broadcasts pushed so far.
    pub fn broadcast_count(&self) -> usize {
        self.broadcast_count
    }

    /// The finished datagram.
    pub fn finish(self) -> Bytes {
        let mut out = Vec::with_capacity(self.len);
        let mut w = Writer::new(&mut out);
        w.put_slice(&self.head);
        if self.flags_at.is_some() {
            w.put_varint(len_u64(self.record_count));
            w.put_slice(&self.records);
        }
        w.put_varint(len_u64(self.update_count));
        w.put_slice(&self.updates);
        w.put_varint(len_u64(self.broadcast_count));
        w.put_slice(&self.broadcasts);
        Bytes::from(out)
    }
}

/// Largest up-front reservation for the update buffer.
const MAX_RESERVE: usize = 2048;

//! Whole-packet encoding and decoding, and exact encoded sizes.

use super::reader::Reader;
use super::writer::{len_u64, prefixed_len, varint_len, Writer};
use super::{
    Body, Broadcast, DecodeError, DecodeErrorKind, Limits, Packet, Update, UpdateKind,
    MEMBERS_ALL_FLAGS,
};
use crate::Addr;
use bytes::Bytes;

/// First byte of every packet: magic nibble `0xB`, version `1`.
pub const HEADER: u8 = (MAGIC << 4) | VERSION;
/// The magic nibble (high half of the first byte).
pub const MAGIC: u8 = 0xB;
/// The wire version this crate speaks (low half of the first byte).
pub const VERSION: u8 = 1;
/// High nibble reserved for the label / encryption envelope (first bytes
/// `0xC0..=0xCF`); [`decode`] rejects them as [`DecodeErrorKind::BadMagic`].
pub const ENVELOPE_MAGIC: u8 = 0xC;

/// Body kind bytes (second byte of a packet).
pub(super) mod kind {
    pub(crate) const GOSSIP: u8 = 0;
    pub(crate) const PING: u8 = 1;
    pub(crate) const ACK: u8 = 2;
    pub(crate) const PING_REQ: u8 = 3;
    pub(crate) const NACK: u8 = 4;
    pub(crate) const JOIN: u8 = 5;
    pub(crate) const MEMBERS: u8 = 6;
    pub(crate) const USER: u8 = 7;
}

/// Update tag bytes.
pub(super) mod tag {
    pub(crate) const ALIVE: u8 = 0;
    pub(crate) const SUSPECT: u8 = 1;
    pub(crate) const FAILED: u8 = 2;
    pub(crate) const LEFT: u8 = 3;
}

/// Smallest possible encoded [`Update`] for address type `A` (a `Left`
/// update: tag, address, one-byte incarnation).
pub fn min_update_len<A: Addr>() -> usize {
    A::MIN_ENCODED_LEN.saturating_add(2)
}

/// Smallest possible encoded [`Broadcast`] for address type `A` (origin,
/// one-byte id, empty payload).
pub fn min_broadcast_len<A: Addr>() -> usize {
    A::MIN_ENCODED_LEN.saturating_add(2)
}

/// Encoded size of one update.
#[inline]
pub fn update_len<A: Addr>(u: &Update<A>) -> usize {
    let kind = match &u.kind {
        UpdateKind::Alive { meta } => prefixed_len(meta.len()),
        UpdateKind::Suspect { by } | UpdateKind::Failed { by } => by.encoded_len(),
        UpdateKind::Left => 0,
    };
    1usize
        .saturating_add(u.addr.encoded_len())
        .saturating_add(varint_len(u.incarnation))
        .saturating_add(kind)
}

/// Encoded size of one broadcast.
#[inline]
pub fn broadcast_len<A: Addr>(b: &Broadcast<A>) -> usize {
    b.origin
        .encoded_len()
        .saturating_add(varint_len(b.id))
        .saturating_add(prefixed_len(b.payload.len()))
}

/// Encoded size of the header byte plus `body`, including for
/// [`Body::Members`] its record count and records.
pub fn body_len<A: Addr>(body: &Body<A>) -> usize {
    let fields = match body {
        Body::Gossip => 0,
        Body::Ping { seq } | Body::Ack { seq } | Body::Nack { seq } => varint_len(u64::from(*seq)),
        Body::Join { seq, pad, .. } => varint_len(u64::from(*seq))
            .saturating_add(4)
            .saturating_add(varint_len(u64::from(*pad)))
            .saturating_add(usize::from(*pad)),
        Body::PingReq { seq, target } => {
            varint_len(u64::from(*seq)).saturating_add(target.encoded_len())
        }
        Body::Members { seq, records, .. } => varint_len(u64::from(*seq))
            .saturating_add(1)
            .saturating_add(4)
            .saturating_add(list_len(records, update_len)),
        Body::User { payload } => prefixed_len(payload.len()),
    };
    fields.saturating_add(2)
}

/// Exact size of `encode(packet)`.
pub fn packet_len<A: Addr>(packet: &Packet<A>) -> usize {
    body_len(&packet.body)
        .saturating_add(list_len(&packet.updates, update_len))
        .saturating_add(list_len(&packet.broadcasts, broadcast_len))
}

fn list_len<T>(items: &[T], item_len: impl Fn(&T) -> usize) -> usize {
    items.iter().fold(varint_len(len_u64(items.len())), |n, i| {
        n.saturating_add(item_len(i))
    })
}

/// Encodes a packet with no size limit (tests, fuzzing).
///
/// `Members` flags are written as given: bits outside
/// [`MEMBERS_ALL_FLAGS`] make a packet that [`decode`] rejects.
pub fn encode<A: Addr>(packet: &Packet<A>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(packet_len(packet));
    let mut w = Writer::new(&mut buf);
    w.put_body_head(&packet.body);
    if let Body::Members { records, .. } = &packet.body {
        w.put_varint(len_u64(records.len()));
        for u in records {
            w.put_update(u);
        }
    }
    w.put_varint(len_u64(packet.updates.len()));
    for u in &packet.updates {
        w.put_update(u);
    }
    w.put_varint(len_u64(packet.broadcasts.len()));
    for b in &packet.broadcasts {
        w.put_broadcast(b);
    }
    buf
}

impl Writer<'_> {
    /// Appends the header byte, the body kind and the body's fields; for
    /// [`Body::Members`] that is `seq` and flags, not the records.
    pub fn put_body_head<A: Addr>(&mut self, body: &Body<A>) {
        self.put_u8(HEADER);
        match body {
            Body::Gossip => self.put_u8(kind::GOSSIP),
            Body::Ping { seq } => self.put_kind_seq(kind::PING, *seq),
            Body::Ack { seq } => self.put_kind_seq(kind::ACK, *seq),
            Body::PingReq { seq, target } => {
                self.put_kind_seq(kind::PING_REQ, *seq);
                target.encode(self);
            }
            Body::Nack { seq } => self.put_kind_seq(kind::NACK, *seq),
            Body::Join { seq, cursor, pad } => {
                self.put_kind_seq(kind::JOIN, *seq);
                self.put_u32(*cursor);
                self.put_varint(u64::from(*pad));
                for _ in 0..*pad {
                    self.put_u8(0);
                }
            }
            Body::Members {
                seq, flags, cursor, ..
            } => {
                self.put_kind_seq(kind::MEMBERS, *seq);
                self.put_u8(*flags);
                self.put_u32(*cursor);
            }
            Body::User { payload } => {
                self.put_u8(kind::USER);
                self.put_bytes(payload);
            }
        }
    }

    fn put_kind_seq(&mut self, kind: u8, seq: u32) {
        self.put_u8(kind);
        self.put_varint(u64::from(seq));
    }

    /// Appends one update ([`update_len`] bytes).
    #[inline]
    pub fn put_update<A: Addr>(&mut self, u: &Update<A>) {
        let t = match &u.kind {
            UpdateKind::Alive { .. } => tag::ALIVE,
            UpdateKind::Suspect { .. } => tag::SUSPECT,
            UpdateKind::Failed { .. } => tag::FAILED,
            UpdateKind::Left => tag::LEFT,
        };
        self.put_u8(t);
        u.addr.encode(self);
        self.put_varint(u.incarnation);
        match &u.kind {
            UpdateKind::Alive { meta } => self.put_bytes(meta),
            UpdateKind::Suspect { by } | UpdateKind::Failed { by } => by.encode(self),
            UpdateKind::Left => {}
        }
    }

    /// Appends one broadcast ([`broadcast_len`] bytes).
    #[inline]
    pub fn put_broadcast<A: Addr>(&mut self, b: &Broadcast<A>) {
        b.origin.encode(self);
        self.put_varint(b.id);
        self.put_bytes(&b.payload);
    }
}

/// Decodes one whole datagram.
///
/// Checks the magic nibble, then the version, then reads the body, the
/// updates and the broadcasts; bytes left over are
/// [`DecodeErrorKind::TrailingBytes`]. Every count is capped by the bytes
/// left and by `limits.max_items` before anything is reserved, so memory
/// used is proportional to `bytes.len()`.
///
/// # Memory bound
///
/// The heap `decode` holds at any moment (the returned packet included, and
/// also when it fails part-way) is at most `(1 + k) · bytes.len()` bytes,
/// with `k` the larger of `⌈size_of::<Update<A>>() / min_update_len::<A>()⌉`
/// and `⌈size_of::<Broadcast<A>>() / min_broadcast_len::<A>()⌉`: each list's
/// `Vec` is reserved for at most (bytes left) / (minimum item size) items,
/// the lists are read one after another from disjoint bytes, and metadata
/// and payloads are copied byte for byte (the `1`). On 64-bit targets that
/// is **10×** for `SocketAddr` (an `Update` is 80 bytes, its smallest
/// encoding 9) and **8×** for `SocketAddrV4` (56 and 8); a datagram of only
/// minimum-size updates reaches 8.9× and 7×. So a 1,400-byte datagram
/// costs at most 14,000 bytes, briefly: decoding is not the ≤ 2× the wire
/// could be, because the decoded [`Update`] is a plain struct, not a view of
/// the bytes. `swim-core/tests/decode_alloc.rs` checks the bound with a
/// counting allocator.
pub fn decode<A: Addr>(bytes: &[u8], limits: &Limits) -> Result<Packet<A>, DecodeError> {
    let mut r = Reader::new(bytes);
    let first = r.u8("header")?;
    if first & 0xF0 != MAGIC << 4 {
        return Err(DecodeError::new(DecodeErrorKind::BadMagic, "header"));
    }
    if first & 0x0F != VERSION {
        return Err(DecodeError::new(
            DecodeErrorKind::UnsupportedVersion,
            "header",
        ));
    }
    let body = r.body(limits)?;
    let updates = r.updates(limits, "update count")?;
    let n = r.count(
        min_broadcast_len::<A>(),
        limits.max_items,
        "broadcast count",
    )?;
    let mut broadcasts = Vec::with_capacity(n);
    for _ in 0..n {
        broadcasts.push(r.broadcast(limits)?);
    }
    r.finish("packet")?;
    Ok(Packet {
        body,
        updates,
        broadcasts,
    })
}

impl Reader<'_> {
    /// Reads a body kind and its fields (for `Members`, with its records).
    pub fn body<A: Addr>(&mut self, limits: &Limits) -> Result<Body<A>, DecodeError> {
        let body = match self.u8("body kind")? {
            kind::GOSSIP => Body::Gossip,
            kind::PING => Body::Ping {
                seq: self.varint_u32("ping seq")?,
            },
            kind::ACK => Body::Ack {
                seq: self.varint_u32("ack seq")?,
            },
            kind::PING_REQ => {
                let seq = self.varint_u32("ping-req seq")?;
                let target = A::decode(self)?;
                Body::PingReq { seq, target }
            }
            kind::NACK => Body::Nack {
                seq: self.varint_u32("nack seq")?,
            },
            kind::JOIN => {
                let seq = self.varint_u32("join seq")?;
                let cursor = self.u32("join cursor")?;
                let pad = self.varint("join pad")?;
                let pad = u16::try_from(pad)
                    .map_err(|_| DecodeError::new(DecodeErrorKind::OutOfRange, "join pad"))?;
                let zeros = self.take(usize::from(pad), "join pad")?;
                if zeros.iter().any(|b| *b != 0) {
                    return Err(DecodeError::new(DecodeErrorKind::BadFlags, "join pad"));
                }
                Body::Join { seq, cursor, pad }
            }
            kind::MEMBERS => {
                let seq = self.varint_u32("members seq")?;
                let flags = self.u8("members flags")?;
                if flags & !MEMBERS_ALL_FLAGS != 0 {
                    return Err(DecodeError::new(DecodeErrorKind::BadFlags, "members flags"));
                }
                let cursor = self.u32("members cursor")?;
                let records = self.updates(limits, "record count")?;
                Body::Members {
                    seq,
                    flags,
                    cursor,
                    records,
                }
            }
            kind::USER => {
                let payload = self.bytes(limits.max_payload_size, "user payload")?;
                Body::User {
                    payload: Bytes::copy_from_slice(payload),
                }
            }
            _ => return Err(DecodeError::new(DecodeErrorKind::UnknownKind, "body kind")),
        };
        Ok(body)
    }

    /// Reads a count, capped, then that many updates.
    fn updates<A: Addr>(
        &mut self,
        limits: &Limits,
        context: &'static str,
    ) -> Result<Vec<Update<A>>, DecodeError> {
        let n = self.count(min_update_len::<A>(), limits.max_items, context)?;
        let mut updates = Vec::with_capacity(n);
        for _ in 0..n {
            updates.push(self.update(limits)?);
        }
        Ok(updates)
    }

    /// Reads one update.
    pub fn update<A: Addr>(&mut self, limits: &Limits) -> Result<Update<A>, DecodeError> {
        let t = self.u8("update tag")?;
        if t > tag::LEFT {
            return Err(DecodeError::new(DecodeErrorKind::UnknownKind, "update tag"));
        }
        let addr = A::decode(self)?;
        let incarnation = self.varint("incarnation")?;
        let kind = match t {
            tag::ALIVE => {
                let meta = self.bytes(limits.max_meta_size, "metadata")?;
                UpdateKind::Alive {
                    meta: Bytes::copy_from_slice(meta),
                }
            }
            tag::SUSPECT => UpdateKind::Suspect {
                by: A::decode(self)?,
            },
            tag::FAILED => UpdateKind::Failed {
                by: A::decode(self)?,
            },
            _ => UpdateKind::Left,
        };
        Ok(Update {
            addr,
            incarnation,
            kind,
        })
    }

    /// Reads one broadcast.
    pub fn broadcast<A: Addr>(&mut self, limits: &Limits) -> Result<Broadcast<A>, DecodeError> {
        let origin = A::decode(self)?;
        let id = self.varint("broadcast id")?;
        let payload = self.bytes(limits.max_payload_size, "broadcast payload")?;
        Ok(Broadcast {
            origin,
            id,
            payload: Bytes::copy_from_slice(payload),
        })
    }
}

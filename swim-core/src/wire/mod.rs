//! The wire format: versioned, compact, bounds-checked. (STUB: being written.)

pub mod envelope;
pub mod msg;
pub use msg::*;

use crate::Addr;
use bytes::Bytes;

/// Why a datagram could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// What went wrong.
    pub kind: DecodeErrorKind,
    /// Which field was being read.
    pub context: &'static str,
}

/// The class of a [`DecodeError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// Fewer bytes than the field needs.
    Truncated,
}

/// Caps the decoder applies on top of the datagram's own length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest metadata accepted in an `Alive` update.
    pub max_meta_size: usize,
    /// Largest application payload accepted (broadcast or user message).
    pub max_payload_size: usize,
    /// Most updates, records or broadcasts accepted in one list.
    pub max_items: usize,
}

/// Cursor over untrusted bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
}

/// Appends encoded fields to a buffer.
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    /// Writes at the end of `buf`.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Writer { buf }
    }
}

/// Decodes one whole datagram.
pub fn decode<A: Addr>(bytes: &[u8], limits: &Limits) -> Result<Packet<A>, DecodeError> {
    let _ = (bytes, limits);
    Err(DecodeError { kind: DecodeErrorKind::Truncated, context: "stub" })
}

/// Encodes a packet with no size limit (tests, fuzzing).
pub fn encode<A: Addr>(packet: &Packet<A>) -> Vec<u8> {
    let _ = packet;
    Vec::new()
}

/// Encoded size of one update.
pub fn update_len<A: Addr>(u: &Update<A>) -> usize {
    let _ = u;
    0
}

/// Encoded size of one broadcast.
pub fn broadcast_len<A: Addr>(b: &Broadcast<A>) -> usize {
    let _ = b;
    0
}

/// Builds one datagram no larger than a size limit.
pub struct PacketBuilder<A> {
    _a: core::marker::PhantomData<A>,
}

impl<A: Addr> PacketBuilder<A> {
    /// Starts a packet with `body` (for `Body::Members`, its `records` are
    /// ignored: add them with `push_record`). `None` if the body alone does
    /// not fit in `max_size`.
    pub fn new(body: &Body<A>, max_size: usize) -> Option<Self> {
        let _ = (body, max_size);
        None
    }
    /// Adds a `Members` record if it fits; `false` (nothing written) if not.
    pub fn push_record(&mut self, u: &Update<A>) -> bool {
        let _ = u;
        false
    }
    /// Replaces the `Members` flags byte.
    pub fn set_members_flags(&mut self, flags: u8) {
        let _ = flags;
    }
    /// Adds a piggybacked update if it fits; `false` (nothing written) if not.
    pub fn push_update(&mut self, u: &Update<A>) -> bool {
        let _ = u;
        false
    }
    /// Adds a broadcast if it fits; `false` (nothing written) if not.
    pub fn push_broadcast(&mut self, b: &Broadcast<A>) -> bool {
        let _ = b;
        false
    }
    /// Bytes the finished packet would have now.
    pub fn len(&self) -> usize {
        0
    }
    /// Bytes still free under the size limit.
    pub fn remaining(&self) -> usize {
        0
    }
    /// Number of updates pushed so far.
    pub fn update_count(&self) -> usize {
        0
    }
    /// Number of records pushed so far.
    pub fn record_count(&self) -> usize {
        0
    }
    /// The finished datagram.
    pub fn finish(self) -> Bytes {
        Bytes::new()
    }
}

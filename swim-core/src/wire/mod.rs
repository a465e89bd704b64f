//! The wire format: versioned, compact, bounds-checked.
//!
//! A datagram is one [`Packet`]. [`decode`] reads a whole datagram or fails
//! with a small `Copy` [`DecodeError`]; it never panics, never reads past the
//! end, caps every count by the bytes left *and* [`Limits::max_items`] before
//! reserving anything, and rejects trailing bytes. [`PacketBuilder`] packs a
//! packet up to a size limit without ever exceeding it; [`encode`] has no
//! limit (tests, fuzzing).
//!
//! The encoding is canonical: a packet has exactly one encoding, so any
//! bytes that decode re-encode to themselves (the fuzzers' oracle).
//!
//! # Layout
//!
//! *varint* is unsigned LEB128 (7 bits a byte, low group first, high bit =
//! more), minimal length only, at most 10 bytes. *bytes* is a varint length
//! then that many bytes. Fixed-width integers are big-endian.
//!
//! ```text
//! packet    = header:u8 body updates broadcasts
//! header    = 0xB1: magic 0xB in the high nibble, version 1 in the low one
//!             (0xC0..=0xCF are reserved for the label/encryption envelope)
//! body      = 0x00                                  Gossip
//!           | 0x01 seq:varint                       Ping
//!           | 0x02 seq:varint                       Ack
//!           | 0x03 seq:varint target:addr           PingReq
//!           | 0x04 seq:varint                       Nack
//!           | 0x05 seq:varint cursor:u32 pad:varint 0x00*pad
//!                                                   Join
//!           | 0x06 seq:varint flags:u8 cursor:u32 count:varint update*count
//!                                                   Members (flags ⊆ 0x0f)
//!           | 0x07 payload:bytes                    User
//! updates   = count:varint update*count
//! broadcasts= count:varint broadcast*count
//! update    = 0x00 addr incarnation:varint meta:bytes   Alive
//!           | 0x01 addr incarnation:varint by:addr      Suspect
//!           | 0x02 addr incarnation:varint by:addr      Failed
//!           | 0x03 addr incarnation:varint              Left
//! broadcast = origin:addr id:varint payload:bytes
//! ```
//!
//! `seq` values are `u32`: a varint above `u32::MAX` is
//! [`DecodeErrorKind::OutOfRange`]. Addresses are encoded by their [`Addr`](crate::Addr)
//! impl: `SocketAddrV4` is 4 address bytes + 2 port bytes; `SocketAddr` is a
//! tag byte `4` or `6`, then 4 + 2 or 16 + 2 bytes (IPv6 flow info and scope
//! id are not carried).
//!
//! Minimum sizes: an empty packet is 4 bytes (header, kind, two zero
//! counts); an update is at least 2 bytes + one address, as is a broadcast.
//!
//! # Example
//!
//! ```
//! use std::net::SocketAddrV4;
//! use swim_core::wire::{self, Body, Limits, PacketBuilder, Update, UpdateKind};
//!
//! let me: SocketAddrV4 = "10.0.0.1:7946".parse().unwrap();
//! let news = Update { addr: me, incarnation: 3, kind: UpdateKind::Left };
//!
//! let mut b = PacketBuilder::new(&Body::Ack { seq: 42 }, 1400).unwrap();
//! assert!(b.push_update(&news));
//! let datagram = b.finish();
//! assert_eq!(datagram.len(), 13);
//!
//! let limits = Limits { max_meta_size: 512, max_payload_size: 1024, max_items: 256 };
//! let packet = wire::decode::<SocketAddrV4>(&datagram, &limits).unwrap();
//! assert_eq!(packet.body, Body::Ack { seq: 42 });
//! assert_eq!(packet.updates, [news]);
//! ```

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

mod builder;
mod codec;
pub mod envelope;
mod error;
pub mod msg;
mod reader;
mod writer;

pub use builder::PacketBuilder;
pub use codec::{
    body_len, broadcast_len, decode, encode, min_broadcast_len, min_update_len, packet_len,
    update_len, ENVELOPE_MAGIC, HEADER, MAGIC, VERSION,
};
pub use error::{DecodeError, DecodeErrorKind};
pub use msg::*;
pub use reader::{Reader, MAX_VARINT_LEN};
pub use writer::{varint_len, Writer};

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

impl Limits {
    /// No caps beyond the datagram's own length (tests, fuzzing).
    pub const UNLIMITED: Limits = Limits {
        max_meta_size: usize::MAX,
        max_payload_size: usize::MAX,
        max_items: usize::MAX,
    };
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic,
    reason = "tests may panic"
)]
mod tests;

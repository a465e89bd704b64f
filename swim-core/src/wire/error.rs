//! Decode errors: small, `Copy`, with a static context (what was being read).

use core::fmt;

/// Why a datagram could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DecodeError {
    /// What went wrong.
    pub kind: DecodeErrorKind,
    /// Which field was being read.
    pub context: &'static str,
}

impl DecodeError {
    /// An error of `kind` while reading the field named `context`.
    pub const fn new(kind: DecodeErrorKind, context: &'static str) -> Self {
        DecodeError { kind, context }
    }
}

/// The class of a [`DecodeError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// Fewer bytes than the field needs.
    Truncated,
    /// The first byte's high nibble is not the magic `0xB` (this includes the
    /// reserved envelope bytes `0xC0..=0xCF`).
    BadMagic,
    /// The magic is right but the version (low nibble) is not one this
    /// decoder speaks.
    UnsupportedVersion,
    /// Unknown body kind or update tag.
    UnknownKind,
    /// A varint is overlong (non-minimal), longer than 10 bytes, or
    /// overflows `u64`.
    BadVarint,
    /// A number does not fit the field it encodes (e.g. a `seq` above
    /// `u32::MAX`).
    OutOfRange,
    /// A length prefix exceeds its configured limit.
    TooLong,
    /// A count exceeds `Limits::max_items`.
    TooMany,
    /// `Members` flags carry bits outside `MEMBERS_ALL_FLAGS`.
    BadFlags,
    /// An address is malformed (unknown family tag).
    BadAddr,
    /// Bytes remain after the last field of the packet.
    TrailingBytes,
}

impl DecodeErrorKind {
    /// A short human description.
    pub const fn as_str(self) -> &'static str {
        match self {
            DecodeErrorKind::Truncated => "truncated",
            DecodeErrorKind::BadMagic => "bad magic",
            DecodeErrorKind::UnsupportedVersion => "unsupported version",
            DecodeErrorKind::UnknownKind => "unknown kind",
            DecodeErrorKind::BadVarint => "bad varint",
            DecodeErrorKind::OutOfRange => "value out of range",
            DecodeErrorKind::TooLong => "length over limit",
            DecodeErrorKind::TooMany => "count over limit",
            DecodeErrorKind::BadFlags => "undefined flag bits",
            DecodeErrorKind::BadAddr => "bad address",
            DecodeErrorKind::TrailingBytes => "trailing bytes",
        }
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} while decoding {}", self.kind, self.context)
    }
}

impl std::error::Error for DecodeError {}

//! Member addresses. (STUB: being written.)

use crate::wire::{DecodeError, Reader, Writer};
use core::fmt::{Debug, Display};
use core::hash::Hash;

/// A member's address: what identifies it and where datagrams go.
pub trait Addr: Copy + Eq + Ord + Hash + Debug + Display + Send + Sync + 'static {
    /// Encoded size in bytes.
    fn encoded_len(&self) -> usize;
    /// Appends the encoding.
    fn encode(&self, w: &mut Writer<'_>);
    /// Reads one address.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

//! Member addresses and their wire encodings.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use crate::wire::{DecodeError, DecodeErrorKind, Reader, Writer};
use core::fmt::{Debug, Display};
use core::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// A member's address: what identifies it and where datagrams go.
///
/// The encoding must be canonical: `decode` accepts exactly the bytes
/// `encode` produces, so decoding then re-encoding gives the same bytes.
///
/// [`SourceIp`](crate::allow::SourceIp) gives the IP the address allow-list
/// checks (`None` for address types without one).
pub trait Addr:
    Copy + Eq + Ord + Hash + Debug + Display + Send + Sync + crate::allow::SourceIp + 'static
{
    /// A lower bound on [`encoded_len`](Addr::encoded_len) for every value;
    /// the decoder caps item counts with it. `0` is always safe.
    const MIN_ENCODED_LEN: usize = 0;
    /// Encoded size in bytes.
    fn encoded_len(&self) -> usize;
    /// Appends the encoding.
    fn encode(&self, w: &mut Writer<'_>);
    /// Reads one address.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// Six bytes: the IPv4 address, then the port, big-endian.
impl Addr for SocketAddrV4 {
    const MIN_ENCODED_LEN: usize = 6;

    fn encoded_len(&self) -> usize {
        6
    }

    fn encode(&self, w: &mut Writer<'_>) {
        w.put_slice(&self.ip().octets());
        w.put_u16(self.port());
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ip = r.array::<4>("ipv4 address")?;
        let port = r.u16("port")?;
        Ok(SocketAddrV4::new(Ipv4Addr::from(ip), port))
    }
}

/// Tag byte `4` + 4 address bytes + 2 port bytes, or tag byte `6` + 16
/// address bytes + 2 port bytes. IPv6 flow info and scope id are not
/// carried (they decode as 0). Other tags are [`DecodeErrorKind::BadAddr`].
impl Addr for SocketAddr {
    const MIN_ENCODED_LEN: usize = 7;

    fn encoded_len(&self) -> usize {
        match self {
            SocketAddr::V4(_) => 7,
            SocketAddr::V6(_) => 19,
        }
    }

    fn encode(&self, w: &mut Writer<'_>) {
        match self {
            SocketAddr::V4(a) => {
                w.put_u8(4);
                a.encode(w);
            }
            SocketAddr::V6(a) => {
                w.put_u8(6);
                w.put_slice(&a.ip().octets());
                w.put_u16(a.port());
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("address family")? {
            4 => SocketAddrV4::decode(r).map(SocketAddr::V4),
            6 => {
                let ip = r.array::<16>("ipv6 address")?;
                let port = r.u16("port")?;
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(ip),
                    port,
                    0,
                    0,
                )))
            }
            _ => Err(DecodeError::new(DecodeErrorKind::BadAddr, "address family")),
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "tests may panic"
)]
mod tests {
    use super::*;

    fn enc<A: Addr>(a: A) -> Vec<u8> {
        let mut buf = Vec::new();
        a.encode(&mut Writer::new(&mut buf));
        assert_eq!(buf.len(), a.encoded_len());
        assert!(buf.len() >= A::MIN_ENCODED_LEN);
        buf
    }

    fn dec<A: Addr>(bytes: &[u8]) -> Result<A, DecodeError> {
        let mut r = Reader::new(bytes);
        let a = A::decode(&mut r)?;
        r.finish("addr")?;
        Ok(a)
    }

    #[test]
    fn socket_addr_v4_golden() {
        let a: SocketAddrV4 = "10.0.0.1:7946".parse().unwrap();
        assert_eq!(enc(a), [10, 0, 0, 1, 0x1f, 0x0a]);
        assert_eq!(dec::<SocketAddrV4>(&[10, 0, 0, 1, 0x1f, 0x0a]), Ok(a));
        for n in 0..6 {
            assert_eq!(
                dec::<SocketAddrV4>(&enc(a)[..n]).unwrap_err().kind,
                DecodeErrorKind::Truncated
            );
        }
    }

    #[test]
    fn socket_addr_golden() {
        let v4: SocketAddr = "192.168.1.2:80".parse().unwrap();
        assert_eq!(enc(v4), [4, 192, 168, 1, 2, 0, 80]);
        assert_eq!(dec::<SocketAddr>(&enc(v4)), Ok(v4));

        let v6: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        let bytes = [
            6, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0xbb,
        ];
        assert_eq!(enc(v6), bytes);
        assert_eq!(dec::<SocketAddr>(&bytes), Ok(v6));
        for n in 0..bytes.len() {
            assert_eq!(
                dec::<SocketAddr>(&bytes[..n]).unwrap_err().kind,
                DecodeErrorKind::Truncated
            );
        }
    }

    #[test]
    fn v6_flow_info_and_scope_are_not_carried() {
        let a = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 9, 77, 3));
        let back: SocketAddr = dec(&enc(a)).unwrap();
        assert_eq!(
            back,
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 9, 0, 0))
        );
        assert_eq!(enc(back), enc(a));
    }

    #[test]
    fn unknown_family_is_rejected() {
        for tag in [0u8, 5, 41, 255] {
            let err = dec::<SocketAddr>(&[tag, 0, 0, 0, 0, 0, 0]).unwrap_err();
            assert_eq!(
                err,
                DecodeError::new(DecodeErrorKind::BadAddr, "address family")
            );
        }
    }
}

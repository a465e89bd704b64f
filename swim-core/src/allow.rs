//! An address allow-list: the source networks (CIDRs) a node accepts datagrams from.
//!
//! The node checks the UDP source address of *every* datagram against the list before it
//! opens or decodes it; an empty list allows every address.
//!
//! ```
//! use swim_core::allow::AllowList;
//! use std::net::IpAddr;
//!
//! let list = AllowList::parse(["10.0.0.0/8", "fd00::/8", "192.0.2.7"])?;
//! assert!(list.contains("10.1.2.3".parse::<IpAddr>()?));
//! assert!(list.contains("::ffff:10.1.2.3".parse::<IpAddr>()?)); // IPv4 on a dual-stack socket
//! assert!(!list.contains("192.0.2.8".parse::<IpAddr>()?));
//! assert!(AllowList::default().contains("203.0.113.1".parse::<IpAddr>()?)); // empty: allow all
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use core::fmt;
use core::str::FromStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// One network: an address and a prefix length, with no host bits set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a CIDR was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CidrError {
    /// Nothing to parse.
    Empty,
    /// The part before `/` is not an IPv4 or IPv6 address.
    BadAddress,
    /// The part after `/` is not a decimal number.
    BadPrefix,
    /// The prefix is longer than the address (32 for IPv4, 128 for IPv6).
    PrefixTooLong {
        /// The prefix given.
        prefix: u32,
        /// The longest allowed.
        max: u8,
    },
    /// Bits below the prefix are set (`10.0.0.1/8`): probably a typo. The network meant is
    /// probably this one.
    HostBitsSet {
        /// The address with the host bits cleared.
        network: Cidr,
    },
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::Empty => {
                f.write_str("empty network; expected e.g. 10.0.0.0/8, fd00::/8 or 192.0.2.7")
            }
            CidrError::BadAddress => {
                f.write_str("not an IPv4 or IPv6 address (expected e.g. 10.0.0.0/8 or fd00::/8)")
            }
            CidrError::BadPrefix => f.write_str("prefix after '/' is not a number"),
            CidrError::PrefixTooLong { prefix, max } => {
                write!(f, "prefix /{prefix} is longer than /{max}")
            }
            CidrError::HostBitsSet { network } => {
                write!(
                    f,
                    "host bits are set below the prefix; did you mean {network}?"
                )
            }
        }
    }
}

impl std::error::Error for CidrError {}

impl Cidr {
    /// The network `addr/prefix`; host bits must be zero.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        let max = max_prefix(addr);
        if prefix > max {
            return Err(CidrError::PrefixTooLong {
                prefix: u32::from(prefix),
                max,
            });
        }
        let cidr = Cidr { addr, prefix };
        let network = Cidr {
            addr: cidr.masked(addr),
            prefix,
        };
        if network != cidr {
            return Err(CidrError::HostBitsSet { network });
        }
        Ok(cidr)
    }

    /// The single address `addr` (a /32 or /128).
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr {
            addr,
            prefix: max_prefix(addr),
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is inside this network. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a
    /// dual-stack socket reports for IPv4 peers) are compared as the IPv4 address they carry.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && self.masked(ip) == self.addr
    }

    /// `ip` with the bits below this prefix cleared (same family as `ip`).
    fn masked(&self, ip: IpAddr) -> IpAddr {
        let prefix = u32::from(self.prefix);
        match ip {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32u32.saturating_sub(prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128u32.saturating_sub(prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        }
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// Parses `10.0.0.0/8`, `fd00::/8`, or a bare address (`192.0.2.7`, `::1`) meaning that
    /// one host. Surrounding whitespace is ignored.
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(CidrError::Empty);
        }
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| CidrError::BadAddress)?;
        match prefix {
            None => Ok(Cidr::host(addr)),
            Some(p) => {
                let p = p.trim();
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CidrError::BadPrefix);
                }
                let prefix: u32 = p.parse().unwrap_or(u32::MAX);
                let max = max_prefix(addr);
                let prefix = u8::try_from(prefix)
                    .ok()
                    .filter(|&n| n <= max)
                    .ok_or(CidrError::PrefixTooLong { prefix, max })?;
                Cidr::new(addr, prefix)
            }
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An allow-list entry that did not parse: which one (0-based) and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllowListError {
    /// Position of the bad entry in the input.
    pub index: usize,
    /// What is wrong with it.
    pub error: CidrError,
}

impl fmt::Display for AllowListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "allow-list entry {}: {}", self.index, self.error)
    }
}

impl std::error::Error for AllowListError {}

/// The networks a node accepts datagrams from. Empty (the default) allows everything.
///
/// `contains` is a linear scan: lists are operator-written and short (a handful of networks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<Cidr>,
}

impl AllowList {
    /// An empty list, which allows every address.
    pub fn new() -> AllowList {
        AllowList::default()
    }

    /// Parses every entry (see [`Cidr::from_str`]); fails on the first bad one.
    pub fn parse<I, S>(entries: I) -> Result<AllowList, AllowListError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = AllowList::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let cidr = entry
                .as_ref()
                .parse()
                .map_err(|error| AllowListError { index, error })?;
            list.push(cidr);
        }
        Ok(list)
    }

    /// Adds a network (duplicates are ignored).
    pub fn push(&mut self, cidr: Cidr) {
        if !self.nets.contains(&cidr) {
            self.nets.push(cidr);
        }
    }

    /// Whether the list has no networks (and so allows everything).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// The networks, in the order added.
    pub fn networks(&self) -> &[Cidr] {
        &self.nets
    }

    /// Whether datagrams from `ip` are allowed: the list is empty, or a network contains it.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.nets.is_empty() || self.nets.iter().any(|net| net.contains(ip))
    }

    /// Whether datagrams from `source` are allowed. An address with no IP (see [`SourceIp`])
    /// is allowed only by an empty list.
    pub fn allows<A: SourceIp + ?Sized>(&self, source: &A) -> bool {
        match source.source_ip() {
            Some(ip) => self.contains(ip),
            None => self.nets.is_empty(),
        }
    }
}

impl FromIterator<Cidr> for AllowList {
    fn from_iter<I: IntoIterator<Item = Cidr>>(iter: I) -> AllowList {
        let mut list = AllowList::new();
        for cidr in iter {
            list.push(cidr);
        }
        list
    }
}

/// The IP address a datagram came from, for address types the node is generic over.
/// Simulator address types with no IP return `None` (or map themselves onto a private range).
pub trait SourceIp {
    /// The source IP, if this address type has one.
    fn source_ip(&self) -> Option<IpAddr>;
}

impl SourceIp for IpAddr {
    fn source_ip(&self) -> Option<IpAddr> {
        Some(*self)
    }
}

impl SourceIp for SocketAddr {
    fn source_ip(&self) -> Option<IpAddr> {
        Some(self.ip())
    }
}

impl SourceIp for SocketAddrV4 {
    fn source_ip(&self) -> Option<IpAddr> {
        Some(IpAddr::V4(*self.ip()))
    }
}

impl SourceIp for SocketAddrV6 {
    fn source_ip(&self) -> Option<IpAddr> {
        Some(IpAddr::V6(*self.ip()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_networks() {
        let list = AllowList::parse(["10.0.0.0/8", "192.168.1.0/24"]).unwrap();
        assert!(list.contains(ip("10.0.0.0")));
        assert!(list.contains(ip("10.255.255.255")));
        assert!(list.contains(ip("192.168.1.77")));
        assert!(!list.contains(ip("11.0.0.1")));
        assert!(!list.contains(ip("192.168.2.1")));
        assert!(!list.contains(ip("::1")));
    }

    #[test]
    fn v6_networks() {
        let list = AllowList::parse(["fd00::/8", "2001:db8:1::/48", "::1/128"]).unwrap();
        assert!(list.contains(ip("fd12:3456::1")));
        assert!(list.contains(ip("2001:db8:1:ffff::9")));
        assert!(list.contains(ip("::1")));
        assert!(!list.contains(ip("2001:db8:2::1")));
        assert!(!list.contains(ip("::2")));
        assert!(!list.contains(ip("10.0.0.1")));
    }

    #[test]
    fn bare_addresses_are_hosts() {
        assert_eq!(
            "192.0.2.7".parse::<Cidr>().unwrap(),
            Cidr::host(ip("192.0.2.7"))
        );
        assert_eq!("::1".parse::<Cidr>().unwrap().prefix(), 128);
        assert_eq!(" 192.0.2.7 ".parse::<Cidr>().unwrap().prefix(), 32);
        let list = AllowList::parse(["192.0.2.7"]).unwrap();
        assert!(list.contains(ip("192.0.2.7")));
        assert!(!list.contains(ip("192.0.2.6")));
    }

    #[test]
    fn zero_prefix_matches_whole_family() {
        let v4 = AllowList::parse(["0.0.0.0/0"]).unwrap();
        assert!(v4.contains(ip("203.0.113.9")));
        assert!(!v4.contains(ip("2001:db8::1")));
        let v6 = AllowList::parse(["::/0"]).unwrap();
        assert!(v6.contains(ip("2001:db8::1")));
        assert!(!v6.contains(ip("203.0.113.9")));
    }

    #[test]
    fn v4_mapped_v6_matches_v4_networks() {
        let list = AllowList::parse(["10.0.0.0/8"]).unwrap();
        assert!(list.contains(ip("::ffff:10.9.8.7")));
        assert!(!list.contains(ip("::ffff:11.9.8.7")));
    }

    #[test]
    fn empty_list_allows_all() {
        let list = AllowList::new();
        assert!(list.is_empty());
        assert!(list.contains(ip("203.0.113.1")));
        assert!(list.allows(&"[::1]:7946".parse::<SocketAddr>().unwrap()));
    }

    #[test]
    fn allows_socket_addresses() {
        let list = AllowList::parse(["10.0.0.0/8"]).unwrap();
        assert!(list.allows(&"10.1.1.1:7946".parse::<SocketAddr>().unwrap()));
        assert!(list.allows(&"10.1.1.1:7946".parse::<SocketAddrV4>().unwrap()));
        assert!(!list.allows(&"11.1.1.1:7946".parse::<SocketAddr>().unwrap()));
        assert!(!list.allows(&"[::1]:7946".parse::<SocketAddrV6>().unwrap()));
        struct NoIp;
        impl SourceIp for NoIp {
            fn source_ip(&self) -> Option<IpAddr> {
                None
            }
        }
        assert!(!list.allows(&NoIp));
        assert!(AllowList::new().allows(&NoIp));
    }

    #[test]
    fn parse_errors_are_specific() {
        let err = |s: &str| s.parse::<Cidr>().unwrap_err();
        assert_eq!(err(""), CidrError::Empty);
        assert_eq!(err("  "), CidrError::Empty);
        assert_eq!(err("10.0.0/8"), CidrError::BadAddress);
        assert_eq!(err("example.com"), CidrError::BadAddress);
        assert_eq!(err("10.0.0.0/"), CidrError::BadPrefix);
        assert_eq!(err("10.0.0.0/x"), CidrError::BadPrefix);
        assert_eq!(err("10.0.0.0/-1"), CidrError::BadPrefix);
        assert_eq!(err("10.0.0.0/8/8"), CidrError::BadPrefix);
        assert_eq!(
            err("10.0.0.0/33"),
            CidrError::PrefixTooLong {
                prefix: 33,
                max: 32
            }
        );
        assert_eq!(
            err("::/129"),
            CidrError::PrefixTooLong {
                prefix: 129,
                max: 128
            }
        );
        assert_eq!(
            err("10.0.0.0/99999999999"),
            CidrError::PrefixTooLong {
                prefix: u32::MAX,
                max: 32
            }
        );
        let e = err("10.1.2.3/8");
        assert_eq!(
            e,
            CidrError::HostBitsSet {
                network: "10.0.0.0/8".parse().unwrap()
            }
        );
        assert_eq!(
            e.to_string(),
            "host bits are set below the prefix; did you mean 10.0.0.0/8?"
        );
        let e = AllowList::parse(["10.0.0.0/8", "bogus"]).unwrap_err();
        assert_eq!(
            e,
            AllowListError {
                index: 1,
                error: CidrError::BadAddress
            }
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "10.0.0.0/8",
            "192.0.2.7/32",
            "fd00::/8",
            "::1/128",
            "0.0.0.0/0",
        ] {
            assert_eq!(s.parse::<Cidr>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn duplicates_are_ignored() {
        let list = AllowList::parse(["10.0.0.0/8", "10.0.0.0/8"]).unwrap();
        assert_eq!(list.networks().len(), 1);
    }
}

//! Node ids and their virtual addresses. Nothing here ever touches a socket:
//! addresses are labels with a realistic six-byte wire encoding.

use std::net::{Ipv4Addr, SocketAddrV4};

/// A node's index in the simulation, `0..nodes`.
pub type NodeId = u32;

/// The port every simulated node "listens" on.
pub const PORT: u16 = 7946;

/// Node `id`'s address: `10.a.b.c:7946` with `a.b.c` the id's low 24 bits.
/// Address order equals id order, so `members()` walks ids in order.
pub fn node_addr(id: NodeId) -> SocketAddrV4 {
    let [_, a, b, c] = id.to_be_bytes();
    SocketAddrV4::new(Ipv4Addr::new(10, a, b, c), PORT)
}

/// The node id behind a simulated address, if it is one.
pub fn node_id(addr: SocketAddrV4) -> Option<NodeId> {
    let [ten, a, b, c] = addr.ip().octets();
    (ten == 10 && addr.port() == PORT).then(|| u32::from_be_bytes([0, a, b, c]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders() {
        for id in [0, 1, 255, 256, 9_999, 65_536, 0x00ff_ffff] {
            assert_eq!(node_id(node_addr(id)), Some(id));
        }
        assert!(node_addr(255) < node_addr(256));
        assert_eq!(
            node_id(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1)),
            None
        );
    }
}

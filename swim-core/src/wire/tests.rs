//! Codec tests: golden bytes, truncation, malformed input, property tests.

use super::*;
use std::net::SocketAddrV4;

#[test]
fn ping_round_trips() {
    let p: Packet<SocketAddrV4> =
        Packet { body: Body::Ping { seq: 7 }, updates: vec![], broadcasts: vec![] };
    let bytes = encode(&p);
    assert_eq!(bytes, [0xb1, 0x01, 0x07, 0x00, 0x00]);
    assert_eq!(decode::<SocketAddrV4>(&bytes, &Limits::UNLIMITED), Ok(p));
}

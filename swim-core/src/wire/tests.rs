//! Codec tests: golden bytes, truncation, malformed input, property tests.

use super::*;
use crate::Addr;
use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

// ---------------------------------------------------------------- helpers

/// Parses hex, ignoring whitespace and `|` separators.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'|')
        .collect();
    assert_eq!(digits.len() % 2, 0, "odd hex: {s}");
    digits
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

fn packet<A>(body: Body<A>, updates: Vec<Update<A>>, broadcasts: Vec<Broadcast<A>>) -> Packet<A> {
    Packet {
        body,
        updates,
        broadcasts,
    }
}

fn bare<A>(body: Body<A>) -> Packet<A> {
    packet(body, vec![], vec![])
}

fn alive<A>(addr: A, incarnation: u64, meta: &'static [u8]) -> Update<A> {
    Update {
        addr,
        incarnation,
        kind: UpdateKind::Alive {
            meta: Bytes::from_static(meta),
        },
    }
}
fn suspect<A>(addr: A, incarnation: u64, by: A) -> Update<A> {
    Update {
        addr,
        incarnation,
        kind: UpdateKind::Suspect { by },
    }
}
fn failed<A>(addr: A, incarnation: u64, by: A) -> Update<A> {
    Update {
        addr,
        incarnation,
        kind: UpdateKind::Failed { by },
    }
}
fn left<A>(addr: A, incarnation: u64) -> Update<A> {
    Update {
        addr,
        incarnation,
        kind: UpdateKind::Left,
    }
}
fn bcast<A>(origin: A, id: u64, payload: &'static [u8]) -> Broadcast<A> {
    Broadcast {
        origin,
        id,
        payload: Bytes::from_static(payload),
    }
}

/// Builds `p` with a `PacketBuilder` limited to `max_size`; `None` if
/// something did not fit.
fn build<A: Addr>(p: &Packet<A>, max_size: usize) -> Option<Bytes> {
    let mut b = PacketBuilder::new(&p.body, max_size)?;
    if let Body::Members { records, .. } = &p.body {
        for r in records {
            if !b.push_record(r) {
                return None;
            }
        }
    }
    for u in &p.updates {
        if !b.push_update(u) {
            return None;
        }
    }
    for x in &p.broadcasts {
        if !b.push_broadcast(x) {
            return None;
        }
    }
    assert!(b.len() <= max_size);
    let len = b.len();
    let out = b.finish();
    assert_eq!(out.len(), len);
    Some(out)
}

/// Checks encode, decode, `packet_len` and the builder against golden hex.
fn golden<A: Addr>(p: &Packet<A>, expected_hex: &str) {
    let expected = hex(expected_hex);
    assert_eq!(encode(p), expected, "encode {p:?}");
    assert_eq!(packet_len(p), expected.len(), "packet_len {p:?}");
    assert_eq!(
        decode::<A>(&expected, &Limits::UNLIMITED).as_ref(),
        Ok(p),
        "decode"
    );
    let built = build(p, expected.len()).expect("fits exactly");
    assert_eq!(&built[..], &expected[..], "builder {p:?}");
    assert!(
        build(p, expected.len() - 1).is_none(),
        "one byte less must not fit"
    );
}

fn a() -> SocketAddrV4 {
    "10.0.0.1:7946".parse().unwrap()
}
fn b() -> SocketAddrV4 {
    "10.0.0.2:7946".parse().unwrap()
}
const A: &str = "0a000001 1f0a";
const B: &str = "0a000002 1f0a";
fn c() -> SocketAddr {
    "192.168.1.2:80".parse().unwrap()
}
fn d() -> SocketAddr {
    "[2001:db8::1]:443".parse().unwrap()
}
const C: &str = "04 c0a80102 0050";
const D: &str = "06 20010db8000000000000000000000001 01bb";

/// Every valid message of the golden tests, as (packet, hex), for
/// `SocketAddrV4`.
fn goldens_v4() -> Vec<(Packet<SocketAddrV4>, String)> {
    vec![
        (bare(Body::Gossip), "b1 00 | 00 | 00".into()),
        (bare(Body::Ping { seq: 300 }), "b1 01 ac02 | 00 | 00".into()),
        (bare(Body::Ack { seq: 7 }), "b1 02 07 | 00 | 00".into()),
        (
            bare(Body::PingReq {
                seq: 1,
                target: a(),
            }),
            format!("b1 03 01 {A} | 00 | 00"),
        ),
        (
            bare(Body::Nack { seq: u32::MAX }),
            "b1 04 ffffffff0f | 00 | 00".into(),
        ),
        (
            packet(
                Body::Join {
                    seq: 0,
                    cursor: 0,
                    pad: 0,
                },
                vec![alive(a(), 1, b"hi")],
                vec![],
            ),
            format!("b1 05 00 00000000 00 | 01 00 {A} 01 02 6869 | 00"),
        ),
        (
            bare(Body::Join {
                seq: 3,
                cursor: 0x0102_0304,
                pad: 2,
            }),
            "b1 05 03 01020304 02 0000 | 00 | 00".into(),
        ),
        (
            bare(Body::Members {
                seq: 5,
                flags: MEMBERS_JOIN_REPLY | MEMBERS_MORE,
                cursor: 7,
                records: vec![alive(a(), 0, b""), left(b(), 2)],
            }),
            format!("b1 06 05 09 00000007 02 | 00 {A} 00 00 | 03 {B} 02 | 00 | 00"),
        ),
        (
            bare(Body::Members {
                seq: 0,
                flags: MEMBERS_SYNC_REQUEST,
                cursor: 0,
                records: vec![],
            }),
            "b1 06 00 02 00000000 00 | 00 | 00".into(),
        ),
        (
            bare(Body::User {
                payload: Bytes::from_static(b"abc"),
            }),
            "b1 07 03 616263 | 00 | 00".into(),
        ),
        (
            packet(
                Body::Gossip,
                vec![
                    alive(a(), 128, b"m"),
                    suspect(a(), 2, b()),
                    failed(b(), 3, a()),
                    left(b(), 4),
                ],
                vec![bcast(a(), 1, b"xyz")],
            ),
            format!(
                "b1 00 | 04 | 00 {A} 8001 01 6d | 01 {A} 02 {B} | 02 {B} 03 {A} | 03 {B} 04 \
                 | 01 | {A} 01 03 78797a"
            ),
        ),
        (
            packet(
                Body::Ack { seq: 1 },
                vec![left(a(), u64::MAX)],
                vec![bcast(b(), 0, b""), bcast(a(), 2, b"z")],
            ),
            format!("b1 02 01 | 01 | 03 {A} ffffffffffffffffff01 | 02 | {B} 00 00 | {A} 02 01 7a"),
        ),
    ]
}

/// The same for `SocketAddr`, with IPv4 and IPv6 addresses.
fn goldens_sa() -> Vec<(Packet<SocketAddr>, String)> {
    let mut v: Vec<(Packet<SocketAddr>, String)> = vec![
        (
            bare(Body::PingReq {
                seq: 2,
                target: c(),
            }),
            format!("b1 03 02 {C} | 00 | 00"),
        ),
        (
            bare(Body::PingReq {
                seq: 2,
                target: d(),
            }),
            format!("b1 03 02 {D} | 00 | 00"),
        ),
        (
            packet(
                Body::Gossip,
                vec![
                    suspect(c(), 1, d()),
                    failed(d(), 9, c()),
                    alive(d(), 0, b""),
                    left(c(), 5),
                ],
                vec![bcast(d(), 300, b""), bcast(c(), 1, b"q")],
            ),
            format!(
                "b1 00 | 04 | 01 {C} 01 {D} | 02 {D} 09 {C} | 00 {D} 00 00 | 03 {C} 05 \
                 | 02 | {D} ac02 00 | {C} 01 01 71"
            ),
        ),
        (
            packet(
                Body::Members {
                    seq: 1,
                    flags: MEMBERS_SYNC_REPLY,
                    cursor: 0,
                    records: vec![alive(c(), 3, b"k"), failed(d(), 4, d())],
                },
                vec![alive(d(), 1, b"")],
                vec![],
            ),
            format!("b1 06 01 04 00000000 02 | 00 {C} 03 01 6b | 02 {D} 04 {D} | 01 | 00 {D} 01 00 | 00"),
        ),
    ];
    // Bodies without addresses encode identically for every address type.
    for (p, h) in goldens_v4() {
        if p.updates.is_empty() && p.broadcasts.is_empty() {
            if let Some(body) = addr_free(&p.body) {
                v.push((bare(body), h));
            }
        }
    }
    v
}

fn addr_free<A, B>(body: &Body<A>) -> Option<Body<B>> {
    Some(match body {
        Body::Gossip => Body::Gossip,
        Body::Ping { seq } => Body::Ping { seq: *seq },
        Body::Ack { seq } => Body::Ack { seq: *seq },
        Body::Nack { seq } => Body::Nack { seq: *seq },
        Body::Join { seq, cursor, pad } => Body::Join {
            seq: *seq,
            cursor: *cursor,
            pad: *pad,
        },
        Body::Members {
            seq,
            flags,
            cursor,
            records,
        } if records.is_empty() => Body::Members {
            seq: *seq,
            flags: *flags,
            cursor: *cursor,
            records: vec![],
        },
        Body::User { payload } => Body::User {
            payload: payload.clone(),
        },
        _ => return None,
    })
}

/// Decodes as one address type, dropping the result.
type DecodeFn = fn(&[u8]) -> Result<(), DecodeError>;

fn all_valid_messages() -> Vec<(Vec<u8>, DecodeFn)> {
    fn v4(b: &[u8]) -> Result<(), DecodeError> {
        decode::<SocketAddrV4>(b, &Limits::UNLIMITED).map(drop)
    }
    fn sa(b: &[u8]) -> Result<(), DecodeError> {
        decode::<SocketAddr>(b, &Limits::UNLIMITED).map(drop)
    }
    let mut all: Vec<(Vec<u8>, DecodeFn)> = Vec::new();
    all.extend(
        goldens_v4()
            .into_iter()
            .map(|(_, h)| (hex(&h), v4 as DecodeFn)),
    );
    all.extend(
        goldens_sa()
            .into_iter()
            .map(|(_, h)| (hex(&h), sa as DecodeFn)),
    );
    all
}

fn err_v4(bytes: &[u8]) -> DecodeError {
    decode::<SocketAddrV4>(bytes, &Limits::UNLIMITED).unwrap_err()
}

// ---------------------------------------------------------------- golden

#[test]
fn golden_every_kind_socket_addr_v4() {
    let goldens = goldens_v4();
    let kinds: std::collections::BTreeSet<u8> = goldens.iter().map(|(_, h)| hex(h)[1]).collect();
    assert_eq!(kinds.len(), 8, "every body kind has a golden");
    for (p, h) in &goldens {
        golden(p, h);
    }
}

#[test]
fn golden_every_kind_socket_addr_v4_and_v6() {
    for (p, h) in &goldens_sa() {
        golden(p, h);
    }
}

#[test]
fn golden_update_and_broadcast_lengths() {
    assert_eq!(update_len(&left(a(), 0)), min_update_len::<SocketAddrV4>());
    assert_eq!(
        broadcast_len(&bcast(a(), 0, b"")),
        min_broadcast_len::<SocketAddrV4>()
    );
    assert_eq!(update_len(&left(c(), 0)), min_update_len::<SocketAddr>());
    assert_eq!(update_len(&alive(a(), 128, b"m")), 1 + 6 + 2 + 2);
    assert_eq!(update_len(&suspect(d(), 0, d())), 1 + 19 + 1 + 19);
    assert_eq!(broadcast_len(&bcast(d(), 300, &[0; 200])), 19 + 2 + 2 + 200);
}

// ---------------------------------------------------------------- malformed

#[test]
fn every_truncation_of_every_valid_message_errors() {
    for (bytes, dec) in all_valid_messages() {
        assert_eq!(dec(&bytes), Ok(()));
        for n in 0..bytes.len() {
            let err = dec(&bytes[..n]).unwrap_err();
            assert_eq!(
                err.kind,
                DecodeErrorKind::Truncated,
                "{:02x?} cut at {n}: {err}",
                bytes
            );
        }
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    for (mut bytes, dec) in all_valid_messages() {
        bytes.push(0);
        assert_eq!(
            dec(&bytes),
            Err(DecodeError::new(DecodeErrorKind::TrailingBytes, "packet"))
        );
    }
}

#[test]
fn magic_and_version_are_checked_separately() {
    for first in [0x00u8, 0x01, 0xa1, 0xb1 ^ 0x80, 0xff] {
        assert_eq!(
            err_v4(&[first, 0, 0, 0]).kind,
            DecodeErrorKind::BadMagic,
            "{first:#x}"
        );
    }
    // Reserved for the label/encryption envelope.
    for first in 0xc0..=0xcf {
        assert_eq!(
            err_v4(&[first, 0, 0, 0]).kind,
            DecodeErrorKind::BadMagic,
            "{first:#x}"
        );
    }
    for first in [0xb0u8, 0xb2, 0xbf] {
        assert_eq!(
            err_v4(&[first, 0, 0, 0]).kind,
            DecodeErrorKind::UnsupportedVersion
        );
    }
    assert_eq!(HEADER, 0xb1);
}

#[test]
fn unknown_kinds_and_tags_are_rejected() {
    for kind in [8u8, 0x7f, 0xff] {
        assert_eq!(
            err_v4(&[0xb1, kind, 0, 0]),
            DecodeError::new(DecodeErrorKind::UnknownKind, "body kind")
        );
    }
    assert_eq!(
        err_v4(&hex(&format!("b1 00 01 04 {A} 00 00"))),
        DecodeError::new(DecodeErrorKind::UnknownKind, "update tag")
    );
    let err = decode::<SocketAddr>(
        &hex("b1 00 01 03 05 c0a80102 0050 00 00"),
        &Limits::UNLIMITED,
    );
    assert_eq!(err.unwrap_err().kind, DecodeErrorKind::BadAddr);
}

#[test]
fn undefined_members_flags_are_rejected() {
    for flags in [0x10u8, 0x80, 0xff] {
        assert_eq!(
            err_v4(&[0xb1, 6, 0, flags, 0, 0, 0, 0, 0, 0, 0]),
            DecodeError::new(DecodeErrorKind::BadFlags, "members flags")
        );
    }
    assert!(
        decode::<SocketAddrV4>(&[0xb1, 6, 0, 0x0f, 0, 0, 0, 0, 0, 0, 0], &Limits::UNLIMITED)
            .is_ok()
    );
}

#[test]
fn non_minimal_varints_are_rejected() {
    // seq 0 as two bytes.
    assert_eq!(
        err_v4(&hex("b1 01 8000 00 00")),
        DecodeError::new(DecodeErrorKind::BadVarint, "ping seq")
    );
    // update count 0 as two bytes.
    assert_eq!(
        err_v4(&hex("b1 00 8000 00")).kind,
        DecodeErrorKind::BadVarint
    );
    // incarnation 1 as three bytes.
    assert_eq!(
        err_v4(&hex(&format!("b1 00 01 03 {A} 818000 00"))),
        DecodeError::new(DecodeErrorKind::BadVarint, "incarnation")
    );
    // Overflowing u64.
    assert_eq!(
        err_v4(&hex(&format!("b1 00 01 03 {A} ffffffffffffffffff02 00"))).kind,
        DecodeErrorKind::BadVarint
    );
    // A seq above u32::MAX is well-formed but out of range.
    assert_eq!(
        err_v4(&hex("b1 02 8080808010 00 00")),
        DecodeError::new(DecodeErrorKind::OutOfRange, "ack seq")
    );
}

#[test]
fn counts_larger_than_the_datagram_are_rejected_before_allocating() {
    // u64::MAX updates claimed in a 14-byte datagram: rejected by the
    // bytes-left cap (a `Vec::with_capacity` of that size would abort).
    assert_eq!(
        err_v4(&hex("b1 00 ffffffffffffffffff01 00 00")),
        DecodeError::new(DecodeErrorKind::Truncated, "update count")
    );
    assert_eq!(
        err_v4(&hex("b1 06 00 00 ffffffffffffffffff01 00 00")),
        DecodeError::new(DecodeErrorKind::Truncated, "record count")
    );
    assert_eq!(
        err_v4(&hex("b1 00 00 ffffffffffffffffff01")),
        DecodeError::new(DecodeErrorKind::Truncated, "broadcast count")
    );
    // Two updates claimed, room for at most one minimal one.
    assert_eq!(
        err_v4(&hex(&format!("b1 00 02 03 {A} 00 00"))),
        DecodeError::new(DecodeErrorKind::Truncated, "update count")
    );
    // A huge length prefix.
    assert_eq!(
        err_v4(&hex("b1 07 ffffffffffffffffff01 00 00")),
        DecodeError::new(DecodeErrorKind::Truncated, "user payload")
    );
}

#[test]
fn limits_are_enforced() {
    let limits = Limits {
        max_meta_size: 2,
        max_payload_size: 3,
        max_items: 2,
    };
    let dec = |p: &Packet<SocketAddrV4>| decode::<SocketAddrV4>(&encode(p), &limits);

    assert!(dec(&packet(Body::Gossip, vec![alive(a(), 0, b"12")], vec![])).is_ok());
    assert_eq!(
        dec(&packet(Body::Gossip, vec![alive(a(), 0, b"123")], vec![])).unwrap_err(),
        DecodeError::new(DecodeErrorKind::TooLong, "metadata")
    );
    assert!(dec(&packet(Body::Gossip, vec![], vec![bcast(a(), 0, b"123")])).is_ok());
    assert_eq!(
        dec(&packet(Body::Gossip, vec![], vec![bcast(a(), 0, b"1234")])).unwrap_err(),
        DecodeError::new(DecodeErrorKind::TooLong, "broadcast payload")
    );
    assert_eq!(
        dec(&bare(Body::User {
            payload: Bytes::from_static(b"1234")
        }))
        .unwrap_err(),
        DecodeError::new(DecodeErrorKind::TooLong, "user payload")
    );
    assert!(dec(&packet(Body::Gossip, vec![left(a(), 0); 2], vec![])).is_ok());
    assert_eq!(
        dec(&packet(Body::Gossip, vec![left(a(), 0); 3], vec![])).unwrap_err(),
        DecodeError::new(DecodeErrorKind::TooMany, "update count")
    );
    assert_eq!(
        dec(&packet(Body::Gossip, vec![], vec![bcast(a(), 0, b""); 3])).unwrap_err(),
        DecodeError::new(DecodeErrorKind::TooMany, "broadcast count")
    );
    assert_eq!(
        dec(&bare(Body::Members {
            seq: 0,
            flags: 0,
            cursor: 0,
            records: vec![left(a(), 0); 3]
        }))
        .unwrap_err(),
        DecodeError::new(DecodeErrorKind::TooMany, "record count")
    );
}

#[test]
fn errors_display_kind_and_context() {
    let e = DecodeError::new(DecodeErrorKind::Truncated, "update count");
    assert_eq!(e.to_string(), "truncated while decoding update count");
    let _: &dyn std::error::Error = &e;
}

// ---------------------------------------------------------------- builder

#[test]
fn builder_rejects_a_body_that_does_not_fit() {
    let body: Body<SocketAddrV4> = Body::User {
        payload: Bytes::from(vec![0; 300]),
    };
    assert!(PacketBuilder::new(&body, 256).is_none());
    let need = packet_len(&bare(body.clone()));
    assert!(PacketBuilder::new(&body, need - 1).is_none());
    let b = PacketBuilder::new(&body, need).unwrap();
    assert_eq!((b.len(), b.remaining()), (need, 0));
    assert!(PacketBuilder::<SocketAddrV4>::new(&Body::Gossip, 3).is_none());
    assert_eq!(
        PacketBuilder::<SocketAddrV4>::new(&Body::Gossip, 4)
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn builder_accounts_for_count_varint_growth() {
    // 127 Left updates (8 bytes each) leave a one-byte count; the 128th
    // needs 8 more bytes plus one for the count.
    let base = 4;
    let max = base + 128 * 8;
    let mut bld = PacketBuilder::<SocketAddrV4>::new(&Body::Gossip, max).unwrap();
    for i in 0..127 {
        assert!(bld.push_update(&left(a(), i)));
    }
    assert_eq!(bld.remaining(), 8);
    assert!(!bld.push_update(&left(a(), 127)), "8 bytes free, 9 needed");
    assert_eq!(bld.update_count(), 127);
    assert_eq!(bld.len(), max - 8);
    let out = bld.finish();
    assert_eq!(out.len(), max - 8);
    assert_eq!(
        decode::<SocketAddrV4>(&out, &Limits::UNLIMITED)
            .unwrap()
            .updates
            .len(),
        127
    );
}

#[test]
fn builder_members_flags_and_records() {
    let body = Body::Members {
        seq: 9,
        flags: 0xff,
        cursor: 1,
        records: vec![left(a(), 1)],
    };
    let mut bld = PacketBuilder::<SocketAddrV4>::new(&body, 256).unwrap();
    assert_eq!(bld.record_count(), 0, "the body's records are ignored");
    assert!(bld.push_record(&left(b(), 2)));
    bld.set_members_flags(MEMBERS_SYNC_REPLY | 0x40);
    bld.set_members_cursor(0xdead_beef);
    assert_eq!(bld.record_count(), 1);
    let p = decode::<SocketAddrV4>(&bld.finish(), &Limits::UNLIMITED).unwrap();
    assert_eq!(
        p.body,
        Body::Members {
            seq: 9,
            flags: MEMBERS_SYNC_REPLY,
            cursor: 0xdead_beef,
            records: vec![left(b(), 2)]
        }
    );

    // Other bodies take no records and ignore flags.
    let mut bld = PacketBuilder::<SocketAddrV4>::new(&Body::Ping { seq: 1 }, 256).unwrap();
    assert!(!bld.push_record(&left(a(), 1)));
    bld.set_members_flags(1);
    assert_eq!(&bld.finish()[..], &hex("b1 01 01 00 00")[..]);
}

// ---------------------------------------------------------------- proptest

fn addr_v4() -> BoxedStrategy<SocketAddrV4> {
    (any::<[u8; 4]>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddrV4::new(ip.into(), port))
        .boxed()
}

fn addr_any() -> BoxedStrategy<SocketAddr> {
    prop_oneof![
        addr_v4().prop_map(SocketAddr::V4),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(ip),
            port,
            0,
            0
        ))),
    ]
    .boxed()
}

fn blob(max: usize) -> BoxedStrategy<Bytes> {
    prop_oneof![
        3 => vec(any::<u8>(), 0..=8).prop_map(Bytes::from),
        1 => vec(any::<u8>(), 0..=max).prop_map(Bytes::from),
    ]
    .boxed()
}

fn number() -> BoxedStrategy<u64> {
    prop_oneof![0..300u64, any::<u64>()].boxed()
}

fn update<A: Addr>(addr: BoxedStrategy<A>) -> BoxedStrategy<Update<A>> {
    let kind = prop_oneof![
        blob(300).prop_map(|meta| UpdateKind::Alive { meta }),
        addr.clone().prop_map(|by| UpdateKind::Suspect { by }),
        addr.clone().prop_map(|by| UpdateKind::Failed { by }),
        Just(UpdateKind::Left),
    ];
    (addr, number(), kind)
        .prop_map(|(addr, incarnation, kind)| Update {
            addr,
            incarnation,
            kind,
        })
        .boxed()
}

fn broadcast<A: Addr>(addr: BoxedStrategy<A>) -> BoxedStrategy<Broadcast<A>> {
    (addr, number(), blob(600))
        .prop_map(|(origin, id, payload)| Broadcast {
            origin,
            id,
            payload,
        })
        .boxed()
}

fn body<A: Addr>(addr: BoxedStrategy<A>) -> BoxedStrategy<Body<A>> {
    let seq = || prop_oneof![0..200u32, any::<u32>()];
    prop_oneof![
        Just(Body::Gossip),
        seq().prop_map(|seq| Body::Ping { seq }),
        seq().prop_map(|seq| Body::Ack { seq }),
        (seq(), addr.clone()).prop_map(|(seq, target)| Body::PingReq { seq, target }),
        seq().prop_map(|seq| Body::Nack { seq }),
        (seq(), any::<u32>(), 0..40u16).prop_map(|(seq, cursor, pad)| Body::Join {
            seq,
            cursor,
            pad
        }),
        (
            seq(),
            0..=MEMBERS_ALL_FLAGS,
            any::<u32>(),
            vec(update(addr), 0..6)
        )
            .prop_map(|(seq, flags, cursor, records)| Body::Members {
                seq,
                flags,
                cursor,
                records
            }),
        blob(600).prop_map(|payload| Body::User { payload }),
    ]
    .boxed()
}

fn any_packet<A: Addr>(addr: BoxedStrategy<A>) -> BoxedStrategy<Packet<A>> {
    (
        body(addr.clone()),
        vec(update(addr.clone()), 0..10),
        vec(broadcast(addr), 0..4),
    )
        .prop_map(|(body, updates, broadcasts)| Packet {
            body,
            updates,
            broadcasts,
        })
        .boxed()
}

/// Byte strings that are sometimes valid: raw noise, noise after a valid
/// header and kind, and mutated valid packets.
fn fuzz_bytes() -> BoxedStrategy<Vec<u8>> {
    let mutations = vec((any::<usize>(), 0..3u8, any::<u8>()), 1..4);
    prop_oneof![
        vec(any::<u8>(), 0..64),
        (0..9u8, vec(any::<u8>(), 0..64)).prop_map(|(kind, tail)| {
            let mut v = vec![HEADER, kind];
            v.extend(tail);
            v
        }),
        any_packet(addr_v4()).prop_map(|p| encode(&p)),
        any_packet(addr_any()).prop_map(|p| encode(&p)),
        (any_packet(addr_v4()), mutations).prop_map(|(p, muts)| {
            let mut v = encode(&p);
            for (at, op, byte) in muts {
                let i = at % (v.len() + 1);
                match op {
                    0 if i < v.len() => v[i] = byte,
                    1 => v.insert(i, byte),
                    _ if i < v.len() => {
                        v.remove(i);
                    }
                    _ => {}
                }
            }
            v
        }),
    ]
    .boxed()
}

fn check_decode_canonical<A: Addr>(bytes: &[u8]) -> Result<(), TestCaseError> {
    let tight = Limits {
        max_meta_size: 16,
        max_payload_size: 16,
        max_items: 3,
    };
    for limits in [Limits::UNLIMITED, tight] {
        if let Ok(p) = decode::<A>(bytes, &limits) {
            prop_assert_eq!(&encode(&p)[..], bytes);
            prop_assert_eq!(packet_len(&p), bytes.len());
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Item<A> {
    Record(Update<A>),
    Update(Update<A>),
    Broadcast(Broadcast<A>),
    Flags(u8),
}

fn items<A: Addr>(addr: BoxedStrategy<A>) -> BoxedStrategy<Vec<Item<A>>> {
    let item = prop_oneof![
        2 => update(addr.clone()).prop_map(Item::Record),
        6 => update(addr.clone()).prop_map(Item::Update),
        2 => broadcast(addr.clone()).prop_map(Item::Broadcast),
        1 => any::<u8>().prop_map(Item::Flags),
    ];
    // Many small items of one kind push a count past 127, where its varint
    // grows.
    let many_small = (0..3u8, vec((addr, 0..100u64), 120..300)).prop_map(|(list, items)| {
        items
            .into_iter()
            .map(|(a, i)| match list {
                0 => Item::Record(left(a, i)),
                1 => Item::Update(left(a, i)),
                _ => Item::Broadcast(Broadcast {
                    origin: a,
                    id: i,
                    payload: Bytes::new(),
                }),
            })
            .collect::<Vec<_>>()
    });
    prop_oneof![vec(item, 0..100), many_small].boxed()
}

fn check_builder<A: Addr>(
    body: Body<A>,
    items: Vec<Item<A>>,
    max: usize,
) -> Result<(), TestCaseError> {
    let mut expected = bare(body.clone());
    if let Body::Members { records, flags, .. } = &mut expected.body {
        records.clear();
        *flags &= MEMBERS_ALL_FLAGS;
    }
    let Some(mut bld) = PacketBuilder::new(&body, max) else {
        prop_assert!(packet_len(&expected) > max);
        return Ok(());
    };
    prop_assert_eq!(bld.len(), packet_len(&expected));
    for item in items {
        let mut candidate = expected.clone();
        let accepted = match &item {
            Item::Record(u) => match &mut candidate.body {
                Body::Members { records, .. } => {
                    records.push(u.clone());
                    bld.push_record(u)
                }
                _ => {
                    prop_assert!(!bld.push_record(u));
                    continue;
                }
            },
            Item::Update(u) => {
                candidate.updates.push(u.clone());
                bld.push_update(u)
            }
            Item::Broadcast(x) => {
                candidate.broadcasts.push(x.clone());
                bld.push_broadcast(x)
            }
            Item::Flags(f) => {
                if let Body::Members { flags, .. } = &mut candidate.body {
                    *flags = f & MEMBERS_ALL_FLAGS;
                }
                bld.set_members_flags(*f);
                true
            }
        };
        // Accepted exactly when the finished packet still fits.
        prop_assert_eq!(accepted, packet_len(&candidate) <= max);
        if accepted {
            expected = candidate;
        }
        prop_assert_eq!(bld.len(), packet_len(&expected));
        prop_assert_eq!(bld.remaining(), max - bld.len());
    }
    let out = bld.finish();
    prop_assert!(out.len() <= max);
    prop_assert_eq!(&out[..], &encode(&expected)[..]);
    prop_assert_eq!(decode::<A>(&out, &Limits::UNLIMITED), Ok(expected));
    Ok(())
}

proptest! {
    #[test]
    fn prop_round_trip_v4(p in any_packet(addr_v4())) {
        let bytes = encode(&p);
        prop_assert_eq!(bytes.len(), packet_len(&p));
        prop_assert_eq!(decode::<SocketAddrV4>(&bytes, &Limits::UNLIMITED), Ok(p));
    }

    #[test]
    fn prop_round_trip_socket_addr(p in any_packet(addr_any())) {
        let bytes = encode(&p);
        prop_assert_eq!(bytes.len(), packet_len(&p));
        prop_assert_eq!(decode::<SocketAddr>(&bytes, &Limits::UNLIMITED), Ok(p));
    }

    #[test]
    fn prop_decode_never_panics_and_is_canonical(bytes in fuzz_bytes()) {
        check_decode_canonical::<SocketAddrV4>(&bytes)?;
        check_decode_canonical::<SocketAddr>(&bytes)?;
    }

    #[test]
    fn prop_builder_fits_and_round_trips_v4(
        body in body(addr_v4()), items in items(addr_v4()), max in 256..2000usize,
    ) {
        check_builder(body, items, max)?;
    }

    #[test]
    fn prop_builder_fits_and_round_trips_socket_addr(
        body in body(addr_any()), items in items(addr_any()), max in 256..2000usize,
    ) {
        check_builder(body, items, max)?;
    }
}

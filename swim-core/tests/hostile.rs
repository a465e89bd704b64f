//! Hostile input, through the public API: nothing a network can send breaks
//! a node, grows its memory past the configured bounds, or makes it an
//! amplifier. Virtual time throughout (an `Instant` we advance).

use bytes::Bytes;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};
use swim_core::fuzzing::{check_bounds, footprint};
use swim_core::wire::{
    self, Body, Broadcast, Limits, Packet, Update, UpdateKind, MEMBERS_JOIN_REPLY, MEMBERS_MORE,
    MEMBERS_SYNC_REQUEST,
};
use swim_core::{Action, Config, Event, State, Swim};

type A = SocketAddrV4;

/// Replies are at most this many times the datagram they answer.
const REPLY_FACTOR: usize = 3;

fn a(i: u32) -> A {
    SocketAddrV4::new(Ipv4Addr::from(0x0a00_0000 + i), 7946)
}

const ME: A = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 7946);
const PEER: A = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 7946);

/// A node under test on a virtual clock.
struct Rig {
    node: Swim<A>,
    t0: Instant,
    now: Duration,
}

impl Rig {
    fn new(config: Config) -> Rig {
        #[expect(
            clippy::disallowed_methods,
            reason = "one real Instant as the origin; all later time is virtual"
        )]
        let t0 = Instant::now();
        let mut node = Swim::new(ME, config, 7).unwrap();
        node.join(t0, &[]);
        Rig {
            node,
            t0,
            now: Duration::ZERO,
        }
    }

    fn at(&self) -> Instant {
        self.t0 + self.now
    }

    fn recv(&mut self, from: A, bytes: &[u8]) -> Vec<Action<A>> {
        let now = self.at();
        self.node.handle_datagram(now, from, bytes)
    }

    /// Delivers a datagram; members it introduces from a stranger (the node
    /// pings them before admitting them) answer, as real ones would: these
    /// tests give the attacker the addresses it names (the worst case). The
    /// returned actions are those of the datagram itself.
    fn send(&mut self, from: A, body: Body<A>, updates: Vec<Update<A>>) -> Vec<Action<A>> {
        let mut introduced: Vec<A> = updates
            .iter()
            .filter(|u| matches!(u.kind, UpdateKind::Alive { .. }))
            .map(|u| u.addr)
            .collect();
        if let Body::Members { records, .. } = &body {
            introduced.extend(
                records
                    .iter()
                    .filter(|u| matches!(u.kind, UpdateKind::Alive { .. }))
                    .map(|u| u.addr),
            );
        }
        let bytes = encode(body, updates);
        let out = self.recv(from, &bytes);
        for (to, payload) in sends(&out) {
            let Ok(p) = wire::decode::<A>(&payload, &self.limits()) else {
                continue;
            };
            if let Body::Ping { seq } = p.body {
                if p.updates.is_empty() && introduced.contains(&to) {
                    self.recv(to, &encode(Body::Ack { seq }, vec![]));
                }
            }
        }
        out
    }

    fn tick_for(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.node.next_deadline() {
            let t = t - self.t0;
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            let now = self.at();
            self.node.tick(now);
        }
        self.now = end;
    }

    /// Makes `m` a member at incarnation `inc`.
    fn know(&mut self, m: A, inc: u64) {
        self.send(m, Body::Gossip, vec![alive(m, inc)]);
        assert_eq!(self.node.member(&m).unwrap().state, State::Alive);
    }

    fn limits(&self) -> Limits {
        let c = self.node.config();
        Limits {
            max_meta_size: c.max_meta_size,
            max_payload_size: c.max_payload_size,
            max_items: c.max_packet_size,
        }
    }
}

fn encode(body: Body<A>, updates: Vec<Update<A>>) -> Vec<u8> {
    wire::encode(&Packet {
        body,
        updates,
        broadcasts: vec![],
    })
}

fn alive(m: A, inc: u64) -> Update<A> {
    Update {
        addr: m,
        incarnation: inc,
        kind: UpdateKind::Alive { meta: Bytes::new() },
    }
}

fn claim(m: A, inc: u64, state: State) -> Update<A> {
    let kind = match state {
        State::Alive => UpdateKind::Alive { meta: Bytes::new() },
        State::Suspect => UpdateKind::Suspect { by: a(99) },
        State::Failed => UpdateKind::Failed { by: a(99) },
        State::Left => UpdateKind::Left,
    };
    Update {
        addr: m,
        incarnation: inc,
        kind,
    }
}

fn sends(actions: &[Action<A>]) -> Vec<(A, Bytes)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, payload } => Some((*to, payload.clone())),
            Action::Event(_) => None,
        })
        .collect()
}

fn events(actions: &[Action<A>]) -> Vec<Event<A>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(e) => Some(e.clone()),
            Action::Send { .. } => None,
        })
        .collect()
}

#[test]
fn forged_claims_at_u64_max_about_a_member_are_rejected() {
    for state in [State::Suspect, State::Failed, State::Left] {
        let mut r = Rig::new(Config::lan());
        r.know(PEER, 1);
        let before = r.node.stats().updates_rejected;
        let out = r.send(a(50), Body::Gossip, vec![claim(PEER, u64::MAX, state)]);
        assert!(events(&out).is_empty(), "{state:?}: {out:?}");
        let m = r.node.member(&PEER).unwrap();
        assert_eq!((m.state, m.incarnation), (State::Alive, 1), "{state:?}");
        assert_eq!(r.node.stats().updates_rejected, before + 1);
        // The member's own honest news still gets through.
        r.send(PEER, Body::Gossip, vec![claim(PEER, 2, State::Alive)]);
        assert_eq!(r.node.member(&PEER).unwrap().incarnation, 2);
    }
}

#[test]
fn a_member_cannot_be_introduced_at_u64_max_and_then_evicted() {
    // Two steps: an Alive at u64::MAX for a member we do not know yet,
    // then a Failed at u64::MAX, which nothing could ever override.
    let mut r = Rig::new(Config::lan());
    let forged = vec![
        claim(PEER, u64::MAX, State::Alive),
        claim(PEER, u64::MAX, State::Failed),
    ];
    r.send(a(50), Body::Gossip, forged);
    assert!(
        r.node
            .member(&PEER)
            .is_none_or(|m| m.incarnation < u64::MAX),
        "{:?}",
        r.node.member(&PEER)
    );
    // The real member joins at its real incarnation and is Alive.
    r.send(PEER, Body::Gossip, vec![alive(PEER, 0)]);
    let m = r.node.member(&PEER).unwrap();
    assert_eq!(m.state, State::Alive, "{m:?}");
}

#[test]
fn forged_claims_about_the_node_itself_never_kill_it() {
    for state in [State::Suspect, State::Failed, State::Left, State::Alive] {
        let mut r = Rig::new(Config::lan());
        r.know(PEER, 0);
        let inc = r.node.local().incarnation;
        r.send(PEER, Body::Gossip, vec![claim(ME, u64::MAX, state)]);
        let me = r.node.local();
        assert_eq!(me.state, State::Alive, "{state:?}");
        assert_eq!(me.incarnation, inc, "{state:?}: a forged jump was accepted");
        assert!(r.node.members().all(|m| m.addr != ME));
        // A plausible claim is refuted: the node bumps past it.
        r.send(PEER, Body::Gossip, vec![claim(ME, inc + 1, state)]);
        let me = r.node.local();
        assert_eq!(me.state, State::Alive);
        assert!(me.incarnation > inc, "{state:?}");
        assert!(r.node.next_deadline().is_some());
    }
}

#[test]
fn counts_and_lengths_larger_than_the_datagram_are_decode_errors() {
    let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    let mut cases: Vec<Vec<u8>> = Vec::new();
    // Gossip with an update count far beyond the bytes left.
    cases.push([&[wire::HEADER, 0][..], &huge[..], &[0, 0]].concat());
    cases.push(vec![wire::HEADER, 0, 0x90, 0x4e, 0, 0]); // 10,000 updates
                                                         // An Alive update whose metadata length is a million bytes.
    let mut alive_hdr = vec![wire::HEADER, 0, 1, 0];
    alive_hdr.extend_from_slice(&[10, 0, 0, 2, 0x1f, 0x0a, 0]);
    cases.push([&alive_hdr[..], &[0xc0, 0x84, 0x3d], &[1, 2, 3]].concat());
    cases.push([&alive_hdr[..], &huge[..]].concat());
    // A user payload of u64::MAX bytes.
    cases.push([&[wire::HEADER, 7][..], &huge[..]].concat());
    // A Members body with a record count of u64::MAX.
    cases.push([&[wire::HEADER, 6, 1, 1, 0, 0, 0, 0][..], &huge[..], &[0, 0]].concat());
    // Broadcasts: a count beyond the bytes left, and a huge payload.
    cases.push(vec![wire::HEADER, 0, 0, 0x7f]);
    cases.push(
        [
            &[wire::HEADER, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0][..],
            &huge[..],
        ]
        .concat(),
    );
    // A join pad longer than the datagram.
    cases.push(vec![wire::HEADER, 5, 1, 0, 0, 0, 0, 0xff, 0xff, 0x03, 0, 0]);

    let mut r = Rig::new(Config::lan());
    r.know(PEER, 0);
    for (i, bytes) in cases.iter().enumerate() {
        let limits = r.limits();
        assert!(
            wire::decode::<A>(bytes, &limits).is_err(),
            "case {i} decodes"
        );
        let stats = r.node.stats();
        let members: Vec<_> = r.node.members().collect();
        let out = r.recv(PEER, bytes);
        assert!(out.is_empty(), "case {i}: {out:?}");
        let after = r.node.stats();
        assert_eq!(after.decode_errors, stats.decode_errors + 1, "case {i}");
        assert_eq!(after.datagrams_sent, stats.datagrams_sent);
        assert!(r.node.members().eq(members), "case {i} changed members");
    }
}

#[test]
fn metadata_at_the_cap_is_accepted_and_over_it_rejected() {
    let mut r = Rig::new(Config::lan());
    let cap = r.node.config().max_meta_size;
    let at_cap = Bytes::from(vec![7u8; cap]);
    let over = Bytes::from(vec![7u8; cap + 1]);
    let with = |m: A, meta: &Bytes| Update {
        addr: m,
        incarnation: 0,
        kind: UpdateKind::Alive { meta: meta.clone() },
    };
    r.send(PEER, Body::Gossip, vec![with(PEER, &at_cap)]);
    assert_eq!(r.node.member(&PEER).unwrap().meta, at_cap);

    let errors = r.node.stats().decode_errors;
    let out = r.send(a(3), Body::Gossip, vec![with(a(3), &over)]);
    assert!(out.is_empty());
    assert!(r.node.member(&a(3)).is_none());
    assert_eq!(r.node.stats().decode_errors, errors + 1);

    // The same caps apply to this node's own metadata.
    let now = r.at();
    assert!(r.node.set_meta(now, at_cap.clone()).is_ok());
    assert_eq!(r.node.local().meta, at_cap);
    assert!(r.node.set_meta(now, over).is_err());
    assert_eq!(r.node.local().meta, at_cap);
}

#[test]
fn the_same_member_many_times_in_one_datagram() {
    let mut r = Rig::new(Config::lan());
    let mut updates = Vec::new();
    for i in 0..60u64 {
        let state = [State::Alive, State::Suspect, State::Failed, State::Left][(i % 4) as usize];
        updates.push(claim(PEER, i / 3, state));
        updates.push(alive(PEER, i / 3));
    }
    // From a member (a stranger's news of new members waits for their ack).
    r.know(a(9), 0);
    let bytes = encode(Body::Gossip, updates);
    let out = r.recv(a(9), &bytes);
    assert_eq!(r.node.members().filter(|m| m.addr == PEER).count(), 1);
    let m = r.node.member(&PEER).unwrap();
    assert_eq!(m.incarnation, 59 / 3);
    // Every event is about the one member, and the table holds one entry.
    assert!(events(&out)
        .iter()
        .all(|e| format!("{e:?}").contains("10.0.0.2")));
    assert_eq!(footprint(&r.node).members, 2);
    check_bounds(&r.node);
    // Many copies of the same broadcast are delivered once.
    let b = Broadcast {
        origin: PEER,
        id: 1,
        payload: Bytes::from_static(b"hi"),
    };
    let bytes = wire::encode(&Packet {
        body: Body::Gossip,
        updates: vec![],
        broadcasts: vec![b; 50],
    });
    let out = r.recv(PEER, &bytes);
    let messages = events(&out)
        .into_iter()
        .filter(|e| matches!(e, Event::Message { .. }))
        .count();
    assert_eq!(messages, 1);
}

#[test]
fn a_datagram_claiming_to_come_from_the_node_itself_is_dropped() {
    let mut r = Rig::new(Config::lan());
    r.know(PEER, 0);
    let stats = r.node.stats();
    for body in [
        Body::Ping { seq: 1 },
        Body::Join {
            seq: 1,
            cursor: 0,
            pad: 0,
        },
        Body::Gossip,
    ] {
        let out = r.send(
            ME,
            body,
            vec![claim(PEER, 5, State::Failed), alive(a(7), 0)],
        );
        assert!(out.is_empty(), "{out:?}");
    }
    assert_eq!(
        r.node.stats().datagrams_dropped,
        stats.datagrams_dropped + 3
    );
    assert_eq!(r.node.member(&PEER).unwrap().state, State::Alive);
    assert!(r.node.member(&a(7)).is_none());
}

#[test]
fn acks_and_nacks_for_unknown_sequence_numbers_change_nothing() {
    let mut r = Rig::new(Config::lan());
    r.know(PEER, 0);
    r.tick_for(Duration::from_millis(10));
    for seq in [0, 1, 12345, u32::MAX] {
        let members: Vec<_> = r.node.members().collect();
        let health = r.node.health_score();
        let deadline = r.node.next_deadline();
        let stats = r.node.stats();
        let out = r.send(PEER, Body::Ack { seq }, vec![]);
        assert!(out.is_empty(), "{out:?}");
        let out = r.send(PEER, Body::Nack { seq }, vec![]);
        assert!(out.is_empty(), "{out:?}");
        assert!(r.node.members().eq(members));
        assert_eq!(r.node.health_score(), health);
        assert_eq!(r.node.next_deadline(), deadline);
        let after = r.node.stats();
        assert_eq!(after.nacks_received, stats.nacks_received);
        assert_eq!(after.datagrams_sent, stats.datagrams_sent);
    }
}

#[test]
fn ping_req_naming_the_node_itself_or_the_requester() {
    let mut r = Rig::new(Config::lan());
    r.know(PEER, 0);
    r.know(a(3), 0);
    // "Ping yourself for me": answered with an ack, to the real source.
    let out = r.send(
        PEER,
        Body::PingReq {
            seq: 77,
            target: ME,
        },
        vec![],
    );
    let s = sends(&out);
    assert_eq!(s.len(), 1, "{out:?}");
    assert_eq!(s[0].0, PEER);
    let p = wire::decode::<A>(&s[0].1, &r.limits()).unwrap();
    assert_eq!(p.body, Body::Ack { seq: 77 });
    // Even from a stranger, the ack goes to the datagram's source.
    let stranger = a(1000);
    let out = r.send(
        stranger,
        Body::PingReq {
            seq: 78,
            target: ME,
        },
        vec![],
    );
    // (A stranger is also asked who it is, within the reply budget: that
    // goes to the source too.)
    let s = sends(&out);
    assert!(s.iter().all(|x| x.0 == stranger), "{out:?}");
    assert!(s.iter().any(
        |x| wire::decode::<A>(&x.1, &r.limits()).is_ok_and(|p| p.body == Body::Ack { seq: 78 })
    ));
    // "Ping me for me", or ping a stranger: dropped.
    let dropped = r.node.stats().datagrams_dropped;
    let out = r.send(
        PEER,
        Body::PingReq {
            seq: 79,
            target: PEER,
        },
        vec![],
    );
    assert!(sends(&out).is_empty(), "{out:?}");
    let out = r.send(
        PEER,
        Body::PingReq {
            seq: 80,
            target: a(555),
        },
        vec![],
    );
    assert!(sends(&out).is_empty(), "{out:?}");
    assert_eq!(r.node.stats().datagrams_dropped, dropped + 2);
    // A ping-req for a known member relays a ping to it, nothing else.
    let out = r.send(
        PEER,
        Body::PingReq {
            seq: 81,
            target: a(3),
        },
        vec![],
    );
    assert_eq!(sends(&out).iter().map(|s| s.0).collect::<Vec<_>>(), [a(3)]);
}

#[test]
fn a_flood_of_joins_from_a_million_addresses_stays_bounded() {
    let mut config = Config::lan();
    config.max_members = 1024;
    let max = config.max_members;
    let mut r = Rig::new(config);
    r.know(PEER, 0);
    let mut next = 1_000u32;
    let mut addrs = 0usize;
    // 100,000 join requests from distinct sources, each with its Alive...
    for i in 0..100_000u32 {
        let from = a(next);
        next += 1;
        addrs += 1;
        let body = Body::Join {
            seq: i,
            cursor: 0,
            pad: 0,
        };
        let out = r.send(from, body, vec![alive(from, 0)]);
        for (to, _) in sends(&out) {
            assert_eq!(to, from);
        }
        if i % 1000 == 0 {
            r.tick_for(Duration::from_millis(50));
            check_bounds(&r.node);
        }
    }
    // ...and 900,000 more addresses as Alive updates, 100 a datagram.
    while addrs < 1_000_000 {
        let updates: Vec<_> = (0..100)
            .map(|_| {
                next += 1;
                alive(a(next), 0)
            })
            .collect();
        addrs += updates.len();
        let from = a(next);
        r.send(from, Body::Gossip, updates);
        if addrs % 100_000 == 0 {
            r.tick_for(Duration::from_millis(50));
            check_bounds(&r.node);
        }
    }
    let f = footprint(&r.node);
    assert!(f.members <= max, "{f:?}");
    assert!(r.node.members().count() <= max);
    // Turned away: the table was full, or (news from strangers) too many
    // unverified members were waiting for their ack.
    let s = r.node.stats();
    assert!(
        s.member_table_full + s.unverified_dropped > 900_000,
        "{s:?}"
    );
    check_bounds(&r.node);
    // The real peer is still a member (this rig does not answer the node's
    // probes for it, so it may be suspected by now) and still gets answers.
    let state = r.node.member(&PEER).unwrap().state;
    assert!(matches!(state, State::Alive | State::Suspect), "{state:?}");
    let out = r.send(PEER, Body::Ping { seq: 4242 }, vec![]);
    let s = sends(&out);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].0, PEER);
    let p = wire::decode::<A>(&s[0].1, &r.limits()).unwrap();
    assert_eq!(p.body, Body::Ack { seq: 4242 });
}

/// Everything the node sends while handling one datagram from `from` is at
/// most `REPLY_FACTOR` times its size *in total* (one budget per datagram,
/// whatever it triggers: issue 12, found 6), and goes to `from`, except a
/// relayed probe for a ping-req (to the known member it names).
fn assert_no_amplification(r: &mut Rig, from: A, bytes: &[u8]) {
    let out = r.recv(from, bytes);
    let request = wire::decode::<A>(bytes, &r.limits()).ok();
    let total: usize = sends(&out).iter().map(|(_, p)| p.len()).sum();
    assert!(
        total <= REPLY_FACTOR * bytes.len(),
        "{total} bytes in {} datagrams for a {}-byte {:?}",
        sends(&out).len(),
        bytes.len(),
        request.as_ref().map(|r| &r.body)
    );
    for (to, payload) in sends(&out) {
        let p = wire::decode::<A>(&payload, &r.limits()).unwrap();
        assert!(
            payload.len() <= REPLY_FACTOR * bytes.len(),
            "{}-byte {:?} for a {}-byte {:?}",
            payload.len(),
            p.body,
            bytes.len(),
            request.map(|r| r.body)
        );
        if to != from {
            let relay = matches!(
                request.as_ref().map(|q| &q.body),
                Some(Body::PingReq { target, .. }) if *target == to
            );
            assert!(relay && r.node.member(&to).is_some(), "sent to {to}");
            assert!(matches!(p.body, Body::Ping { .. }));
        }
    }
}

#[test]
fn replies_are_never_more_than_three_times_the_request() {
    let mut config = Config::lan();
    config.facilitator = false;
    let mut r = Rig::new(config);
    // A large table with metadata, and a backlog of news to piggyback.
    for i in 10..400 {
        let u = Update {
            addr: a(i),
            incarnation: 1,
            kind: UpdateKind::Alive {
                meta: Bytes::from(vec![1u8; 40]),
            },
        };
        r.send(a(i), Body::Gossip, vec![u]);
    }
    r.know(PEER, 0);
    let bodies = [
        Body::Gossip,
        Body::Ping { seq: 1 },
        Body::Ping { seq: u32::MAX },
        Body::PingReq { seq: 2, target: ME },
        Body::PingReq {
            seq: 3,
            target: a(20),
        },
        Body::Ack { seq: 4 },
        Body::Join {
            seq: 5,
            cursor: 0,
            pad: 0,
        },
        Body::Join {
            seq: 6,
            cursor: 7,
            pad: 30,
        },
        Body::Members {
            seq: 7,
            flags: MEMBERS_SYNC_REQUEST,
            cursor: 0,
            records: vec![],
        },
        Body::Members {
            seq: 8,
            flags: MEMBERS_SYNC_REQUEST | MEMBERS_JOIN_REPLY | MEMBERS_MORE,
            cursor: 3,
            records: vec![alive(a(21), 1)],
        },
        Body::User {
            payload: Bytes::from_static(b"x"),
        },
    ];
    for from in [PEER, a(30), a(9999)] {
        for body in &bodies {
            let bytes = encode(body.clone(), vec![]);
            assert_no_amplification(&mut r, from, &bytes);
            let bytes = encode(body.clone(), vec![claim(ME, 0, State::Suspect)]);
            assert_no_amplification(&mut r, from, &bytes);
        }
    }
}

#[test]
fn one_datagram_draws_at_most_three_times_its_size_in_all() {
    // Issue 12, found 6: a ping-req naming the node itself, carrying a
    // Suspect claim about it plus padding, drew an ack, a refutation and a
    // sync request (156 B in, 1,344 B out: 8.7x), each within 3x.
    let mut r = Rig::new(Config::lan());
    for i in 10..200 {
        let u = Update {
            addr: a(i),
            incarnation: 1,
            kind: UpdateKind::Alive {
                meta: Bytes::from(vec![1u8; 40]),
            },
        };
        r.send(a(i), Body::Gossip, vec![u]);
    }
    let pad = Update {
        addr: a(5000),
        incarnation: 0,
        kind: UpdateKind::Left,
    };
    for from in [a(7777), a(20)] {
        let bytes = encode(
            Body::PingReq { seq: 9, target: ME },
            vec![claim(ME, 0, State::Suspect), pad.clone(), pad.clone()],
        );
        let out = r.recv(from, &bytes);
        let total: usize = sends(&out).iter().map(|(_, p)| p.len()).sum();
        eprintln!(
            "{} B in, {} datagrams, {total} B out",
            bytes.len(),
            sends(&out).len()
        );
        assert!(total <= REPLY_FACTOR * bytes.len(), "{total} B out");
        assert!(!sends(&out).is_empty(), "the ack still goes out");
        let ack = wire::decode::<A>(&sends(&out)[0].1, &r.limits()).unwrap();
        assert_eq!(ack.body, Body::Ack { seq: 9 }, "the ack comes first");
    }
}

#[test]
fn a_small_forged_join_reply_does_not_trigger_a_full_size_join() {
    // Found by `node_ops`: a join reply flagged MORE made the joiner send
    // a join request padded to max_packet_size to whoever sent the reply.
    let t0 = Rig::new(Config::lan()).t0;
    let mut node = Swim::new(ME, Config::lan(), 1).unwrap();
    let out = node.join(t0, &[PEER]);
    let join = wire::decode::<A>(&sends(&out)[0].1, &Limits::UNLIMITED).unwrap();
    let Body::Join { seq, .. } = join.body else {
        panic!("{join:?}")
    };
    let reply = encode(
        Body::Members {
            seq,
            flags: MEMBERS_JOIN_REPLY | MEMBERS_MORE,
            cursor: 1,
            records: vec![],
        },
        vec![],
    );
    let out = node.handle_datagram(t0, PEER, &reply);
    for (to, payload) in sends(&out) {
        assert_eq!(to, PEER);
        assert!(
            payload.len() <= REPLY_FACTOR * reply.len(),
            "{}",
            payload.len()
        );
    }
    // Nor do the page request's retries, when nothing answers.
    let mut retries = 0;
    for ms in (0..10_000).step_by(50) {
        let out = node.tick(t0 + Duration::from_millis(ms));
        for (to, payload) in sends(&out) {
            let p = wire::decode::<A>(&payload, &Limits::UNLIMITED).unwrap();
            if let Body::Join { cursor: 1, .. } = p.body {
                assert_eq!(to, PEER);
                assert!(
                    payload.len() <= REPLY_FACTOR * reply.len(),
                    "{}",
                    payload.len()
                );
                retries += 1;
            }
        }
    }
    assert!(retries > 0, "the page request is retried");
}

#[test]
fn churn_of_one_member_keeps_memory_bounded() {
    // Alive, Failed, Alive, ... at ever higher incarnations: each flip is
    // legitimate news, but the bookkeeping (reaping deadlines, probe order)
    // must not grow with the number of flips.
    let mut config = Config::lan();
    config.max_members = 16;
    let mut r = Rig::new(config);
    r.know(PEER, 0);
    let mut inc = 0;
    for _ in 0..2_000 {
        let mut updates = Vec::new();
        for _ in 0..20 {
            inc += 1;
            updates.push(claim(a(5), inc, State::Alive));
            updates.push(claim(a(5), inc, State::Failed));
        }
        r.send(PEER, Body::Gossip, updates);
        check_bounds(&r.node);
    }
    r.tick_for(Duration::from_secs(1));
    check_bounds(&r.node);
    let m = r.node.member(&a(5)).unwrap();
    assert_eq!((m.state, m.incarnation), (State::Failed, inc));
    // And the member is still reaped after the retention.
    let retention = r.node.config().retention;
    r.tick_for(retention + Duration::from_secs(1));
    assert!(r.node.member(&a(5)).is_none());
    check_bounds(&r.node);
}

#[test]
fn strangers_introduce_members_only_through_a_bounded_quarantine() {
    // Issue 12, found 10: forged joiners filled the table. A member that a
    // stranger introduces waits (64 at most, 8 per /24) for the ack to a
    // bare ping, and joins only then.
    let mut r = Rig::new(Config::lan());
    let join = |from: A, i: u32| {
        encode(
            Body::Join {
                seq: i,
                cursor: 0,
                pad: 0,
            },
            vec![alive(from, 0)],
        )
    };
    let mut pings = Vec::new();
    for i in 0..100u32 {
        let from = SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, i as u8 + 1), 7946);
        let out = r.recv(from, &join(from, i));
        for (to, payload) in sends(&out) {
            let p = wire::decode::<A>(&payload, &r.limits()).unwrap();
            if let Body::Ping { seq } = p.body {
                assert!(p.updates.is_empty() && p.broadcasts.is_empty(), "bare");
                pings.push((to, seq));
            }
        }
    }
    assert_eq!(pings.len(), 8, "8 from one /24");
    assert_eq!(r.node.stats().unverified_dropped, 92);
    for i in 0..100u32 {
        let from = SocketAddrV4::new(Ipv4Addr::new(10, 20 + i as u8, 0, 1), 7946);
        r.recv(from, &join(from, i));
    }
    assert_eq!(
        r.node.stats().unverified_dropped,
        92 + 100 - 56,
        "64 in all"
    );
    assert_eq!(r.node.members().count(), 0, "none entered the table");
    // One answers its ping: it joins.
    let (who, seq) = pings[3];
    r.recv(who, &encode(Body::Ack { seq }, vec![]));
    assert_eq!(r.node.member(&who).map(|m| m.state), Some(State::Alive));
    assert_eq!(r.node.members().count(), 1);
    // An ack with the wrong sequence number, or from elsewhere, admits no one.
    let (other, seq) = pings[4];
    r.recv(other, &encode(Body::Ack { seq: seq ^ 1 }, vec![]));
    r.recv(a(77), &encode(Body::Ack { seq }, vec![]));
    assert_eq!(r.node.members().count(), 1);
    // The rest are forgotten after a probe interval; the quarantine has room
    // again.
    r.tick_for(Duration::from_secs(2));
    let from = SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, 200), 7946);
    let before = r.node.stats().unverified_dropped;
    r.recv(from, &join(from, 1000));
    assert_eq!(r.node.stats().unverified_dropped, before);
    check_bounds(&r.node);
}

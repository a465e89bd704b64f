//! Property tests over the whole node: precedence is order-independent and
//! idempotent, no datagram ever exceeds `max_packet_size`, and arbitrary
//! bytes never panic nor change anything.

use crate::testkit::{addr, Net, A};
use crate::wire::{self, Body, Packet, Update, UpdateKind};
use crate::{Action, Config, State, Swim};
use bytes::Bytes;
use proptest::prelude::*;
use std::time::{Duration, Instant};

fn now() -> Instant {
    #[expect(
        clippy::disallowed_methods,
        reason = "tests need one real Instant as the origin"
    )]
    Instant::now()
}

fn node(seed: u64) -> Swim<A> {
    Swim::new(addr(0), Config::lan(), seed).unwrap()
}

fn gossip(updates: Vec<Update<A>>) -> Vec<u8> {
    wire::encode(&Packet {
        body: Body::Gossip,
        updates,
        broadcasts: vec![],
    })
}

/// Metadata is a function of (member, incarnation), as it is in a real
/// cluster: a member announces one metadata per incarnation.
fn meta_of(m: usize, inc: u64) -> Bytes {
    Bytes::from(format!("m{m}i{inc}"))
}

fn update_strategy() -> impl Strategy<Value = Update<A>> {
    (1usize..6, 0u64..5, 0u8..4, 1usize..6).prop_map(|(m, inc, kind, by)| Update {
        addr: addr(m),
        incarnation: inc,
        kind: match kind {
            0 => UpdateKind::Alive {
                meta: meta_of(m, inc),
            },
            1 => UpdateKind::Suspect { by: addr(by + 10) },
            2 => UpdateKind::Failed { by: addr(by + 10) },
            _ => UpdateKind::Left,
        },
    })
}

type Snapshot = Vec<(A, u64, State, Option<Bytes>)>;

fn snapshot(n: &Swim<A>) -> Snapshot {
    n.members()
        .map(|m| {
            let meta = (m.state == State::Alive).then_some(m.meta);
            (m.addr, m.incarnation, m.state, meta)
        })
        .collect()
}

fn introduce(n: &mut Swim<A>, t: Instant) {
    let intro: Vec<_> = (1..6)
        .map(|m| Update {
            addr: addr(m),
            incarnation: 0,
            kind: UpdateKind::Alive {
                meta: meta_of(m, 0),
            },
        })
        .collect();
    n.handle_datagram(t, addr(20), &gossip(intro));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn merge_order_does_not_matter_and_reapplying_changes_nothing(
        updates in proptest::collection::vec(update_strategy(), 0..40),
        perm_seed in any::<u64>(),
    ) {
        let t = now();
        let mut a = node(1);
        let mut b = node(2);
        introduce(&mut a, t);
        introduce(&mut b, t);
        for u in &updates {
            a.handle_datagram(t, addr(20), &gossip(vec![u.clone()]));
        }
        let mut shuffled = updates.clone();
        crate::rng::Rng::new(perm_seed).shuffle(&mut shuffled);
        for u in &shuffled {
            b.handle_datagram(t, addr(20), &gossip(vec![u.clone()]));
        }
        prop_assert_eq!(snapshot(&a), snapshot(&b));
        let once = snapshot(&a);
        for u in &updates {
            a.handle_datagram(t, addr(20), &gossip(vec![u.clone()]));
        }
        prop_assert_eq!(once, snapshot(&a));
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_change_state(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        headed in any::<bool>(),
        from in 1usize..300,
    ) {
        let t = now();
        let mut n = node(3);
        introduce(&mut n, t);
        let before = snapshot(&n);
        let mut datagram = bytes;
        if headed {
            datagram.insert(0, wire::HEADER);
        }
        let errors = n.stats().decode_errors + n.stats().envelope_rejected;
        let limits = wire::Limits { max_meta_size: 512, max_payload_size: 1024, max_items: 1400 };
        let valid = wire::decode::<A>(&datagram, &limits).is_ok();
        let actions = n.handle_datagram(t, addr(from), &datagram);
        if !valid {
            prop_assert_eq!(n.stats().decode_errors + n.stats().envelope_rejected, errors + 1);
            prop_assert!(actions.is_empty());
            prop_assert_eq!(before, snapshot(&n));
        }
        for a in actions {
            if let Action::Send { payload, .. } = a {
                prop_assert!(payload.len() <= datagram.len() * 3 || !valid);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn no_datagram_exceeds_max_packet_size(
        max_packet in 256usize..1500,
        meta_len in 0usize..200,
        payloads in proptest::collection::vec(0usize..1000, 1..6),
        seed in any::<u64>(),
    ) {
        let mut config = Config::lan();
        config.max_packet_size = max_packet;
        config.max_meta_size = meta_len.min(max_packet - 64);
        config.max_payload_size = max_packet - 64;
        let mut net = Net::new(6, config.clone(), seed);
        net.join_all_through(0);
        net.run_for(Duration::from_secs(3));
        for i in 0..6 {
            let t = net.start + net.now;
            let meta = Bytes::from(vec![b'x'; config.max_meta_size]);
            let _ = net.node_mut(i).set_meta(t, meta);
        }
        for (i, p) in payloads.iter().enumerate() {
            let t = net.start + net.now;
            let size = (*p).min(config.max_payload_size);
            let _ = net.node_mut(i % 6).broadcast(t, Bytes::from(vec![7u8; size]));
            net.run_for(Duration::from_millis(300));
        }
        net.run_for(Duration::from_secs(10));
        prop_assert!(net.datagrams > 0);
        prop_assert!(net.max_datagram <= max_packet, "{} > {}", net.max_datagram, max_packet);
    }
}

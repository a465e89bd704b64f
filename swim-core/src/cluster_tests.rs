//! Whole-protocol behaviour on a small virtual network, one property per test.

use crate::testkit::{addr, Net};
use crate::wire::{self, Body, Packet, Update, UpdateKind};
use crate::{Config, Event, State};
use bytes::Bytes;
use std::time::Duration;

const S: Duration = Duration::from_secs(1);
const STEP: Duration = Duration::from_millis(100);

fn cluster(n: usize, seed: u64) -> Net {
    let mut net = Net::new(n, Config::lan(), seed);
    net.join_all_through(0);
    let t = net.run_until(30 * S, STEP, Net::converged);
    assert!(t.is_some(), "{n} nodes did not converge");
    net
}

fn gossip(updates: Vec<Update<crate::testkit::A>>) -> Vec<u8> {
    wire::encode(&Packet {
        body: Body::Gossip,
        updates,
        broadcasts: vec![],
    })
}

/// The worst-case time from a crash until every live node holds it Failed,
/// for `n` members in the `lan` profile: one full probe pass to reach it, a
/// probe period, the longest suspicion, and a few gossip rounds.
fn detection_bound(config: &Config, n: usize) -> Duration {
    let scale = (n as f64).log10().max(1.0);
    let max_suspicion = config
        .probe_interval
        .mul_f64(config.suspicion_mult * scale * config.suspicion_max_mult);
    config.probe_interval * (n as u32 + 1) + max_suspicion + config.gossip_interval * 10
}

#[test]
fn five_nodes_converge_through_one_seed() {
    let mut net = Net::new(5, Config::lan(), 1);
    net.join_all_through(0);
    let t = net
        .run_until(30 * S, STEP, Net::converged)
        .expect("converged");
    assert!(t <= 3 * S, "took {t:?}");
    for i in 0..5 {
        assert_eq!(net.node(i).live_members(), 4);
    }
}

#[test]
fn crashed_node_is_failed_everywhere_within_bound() {
    let mut net = cluster(5, 2);
    net.run_for(5 * S);
    net.crash(4);
    let crashed_at = net.now;
    let bound = detection_bound(net.node(0).config(), 5);
    let t = net
        .run_until(bound, STEP, |n| {
            (0..4).all(|i| n.view(i, 4) == Some(State::Failed))
        })
        .expect("crash detected everywhere within the bound");
    eprintln!("detected in {t:?} (bound {bound:?})");
    // Every survivor reported it exactly once.
    for i in 0..4 {
        let failed = net
            .events_about(4)
            .filter(|s| s.node == i && matches!(s.event, Event::Failed { .. }))
            .count();
        assert_eq!(failed, 1, "node {i}");
    }
    let last = net
        .events_about(4)
        .filter(|s| matches!(s.event, Event::Failed { .. }))
        .map(|s| s.at)
        .max()
        .unwrap();
    assert!(last - crashed_at <= bound);
}

#[test]
fn suspicion_of_live_node_is_refuted() {
    let mut net = cluster(5, 3);
    net.run_for(2 * S);
    let inc = net.node(0).member(&addr(2)).unwrap().incarnation;
    // Node 3 "suspects" node 2 in a datagram to node 0.
    let forged = gossip(vec![Update {
        addr: addr(2),
        incarnation: inc,
        kind: UpdateKind::Suspect { by: addr(3) },
    }]);
    net.inject(addr(3), 0, &forged);
    assert_eq!(net.view(0, 2), Some(State::Suspect));
    net.run_for(30 * S);
    assert!(net
        .events_about(2)
        .any(|s| matches!(s.event, Event::Suspected { .. })));
    assert!(
        net.events_about(2)
            .all(|s| !matches!(s.event, Event::Failed { .. })),
        "never failed"
    );
    assert!(net.converged());
    assert!(
        net.node(2).local().incarnation > inc,
        "refuted with a higher incarnation"
    );
}

#[test]
fn leaving_node_is_reported_left_not_failed() {
    let mut net = cluster(5, 4);
    net.run_for(2 * S);
    let now = net.start + net.now;
    let actions = net.node_mut(3).leave(now);
    assert!(!actions.is_empty());
    // Deliver the notice, then stop the node.
    for a in actions {
        if let crate::Action::Send { to, payload } = a {
            let to = net.index(to);
            net.inject(addr(3), to, &payload);
        }
    }
    net.crash(3);
    net.run_for(20 * S);
    for i in [0, 1, 2, 4] {
        assert_eq!(net.view(i, 3), Some(State::Left), "node {i}");
    }
    assert!(net
        .events_about(3)
        .all(|s| !matches!(s.event, Event::Failed { .. } | Event::Suspected { .. })));
    assert_eq!(
        net.events_about(3)
            .filter(|s| matches!(s.event, Event::Left { .. }))
            .count(),
        4
    );
}

#[test]
fn restarted_node_is_alive_everywhere_again() {
    let mut net = cluster(5, 5);
    net.run_for(2 * S);
    let old_inc = net.node(0).member(&addr(2)).unwrap().incarnation;
    net.crash(2);
    let bound = detection_bound(net.node(0).config(), 5);
    net.run_until(bound, STEP, |n| {
        [0, 1, 3, 4]
            .iter()
            .all(|&i| n.view(i, 2) == Some(State::Failed))
    })
    .expect("failed first");
    // Fresh state, same address.
    let now = net.start + net.now;
    net.nodes[2] = Some(crate::Swim::new(addr(2), Config::lan(), 999).unwrap());
    let actions = net.node_mut(2).join(now, &[addr(0)]);
    for a in actions {
        if let crate::Action::Send { to, payload } = a {
            let to = net.index(to);
            net.inject(addr(2), to, &payload);
        }
    }
    let t = net
        .run_until(20 * S, STEP, Net::converged)
        .expect("alive everywhere again");
    assert!(t <= 5 * S, "took {t:?}");
    assert!(net.node(2).local().incarnation > old_inc);
}

#[test]
fn halves_remerge_after_partition_heals() {
    let mut net = cluster(6, 6);
    net.run_for(2 * S);
    let (a, b) = ([0, 1, 2], [3, 4, 5]);
    for &i in &a {
        for &j in &b {
            net.blocked.insert((i, j));
            net.blocked.insert((j, i));
        }
    }
    net.run_until(60 * S, STEP, |n| {
        a.iter().all(|&i| {
            b.iter().all(|&j| {
                n.view(i, j) == Some(State::Failed) && n.view(j, i) == Some(State::Failed)
            })
        })
    })
    .expect("each side holds the other failed");
    net.blocked.clear();
    let t = net
        .run_until(60 * S, STEP, Net::converged)
        .expect("re-merged");
    eprintln!("re-merged {t:?} after heal");
    assert!(t <= 30 * S, "took {t:?}");
    // Each side reported the other alive again (not joined: it was failed).
    for &i in &a {
        for &j in &b {
            for (x, y) in [(i, j), (j, i)] {
                let alive = net
                    .events_about(y)
                    .filter(|s| s.node == x && matches!(s.event, Event::Alive { .. }))
                    .count();
                assert!(alive >= 1, "{x} saw {y} alive again");
            }
        }
    }
}

#[test]
fn metadata_change_and_broadcast_reach_every_node_once() {
    let mut net = cluster(5, 7);
    net.run_for(2 * S);
    let now = net.start + net.now;
    let a = net
        .node_mut(1)
        .set_meta(now, Bytes::from_static(b"role=db"))
        .unwrap();
    assert!(a.is_empty() || a.iter().all(|x| matches!(x, crate::Action::Send { .. })));
    let b = net
        .node_mut(2)
        .broadcast(now, Bytes::from_static(b"hello"))
        .unwrap();
    for x in b {
        if let crate::Action::Send { to, payload } = x {
            let to = net.index(to);
            net.inject(addr(2), to, &payload);
        }
    }
    net.run_for(20 * S);
    for i in 0..5 {
        let updated = net
            .events
            .iter()
            .filter(|s| s.node == i && matches!(&s.event, Event::Updated { member, meta } if *member == addr(1) && meta.as_ref() == b"role=db"))
            .count();
        let msgs = net
            .events
            .iter()
            .filter(|s| s.node == i && matches!(&s.event, Event::Message { from, payload, broadcast: true } if *from == addr(2) && payload.as_ref() == b"hello"))
            .count();
        let (want_u, want_m) = (usize::from(i != 1), usize::from(i != 2));
        assert_eq!((updated, msgs), (want_u, want_m), "node {i}");
    }
    assert_eq!(
        net.node(3).member(&addr(1)).unwrap().meta.as_ref(),
        b"role=db"
    );
}

#[test]
fn forged_suspect_at_max_incarnation_cannot_evict() {
    let mut net = cluster(5, 8);
    net.run_for(2 * S);
    for kind in [
        UpdateKind::Suspect { by: addr(3) },
        UpdateKind::Failed { by: addr(3) },
        UpdateKind::Left,
    ] {
        let forged = gossip(vec![Update {
            addr: addr(1),
            incarnation: u64::MAX,
            kind,
        }]);
        for to in [0, 1, 2] {
            net.inject(addr(3), to, &forged);
        }
    }
    assert!(net.node(0).stats().updates_rejected >= 3);
    net.run_for(60 * S);
    assert!(net.converged(), "node 1 still alive everywhere");
    assert!(net.node(1).local().incarnation < u64::MAX / 2);
}

#[test]
fn stale_alive_cannot_resurrect_failed_member() {
    let mut net = cluster(5, 9);
    net.run_for(2 * S);
    let inc = net.node(0).member(&addr(4)).unwrap().incarnation;
    net.crash(4);
    let bound = detection_bound(net.node(0).config(), 5);
    net.run_until(bound, STEP, |n| {
        (0..4).all(|i| n.view(i, 4) == Some(State::Failed))
    })
    .expect("failed");
    let joined_before = net
        .events_about(4)
        .filter(|s| matches!(s.event, Event::Joined { .. }))
        .count();
    let stale = gossip(vec![Update {
        addr: addr(4),
        incarnation: inc,
        kind: UpdateKind::Alive { meta: Bytes::new() },
    }]);
    for to in 0..4 {
        net.inject(addr(1), to, &stale);
    }
    net.run_for(10 * S);
    for i in 0..4 {
        assert_eq!(net.view(i, 4), Some(State::Failed), "node {i}");
    }
    let joined_after = net
        .events_about(4)
        .filter(|s| matches!(s.event, Event::Joined { .. }))
        .count();
    assert_eq!(joined_before, joined_after);
}

#[test]
fn broadcast_gets_its_share_of_a_full_packet() {
    // Application broadcasts get a guaranteed share of packets even when the
    // membership queue is full (memberlist #299 starved them).
    let mut net = cluster(4, 10);
    let many: Vec<_> = (0..400)
        .map(|i| Update {
            addr: addr(100 + i),
            incarnation: 0,
            kind: UpdateKind::Alive { meta: Bytes::new() },
        })
        .collect();
    for chunk in many.chunks(100) {
        net.inject(addr(1), 0, &gossip(chunk.to_vec()));
    }
    let now = net.start + net.now;
    let actions = net
        .node_mut(0)
        .broadcast(now, Bytes::from_static(b"x"))
        .unwrap();
    let limits = wire::Limits {
        max_meta_size: 512,
        max_payload_size: 1024,
        max_items: 1400,
    };
    let mut sends = 0;
    for a in actions {
        if let crate::Action::Send { payload, .. } = a {
            sends += 1;
            let p: Packet<crate::testkit::A> = wire::decode(&payload, &limits).unwrap();
            assert_eq!(p.broadcasts.len(), 1, "broadcast rides along");
            assert!(
                p.updates.len() > 50,
                "and the packet is full of updates too: {}",
                p.updates.len()
            );
            assert!(
                payload.len() > 1000 && payload.len() <= 1400,
                "{}",
                payload.len()
            );
        }
    }
    assert_eq!(sends, 3, "one gossip round to the fanout");
}

/// Puts `count` members (addresses 100.., not in the network) into node
/// `to`'s table through gossip from `via`.
fn stuff(net: &mut Net, to: usize, via: usize, count: usize) {
    let many: Vec<_> = (0..count)
        .map(|i| Update {
            addr: addr(100 + i),
            incarnation: 0,
            kind: UpdateKind::Alive {
                meta: Bytes::from_static(b"some-metadata"),
            },
        })
        .collect();
    for chunk in many.chunks(50) {
        net.inject(addr(via), to, &gossip(chunk.to_vec()));
    }
}

#[test]
fn join_reply_is_paged_across_datagrams() {
    let mut net = cluster(2, 11);
    stuff(&mut net, 0, 1, 600);
    assert_eq!(net.node(0).live_members(), 601);
    // A third node joins through node 0: 600 records do not fit one datagram.
    net.nodes
        .push(Some(crate::Swim::new(addr(2), Config::lan(), 77).unwrap()));
    let now = net.start + net.now;
    let actions = net.node_mut(2).join(now, &[addr(0)]);
    let sent_before = net.datagrams;
    for a in actions {
        if let crate::Action::Send { to, payload } = a {
            assert!(
                payload.len() > 1000,
                "join requests are padded: {}",
                payload.len()
            );
            let to = net.index(to);
            net.inject(addr(2), to, &payload);
        }
    }
    net.run_for(S / 2);
    assert!(
        net.node(2).live_members() >= 602,
        "learned every member: {}",
        net.node(2).live_members()
    );
    assert!(
        net.datagrams - sent_before >= 8,
        "several pages went back and forth"
    );
    assert!(net.max_datagram <= 1400);
}

#[test]
fn facilitator_answers_with_most_recent_members_only() {
    let mut config = Config::lan();
    config.facilitator = true;
    config.facilitator_members = 5;
    let mut net = Net::new(2, config, 12);
    net.join_all_through(0);
    net.run_for(2 * S);
    stuff(&mut net, 0, 1, 50);
    net.nodes
        .push(Some(crate::Swim::new(addr(2), Config::lan(), 78).unwrap()));
    let now = net.start + net.now;
    let actions = net.node_mut(2).join(now, &[addr(0)]);
    let limits = wire::Limits {
        max_meta_size: 512,
        max_payload_size: 1024,
        max_items: 1400,
    };
    for a in actions {
        if let crate::Action::Send { to, payload } = a {
            let to = net.index(to);
            let t = net.start + net.now;
            let replies = net.node_mut(to).handle_datagram(t, addr(2), &payload);
            let mut records = Vec::new();
            for r in replies {
                if let crate::Action::Send { payload, .. } = r {
                    if let Ok(Packet {
                        body:
                            Body::Members {
                                records: rs, flags, ..
                            },
                        ..
                    }) = wire::decode::<crate::testkit::A>(&payload, &limits)
                    {
                        assert_eq!(flags & wire::MEMBERS_MORE, 0, "one page");
                        records.extend(rs);
                    }
                }
            }
            // The facilitator itself plus the 5 most recently joined.
            let got: Vec<_> = records.iter().map(|r| r.addr).collect();
            assert_eq!(got.len(), 6, "{got:?}");
            assert_eq!(got[0], addr(0));
            for i in 0..5 {
                assert!(got.contains(&addr(100 + 49 - i)), "{got:?}");
            }
        }
    }
}

#[test]
fn one_way_partition_heals() {
    // swim-sim seed 1710: a restart, then a one-way partition (a -> b
    // blocked) for 25 s; every node must agree again soon after the repair.
    let mut net = cluster(12, 1710);
    net.run_for(40 * S);
    net.crash(2);
    net.run_for(10 * S);
    let now = net.start + net.now;
    net.nodes[2] = Some(crate::Swim::new(addr(2), Config::lan(), 4242).unwrap());
    let actions = net.node_mut(2).join(now, &[addr(0), addr(1), addr(3)]);
    for a in actions {
        if let crate::Action::Send { to, payload } = a {
            let to = net.index(to);
            net.inject(addr(2), to, &payload);
        }
    }
    net.run_for(4 * S);
    let (a, b) = (0..5, 5..12);
    for i in a.clone() {
        for j in b.clone() {
            net.blocked.insert((i, j));
        }
    }
    net.run_for(25 * S);
    net.blocked.clear();
    let t = net.run_until(60 * S, STEP, Net::converged);
    if t.is_none() {
        for i in 0..12 {
            let v: Vec<_> = net
                .node(i)
                .members()
                .map(|m| format!("{}:{:?}@{}", net.index(m.addr), m.state, m.incarnation))
                .collect();
            eprintln!("node {i} (inc {}): {v:?}", net.node(i).local().incarnation);
        }
    }
    let t = t.expect("converged after the one-way partition");
    assert!(t <= 30 * S, "took {t:?}");
}

#[test]
fn failed_member_suspected_at_a_newer_incarnation_is_alive_not_joined() {
    let mut net = cluster(3, 13);
    let inc = net.node(0).member(&addr(2)).unwrap().incarnation;
    let e0 = net.events.len();
    net.inject(
        addr(1),
        0,
        &gossip(vec![Update {
            addr: addr(2),
            incarnation: inc,
            kind: UpdateKind::Failed { by: addr(1) },
        }]),
    );
    net.inject(
        addr(1),
        0,
        &gossip(vec![Update {
            addr: addr(2),
            incarnation: inc + 1,
            kind: UpdateKind::Suspect { by: addr(1) },
        }]),
    );
    let seen: Vec<_> = net.events[e0..]
        .iter()
        .filter(|s| s.node == 0)
        .map(|s| s.event.clone())
        .collect();
    assert_eq!(
        seen,
        vec![
            Event::Failed { member: addr(2) },
            Event::Alive { member: addr(2) },
            Event::Suspected { member: addr(2) }
        ]
    );
}

/// Issue 12, found 5: two Failed claims in one datagram, each one jump
/// (2^32) above the last, used to pass the jump check one after the other,
/// and the subject then dropped the claims about itself as forged and could
/// not refute until reaping. Now the second claim is measured against what
/// the receiver held before the datagram (rejected), and the subject
/// refutes whatever was accepted. (Measured against the current view, as
/// before, the receiver ends at cur + 2^33 and this test fails.)
#[test]
fn chained_incarnation_jumps_in_one_datagram_cannot_evict() {
    let mut net = cluster(5, 21);
    let victim = addr(3);
    let cur = net.node(0).member(&victim).unwrap().incarnation;
    let jump = crate::node::MAX_INCARNATION_JUMP;
    let forged = gossip(vec![
        Update {
            addr: victim,
            incarnation: cur + jump,
            kind: UpdateKind::Failed { by: addr(1) },
        },
        Update {
            addr: victim,
            incarnation: cur + 2 * jump,
            kind: UpdateKind::Failed { by: addr(1) },
        },
    ]);
    net.inject(addr(1), 0, &forged);
    let held = net.node(0).member(&victim).unwrap().incarnation;
    assert!(held <= cur + jump, "held {held}, limit {}", cur + jump);
    net.run_for(20 * S);
    for i in [0, 1, 2, 4] {
        assert_eq!(net.view(i, 3), Some(State::Alive), "node {i}");
    }
}

/// Issue 12, found 5: one forged Left about a live member, sent to one
/// node, showed it Left at every other node for the whole retention with no
/// refutation (nobody probes, gossips to or syncs with Left members). Now
/// the node that holds it Left re-probes it (healing) carrying the Left
/// record, and the member refutes.
#[test]
fn a_forged_left_is_refuted() {
    let mut net = cluster(5, 22);
    let victim = addr(3);
    let cur = net.node(0).member(&victim).unwrap().incarnation;
    let forged = gossip(vec![Update {
        addr: victim,
        incarnation: cur + 1,
        kind: UpdateKind::Left,
    }]);
    net.inject(addr(1), 0, &forged);
    assert_eq!(net.view(0, 3), Some(State::Left));
    let t = net.run_until(30 * S, STEP, |n| {
        [0, 1, 2, 4]
            .iter()
            .all(|&i| n.view(i, 3) == Some(State::Alive))
    });
    assert!(t.is_some(), "still Left somewhere after 30 s");
}

/// Issue 12, found 5: an Alive at 2^40 planted for an address before it
/// joins left the joiner Failed everywhere, unable to refute (its own
/// claims were 2^40 above its incarnation, "forged"). Now it climbs past
/// the planted record a jump at a time and is Alive everywhere.
#[test]
fn a_planted_record_before_a_join_is_refuted() {
    let mut net = Net::new(5, Config::lan(), 23);
    for i in 0..4 {
        net.join(i, 0);
    }
    net.run_for(5 * S);
    // Node 4 is about to join; plant a record for it at every member.
    let planted = gossip(vec![Update {
        addr: addr(4),
        incarnation: 1 << 40,
        kind: UpdateKind::Alive { meta: Bytes::new() },
    }]);
    for i in 0..4 {
        net.inject(addr(1), i, &planted);
    }
    assert_eq!(net.view(2, 4), Some(State::Alive), "planted");
    net.join(4, 0);
    let t = net.run_until(60 * S, STEP, |n| {
        (0..4).all(|i| n.view(i, 4) == Some(State::Alive)) && n.converged()
    });
    assert!(t.is_some(), "the joiner never got through");
    assert!(net.node(4).local().incarnation > 1 << 40);
}

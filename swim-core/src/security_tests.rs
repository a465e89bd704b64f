//! The envelope and allow-list inside a running node: what is rejected,
//! that clusters with different keys never merge, and key rotation under
//! loss without false failures.

use crate::allow::AllowList;
use crate::testkit::{addr, Net};
use crate::wire::envelope::{EnvelopeConfig, Key, Keyring, Label};
use crate::{Action, Config, Event, State};
use bytes::Bytes;
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

fn key(b: u8) -> Key {
    Key::from_bytes([b; 32]).unwrap()
}

fn keyed(keys: &[u8], primary: u8, label: Option<&str>) -> EnvelopeConfig {
    let mut ring = Keyring::new(key(primary));
    for &k in keys {
        ring.add(key(k)).unwrap();
    }
    EnvelopeConfig {
        label: label.map(|l| Label::new(l).unwrap()),
        keyring: Some(ring),
        ..EnvelopeConfig::default()
    }
}

fn secured_cluster(n: usize, env: &EnvelopeConfig, seed: u64) -> Net {
    let mut net = Net::new(n, Config::lan(), seed);
    for i in 0..n {
        net.node_mut(i).set_envelope(env.clone()).unwrap();
    }
    net.join_all_through(0);
    assert!(net.run_until(30 * S, S / 10, Net::converged).is_some());
    net
}

/// Captures one real sealed datagram from node 1 to node 0.
fn sealed_ping(net: &mut Net) -> Vec<u8> {
    let now = net.start + net.now;
    let actions = net
        .node_mut(1)
        .broadcast(now, Bytes::from_static(b"x"))
        .unwrap();
    actions
        .into_iter()
        .find_map(|a| match a {
            Action::Send { payload, .. } => Some(payload.to_vec()),
            _ => None,
        })
        .unwrap()
}

#[test]
fn keyed_cluster_converges_and_every_datagram_is_sealed() {
    let env = keyed(&[], 1, Some("prod"));
    let mut net = secured_cluster(4, &env, 1);
    let d = sealed_ping(&mut net);
    assert_eq!(d[0], crate::wire::envelope::SEALED);
    assert!(net.max_datagram <= 1400);
}

#[test]
fn tampered_truncated_wrong_key_and_wrong_label_are_rejected() {
    let env = keyed(&[], 1, Some("prod"));
    let mut net = secured_cluster(3, &env, 2);
    let good = sealed_ping(&mut net);
    let before = net.node(0).members().collect::<Vec<_>>();
    let s0 = net.node(0).stats();
    let rejected0 = s0.envelope_rejected;
    let mut bad = Vec::new();
    for i in 0..good.len() {
        let mut t = good.clone();
        t[i] ^= 0x01;
        bad.push(t);
    }
    for len in 0..good.len() {
        bad.push(good[..len].to_vec());
    }
    // Same packet sealed under another key, and under another label.
    let plain_net_other = keyed(&[], 9, Some("prod"));
    let other_label = keyed(&[], 1, Some("staging"));
    for env in [plain_net_other, other_label] {
        let mut other = secured_cluster(2, &env, 3);
        bad.push(sealed_ping(&mut other));
    }
    let n = bad.len() as u64;
    let t = net.start + net.now;
    for d in &bad {
        let out = net.node_mut(0).handle_datagram(t, addr(1), d);
        assert!(out.is_empty(), "no reply, no event");
    }
    let s = net.node(0).stats();
    eprintln!(
        "{n} bad: envelope {} decode {} dropped {}",
        s.envelope_rejected - rejected0,
        s.decode_errors - s0.decode_errors,
        s.datagrams_dropped - s0.datagrams_dropped
    );
    assert_eq!(
        s.envelope_rejected - rejected0,
        n,
        "every one fails in the envelope"
    );
    assert_eq!(
        net.node(0).members().collect::<Vec<_>>(),
        before,
        "nothing changed"
    );
    // The untouched datagram is accepted.
    net.node_mut(0).handle_datagram(t, addr(1), &good);
    assert_eq!(net.node(0).stats().envelope_rejected - rejected0, n);
}

#[test]
fn clusters_with_different_keys_never_merge() {
    let mut net = Net::new(6, Config::lan(), 4);
    for i in 0..6 {
        let env = if i < 3 {
            keyed(&[], 1, None)
        } else {
            keyed(&[], 2, None)
        };
        net.node_mut(i).set_envelope(env).unwrap();
    }
    // Everyone tries to join through node 0 and node 3.
    let now = net.start + net.now;
    for i in 0..6 {
        let actions = net.node_mut(i).join(now, &[addr(0), addr(3)]);
        for a in actions {
            if let Action::Send { to, payload } = a {
                let to = net.index(to);
                net.inject(addr(i), to, &payload);
            }
        }
    }
    net.run_for(60 * S);
    for i in 0..6 {
        for j in 0..6 {
            let same = (i < 3) == (j < 3);
            if i != j {
                let v = net.view(i, j);
                assert_eq!(v == Some(State::Alive), same, "{i} sees {j}: {v:?}");
                if !same {
                    assert_eq!(v, None, "never even learned of it");
                }
            }
        }
    }
}

#[test]
fn label_only_mode_filters_foreign_clusters() {
    let mut net = Net::new(4, Config::lan(), 5);
    for i in 0..4 {
        let label = if i < 2 { "a" } else { "b" };
        let env = EnvelopeConfig {
            label: Some(Label::new(label).unwrap()),
            ..EnvelopeConfig::default()
        };
        net.node_mut(i).set_envelope(env).unwrap();
    }
    let now = net.start + net.now;
    for i in 1..4 {
        let actions = net.node_mut(i).join(now, &[addr(0)]);
        for a in actions {
            if let Action::Send { to, payload } = a {
                let to = net.index(to);
                net.inject(addr(i), to, &payload);
            }
        }
    }
    net.run_for(20 * S);
    assert_eq!(net.view(0, 1), Some(State::Alive));
    assert_eq!(net.view(0, 2), None);
    assert_eq!(net.view(0, 3), None);
    assert!(net.node(0).stats().envelope_rejected > 0);
}

#[test]
fn allow_list_applies_to_every_message_kind() {
    let mut net = Net::new(3, Config::lan(), 6);
    let allow = AllowList::parse(["10.0.0.0/31"]).unwrap(); // nodes 0 and 1 only
    net.node_mut(0).set_allow_list(allow);
    net.join_all_through(0);
    net.run_for(20 * S);
    assert_eq!(net.view(0, 1), Some(State::Alive));
    assert_eq!(
        net.view(0, 2),
        None,
        "node 2's join, pings and gossip are all dropped"
    );
    assert!(net.node(0).stats().not_allowed > 0);
}

#[test]
fn rotating_keys_under_loss_causes_no_false_failures() {
    let n = 100;
    let mut net = secured_cluster(n, &keyed(&[], 1, Some("prod")), 7);
    net.loss = 0.05;
    net.run_for(10 * S);
    let steps: [&dyn Fn() -> EnvelopeConfig; 3] = [
        &|| keyed(&[2], 1, Some("prod")), // add k2
        &|| keyed(&[1], 2, Some("prod")), // use k2
        &|| keyed(&[], 2, Some("prod")),  // remove k1
    ];
    for step in steps {
        // Nodes switch one by one, 100 ms apart, while the cluster runs.
        for i in 0..n {
            net.node_mut(i).set_envelope(step()).unwrap();
            net.run_for(S / 10);
        }
        net.run_for(10 * S);
    }
    net.run_for(20 * S);
    let false_failed = net
        .events
        .iter()
        .filter(|e| matches!(e.event, Event::Failed { .. }))
        .count();
    assert_eq!(false_failed, 0);
    assert!(net.converged());
    let rejected: u64 = (0..n).map(|i| net.node(i).stats().envelope_rejected).sum();
    eprintln!("rotation: {rejected} datagrams rejected during the rotation, 0 false failures");
}

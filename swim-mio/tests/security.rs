//! swim-mio nodes with a keyring, driven from one `Poll` on loopback: a key
//! rotation add → use → remove with no suspicion or failure, and a node with
//! another key that never gets in. Every loop is bounded by a deadline.

use mio::{Events, Poll, Token};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use swim_mio::{Config, EnvelopeConfig, Error, Event, Key, Keyring, KeyringError, Node, State};

const LIMIT: Duration = Duration::from_secs(20);

fn key(byte: u8) -> Key {
    Key::from_bytes([byte; 32]).unwrap()
}

fn keyed(k: Key) -> EnvelopeConfig {
    EnvelopeConfig {
        keyring: Some(Keyring::new(k)),
        ..EnvelopeConfig::default()
    }
}

/// Drives every node for `at_least`, then until `cond` holds (or panics
/// after `LIMIT`); returns every event seen.
fn drive(
    poll: &mut Poll,
    nodes: &mut [Node],
    at_least: Duration,
    what: &str,
    cond: impl Fn(&[Node]) -> bool,
) -> Vec<Event<SocketAddr>> {
    let mut events = Events::with_capacity(256);
    let mut seen = Vec::new();
    let start = Instant::now();
    while start.elapsed() < at_least || !cond(nodes) {
        assert!(start.elapsed() < LIMIT, "timed out waiting for {what}");
        let now = Instant::now();
        let timeout = nodes
            .iter()
            .filter_map(|n| n.timeout(now))
            .min()
            .unwrap_or(Duration::from_millis(50))
            .min(Duration::from_millis(50));
        poll.poll(&mut events, Some(timeout)).unwrap();
        for node in nodes.iter_mut() {
            for event in events.iter() {
                node.handle_ready(event, Instant::now());
            }
            node.handle_timeout(Instant::now());
            while let Some(e) = node.next_event() {
                seen.push(e);
            }
        }
    }
    seen
}

fn alive(node: &Node, addr: SocketAddr) -> bool {
    node.members()
        .any(|m| m.addr == addr && m.state == State::Alive)
}

#[test]
fn keyed_rotation_and_an_outsider() {
    let mut poll = Poll::new().unwrap();
    let mut nodes = Vec::new();
    for i in 0..4 {
        let mut node = Node::bind("127.0.0.1:0".parse().unwrap(), Config::local()).unwrap();
        // Node 3 holds another key.
        node.set_envelope(keyed(key(if i == 3 { 9 } else { 1 })))
            .unwrap();
        node.register(poll.registry(), Token(10 + i)).unwrap();
        nodes.push(node);
    }
    let seed = nodes[0].local_addr();
    for node in &mut nodes[1..] {
        node.join_addrs(&[seed]).unwrap();
    }
    let addrs: Vec<SocketAddr> = nodes.iter().map(Node::local_addr).collect();
    let members =
        |n: &[Node]| (0..3).all(|i| (0..3).filter(|j| *j != i).all(|j| alive(&n[i], addrs[j])));
    drive(
        &mut poll,
        &mut nodes,
        Duration::ZERO,
        "convergence",
        members,
    );

    let (old, new) = (key(1).id(), key(2).id());
    let mut seen = Vec::new();
    for step in 0..3 {
        for node in &mut nodes[..3] {
            match step {
                0 => assert_eq!(node.add_key(key(2)).unwrap(), new),
                1 => node.use_key(new).unwrap(),
                _ => node.remove_key(old).unwrap(),
            }
        }
        seen.extend(drive(
            &mut poll,
            &mut nodes,
            Duration::from_millis(800),
            "rotation step",
            members,
        ));
    }
    let bad: Vec<_> = seen
        .iter()
        .filter(|e| matches!(e, Event::Failed { .. } | Event::Suspected { .. }))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    for node in &nodes[..3] {
        assert_eq!(node.keys(), vec![new]);
        assert!(node.members().all(|m| m.addr != addrs[3]));
    }
    assert_eq!(nodes[3].members().count(), 0);
    assert!(nodes[0].stats().envelope_rejected > 0);
    assert!(matches!(
        nodes[0].remove_key(new),
        Err(Error::Keyring(KeyringError::RemovePrimary(_)))
    ));
    let mut plain = Node::bind("127.0.0.1:0".parse().unwrap(), Config::local()).unwrap();
    assert!(matches!(plain.add_key(key(3)), Err(Error::NoKeyring)));
    assert!(plain.keys().is_empty());
}

//! The envelope and the allow-list through the `Node` API, on real loopback
//! sockets with the `local` timers: keys at bind time, key rotation while
//! running, label / key mismatches, and the allow-list. Every wait is a
//! bounded poll.

mod common;

use std::net::SocketAddr;
use std::time::Duration;
use swim_tokio::{
    AllowList, Builder, Config, EnvelopeConfig, EnvelopeConfigError, Error, Event, Events, Key,
    KeyId, Keyring, KeyringError, Label, Node, Security, State,
};

/// Generous bounds: debug builds on a small shared machine.
const CONVERGE: Duration = Duration::from_secs(20);
/// How long "never merges" is watched: ~15 protocol periods of `local`.
const APART: Duration = Duration::from_secs(3);

fn key(byte: u8) -> Key {
    Key::from_bytes([byte; 32]).expect("non-zero key")
}

fn keyed(k: Key, label: Option<&str>) -> Security {
    Security {
        envelope: EnvelopeConfig {
            label: label.map(|l| Label::new(l).expect("label")),
            keyring: Some(Keyring::new(k)),
            ..EnvelopeConfig::default()
        },
        allow: AllowList::new(),
    }
}

async fn start(bind: &str, security: Security) -> Node {
    Node::bind_with(bind, Config::local(), security)
        .await
        .expect("bind")
}

async fn wait_for(limit: Duration, what: &str, cond: impl FnMut() -> bool) {
    common::poll_until(limit, what, cond).await;
}

fn alive(node: &Node, addr: SocketAddr) -> bool {
    node.members()
        .iter()
        .any(|m| m.addr == addr && m.state == State::Alive)
}

fn all_alive(nodes: &[Node]) -> bool {
    nodes.iter().all(|n| {
        nodes
            .iter()
            .filter(|o| o.local_addr() != n.local_addr())
            .all(|o| alive(n, o.local_addr()))
    })
}

fn drain(events: &mut Events, seen: &mut Vec<Event<SocketAddr>>) {
    while let Some(e) = events.try_recv() {
        seen.push(e);
    }
}

#[tokio::test]
async fn same_key_and_label_merge_others_stay_out() {
    let a = start("127.0.0.1:0", keyed(key(1), Some("blue"))).await;
    let b = start("127.0.0.1:0", keyed(key(1), Some("blue"))).await;
    // Same key, other label; other key, same label; plaintext.
    let c = start("127.0.0.1:0", keyed(key(1), Some("green"))).await;
    let d = start("127.0.0.1:0", keyed(key(2), Some("blue"))).await;
    let e = Node::bind("127.0.0.1:0", Config::local()).await.unwrap();
    let seed = [a.local_addr()];
    for n in [&b, &c, &d, &e] {
        n.join_addrs(&seed).await.unwrap();
    }
    wait_for(CONVERGE, "a and b to merge", || {
        alive(&a, b.local_addr()) && alive(&b, a.local_addr())
    })
    .await;
    // c, d and e keep retrying their joins; a rejects each one.
    wait_for(CONVERGE, "a to reject the outsiders' joins", || {
        a.stats().envelope_rejected >= 3
    })
    .await;
    tokio::time::sleep(APART).await;
    for outsider in [&c, &d, &e] {
        assert!(outsider.members().is_empty(), "{:?}", outsider.members());
    }
    assert_eq!(a.members().len(), 1, "{:?}", a.members());
    assert_eq!(b.members().len(), 1, "{:?}", b.members());
    assert_eq!(a.envelope().overhead(), 45);
    assert_eq!(a.keys(), vec![key(1).id()]);
    assert!(e.keys().is_empty());
}

#[tokio::test]
async fn rotation_add_use_remove_without_failures() {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(start("127.0.0.1:0", keyed(key(1), None)).await);
    }
    let seed = [nodes[0].local_addr()];
    for n in &nodes[1..] {
        n.join_addrs(&seed).await.unwrap();
    }
    wait_for(CONVERGE, "three keyed nodes to converge", || {
        all_alive(&nodes)
    })
    .await;
    let mut subs: Vec<Events> = nodes.iter().map(Node::events).collect();
    let mut seen = Vec::new();

    let (old, new) = (key(1).id(), key(2).id());
    // Each step on every node, then a few protocol periods of traffic.
    for n in &nodes {
        assert_eq!(n.add_key(key(2)).unwrap(), new);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for n in &nodes {
        n.use_key(new).unwrap();
        assert_eq!(n.keys(), vec![new, old]);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for n in &nodes {
        n.remove_key(old).unwrap();
        assert_eq!(n.keys(), vec![new]);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for sub in &mut subs {
        drain(sub, &mut seen);
    }
    let bad: Vec<_> = seen
        .iter()
        .filter(|e| matches!(e, Event::Failed { .. } | Event::Suspected { .. }))
        .collect();
    assert!(bad.is_empty(), "false failures during rotation: {bad:?}");
    assert!(all_alive(&nodes));
    for n in &nodes {
        assert_eq!(n.stats().envelope_rejected, 0, "{:?}", n.stats());
    }

    // A node holding only the removed key cannot get in.
    let stale = start("127.0.0.1:0", keyed(key(1), None)).await;
    stale.join_addrs(&seed).await.unwrap();
    wait_for(CONVERGE, "the stale node's joins to be rejected", || {
        nodes[0].stats().envelope_rejected > 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(stale.members().is_empty());
    assert!(nodes.iter().all(|n| n.members().len() == 2));
}

#[tokio::test]
async fn keyring_errors_change_nothing() {
    let n = start("127.0.0.1:0", keyed(key(1), None)).await;
    let id = key(1).id();
    assert!(matches!(
        n.remove_key(id),
        Err(Error::Keyring(KeyringError::RemovePrimary(_)))
    ));
    let unknown = KeyId([1, 2, 3, 4]);
    assert!(matches!(
        n.use_key(unknown),
        Err(Error::Keyring(KeyringError::UnknownKey(_)))
    ));
    assert_eq!(n.keys(), vec![id]);
    // Adding the same key twice is a no-op.
    n.add_key(key(1)).unwrap();
    assert_eq!(n.keys(), vec![id]);

    let bad = EnvelopeConfig {
        send_plaintext: true,
        ..EnvelopeConfig::default()
    };
    assert!(matches!(
        n.set_envelope(bad.clone()),
        Err(Error::Envelope(
            EnvelopeConfigError::SendPlaintextWithoutAccept
        ))
    ));
    assert_eq!(n.keys(), vec![id]);
    assert!(matches!(
        Builder::new(Config::local())
            .envelope(bad)
            .bind("127.0.0.1:0")
            .await,
        Err(Error::Envelope(_))
    ));

    let plain = Node::bind("127.0.0.1:0", Config::local()).await.unwrap();
    assert!(matches!(plain.add_key(key(2)), Err(Error::NoKeyring)));
    plain.shutdown().await;
    assert!(matches!(plain.add_key(key(2)), Err(Error::Stopped)));
}

#[tokio::test]
async fn migration_to_keys_and_allow_list_at_run_time() {
    // Two plaintext nodes converge, then turn encryption on in three steps.
    let nodes = [
        Node::bind("127.0.0.1:0", Config::local()).await.unwrap(),
        Node::bind("127.0.0.1:0", Config::local()).await.unwrap(),
    ];
    nodes[1].join_addrs(&[nodes[0].local_addr()]).await.unwrap();
    wait_for(CONVERGE, "plaintext pair to converge", || all_alive(&nodes)).await;
    let mut subs: Vec<Events> = nodes.iter().map(Node::events).collect();
    let mut env = EnvelopeConfig {
        keyring: Some(Keyring::new(key(7))),
        accept_plaintext: true,
        send_plaintext: true,
        ..EnvelopeConfig::default()
    };
    for step in 0..3 {
        match step {
            1 => env.send_plaintext = false,
            2 => env.accept_plaintext = false,
            _ => {}
        }
        for n in &nodes {
            n.set_envelope(env.clone()).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    let mut seen = Vec::new();
    for sub in &mut subs {
        drain(sub, &mut seen);
    }
    assert!(
        !seen.iter().any(|e| matches!(e, Event::Failed { .. })),
        "{seen:?}"
    );
    assert!(all_alive(&nodes));
    assert!(nodes[0].envelope().encrypts());

    // An allow-list that excludes loopback: node 0 stops hearing node 1.
    let before = nodes[0].stats().not_allowed;
    nodes[0]
        .set_allow_list(AllowList::parse(["10.0.0.0/8"]).unwrap())
        .unwrap();
    wait_for(CONVERGE, "node 0 to drop node 1's datagrams", || {
        nodes[0].stats().not_allowed > before
    })
    .await;
    // And with loopback allowed again it hears it again.
    nodes[0]
        .set_allow_list(AllowList::parse(["127.0.0.0/8"]).unwrap())
        .unwrap();
    let ok = nodes[0].stats().not_allowed;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(nodes[0].stats().not_allowed, ok);
}

#[tokio::test]
async fn allow_list_at_bind_keeps_other_addresses_out() {
    // 127.0.0.2 is loopback too (Linux routes all of 127/8 to lo).
    let a = Builder::new(Config::local())
        .allow_list(AllowList::parse(["127.0.0.1"]).unwrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let b = Node::bind("127.0.0.1:0", Config::local()).await.unwrap();
    let c = Node::bind("127.0.0.2:0", Config::local()).await.unwrap();
    b.join_addrs(&[a.local_addr()]).await.unwrap();
    c.join_addrs(&[a.local_addr()]).await.unwrap();
    wait_for(CONVERGE, "a and b to merge", || {
        alive(&a, b.local_addr()) && alive(&b, a.local_addr())
    })
    .await;
    wait_for(CONVERGE, "a to refuse c", || a.stats().not_allowed > 0).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(a.members().iter().all(|m| m.addr != c.local_addr()));
    assert!(c.members().iter().all(|m| m.addr != a.local_addr()));
}

//! Clusters of swim-tokio nodes on real loopback sockets with the `local`
//! timers. Every wait is a bounded poll of the nodes' state (never a sleep
//! followed by an assertion); each test ends by itself.

mod common;

use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;
use swim_tokio::{Builder, Config, Event, Events, Node, State};

/// Generous bounds: debug builds on a small shared machine.
const CONVERGE: Duration = Duration::from_secs(20);

async fn start(bind: &str, seed: u64) -> Node {
    Builder::new(Config::local())
        .rng_seed(seed)
        .bind(bind)
        .await
        .expect("bind")
}

async fn wait_for(limit: Duration, what: &str, cond: impl FnMut() -> bool) {
    common::poll_until(limit, what, cond).await;
}

fn state_of(node: &Node, addr: SocketAddr) -> Option<State> {
    node.members()
        .into_iter()
        .find(|m| m.addr == addr)
        .map(|m| m.state)
}

fn sees_all_alive(node: &Node, others: &[SocketAddr]) -> bool {
    others
        .iter()
        .filter(|a| **a != node.local_addr())
        .all(|a| state_of(node, *a) == Some(State::Alive))
}

/// Drains what `events` has buffered into `seen`.
fn drain(events: &mut Events, seen: &mut Vec<Event<SocketAddr>>) {
    while let Some(e) = events.try_recv() {
        seen.push(e);
    }
}

async fn cluster(bind: &str, n: usize) -> Vec<Node> {
    let mut nodes = Vec::new();
    for i in 0..n {
        nodes.push(start(bind, i as u64 + 1).await);
    }
    let seed = nodes[0].local_addr().to_string();
    for node in &nodes[1..] {
        node.join(&[seed.as_str()]).await.expect("join");
    }
    let addrs: Vec<SocketAddr> = nodes.iter().map(Node::local_addr).collect();
    wait_for(CONVERGE, "every node to see every other alive", || {
        nodes.iter().all(|n| sees_all_alive(n, &addrs))
    })
    .await;
    nodes
}

#[tokio::test]
async fn five_nodes_converge_and_detect_a_crash() {
    let nodes = cluster("127.0.0.1:0", 5).await;
    let (survivors, victim) = nodes.split_at(4);
    let victim = &victim[0];
    let dead = victim.local_addr();
    let mut subs: Vec<Events> = survivors.iter().map(Node::events).collect();
    let mut seen: Vec<Vec<Event<SocketAddr>>> = vec![Vec::new(); survivors.len()];

    // A crash: the task stops without telling anyone.
    victim.shutdown().await;
    wait_for(
        CONVERGE,
        "every survivor to report the crashed node failed",
        || {
            for (sub, seen) in subs.iter_mut().zip(&mut seen) {
                drain(sub, seen);
            }
            seen.iter()
                .all(|s| s.contains(&Event::Failed { member: dead }))
        },
    )
    .await;
    for node in survivors {
        assert_eq!(
            state_of(node, dead),
            Some(State::Failed),
            "at {}",
            node.local_addr()
        );
        let live: Vec<SocketAddr> = survivors.iter().map(Node::local_addr).collect();
        assert!(sees_all_alive(node, &live), "a survivor lost a live member");
        assert_eq!(node.io_stats().recv_errors, 0);
    }
}

#[tokio::test]
async fn graceful_leave_is_reported_as_left() {
    let nodes = cluster("127.0.0.1:0", 3).await;
    let leaver = nodes[2].local_addr();
    let mut subs: Vec<Events> = nodes[..2].iter().map(Node::events).collect();
    let mut seen: Vec<Vec<Event<SocketAddr>>> = vec![Vec::new(); 2];
    nodes[2].leave(Duration::from_secs(2)).await.expect("leave");
    assert!(nodes[2].is_stopped());
    wait_for(CONVERGE, "both others to report the leaver left", || {
        for (sub, seen) in subs.iter_mut().zip(&mut seen) {
            drain(sub, seen);
        }
        seen.iter()
            .all(|s| s.contains(&Event::Left { member: leaver }))
    })
    .await;
    for (node, seen) in nodes[..2].iter().zip(&seen) {
        assert_eq!(state_of(node, leaver), Some(State::Left));
        assert!(
            !seen.contains(&Event::Failed { member: leaver }),
            "left, not failed"
        );
    }
    // A stopped node refuses commands instead of hanging.
    assert!(matches!(
        nodes[2].broadcast(Bytes::from_static(b"x")).await,
        Err(swim_tokio::Error::Stopped)
    ));
}

#[tokio::test]
async fn ipv6_on_loopback() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("SKIP: no IPv6 loopback on this machine");
        return;
    }
    let nodes = cluster("[::1]:0", 3).await;
    assert!(nodes.iter().all(|n| n.local_addr().is_ipv6()));
    nodes[2].shutdown().await;
    let dead = nodes[2].local_addr();
    wait_for(CONVERGE, "the IPv6 crash to be detected", || {
        nodes[..2]
            .iter()
            .all(|n| state_of(n, dead) == Some(State::Failed))
    })
    .await;
}

#[tokio::test]
async fn join_through_localhost_name() {
    let seed = start("127.0.0.1:0", 1).await;
    let joiner = start("127.0.0.1:0", 2).await;
    let name = format!("localhost:{}", seed.local_addr().port());
    let used = joiner
        .join(&[name.as_str()])
        .await
        .expect("localhost resolves");
    assert!(used >= 1);
    let addrs = [seed.local_addr(), joiner.local_addr()];
    wait_for(CONVERGE, "the pair to converge via localhost", || {
        sees_all_alive(&seed, &addrs) && sees_all_alive(&joiner, &addrs)
    })
    .await;
}

#[tokio::test]
async fn broadcast_and_direct_messages_arrive() {
    let nodes = cluster("127.0.0.1:0", 3).await;
    let mut subs: Vec<Events> = nodes.iter().map(Node::events).collect();
    let mut seen: Vec<Vec<Event<SocketAddr>>> = vec![Vec::new(); 3];
    let from = nodes[0].local_addr();
    nodes[0]
        .broadcast(Bytes::from_static(b"hello all"))
        .await
        .expect("broadcast");
    nodes[0]
        .send_to(nodes[1].local_addr(), Bytes::from_static(b"hi one"))
        .await
        .expect("send_to");
    let bcast = Event::Message {
        from,
        payload: Bytes::from_static(b"hello all"),
        broadcast: true,
    };
    let direct = Event::Message {
        from,
        payload: Bytes::from_static(b"hi one"),
        broadcast: false,
    };
    wait_for(
        CONVERGE,
        "the broadcast at both others and the direct message at node 1",
        || {
            for (sub, seen) in subs.iter_mut().zip(&mut seen) {
                drain(sub, seen);
            }
            seen[1].contains(&bcast) && seen[2].contains(&bcast) && seen[1].contains(&direct)
        },
    )
    .await;
    assert!(!seen[2].contains(&direct));
}

#[tokio::test]
async fn socket_errors_are_counted_and_survived() {
    let a = start("127.0.0.1:0", 1).await;
    let b = start("127.0.0.1:0", 2).await;
    // An IPv6 seed from a udp4 socket: every send to it fails (EAFNOSUPPORT
    // / EINVAL), like a firewall's EPERM would.
    a.join_addrs(&["[::1]:9".parse().unwrap()])
        .await
        .expect("join");
    wait_for(CONVERGE, "a send error to be counted", || {
        a.io_stats().send_errors > 0
    })
    .await;
    // The node still works.
    a.join(&[b.local_addr().to_string()]).await.expect("join");
    let addrs = [a.local_addr(), b.local_addr()];
    wait_for(CONVERGE, "the pair to converge after errors", || {
        sees_all_alive(&a, &addrs) && sees_all_alive(&b, &addrs)
    })
    .await;
}

#[tokio::test]
async fn wildcard_bind_needs_an_advertised_address() {
    let err = Node::bind("0.0.0.0:0", Config::local())
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, swim_tokio::Error::NeedAdvertise(_)));
    let node = Builder::new(Config::local())
        .advertise("127.0.0.1:1".parse().unwrap())
        .bind("0.0.0.0:0")
        .await
        .expect("bind with advertise");
    assert_eq!(node.local_addr(), "127.0.0.1:1".parse().unwrap());
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_node() {
    let node = start("127.0.0.1:0", 1).await;
    let mut events = node.events();
    let clone = node.clone();
    drop(node);
    assert!(!clone.is_stopped(), "a clone is still alive");
    drop(clone);
    // The event stream ends once the task stopped.
    tokio::time::timeout(Duration::from_secs(5), async {
        while events.recv().await.is_some() {}
    })
    .await
    .expect("the event stream ends after the last handle is dropped");
}

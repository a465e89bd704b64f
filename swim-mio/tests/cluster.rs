//! swim-mio nodes on real loopback sockets, all driven from one mio `Poll`
//! in one thread (each registered under its own token), with the `local`
//! timers. Every loop is bounded by a deadline and ends by itself.

use mio::{Events, Poll, Token};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};
use swim_mio::{Config, Event, Node, State};

const LIMIT: Duration = Duration::from_secs(20);

struct Cluster {
    poll: Poll,
    events: Events,
    nodes: Vec<Node>,
    /// Every event each node reported, in order.
    seen: Vec<Vec<Event<SocketAddr>>>,
}

impl Cluster {
    fn new(bind: &str, n: usize) -> Cluster {
        let poll = Poll::new().unwrap();
        let mut nodes = Vec::new();
        for i in 0..n {
            let mut node =
                Node::bind_with_seed(bind.parse().unwrap(), Config::local(), i as u64 + 1).unwrap();
            node.register(poll.registry(), Token(100 + i)).unwrap();
            nodes.push(node);
        }
        Cluster {
            poll,
            events: Events::with_capacity(256),
            nodes,
            seen: vec![Vec::new(); n],
        }
    }

    fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(Node::local_addr).collect()
    }

    /// Drives every node (skipping `stopped` ones) until `cond` holds;
    /// panics after `LIMIT`.
    fn run_until(&mut self, what: &str, stopped: &[usize], cond: impl Fn(&Cluster) -> bool) {
        let deadline = Instant::now() + LIMIT;
        while !cond(self) {
            let now = Instant::now();
            assert!(
                now < deadline,
                "timed out after {LIMIT:?} waiting for {what}"
            );
            let timeout = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| !stopped.contains(i))
                .filter_map(|(_, n)| n.timeout(now))
                .min()
                .unwrap_or(Duration::from_millis(50))
                .min(deadline - now);
            self.poll.poll(&mut self.events, Some(timeout)).unwrap();
            for (i, node) in self.nodes.iter_mut().enumerate() {
                if stopped.contains(&i) {
                    continue;
                }
                for event in self.events.iter() {
                    node.handle_ready(event, Instant::now());
                }
                node.handle_timeout(Instant::now());
                while let Some(e) = node.next_event() {
                    self.seen[i].push(e);
                }
            }
        }
    }
}

fn state_of(node: &Node, addr: SocketAddr) -> Option<State> {
    node.members().find(|m| m.addr == addr).map(|m| m.state)
}

fn all_alive(c: &Cluster, among: &[usize]) -> bool {
    let addrs = c.addrs();
    among.iter().all(|i| {
        among
            .iter()
            .filter(|j| *j != i)
            .all(|j| state_of(&c.nodes[*i], addrs[*j]) == Some(State::Alive))
    })
}

#[test]
fn four_nodes_in_one_poll_converge_and_detect_a_dropped_node() {
    let mut c = Cluster::new("127.0.0.1:0", 4);
    let seed = c.addrs()[0].to_string();
    for node in &mut c.nodes[1..] {
        node.join(&[seed.as_str()]).unwrap();
    }
    c.run_until("every node to see every other alive", &[], |c| {
        all_alive(c, &[0, 1, 2, 3])
    });

    // Node 3 stops being driven (as if its process died); its socket stays
    // open but silent.
    let dead = c.addrs()[3];
    c.run_until("the others to report node 3 failed", &[3], |c| {
        c.seen[..3]
            .iter()
            .all(|s| s.contains(&Event::Failed { member: dead }))
    });
    assert!(all_alive(&c, &[0, 1, 2]), "a survivor lost a live member");
    for node in &c.nodes[..3] {
        assert_eq!(state_of(node, dead), Some(State::Failed));
    }
}

#[test]
fn ipv6_on_loopback() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("SKIP: no IPv6 loopback on this machine");
        return;
    }
    let mut c = Cluster::new("[::1]:0", 3);
    let seed = c.addrs()[0].to_string();
    for node in &mut c.nodes[1..] {
        node.join(&[seed.as_str()]).unwrap();
    }
    c.run_until("the IPv6 cluster to converge", &[], |c| {
        all_alive(c, &[0, 1, 2])
    });
}

#[test]
fn join_through_localhost_name() {
    let mut c = Cluster::new("127.0.0.1:0", 2);
    // Resolved with the system resolver; only the udp4 answers are used.
    let seed = format!("localhost:{}", c.addrs()[0].port());
    assert!(c.nodes[1].join(&[seed.as_str()]).unwrap() >= 1);
    c.run_until("the pair to converge via localhost", &[], |c| {
        all_alive(c, &[0, 1])
    });
}

#[test]
fn blocking_run_loop_and_leave() {
    // A seed driven by its own blocking loop in another thread.
    let mut seed = Node::bind("127.0.0.1:0".parse().unwrap(), Config::local()).unwrap();
    let seed_addr = seed.local_addr();
    let seed_thread = std::thread::spawn(move || {
        let mut saw_left = false;
        seed.run(Some(Instant::now() + LIMIT), |_, event| {
            if matches!(event, Event::Left { .. }) {
                saw_left = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })
        .unwrap();
        saw_left
    });
    let mut node = Node::bind("127.0.0.1:0".parse().unwrap(), Config::local()).unwrap();
    node.join_addrs(&[seed_addr]).unwrap();
    let mut joined = false;
    node.run(Some(Instant::now() + LIMIT), |_, event| {
        joined = event
            == Event::Joined {
                member: seed_addr,
                meta: Default::default(),
            };
        if joined {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert!(joined, "the blocking loop never saw the seed join");
    node.leave_blocking(Duration::from_secs(2)).unwrap();
    assert!(seed_thread.join().unwrap(), "the seed never saw the leave");
}

#[test]
fn socket_errors_are_counted_and_survived() {
    let mut c = Cluster::new("127.0.0.1:0", 2);
    c.nodes[0]
        .join_addrs(&["[::1]:9".parse().unwrap()])
        .unwrap();
    let seed = c.addrs()[1];
    c.nodes[0].join_addrs(&[seed]).unwrap();
    c.run_until("convergence despite a failing seed", &[], |c| {
        all_alive(c, &[0, 1]) && c.nodes[0].io_stats().send_errors > 0
    });
}

//! [`Builder`]: describes a run — the cluster, the network and a timeline of
//! faults — with the names turmoil users know (`seed`, `nodes`, `latency`,
//! `loss`, `partition`, `repair`, `hold`, `release`, `crash`, `restart`).

use crate::net::NetConfig;
use crate::rng::{Purpose, SimRng};
use crate::sim::Sim;
use crate::view::Bits;
use crate::NodeId;
use std::time::Duration;
use swim_core::Config;

/// A set of nodes, given as ids (`0..50`, `vec![3, 7]`, `[1]`).
pub type NodeSet = Vec<NodeId>;

/// One timeline entry, resolved to concrete nodes.
#[derive(Clone, Debug)]
pub(crate) enum Fault {
    Start { node: NodeId, seeds: Vec<NodeId> },
    Block { from: Bits, to: Bits },
    Unblock { from: Bits, to: Bits },
    UnblockAll,
    Hold { from: Bits, to: Bits },
    Release { from: Bits, to: Bits },
    Crash(NodeId),
    Restart(NodeId),
    Pause { node: NodeId, dur: u64 },
    Slow { node: NodeId, delay: u64 },
    Leave(NodeId),
    Stop(NodeId),
    SetLoss(f64),
    Disseminate(NodeId),
}

impl Fault {
    /// Whether the convergence clock waits for this entry (everything but
    /// the dissemination probe: joins and stops count too).
    pub(crate) fn is_fault(&self) -> bool {
        !matches!(self, Fault::Disseminate(_))
    }
    /// Whether this entry ends the steady state the load is measured in
    /// (everything but the initial joins; the dissemination probe's gossip
    /// is extra load too).
    pub(crate) fn disturbs(&self, initial: u32) -> bool {
        match self {
            Fault::Start { node, .. } => *node >= initial,
            _ => true,
        }
    }
    /// Whether this entry heals (repair / release).
    pub(crate) fn is_heal(&self) -> bool {
        matches!(
            self,
            Fault::Unblock { .. } | Fault::UnblockAll | Fault::Release { .. }
        )
    }
}

#[derive(Clone, Debug)]
enum Spec {
    Partition {
        a: NodeSet,
        b: NodeSet,
        one_way: bool,
    },
    Repair {
        a: NodeSet,
        b: NodeSet,
    },
    RepairAll,
    Hold {
        a: NodeSet,
        b: NodeSet,
    },
    Release {
        a: NodeSet,
        b: NodeSet,
    },
    Crash(NodeSet),
    CrashRandom(usize),
    Restart(NodeSet),
    Pause {
        nodes: NodeSet,
        dur: Duration,
    },
    Slow {
        nodes: NodeSet,
        delay: Duration,
    },
    SlowRandom {
        count: usize,
        delay: Duration,
    },
    Leave(NodeSet),
    JoinStorm {
        count: u32,
        seed: NodeId,
    },
    SetLoss(f64),
    Disseminate(NodeId),
}

/// Everything a [`Sim`] needs besides its timeline.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Master seed.
    pub seed: u64,
    /// Nodes started at the beginning (join storms add more).
    pub nodes: u32,
    /// Protocol configuration of every node.
    pub config: Config,
    /// Network behaviour.
    pub net: NetConfig,
    /// Simulated time to run.
    pub duration: Duration,
    /// The initial nodes start evenly over this window, each joining
    /// through node 0.
    pub join_spread: Duration,
    /// Load metrics are taken from here on (after the join traffic).
    pub warmup: Duration,
    /// How often views, convergence and progress are sampled.
    pub sample_interval: Duration,
    /// How often every node's `members()` is audited (incarnations never go
    /// backwards; views match the events). O(N²) each time: `None` for big N.
    pub audit_interval: Option<Duration>,
    /// Once faults stop, every live node must see exactly the live set
    /// within this bound (checked when the run lasts that long).
    pub converge_within: Duration,
    /// A leaving node keeps running this long after `leave()`.
    pub leave_linger: Duration,
    /// The initial nodes all start at time 0 already knowing each other
    /// (`Swim::restore`, as from a saved member list) instead of joining
    /// through node 0. For large clusters, where a join storm of every node
    /// at once is not what a run measures.
    pub bootstrap: bool,
}

/// Describes a simulation run. Times are offsets from the start.
///
/// ```
/// use std::time::Duration;
/// use swim_sim::Builder;
/// let s = Duration::from_secs;
/// let report = Builder::new()
///     .seed(7)
///     .nodes(20)
///     .latency(Duration::from_millis(1), Duration::from_millis(5))
///     .loss(0.01)
///     .crash(s(20), [3])
///     .partition(s(30), 0..10, 10..20)
///     .repair(s(40), 0..10, 10..20)
///     .duration(s(90))
///     .build()
///     .run();
/// println!("{}", report.summary());
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    cfg: SimConfig,
    join_spread: Option<Duration>,
    warmup: Option<Duration>,
    audit: Option<Option<Duration>>,
    timeline: Vec<(Duration, Spec)>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Ten nodes on a 1–5 ms LAN with `Config::lan()`, seed 0, 60 s.
    pub fn new() -> Self {
        Builder {
            cfg: SimConfig {
                seed: 0,
                nodes: 10,
                config: Config::lan(),
                net: NetConfig::default(),
                duration: Duration::from_secs(60),
                join_spread: Duration::ZERO,
                warmup: Duration::ZERO,
                sample_interval: Duration::from_secs(1),
                audit_interval: None,
                converge_within: Duration::from_secs(60),
                leave_linger: Duration::from_secs(5),
                bootstrap: false,
            },
            join_spread: None,
            warmup: None,
            audit: None,
            timeline: Vec::new(),
        }
    }

    /// The master seed every random choice derives from.
    pub fn seed(mut self, seed: u64) -> Self {
        self.cfg.seed = seed;
        self
    }
    /// Nodes started at the beginning.
    pub fn nodes(mut self, n: u32) -> Self {
        self.cfg.nodes = n.max(1);
        self
    }
    /// Protocol configuration for every node.
    pub fn config(mut self, config: Config) -> Self {
        self.cfg.config = config;
        self
    }
    /// The whole network behaviour at once.
    pub fn net(mut self, net: NetConfig) -> Self {
        self.cfg.net = net;
        self
    }
    /// One-way latency, uniform in `min..=max`.
    pub fn latency(mut self, min: Duration, max: Duration) -> Self {
        self.cfg.net.latency_min = min;
        self.cfg.net.latency_max = max.max(min);
        self
    }
    /// iid datagram loss probability (not a link break: see `partition`).
    pub fn loss(mut self, p: f64) -> Self {
        self.cfg.net.loss = p.clamp(0.0, 1.0);
        self
    }
    /// Changes the iid loss probability at `at`.
    pub fn loss_at(mut self, at: Duration, p: f64) -> Self {
        self.timeline.push((at, Spec::SetLoss(p.clamp(0.0, 1.0))));
        self
    }
    /// Probability that a datagram is delivered twice.
    pub fn duplicate(mut self, p: f64) -> Self {
        self.cfg.net.duplicate = p.clamp(0.0, 1.0);
        self
    }
    /// Probability that a datagram is delayed up to `extra` more, so that
    /// later ones overtake it.
    pub fn reorder(mut self, p: f64, extra: Duration) -> Self {
        self.cfg.net.reorder = p.clamp(0.0, 1.0);
        self.cfg.net.reorder_delay = extra;
        self
    }
    /// Simulated time to run.
    pub fn duration(mut self, d: Duration) -> Self {
        self.cfg.duration = d;
        self
    }
    /// Window over which the initial nodes start (default: 1 ms per node).
    pub fn join_spread(mut self, d: Duration) -> Self {
        self.join_spread = Some(d);
        self
    }
    /// Start every initial node at once, knowing all the others (see
    /// [`SimConfig::bootstrap`]).
    pub fn bootstrap(mut self, on: bool) -> Self {
        self.cfg.bootstrap = on;
        self
    }
    /// Start of the steady-state load window (default: join spread + 15 s).
    pub fn warmup(mut self, d: Duration) -> Self {
        self.warmup = Some(d);
        self
    }
    /// Sampling period of views and convergence (default 1 s).
    pub fn sample_interval(mut self, d: Duration) -> Self {
        self.cfg.sample_interval = d.max(Duration::from_millis(10));
        self
    }
    /// Audits every node's `members()` at this period (default: every 5 s
    /// up to 300 nodes, never above).
    pub fn audit_interval(mut self, d: Option<Duration>) -> Self {
        self.audit = Some(d);
        self
    }
    /// Bound on convergence once faults stop (default 60 s).
    pub fn converge_within(mut self, d: Duration) -> Self {
        self.cfg.converge_within = d;
        self
    }
    /// Two-way partition between `a` and `b` from `at`.
    pub fn partition(
        mut self,
        at: Duration,
        a: impl IntoIterator<Item = NodeId>,
        b: impl IntoIterator<Item = NodeId>,
    ) -> Self {
        let (a, b) = (a.into_iter().collect(), b.into_iter().collect());
        self.timeline.push((
            at,
            Spec::Partition {
                a,
                b,
                one_way: false,
            },
        ));
        self
    }
    /// One-way partition: datagrams from `from` to `to` are dropped.
    pub fn partition_oneway(
        mut self,
        at: Duration,
        from: impl IntoIterator<Item = NodeId>,
        to: impl IntoIterator<Item = NodeId>,
    ) -> Self {
        let (a, b) = (from.into_iter().collect(), to.into_iter().collect());
        self.timeline.push((
            at,
            Spec::Partition {
                a,
                b,
                one_way: true,
            },
        ));
        self
    }
    /// Lifts partitions between `a` and `b` (both directions).
    pub fn repair(
        mut self,
        at: Duration,
        a: impl IntoIterator<Item = NodeId>,
        b: impl IntoIterator<Item = NodeId>,
    ) -> Self {
        let (a, b) = (a.into_iter().collect(), b.into_iter().collect());
        self.timeline.push((at, Spec::Repair { a, b }));
        self
    }
    /// Lifts every partition.
    pub fn repair_all(mut self, at: Duration) -> Self {
        self.timeline.push((at, Spec::RepairAll));
        self
    }
    /// Holds datagrams between `a` and `b` (both ways) until `release`.
    pub fn hold(
        mut self,
        at: Duration,
        a: impl IntoIterator<Item = NodeId>,
        b: impl IntoIterator<Item = NodeId>,
    ) -> Self {
        let (a, b) = (a.into_iter().collect(), b.into_iter().collect());
        self.timeline.push((at, Spec::Hold { a, b }));
        self
    }
    /// Delivers what was held between `a` and `b` and stops holding.
    pub fn release(
        mut self,
        at: Duration,
        a: impl IntoIterator<Item = NodeId>,
        b: impl IntoIterator<Item = NodeId>,
    ) -> Self {
        let (a, b) = (a.into_iter().collect(), b.into_iter().collect());
        self.timeline.push((at, Spec::Release { a, b }));
        self
    }
    /// Crashes nodes: no processing, datagrams to them vanish.
    pub fn crash(mut self, at: Duration, nodes: impl IntoIterator<Item = NodeId>) -> Self {
        self.timeline
            .push((at, Spec::Crash(nodes.into_iter().collect())));
        self
    }
    /// Crashes `count` nodes chosen from the seed (never node 0, the seed
    /// node of joins).
    pub fn crash_random(mut self, at: Duration, count: usize) -> Self {
        self.timeline.push((at, Spec::CrashRandom(count)));
        self
    }
    /// Restarts crashed nodes with fresh state at the same address; they
    /// re-join through live nodes.
    pub fn restart(mut self, at: Duration, nodes: impl IntoIterator<Item = NodeId>) -> Self {
        self.timeline
            .push((at, Spec::Restart(nodes.into_iter().collect())));
        self
    }
    /// Pauses nodes (SIGSTOP) for `dur`: nothing is processed meanwhile;
    /// datagrams wait in the socket buffer and timers fire late.
    pub fn pause(
        mut self,
        at: Duration,
        nodes: impl IntoIterator<Item = NodeId>,
        dur: Duration,
    ) -> Self {
        let nodes = nodes.into_iter().collect();
        self.timeline.push((at, Spec::Pause { nodes, dur }));
        self
    }
    /// From `at`, nodes handle every datagram `delay` late (a starved
    /// receive path — the Lifeguard paper's slow node) while their own
    /// timers still fire on time. `Duration::ZERO` makes them normal again.
    pub fn slow(
        mut self,
        at: Duration,
        nodes: impl IntoIterator<Item = NodeId>,
        delay: Duration,
    ) -> Self {
        let nodes = nodes.into_iter().collect();
        self.timeline.push((at, Spec::Slow { nodes, delay }));
        self
    }
    /// Slows `count` nodes chosen from the seed (never node 0).
    pub fn slow_random(mut self, at: Duration, count: usize, delay: Duration) -> Self {
        self.timeline.push((at, Spec::SlowRandom { count, delay }));
        self
    }
    /// Graceful leave: `leave()` at `at`; the node stops after a linger.
    pub fn leave(mut self, at: Duration, nodes: impl IntoIterator<Item = NodeId>) -> Self {
        self.timeline
            .push((at, Spec::Leave(nodes.into_iter().collect())));
        self
    }
    /// `count` new nodes all join through `seed` at the same instant.
    /// They get the ids after the initial nodes and earlier storms.
    pub fn join_storm(mut self, at: Duration, count: u32, seed: NodeId) -> Self {
        self.timeline.push((at, Spec::JoinStorm { count, seed }));
        self
    }
    /// `node` changes its metadata at `at`; the report measures how many
    /// protocol periods the update takes to reach 99.9% of live nodes.
    pub fn disseminate(mut self, at: Duration, node: NodeId) -> Self {
        self.timeline.push((at, Spec::Disseminate(node)));
        self
    }

    /// The configuration as it stands (defaults resolved).
    pub fn sim_config(&self) -> SimConfig {
        let mut cfg = self.cfg.clone();
        cfg.join_spread = if cfg.bootstrap {
            Duration::ZERO
        } else {
            self.join_spread.unwrap_or(Duration::from_millis(u64::from(
                cfg.nodes.saturating_sub(1),
            )))
        };
        cfg.warmup = self
            .warmup
            .unwrap_or(cfg.join_spread + Duration::from_secs(15));
        cfg.audit_interval = self
            .audit
            .unwrap_or((cfg.nodes <= 300).then_some(Duration::from_secs(5)));
        cfg
    }

    /// Resolves the timeline and builds the simulation.
    pub fn build(self) -> Sim {
        let cfg = self.sim_config();
        let mut rng = SimRng::new(cfg.seed, Purpose::Faults);
        let storms: u32 = self
            .timeline
            .iter()
            .map(|(_, s)| match s {
                Spec::JoinStorm { count, .. } => *count,
                _ => 0,
            })
            .sum();
        let total = (cfg.nodes + storms) as usize;
        let bits = |ids: &[NodeId]| {
            let mut b = Bits::new(total);
            ids.iter()
                .filter(|&&i| (i as usize) < total)
                .for_each(|&i| {
                    b.set(i);
                });
            b
        };
        let mut timeline: Vec<(u64, Fault)> = Vec::new();
        let spread = cfg.join_spread.as_nanos() as u64;
        for i in 0..cfg.nodes {
            let at = spread * u64::from(i) / u64::from(cfg.nodes.max(1));
            let seeds = if i == 0 || cfg.bootstrap {
                vec![]
            } else {
                vec![0]
            };
            timeline.push((at, Fault::Start { node: i, seeds }));
        }
        let candidates: Vec<NodeId> = (1..cfg.nodes).collect();
        let mut next_id = cfg.nodes;
        let mut later: Vec<(u64, Fault)> = Vec::new();
        let mut specs = self.timeline;
        specs.sort_by_key(|(at, _)| *at);
        for (at, spec) in specs {
            let at = at.as_nanos() as u64;
            let mut push = |f: Fault| timeline.push((at, f));
            match spec {
                Spec::Partition { a, b, one_way } => {
                    push(Fault::Block {
                        from: bits(&a),
                        to: bits(&b),
                    });
                    if !one_way {
                        push(Fault::Block {
                            from: bits(&b),
                            to: bits(&a),
                        });
                    }
                }
                Spec::Repair { a, b } => {
                    push(Fault::Unblock {
                        from: bits(&a),
                        to: bits(&b),
                    });
                    push(Fault::Unblock {
                        from: bits(&b),
                        to: bits(&a),
                    });
                }
                Spec::RepairAll => push(Fault::UnblockAll),
                Spec::Hold { a, b } => {
                    push(Fault::Hold {
                        from: bits(&a),
                        to: bits(&b),
                    });
                    push(Fault::Hold {
                        from: bits(&b),
                        to: bits(&a),
                    });
                }
                Spec::Release { a, b } => {
                    push(Fault::Release {
                        from: bits(&a),
                        to: bits(&b),
                    });
                    push(Fault::Release {
                        from: bits(&b),
                        to: bits(&a),
                    });
                }
                Spec::Crash(nodes) => nodes.into_iter().for_each(|n| push(Fault::Crash(n))),
                Spec::CrashRandom(k) => {
                    let mut picked = rng.pick(&candidates, k);
                    picked.sort_unstable();
                    picked.into_iter().for_each(|n| push(Fault::Crash(n)));
                }
                Spec::Restart(nodes) => nodes.into_iter().for_each(|n| push(Fault::Restart(n))),
                Spec::Pause { nodes, dur } => {
                    let dur = dur.as_nanos() as u64;
                    nodes
                        .into_iter()
                        .for_each(|node| push(Fault::Pause { node, dur }));
                }
                Spec::Slow { nodes, delay } => {
                    let delay = delay.as_nanos() as u64;
                    nodes
                        .into_iter()
                        .for_each(|node| push(Fault::Slow { node, delay }));
                }
                Spec::SlowRandom { count, delay } => {
                    let delay = delay.as_nanos() as u64;
                    let mut picked = rng.pick(&candidates, count);
                    picked.sort_unstable();
                    picked
                        .into_iter()
                        .for_each(|node| push(Fault::Slow { node, delay }));
                }
                Spec::Leave(nodes) => {
                    let linger = cfg.leave_linger.as_nanos() as u64;
                    for n in nodes {
                        push(Fault::Leave(n));
                        later.push((at + linger, Fault::Stop(n)));
                    }
                }
                Spec::JoinStorm { count, seed } => {
                    for node in next_id..next_id + count {
                        push(Fault::Start {
                            node,
                            seeds: vec![seed],
                        });
                    }
                    next_id += count;
                }
                Spec::SetLoss(p) => push(Fault::SetLoss(p)),
                Spec::Disseminate(n) => push(Fault::Disseminate(n)),
            }
        }
        timeline.extend(later);
        timeline.sort_by_key(|(at, _)| *at);
        Sim::new(cfg, total, timeline)
    }
}

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
    Start {
        node: NodeId,
        seeds: Vec<NodeId>,
    },
    Block {
        from: Bits,
        to: Bits,
    },
    Unblock {
        from: Bits,
        to: Bits,
    },
    UnblockAll,
    Hold {
        from: Bits,
        to: Bits,
    },
    Release {
        from: Bits,
        to: Bits,
    },
    Crash(NodeId),
    Restart(NodeId),
    Pause {
        node: NodeId,
        dur: u64,
    },
    Slow {
        node: NodeId,
        max_lag: u64,
    },
    Leave(NodeId),
    Stop(NodeId),
    SetLoss(f64),
    Disseminate(NodeId),
    InboundLoss {
        node: NodeId,
        p: f64,
    },
    Link {
        a: NodeId,
        b: NodeId,
        down: bool,
    },
    ChurnCrash {
        restart_after: u64,
    },
    ChurnLeave,
    JoinAny(NodeId),
    Tamper {
        node: NodeId,
        tamper: Tamper,
    },
    /// A pause ended (bookkeeping, added while running).
    Resumed(NodeId),
    Broadcast {
        node: NodeId,
        bytes: usize,
    },
}

/// A deliberately broken node, for showing that each checker can fire
/// (tests only: a correct protocol never needs these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    /// The node never sees updates about itself (they are stripped from the
    /// datagrams it handles, after the checkers looked at them): it cannot
    /// refute, so a Failed claim about it stands. Fires `SelfFailed`.
    IgnoreClaimsAboutSelf,
    /// The node's state is silently replaced by a fresh one (a restart the
    /// simulator is not told about): its own incarnation goes back.
    /// Fires `IncarnationDecreased` (and `ViewMismatch`).
    Amnesia,
    /// The node's state is silently rebuilt from the member list it held
    /// `ago` earlier (a stale snapshot): members it declared dead since come
    /// back live at their old incarnation. Fires `Resurrection`.
    Rollback,
    /// The node's outbound datagrams are dropped (it looks crashed to the
    /// others while running). Fires `NotConverged`.
    Mute,
    /// 2,000 zero bytes are appended to each outbound datagram. Fires
    /// `OversizedDatagram`.
    Pad,
    /// The node's events are dropped. Fires `ViewMismatch`.
    DropEvents,
}

/// Which nodes a fault applies to.
#[derive(Clone, Debug, PartialEq)]
pub enum Pick {
    /// These node ids.
    Ids(NodeSet),
    /// This many initial nodes, chosen from the seed (never node 0, the
    /// seed node of joins).
    Count(usize),
    /// This fraction of the initial nodes (rounded, at least one when
    /// positive), chosen from the seed (never node 0).
    Fraction(f64),
    /// Partitions only: every initial node not on the other side.
    Rest,
}

impl From<NodeSet> for Pick {
    fn from(ids: NodeSet) -> Self {
        Pick::Ids(ids)
    }
}
impl From<std::ops::Range<NodeId>> for Pick {
    fn from(r: std::ops::Range<NodeId>) -> Self {
        Pick::Ids(r.collect())
    }
}
impl<const N: usize> From<[NodeId; N]> for Pick {
    fn from(ids: [NodeId; N]) -> Self {
        Pick::Ids(ids.to_vec())
    }
}

impl Pick {
    /// How many nodes a count or fraction picks among `initial` nodes.
    pub fn count(&self, initial: u32) -> usize {
        match self {
            Pick::Ids(ids) => ids.len(),
            Pick::Count(k) => *k,
            Pick::Fraction(f) if *f > 0.0 => ((f * f64::from(initial)).round() as usize).max(1),
            Pick::Fraction(_) => 0,
            Pick::Rest => 0,
        }
    }

    fn resolve(&self, rng: &mut SimRng, initial: u32, other: &[NodeId]) -> NodeSet {
        let mut v = match self {
            Pick::Ids(ids) => ids.clone(),
            Pick::Rest => (0..initial).filter(|i| !other.contains(i)).collect(),
            _ => {
                let candidates: Vec<NodeId> = (1..initial).collect();
                rng.pick(&candidates, self.count(initial))
            }
        };
        v.sort_unstable();
        v
    }
}

/// Rates of continuous churn (see [`Builder::churn`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Churn {
    /// Crashes per minute (a random running node; Poisson arrivals).
    pub crashes_per_min: f64,
    /// A crashed node restarts with fresh state at the same address this
    /// long after its crash.
    pub restart_after: Duration,
    /// Graceful leaves per minute (a random running node, which then stops).
    pub leaves_per_min: f64,
    /// New nodes joining per minute (through random running nodes).
    pub joins_per_min: f64,
}

/// GC pauses (see [`Builder::gc_pauses`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GcPauses {
    /// Shortest run between pauses.
    pub run_min: Duration,
    /// Longest run between pauses.
    pub run_max: Duration,
    /// Length of each pause.
    pub pause: Duration,
}

/// Flapping links (see [`Builder::flapping`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flapping {
    /// Fraction of all node pairs that flap.
    pub pairs: f64,
    /// Down time, uniform in `down_min..=down_max`.
    pub down_min: Duration,
    /// Longest down time.
    pub down_max: Duration,
    /// Up time between outages, uniform in `up_min..=up_max`.
    pub up_min: Duration,
    /// Longest up time.
    pub up_max: Duration,
}

impl Default for Flapping {
    /// 5% of pairs, down U[1, 5] s, up U[5, 20] s.
    fn default() -> Self {
        let s = Duration::from_secs;
        Flapping {
            pairs: 0.05,
            down_min: s(1),
            down_max: s(5),
            up_min: s(5),
            up_max: s(20),
        }
    }
}

impl Fault {
    /// Whether the convergence clock waits for this entry (everything but
    /// the dissemination probe: joins and stops count too).
    pub(crate) fn is_fault(&self) -> bool {
        !matches!(
            self,
            Fault::Disseminate(_) | Fault::Resumed(_) | Fault::Broadcast { .. }
        )
    }
    /// When the entry's effect ends (a pause lasts; the rest are instants).
    pub(crate) fn ends(&self, at: u64) -> u64 {
        match self {
            Fault::Pause { dur, .. } => at + dur,
            _ => at,
        }
    }
    /// Whether this entry ends the steady state the load is measured in
    /// (everything but the initial joins; the dissemination probe's gossip
    /// is extra load too).
    pub(crate) fn disturbs(&self, initial: u32) -> bool {
        match self {
            Fault::Start { node, .. } => *node >= initial,
            Fault::Resumed(_) => false,
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
        a: Pick,
        b: Pick,
        one_way: bool,
        until: Option<Duration>,
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
    Crash {
        nodes: Pick,
        until: Option<Duration>,
    },
    Restart(NodeSet),
    Pause {
        nodes: Pick,
        dur: Duration,
    },
    Slow {
        nodes: Pick,
        max_lag: Duration,
        until: Option<Duration>,
    },
    Leave {
        nodes: Pick,
        until: Option<Duration>,
    },
    JoinStorm {
        count: u32,
        seed: NodeId,
    },
    SetLoss(f64),
    Disseminate(NodeId),
    InboundLoss {
        nodes: Pick,
        p: f64,
        until: Option<Duration>,
    },
    Gc {
        nodes: Pick,
        gc: GcPauses,
        until: Duration,
    },
    Churn {
        churn: Churn,
        until: Duration,
    },
    Flapping {
        flap: Flapping,
        until: Duration,
    },
    Tamper {
        node: NodeId,
        tamper: Tamper,
    },
    Broadcast {
        node: NodeId,
        bytes: usize,
    },
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
    /// A running node that handled a Failed (or Left) claim about itself at
    /// an incarnation at least its own must have refuted it (bumped its
    /// incarnation past the claim) within this time.
    pub refute_within: Duration,
    /// Datagrams a paused node's socket buffer holds; more are dropped.
    pub pause_queue: usize,
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
                refute_within: Duration::from_secs(1),
                pause_queue: 1024,
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
    /// Datagrams a paused node's socket buffer holds (default 1,024);
    /// more are dropped and counted (`Load::pause_dropped`).
    pub fn pause_queue(mut self, n: usize) -> Self {
        self.cfg.pause_queue = n;
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
                a: Pick::Ids(a),
                b: Pick::Ids(b),
                one_way: false,
                until: None,
            },
        ));
        self
    }
    /// Partition between two picked sets (`Pick::Rest` for "every other
    /// initial node"), one-way (`a` → `b` dropped) or both ways, lifted at
    /// `until` if given.
    pub fn partition_pick(
        mut self,
        at: Duration,
        a: impl Into<Pick>,
        b: impl Into<Pick>,
        one_way: bool,
        until: Option<Duration>,
    ) -> Self {
        let (a, b) = (a.into(), b.into());
        self.timeline.push((
            at,
            Spec::Partition {
                a,
                b,
                one_way,
                until,
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
                a: Pick::Ids(a),
                b: Pick::Ids(b),
                one_way: true,
                until: None,
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
        let nodes = Pick::Ids(nodes.into_iter().collect());
        self.timeline.push((at, Spec::Crash { nodes, until: None }));
        self
    }
    /// Crashes picked nodes (e.g. `Pick::Fraction(0.1)`: a mass crash), all
    /// at `at`, or spread evenly over `at..until`.
    pub fn crash_pick(
        mut self,
        at: Duration,
        nodes: impl Into<Pick>,
        until: Option<Duration>,
    ) -> Self {
        self.timeline.push((
            at,
            Spec::Crash {
                nodes: nodes.into(),
                until,
            },
        ));
        self
    }
    /// Crashes `count` nodes chosen from the seed (never node 0, the seed
    /// node of joins).
    pub fn crash_random(mut self, at: Duration, count: usize) -> Self {
        self.timeline.push((
            at,
            Spec::Crash {
                nodes: Pick::Count(count),
                until: None,
            },
        ));
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
        let nodes = Pick::Ids(nodes.into_iter().collect());
        self.timeline.push((at, Spec::Pause { nodes, dur }));
        self
    }
    /// Pauses picked nodes for `dur` (see [`Builder::pause`]).
    pub fn pause_pick(mut self, at: Duration, nodes: impl Into<Pick>, dur: Duration) -> Self {
        self.timeline.push((
            at,
            Spec::Pause {
                nodes: nodes.into(),
                dur,
            },
        ));
        self
    }
    /// GC pauses: from `at` to `until` each picked node alternates running
    /// for U[`run_min`, `run_max`] and pausing for `pause` (nothing handled,
    /// inbound datagrams queued FIFO up to [`SimConfig::pause_queue`],
    /// timers late). Short pauses are not failures, long ones are.
    pub fn gc_pauses(
        mut self,
        at: Duration,
        until: Duration,
        nodes: impl Into<Pick>,
        gc: GcPauses,
    ) -> Self {
        let nodes = nodes.into();
        self.timeline.push((at, Spec::Gc { nodes, gc, until }));
        self
    }
    /// From `at`, nodes are slow on both lanes (the Lifeguard paper's slow
    /// node): every received datagram is handled late — FIFO, like a
    /// backlogged socket: at max(arrival + lag, previous handling) — and
    /// every timer wake-up fires at deadline + lag. The lag is drawn per
    /// event, uniform in `[0, max_lag]`. `Duration::ZERO` makes them normal
    /// again.
    pub fn slow(
        mut self,
        at: Duration,
        nodes: impl IntoIterator<Item = NodeId>,
        max_lag: Duration,
    ) -> Self {
        let nodes = Pick::Ids(nodes.into_iter().collect());
        self.timeline.push((
            at,
            Spec::Slow {
                nodes,
                max_lag,
                until: None,
            },
        ));
        self
    }
    /// Slows `count` nodes chosen from the seed (never node 0).
    pub fn slow_random(self, at: Duration, count: usize, max_lag: Duration) -> Self {
        self.slow_pick(at, Pick::Count(count), max_lag, None)
    }
    /// Slows picked nodes (see [`Builder::slow`]) from `at`, until `until`
    /// if given.
    pub fn slow_pick(
        mut self,
        at: Duration,
        nodes: impl Into<Pick>,
        max_lag: Duration,
        until: Option<Duration>,
    ) -> Self {
        let nodes = nodes.into();
        self.timeline.push((
            at,
            Spec::Slow {
                nodes,
                max_lag,
                until,
            },
        ));
        self
    }
    /// Asymmetric loss: picked nodes lose the fraction `p` of their
    /// *inbound* datagrams (what they send is untouched), from `at` until
    /// `until` if given.
    pub fn inbound_loss(
        mut self,
        at: Duration,
        nodes: impl Into<Pick>,
        p: f64,
        until: Option<Duration>,
    ) -> Self {
        let nodes = nodes.into();
        let p = p.clamp(0.0, 1.0);
        self.timeline
            .push((at, Spec::InboundLoss { nodes, p, until }));
        self
    }
    /// Flapping links: from `at` to `until`, a fraction of all pairs of
    /// initial nodes (chosen from the seed) lose all traffic for a while,
    /// then work for a while, repeatedly (each pair on its own clock).
    /// Not iid loss: the link is down for the whole outage.
    pub fn flapping(mut self, at: Duration, until: Duration, flap: Flapping) -> Self {
        self.timeline.push((at, Spec::Flapping { flap, until }));
        self
    }
    /// Continuous churn from `at` to `until`: crashes (each restarted with
    /// fresh state at the same address after `restart_after`), graceful
    /// leaves and new joins, each a Poisson process at its rate. Joining
    /// nodes get ids after the initial nodes and join storms.
    pub fn churn(mut self, at: Duration, until: Duration, churn: Churn) -> Self {
        self.timeline.push((at, Spec::Churn { churn, until }));
        self
    }
    /// `node` broadcasts an application payload of `bytes` bytes (at least
    /// 8) at `at`; the report says when it reached every node running then
    /// (`Report::broadcasts`).
    pub fn broadcast(mut self, at: Duration, node: NodeId, bytes: usize) -> Self {
        self.timeline.push((at, Spec::Broadcast { node, bytes }));
        self
    }
    /// Makes `node` deliberately broken from `at` (see [`Tamper`]): for
    /// tests that show a checker firing.
    pub fn tamper(mut self, at: Duration, node: NodeId, tamper: Tamper) -> Self {
        self.timeline.push((at, Spec::Tamper { node, tamper }));
        self
    }
    /// Graceful leave: `leave()` at `at`; the node stops after a linger.
    pub fn leave(mut self, at: Duration, nodes: impl IntoIterator<Item = NodeId>) -> Self {
        let nodes = Pick::Ids(nodes.into_iter().collect());
        self.timeline.push((at, Spec::Leave { nodes, until: None }));
        self
    }
    /// Graceful leaves of picked nodes, all at `at` or spread evenly over
    /// `at..until`.
    pub fn leave_pick(
        mut self,
        at: Duration,
        nodes: impl Into<Pick>,
        until: Option<Duration>,
    ) -> Self {
        self.timeline.push((
            at,
            Spec::Leave {
                nodes: nodes.into(),
                until,
            },
        ));
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
        let mut specs = self.timeline;
        specs.sort_by_key(|(at, _)| *at);
        // Joining nodes (storms and churn) get ids after the initial ones;
        // churn's join times are drawn here, so count them first.
        let mut churn_joins: Vec<Vec<u64>> = Vec::new();
        for (at, spec) in &specs {
            if let Spec::Churn { churn, until } = spec {
                churn_joins.push(poisson(&mut rng, *at, *until, churn.joins_per_min));
            }
        }
        let storms: u32 = specs
            .iter()
            .map(|(_, s)| match s {
                Spec::JoinStorm { count, .. } => *count,
                _ => 0,
            })
            .sum::<u32>()
            + churn_joins.iter().map(|j| j.len() as u32).sum::<u32>();
        let total = (cfg.nodes + storms) as usize;
        let initial = cfg.nodes;
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
        let ns = |d: Duration| d.as_nanos() as u64;
        // Instants `at..until` spread evenly over `k` items.
        let spread_at = |at: u64, until: Option<Duration>, i: usize, k: usize| match until {
            Some(u) if k > 1 => at + (ns(u).saturating_sub(at)) * i as u64 / (k as u64 - 1),
            _ => at,
        };
        let mut next_id = cfg.nodes;
        let mut churn_joins = churn_joins.into_iter();
        let linger = ns(cfg.leave_linger);
        for (at, spec) in specs {
            let at = ns(at);
            let mut push = |t: u64, f: Fault| timeline.push((t, f));
            match spec {
                Spec::Partition {
                    a,
                    b,
                    one_way,
                    until,
                } => {
                    let a = a.resolve(&mut rng, initial, &[]);
                    let b = b.resolve(&mut rng, initial, &a);
                    let (ab, ba) = ((bits(&a), bits(&b)), (bits(&b), bits(&a)));
                    push(
                        at,
                        Fault::Block {
                            from: ab.0.clone(),
                            to: ab.1.clone(),
                        },
                    );
                    if !one_way {
                        push(
                            at,
                            Fault::Block {
                                from: ba.0.clone(),
                                to: ba.1.clone(),
                            },
                        );
                    }
                    if let Some(u) = until {
                        push(
                            ns(u),
                            Fault::Unblock {
                                from: ab.0,
                                to: ab.1,
                            },
                        );
                        push(
                            ns(u),
                            Fault::Unblock {
                                from: ba.0,
                                to: ba.1,
                            },
                        );
                    }
                }
                Spec::Repair { a, b } => {
                    push(
                        at,
                        Fault::Unblock {
                            from: bits(&a),
                            to: bits(&b),
                        },
                    );
                    push(
                        at,
                        Fault::Unblock {
                            from: bits(&b),
                            to: bits(&a),
                        },
                    );
                }
                Spec::RepairAll => push(at, Fault::UnblockAll),
                Spec::Hold { a, b } => {
                    push(
                        at,
                        Fault::Hold {
                            from: bits(&a),
                            to: bits(&b),
                        },
                    );
                    push(
                        at,
                        Fault::Hold {
                            from: bits(&b),
                            to: bits(&a),
                        },
                    );
                }
                Spec::Release { a, b } => {
                    push(
                        at,
                        Fault::Release {
                            from: bits(&a),
                            to: bits(&b),
                        },
                    );
                    push(
                        at,
                        Fault::Release {
                            from: bits(&b),
                            to: bits(&a),
                        },
                    );
                }
                Spec::Crash { nodes, until } => {
                    let nodes = nodes.resolve(&mut rng, initial, &[]);
                    let k = nodes.len();
                    for (i, n) in nodes.into_iter().enumerate() {
                        push(spread_at(at, until, i, k), Fault::Crash(n));
                    }
                }
                Spec::Restart(nodes) => nodes.into_iter().for_each(|n| push(at, Fault::Restart(n))),
                Spec::Pause { nodes, dur } => {
                    let dur = ns(dur);
                    for node in nodes.resolve(&mut rng, initial, &[]) {
                        push(at, Fault::Pause { node, dur });
                    }
                }
                Spec::Slow {
                    nodes,
                    max_lag,
                    until,
                } => {
                    let max_lag = ns(max_lag);
                    for node in nodes.resolve(&mut rng, initial, &[]) {
                        push(at, Fault::Slow { node, max_lag });
                        if let Some(u) = until {
                            push(ns(u), Fault::Slow { node, max_lag: 0 });
                        }
                    }
                }
                Spec::Leave { nodes, until } => {
                    let nodes = nodes.resolve(&mut rng, initial, &[]);
                    let k = nodes.len();
                    for (i, n) in nodes.into_iter().enumerate() {
                        let t = spread_at(at, until, i, k);
                        push(t, Fault::Leave(n));
                        push(t + linger, Fault::Stop(n));
                    }
                }
                Spec::JoinStorm { count, seed } => {
                    for node in next_id..next_id + count {
                        push(
                            at,
                            Fault::Start {
                                node,
                                seeds: vec![seed],
                            },
                        );
                    }
                    next_id += count;
                }
                Spec::SetLoss(p) => push(at, Fault::SetLoss(p)),
                Spec::Disseminate(n) => push(at, Fault::Disseminate(n)),
                Spec::InboundLoss { nodes, p, until } => {
                    for node in nodes.resolve(&mut rng, initial, &[]) {
                        push(at, Fault::InboundLoss { node, p });
                        if let Some(u) = until {
                            push(ns(u), Fault::InboundLoss { node, p: 0.0 });
                        }
                    }
                }
                Spec::Gc { nodes, gc, until } => {
                    let until = ns(until);
                    let (lo, hi, pause) =
                        (ns(gc.run_min), ns(gc.run_max.max(gc.run_min)), ns(gc.pause));
                    for node in nodes.resolve(&mut rng, initial, &[]) {
                        let mut t = at + rng.range(lo, hi);
                        while t < until {
                            push(t, Fault::Pause { node, dur: pause });
                            t += pause + rng.range(lo, hi);
                        }
                    }
                }
                Spec::Churn { churn, until } => {
                    let restart_after = ns(churn.restart_after);
                    for t in poisson(
                        &mut rng,
                        Duration::from_nanos(at),
                        until,
                        churn.crashes_per_min,
                    ) {
                        push(t, Fault::ChurnCrash { restart_after });
                    }
                    for t in poisson(
                        &mut rng,
                        Duration::from_nanos(at),
                        until,
                        churn.leaves_per_min,
                    ) {
                        push(t, Fault::ChurnLeave);
                    }
                    for t in churn_joins.next().unwrap_or_default() {
                        push(t, Fault::JoinAny(next_id));
                        next_id += 1;
                    }
                }
                Spec::Flapping { flap, until } => {
                    let until = ns(until);
                    let pairs: Vec<(NodeId, NodeId)> = (0..initial)
                        .flat_map(|a| (a + 1..initial).map(move |b| (a, b)))
                        .collect();
                    let k = ((flap.pairs.clamp(0.0, 1.0) * pairs.len() as f64).round() as usize)
                        .min(pairs.len());
                    let mut chosen = rng.pick(&pairs, k);
                    chosen.sort_unstable();
                    let (dlo, dhi) = (ns(flap.down_min), ns(flap.down_max.max(flap.down_min)));
                    let (ulo, uhi) = (ns(flap.up_min), ns(flap.up_max.max(flap.up_min)));
                    for (a, b) in chosen {
                        // Each pair starts at a random point of its up time.
                        let mut t = at + rng.range(0, uhi);
                        while t < until {
                            push(t, Fault::Link { a, b, down: true });
                            t = (t + rng.range(dlo, dhi)).min(until);
                            push(t, Fault::Link { a, b, down: false });
                            t += rng.range(ulo, uhi);
                        }
                    }
                }
                Spec::Tamper { node, tamper } => push(at, Fault::Tamper { node, tamper }),
                Spec::Broadcast { node, bytes } => push(at, Fault::Broadcast { node, bytes }),
            }
        }
        timeline.sort_by_key(|(at, _)| *at);
        Sim::new(cfg, total, timeline)
    }
}

/// Arrival times (ns) of a Poisson process at `per_min` over `from..until`.
fn poisson(rng: &mut SimRng, from: Duration, until: Duration, per_min: f64) -> Vec<u64> {
    let mut out = Vec::new();
    if per_min <= 0.0 || !per_min.is_finite() {
        return out;
    }
    let mean = 60.0 / per_min;
    let mut t = from.as_secs_f64();
    loop {
        t += -mean * (1.0 - rng.unit()).ln();
        if t >= until.as_secs_f64() {
            return out;
        }
        out.push((t * 1e9) as u64);
    }
}

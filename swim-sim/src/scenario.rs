//! Scenario files: a small TOML format for a cluster, its network, protocol
//! overrides and a timeline of faults (`swim-sim run --scenario FILE`; the
//! matrix's rows live in `swim-sim/scenarios/`).
//!
//! ```toml
//! nodes = 100
//! duration = 300            # simulated seconds
//! profile = "lan"           # lan | wan | local
//! set = { suspicion_mult = 1.5 }   # like --set FIELD=VALUE
//!
//! [net]
//! latency_ms = [1, 5]
//!
//! [[timeline]]
//! at = 60
//! crash = "1%"              # "5%", a count (3), ids ([4, 7]) or "0..10"
//!
//! [[timeline]]
//! at = 60
//! until = 240
//! slow = "5%"
//! slow_ms = 2000
//! ```
//!
//! Unknown keys and impossible timelines (an entry past the end, `until`
//! before `at`, two actions in one entry, a heal with no partition before
//! it, ...) are errors that name the line.

use crate::builder::{Churn, Flapping, GcPauses, Pick};
use crate::{without_lifeguard, Builder, NodeId};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use swim_core::Config;

/// Which nodes an entry applies to, as written in a scenario file: a count
/// (`3`: chosen from the seed), a list of ids (`[4, 7]`), or a string:
/// `"5%"` (a fraction, chosen from the seed), `"0..50"` / `"1,2,9..12"`
/// (ids), `"rest"` (partitions: every other initial node).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum NodesSpec {
    /// Ids.
    Ids(Vec<NodeId>),
    /// A count chosen from the seed.
    Count(usize),
    /// `"5%"`, `"0..50"`, `"1,2,9..12"`, `"rest"`.
    Text(String),
}

impl NodesSpec {
    /// The [`Pick`] this stands for.
    pub fn pick(&self) -> Result<Pick, String> {
        match self {
            NodesSpec::Ids(ids) => Ok(Pick::Ids(ids.clone())),
            NodesSpec::Count(k) => Ok(Pick::Count(*k)),
            NodesSpec::Text(t) => parse_pick(t),
        }
    }
}

fn parse_pick(t: &str) -> Result<Pick, String> {
    let t = t.trim();
    if t == "rest" {
        return Ok(Pick::Rest);
    }
    if let Some(p) = t.strip_suffix('%') {
        let f: f64 = p
            .trim()
            .parse()
            .map_err(|_| format!("{t:?}: expected a percentage like \"5%\""))?;
        if !(0.0..=100.0).contains(&f) {
            return Err(format!("{t:?}: a percentage is between 0% and 100%"));
        }
        return Ok(Pick::Fraction(f / 100.0));
    }
    let mut ids = Vec::new();
    for part in t.split(',') {
        let part = part.trim();
        let bad = || format!("{part:?}: expected an id, a range \"a..b\", \"N%\" or \"rest\"");
        if let Some((a, b)) = part.split_once("..") {
            let a: NodeId = a.trim().parse().map_err(|_| bad())?;
            let b: NodeId = b.trim().parse().map_err(|_| bad())?;
            if b <= a {
                return Err(format!("{part:?}: empty range"));
            }
            ids.extend(a..b);
        } else {
            ids.push(part.parse().map_err(|_| bad())?);
        }
    }
    Ok(Pick::Ids(ids))
}

/// A rate: a number per minute, or `"2%"` of the initial nodes per minute.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum RateSpec {
    /// Events per minute.
    PerMin(f64),
    /// `"2%"`: that fraction of the initial nodes per minute.
    Text(String),
}

impl RateSpec {
    fn per_min(&self, nodes: u32) -> Result<f64, String> {
        match self {
            RateSpec::PerMin(r) if *r >= 0.0 && r.is_finite() => Ok(*r),
            RateSpec::PerMin(r) => Err(format!("rate {r} must be >= 0")),
            RateSpec::Text(t) => match parse_pick(t)? {
                Pick::Fraction(f) => Ok(f * f64::from(nodes)),
                _ => Err(format!("{t:?}: expected a number per minute or \"N%\"")),
            },
        }
    }
}

/// The network section.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetSpec {
    /// One-way latency range in ms, `[min, max]`.
    pub latency_ms: Option<[f64; 2]>,
    /// iid loss from the start.
    pub loss: Option<f64>,
    /// Probability that a datagram is delivered twice.
    pub duplicate: Option<f64>,
    /// Probability that a datagram is delayed up to `reorder_ms` more.
    pub reorder: Option<f64>,
    /// Largest extra delay of a reordered datagram, ms (default 50).
    pub reorder_ms: Option<f64>,
}

/// Churn rates (per minute, or `"N%"` of the initial nodes per minute).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChurnSpec {
    /// Crashes per minute; each node restarts fresh after `restart_after_s`.
    pub crashes_per_min: Option<RateSpec>,
    /// Seconds from a crash to the restart (default 10).
    pub restart_after_s: Option<f64>,
    /// Graceful leaves per minute.
    pub leaves_per_min: Option<RateSpec>,
    /// New joins per minute.
    pub joins_per_min: Option<RateSpec>,
}

/// One timeline entry: `at` plus exactly one action.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Seconds since the start.
    pub at: f64,
    /// End of a continuous fault (slow, gc, churn, flapping, inbound loss,
    /// partition), or the end of the window instantaneous actions (crash,
    /// leave) are spread over evenly.
    pub until: Option<f64>,
    /// Crash these nodes.
    pub crash: Option<NodesSpec>,
    /// Restart these crashed nodes with fresh state at the same address.
    pub restart: Option<NodesSpec>,
    /// Graceful leave.
    pub leave: Option<NodesSpec>,
    /// Pause (SIGSTOP) for `pause_s`.
    pub pause: Option<NodesSpec>,
    /// Pause length (with `pause` or `gc`), seconds.
    pub pause_s: Option<f64>,
    /// Slow nodes on both lanes, lag per event uniform in 0..=`slow_ms`.
    pub slow: Option<NodesSpec>,
    /// The slow nodes' largest lag, ms.
    pub slow_ms: Option<f64>,
    /// GC pauses: run for a time drawn from `run_s`, pause `pause_s`,
    /// repeatedly.
    pub gc: Option<NodesSpec>,
    /// Run time between GC pauses, `[min, max]` seconds.
    pub run_s: Option<[f64; 2]>,
    /// Continuous churn.
    pub churn: Option<ChurnSpec>,
    /// Flapping links: this fraction of all node pairs.
    pub flapping: Option<f64>,
    /// Flapping down time `[min, max]` s (default [1, 5]).
    pub down_s: Option<[f64; 2]>,
    /// Flapping up time `[min, max]` s (default [5, 20]).
    pub up_s: Option<[f64; 2]>,
    /// Inbound-only loss probability for `nodes`.
    pub inbound_loss: Option<f64>,
    /// The nodes `inbound_loss` applies to.
    pub nodes: Option<NodesSpec>,
    /// Partition between two sets (`["50%", "rest"]`, `["0..10", "10..20"]`).
    pub partition: Option<[NodesSpec; 2]>,
    /// With `partition`: only the first set's datagrams to the second drop.
    pub one_way: Option<bool>,
    /// `heal = true`: lift every partition.
    pub heal: Option<bool>,
    /// Hold datagrams between two id sets until `release`.
    pub hold: Option<[NodesSpec; 2]>,
    /// Deliver what was held between two id sets.
    pub release: Option<[NodesSpec; 2]>,
    /// Set the iid loss probability.
    pub loss: Option<f64>,
    /// A join storm: this many new nodes at once, through node `through`.
    pub join: Option<u32>,
    /// The seed node of a join storm (default 0).
    pub through: Option<NodeId>,
    /// One node changes its metadata (dissemination measurement).
    pub disseminate: Option<NodeId>,
    /// This node broadcasts an application payload of `bytes` bytes.
    pub broadcast: Option<NodeId>,
    /// Broadcast payload size (default 1,024, the `lan` maximum).
    pub bytes: Option<usize>,
}

/// What a matrix row checks (issue 11's targets); absent keys are not
/// checked. Every row also requires zero invariant violations.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Median seconds until a crash is Failed at every live node.
    pub all_failed_median_s: Option<f64>,
    /// Largest of those.
    pub all_failed_max_s: Option<f64>,
    /// Every crash detected everywhere by the end of the run.
    pub all_detected: Option<bool>,
    /// `Failed` events about running nodes (summed over runs).
    pub false_failed_events: Option<u64>,
    /// Running nodes declared Failed that no node fault targeted.
    pub healthy_declared_failed: Option<u64>,
    /// Datagrams per member per period in the fault window (the steady
    /// window without faults).
    pub datagrams_per_member_period: Option<f64>,
    /// Bytes per member per period, same window.
    pub bytes_per_member_period: Option<f64>,
    /// Total KB per member in the fixed window after the first fault.
    pub kb_per_member_after: Option<f64>,
    /// Every pause: Failed at every node within this many seconds of its start.
    pub pause_failed_all_within_s: Option<f64>,
    /// Every pause: alive at every node within this many seconds of resuming.
    pub pause_alive_all_within_s: Option<f64>,
    /// Every restart: alive at every node within this many periods.
    pub restart_alive_within_periods: Option<f64>,
    /// Leavers some node reported Failed (summed over runs).
    pub leavers_reported_failed: Option<u64>,
    /// Every broadcast accepted and delivered by every node running when it
    /// was sent, within this many seconds.
    pub broadcasts_reach_all_within_s: Option<f64>,
}

/// How the matrix runs a scenario.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MatrixSpec {
    /// The row's label.
    pub row: String,
    /// Cluster sizes (default: the file's `nodes`).
    pub sizes: Option<Vec<u32>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    nodes: Option<u32>,
    duration: Option<f64>,
    profile: Option<String>,
    lifeguard: Option<bool>,
    bootstrap: Option<bool>,
    join_spread: Option<f64>,
    warmup: Option<f64>,
    converge_within: Option<f64>,
    #[serde(default)]
    set: BTreeMap<String, f64>,
    #[serde(default)]
    net: NetSpec,
    #[serde(default)]
    timeline: Vec<toml::Spanned<Entry>>,
    matrix: Option<MatrixSpec>,
    #[serde(default)]
    targets: Targets,
}

/// A parsed, validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Where it came from (file name), for messages.
    pub name: String,
    /// Initial nodes.
    pub nodes: u32,
    /// Simulated seconds.
    pub duration: f64,
    /// Protocol configuration (profile, Lifeguard switch, `set` applied).
    pub config: Config,
    /// Start every node at once knowing the others.
    pub bootstrap: bool,
    /// Window over which the initial nodes join, seconds.
    pub join_spread: Option<f64>,
    /// Start of the steady-state load window, seconds.
    pub warmup: Option<f64>,
    /// Convergence bound once faults stop, seconds.
    pub converge_within: Option<f64>,
    /// Network.
    pub net: NetSpec,
    /// The timeline, with each entry's line number.
    pub timeline: Vec<(usize, Entry)>,
    /// The matrix section.
    pub matrix: Option<MatrixSpec>,
    /// The matrix targets.
    pub targets: Targets,
}

/// Applies one protocol override (`--set FIELD=VALUE`, or a key of a
/// scenario's `set` table), then re-validates the config.
pub fn apply_setting(config: &mut Config, key: &str, value: f64) -> Result<(), String> {
    if !value.is_finite() || value < 0.0 {
        return Err(format!("{value} must be a finite number >= 0"));
    }
    let secs = Duration::from_secs_f64(value);
    match key.trim() {
        "probe_interval" => config.probe_interval = secs,
        "probe_timeout" => config.probe_timeout = secs,
        "gossip_interval" => config.gossip_interval = secs,
        "sync_interval" => config.sync_interval = Some(secs),
        "reconnect_interval" => config.reconnect_interval = Some(secs),
        "indirect_checks" => config.indirect_checks = value as usize,
        "suspicion_mult" => config.suspicion_mult = value,
        "suspicion_max_mult" => config.suspicion_max_mult = value,
        "suspicion_confirmations" => config.suspicion_confirmations = value as u32,
        "retransmit_mult" => config.retransmit_mult = value as u32,
        "gossip_fanout" => config.gossip_fanout = value as usize,
        "awareness_max" => config.awareness_max = value as u32,
        "flap_damping_half_life" => {
            config.flap_damping_half_life = (value > 0.0).then_some(secs);
        }
        "evidence_of_life" => config.evidence_of_life = value != 0.0,
        "last_chance_probe" => config.last_chance_probe = value != 0.0,
        "lifeguard_nack" => config.lifeguard_nack = value != 0.0,
        "lifeguard_awareness" => config.lifeguard_awareness = value != 0.0,
        "lifeguard_buddy" => config.lifeguard_buddy = value != 0.0,
        "lifeguard_suspicion" => config.lifeguard_suspicion = value != 0.0,
        "leave_fanout" => config.leave_fanout = value as usize,
        "max_datagrams_per_period" => config.max_datagrams_per_period = value as u32,
        "max_bytes_per_period" => config.max_bytes_per_period = value as u32,
        other => return Err(format!("unknown protocol setting {other:?}")),
    }
    config.validate().map_err(|e| e.to_string())
}

/// The protocol profile by name.
pub fn profile(name: &str) -> Result<Config, String> {
    match name {
        "lan" => Ok(Config::lan()),
        "wan" => Ok(Config::wan()),
        "local" => Ok(Config::local()),
        other => Err(format!("unknown profile {other:?} (lan, wan, local)")),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |t| t.matches('\n').count() + 1)
}

impl Entry {
    /// Parses one entry written as an inline table body:
    /// `at = 30, crash = "5%"` (the CLI's `--event`).
    pub fn parse_inline(s: &str) -> Result<Entry, String> {
        #[derive(Deserialize)]
        struct One {
            e: Entry,
        }
        toml::from_str::<One>(&format!("e = {{ {s} }}"))
            .map(|o| o.e)
            .map_err(|e| format!("{s:?}: {}", e.message()))
    }

    fn actions(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut has = |on: bool, name| {
            if on {
                v.push(name);
            }
        };
        has(self.crash.is_some(), "crash");
        has(self.restart.is_some(), "restart");
        has(self.leave.is_some(), "leave");
        has(self.pause.is_some(), "pause");
        has(self.slow.is_some(), "slow");
        has(self.gc.is_some(), "gc");
        has(self.churn.is_some(), "churn");
        has(self.flapping.is_some(), "flapping");
        has(self.inbound_loss.is_some(), "inbound_loss");
        has(self.partition.is_some(), "partition");
        has(self.heal.is_some(), "heal");
        has(self.hold.is_some(), "hold");
        has(self.release.is_some(), "release");
        has(self.loss.is_some(), "loss");
        has(self.join.is_some(), "join");
        has(self.disseminate.is_some(), "disseminate");
        has(self.broadcast.is_some(), "broadcast");
        v
    }

    /// Checks the entry on its own and against the run; `seen` are the
    /// actions of earlier entries.
    fn validate(&self, nodes: u32, duration: f64, seen: &[&str]) -> Result<(), String> {
        let actions = self.actions();
        let action = match actions.as_slice() {
            [a] => *a,
            [] => return Err("no action (crash, slow, gc, churn, partition, ...)".into()),
            many => return Err(format!("one action per entry, found {}", many.join(", "))),
        };
        if !(self.at >= 0.0 && self.at <= duration) {
            return Err(format!(
                "at = {} is outside the run (0..{duration} s)",
                self.at
            ));
        }
        if let Some(u) = self.until {
            if !(u > self.at && u <= duration) {
                return Err(format!(
                    "until = {u} must be after at = {} and within the run ({duration} s)",
                    self.at
                ));
            }
        }
        let continuous = [
            "crash",
            "leave",
            "slow",
            "gc",
            "churn",
            "flapping",
            "inbound_loss",
            "partition",
        ];
        if self.until.is_some() && !continuous.contains(&action) {
            return Err(format!("until does not apply to {action}"));
        }
        if ["gc", "churn", "flapping"].contains(&action) && self.until.is_none() {
            return Err(format!("{action} needs until (when it stops)"));
        }
        let only = |field: &str, on: bool, with: &[&str]| -> Result<(), String> {
            if on && !with.contains(&action) {
                return Err(format!(
                    "{field} goes with {}, not {action}",
                    with.join("/")
                ));
            }
            Ok(())
        };
        only("pause_s", self.pause_s.is_some(), &["pause", "gc"])?;
        only("slow_ms", self.slow_ms.is_some(), &["slow"])?;
        only("run_s", self.run_s.is_some(), &["gc"])?;
        only("down_s", self.down_s.is_some(), &["flapping"])?;
        only("up_s", self.up_s.is_some(), &["flapping"])?;
        only("nodes", self.nodes.is_some(), &["inbound_loss"])?;
        only("one_way", self.one_way.is_some(), &["partition"])?;
        only("through", self.through.is_some(), &["join"])?;
        only("bytes", self.bytes.is_some(), &["broadcast"])?;
        let need = |field: &str, on: bool| -> Result<(), String> {
            if on {
                Ok(())
            } else {
                Err(format!("{action} needs {field}"))
            }
        };
        let prob = |name: &str, p: Option<f64>| -> Result<(), String> {
            match p {
                Some(p) if !(0.0..=1.0).contains(&p) => {
                    Err(format!("{name} = {p} must be within 0..1"))
                }
                _ => Ok(()),
            }
        };
        prob("loss", self.loss)?;
        prob("inbound_loss", self.inbound_loss)?;
        prob("flapping", self.flapping)?;
        match action {
            "pause" => need("pause_s", self.pause_s.is_some())?,
            "slow" => need("slow_ms", self.slow_ms.is_some())?,
            "gc" => need(
                "pause_s and run_s",
                self.pause_s.is_some() && self.run_s.is_some(),
            )?,
            "inbound_loss" => need("nodes", self.nodes.is_some())?,
            "restart" if !seen.contains(&"crash") => {
                return Err("restart with no crash before it".into())
            }
            "heal" if !seen.contains(&"partition") => {
                return Err("heal with no partition before it".into())
            }
            "heal" if self.heal != Some(true) => return Err("heal = true or nothing".into()),
            "release" if !seen.contains(&"hold") => {
                return Err("release with no hold before it".into())
            }
            _ => {}
        }
        for (name, range) in [
            ("run_s", self.run_s),
            ("down_s", self.down_s),
            ("up_s", self.up_s),
        ] {
            if let Some([a, b]) = range {
                if !(a >= 0.0 && b >= a) {
                    return Err(format!("{name} = [{a}, {b}] needs 0 <= min <= max"));
                }
            }
        }
        let sets: Vec<&NodesSpec> = [
            &self.crash,
            &self.restart,
            &self.leave,
            &self.pause,
            &self.slow,
            &self.gc,
            &self.nodes,
        ]
        .into_iter()
        .flatten()
        .chain(self.partition.iter().flatten())
        .chain(self.hold.iter().flatten())
        .chain(self.release.iter().flatten())
        .collect();
        for set in sets {
            match set.pick()? {
                Pick::Ids(ids) => {
                    if let Some(bad) = ids.iter().find(|&&i| i >= nodes) {
                        return Err(format!(
                            "node {bad} does not exist (initial nodes are 0..{nodes})"
                        ));
                    }
                }
                Pick::Count(k) if k >= nodes as usize => {
                    return Err(format!("{k} nodes picked out of {nodes} (node 0 stays)"))
                }
                Pick::Rest if action != "partition" => {
                    return Err("\"rest\" only makes sense in a partition".into())
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl Scenario {
    /// Parses and validates scenario text; `name` appears in errors
    /// (`slow.toml:12: ...`).
    pub fn parse(text: &str, name: &str) -> Result<Scenario, String> {
        let file: File = toml::from_str(text).map_err(|e| match e.span() {
            Some(span) => format!("{name}:{}: {}", line_of(text, span.start), e.message()),
            None => format!("{name}: {}", e.message()),
        })?;
        let nodes = file.nodes.unwrap_or(100).max(1);
        let duration = file.duration.unwrap_or(300.0);
        if !(duration > 0.0 && duration.is_finite()) {
            return Err(format!("{name}: duration must be > 0"));
        }
        let mut config = profile(file.profile.as_deref().unwrap_or("lan"))
            .map_err(|e| format!("{name}: {e}"))?;
        if file.lifeguard == Some(false) {
            config = without_lifeguard(config);
        }
        for (k, v) in &file.set {
            apply_setting(&mut config, k, *v).map_err(|e| format!("{name}: set.{k}: {e}"))?;
        }
        let mut timeline = Vec::new();
        let mut seen = Vec::new();
        let mut entries: Vec<(usize, Entry)> = file
            .timeline
            .into_iter()
            .map(|s| (line_of(text, s.span().start), s.into_inner()))
            .collect();
        entries.sort_by(|a, b| a.1.at.total_cmp(&b.1.at));
        for (line, e) in entries {
            e.validate(nodes, duration, &seen)
                .map_err(|err| format!("{name}:{line}: {err}"))?;
            seen.extend(e.actions());
            timeline.push((line, e));
        }
        Ok(Scenario {
            name: name.to_string(),
            nodes,
            duration,
            config,
            bootstrap: file.bootstrap.unwrap_or(false),
            join_spread: file.join_spread,
            warmup: file.warmup,
            converge_within: file.converge_within,
            net: file.net,
            timeline,
            matrix: file.matrix,
            targets: file.targets,
        })
    }

    /// Reads and parses a scenario file.
    pub fn load(path: &std::path::Path) -> Result<Scenario, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Scenario::parse(&text, &path.display().to_string())
    }

    /// Adds one timeline entry (validated against the scenario).
    pub fn push(&mut self, e: Entry) -> Result<(), String> {
        let seen: Vec<&str> = self
            .timeline
            .iter()
            .flat_map(|(_, e)| e.actions())
            .collect();
        e.validate(self.nodes, self.duration, &seen)?;
        self.timeline.push((0, e));
        Ok(())
    }

    /// A builder for this scenario with `seed`, at its own size.
    pub fn builder(&self, seed: u64) -> Builder {
        self.builder_sized(seed, self.nodes)
    }

    /// A builder for this scenario with `nodes` initial nodes instead of
    /// the file's (fractions scale; ids must exist).
    pub fn builder_sized(&self, seed: u64, nodes: u32) -> Builder {
        let s = Duration::from_secs_f64;
        let ms = |v: f64| Duration::from_secs_f64(v / 1000.0);
        let mut b = Builder::new()
            .seed(seed)
            .nodes(nodes)
            .config(self.config.clone())
            .duration(s(self.duration))
            .bootstrap(self.bootstrap);
        if let Some([lo, hi]) = self.net.latency_ms {
            b = b.latency(ms(lo), ms(hi));
        }
        if let Some(p) = self.net.loss {
            b = b.loss(p);
        }
        if let Some(p) = self.net.duplicate {
            b = b.duplicate(p);
        }
        if let Some(p) = self.net.reorder {
            b = b.reorder(p, ms(self.net.reorder_ms.unwrap_or(50.0)));
        }
        if let Some(j) = self.join_spread {
            b = b.join_spread(s(j));
        }
        if let Some(w) = self.warmup {
            b = b.warmup(s(w));
        }
        if let Some(c) = self.converge_within {
            b = b.converge_within(s(c));
        }
        for (_, e) in &self.timeline {
            b = add_entry(b, e, nodes);
        }
        b
    }
}

/// Adds a validated entry to a builder.
fn add_entry(b: Builder, e: &Entry, nodes: u32) -> Builder {
    let s = Duration::from_secs_f64;
    let at = s(e.at);
    let until = e.until.map(s);
    let pick = |n: &NodesSpec| n.pick().unwrap_or(Pick::Ids(Vec::new()));
    let ids = |n: &NodesSpec| match pick(n) {
        Pick::Ids(ids) => ids,
        _ => Vec::new(),
    };
    let pair = |r: Option<[f64; 2]>, d: (u64, u64)| {
        r.map_or(
            (Duration::from_secs(d.0), Duration::from_secs(d.1)),
            |[a, b]| (s(a), s(b)),
        )
    };
    if let Some(n) = &e.crash {
        return b.crash_pick(at, pick(n), until);
    }
    if let Some(n) = &e.restart {
        return b.restart(at, ids(n));
    }
    if let Some(n) = &e.leave {
        return b.leave_pick(at, pick(n), until);
    }
    if let Some(n) = &e.pause {
        return b.pause_pick(at, pick(n), s(e.pause_s.unwrap_or(0.0)));
    }
    if let Some(n) = &e.slow {
        let lag = Duration::from_secs_f64(e.slow_ms.unwrap_or(0.0) / 1000.0);
        return b.slow_pick(at, pick(n), lag, until);
    }
    if let Some(n) = &e.gc {
        let (run_min, run_max) = pair(e.run_s, (10, 30));
        let gc = GcPauses {
            run_min,
            run_max,
            pause: s(e.pause_s.unwrap_or(0.0)),
        };
        return b.gc_pauses(at, until.unwrap_or(at), pick(n), gc);
    }
    if let Some(c) = &e.churn {
        let rate =
            |r: &Option<RateSpec>| r.as_ref().map_or(0.0, |r| r.per_min(nodes).unwrap_or(0.0));
        let churn = Churn {
            crashes_per_min: rate(&c.crashes_per_min),
            restart_after: s(c.restart_after_s.unwrap_or(10.0)),
            leaves_per_min: rate(&c.leaves_per_min),
            joins_per_min: rate(&c.joins_per_min),
        };
        return b.churn(at, until.unwrap_or(at), churn);
    }
    if let Some(f) = e.flapping {
        let (down_min, down_max) = pair(e.down_s, (1, 5));
        let (up_min, up_max) = pair(e.up_s, (5, 20));
        let flap = Flapping {
            pairs: f,
            down_min,
            down_max,
            up_min,
            up_max,
        };
        return b.flapping(at, until.unwrap_or(at), flap);
    }
    if let Some(p) = e.inbound_loss {
        let n = e.nodes.as_ref().map_or(Pick::Ids(Vec::new()), pick);
        return b.inbound_loss(at, n, p, until);
    }
    if let Some([x, y]) = &e.partition {
        return b.partition_pick(at, pick(x), pick(y), e.one_way.unwrap_or(false), until);
    }
    if e.heal.is_some() {
        return b.repair_all(at);
    }
    if let Some([x, y]) = &e.hold {
        return b.hold(at, ids(x), ids(y));
    }
    if let Some([x, y]) = &e.release {
        return b.release(at, ids(x), ids(y));
    }
    if let Some(p) = e.loss {
        return b.loss_at(at, p);
    }
    if let Some(k) = e.join {
        return b.join_storm(at, k, e.through.unwrap_or(0));
    }
    if let Some(n) = e.disseminate {
        return b.disseminate(at, n);
    }
    if let Some(n) = e.broadcast {
        return b.broadcast(at, n, e.bytes.unwrap_or(1024));
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_timeline() {
        let sc = Scenario::parse(
            r#"
nodes = 20
duration = 100
set = { suspicion_mult = 5 }
[net]
loss = 0.01
[[timeline]]
at = 30
crash = "10%"
[[timeline]]
at = 40
until = 60
partition = ["0..5", "rest"]
"#,
            "t.toml",
        )
        .unwrap();
        assert_eq!(sc.nodes, 20);
        assert_eq!(sc.config.suspicion_mult, 5.0);
        assert_eq!(sc.timeline.len(), 2);
        assert_eq!(sc.timeline[0].0, 7, "the entry's [[timeline]] line");
        let r = sc.builder(1).build().run();
        assert_eq!(r.detection.crashed, 2);
    }

    #[test]
    fn errors_name_the_line() {
        let err = |text: &str| Scenario::parse(text, "s.toml").unwrap_err();
        let e = err("nodes = 10\n[[timeline]]\nat = 5\ncrash = 1\nbogus = 2\n");
        assert!(e.starts_with("s.toml:"), "{e}");
        assert!(e.contains("bogus"), "{e}");
        let e = err("nodes = 10\nduration = 60\n\n[[timeline]]\nat = 90\ncrash = 1\n");
        assert!(
            e.starts_with("s.toml:4:") && e.contains("outside the run"),
            "{e}"
        );
        let e = err("nodes = 10\n[[timeline]]\nat = 5\nheal = true\n");
        assert!(
            e.starts_with("s.toml:2:") && e.contains("no partition"),
            "{e}"
        );
        let e = err("nodes = 10\n[[timeline]]\nat = 5\ncrash = 1\nslow = 2\nslow_ms = 5\n");
        assert!(e.contains("one action per entry"), "{e}");
        let e = err("nodes = 10\n[[timeline]]\nat = 5\nuntil = 4\nslow = 1\nslow_ms = 5\n");
        assert!(e.contains("until = 4"), "{e}");
        let e = err("nodes = 10\n[[timeline]]\nat = 5\ncrash = [10]\n");
        assert!(e.contains("node 10 does not exist"), "{e}");
        let e = err("nodes = 10\nset = { nonsense = 1 }\n");
        assert!(e.contains("nonsense"), "{e}");
        let e = err("nodes = 10\n[[timeline]]\nat = 5\ncrash = \"5 %%\"\n");
        assert!(e.contains("percentage"), "{e}");
    }

    #[test]
    fn inline_entries() {
        let e = Entry::parse_inline(r#"at = 30, crash = "5%""#).unwrap();
        assert_eq!(e.crash, Some(NodesSpec::Text("5%".into())));
        assert!(Entry::parse_inline("at = 30, crash = 1, x = 2").is_err());
        assert_eq!(parse_pick("1,3..5").unwrap(), Pick::Ids(vec![1, 3, 4]));
    }
}

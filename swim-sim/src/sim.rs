//! [`Sim`]: the discrete-event loop. Virtual time jumps from one queued
//! event to the next; nodes are `Swim<SocketAddrV4>` state machines fed
//! datagrams and timer ticks, and whatever they emit goes back through the
//! network model into the queue.

use crate::builder::{Fault, SimConfig};
use crate::check::{Checks, ViolationKind};
use crate::metrics::{Metrics, OpenCrash};
use crate::net::{Fate, LinkKind, Net};
use crate::queue::{Ev, Queue};
use crate::rng::{derive_seed, Purpose, SimRng};
use crate::trace::Trace;
use crate::view::{Bits, Views};
use crate::{node_addr, node_id, NodeId};
use bytes::Bytes;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};
use swim_core::{Action, Event, State, Swim};

/// Life cycle of a simulated node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not started yet (a later join).
    Pending,
    /// Running: a member every live node should see.
    Running,
    /// Called `leave()`; still running until its linger ends.
    Leaving,
    /// Crashed (may restart).
    Crashed,
    /// Left and stopped.
    Gone,
}

pub(crate) struct Slot {
    pub(crate) swim: Option<Swim<SocketAddrV4>>,
    pub(crate) status: Status,
    pub(crate) generation: u32,
    timer_at: Option<u64>,
    paused_until: u64,
    slow: u64,
    slow_busy: u64,
    pub(crate) incarnation: u64,
    pub(crate) false_failed: bool,
    self_failed_reported: bool,
    pub(crate) crash: Option<usize>,
}

/// Progress of a running simulation, for progress displays.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Simulated time so far.
    pub sim: Duration,
    /// Simulated time the run will reach.
    pub total: Duration,
    /// Nodes running.
    pub running: u32,
    /// Simulator events processed.
    pub events: u64,
}

/// A simulation, built by [`Builder`](crate::Builder); [`Sim::run`] it.
pub struct Sim {
    pub(crate) cfg: SimConfig,
    base: Instant,
    pub(crate) now: u64,
    queue: Queue,
    timeline: Vec<(u64, Fault)>,
    pub(crate) nodes: Vec<Slot>,
    net: Net,
    held: Vec<(NodeId, NodeId, Bytes)>,
    pub(crate) views: Views,
    pub(crate) checks: Checks,
    /// (observer, member) → the incarnation at which the observer reported
    /// the member Failed or Left: holding it live again is a resurrection
    /// only without a newer incarnation (a refutation sent before it went
    /// down legitimately overrides an older failure).
    dead_at: std::collections::BTreeMap<(NodeId, NodeId), u64>,
    pub(crate) metrics: Metrics,
    trace: Trace,
    pub(crate) running: Bits,
    pub(crate) running_count: u32,
    pub(crate) last_fault: u64,
    pub(crate) last_heal: Option<u64>,
    pub(crate) first_disturbance: u64,
    events: u64,
    next_plot: u64,
    next_audit: u64,
    pub(crate) audit_incarnations: Option<Vec<Vec<u64>>>,
    tracked: Vec<NodeId>,
}

impl Sim {
    pub(crate) fn new(cfg: SimConfig, total: usize, timeline: Vec<(u64, Fault)>) -> Self {
        let mut queue = Queue::default();
        for (i, (at, _)) in timeline.iter().enumerate() {
            queue.push(*at, Ev::Fault(i as u32));
        }
        queue.push(0, Ev::Sample);
        let last_fault = timeline
            .iter()
            .filter(|(_, f)| f.is_fault())
            .map(|(at, _)| *at)
            .max()
            .unwrap_or(0);
        let last_heal = timeline
            .iter()
            .filter(|(_, f)| f.is_heal())
            .map(|(at, _)| *at)
            .max();
        let first_disturbance = timeline
            .iter()
            .filter(|(_, f)| f.disturbs(cfg.nodes))
            .map(|(at, _)| *at)
            .min()
            .unwrap_or(u64::MAX);
        let step = (total / 24).max(1);
        let slot = || Slot {
            swim: None,
            status: Status::Pending,
            generation: 0,
            timer_at: None,
            paused_until: 0,
            slow: 0,
            slow_busy: 0,
            incarnation: 0,
            false_failed: false,
            self_failed_reported: false,
            crash: None,
        };
        Sim {
            net: Net::new(cfg.net.clone(), SimRng::new(cfg.seed, Purpose::Net)),
            audit_incarnations: cfg.audit_interval.map(|_| vec![Vec::new(); total]),
            cfg,
            base: Instant::now(),
            now: 0,
            queue,
            timeline,
            nodes: (0..total).map(|_| slot()).collect(),
            held: Vec::new(),
            views: Views::new(total),
            checks: Checks::default(),
            dead_at: std::collections::BTreeMap::new(),
            metrics: Metrics {
                distinct_false: Some(Bits::new(total)),
                ..Metrics::default()
            },
            trace: Trace::default(),
            running: Bits::new(total),
            running_count: 0,
            last_fault,
            last_heal,
            first_disturbance,
            events: 0,
            next_plot: 0,
            next_audit: 0,
            tracked: (0..total)
                .step_by(step)
                .take(24)
                .map(|i| i as NodeId)
                .collect(),
        }
    }

    /// Runs to the end and reports.
    pub fn run(self) -> crate::Report {
        self.run_with_progress(|_| {})
    }

    /// Runs to the end, calling `progress` at every sample (once per
    /// simulated second by default).
    pub fn run_with_progress(mut self, mut progress: impl FnMut(Progress)) -> crate::Report {
        let wall = Instant::now();
        let end = self.cfg.duration.as_nanos() as u64;
        while let Some(at) = self.queue.peek_time() {
            if at > end {
                break;
            }
            let Some((at, ev)) = self.queue.pop() else {
                break;
            };
            self.now = at;
            self.events += 1;
            match ev {
                Ev::Deliver {
                    from,
                    to,
                    payload,
                    late,
                } => self.deliver(from, to, payload, late),
                Ev::Timer { node, generation } => self.timer(node, generation),
                Ev::Fault(i) => self.fault(i as usize),
                Ev::Sample => {
                    self.sample();
                    progress(Progress {
                        sim: Duration::from_nanos(self.now),
                        total: self.cfg.duration,
                        running: self.running_count,
                        events: self.events,
                    });
                }
            }
        }
        self.now = end;
        let (events, trace) = (self.events, self.trace.value());
        self.finish(wall.elapsed(), events, trace)
    }

    fn instant(&self, t: u64) -> Instant {
        self.base + Duration::from_nanos(t)
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, payload: Bytes, late: bool) {
        let now = self.now;
        let slot = &mut self.nodes[to as usize];
        if !matches!(slot.status, Status::Running | Status::Leaving) {
            self.metrics.to_down_nodes += 1;
            return;
        }
        if slot.paused_until > now {
            let at = slot.paused_until;
            self.queue.push(
                at,
                Ev::Deliver {
                    from,
                    to,
                    payload,
                    late,
                },
            );
            return;
        }
        if slot.slow > 0 && !late {
            let at = (now + slot.slow).max(slot.slow_busy);
            slot.slow_busy = at;
            self.queue.push(
                at,
                Ev::Deliver {
                    from,
                    to,
                    payload,
                    late: true,
                },
            );
            return;
        }
        self.trace.datagram(now, from, to, &payload);
        let t = self.instant(now);
        let Some(swim) = self.nodes[to as usize].swim.as_mut() else {
            return;
        };
        let actions = swim.handle_datagram(t, node_addr(from), &payload);
        self.apply(to, actions);
    }

    fn timer(&mut self, node: NodeId, generation: u32) {
        let now = self.now;
        let t = self.instant(now);
        let slot = &mut self.nodes[node as usize];
        if slot.generation != generation || slot.timer_at != Some(now) || slot.swim.is_none() {
            return;
        }
        slot.timer_at = None;
        if slot.paused_until > now {
            slot.timer_at = Some(slot.paused_until);
            self.queue
                .push(slot.paused_until, Ev::Timer { node, generation });
            return;
        }
        let Some(swim) = slot.swim.as_mut() else {
            return;
        };
        if swim.next_deadline().is_some_and(|d| d <= t) {
            let actions = swim.tick(t);
            self.trace.mix2(7, now, u64::from(node));
            self.apply(node, actions);
        } else {
            self.reschedule(node);
        }
    }

    /// Schedules the node's timer if its deadline is earlier than the one
    /// already queued (later ones are found by the early event firing).
    fn reschedule(&mut self, node: NodeId) {
        let slot = &mut self.nodes[node as usize];
        let Some(swim) = slot.swim.as_ref() else {
            return;
        };
        let Some(d) = swim.next_deadline() else {
            return;
        };
        let at = (d.saturating_duration_since(self.base).as_nanos() as u64).max(self.now);
        if slot.timer_at.is_none_or(|t| at < t) {
            slot.timer_at = Some(at);
            self.queue.push(
                at,
                Ev::Timer {
                    node,
                    generation: slot.generation,
                },
            );
        }
    }

    /// Carries out what node `o` asked for, then checks its own state.
    pub(crate) fn apply(&mut self, o: NodeId, actions: Vec<Action<SocketAddrV4>>) {
        for action in actions {
            match action {
                Action::Send { to, payload } => self.send(o, to, payload),
                Action::Event(e) => self.observe(o, e),
            }
        }
        self.check_local(o);
        self.reschedule(o);
    }

    fn send(&mut self, from: NodeId, to: SocketAddrV4, payload: Bytes) {
        let now = self.now;
        let len = payload.len();
        self.metrics.sent(now, len);
        let max = self.cfg.config.max_packet_size;
        if len > max {
            let detail = format!("{len}-byte datagram to {to} exceeds max_packet_size {max}");
            self.checks
                .report(now, from, ViolationKind::OversizedDatagram, detail);
        }
        let Some(to) = node_id(to).filter(|&t| (t as usize) < self.nodes.len()) else {
            self.metrics.unroutable += 1;
            return;
        };
        match self.net.route(from, to) {
            Fate::Lost => self.metrics.lost += 1,
            Fate::Blocked => self.metrics.blocked += 1,
            Fate::Held => {
                self.metrics.held += 1;
                self.held.push((from, to, payload));
            }
            Fate::Deliver { delay, dup } => {
                if let Some(d) = dup {
                    self.metrics.duplicated += 1;
                    let ev = Ev::Deliver {
                        from,
                        to,
                        payload: payload.clone(),
                        late: false,
                    };
                    self.queue.push(now + d, ev);
                }
                self.queue.push(
                    now + delay,
                    Ev::Deliver {
                        from,
                        to,
                        payload,
                        late: false,
                    },
                );
            }
        }
    }

    fn check_local(&mut self, o: NodeId) {
        let now = self.now;
        let slot = &mut self.nodes[o as usize];
        let Some(swim) = slot.swim.as_ref() else {
            return;
        };
        let local = swim.local();
        if local.incarnation < slot.incarnation {
            let detail = format!(
                "own incarnation {} -> {}",
                slot.incarnation, local.incarnation
            );
            self.checks
                .report(now, o, ViolationKind::IncarnationDecreased, detail);
        }
        slot.incarnation = local.incarnation;
        let bad = local.state == State::Failed
            || (local.state == State::Left && slot.status != Status::Leaving);
        if bad && !slot.self_failed_reported {
            slot.self_failed_reported = true;
            let detail = format!("running node holds itself {:?}", local.state);
            self.checks
                .report(now, o, ViolationKind::SelfFailed, detail);
        }
    }

    fn observe(&mut self, o: NodeId, e: Event<SocketAddrV4>) {
        let now = self.now;
        let (kind, member) = match &e {
            Event::Joined { member, .. } => (1, *member),
            Event::Updated { member, .. } => (2, *member),
            Event::Suspected { member } => (3, *member),
            Event::Alive { member } => (4, *member),
            Event::Failed { member } => (5, *member),
            Event::Left { member } => (6, *member),
            Event::Message { from, .. } => {
                self.metrics.messages += 1;
                (0, *from)
            }
        };
        let Some(m) = node_id(member).filter(|&m| (m as usize) < self.nodes.len() && m != o) else {
            return;
        };
        self.trace
            .mix2(kind, now, u64::from(o) << 32 | u64::from(m));
        let status = self.nodes[m as usize].status;
        let crash = self.nodes[m as usize].crash;
        match kind {
            1 | 3 | 4 => {
                if kind == 3 {
                    self.metrics.suspected_events += 1;
                    if let Some(c) = crash.map(|c| &mut self.metrics.crashes[c]) {
                        c.first_suspect.get_or_insert(now);
                    }
                }
                let down = matches!(status, Status::Crashed | Status::Gone | Status::Leaving);
                let held = self.held_incarnation(o, m);
                let newer =
                    matches!((held, self.dead_at.get(&(o, m))), (Some(h), Some(&d)) if h > d);
                if self.views.mark_live(o, m)
                    && down
                    && self.views.reported_dead(o, m)
                    && !self.nodes[m as usize].false_failed
                    && !newer
                {
                    self.views.forget_report(o, m);
                    let detail =
                        format!("holds {m} live again after reporting it dead; it is {status:?}");
                    self.checks
                        .report(now, o, ViolationKind::Resurrection, detail);
                }
            }
            5 | 6 => {
                if kind == 5 {
                    match status {
                        Status::Running => {
                            self.metrics.failed_about_live += 1;
                            if let Some(b) = self.metrics.distinct_false.as_mut() {
                                b.set(m);
                            }
                            self.nodes[m as usize].false_failed = true;
                        }
                        Status::Leaving | Status::Gone => self.metrics.failed_about_leaver += 1,
                        _ => {}
                    }
                    if let Some(c) = crash.map(|c| &mut self.metrics.crashes[c]) {
                        c.first_failed.get_or_insert(now);
                    }
                } else {
                    self.metrics.left_events += 1;
                    if status == Status::Running {
                        self.metrics.left_about_running += 1;
                    }
                }
                if let Some(inc) = self.held_incarnation(o, m) {
                    self.dead_at.insert((o, m), inc);
                }
                if self.views.mark_dead(o, m) == Some(0) {
                    self.all_gone(m);
                }
            }
            2 => {
                if let Some(d) = self.metrics.dissemination.as_mut().filter(|d| d.node == m) {
                    if d.reached.set(o) && d.done_at.is_none() && d.reached.count() >= d.target {
                        d.done_at = Some(now);
                    }
                }
            }
            _ => {}
        }
    }

    /// The incarnation observer `o` holds for member `m` right now.
    fn held_incarnation(&self, o: NodeId, m: NodeId) -> Option<u64> {
        let swim = self.nodes.get(o as usize)?.swim.as_ref()?;
        swim.member(&node_addr(m)).map(|x| x.incarnation)
    }

    /// No running node holds `m` live any more.
    fn all_gone(&mut self, m: NodeId) {
        if let Some(c) = self.nodes[m as usize].crash {
            self.metrics.crashes[c].all_failed.get_or_insert(self.now);
        }
    }

    fn fault(&mut self, i: usize) {
        let now = self.now;
        let fault = self.timeline[i].1.clone();
        self.trace.mix2(8, now, i as u64);
        match fault {
            Fault::Start { node, seeds } => self.start(node, &seeds),
            Fault::Block { from, to } => self.net.add_rule(from, to, LinkKind::Block),
            Fault::Unblock { from, to } => self.net.remove_rule(&from, &to, LinkKind::Block),
            Fault::UnblockAll => self.net.remove_all(LinkKind::Block),
            Fault::Hold { from, to } => self.net.add_rule(from, to, LinkKind::Hold),
            Fault::Release { from, to } => {
                self.net.remove_rule(&from, &to, LinkKind::Hold);
                let held = std::mem::take(&mut self.held);
                for (f, t, payload) in held {
                    if from.get(f) && to.get(t) {
                        let at = now + self.net.latency();
                        self.queue.push(
                            at,
                            Ev::Deliver {
                                from: f,
                                to: t,
                                payload,
                                late: false,
                            },
                        );
                    } else {
                        self.held.push((f, t, payload));
                    }
                }
            }
            Fault::Crash(n) => self.crash(n),
            Fault::Restart(n) => {
                if self
                    .nodes
                    .get(n as usize)
                    .is_some_and(|s| s.status == Status::Crashed)
                {
                    let seeds: Vec<NodeId> = self.running.iter().take(3).collect();
                    self.views.member_restarted(n);
                    if let Some(a) = self.audit_incarnations.as_mut() {
                        a[n as usize].clear();
                    }
                    self.start(n, &seeds);
                }
            }
            Fault::Pause { node, dur } => {
                if let Some(s) = self.nodes.get_mut(node as usize) {
                    s.paused_until = s.paused_until.max(now + dur);
                }
            }
            Fault::Slow { node, delay } => {
                if let Some(s) = self.nodes.get_mut(node as usize) {
                    s.slow = delay;
                }
            }
            Fault::Leave(n) => {
                let Some(slot) = self.nodes.get_mut(n as usize) else {
                    return;
                };
                if slot.status != Status::Running {
                    return;
                }
                slot.status = Status::Leaving;
                self.set_running(n, false);
                let t = self.instant(now);
                if let Some(swim) = self.nodes[n as usize].swim.as_mut() {
                    let actions = swim.leave(t);
                    self.apply(n, actions);
                }
            }
            Fault::Stop(n) => {
                if self
                    .nodes
                    .get(n as usize)
                    .is_some_and(|s| s.status == Status::Leaving)
                {
                    self.stop(n, Status::Gone);
                }
            }
            Fault::SetLoss(p) => self.net.config.loss = p,
            Fault::Disseminate(n) => {
                let t = self.instant(now);
                let Some(swim) = self.nodes.get_mut(n as usize).and_then(|s| s.swim.as_mut())
                else {
                    return;
                };
                let Ok(actions) = swim.set_meta(t, Bytes::from_static(b"disseminated")) else {
                    return;
                };
                let target = ((f64::from(self.running_count.saturating_sub(1))) * 0.999).ceil();
                self.metrics.dissemination = Some(crate::metrics::Dissemination {
                    node: n,
                    at: now,
                    reached: Bits::new(self.nodes.len()),
                    target: (target as usize).max(1),
                    done_at: None,
                });
                self.apply(n, actions);
            }
        }
    }

    fn start(&mut self, node: NodeId, seeds: &[NodeId]) {
        let Some(slot) = self.nodes.get_mut(node as usize) else {
            return;
        };
        if matches!(slot.status, Status::Running | Status::Leaving) {
            return;
        }
        slot.generation += 1;
        let seed = derive_seed(
            self.cfg.seed,
            Purpose::Node,
            u64::from(node) << 32 | u64::from(slot.generation),
        );
        let swim = match Swim::new(node_addr(node), self.cfg.config.clone(), seed) {
            Ok(s) => s,
            Err(e) => panic!("invalid protocol config: {e}"),
        };
        slot.swim = Some(swim);
        slot.status = Status::Running;
        slot.timer_at = None;
        slot.paused_until = 0;
        slot.slow_busy = 0;
        slot.incarnation = 0;
        slot.false_failed = false;
        slot.self_failed_reported = false;
        slot.crash = None;
        self.set_running(node, true);
        let seeds: Vec<SocketAddrV4> = seeds
            .iter()
            .filter(|&&s| s != node)
            .map(|&s| node_addr(s))
            .collect();
        let t = self.instant(self.now);
        let bootstrap = self.cfg.bootstrap && self.now == 0 && node < self.cfg.nodes;
        let initial = self.cfg.nodes;
        let actions = match self.nodes[node as usize].swim.as_mut() {
            Some(swim) if bootstrap => swim.restore(
                t,
                (0..initial).map(|n| swim_core::Member {
                    addr: node_addr(n),
                    incarnation: 0,
                    state: swim_core::State::Alive,
                    meta: Default::default(),
                }),
            ),
            Some(swim) if !seeds.is_empty() => swim.join(t, &seeds),
            Some(swim) => swim.tick(t),
            None => Vec::new(),
        };
        self.apply(node, actions);
    }

    fn crash(&mut self, n: NodeId) {
        let Some(slot) = self.nodes.get(n as usize) else {
            return;
        };
        let was_running = slot.status == Status::Running;
        if !matches!(slot.status, Status::Running | Status::Leaving) {
            return;
        }
        self.stop(n, Status::Crashed);
        if was_running {
            self.metrics.crashes.push(OpenCrash {
                node: n,
                at: self.now,
                first_suspect: None,
                first_failed: None,
                all_failed: None,
            });
            self.nodes[n as usize].crash = Some(self.metrics.crashes.len() - 1);
            if self.views.holders(n) == 0 {
                self.all_gone(n);
            }
        }
    }

    fn stop(&mut self, n: NodeId, status: Status) {
        let slot = &mut self.nodes[n as usize];
        slot.swim = None;
        slot.status = status;
        slot.timer_at = None;
        self.set_running(n, false);
        let mut emptied = Vec::new();
        self.views.observer_stopped(n, |m, holders| {
            if holders == 0 {
                emptied.push(m);
            }
        });
        for m in emptied {
            self.all_gone(m);
        }
    }

    fn set_running(&mut self, n: NodeId, on: bool) {
        let changed = if on {
            self.running.set(n)
        } else {
            self.running.clear(n)
        };
        if changed {
            if on {
                self.running_count += 1;
            } else {
                self.running_count -= 1;
            }
        }
    }

    /// Samples views for plots, checks convergence and audits tables.
    fn sample(&mut self) {
        let now = self.now;
        let interval = self.cfg.sample_interval.as_nanos() as u64;
        if now >= self.next_plot {
            self.next_plot = now + interval;
            self.record_views();
        }
        self.metrics.bin(now).running = self.running_count;
        let joined = now >= self.cfg.join_spread.as_nanos() as u64;
        let watching = (joined && self.metrics.first_converged.is_none())
            || (now >= self.last_fault && self.metrics.converged_after_faults.is_none());
        if watching && self.converged() {
            if joined {
                self.metrics.first_converged.get_or_insert(now);
            }
            if now >= self.last_fault {
                self.metrics.converged_after_faults = Some(now);
            }
        }
        if let Some(a) = self.cfg.audit_interval {
            if now >= self.next_audit {
                self.next_audit = now + a.as_nanos() as u64;
                self.audit();
            }
        }
        let fine = now >= self.last_fault && self.metrics.converged_after_faults.is_none();
        let step = if fine {
            interval.min(100_000_000)
        } else {
            interval
        };
        self.queue.push(now + step, Ev::Sample);
    }

    /// Whether every running node holds exactly the running set live.
    pub(crate) fn converged(&self) -> bool {
        self.running
            .iter()
            .all(|o| self.views.matches(o, &self.running))
    }

    fn record_views(&mut self) {
        let mut counts: Vec<u32> = self
            .running
            .iter()
            .map(|o| self.views.count(o) + 1)
            .collect();
        counts.sort_unstable();
        let tracked = self
            .tracked
            .iter()
            .map(|&o| {
                if self.running.get(o) {
                    self.views.count(o) + 1
                } else {
                    0
                }
            })
            .collect();
        self.metrics.samples.push(crate::metrics::ViewSample {
            t: crate::metrics::secs(self.now),
            truth: self.running_count,
            min: counts.first().copied().unwrap_or(0),
            median: counts.get(counts.len() / 2).copied().unwrap_or(0),
            max: counts.last().copied().unwrap_or(0),
            tracked,
        });
    }

    /// Queue length (for diagnostics).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether any partition or hold is in force.
    pub fn links_disturbed(&self) -> bool {
        self.net.has_rules()
    }
}

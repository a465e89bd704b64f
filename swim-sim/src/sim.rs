//! [`Sim`]: the discrete-event loop. Virtual time jumps from one queued
//! event to the next; nodes are `Swim<SocketAddrV4>` state machines fed
//! datagrams and timer ticks, and whatever they emit goes back through the
//! network model into the queue.

use crate::builder::{Fault, SimConfig, Tamper};
use crate::check::{Checks, ViolationKind};
use crate::metrics::{Metrics, OpenCrash, OpenPause, OpenRestart};
use crate::net::{Fate, LinkKind, Net};
use crate::queue::{Ev, Queue, Stage};
use crate::rng::{derive_seed, Purpose, SimRng};
use crate::trace::Trace;
use crate::view::{Bits, Views};
use crate::{node_addr, node_id, NodeId};
use bytes::Bytes;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};
use swim_core::{wire, Action, Event, State, Swim};

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
    /// Datagrams queued while paused.
    backlog: usize,
    /// Slow node: largest lag per event (0: not slow).
    max_lag: u64,
    /// When the slow node's receive path is free again.
    slow_busy: u64,
    /// The slow node's current timer deadline and the late instant drawn
    /// for it.
    lagged: Option<(u64, u64)>,
    pub(crate) incarnation: u64,
    pub(crate) false_failed: bool,
    self_failed_reported: bool,
    /// A Failed/Left claim about itself the node handled at an incarnation
    /// at least its own and has not refuted yet: (claim incarnation, since).
    claim: Option<(u64, u64)>,
    pub(crate) crash: Option<usize>,
    restart: Option<usize>,
    pause: Option<usize>,
    tamper: Option<Tamper>,
    /// A node fault (crash, slow, pause, inbound loss, tamper) targeted
    /// this node at some point: not counted as a healthy node.
    pub(crate) faulted: bool,
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
    runtime_rng: SimRng,
    lag_rng: SimRng,
    pub(crate) last_heal: Option<u64>,
    pub(crate) first_disturbance: u64,
    events: u64,
    next_plot: u64,
    next_audit: u64,
    pub(crate) audit_incarnations: Option<Vec<Vec<u64>>>,
    tracked: Vec<NodeId>,
    /// Members with an open "alive everywhere" record (a restart, or a pause
    /// that ended): an observer that stops counting may complete it.
    awaiting_live: Vec<NodeId>,
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
            .map(|(at, f)| f.ends(*at))
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
            backlog: 0,
            max_lag: 0,
            slow_busy: 0,
            lagged: None,
            incarnation: 0,
            false_failed: false,
            self_failed_reported: false,
            claim: None,
            crash: None,
            restart: None,
            pause: None,
            tamper: None,
            faulted: false,
        };
        Sim {
            net: Net::new(cfg.net.clone(), SimRng::new(cfg.seed, Purpose::Net)),
            runtime_rng: SimRng::new(cfg.seed, Purpose::Runtime),
            lag_rng: SimRng::new(cfg.seed, Purpose::Lag),
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
            awaiting_live: Vec::new(),
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
                    stage,
                } => self.deliver(from, to, payload, stage),
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

    fn deliver(&mut self, from: NodeId, to: NodeId, payload: Bytes, stage: Stage) {
        let now = self.now;
        let slot = &mut self.nodes[to as usize];
        if stage == Stage::Buffered {
            slot.backlog = slot.backlog.saturating_sub(1);
        }
        if !matches!(slot.status, Status::Running | Status::Leaving) {
            self.metrics.to_down_nodes += 1;
            return;
        }
        if slot.paused_until > now {
            if slot.backlog >= self.cfg.pause_queue {
                self.metrics.pause_dropped += 1;
                return;
            }
            slot.backlog += 1;
            let at = slot.paused_until;
            let stage = Stage::Buffered;
            self.queue.push(
                at,
                Ev::Deliver {
                    from,
                    to,
                    payload,
                    stage,
                },
            );
            return;
        }
        if slot.max_lag > 0 && stage == Stage::Fresh {
            let lag = self.lag_rng.range(0, slot.max_lag);
            let at = (now + lag).max(slot.slow_busy);
            slot.slow_busy = at;
            self.metrics.datagram_lag.add(at - now);
            let stage = Stage::Lagged;
            self.queue.push(
                at,
                Ev::Deliver {
                    from,
                    to,
                    payload,
                    stage,
                },
            );
            return;
        }
        self.trace.datagram(now, from, to, &payload);
        let payload = self.inspect_inbound(to, payload);
        let t = self.instant(now);
        let Some(swim) = self.nodes[to as usize].swim.as_mut() else {
            return;
        };
        let actions = swim.handle_datagram(t, node_addr(from), &payload);
        self.apply(to, actions);
    }

    /// The self-claim checker's input: notes a Failed/Left claim about the
    /// receiving node at an incarnation at least its own (the node must
    /// refute it). Decodes only while some active node does not hold the
    /// receiver live (in a calm cluster nothing is decoded). Returns the
    /// datagram the node handles (rewritten only by a test `Tamper`).
    fn inspect_inbound(&mut self, to: NodeId, payload: Bytes) -> Bytes {
        let slot = &self.nodes[to as usize];
        let tamper = slot.tamper;
        let doubted = !self.views.all_hold_live(to);
        if slot.status != Status::Running || !(doubted || tamper.is_some()) {
            return payload;
        }
        let Some(own) = slot.swim.as_ref().map(|s| s.local().incarnation) else {
            return payload;
        };
        let me = node_addr(to);
        // Cheap pre-filter: a claim about the node carries its address
        // (4 address bytes, 2 port bytes). The checker tests show this
        // still finds the claims if the wire format changes.
        let mut raw = [0u8; 6];
        raw[..4].copy_from_slice(&me.ip().octets());
        raw[4..].copy_from_slice(&me.port().to_be_bytes());
        let mentioned = payload.windows(6).any(|w| w == raw);
        let strip = tamper == Some(Tamper::IgnoreClaimsAboutSelf);
        if !mentioned && !strip {
            return payload;
        }
        let Ok(mut packet) = wire::decode::<SocketAddrV4>(&payload, &wire::Limits::UNLIMITED)
        else {
            return payload;
        };
        let about_me = |u: &wire::Update<SocketAddrV4>| u.addr == me;
        let claim = packet
            .updates
            .iter()
            .chain(match &packet.body {
                wire::Body::Members { records, .. } => records.as_slice(),
                _ => &[],
            })
            .filter(|u| about_me(u) && matches!(u.kind.state(), State::Failed | State::Left))
            .map(|u| u.incarnation)
            .filter(|&i| i >= own && mentioned)
            .max();
        if let Some(inc) = claim {
            let slot = &mut self.nodes[to as usize];
            let since = slot.claim.map_or(self.now, |(_, t)| t);
            let worst = slot.claim.map_or(inc, |(i, _)| i.max(inc));
            slot.claim = Some((worst, since));
        }
        if !strip {
            return payload;
        }
        packet.updates.retain(|u| !about_me(u));
        if let wire::Body::Members { records, .. } = &mut packet.body {
            records.retain(|u| !about_me(u));
        }
        Bytes::from(wire::encode(&packet))
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
        if let Some(d) = swim.next_deadline().filter(|&d| d <= t) {
            if slot.max_lag > 0 {
                let lag = t.saturating_duration_since(d).as_nanos() as u64;
                self.metrics.timer_lag.add(lag);
            }
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
        let mut at = d.saturating_duration_since(self.base).as_nanos() as u64;
        if slot.max_lag > 0 {
            // A slow node wakes up late: deadline + a fresh lag per deadline.
            at = match slot.lagged {
                Some((d, fire)) if d == at => fire,
                _ => {
                    let fire = at + self.lag_rng.range(0, slot.max_lag);
                    slot.lagged = Some((at, fire));
                    fire
                }
            };
        }
        let at = at.max(self.now);
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
        let tamper = self.nodes[o as usize].tamper;
        for action in actions {
            match (action, tamper) {
                (Action::Send { .. }, Some(Tamper::Mute)) => self.metrics.tampered += 1,
                (Action::Send { to, payload }, Some(Tamper::Pad)) => {
                    let mut padded = payload.to_vec();
                    padded.resize(padded.len() + 2000, 0);
                    self.send(o, to, Bytes::from(padded));
                }
                (Action::Send { to, payload }, _) => self.send(o, to, payload),
                (Action::Event(_), Some(Tamper::DropEvents)) => self.metrics.tampered += 1,
                (Action::Event(e), _) => self.observe(o, e),
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
            Fate::LostInbound => self.metrics.lost_inbound += 1,
            Fate::LinkDown => self.metrics.link_down += 1,
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
                        stage: Stage::Fresh,
                    };
                    self.queue.push(now + d, ev);
                }
                self.queue.push(
                    now + delay,
                    Ev::Deliver {
                        from,
                        to,
                        payload,
                        stage: Stage::Fresh,
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
        self.check_claim(o);
    }

    /// A running node that handled a Failed/Left claim about itself at an
    /// incarnation at least its own must refute it (incarnation past the
    /// claim) within `refute_within`; otherwise it has accepted being dead.
    fn check_claim(&mut self, o: NodeId) {
        let now = self.now;
        let slot = &mut self.nodes[o as usize];
        let Some((inc, since)) = slot.claim else {
            return;
        };
        let own = slot.swim.as_ref().map(|s| s.local().incarnation);
        if slot.status != Status::Running || own.is_none_or(|own| own > inc) {
            slot.claim = None;
            return;
        }
        let grace = self.cfg.refute_within.as_nanos() as u64;
        if now >= since + grace && !slot.self_failed_reported {
            slot.self_failed_reported = true;
            let detail = format!(
                "handled a Failed/Left claim about itself at incarnation {inc} (own {}) {:.1} s ago and has not refuted it",
                own.unwrap_or(0),
                crate::metrics::secs(now - since)
            );
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
            Event::Message {
                from,
                payload,
                broadcast,
            } => {
                self.metrics.messages += 1;
                if *broadcast {
                    self.broadcast_delivered(o, *from, payload);
                }
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
                    if status == Status::Running {
                        self.metrics.suspected_about_live += 1;
                        self.metrics.bin(now).false_suspected += 1;
                    }
                    if let Some(c) = crash.map(|c| &mut self.metrics.crashes[c]) {
                        c.first_suspect.get_or_insert(now);
                    }
                }
                let down = matches!(status, Status::Crashed | Status::Gone | Status::Leaving);
                let held = self.held_incarnation(o, m);
                let newer =
                    matches!((held, self.dead_at.get(&(o, m))), (Some(h), Some(&d)) if h > d);
                let news = self.views.mark_live(o, m);
                if news {
                    self.check_all_live(m);
                }
                // Not waived for members that were ever falsely failed: a
                // legitimate comeback carries a newer incarnation.
                if news && down && self.views.reported_dead(o, m) && !newer {
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
                            self.metrics.bin(now).false_failed += 1;
                            if let Some(b) = self.metrics.distinct_false.as_mut() {
                                b.set(m);
                            }
                            self.nodes[m as usize].false_failed = true;
                        }
                        Status::Leaving | Status::Gone => {
                            self.metrics.failed_about_leaver += 1;
                            self.metrics.leavers_failed.insert(m);
                        }
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

    /// Observer `o` delivered a broadcast: the first 8 bytes of the
    /// simulator's payloads are the broadcast's index.
    fn broadcast_delivered(&mut self, o: NodeId, from: SocketAddrV4, payload: &[u8]) {
        let Some(index) = payload.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
            return;
        };
        let now = self.now;
        let origin = node_id(from);
        let Some(b) = self
            .metrics
            .broadcasts
            .get_mut(u64::from_le_bytes(index) as usize)
        else {
            return;
        };
        if origin == Some(b.node)
            && o != b.node
            && b.reached.set(o)
            && b.all_at.is_none()
            && b.reached.count() >= b.target
        {
            b.all_at = Some(now);
        }
    }

    /// The incarnation observer `o` holds for member `m` right now.
    fn held_incarnation(&self, o: NodeId, m: NodeId) -> Option<u64> {
        let swim = self.nodes.get(o as usize)?.swim.as_ref()?;
        swim.member(&node_addr(m)).map(|x| x.incarnation)
    }

    /// No active node (running, not paused) holds `m` live any more.
    fn all_gone(&mut self, m: NodeId) {
        let now = self.now;
        let slot = &self.nodes[m as usize];
        if let Some(c) = slot.crash {
            self.metrics.crashes[c].all_failed.get_or_insert(now);
        }
        if let Some(p) = slot.pause.map(|p| &mut self.metrics.pauses[p]) {
            if now >= p.at && p.alive_all.is_none() {
                p.failed_all.get_or_insert(now);
            }
        }
    }

    /// Whether every other active node (running, not paused) holds `m`
    /// live: closes `m`'s open restart and (after it resumed) pause records.
    fn check_all_live(&mut self, m: NodeId) {
        let now = self.now;
        let slot = &self.nodes[m as usize];
        if slot.status != Status::Running || !self.views.all_hold_live(m) {
            return;
        }
        if let Some(r) = slot.restart.map(|r| &mut self.metrics.restarts[r]) {
            r.all_live.get_or_insert(now);
        }
        // Called on every new live mark, when the pause ends and when an
        // observer stops counting (`awaiting_live`): exact.
        if let Some(p) = slot.pause.map(|p| &mut self.metrics.pauses[p]) {
            if now >= p.end && p.alive_all.is_none() {
                p.alive_all = Some(now);
            }
        }
    }

    /// Whether `m` has an open "alive everywhere" record.
    fn awaits_all_live(&self, m: NodeId) -> bool {
        let slot = &self.nodes[m as usize];
        let restart = slot
            .restart
            .is_some_and(|r| self.metrics.restarts[r].all_live.is_none());
        let pause = slot.pause.is_some_and(|p| {
            let p = &self.metrics.pauses[p];
            self.now >= p.end && p.alive_all.is_none()
        });
        slot.status == Status::Running && (restart || pause)
    }

    /// Checks `m` now and, while its record stays open, whenever an
    /// observer stops counting.
    fn await_all_live(&mut self, m: NodeId) {
        self.check_all_live(m);
        if self.awaits_all_live(m) && !self.awaiting_live.contains(&m) {
            self.awaiting_live.push(m);
        }
    }

    /// Observer `o` paused, left or stopped (`drop_view`): its view stops
    /// counting, which may complete "Failed everywhere" for members only it
    /// held live and "alive everywhere" for members only it did not.
    fn stop_counting(&mut self, o: NodeId, drop_view: bool) {
        let mut emptied = Vec::new();
        let note = |m, holders| {
            if holders == 0 {
                emptied.push(m);
            }
        };
        if drop_view {
            self.views.observer_stopped(o, note);
        } else {
            self.views.deactivate(o, note);
        }
        for m in emptied {
            self.all_gone(m);
        }
        let awaiting = std::mem::take(&mut self.awaiting_live);
        for &m in &awaiting {
            self.check_all_live(m);
        }
        self.awaiting_live = awaiting
            .into_iter()
            .filter(|&m| self.awaits_all_live(m))
            .collect();
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
                                stage: Stage::Fresh,
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
                    self.metrics.restarts.push(OpenRestart {
                        node: n,
                        at: now,
                        all_live: None,
                    });
                    self.start(n, &seeds);
                    self.nodes[n as usize].restart = Some(self.metrics.restarts.len() - 1);
                    self.await_all_live(n);
                }
            }
            Fault::Pause { node, dur } => {
                if let Some(s) = self.nodes.get_mut(node as usize) {
                    if matches!(s.status, Status::Running | Status::Leaving) {
                        s.faulted = true;
                        s.paused_until = s.paused_until.max(now + dur);
                        self.metrics.pauses.push(OpenPause {
                            node,
                            at: now,
                            end: s.paused_until,
                            failed_all: None,
                            alive_all: None,
                        });
                        s.pause = Some(self.metrics.pauses.len() - 1);
                        let end = s.paused_until;
                        // Closes the record if nobody doubts it at the end.
                        let i = self.dynamic(end, Fault::Resumed(node));
                        self.queue.push(end, Ev::Fault(i));
                        // A paused node's view is stale: it stops counting.
                        self.stop_counting(node, false);
                    }
                }
            }
            Fault::Resumed(node) => {
                let slot = &self.nodes[node as usize];
                if slot.status == Status::Running && slot.paused_until <= now {
                    // Its view, stale or not, counts again from now.
                    self.views.activate(node);
                    self.await_all_live(node);
                }
            }
            Fault::Slow { node, max_lag } => {
                if let Some(s) = self.nodes.get_mut(node as usize) {
                    s.max_lag = max_lag;
                    s.lagged = None;
                    s.faulted |= max_lag > 0;
                }
            }
            Fault::Leave(n) => self.leave(n),
            Fault::InboundLoss { node, p } => {
                if let Some(s) = self.nodes.get_mut(node as usize) {
                    s.faulted |= p > 0.0;
                }
                self.net.set_inbound_loss(node, p);
            }
            Fault::Link { a, b, down } => self.net.set_pair(a, b, down),
            Fault::ChurnCrash { restart_after } => {
                if let Some(n) = self.random_running() {
                    self.crash(n);
                    let at = now + restart_after;
                    let i = self.dynamic(at, Fault::Restart(n));
                    self.queue.push(at, Ev::Fault(i));
                }
            }
            Fault::ChurnLeave => {
                if let Some(n) = self.random_running() {
                    self.leave(n);
                    let at = now + self.cfg.leave_linger.as_nanos() as u64;
                    let i = self.dynamic(at, Fault::Stop(n));
                    self.queue.push(at, Ev::Fault(i));
                }
            }
            Fault::JoinAny(node) => {
                let seeds: Vec<NodeId> = (0..3).filter_map(|_| self.random_running()).collect();
                self.start(node, &seeds);
            }
            Fault::Tamper { node, tamper } => self.tamper(node, tamper),
            Fault::Broadcast { node, bytes } => {
                let index = self.metrics.broadcasts.len() as u64;
                let mut payload = vec![0xb5u8; bytes.max(8)];
                payload[..8].copy_from_slice(&index.to_le_bytes());
                let t = self.instant(now);
                let result = self
                    .nodes
                    .get_mut(node as usize)
                    .and_then(|s| s.swim.as_mut())
                    .map(|s| s.broadcast(t, Bytes::from(payload)));
                self.metrics.broadcasts.push(crate::metrics::OpenBroadcast {
                    node,
                    at: now,
                    bytes: bytes.max(8),
                    accepted: matches!(result, Some(Ok(_))),
                    reached: Bits::new(self.nodes.len()),
                    target: (self.running_count as usize).saturating_sub(1),
                    all_at: None,
                });
                if let Some(Ok(actions)) = result {
                    self.apply(node, actions);
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

    /// Appends a timeline entry decided while running; returns its index.
    fn dynamic(&mut self, at: u64, fault: Fault) -> u32 {
        if fault.is_fault() {
            self.last_fault = self.last_fault.max(fault.ends(at));
        }
        self.timeline.push((at, fault));
        (self.timeline.len() - 1) as u32
    }

    /// A running node other than node 0 (the seed of joins), chosen from
    /// the run's seed.
    fn random_running(&mut self) -> Option<NodeId> {
        let live: Vec<NodeId> = self
            .running
            .iter()
            .filter(|&n| n != 0 && self.nodes[n as usize].status == Status::Running)
            .collect();
        (!live.is_empty()).then(|| live[self.runtime_rng.below(live.len() as u64) as usize])
    }

    fn leave(&mut self, n: NodeId) {
        let Some(slot) = self.nodes.get_mut(n as usize) else {
            return;
        };
        if slot.status != Status::Running {
            return;
        }
        slot.status = Status::Leaving;
        self.set_running(n, false);
        self.stop_counting(n, false);
        let t = self.instant(self.now);
        if let Some(swim) = self.nodes[n as usize].swim.as_mut() {
            let actions = swim.leave(t);
            self.apply(n, actions);
        }
    }

    /// Breaks `node` on purpose (see [`Tamper`]).
    fn tamper(&mut self, node: NodeId, tamper: Tamper) {
        let Some(slot) = self.nodes.get_mut(node as usize) else {
            return;
        };
        if slot.status != Status::Running {
            return;
        }
        slot.tamper = Some(tamper);
        slot.faulted = true;
        let t = self.instant(self.now);
        let seed = derive_seed(
            self.cfg.seed,
            Purpose::Node,
            u64::from(node) << 32 | 0xffff_ffff,
        );
        let fresh = || Swim::new(node_addr(node), self.cfg.config.clone(), seed).ok();
        let actions = match tamper {
            Tamper::Amnesia => {
                let seeds: Vec<SocketAddrV4> = self
                    .running
                    .iter()
                    .filter(|&s| s != node)
                    .take(3)
                    .map(node_addr)
                    .collect();
                let mut swim = fresh();
                let actions = swim.as_mut().map(|s| s.join(t, &seeds));
                self.nodes[node as usize].swim = swim;
                actions
            }
            Tamper::Rollback => {
                let initial = self.cfg.nodes;
                let mut swim = fresh();
                let actions = swim.as_mut().map(|s| {
                    s.restore(
                        t,
                        (0..initial)
                            .filter(|&n| n != node)
                            .map(|n| swim_core::Member {
                                addr: node_addr(n),
                                incarnation: 0,
                                state: State::Alive,
                                meta: Default::default(),
                            }),
                    )
                });
                self.nodes[node as usize].swim = swim;
                actions
            }
            _ => None,
        };
        self.nodes[node as usize].timer_at = None;
        if let Some(actions) = actions {
            self.apply(node, actions);
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
        slot.backlog = 0;
        slot.slow_busy = 0;
        slot.lagged = None;
        slot.incarnation = 0;
        slot.false_failed = false;
        slot.self_failed_reported = false;
        slot.claim = None;
        slot.crash = None;
        slot.restart = None;
        slot.pause = None;
        slot.tamper = None;
        self.set_running(node, true);
        self.views.activate(node);
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
        self.nodes[n as usize].faulted = true;
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
        self.stop_counting(n, true);
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
            let (now, running) = (self.now, self.running_count);
            let bin = self.metrics.bin(now);
            bin.running = bin.running.max(running);
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
        // The most nodes running during the second (the first second of a
        // join spread starts with one node: per-member rates would explode).
        let running = self.running_count;
        let bin = self.metrics.bin(now);
        bin.running = bin.running.max(running);
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
        let pending: Vec<NodeId> = (0..self.nodes.len() as NodeId)
            .filter(|&n| self.nodes[n as usize].claim.is_some())
            .collect();
        for n in pending {
            self.check_claim(n);
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

//! The end of a run: audits every node's table, applies the convergence
//! bound, and assembles the [`Report`].

use crate::check::ViolationKind;
use crate::metrics::{
    secs, Convergence, FalsePositives, FaultLoad, PauseRecord, Report, RestartRecord,
};
use crate::sim::Sim;
use crate::view::Bits;
use crate::{node_id, NodeId};
use std::time::Duration;
use swim_core::State;

impl Sim {
    /// Compares every running node's `members()` with the view its events
    /// built and, when enabled, checks that incarnations never go back.
    pub(crate) fn audit(&mut self) {
        let n = self.nodes.len();
        let observers: Vec<NodeId> = self.running.iter().collect();
        for o in observers {
            let Some(swim) = self.nodes[o as usize].swim.as_ref() else {
                continue;
            };
            let mut live = Bits::new(n);
            let mut incs = self.audit_incarnations.as_ref().map(|_| vec![0u64; n]);
            for m in swim.members() {
                let Some(id) = node_id(m.addr).filter(|&id| (id as usize) < n) else {
                    continue;
                };
                if matches!(m.state, State::Alive | State::Suspect) {
                    live.set(id);
                }
                if let Some(incs) = incs.as_mut() {
                    incs[id as usize] = m.incarnation.saturating_add(1);
                }
            }
            if &live != self.views.live_set(o) {
                let events = self.views.live_set(o);
                let only_table: Vec<NodeId> =
                    live.iter().filter(|&m| !events.get(m)).take(5).collect();
                let only_events: Vec<NodeId> =
                    events.iter().filter(|&m| !live.get(m)).take(5).collect();
                let detail = format!(
                    "members() live set differs from events: only in members() {only_table:?}, only in events {only_events:?}"
                );
                self.checks
                    .report(self.now, o, ViolationKind::ViewMismatch, detail);
                // Resynchronise so one divergence is reported once.
                for m in only_table {
                    self.views.mark_live(o, m);
                }
            }
            if let (Some(new), Some(all)) = (incs, self.audit_incarnations.as_mut()) {
                let old = &all[o as usize];
                if let Some(m) = (0..old.len()).find(|&m| new[m] != 0 && new[m] < old[m]) {
                    let detail = format!(
                        "holds member {m} at incarnation {} after {}",
                        new[m] - 1,
                        old[m] - 1
                    );
                    self.checks
                        .report(self.now, o, ViolationKind::IncarnationDecreased, detail);
                }
                all[o as usize] = new;
            }
        }
    }

    /// Final checks and the report.
    /// For up to `max` running nodes whose view differs from the truth: the
    /// members they hold wrong.
    fn disagreements(&self, max: usize) -> Vec<String> {
        let mut out = Vec::new();
        for o in self.running.iter() {
            let Some(swim) = self.nodes.get(o as usize).and_then(|n| n.swim.as_ref()) else {
                continue;
            };
            let mut wrong = Vec::new();
            for (m, node) in self.nodes.iter().enumerate() {
                let m = m as NodeId;
                if m == o {
                    continue;
                }
                let running = self.running.get(m);
                let held = swim.member(&crate::addr::node_addr(m));
                let live = held.as_ref().is_some_and(|x| {
                    matches!(x.state, swim_core::State::Alive | swim_core::State::Suspect)
                });
                if live != running {
                    let h = held.map_or("unknown".to_string(), |x| {
                        format!("{:?}@{}", x.state, x.incarnation)
                    });
                    let truth = node.swim.as_ref().map_or("down".to_string(), |s| {
                        format!("running@{}", s.local().incarnation)
                    });
                    wrong.push(format!("{m} {h} ({truth})"));
                }
            }
            if !wrong.is_empty() {
                out.push(format!(
                    "node {o} (inc {}): {}",
                    swim.local().incarnation,
                    wrong.join(", ")
                ));
                if out.len() == max {
                    break;
                }
            }
        }
        out
    }

    pub(crate) fn finish(mut self, wall: Duration, events: u64, trace: u64) -> Report {
        self.audit();
        let end = self.now;
        let within = self.cfg.converge_within.as_nanos() as u64;
        if end >= self.last_fault + within {
            let late = self
                .metrics
                .converged_after_faults
                .is_none_or(|c| c > self.last_fault + within);
            // Agreeing once is not enough: the views must still agree at
            // the end (a cluster that drifts apart again did not converge).
            let drifted = !late && !self.converged();
            if late || drifted {
                let off: Vec<NodeId> = self
                    .running
                    .iter()
                    .filter(|&o| !self.views.matches(o, &self.running))
                    .collect();
                let bound = secs(within);
                let detail = match self.metrics.converged_after_faults {
                    Some(c) if drifted => format!(
                        "live nodes agreed {:.1} s after the last fault, but {} of {} disagree with the live set at the end (e.g. {:?})",
                        secs(c - self.last_fault),
                        off.len(),
                        self.running_count,
                        &off[..off.len().min(5)]
                    ),
                    Some(c) => format!(
                        "live nodes agreed only {:.1} s after the last fault (bound {bound:.0} s)",
                        secs(c - self.last_fault)
                    ),
                    None => format!(
                        "{} of {} live nodes still disagree with the live set {:.1} s after the last fault (bound {bound:.0} s; e.g. {:?})",
                        off.len(),
                        self.running_count,
                        secs(end - self.last_fault),
                        &off[..off.len().min(5)]
                    ),
                };
                let node = off.first().copied().unwrap_or(0);
                self.checks
                    .report(end, node, ViolationKind::NotConverged, detail);
            }
        }
        let period = self.cfg.config.probe_interval.as_secs_f64();
        let warm = self.cfg.warmup.as_secs_f64().ceil() as usize;
        let end_s = (secs(end).floor() as usize).max(warm);
        let quiet = (self.first_disturbance / 1_000_000_000) as usize;
        let load = if quiet >= warm + 5 {
            self.metrics.load(warm, quiet.min(end_s), period, false)
        } else {
            let faulty = self.first_disturbance < end;
            self.metrics
                .load(warm.min(end_s.saturating_sub(1)), end_s, period, faulty)
        };
        let fault_load = (self.first_disturbance < end).then(|| {
            let after = 60usize;
            let f0 = (self.first_disturbance / 1_000_000_000) as usize;
            // An instant fault (a crash) is measured over the 10 s after
            // it, while it is being detected and disseminated.
            let f1 = (self.last_fault.div_ceil(1_000_000_000) as usize)
                .max(f0 + 10)
                .min(end_s.max(f0 + 1));
            let (d, b) = self.metrics.per_member_total(f0, f0 + after);
            FaultLoad {
                window: self.metrics.load(f0, f1, period, true),
                after_s: after as f64,
                bytes_per_member_after: b,
                datagrams_per_member_after: d,
            }
        });
        let rel = |t: Option<u64>, from: u64| t.map(|t| secs(t.saturating_sub(from)));
        let pauses = self
            .metrics
            .pauses
            .iter()
            .map(|p| PauseRecord {
                node: p.node,
                at_s: secs(p.at),
                len_s: secs(p.end - p.at),
                failed_all_s: rel(p.failed_all, p.at),
                alive_all_s: rel(p.alive_all, p.end),
            })
            .collect();
        let restarts = self
            .metrics
            .restarts
            .iter()
            .map(|r| RestartRecord {
                node: r.node,
                at_s: secs(r.at),
                all_live_s: rel(r.all_live, r.at),
            })
            .collect();
        let heal = self.last_heal.unwrap_or(self.last_fault);
        let at_end = self.converged();
        let disagreements = if at_end {
            Vec::new()
        } else {
            self.disagreements(3)
        };
        let convergence = Convergence {
            disagreements,
            converged: self.metrics.converged_after_faults.is_some() && at_end,
            converged_at_end: at_end,
            seconds_after_heal: self
                .metrics
                .converged_after_faults
                .map(|c| secs(c.saturating_sub(heal))),
            first_converged_s: self.metrics.first_converged.map(secs),
        };
        let dissemination_rounds = self
            .metrics
            .dissemination
            .as_ref()
            .and_then(|d| d.done_at.map(|t| secs(t - d.at) / period));
        let (mut suspicions, mut refutations) = (0, 0);
        for s in self.nodes.iter().filter_map(|s| s.swim.as_ref()) {
            let st = s.stats();
            suspicions += st.suspicions;
            refutations += st.refutations;
        }
        Report {
            nodes: self.nodes.len(),
            seed: self.cfg.seed,
            sim_seconds: secs(end),
            wall_seconds: wall.as_secs_f64(),
            period_s: period,
            detection: self.metrics.detection(),
            false_positives: FalsePositives {
                failed_events_about_live: self.metrics.failed_about_live,
                distinct_live_declared_failed: self
                    .metrics
                    .distinct_false
                    .as_ref()
                    .map_or(0, Bits::count),
                left_events_about_running: self.metrics.left_about_running,
                failed_events_about_leavers: self.metrics.failed_about_leaver,
                leavers_reported_failed: self.metrics.leavers_failed.len(),
                healthy_declared_failed: self.metrics.distinct_false.as_ref().map_or(0, |b| {
                    b.iter()
                        .filter(|&m| !self.nodes[m as usize].faulted)
                        .count()
                }),
                suspected_events_about_live: self.metrics.suspected_about_live,
            },
            load,
            fault_load,
            pauses,
            restarts,
            broadcasts: self
                .metrics
                .broadcasts
                .iter()
                .map(|b| crate::metrics::BroadcastRecord {
                    node: b.node,
                    at_s: secs(b.at),
                    bytes: b.bytes,
                    accepted: b.accepted,
                    reached: b.reached.count(),
                    of: b.target,
                    all_s: rel(b.all_at, b.at),
                })
                .collect(),
            slow_datagram_lag: self.metrics.datagram_lag.report(),
            slow_timer_lag: self.metrics.timer_lag.report(),
            dissemination_rounds,
            convergence,
            violations: self.checks.total,
            violation_list: std::mem::take(&mut self.checks.kept),
            trace_hash: trace,
            events,
            load_series: std::mem::take(&mut self.metrics.load),
            view_samples: std::mem::take(&mut self.metrics.samples),
            suspicions,
            refutations,
        }
    }
}

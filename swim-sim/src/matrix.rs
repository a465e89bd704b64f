//! The stress matrix: fixed scenarios × cluster sizes × seeds, run in
//! parallel (each run deterministic), summarised in one table with every
//! cell that has a target marked met (✓) or missed (✗).
//!
//! The scenarios are the files in `swim-sim/scenarios/` (built in, so the
//! command works from any directory); their `[targets]` are issue 11's.

use crate::metrics::median;
use crate::scenario::{Scenario, Targets};
use crate::Report;
use serde::Serialize;
use std::fmt::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The built-in scenarios, in table order: (file name, text).
pub const SCENARIOS: &[(&str, &str)] = &[
    ("steady.toml", include_str!("../scenarios/steady.toml")),
    ("crash1.toml", include_str!("../scenarios/crash1.toml")),
    ("crash10.toml", include_str!("../scenarios/crash10.toml")),
    ("loss10.toml", include_str!("../scenarios/loss10.toml")),
    ("loss30.toml", include_str!("../scenarios/loss30.toml")),
    ("slow5.toml", include_str!("../scenarios/slow5.toml")),
    ("gc3.toml", include_str!("../scenarios/gc3.toml")),
    ("gc20.toml", include_str!("../scenarios/gc20.toml")),
    ("churn.toml", include_str!("../scenarios/churn.toml")),
    ("flapping.toml", include_str!("../scenarios/flapping.toml")),
    ("asym.toml", include_str!("../scenarios/asym.toml")),
    (
        "partition.toml",
        include_str!("../scenarios/partition.toml"),
    ),
    ("leave30.toml", include_str!("../scenarios/leave30.toml")),
    (
        "broadcast.toml",
        include_str!("../scenarios/broadcast.toml"),
    ),
];

/// What the columns mean (appended to MATRIX.md).
pub const NOTES: &str = "\
## How to read it

- Each row is one scenario file of `swim-sim/scenarios/` (commented there) at one
  cluster size, run for seeds `0..runs`; each run is deterministic (`swim-sim run
  --scenario swim-sim/scenarios/FILE --nodes N --seed S` replays one; rows with
  N > 300 start from a restored member list, `--bootstrap`).
- N = 100 rows: 10 seeds × 300 s. N = 1000 rows: 5 seeds × 300 s (to stay well inside
  the 20-minute budget on 2 shared cores); `--quick`: 2 seeds at N = 100, 1 seed at N = 1000.
- **everywhere** (in every column and figure): at every node that is running and not
  paused at that moment. A paused node cannot update its view, so its stale view does
  not count while it is paused; once it resumes it counts again as it is (a resumed
  node that still holds a Failed member live is a disagreement from then on).
- **first Failed / Failed everywhere**: seconds from each crash to the first `Failed`
  event about it anywhere / until no running, unpaused node holds it live, pooled over
  all crashes of all runs (median / 90th percentile / max). \"undetected\": crashes
  never Failed everywhere — in churn rows, before the node restarted (10 s later).
- **false Failed events**: `Failed` events about nodes that were running, summed over
  runs. **live nodes declared Failed (healthy)**: distinct running nodes some node
  declared Failed, summed over runs; in brackets those that no node fault (crash,
  slow, pause, inbound loss) ever targeted. **suspicions of live nodes**: `Suspected`
  events about running nodes.
- **datagrams / B per member per period**: sent per running member per protocol
  period, mean over runs, in the fault window — from the first fault until the last
  one ends, at least 10 s (a crash is measured while it is detected and
  disseminated) — or, without faults, the steady window after the warm-up.
  **KB / member, 60 s after fault**: total bytes sent per running member in the 60 s
  after the first fault (a short burst must not hide a large total).
- **healing**: seconds from the last fault (or heal) until every running node holds
  exactly the running nodes live (sampled every 100 ms).
- **violations**: invariant checkers, summed over runs: incarnations never go back, no
  resurrection of a crashed or departed member (not waived for members once falsely
  Failed), a running node never holds itself Failed nor leaves a Failed claim about
  itself (at ≥ its incarnation) unrefuted for 1 s, convergence within 60 s once
  faults stop, no datagram over `max_packet_size`, `members()` agrees with the events.
- **more**: per-row figures. Pauses: seconds from each pause start until Failed
  everywhere, and from its end until every other node (running, unpaused) holds it live
  again; \"never\": not reached before the node paused again or the run ended.
  Restarts: protocol periods until alive everywhere.
- ✓ / ✗: the target of issue 11 for that cell (in the scenario file's `[targets]`)
  is met / missed; cells without a target are unmarked. Every row's target includes
  0 violations.
";

/// How much of the matrix to run.
#[derive(Clone, Debug)]
pub struct MatrixOptions {
    /// Fewer seeds and shorter large runs (for CI).
    pub quick: bool,
    /// Worker threads (default: the machine's cores).
    pub jobs: usize,
    /// Only scenarios whose file name contains one of these.
    pub only: Vec<String>,
}

impl Default for MatrixOptions {
    fn default() -> Self {
        MatrixOptions {
            quick: false,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            only: Vec::new(),
        }
    }
}

/// Seeds and simulated seconds for a row of `nodes` nodes: N ≤ 100 runs
/// 10 seeds × the file's duration (2 seeds quick); N = 1000 runs 5 seeds
/// (1 quick) to fit the time budget — see MATRIX.md. (The duration stays
/// the file's: its timeline is written for it.)
pub fn plan(nodes: u32, duration: f64, quick: bool) -> (u64, f64) {
    match (nodes > 300, quick) {
        (false, false) => (10, duration),
        (false, true) => (2, duration),
        (true, false) => (5, duration),
        (true, true) => (1, duration),
    }
}

/// A distribution summary: median, 90th percentile, max.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    /// Median.
    pub median: f64,
    /// 90th percentile (nearest rank).
    pub p90: f64,
    /// Largest.
    pub max: f64,
    /// Values summarised.
    pub n: usize,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Option<Spread> {
        let med = median(&mut v)?;
        let rank = ((v.len() as f64) * 0.9).ceil() as usize;
        Some(Spread {
            median: med,
            p90: v[rank.clamp(1, v.len()) - 1],
            max: v[v.len() - 1],
            n: v.len(),
        })
    }
}

/// One row of the table: a scenario at one size, over its seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The row's label.
    pub row: String,
    /// The scenario file.
    pub file: String,
    /// Initial nodes.
    pub nodes: u32,
    /// Runs (seeds `0..runs`).
    pub runs: u64,
    /// Simulated seconds per run.
    pub duration_s: f64,
    /// Crashes over all runs.
    pub crashes: usize,
    /// Seconds from a crash to the first Failed anywhere.
    pub first_failed_s: Option<Spread>,
    /// Seconds from a crash to Failed at every running, unpaused node.
    pub all_failed_s: Option<Spread>,
    /// Crashes not Failed everywhere by the end of their run.
    pub undetected: usize,
    /// `Failed` events about running nodes, summed over runs.
    pub false_failed_events: u64,
    /// Distinct running nodes declared Failed, summed over runs.
    pub live_declared_failed: usize,
    /// Of those, nodes no fault ever targeted.
    pub healthy_declared_failed: usize,
    /// `Suspected` events about running nodes, summed over runs.
    pub suspicions_of_live: u64,
    /// Datagrams per member per period: fault window (steady window
    /// without faults), mean over runs.
    pub datagrams_per_member_period: f64,
    /// Bytes per member per period, same window.
    pub bytes_per_member_period: f64,
    /// KB per member in the 60 s after the first fault, mean over runs.
    pub kb_per_member_after: Option<f64>,
    /// Seconds from the last fault (or heal) until every running node saw
    /// exactly the running set.
    pub healing_s: Option<Spread>,
    /// Runs that never converged after the faults.
    pub not_converged: u64,
    /// Pauses: seconds from the start until Failed everywhere (pauses that
    /// got there).
    pub pause_failed_all_s: Option<Spread>,
    /// Pauses never Failed everywhere.
    pub pauses_not_failed_all: usize,
    /// Pauses: seconds from resuming until alive everywhere.
    pub pause_alive_all_s: Option<Spread>,
    /// Pauses never alive everywhere again.
    pub pauses_not_alive_again: usize,
    /// Restarts: periods until alive everywhere.
    pub restart_alive_periods: Option<Spread>,
    /// Restarts never alive everywhere.
    pub restarts_not_alive: usize,
    /// Leavers some node reported Failed, summed over runs.
    pub leavers_reported_failed: usize,
    /// Broadcasts sent, over all runs.
    pub broadcasts: usize,
    /// Broadcasts `Swim::broadcast` refused.
    pub broadcasts_refused: usize,
    /// Broadcasts that never reached every node running when sent.
    pub broadcasts_not_everywhere: usize,
    /// Seconds until a broadcast reached every node (those that did).
    pub broadcast_all_s: Option<Spread>,
    /// Mean fraction of nodes a broadcast reached by the end.
    pub broadcast_reached: Option<f64>,
    /// Invariant violations, summed over runs.
    pub violations: u64,
    /// The first violations (up to 3), with their seeds.
    pub violation_examples: Vec<String>,
    /// Targets: `(cell, met)`.
    pub verdicts: Vec<(String, bool)>,
    /// Wall seconds spent on the row's runs (summed over threads).
    pub cpu_s: f64,
}

/// The whole matrix.
#[derive(Clone, Debug, Serialize)]
pub struct Matrix {
    /// Quick mode.
    pub quick: bool,
    /// Worker threads.
    pub jobs: usize,
    /// Wall-clock seconds for everything.
    pub wall_s: f64,
    /// Rows in table order.
    pub rows: Vec<Row>,
}

struct Job {
    row: usize,
    seed: u64,
}

struct Plan {
    scenario: Scenario,
    nodes: u32,
    runs: u64,
    duration: f64,
}

/// Runs the matrix; `progress(done, total)` after each run.
pub fn run(opts: &MatrixOptions, progress: impl Fn(usize, usize) + Sync) -> Result<Matrix, String> {
    let wall = std::time::Instant::now();
    let mut plans = Vec::new();
    for (file, text) in SCENARIOS {
        if !opts.only.is_empty() && !opts.only.iter().any(|o| file.contains(o.as_str())) {
            continue;
        }
        let sc = Scenario::parse(text, file)?;
        let sizes = sc
            .matrix
            .as_ref()
            .and_then(|m| m.sizes.clone())
            .unwrap_or(vec![sc.nodes]);
        for nodes in sizes {
            let (runs, duration) = plan(nodes, sc.duration, opts.quick);
            let mut scenario = sc.clone();
            scenario.duration = duration;
            // Large clusters start from a restored member list: a join
            // storm of 1,000 nodes through one seed is not what they measure.
            scenario.bootstrap |= nodes > 300;
            plans.push(Plan {
                scenario,
                nodes,
                runs,
                duration,
            });
        }
    }
    let mut jobs: Vec<Job> = plans
        .iter()
        .enumerate()
        .flat_map(|(row, p)| (0..p.runs).map(move |seed| Job { row, seed }))
        .collect();
    // Biggest first, so the tail of the schedule is short runs.
    jobs.sort_by(|a, b| {
        let cost = |j: &Job| f64::from(plans[j.row].nodes) * plans[j.row].duration;
        cost(b).total_cmp(&cost(a))
    });
    let total = jobs.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Vec<(u64, Report)>>> =
        Mutex::new(plans.iter().map(|_| Vec::new()).collect());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else {
                    return;
                };
                let p = &plans[job.row];
                let mut report = p.scenario.builder_sized(job.seed, p.nodes).build().run();
                report.load_series = Vec::new();
                report.view_samples = Vec::new();
                if let Ok(mut r) = results.lock() {
                    r[job.row].push((job.seed, report));
                }
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            });
        }
    });
    let results = results
        .into_inner()
        .map_err(|_| "a worker panicked".to_string())?;
    let rows = plans
        .iter()
        .zip(results)
        .map(|(p, mut reports)| {
            reports.sort_by_key(|(seed, _)| *seed);
            summarise(p, &reports)
        })
        .collect();
    Ok(Matrix {
        quick: opts.quick,
        jobs: opts.jobs,
        wall_s: wall.elapsed().as_secs_f64(),
        rows,
    })
}

fn summarise(p: &Plan, reports: &[(u64, Report)]) -> Row {
    let sc = &p.scenario;
    let all = |f: &dyn Fn(&Report) -> Vec<f64>| -> Vec<f64> {
        reports.iter().flat_map(|(_, r)| f(r)).collect()
    };
    let sum = |f: &dyn Fn(&Report) -> u64| -> u64 { reports.iter().map(|(_, r)| f(r)).sum() };
    let mean = |f: &dyn Fn(&Report) -> f64| -> f64 {
        reports.iter().map(|(_, r)| f(r)).sum::<f64>() / reports.len().max(1) as f64
    };
    let window = |r: &Report| r.fault_load.as_ref().map_or(&r.load, |f| &f.window).clone();
    let any_faults = reports.iter().any(|(_, r)| r.fault_load.is_some());
    let period = reports.first().map_or(1.0, |(_, r)| r.period_s);
    let mut examples = Vec::new();
    for (seed, r) in reports {
        for v in r.violation_list.iter().take(3) {
            if examples.len() < 3 {
                examples.push(format!("seed {seed}: {v}"));
            }
        }
    }
    let pauses: Vec<_> = reports.iter().flat_map(|(_, r)| r.pauses.iter()).collect();
    let restarts: Vec<_> = reports
        .iter()
        .flat_map(|(_, r)| r.restarts.iter())
        .collect();
    let casts: Vec<_> = reports
        .iter()
        .flat_map(|(_, r)| r.broadcasts.iter())
        .collect();
    let mut row = Row {
        row: sc
            .matrix
            .as_ref()
            .map_or_else(|| sc.name.clone(), |m| m.row.clone()),
        file: sc.name.clone(),
        nodes: p.nodes,
        runs: reports.len() as u64,
        duration_s: p.duration,
        crashes: reports.iter().map(|(_, r)| r.detection.crashed).sum(),
        first_failed_s: Spread::of(all(&|r| {
            r.detection
                .crashes
                .iter()
                .filter_map(|c| c.first_failed_s)
                .collect()
        })),
        all_failed_s: Spread::of(all(&|r| {
            r.detection
                .crashes
                .iter()
                .filter_map(|c| c.all_failed_s)
                .collect()
        })),
        undetected: reports.iter().map(|(_, r)| r.detection.undetected).sum(),
        false_failed_events: sum(&|r| r.false_positives.failed_events_about_live),
        live_declared_failed: reports
            .iter()
            .map(|(_, r)| r.false_positives.distinct_live_declared_failed)
            .sum(),
        healthy_declared_failed: reports
            .iter()
            .map(|(_, r)| r.false_positives.healthy_declared_failed)
            .sum(),
        suspicions_of_live: sum(&|r| r.false_positives.suspected_events_about_live),
        datagrams_per_member_period: mean(&|r| window(r).datagrams_per_member_per_period),
        bytes_per_member_period: mean(&|r| window(r).bytes_per_member_per_period),
        kb_per_member_after: any_faults.then(|| {
            mean(&|r| {
                r.fault_load
                    .as_ref()
                    .map_or(0.0, |f| f.bytes_per_member_after)
            }) / 1000.0
        }),
        healing_s: Spread::of(all(&|r| {
            if r.fault_load.is_some() {
                r.convergence.seconds_after_heal.into_iter().collect()
            } else {
                Vec::new()
            }
        })),
        not_converged: sum(&|r| u64::from(r.fault_load.is_some() && !r.convergence.converged)),
        pause_failed_all_s: Spread::of(pauses.iter().filter_map(|p| p.failed_all_s).collect()),
        pauses_not_failed_all: pauses.iter().filter(|p| p.failed_all_s.is_none()).count(),
        pause_alive_all_s: Spread::of(pauses.iter().filter_map(|p| p.alive_all_s).collect()),
        pauses_not_alive_again: pauses.iter().filter(|p| p.alive_all_s.is_none()).count(),
        restart_alive_periods: Spread::of(
            restarts
                .iter()
                .filter_map(|r| r.all_live_s.map(|s| s / period))
                .collect(),
        ),
        restarts_not_alive: restarts.iter().filter(|r| r.all_live_s.is_none()).count(),
        leavers_reported_failed: reports
            .iter()
            .map(|(_, r)| r.false_positives.leavers_reported_failed)
            .sum(),
        broadcasts: casts.len(),
        broadcasts_refused: casts.iter().filter(|b| !b.accepted).count(),
        broadcasts_not_everywhere: casts.iter().filter(|b| b.all_s.is_none()).count(),
        broadcast_all_s: Spread::of(casts.iter().filter_map(|b| b.all_s).collect()),
        broadcast_reached: (!casts.is_empty()).then(|| {
            casts
                .iter()
                .map(|b| b.reached as f64 / b.of.max(1) as f64)
                .sum::<f64>()
                / casts.len() as f64
        }),
        violations: sum(&|r| r.violations),
        violation_examples: examples,
        verdicts: Vec::new(),
        cpu_s: reports.iter().map(|(_, r)| r.wall_seconds).sum(),
    };
    row.verdicts = verdicts(&row, &sc.targets);
    row
}

/// Compares a row with its targets.
fn verdicts(row: &Row, t: &Targets) -> Vec<(String, bool)> {
    let mut v = Vec::new();
    let mut check = |cell: &str, met: bool| v.push((cell.to_string(), met));
    if let Some(x) = t.all_failed_median_s {
        check(
            "all_failed",
            row.all_failed_s.is_some_and(|s| s.median <= x) && row.undetected == 0,
        );
    }
    if let Some(x) = t.all_failed_max_s {
        let med_ok = t
            .all_failed_median_s
            .is_none_or(|m| row.all_failed_s.is_some_and(|s| s.median <= m));
        check(
            "all_failed",
            med_ok && row.all_failed_s.is_some_and(|s| s.max <= x) && row.undetected == 0,
        );
    }
    if t.all_detected == Some(true) {
        check("undetected", row.undetected == 0 && row.crashes > 0);
    }
    if let Some(x) = t.false_failed_events {
        check("false_failed", row.false_failed_events <= x);
    }
    if let Some(x) = t.healthy_declared_failed {
        check("declared", row.healthy_declared_failed as u64 <= x);
    }
    if let Some(x) = t.datagrams_per_member_period {
        check("datagrams", row.datagrams_per_member_period <= x);
    }
    if let Some(x) = t.bytes_per_member_period {
        check("bytes", row.bytes_per_member_period <= x);
    }
    if let Some(x) = t.kb_per_member_after {
        check("after", row.kb_per_member_after.is_some_and(|kb| kb <= x));
    }
    if let Some(x) = t.pause_failed_all_within_s {
        check(
            "pause_failed",
            row.pauses_not_failed_all == 0 && row.pause_failed_all_s.is_some_and(|s| s.max <= x),
        );
    }
    if let Some(x) = t.pause_alive_all_within_s {
        check(
            "pause_alive",
            row.pauses_not_alive_again == 0 && row.pause_alive_all_s.is_some_and(|s| s.max <= x),
        );
    }
    if let Some(x) = t.restart_alive_within_periods {
        check(
            "restart",
            row.restarts_not_alive == 0 && row.restart_alive_periods.is_none_or(|s| s.max <= x),
        );
    }
    if let Some(x) = t.leavers_reported_failed {
        check("leavers", row.leavers_reported_failed as u64 <= x);
    }
    if let Some(x) = t.broadcasts_reach_all_within_s {
        check(
            "broadcast",
            row.broadcasts > 0
                && row.broadcasts_refused == 0
                && row.broadcasts_not_everywhere == 0
                && row.broadcast_all_s.is_some_and(|s| s.max <= x),
        );
    }
    check("violations", row.violations == 0);
    // Two targets on one cell (median and max): the cell is met when both are.
    let mut merged: Vec<(String, bool)> = Vec::new();
    for (cell, met) in v {
        match merged.iter_mut().find(|(c, _)| *c == cell) {
            Some(m) => m.1 &= met,
            None => merged.push((cell, met)),
        }
    }
    merged
}

fn spread(s: Option<Spread>) -> String {
    s.map_or_else(
        || "—".into(),
        |s| format!("{:.1} / {:.1} / {:.1}", s.median, s.p90, s.max),
    )
}

impl Row {
    fn mark(&self, cell: &str, text: String) -> String {
        self.mark_all(&[cell], text)
    }

    /// Marks `text` met when every target of `cells` is met.
    fn mark_all(&self, cells: &[&str], text: String) -> String {
        let mut found = self
            .verdicts
            .iter()
            .filter(|(c, _)| cells.contains(&c.as_str()));
        let first = found.next();
        match first.map(|f| f.1 && found.all(|v| v.1)) {
            Some(true) => format!("{text} ✓"),
            Some(false) => format!("**{text} ✗**"),
            None => text,
        }
    }

    /// Row-specific figures (pauses, restarts, leaves).
    fn other(&self) -> String {
        let mut parts = Vec::new();
        if self.pause_failed_all_s.is_some() || self.pauses_not_failed_all > 0 {
            let n = self.pauses_not_failed_all + self.pause_failed_all_s.map_or(0, |s| s.n);
            let failed = format!(
                "pauses: {n}; Failed everywhere after {} s ({} never)",
                spread(self.pause_failed_all_s),
                self.pauses_not_failed_all
            );
            let alive = format!(
                "alive everywhere {} s after resuming ({} never)",
                spread(self.pause_alive_all_s),
                self.pauses_not_alive_again
            );
            parts.push(self.mark("pause_failed", failed));
            parts.push(self.mark("pause_alive", alive));
        }
        if self.restart_alive_periods.is_some() || self.restarts_not_alive > 0 {
            let n = self.restarts_not_alive + self.restart_alive_periods.map_or(0, |s| s.n);
            parts.push(self.mark(
                "restart",
                format!(
                    "restarts: {n}; alive everywhere after {} periods ({} never)",
                    spread(self.restart_alive_periods),
                    self.restarts_not_alive
                ),
            ));
        }
        if self.verdicts.iter().any(|(c, _)| c == "leavers") || self.leavers_reported_failed > 0 {
            parts.push(self.mark(
                "leavers",
                format!("leavers reported Failed: {}", self.leavers_reported_failed),
            ));
        }
        if self.broadcasts > 0 {
            parts.push(self.mark(
                "broadcast",
                format!(
                    "broadcasts: {}, {} refused; everywhere after {} s ({} never; {:.1}% of nodes reached on average)",
                    self.broadcasts,
                    self.broadcasts_refused,
                    spread(self.broadcast_all_s),
                    self.broadcasts_not_everywhere,
                    self.broadcast_reached.unwrap_or(0.0) * 100.0
                ),
            ));
        }
        parts.join("; ")
    }
}

impl Matrix {
    /// The table (Markdown) followed by the violations found.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| scenario | N | runs × s | first Failed (s) med / p90 / max | Failed everywhere (s) med / p90 / max | false Failed events | live nodes declared Failed (healthy) | suspicions of live nodes | datagrams / member / period | B / member / period | KB / member, 60 s after fault | healing (s) med / p90 / max | violations | more |"
        );
        let _ = writeln!(
            s,
            "|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|"
        );
        for r in &self.rows {
            let detection = if r.crashes > 0 {
                spread(r.all_failed_s)
                    + &if r.undetected > 0 {
                        format!(" ({} undetected)", r.undetected)
                    } else {
                        String::new()
                    }
            } else {
                "—".into()
            };
            let healing = spread(r.healing_s)
                + &if r.not_converged > 0 {
                    format!(" ({} runs never)", r.not_converged)
                } else {
                    String::new()
                };
            let _ =
                writeln!(
                s,
                "| {} | {} | {} × {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.row,
                r.nodes,
                r.runs,
                r.duration_s,
                if r.crashes > 0 { spread(r.first_failed_s) } else { "—".into() },
                r.mark_all(&["all_failed", "undetected"], detection),
                r.mark("false_failed", r.false_failed_events.to_string()),
                r.mark(
                    "declared",
                    format!("{} ({})", r.live_declared_failed, r.healthy_declared_failed)
                ),
                r.suspicions_of_live,
                r.mark("datagrams", format!("{:.2}", r.datagrams_per_member_period)),
                r.mark("bytes", format!("{:.0}", r.bytes_per_member_period)),
                r.mark(
                    "after",
                    r.kb_per_member_after.map_or("—".into(), |kb| format!("{kb:.1}"))
                ),
                healing,
                r.mark("violations", r.violations.to_string()),
                r.other(),
            );
        }
        let met: usize = self
            .rows
            .iter()
            .map(|r| r.verdicts.iter().filter(|v| v.1).count())
            .sum();
        let all: usize = self.rows.iter().map(|r| r.verdicts.len()).sum();
        let _ = writeln!(s, "\nTargets met: {met} of {all}.");
        let examples: Vec<String> = self
            .rows
            .iter()
            .flat_map(|r| {
                r.violation_examples
                    .iter()
                    .map(move |e| format!("- {} (N={}): {e}", r.file, r.nodes))
            })
            .collect();
        if !examples.is_empty() {
            let _ = writeln!(s, "\nFirst invariant violations per row:\n");
            for e in examples {
                let _ = writeln!(s, "{e}");
            }
        }
        s
    }

    /// The matrix as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_scenarios_parse() {
        for (file, text) in SCENARIOS {
            let sc = Scenario::parse(text, file).unwrap_or_else(|e| panic!("{e}"));
            assert!(sc.matrix.is_some(), "{file} has no [matrix] section");
        }
    }

    #[test]
    fn spreads() {
        let s = Spread::of((1..=10).map(f64::from).collect()).unwrap();
        assert_eq!((s.median, s.p90, s.max, s.n), (5.5, 9.0, 10.0, 10));
        assert_eq!(Spread::of(Vec::new()), None);
    }
}

//! Human-facing output: the terminal summary and the `--report DIR`
//! directory (`summary.md` plus SVG plots).

use crate::svg::{render, Chart, Series};
use crate::Report;
use std::fmt::Write;
use std::path::Path;

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{v:.2} s"))
}

impl Report {
    /// A readable multi-line summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let d = &self.detection;
        let _ = writeln!(
            s,
            "{} nodes, seed {}, {:.0} simulated s in {:.1} wall s ({} events, trace {:016x})",
            self.nodes,
            self.seed,
            self.sim_seconds,
            self.wall_seconds,
            self.events,
            self.trace_hash
        );
        let _ = writeln!(
            s,
            "detection    {} crashed: first suspect {} · first Failed {} · Failed at every live node {} (max {}) · undetected {}",
            d.crashed,
            opt(d.first_suspect_median_s),
            opt(d.first_failed_median_s),
            opt(d.all_failed_median_s),
            opt(d.all_failed_max_s),
            d.undetected
        );
        let fp = &self.false_positives;
        let _ = writeln!(
            s,
            "false pos.   {} Failed events about live members ({} distinct members, {} never targeted by a fault); {} Suspected events about live members; {} suspicions, {} refutations (stats)",
            fp.failed_events_about_live,
            fp.distinct_live_declared_failed,
            fp.healthy_declared_failed,
            fp.suspected_events_about_live,
            self.suspicions,
            self.refutations
        );
        if fp.failed_events_about_leavers > 0 || fp.left_events_about_running > 0 {
            let _ = writeln!(
                s,
                "leaves       {} Failed events about leavers ({} distinct leavers); {} Left events about running members",
                fp.failed_events_about_leavers, fp.leavers_reported_failed, fp.left_events_about_running
            );
        }
        let l = &self.load;
        let _ = writeln!(
            s,
            "load         {:.2} datagrams and {:.1} bytes per member per period (window {:.0}–{:.0} s{}), largest datagram {} B",
            l.datagrams_per_member_per_period,
            l.bytes_per_member_per_period,
            l.window_s.0,
            l.window_s.1,
            if l.window_has_faults { ", with faults" } else { "" },
            l.max_datagram_bytes
        );
        if let Some(f) = &self.fault_load {
            let w = &f.window;
            let _ = writeln!(
                s,
                "fault load   {:.2} datagrams and {:.1} bytes per member per period (window {:.0}–{:.0} s); {:.1} KB and {:.0} datagrams per member in the {:.0} s after the first fault",
                w.datagrams_per_member_per_period,
                w.bytes_per_member_per_period,
                w.window_s.0,
                w.window_s.1,
                f.bytes_per_member_after / 1000.0,
                f.datagrams_per_member_after,
                f.after_s
            );
        }
        let _ = writeln!(
            s,
            "network      {} datagrams sent, {} lost (iid), {} lost inbound, {} blocked by partitions, {} on flapping links, {} to down nodes, {} dropped by full pause buffers",
            l.datagrams_total, l.lost, l.lost_inbound, l.blocked, l.link_down, l.to_down_nodes, l.pause_dropped
        );
        if let (Some(d), Some(t)) = (self.slow_datagram_lag, self.slow_timer_lag) {
            let _ = writeln!(
                s,
                "slow nodes   realised lag: datagrams mean {:.2} s (max {:.2} s, {} handled), timers mean {:.2} s (max {:.2} s, {} wake-ups)",
                d.mean_s, d.max_s, d.events, t.mean_s, t.max_s, t.events
            );
        }
        if !self.pauses.is_empty() {
            let failed: Vec<f64> = self.pauses.iter().filter_map(|p| p.failed_all_s).collect();
            let alive: Vec<f64> = self.pauses.iter().filter_map(|p| p.alive_all_s).collect();
            let max = |v: &[f64]| v.iter().copied().reduce(f64::max);
            let _ = writeln!(
                s,
                "pauses       {}: {} Failed everywhere (latest {} after the start), {} alive everywhere again (latest {} after resuming)",
                self.pauses.len(),
                failed.len(),
                opt(max(&failed)),
                alive.len(),
                opt(max(&alive))
            );
        }
        if !self.restarts.is_empty() {
            let alive: Vec<f64> = self.restarts.iter().filter_map(|r| r.all_live_s).collect();
            let _ = writeln!(
                s,
                "restarts     {}: {} alive everywhere (latest {} after the restart)",
                self.restarts.len(),
                alive.len(),
                opt(alive.iter().copied().reduce(f64::max))
            );
        }
        if let Some(r) = self.dissemination_rounds {
            let _ = writeln!(
                s,
                "dissemination one update reached 99.9% of live nodes in {r:.1} periods"
            );
        }
        let c = &self.convergence;
        let _ = writeln!(
            s,
            "convergence  {} ({} after the last heal/fault; first agreement at {}){}",
            if c.converged {
                "converged"
            } else {
                "NOT converged"
            },
            opt(c.seconds_after_heal),
            opt(c.first_converged_s),
            if c.converged_at_end {
                ""
            } else {
                "; views still differ at the end"
            }
        );
        for d in &c.disagreements {
            let _ = writeln!(s, "  {d}");
        }
        let _ = writeln!(s, "invariants   {} violations", self.violations);
        for v in self.violation_list.iter().take(10) {
            let _ = writeln!(s, "  {v}");
        }
        s
    }

    /// The report as one JSON object (`--json`): every field but the
    /// per-second series.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// `Err` with the violations listed when any checker fired.
    pub fn check(&self) -> Result<(), String> {
        if self.violations == 0 {
            return Ok(());
        }
        let mut s = format!("{} invariant violations:\n", self.violations);
        for v in self.violation_list.iter().take(20) {
            let _ = writeln!(s, "  {v}");
        }
        Err(s)
    }

    /// The live-member count each node sees over time.
    pub fn convergence_chart(&self) -> Chart {
        let samples = &self.view_samples;
        let tracked = samples.first().map_or(0, |s| s.tracked.len());
        let mut series: Vec<Series> = (0..tracked)
            .map(|i| Series {
                label: if i == 0 {
                    "individual nodes".into()
                } else {
                    String::new()
                },
                opacity: 0.35,
                width: 1.0,
                ..Series::line(
                    "",
                    "#6a51a3",
                    samples
                        .iter()
                        .filter(|s| s.tracked[i] > 0)
                        .map(|s| (s.t, f64::from(s.tracked[i])))
                        .collect(),
                )
            })
            .collect();
        series.push(Series::line(
            "median node",
            "#08519c",
            samples.iter().map(|s| (s.t, f64::from(s.median))).collect(),
        ));
        series.push(Series {
            dashed: true,
            ..Series::line(
                "truth (nodes alive)",
                "black",
                samples.iter().map(|s| (s.t, f64::from(s.truth))).collect(),
            )
        });
        Chart {
            title: format!(
                "Live members seen by each node ({} nodes, seed {})",
                self.nodes, self.seed
            ),
            x_label: "simulated time (s)".into(),
            y_label: "live members in the node's view".into(),
            band: Some((
                "min–max over all nodes".into(),
                samples
                    .iter()
                    .map(|s| (s.t, f64::from(s.min), f64::from(s.max)))
                    .collect(),
            )),
            series,
            y_floor: Some(0.0),
            empty_note: None,
        }
    }

    /// CDF of detection latencies over all crashes.
    pub fn detection_chart(&self) -> Chart {
        let cdf = |f: fn(&crate::CrashRecord) -> Option<f64>| -> Vec<(f64, f64)> {
            let mut v: Vec<f64> = self.detection.crashes.iter().filter_map(f).collect();
            v.sort_by(f64::total_cmp);
            let n = self.detection.crashes.len().max(1) as f64;
            let mut pts = vec![(0.0, 0.0)];
            pts.extend(v.iter().enumerate().map(|(i, &x)| (x, (i + 1) as f64 / n)));
            if pts.len() == 1 {
                return Vec::new();
            }
            pts
        };
        let step = |label: &str, color: &'static str, pts| Series {
            steps: true,
            ..Series::line(label, color, pts)
        };
        Chart {
            title: format!(
                "Crash detection latency, CDF over {} crashes",
                self.detection.crashed
            ),
            x_label: "seconds after the crash".into(),
            y_label: "fraction of crashes".into(),
            series: vec![
                step(
                    "first Suspect anywhere",
                    "#fdae6b",
                    cdf(|c| c.first_suspect_s),
                ),
                step(
                    "first Failed anywhere",
                    "#e6550d",
                    cdf(|c| c.first_failed_s),
                ),
                step(
                    "Failed at every live node",
                    "#a50f15",
                    cdf(|c| c.all_failed_s),
                ),
            ],
            band: None,
            y_floor: Some(0.0),
            empty_note: Some("no crashes in this run".into()),
        }
    }

    fn per_member_period(&self, f: fn(&crate::LoadBin) -> u64) -> Vec<(f64, f64)> {
        self.load_series
            .iter()
            .enumerate()
            .filter(|(_, b)| b.running > 0)
            .map(|(i, b)| {
                (
                    i as f64 + 0.5,
                    f(b) as f64 / f64::from(b.running) * self.period_s,
                )
            })
            .collect()
    }

    /// Datagrams per member per period, second by second.
    pub fn load_chart(&self) -> Chart {
        Chart {
            title: "Datagrams sent per member per protocol period".into(),
            x_label: "simulated time (s)".into(),
            y_label: "datagrams / member / period".into(),
            series: vec![Series::line(
                "datagrams",
                "#31a354",
                self.per_member_period(|b| b.datagrams),
            )],
            y_floor: Some(0.0),
            ..Chart::default()
        }
    }

    /// Bytes per member per period, second by second.
    pub fn bytes_chart(&self) -> Chart {
        Chart {
            title: "Bytes sent per member per protocol period".into(),
            x_label: "simulated time (s)".into(),
            y_label: "bytes / member / period".into(),
            series: vec![Series::line(
                "bytes",
                "#756bb1",
                self.per_member_period(|b| b.bytes),
            )],
            y_floor: Some(0.0),
            ..Chart::default()
        }
    }

    /// False positives second by second: `Failed` and `Suspected` events
    /// about running members.
    pub fn false_positives_chart(&self) -> Chart {
        let series = |f: fn(&crate::LoadBin) -> u64| -> Vec<(f64, f64)> {
            self.load_series
                .iter()
                .enumerate()
                .map(|(i, b)| (i as f64 + 0.5, f(b) as f64))
                .collect()
        };
        Chart {
            title: "False positives: events about running members, per second".into(),
            x_label: "simulated time (s)".into(),
            y_label: "events / s (all observers)".into(),
            series: vec![
                Series::line(
                    "Failed about a running member",
                    "#a50f15",
                    series(|b| b.false_failed),
                ),
                Series::line(
                    "Suspected about a running member",
                    "#fdae6b",
                    series(|b| b.false_suspected),
                ),
            ],
            y_floor: Some(0.0),
            ..Chart::default()
        }
    }

    /// Writes `summary.md` and the SVG plots into `dir` (created if needed).
    pub fn write_dir(&self, dir: &Path, command: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let plots = [
            (
                "convergence.svg",
                "Live members seen by each node",
                self.convergence_chart(),
            ),
            (
                "detection_cdf.svg",
                "Detection latency (CDF)",
                self.detection_chart(),
            ),
            (
                "datagrams.svg",
                "Datagrams per member per period",
                self.load_chart(),
            ),
            (
                "bytes.svg",
                "Bytes per member per period",
                self.bytes_chart(),
            ),
            (
                "false_positives.svg",
                "False positives over time",
                self.false_positives_chart(),
            ),
        ];
        let mut md = String::new();
        let _ = writeln!(
            md,
            "# swim-sim report\n\n`{command}`\n\n```text\n{}```\n",
            self.summary()
        );
        for (file, title, chart) in &plots {
            std::fs::write(dir.join(file), render(chart))?;
            let _ = writeln!(md, "## {title}\n\n![{title}]({file})\n");
        }
        if !self.detection.crashes.is_empty() {
            let _ = writeln!(md, "## Crashes\n\n| node | crashed at | first Suspect | first Failed | Failed everywhere |\n|---|---|---|---|---|");
            for c in self.detection.crashes.iter().take(100) {
                let _ = writeln!(
                    md,
                    "| {} | {:.1} s | {} | {} | {} |",
                    c.node,
                    c.at_s,
                    opt(c.first_suspect_s),
                    opt(c.first_failed_s),
                    opt(c.all_failed_s)
                );
            }
        }
        let _ = writeln!(md, "\n## JSON\n\n```json\n{}\n```", self.to_json());
        std::fs::write(dir.join("summary.md"), md)
    }
}

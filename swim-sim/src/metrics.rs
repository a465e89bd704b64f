//! What a run measures, gathered in O(1) per event, and the [`Report`] it
//! ends with.

use crate::check::Violation;
use crate::view::Bits;
use crate::NodeId;
use serde::Serialize;

/// Detection timeline of one crash (seconds after the crash).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrashRecord {
    /// The crashed node.
    pub node: NodeId,
    /// When it crashed (seconds since the start).
    pub at_s: f64,
    /// First `Suspected` about it at any node.
    pub first_suspect_s: Option<f64>,
    /// First `Failed` about it at any node.
    pub first_failed_s: Option<f64>,
    /// When no active node (running and not paused) held it live any more.
    pub all_failed_s: Option<f64>,
}

#[derive(Clone, Debug)]
pub(crate) struct OpenCrash {
    pub(crate) node: NodeId,
    pub(crate) at: u64,
    pub(crate) first_suspect: Option<u64>,
    pub(crate) first_failed: Option<u64>,
    pub(crate) all_failed: Option<u64>,
}

#[derive(Clone, Debug)]
pub(crate) struct OpenRestart {
    pub(crate) node: NodeId,
    pub(crate) at: u64,
    pub(crate) all_live: Option<u64>,
}

#[derive(Clone, Debug)]
pub(crate) struct OpenPause {
    pub(crate) node: NodeId,
    pub(crate) at: u64,
    pub(crate) end: u64,
    pub(crate) failed_all: Option<u64>,
    pub(crate) alive_all: Option<u64>,
}

/// One pause (SIGSTOP or GC) and how the cluster saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PauseRecord {
    /// The paused node.
    pub node: NodeId,
    /// Pause start (seconds since the start).
    pub at_s: f64,
    /// Its length in seconds.
    pub len_s: f64,
    /// Seconds after the pause start when no active node (running and not
    /// paused: a paused node's stale view counts again once it resumes)
    /// held it live.
    pub failed_all_s: Option<f64>,
    /// Seconds after it resumed when every other active node (running and
    /// not paused) held it live again.
    pub alive_all_s: Option<f64>,
}

#[derive(Clone, Debug)]
pub(crate) struct OpenBroadcast {
    pub(crate) node: NodeId,
    pub(crate) at: u64,
    pub(crate) bytes: usize,
    pub(crate) accepted: bool,
    pub(crate) reached: Bits,
    pub(crate) target: usize,
    pub(crate) all_at: Option<u64>,
}

/// One application broadcast and how far it got.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BroadcastRecord {
    /// The origin.
    pub node: NodeId,
    /// When it was broadcast (seconds since the start).
    pub at_s: f64,
    /// Payload size.
    pub bytes: usize,
    /// `Swim::broadcast` accepted it.
    pub accepted: bool,
    /// Nodes that delivered it.
    pub reached: usize,
    /// Nodes running (besides the origin) when it was sent.
    pub of: usize,
    /// Seconds until all of those delivered it.
    pub all_s: Option<f64>,
}

/// One restart with fresh state at the same address.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RestartRecord {
    /// The node.
    pub node: NodeId,
    /// When it restarted (seconds since the start).
    pub at_s: f64,
    /// Seconds until every other active node (running and not paused) held
    /// it live.
    pub all_live_s: Option<f64>,
}

/// Realised lag of slow nodes on one lane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Lag {
    /// Events delayed (datagrams handled, timer wake-ups).
    pub events: u64,
    /// Mean lag, seconds.
    pub mean_s: f64,
    /// Largest lag, seconds.
    pub max_s: f64,
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LagSum {
    n: u64,
    sum: u64,
    max: u64,
}

impl LagSum {
    pub(crate) fn add(&mut self, ns: u64) {
        self.n += 1;
        self.sum += ns;
        self.max = self.max.max(ns);
    }
    pub(crate) fn report(&self) -> Option<Lag> {
        (self.n > 0).then(|| Lag {
            events: self.n,
            mean_s: secs(self.sum) / self.n as f64,
            max_s: secs(self.max),
        })
    }
}

/// Load and false positives in one second of simulated time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LoadBin {
    /// Datagrams sent.
    pub datagrams: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Running nodes (sampled).
    pub running: u32,
    /// `Failed` events about running members.
    pub false_failed: u64,
    /// `Suspected` events about running members.
    pub false_suspected: u64,
}

/// Live-member counts across nodes at one instant.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ViewSample {
    /// Seconds since the start.
    pub t: f64,
    /// Nodes that are really live (the truth every view should reach).
    pub truth: u32,
    /// Smallest count of live members (self included) a running node sees.
    pub min: u32,
    /// Median of the same.
    pub median: u32,
    /// Largest of the same.
    pub max: u32,
    /// The counts seen by a fixed handful of tracked nodes (0 when down).
    pub tracked: Vec<u32>,
}

#[derive(Clone, Debug)]
pub(crate) struct Dissemination {
    pub(crate) node: NodeId,
    pub(crate) at: u64,
    pub(crate) reached: Bits,
    pub(crate) target: usize,
    pub(crate) done_at: Option<u64>,
}

/// Everything measured during a run.
#[derive(Clone, Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) load: Vec<LoadBin>,
    pub(crate) max_datagram: usize,
    pub(crate) datagrams_sent: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) lost: u64,
    pub(crate) lost_inbound: u64,
    pub(crate) link_down: u64,
    pub(crate) pause_dropped: u64,
    pub(crate) tampered: u64,
    pub(crate) suspected_about_live: u64,
    pub(crate) leavers_failed: std::collections::BTreeSet<NodeId>,
    pub(crate) restarts: Vec<OpenRestart>,
    pub(crate) pauses: Vec<OpenPause>,
    pub(crate) datagram_lag: LagSum,
    pub(crate) broadcasts: Vec<OpenBroadcast>,
    pub(crate) timer_lag: LagSum,
    pub(crate) blocked: u64,
    pub(crate) held: u64,
    pub(crate) duplicated: u64,
    pub(crate) to_down_nodes: u64,
    pub(crate) unroutable: u64,
    pub(crate) crashes: Vec<OpenCrash>,
    pub(crate) failed_about_live: u64,
    pub(crate) distinct_false: Option<Bits>,
    pub(crate) left_about_running: u64,
    pub(crate) failed_about_leaver: u64,
    pub(crate) left_events: u64,
    pub(crate) suspected_events: u64,
    pub(crate) messages: u64,
    pub(crate) dissemination: Option<Dissemination>,
    pub(crate) samples: Vec<ViewSample>,
    pub(crate) first_converged: Option<u64>,
    pub(crate) converged_after_faults: Option<u64>,
}

impl Metrics {
    pub(crate) fn bin(&mut self, now: u64) -> &mut LoadBin {
        let i = (now / 1_000_000_000) as usize;
        if self.load.len() <= i {
            self.load.resize(i + 1, LoadBin::default());
        }
        &mut self.load[i]
    }

    pub(crate) fn sent(&mut self, now: u64, len: usize) {
        self.datagrams_sent += 1;
        self.bytes_sent += len as u64;
        self.max_datagram = self.max_datagram.max(len);
        let b = self.bin(now);
        b.datagrams += 1;
        b.bytes += len as u64;
    }
}

/// Detection summary over all crashes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Detection {
    /// Crashes in the run.
    pub crashed: usize,
    /// Median seconds to the first `Suspected`.
    pub first_suspect_median_s: Option<f64>,
    /// Median seconds to the first `Failed`.
    pub first_failed_median_s: Option<f64>,
    /// Median seconds until no active node (running and not paused) holds
    /// it live.
    pub all_failed_median_s: Option<f64>,
    /// Largest of those.
    pub all_failed_max_s: Option<f64>,
    /// Crashes some active node still held live at the end.
    pub undetected: usize,
    /// Each crash.
    pub crashes: Vec<CrashRecord>,
}

/// False positives: live members declared Failed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FalsePositives {
    /// `Failed` events about members that were running at the time.
    pub failed_events_about_live: u64,
    /// Distinct running members that some node declared Failed.
    pub distinct_live_declared_failed: usize,
    /// `Left` events about members that never left.
    pub left_events_about_running: u64,
    /// `Failed` events about members that were leaving gracefully (they
    /// should be reported Left).
    pub failed_events_about_leavers: u64,
    /// Distinct leavers some node reported Failed.
    pub leavers_reported_failed: usize,
    /// Distinct running members declared Failed that no node fault (crash,
    /// slow, pause, inbound loss) ever targeted.
    pub healthy_declared_failed: usize,
    /// `Suspected` events about members that were running at the time.
    pub suspected_events_about_live: u64,
}

/// Network load in the steady-state window.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Load {
    /// Datagrams sent per running member per protocol period.
    pub datagrams_per_member_per_period: f64,
    /// Bytes sent per running member per protocol period.
    pub bytes_per_member_per_period: f64,
    /// Largest datagram of the whole run.
    pub max_datagram_bytes: usize,
    /// The window measured, seconds since the start.
    pub window_s: (f64, f64),
    /// Whether faults happened inside the window (no fault-free window).
    pub window_has_faults: bool,
    /// Datagrams sent over the whole run.
    pub datagrams_total: u64,
    /// Datagrams lost to iid loss.
    pub lost: u64,
    /// Datagrams dropped by partitions.
    pub blocked: u64,
    /// Datagrams sent to crashed, left or unknown nodes.
    pub to_down_nodes: u64,
    /// Datagrams lost to a receiver's inbound loss (asymmetric loss).
    pub lost_inbound: u64,
    /// Datagrams dropped by flapping links while down.
    pub link_down: u64,
    /// Datagrams dropped because a paused node's buffer was full.
    pub pause_dropped: u64,
}

/// Load once faults start: the whole fault window, and a fixed window
/// right after the first fault (a short burst must not hide a large total).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FaultLoad {
    /// Per member per period from the first fault until the last one ends
    /// (at least 10 s: an instant fault such as a crash is measured while
    /// it is detected and disseminated; cut at the end of the run).
    pub window: Load,
    /// Length of the fixed window after the first fault, seconds.
    pub after_s: f64,
    /// Bytes sent per running member in that fixed window (total, not a
    /// rate).
    pub bytes_per_member_after: f64,
    /// Datagrams sent per running member in that window.
    pub datagrams_per_member_after: f64,
}

/// Convergence: every live node sees exactly the live set.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Convergence {
    /// Converged after the last fault (sampled) and still converged at the
    /// end of the run.
    pub converged: bool,
    /// Every live node saw exactly the live set at the end of the run.
    pub converged_at_end: bool,
    /// Seconds from the last heal (or, without a heal, the last fault) to
    /// convergence.
    pub seconds_after_heal: Option<f64>,
    /// First time the whole cluster agreed (after the initial joins).
    pub first_converged_s: Option<f64>,
    /// When the views differ at the end: what a few disagreeing nodes hold
    /// wrong (`node 3: 7 Failed@2 (running)`), for diagnosis.
    pub disagreements: Vec<String>,
}

/// The outcome of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Nodes in the run (initial plus join storms).
    pub nodes: usize,
    /// Master seed.
    pub seed: u64,
    /// Simulated seconds.
    pub sim_seconds: f64,
    /// Wall-clock seconds the run took.
    pub wall_seconds: f64,
    /// Protocol period (the probe interval) in seconds.
    pub period_s: f64,
    /// Crash detection.
    pub detection: Detection,
    /// False positives.
    pub false_positives: FalsePositives,
    /// Load in the steady state (before the first fault, or the whole run
    /// after the warm-up when faults leave no quiet window).
    pub load: Load,
    /// Load once faults start (`None` without faults).
    pub fault_load: Option<FaultLoad>,
    /// Pauses and how the cluster saw them.
    pub pauses: Vec<PauseRecord>,
    /// Restarts and how soon every node saw them alive.
    pub restarts: Vec<RestartRecord>,
    /// Application broadcasts and how far they got.
    pub broadcasts: Vec<BroadcastRecord>,
    /// Slow nodes: realised lag of received datagrams (arrival to handling,
    /// FIFO queueing included).
    pub slow_datagram_lag: Option<Lag>,
    /// Slow nodes: realised lag of timer wake-ups (deadline to tick).
    pub slow_timer_lag: Option<Lag>,
    /// Protocol periods for one metadata update to reach 99.9% of the live
    /// nodes (`None`: not measured or not reached).
    pub dissemination_rounds: Option<f64>,
    /// Convergence.
    pub convergence: Convergence,
    /// Invariant violations (all counted, the first 100 kept).
    pub violations: u64,
    /// The first violations.
    pub violation_list: Vec<Violation>,
    /// Hash of every datagram and event in order: equal seeds, equal hashes.
    pub trace_hash: u64,
    /// Simulator events processed.
    pub events: u64,
    /// Per-second load and false positives.
    #[serde(skip)]
    pub load_series: Vec<LoadBin>,
    /// Sampled view sizes.
    #[serde(skip)]
    pub view_samples: Vec<ViewSample>,
    /// Sum of every node's `Stats::suspicions`, `refutations` (alive nodes).
    pub suspicions: u64,
    /// Sum of refutations.
    pub refutations: u64,
}

/// Median of `v` (sorted in place); `None` if empty.
pub(crate) fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

pub(crate) fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

impl Metrics {
    pub(crate) fn detection(&self) -> Detection {
        let rel = |t: Option<u64>, at: u64| t.map(|t| secs(t.saturating_sub(at)));
        let crashes: Vec<CrashRecord> = self
            .crashes
            .iter()
            .map(|c| CrashRecord {
                node: c.node,
                at_s: secs(c.at),
                first_suspect_s: rel(c.first_suspect, c.at),
                first_failed_s: rel(c.first_failed, c.at),
                all_failed_s: rel(c.all_failed, c.at),
            })
            .collect();
        let col = |f: fn(&CrashRecord) -> Option<f64>| -> Vec<f64> {
            crashes.iter().filter_map(f).collect()
        };
        let mut sus = col(|c| c.first_suspect_s);
        let mut fail = col(|c| c.first_failed_s);
        let mut all = col(|c| c.all_failed_s);
        Detection {
            crashed: crashes.len(),
            first_suspect_median_s: median(&mut sus),
            first_failed_median_s: median(&mut fail),
            all_failed_median_s: median(&mut all),
            all_failed_max_s: all.iter().copied().reduce(f64::max),
            undetected: crashes.iter().filter(|c| c.all_failed_s.is_none()).count(),
            crashes,
        }
    }

    /// Datagrams and bytes per running member (mean running count) over
    /// `[from, to)` seconds: totals, not rates.
    pub(crate) fn per_member_total(&self, from: usize, to: usize) -> (f64, f64) {
        let bins = self.load.get(from..to.min(self.load.len())).unwrap_or(&[]);
        let running: f64 =
            bins.iter().map(|b| f64::from(b.running)).sum::<f64>() / bins.len().max(1) as f64;
        let d: u64 = bins.iter().map(|b| b.datagrams).sum();
        let b: u64 = bins.iter().map(|b| b.bytes).sum();
        if running > 0.0 {
            (d as f64 / running, b as f64 / running)
        } else {
            (0.0, 0.0)
        }
    }

    /// Load over `[from, to)` seconds; `period` in seconds.
    pub(crate) fn load(&self, from: usize, to: usize, period: f64, faulty: bool) -> Load {
        let bins = self.load.get(from..to.min(self.load.len())).unwrap_or(&[]);
        let datagrams: u64 = bins.iter().map(|b| b.datagrams).sum();
        let bytes: u64 = bins.iter().map(|b| b.bytes).sum();
        let member_periods: f64 = bins.iter().map(|b| f64::from(b.running) / period).sum();
        let per = |x: u64| {
            if member_periods > 0.0 {
                x as f64 / member_periods
            } else {
                0.0
            }
        };
        Load {
            datagrams_per_member_per_period: per(datagrams),
            bytes_per_member_per_period: per(bytes),
            max_datagram_bytes: self.max_datagram,
            window_s: (from as f64, (from + bins.len()) as f64),
            window_has_faults: faulty,
            datagrams_total: self.datagrams_sent,
            lost: self.lost,
            blocked: self.blocked,
            to_down_nodes: self.to_down_nodes + self.unroutable,
            lost_inbound: self.lost_inbound,
            link_down: self.link_down,
            pause_dropped: self.pause_dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn load_per_member_period() {
        let mut m = Metrics::default();
        for s in 0..4u64 {
            for _ in 0..20 {
                m.sent(s * 1_000_000_000, 50);
            }
            m.bin(s * 1_000_000_000).running = 10;
        }
        let l = m.load(1, 3, 1.0, false);
        assert_eq!(l.datagrams_per_member_per_period, 2.0);
        assert_eq!(l.bytes_per_member_per_period, 100.0);
        assert_eq!(l.window_s, (1.0, 3.0));
    }
}

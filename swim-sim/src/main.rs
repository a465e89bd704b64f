//! `swim-sim`: run SWIM simulations from the command line.
//!
//! ```text
//! swim-sim run --nodes 1000 --duration 90 --seed 7 --crash 10 --crash-at 45 --report out/
//! swim-sim run --scenario swim-sim/scenarios/slow5.toml --seed 3
//! swim-sim run --nodes 50 --event 'at = 30, partition = ["0..10", "rest"], one_way = true'
//! swim-sim matrix --quick
//! swim-sim demo
//! ```

use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use swim_sim::matrix::{self, MatrixOptions};
use swim_sim::scenario::{apply_setting, profile, ChurnSpec, Entry, NodesSpec, RateSpec};
use swim_sim::{without_lifeguard, Progress, Report, Scenario};

#[derive(Parser, Debug)]
#[command(
    name = "swim-sim",
    version,
    about = "Deterministic simulator for the swim SWIM membership protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs one scenario described by a file and/or flags.
    Run(Box<RunArgs>),
    /// The stress matrix: every built-in scenario × sizes × seeds, one
    /// table with each target marked met or missed.
    Matrix(MatrixArgs),
    /// About 1,000 nodes, 1% crash mid-run: a summary and plots in
    /// ./swim-sim-report/.
    Demo {
        /// Nodes.
        #[arg(long, default_value_t = 1000)]
        nodes: u32,
        /// Master seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where the report goes.
        #[arg(long, default_value = "swim-sim-report")]
        report: PathBuf,
    },
}

#[derive(Args, Debug)]
struct MatrixArgs {
    /// Fewer seeds, shorter large runs (CI).
    #[arg(long)]
    quick: bool,
    /// Prints the matrix as JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Also writes the table with the command, machine and run time to
    /// this Markdown file (e.g. swim-sim/MATRIX.md).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Only scenarios whose file name contains this (repeatable).
    #[arg(long)]
    only: Vec<String>,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
}

/// Which nodes: a count chosen from the seed (`3`), a percentage (`5%`),
/// or ids (`0..10`, `1,4,7`).
fn nodes_spec(s: &str) -> Result<NodesSpec, String> {
    let spec = match s.trim().parse::<usize>() {
        Ok(k) => NodesSpec::Count(k),
        Err(_) => NodesSpec::Text(s.to_string()),
    };
    spec.pick()?;
    Ok(spec)
}

/// A rate per minute (`4`) or a percentage of the nodes per minute (`2%`).
fn rate_spec(s: &str) -> Result<RateSpec, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r >= 0.0 => Ok(RateSpec::PerMin(r)),
        Ok(_) => Err("a rate is >= 0".into()),
        Err(_) if s.trim().ends_with('%') => Ok(RateSpec::Text(s.to_string())),
        Err(_) => Err(format!("{s:?}: expected a number per minute or N%")),
    }
}

#[derive(Args, Debug)]
struct RunArgs {
    /// A scenario file (TOML; see swim-sim/scenarios/). Flags add to it or
    /// override it.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Nodes at the start (default 100, or the scenario's).
    #[arg(long)]
    nodes: Option<u32>,
    /// Simulated seconds (default 60, or the scenario's).
    #[arg(long)]
    duration: Option<f64>,
    /// Master seed (default: $SWIM_SEED, else 1).
    #[arg(long)]
    seed: Option<u64>,
    /// iid datagram loss probability from the start, 0..1.
    #[arg(long)]
    loss: Option<f64>,
    /// One-way latency range in ms, MIN..MAX (default 1..5).
    #[arg(long, value_parser = parse_range)]
    latency_ms: Option<(f64, f64)>,
    /// Probability that a datagram is delivered twice.
    #[arg(long)]
    duplicate: Option<f64>,
    /// Probability that a datagram is held back (reordered).
    #[arg(long)]
    reorder: Option<f64>,
    /// Largest extra delay of a reordered datagram (ms).
    #[arg(long, default_value_t = 50.0)]
    reorder_ms: f64,
    /// Nodes to crash: a count, N% (a mass crash) or ids.
    #[arg(long, value_parser = nodes_spec)]
    crash: Option<NodesSpec>,
    /// When they crash (s; default: half the run).
    #[arg(long)]
    crash_at: Option<f64>,
    /// A 50/50 partition starts (s).
    #[arg(long)]
    partition_at: Option<f64>,
    /// The partition heals (s).
    #[arg(long)]
    heal_at: Option<f64>,
    /// With --partition-at: only the first half's datagrams to the second
    /// are dropped.
    #[arg(long)]
    one_way: bool,
    /// Slow nodes (both lanes: datagrams and timers late): count, N% or ids.
    #[arg(long, value_parser = nodes_spec)]
    slow: Option<NodesSpec>,
    /// Largest lag of a slow node per event (ms; uniform in [0, this]).
    #[arg(long, default_value_t = 1000.0)]
    slow_ms: f64,
    /// When nodes turn slow (s; default: after the warm-up).
    #[arg(long)]
    slow_at: Option<f64>,
    /// When slow nodes recover (s; default: never).
    #[arg(long)]
    slow_until: Option<f64>,
    /// GC pauses on these nodes (count, N% or ids).
    #[arg(long, value_parser = nodes_spec)]
    gc: Option<NodesSpec>,
    /// Length of each GC pause (s).
    #[arg(long, default_value_t = 3.0)]
    gc_pause: f64,
    /// Run time between GC pauses, MIN..MAX s.
    #[arg(long, default_value = "10..30", value_parser = parse_range)]
    gc_run: (f64, f64),
    /// Churn: crashes per minute (N or N% of the nodes); each restarts fresh.
    #[arg(long, value_parser = rate_spec)]
    churn_crash: Option<RateSpec>,
    /// Churn: graceful leaves per minute.
    #[arg(long, value_parser = rate_spec)]
    churn_leave: Option<RateSpec>,
    /// Churn: new joins per minute.
    #[arg(long, value_parser = rate_spec)]
    churn_join: Option<RateSpec>,
    /// Churn: seconds from a crash to its restart.
    #[arg(long, default_value_t = 10.0)]
    churn_restart: f64,
    /// Flapping links: this fraction of all node pairs (down U[1,5] s, up
    /// U[5,20] s, repeatedly).
    #[arg(long)]
    flap: Option<f64>,
    /// Asymmetric loss: this fraction of inbound datagrams is lost at
    /// --inbound-nodes.
    #[arg(long, requires = "inbound_nodes")]
    inbound_loss: Option<f64>,
    /// The nodes that lose inbound datagrams (count, N% or ids).
    #[arg(long, value_parser = nodes_spec)]
    inbound_nodes: Option<NodesSpec>,
    /// When GC pauses, churn, flapping and inbound loss start (s; default:
    /// after the warm-up).
    #[arg(long)]
    faults_at: Option<f64>,
    /// When they stop (s; default: 80% of the run, leaving time to converge).
    #[arg(long)]
    faults_until: Option<f64>,
    /// Any timeline entry, in the scenario file's syntax (repeatable):
    /// `at = 30, pause = [3], pause_s = 5`, `at = 20, hold = ["0..5",
    /// "5..10"]`, `at = 25, release = ["0..5", "5..10"]`, `at = 40,
    /// restart = [3]`, `at = 45, leave = 2`, `at = 50, join = 20`,
    /// `at = 30, partition = ["0..10", "rest"], one_way = true`.
    #[arg(long, value_name = "ENTRY")]
    event: Vec<String>,
    /// Protocol profile: lan, wan, local (default lan, or the scenario's).
    #[arg(long)]
    profile: Option<String>,
    /// Switches every Lifeguard mechanism off (plain SWIM).
    #[arg(long)]
    no_lifeguard: bool,
    /// Overrides a protocol setting, e.g. `--set suspicion_mult=1.5`
    /// (repeatable). Fields: probe_interval, probe_timeout, gossip_interval,
    /// sync_interval, reconnect_interval (seconds); indirect_checks,
    /// suspicion_mult, suspicion_max_mult, suspicion_confirmations,
    /// retransmit_mult, gossip_fanout, awareness_max.
    #[arg(long, value_name = "FIELD=VALUE")]
    set: Vec<String>,
    /// Start every node at once already knowing the others (a restored
    /// member list) instead of joining through node 0: for large N.
    #[arg(long)]
    bootstrap: bool,
    /// One node changes its metadata at this time (s), to measure
    /// dissemination (default without a scenario file: in the quiet time
    /// before the first fault).
    #[arg(long)]
    disseminate_at: Option<f64>,
    /// Window over which the initial nodes join (s; default 1 ms per node).
    #[arg(long)]
    join_spread: Option<f64>,
    /// Prints one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
    /// Writes summary.md and SVG plots into this directory.
    #[arg(long)]
    report: Option<PathBuf>,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
}

fn parse_range(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s.split_once("..").ok_or("expected MIN..MAX")?;
    let a: f64 = a.trim().parse().map_err(|e| format!("{e}"))?;
    let b: f64 = b.trim().parse().map_err(|e| format!("{e}"))?;
    if a < 0.0 || b < a {
        return Err("need 0 <= MIN <= MAX".into());
    }
    Ok((a, b))
}

/// The scenario the flags describe (on top of `--scenario` if given).
fn scenario(a: &RunArgs) -> Result<Scenario, String> {
    let mut sc = match &a.scenario {
        Some(path) => Scenario::load(path)?,
        None => {
            let mut sc = Scenario::parse("", "flags")?;
            sc.duration = 60.0;
            sc
        }
    };
    if let Some(n) = a.nodes {
        sc.nodes = n.max(1);
    }
    if let Some(d) = a.duration {
        if !(d > 0.0 && d.is_finite()) {
            return Err("--duration must be > 0".into());
        }
        sc.duration = d;
    }
    if let Some(p) = &a.profile {
        sc.config = profile(p).map_err(|e| format!("--profile: {e}"))?;
    }
    if a.no_lifeguard {
        sc.config = without_lifeguard(sc.config.clone());
    }
    for kv in &a.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or(format!("--set {kv}: expected FIELD=VALUE"))?;
        let v: f64 = v
            .trim()
            .parse()
            .map_err(|_| format!("--set {kv}: {v:?} is not a number"))?;
        apply_setting(&mut sc.config, k, v).map_err(|e| format!("--set {kv}: {e}"))?;
    }
    sc.bootstrap |= a.bootstrap;
    if let Some(j) = a.join_spread {
        sc.join_spread = Some(j);
    }
    if let Some(p) = a.loss {
        sc.net.loss = Some(p);
    }
    if let Some((lo, hi)) = a.latency_ms {
        sc.net.latency_ms = Some([lo, hi]);
    }
    if let Some(p) = a.duplicate {
        sc.net.duplicate = Some(p);
    }
    if let Some(p) = a.reorder {
        sc.net.reorder = Some(p);
        sc.net.reorder_ms = Some(a.reorder_ms);
    }
    let warmup = sc
        .warmup
        .unwrap_or(f64::from(sc.nodes.saturating_sub(1)) / 1000.0 + 15.0);
    let (from, until) = (
        a.faults_at.unwrap_or(warmup),
        a.faults_until.unwrap_or(sc.duration * 0.8),
    );
    let mut entries = Vec::new();
    if let Some(c) = &a.crash {
        entries.push(Entry {
            at: a.crash_at.unwrap_or(sc.duration / 2.0),
            crash: Some(c.clone()),
            ..Entry::default()
        });
    }
    if let Some(p) = a.partition_at {
        let half = sc.nodes / 2;
        let sides = [
            NodesSpec::Text(format!("0..{half}")),
            NodesSpec::Text("rest".into()),
        ];
        entries.push(Entry {
            at: p,
            until: a.heal_at,
            partition: Some(sides),
            one_way: a.one_way.then_some(true),
            ..Entry::default()
        });
    }
    if let Some(n) = &a.slow {
        entries.push(Entry {
            at: a.slow_at.unwrap_or(warmup),
            until: a.slow_until,
            slow: Some(n.clone()),
            slow_ms: Some(a.slow_ms),
            ..Entry::default()
        });
    }
    if let Some(n) = &a.gc {
        entries.push(Entry {
            at: from,
            until: Some(until),
            gc: Some(n.clone()),
            run_s: Some([a.gc_run.0, a.gc_run.1]),
            pause_s: Some(a.gc_pause),
            ..Entry::default()
        });
    }
    if a.churn_crash.is_some() || a.churn_leave.is_some() || a.churn_join.is_some() {
        entries.push(Entry {
            at: from,
            until: Some(until),
            churn: Some(ChurnSpec {
                crashes_per_min: a.churn_crash.clone(),
                restart_after_s: Some(a.churn_restart),
                leaves_per_min: a.churn_leave.clone(),
                joins_per_min: a.churn_join.clone(),
            }),
            ..Entry::default()
        });
    }
    if let Some(f) = a.flap {
        entries.push(Entry {
            at: from,
            until: Some(until),
            flapping: Some(f),
            ..Entry::default()
        });
    }
    if let Some(p) = a.inbound_loss {
        entries.push(Entry {
            at: from,
            until: Some(until),
            inbound_loss: Some(p),
            nodes: a.inbound_nodes.clone(),
            ..Entry::default()
        });
    }
    for e in &a.event {
        entries.push(Entry::parse_inline(e).map_err(|e| format!("--event {e}"))?);
    }
    let dissem = a.disseminate_at.or_else(|| {
        let first = entries
            .iter()
            .chain(sc.timeline.iter().map(|(_, e)| e))
            .map(|e| e.at)
            .fold(sc.duration, f64::min);
        let t = (warmup + first) / 2.0;
        (a.scenario.is_none() && t >= warmup + 5.0).then_some(t.round())
    });
    if let Some(t) = dissem {
        entries.push(Entry {
            at: t,
            disseminate: Some(1.min(sc.nodes - 1)),
            ..Entry::default()
        });
    }
    entries.sort_by(|x, y| x.at.total_cmp(&y.at));
    for e in entries {
        sc.push(e)?;
    }
    Ok(sc)
}

fn progress_line(p: Progress) {
    let frac = p.sim.as_secs_f64() / p.total.as_secs_f64().max(1e-9);
    let width = 30;
    let done = ((frac * width as f64) as usize).min(width);
    eprint!(
        "\r[{}{}] {:5.1}/{:.0} s simulated · {} nodes up · {} events ",
        "#".repeat(done),
        " ".repeat(width - done),
        p.sim.as_secs_f64(),
        p.total.as_secs_f64(),
        p.running,
        p.events
    );
    let _ = std::io::stderr().flush();
}

fn run(sc: &Scenario, seed: u64, show_progress: bool) -> Report {
    let sim = sc.builder(seed).build();
    let report = if show_progress {
        sim.run_with_progress(progress_line)
    } else {
        sim.run()
    };
    if show_progress {
        eprintln!();
    }
    report
}

fn fail(msg: &str) -> ! {
    eprintln!("swim-sim: {msg}");
    std::process::exit(2);
}

/// `model name` from /proc/cpuinfo, cores, kernel.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {kernel}")
}

fn matrix_command(m: &MatrixArgs, command_line: &str) {
    let mut opts = MatrixOptions {
        quick: m.quick,
        only: m.only.clone(),
        ..MatrixOptions::default()
    };
    if let Some(j) = m.jobs {
        opts.jobs = j.max(1);
    }
    let quiet = m.quiet;
    let result = matrix::run(&opts, |done, total| {
        if !quiet {
            eprint!("\rmatrix: {done}/{total} runs ");
            let _ = std::io::stderr().flush();
        }
    });
    if !quiet {
        eprintln!();
    }
    let mx = result.unwrap_or_else(|e| fail(&e));
    let table = mx.markdown();
    if m.json {
        println!("{}", mx.to_json());
    } else {
        print!("{table}");
        println!(
            "\n{} runs in {:.0} s wall on {} threads",
            mx.rows.iter().map(|r| r.runs).sum::<u64>(),
            mx.wall_s,
            mx.jobs
        );
    }
    if let Some(out) = &m.out {
        let md = format!(
            "# swim-sim stress matrix\n\n\
             Generated by `{command_line}` (run from the workspace root with \
             `cargo run --release -p swim-sim -- matrix --out swim-sim/MATRIX.md`).\n\n\
             Machine: {}. Wall time: {:.0} s on {} worker threads{}.\n\n\
             {}\n{}",
            machine(),
            mx.wall_s,
            mx.jobs,
            if mx.quick { " (--quick)" } else { "" },
            table,
            matrix::NOTES
        );
        if let Err(e) = std::fs::write(out, md) {
            fail(&format!("cannot write {}: {e}", out.display()));
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let report = match &cli.command {
        Command::Matrix(m) => {
            matrix_command(m, &command_line);
            return;
        }
        Command::Run(a) => {
            let seed = a
                .seed
                .or_else(|| std::env::var("SWIM_SEED").ok()?.parse().ok())
                .unwrap_or(1);
            let sc = scenario(a).unwrap_or_else(|e| fail(&e));
            let report = run(&sc, seed, !a.quiet && !a.json);
            if a.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.summary());
            }
            if let Some(dir) = &a.report {
                if let Err(e) = report.write_dir(dir, &command_line) {
                    fail(&format!(
                        "cannot write the report to {}: {e}",
                        dir.display()
                    ));
                }
                if !a.json {
                    println!("report written to {}/summary.md", dir.display());
                }
            }
            if report.violations > 0 {
                let replay = if a.seed.is_some() {
                    command_line.clone()
                } else {
                    format!("{command_line} --seed {seed}")
                };
                eprintln!("\ninvariant violations; replay with: {replay}");
            }
            report
        }
        Command::Demo {
            nodes,
            seed,
            report: dir,
        } => {
            let nodes = (*nodes).max(10);
            let crash = (nodes as usize).div_ceil(100);
            println!(
                "swim-sim demo: {nodes} nodes on a 1–5 ms LAN (Config::lan, 1 s protocol period), seed {seed}"
            );
            println!("  the nodes join through node 0, settle, then {crash} of them (1%) crash at t=60 s; 120 s simulated\n");
            let args = RunArgs::parse_from_demo(nodes, *seed, crash, dir.clone());
            let sc = scenario(&args).unwrap_or_else(|e| fail(&e));
            let report = run(&sc, *seed, true);
            println!("\n{}", report.summary());
            if let Err(e) = report.write_dir(dir, &command_line) {
                fail(&format!(
                    "cannot write the report to {}: {e}",
                    dir.display()
                ));
            }
            println!(
                "plots: {0}/convergence.svg, {0}/detection_cdf.svg, {0}/datagrams.svg, {0}/bytes.svg, {0}/false_positives.svg; summary: {0}/summary.md",
                dir.display()
            );
            report
        }
    };
    if report.violations > 0 {
        std::process::exit(1);
    }
}

impl RunArgs {
    fn parse_from_demo(nodes: u32, seed: u64, crash: usize, dir: PathBuf) -> RunArgs {
        #[derive(Parser)]
        struct One {
            #[command(flatten)]
            run: RunArgs,
        }
        let mut args = One::parse_from(["demo"]).run;
        args.nodes = Some(nodes);
        args.duration = Some(120.0);
        args.seed = Some(seed);
        args.crash = Some(NodesSpec::Count(crash));
        args.crash_at = Some(60.0);
        args.report = Some(dir);
        args
    }
}

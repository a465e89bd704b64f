//! `swim-sim`: run SWIM simulations from the command line.
//!
//! ```text
//! swim-sim run --nodes 1000 --duration 90 --seed 7 --crash 10 --crash-at 45 --report out/
//! swim-sim demo
//! ```

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use swim_core::Config;
use swim_sim::{without_lifeguard, Builder, Progress, Report};

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
    /// Runs one scenario described by flags.
    Run(RunArgs),
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

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Profile {
    Lan,
    Wan,
    Local,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Nodes at the start.
    #[arg(long, default_value_t = 100)]
    nodes: u32,
    /// Simulated seconds.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Master seed (default: $SWIM_SEED, else 1).
    #[arg(long)]
    seed: Option<u64>,
    /// iid datagram loss probability, 0..1.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// One-way latency range in ms, MIN..MAX.
    #[arg(long, default_value = "1..5", value_parser = parse_range)]
    latency_ms: (f64, f64),
    /// Nodes to crash (chosen from the seed).
    #[arg(long, default_value_t = 0)]
    crash: usize,
    /// When they crash (s).
    #[arg(long)]
    crash_at: Option<f64>,
    /// A 50/50 partition starts (s).
    #[arg(long)]
    partition_at: Option<f64>,
    /// The partition heals (s).
    #[arg(long)]
    heal_at: Option<f64>,
    /// Nodes that handle every received datagram late (chosen from the seed).
    #[arg(long, default_value_t = 0)]
    slow: usize,
    /// How late slow nodes handle datagrams (ms).
    #[arg(long, default_value_t = 1000.0)]
    slow_ms: f64,
    /// When nodes turn slow (s; default: after the warm-up).
    #[arg(long)]
    slow_at: Option<f64>,
    /// Protocol profile.
    #[arg(long, value_enum, default_value_t = Profile::Lan)]
    profile: Profile,
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
    /// dissemination (default: in the quiet time before the first fault).
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

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// Applies one `--set FIELD=VALUE` to `config`, then re-validates it.
fn apply_setting(config: &mut Config, kv: &str) -> Result<(), String> {
    let (k, v) = kv.split_once('=').ok_or("expected FIELD=VALUE")?;
    let f: f64 = v
        .trim()
        .parse()
        .map_err(|_| format!("{v:?} is not a number"))?;
    if !f.is_finite() || f < 0.0 {
        return Err(format!("{v:?} must be a finite number >= 0"));
    }
    let secs = Duration::from_secs_f64(f);
    match k.trim() {
        "probe_interval" => config.probe_interval = secs,
        "probe_timeout" => config.probe_timeout = secs,
        "gossip_interval" => config.gossip_interval = secs,
        "sync_interval" => config.sync_interval = Some(secs),
        "reconnect_interval" => config.reconnect_interval = Some(secs),
        "indirect_checks" => config.indirect_checks = f as usize,
        "suspicion_mult" => config.suspicion_mult = f,
        "suspicion_max_mult" => config.suspicion_max_mult = f,
        "suspicion_confirmations" => config.suspicion_confirmations = f as u32,
        "retransmit_mult" => config.retransmit_mult = f as u32,
        "gossip_fanout" => config.gossip_fanout = f as usize,
        "awareness_max" => config.awareness_max = f as u32,
        other => return Err(format!("unknown field {other:?}")),
    }
    config.validate().map_err(|e| e.to_string())
}

fn builder(a: &RunArgs, seed: u64) -> Builder {
    let mut config = match a.profile {
        Profile::Lan => Config::lan(),
        Profile::Wan => Config::wan(),
        Profile::Local => Config::local(),
    };
    if a.no_lifeguard {
        config = without_lifeguard(config);
    }
    for kv in &a.set {
        if let Err(e) = apply_setting(&mut config, kv) {
            eprintln!("swim-sim: --set {kv}: {e}");
            std::process::exit(2);
        }
    }
    let ms = |v: f64| Duration::from_secs_f64(v / 1000.0);
    let mut b = Builder::new()
        .seed(seed)
        .nodes(a.nodes)
        .config(config)
        .duration(secs(a.duration))
        .latency(ms(a.latency_ms.0), ms(a.latency_ms.1))
        .loss(a.loss);
    b = b.bootstrap(a.bootstrap);
    if let Some(j) = a.join_spread {
        b = b.join_spread(secs(j));
    }
    let warmup = b.sim_config().warmup.as_secs_f64();
    if a.crash > 0 {
        b = b.crash_random(secs(a.crash_at.unwrap_or(a.duration / 2.0)), a.crash);
    }
    if let Some(p) = a.partition_at {
        let half = a.nodes / 2;
        b = b.partition(secs(p), 0..half, half..a.nodes);
        if let Some(h) = a.heal_at {
            b = b.repair(secs(h), 0..half, half..a.nodes);
        }
    }
    if a.slow > 0 {
        b = b.slow_random(secs(a.slow_at.unwrap_or(warmup)), a.slow, ms(a.slow_ms));
    }
    let first_fault = [
        (a.crash > 0).then(|| a.crash_at.unwrap_or(a.duration / 2.0)),
        a.partition_at,
        (a.slow > 0).then(|| a.slow_at.unwrap_or(warmup)),
    ]
    .into_iter()
    .flatten()
    .fold(a.duration, f64::min);
    let at = a.disseminate_at.or_else(|| {
        let t = (warmup + first_fault) / 2.0;
        (t >= warmup + 5.0).then_some(t.round())
    });
    if let Some(t) = at {
        b = b.disseminate(secs(t), 1.min(a.nodes - 1));
    }
    b
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

fn run(b: Builder, show_progress: bool) -> Report {
    let report = if show_progress {
        b.build().run_with_progress(progress_line)
    } else {
        b.build().run()
    };
    if show_progress {
        eprintln!();
    }
    report
}

fn main() {
    let cli = Cli::parse();
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let report = match &cli.command {
        Command::Run(a) => {
            let seed = a
                .seed
                .or_else(|| std::env::var("SWIM_SEED").ok()?.parse().ok())
                .unwrap_or(1);
            let report = run(builder(a, seed), !a.quiet && !a.json);
            if a.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.summary());
            }
            if let Some(dir) = &a.report {
                if let Err(e) = report.write_dir(dir, &command_line) {
                    eprintln!("cannot write the report to {}: {e}", dir.display());
                    std::process::exit(2);
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
            let args = RunArgs {
                nodes,
                duration: 120.0,
                seed: Some(*seed),
                loss: 0.0,
                latency_ms: (1.0, 5.0),
                crash,
                crash_at: Some(60.0),
                partition_at: None,
                heal_at: None,
                slow: 0,
                slow_ms: 0.0,
                slow_at: None,
                profile: Profile::Lan,
                no_lifeguard: false,
                bootstrap: false,
                set: Vec::new(),
                disseminate_at: None,
                join_spread: None,
                json: false,
                report: Some(dir.clone()),
                quiet: false,
            };
            let report = run(builder(&args, *seed), true);
            println!("\n{}", report.summary());
            if let Err(e) = report.write_dir(dir, &command_line) {
                eprintln!("cannot write the report to {}: {e}", dir.display());
                std::process::exit(2);
            }
            println!(
                "plots: {0}/convergence.svg, {0}/detection_cdf.svg, {0}/datagrams.svg, {0}/bytes.svg; summary: {0}/summary.md",
                dir.display()
            );
            report
        }
    };
    if report.violations > 0 {
        std::process::exit(1);
    }
}

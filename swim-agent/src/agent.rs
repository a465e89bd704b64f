//! `swim agent`: one member on a tokio current-thread runtime.

use crate::{control, json, security, AgentArgs, Profile};
use std::io::{IsTerminal, Write};
use std::time::Duration;
use swim_tokio::{meta, Builder, Config, Error, Node};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Why the agent should stop: a signal, or `swim leave` (answered once done).
pub(crate) enum Stop {
    Signal(&'static str),
    Control(oneshot::Sender<()>),
}

pub(crate) fn main(args: AgentArgs) -> Result<(), Box<dyn std::error::Error>> {
    // `RUST_LOG` as `level` or `target=level,...` (no regex engine: a
    // smaller agent). Default: info.
    let filter: Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(filter)
        .init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: AgentArgs) -> Result<(), Box<dyn std::error::Error>> {
    let security = security::from_args(&args)?;
    let mut config = match args.profile {
        Profile::Lan => Config::lan(),
        Profile::Wan => Config::wan(),
        Profile::Local => Config::local(),
    };
    config.facilitator = args.facilitator;
    let pairs = args
        .meta
        .iter()
        .map(|m| meta::parse_pair(m))
        .collect::<Result<Vec<_>, _>>()?;
    let mut builder = Builder::new(config)
        .meta(meta::encode(pairs)?)
        .security(security)
        .event_capacity(4096);
    if let Some(a) = args.advertise {
        builder = builder.advertise(a);
    }
    let node = builder.bind(args.bind.as_str()).await?;
    if args.accept_plaintext {
        tokio::spawn(nag_plaintext(node.clone()));
    }

    // Subscribe before joining so no event is missed.
    let mut events = node.events();
    let printer = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let mut out = std::io::stdout().lock();
            // A closed stdout must not kill the member.
            let _ = writeln!(out, "{}", json::event_line(&event)).and_then(|()| out.flush());
        }
    });

    let (stop_tx, mut stop_rx) = mpsc::channel::<Stop>(4);
    if let Some(path) = &args.control {
        control::serve(path, node.clone(), stop_tx.clone())?;
    }
    spawn_signal(SignalKind::interrupt(), "SIGINT", stop_tx.clone())?;
    spawn_signal(SignalKind::terminate(), "SIGTERM", stop_tx.clone())?;
    if !args.join.is_empty() {
        tokio::spawn(join_until_resolved(node.clone(), args.join.clone()));
    }

    let stop = stop_rx.recv().await;
    match &stop {
        Some(Stop::Signal(name)) => tracing::info!(signal = name, "leaving"),
        Some(Stop::Control(_)) => tracing::info!("leaving on control request"),
        None => {}
    }
    let timeout = Duration::from_secs_f64(args.leave_timeout.max(0.0));
    if let Err(e) = node.leave(timeout).await {
        tracing::warn!(error = %e, "leave failed");
    }
    // The event stream ends once the node stopped: print what is left.
    let _ = printer.await;
    if let Some(path) = &args.control {
        let _ = std::fs::remove_file(path);
    }
    if let Some(Stop::Control(done)) = stop {
        let _ = done.send(());
        // Let the control connection write its answer.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Repeats the plaintext warning every minute while `--accept-plaintext`
/// is on: the switch is meant for minutes, not months.
async fn nag_plaintext(node: Node) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    every.tick().await; // The node warned once when it bound.
    loop {
        every.tick().await;
        if node.is_stopped() {
            return;
        }
        if node.envelope().accept_plaintext {
            tracing::warn!(
                "STILL ACCEPTING PLAINTEXT (--accept-plaintext): unauthenticated datagrams are \
                 accepted; restart without it once every member sends the protected form"
            );
        }
    }
}

fn spawn_signal(
    kind: SignalKind,
    name: &'static str,
    tx: mpsc::Sender<Stop>,
) -> std::io::Result<()> {
    let mut sig = signal(kind)?;
    tokio::spawn(async move {
        while sig.recv().await.is_some() {
            let _ = tx.send(Stop::Signal(name)).await;
        }
    });
    Ok(())
}

/// Joins through the seeds; when no name resolves yet (DNS not ready, a
/// host not up), resolves again with backoff instead of giving up.
async fn join_until_resolved(node: Node, seeds: Vec<String>) {
    let max = node.config().join_retry_max;
    let mut wait = node.config().join_retry_initial;
    loop {
        match node.join(&seeds).await {
            Ok(_) => return,
            Err(Error::NoSeedAddress) => {
                tracing::warn!(?seeds, retry_in = ?wait, "no seed resolved; retrying");
            }
            Err(e) => {
                tracing::warn!(error = %e, "join failed");
                return;
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(max);
    }
}

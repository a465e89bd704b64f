//! `swim agent`: one member on a tokio current-thread runtime.

use crate::cli::{AgentArgs, Profile};
use crate::socket::{self, ControlSocket};
use crate::{control, handler, json, logs, metrics, security};
use serde_json::json;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use swim_tokio::{meta, Builder, Config, Error, Node, State};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};

/// Why the agent should stop: a signal, `swim leave` (answered once done),
/// or a required join that did not happen.
pub(crate) enum Stop {
    Signal(&'static str),
    Control(oneshot::Sender<()>),
    JoinFailed(String),
}

type BoxError = Box<dyn std::error::Error>;

pub(crate) fn main(args: AgentArgs) -> Result<(), BoxError> {
    let tee = logs::init()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args, tee))
}

/// Refuses seeds that can never work: another address family than the
/// agent's, or the agent's own address. (Host names are resolved later,
/// keeping only the agent's family.)
pub(crate) fn check_seeds(local: SocketAddr, seeds: &[String]) -> Result<(), String> {
    for seed in seeds {
        let Ok(addr) = seed.parse::<SocketAddr>() else {
            continue;
        };
        if addr.is_ipv4() != local.is_ipv4() {
            return Err(format!(
                "--join {seed}: an {} seed for an {} agent ({local}); use a seed of the same family",
                if addr.is_ipv4() { "IPv4" } else { "IPv6" },
                if local.is_ipv4() { "IPv4" } else { "IPv6" },
            ));
        }
        if addr == local {
            return Err(format!("--join {seed}: that is this agent's own address"));
        }
    }
    Ok(())
}

async fn run(args: AgentArgs, tee: logs::LogTee) -> Result<(), BoxError> {
    let security = security::from_args(&args)?;
    // Seeds that can never work are refused before anything is bound.
    let identity = args.advertise.or_else(|| {
        args.bind
            .parse::<SocketAddr>()
            .ok()
            .filter(|a| !a.ip().is_unspecified() && a.port() != 0)
    });
    if let Some(me) = identity {
        check_seeds(me, &args.join)?;
    }
    let mut config = match args.profile {
        Profile::Lan => Config::lan(),
        Profile::Wan => Config::wan(),
        Profile::Local => Config::local(),
    };
    config.facilitator = args.facilitator;
    let meta = meta::encode(args.meta.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| format!("--meta: {e}"))?;
    if meta.len() > config.max_meta_size {
        return Err(format!(
            "--meta: {} bytes of metadata; at most {}",
            meta.len(),
            config.max_meta_size
        )
        .into());
    }
    let mut builder = Builder::new(config)
        .meta(meta)
        .security(security)
        .event_capacity(4096);
    if let Some(a) = args.advertise {
        builder = builder.advertise(a);
    }
    let node = builder
        .bind(args.bind.as_str())
        .await
        .map_err(|e| match e {
            Error::Io(io) => format!("--bind {}: {io}", args.bind),
            Error::NeedAdvertise(_) => format!(
                "--bind {}: a wildcard address needs --advertise ADDR (the address peers reach)",
                args.bind
            ),
            other => format!("--bind {}: {other}", args.bind),
        })?;
    let local = node.local_addr();
    check_seeds(local, &args.join)?;

    // The control socket, created with its final permissions; removed on
    // every way out of this function (ControlSocket's Drop).
    let mut control_socket: Option<ControlSocket> = None;
    let mut listener = None;
    if !args.no_control {
        let path = socket::agent_path(args.control.as_deref(), local.port())?;
        let (sock, l) = ControlSocket::create(&path)?;
        tracing::info!(path = %path.display(), "control socket");
        control_socket = Some(sock);
        listener = Some(l);
    }
    let metrics_server = match args.metrics {
        Some(addr) => Some(
            metrics::serve(addr, node.clone())
                .await
                .map_err(|e| format!("--metrics {addr}: {e}"))?,
        ),
        None => None,
    };

    if args.accept_plaintext {
        tokio::spawn(nag_plaintext(node.clone()));
    }

    // Subscribe before joining so no event is missed.
    let mut events = node.events();
    let handler = args.event_handler.clone().map(handler::spawn);
    let printer = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            {
                let mut out = std::io::stdout().lock();
                // A closed stdout must not kill the member.
                let _ = writeln!(out, "{}", json::event_line(&event)).and_then(|()| out.flush());
            }
            if let Some(h) = &handler {
                let (name, member, user, bytes) = json::event_parts(&event);
                let job = handler::Job {
                    event: name.to_owned(),
                    member: member.to_string(),
                    user_event: user.map(str::to_owned),
                    stdin: bytes.to_vec(),
                };
                if h.try_send(job).is_err() {
                    tracing::warn!(event = name, "event handler queue full; event skipped");
                }
            }
        }
    });

    let (stop_tx, mut stop_rx) = mpsc::channel::<Stop>(4);
    if let (Some(l), Some(sock)) = (listener, &control_socket) {
        let info = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "control": sock.path().display().to_string(),
            "bind": args.bind,
            "profile": format!("{:?}", args.profile).to_lowercase(),
            "metrics": args.metrics.map(|a| a.to_string()),
        });
        control::serve(
            l,
            control::Shared {
                node: node.clone(),
                stop: stop_tx.clone(),
                logs: tee,
                info: Arc::new(info),
            },
        )?;
    }
    spawn_signal(SignalKind::interrupt(), "SIGINT", stop_tx.clone())?;
    spawn_signal(SignalKind::terminate(), "SIGTERM", stop_tx.clone())?;
    if !args.join.is_empty() {
        tokio::spawn(join_until_resolved(node.clone(), args.join.clone()));
        tokio::spawn(watch_join(
            node.clone(),
            args.join.clone(),
            args.join_timeout,
            args.join_required,
            stop_tx.clone(),
        ));
    }

    let stop = stop_rx.recv().await;
    let mut failure = None;
    match &stop {
        Some(Stop::Signal(name)) => tracing::info!(signal = name, "leaving"),
        Some(Stop::Control(_)) => tracing::info!("leaving on control request"),
        Some(Stop::JoinFailed(why)) => failure = Some(why.clone()),
        None => {}
    }
    if failure.is_some() {
        node.shutdown().await;
    } else if let Err(e) = node.leave(args.leave_timeout).await {
        tracing::warn!(error = %e, "leave failed");
    }
    // The event stream ends once the node stopped: print what is left.
    let _ = printer.await;
    if let Some(m) = metrics_server {
        m.abort();
    }
    drop(control_socket);
    if let Some(Stop::Control(done)) = stop {
        let _ = done.send(());
        // Let the control connection write its answer.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match failure {
        Some(why) => Err(why.into()),
        None => Ok(()),
    }
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

/// After `timeout`, warns when no member is alive yet (no seed answered);
/// with `required`, stops the agent with an error.
async fn watch_join(
    node: Node,
    seeds: Vec<String>,
    timeout: Duration,
    required: bool,
    stop: mpsc::Sender<Stop>,
) {
    tokio::time::sleep(timeout).await;
    let joined = node.members().iter().any(|m| m.state == State::Alive);
    if joined || node.is_stopped() {
        return;
    }
    let why = format!(
        "--join {}: no seed answered within {:?} (--join-timeout)",
        seeds.join(", "),
        timeout
    );
    if required {
        tracing::error!("{why}; exiting (--join-required)");
        let _ = stop.send(Stop::JoinFailed(why)).await;
    } else {
        tracing::warn!("{why}; still trying");
    }
}

//! `swim agent --metrics ADDR`: OpenMetrics text on `GET /metrics`
//! (`prometheus-client` encodes it). The numbers are read from the node at
//! each scrape (`Node::stats`, `io_stats`, `health_score`, `members`): the
//! library exposes them, the agent only exports them. An embedder does the
//! same with its own registry (see [`registry`]).
//!
//! The HTTP side is deliberately tiny: one request per connection, a head
//! of at most 8 KiB read within 5 s, at most 8 connections at once.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use swim_tokio::{Node, State};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

const MAX_HEAD: usize = 8 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CONNECTIONS: usize = 8;

fn counter(reg: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter<u64> = Counter::default();
    c.inc_by(value);
    reg.register(name, help, c);
}

fn gauge(reg: &mut Registry, name: &str, help: &str, value: i64) {
    let g: Gauge<i64> = Gauge::default();
    g.set(value);
    reg.register(name, help, g);
}

/// A registry holding the node's numbers as they are now, under the
/// `swim_` prefix: members by state, health score, protocol counters and
/// socket errors.
pub fn registry(node: &Node) -> Registry {
    let mut reg = Registry::with_prefix("swim");
    let members: Family<Vec<(String, String)>, Gauge<i64>> = Family::default();
    let mut counts = [0i64; 4];
    for m in node.members() {
        let i = match m.state {
            State::Alive => 0,
            State::Suspect => 1,
            State::Failed => 2,
            State::Left => 3,
        };
        if let Some(c) = counts.get_mut(i) {
            *c = c.saturating_add(1);
        }
    }
    for (name, n) in ["alive", "suspect", "failed", "left"].iter().zip(counts) {
        members
            .get_or_create(&vec![("state".to_owned(), (*name).to_owned())])
            .set(n);
    }
    reg.register(
        "members",
        "Known members other than this one, by state",
        members,
    );
    gauge(
        &mut reg,
        "health_score",
        "Lifeguard local health score (0 = healthy)",
        i64::from(node.health_score()),
    );
    let s = node.stats();
    let io = node.io_stats();
    for (name, help, v) in [
        (
            "datagrams_received",
            "Datagrams received",
            s.datagrams_received,
        ),
        ("bytes_received", "Bytes received", s.bytes_received),
        ("datagrams_sent", "Datagrams sent", s.datagrams_sent),
        ("bytes_sent", "Bytes sent", s.bytes_sent),
        (
            "decode_errors",
            "Datagrams that failed to decode",
            s.decode_errors,
        ),
        (
            "datagrams_dropped",
            "Datagrams dropped",
            s.datagrams_dropped,
        ),
        ("probes", "Direct probes sent", s.probes),
        (
            "indirect_probes",
            "Indirect probes (ping-req) sent",
            s.indirect_probes,
        ),
        ("probes_failed", "Probes that got no ack", s.probes_failed),
        (
            "nacks_received",
            "Lifeguard nacks received",
            s.nacks_received,
        ),
        ("nacks_sent", "Lifeguard nacks sent", s.nacks_sent),
        ("suspicions", "Members this node suspected", s.suspicions),
        (
            "refutations",
            "Times this node refuted a suspicion of itself",
            s.refutations,
        ),
        (
            "update_queue_drops",
            "Membership updates dropped from a full queue",
            s.update_queue_drops,
        ),
        (
            "broadcast_queue_drops",
            "Broadcasts dropped from a full queue",
            s.broadcast_queue_drops,
        ),
        (
            "member_table_full",
            "Members refused because the table was full",
            s.member_table_full,
        ),
        ("relay_drops", "Relays dropped", s.relay_drops),
        (
            "updates_rejected",
            "Membership claims rejected",
            s.updates_rejected,
        ),
        ("joins_sent", "Join requests sent", s.joins_sent),
        ("syncs", "Push-pull state syncs", s.syncs),
        ("reaped", "Failed or left members forgotten", s.reaped),
        (
            "not_allowed",
            "Datagrams refused by the allow-list",
            s.not_allowed,
        ),
        (
            "envelope_rejected",
            "Datagrams refused by the label / encryption envelope",
            s.envelope_rejected,
        ),
        (
            "send_errors",
            "Datagrams the socket refused to send",
            io.send_errors,
        ),
        ("recv_errors", "Errors reading the socket", io.recv_errors),
    ] {
        counter(&mut reg, name, help, v);
    }
    reg
}

/// The text of one scrape.
pub fn render(node: &Node) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &registry(node));
    out
}

/// Binds `addr` and serves scrapes until aborted.
pub(crate) async fn serve(addr: SocketAddr, node: Node) -> std::io::Result<JoinHandle<()>> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "metrics on http://{addr}/metrics");
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    Ok(tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                continue; // Dropped: the client retries.
            };
            let node = node.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(READ_TIMEOUT, answer(conn, &node)).await;
                drop(permit);
            });
        }
    }))
}

async fn answer(mut conn: TcpStream, node: &Node) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return respond(
                &mut conn,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            )
            .await;
        }
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if method != b"GET" {
        return respond(
            &mut conn,
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n",
        )
        .await;
    }
    if target != b"/metrics" {
        return respond(&mut conn, "404 Not Found", "text/plain", "try /metrics\n").await;
    }
    let body = render(node);
    respond(
        &mut conn,
        "200 OK",
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        &body,
    )
    .await
}

async fn respond(
    conn: &mut TcpStream,
    status: &str,
    kind: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body.as_bytes()).await?;
    conn.shutdown().await
}

//! The agent's side of the control socket: bounded connections, bounded
//! request lines, one JSON answer per request (see [`crate::request`] for
//! the requests and [`crate::socket`] for who may connect).

use crate::agent::Stop;
use crate::logs::LogTee;
use crate::request::{self, user_event, Request};
use crate::{json, security};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use swim_tokio::{meta, Node, State};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Connections served at once; more are answered with an error and closed.
pub(crate) const MAX_CONNECTIONS: usize = 16;
/// A connection that sends no complete request for this long is closed.
pub(crate) const IDLE: Duration = Duration::from_secs(60);

/// What every connection needs.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) node: Node,
    pub(crate) stop: mpsc::Sender<Stop>,
    pub(crate) logs: LogTee,
    pub(crate) info: Arc<Value>,
}

/// Serves requests on `listener` until the runtime stops.
pub(crate) fn serve(
    listener: std::os::unix::net::UnixListener,
    shared: Shared,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = UnixListener::from_std(listener)?;
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((conn, _)) => match Arc::clone(&permits).try_acquire_owned() {
                    Ok(permit) => {
                        let shared = shared.clone();
                        tokio::spawn(async move {
                            handle(conn, shared).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        tracing::warn!(
                            limit = MAX_CONNECTIONS,
                            "control connection refused: too many"
                        );
                        let line = format!(
                            "{}\n",
                            json!({ "error": format!("too many control connections (at most {MAX_CONNECTIONS})") })
                        );
                        // Best effort, never blocking the accept loop.
                        let _ = conn.try_write(line.as_bytes());
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(())
}

/// Reads one line of at most [`request::MAX_LINE`] bytes: `None` at the
/// end, `Some(Err(()))` when the line is longer.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Result<(), ()>>> {
    buf.clear();
    let limit = u64::try_from(request::MAX_LINE)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let n = (&mut *reader).take(limit).read_until(b'\n', buf).await?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Some(Ok(())));
    }
    if buf.len() > request::MAX_LINE {
        return Ok(Some(Err(())));
    }
    Ok(Some(Ok(())))
}

async fn handle(conn: UnixStream, shared: Shared) {
    let (read, mut write) = conn.into_split();
    let mut reader = BufReader::new(read);
    let mut buf = Vec::new();
    loop {
        let line = match tokio::time::timeout(IDLE, read_line(&mut reader, &mut buf)).await {
            Ok(Ok(Some(Ok(())))) => buf.as_slice(),
            Ok(Ok(Some(Err(())))) => {
                let msg =
                    json!({ "error": format!("request longer than {} bytes", request::MAX_LINE) });
                let _ = write.write_all(format!("{msg}\n").as_bytes()).await;
                security::wipe(&mut buf);
                return;
            }
            _ => {
                security::wipe(&mut buf);
                return;
            }
        };
        let parsed = match core::str::from_utf8(line) {
            Ok(text) => request::parse(text),
            Err(_) => Err("bad request: not UTF-8".to_owned()),
        };
        // The line may have carried a key (key-add).
        security::wipe(&mut buf);
        let answer = match parsed {
            Ok(Request::Monitor { logs }) => {
                monitor(&shared, logs, &mut write).await;
                return;
            }
            Ok(req) => answer(&shared, req).await,
            Err(e) => json!({ "error": e }),
        };
        let mut out = answer.to_string();
        out.push('\n');
        if write.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn answer(shared: &Shared, req: Request) -> Value {
    let node = &shared.node;
    let result: Result<Value, String> = match req {
        Request::Members => {
            let local = json::member(&node.local());
            let members: Vec<Value> = node.members().iter().map(json::member).collect();
            Ok(json!({ "local": local, "members": members }))
        }
        Request::Stats => Ok(json::stats(
            &node.stats(),
            &node.io_stats(),
            node.health_score(),
        )),
        Request::Info => Ok(info(shared)),
        Request::Leave => {
            let (tx, rx) = oneshot::channel();
            let _ = shared.stop.send(Stop::Control(tx)).await;
            let _ = rx.await;
            Ok(json!({ "ok": true }))
        }
        Request::Join { addrs } => match crate::agent::check_seeds(node.local_addr(), &addrs) {
            Err(e) => Err(e),
            Ok(()) => node
                .join(&addrs)
                .await
                .map(|n| json!({ "ok": true, "seeds": n }))
                .map_err(|e| format!("join {}: {e}", addrs.join(", "))),
        },
        Request::ForceLeave { addr } => Err(match node.members().iter().find(|m| m.addr == addr) {
            None => format!("force-leave {addr}: no such member"),
            Some(m) if m.state != State::Failed => format!(
                "force-leave {addr}: the member is {}, not failed",
                json::state_name(m.state)
            ),
            Some(_) => format!(
                "force-leave {addr}: not supported by this swim-core (it has no way to mark a \
                 failed member left); nothing changed"
            ),
        }),
        Request::Tags { set, delete } => tags(node, set, delete).await,
        Request::Event { name, payload } => node
            .broadcast(user_event::encode(&name, payload.as_bytes()))
            .await
            .map(|()| json!({ "ok": true }))
            .map_err(|e| format!("event {name}: {e}")),
        Request::Broadcast { text } => node
            .broadcast(text.into())
            .await
            .map(|()| json!({ "ok": true }))
            .map_err(|e| e.to_string()),
        Request::Keys => Ok(keys(node)),
        Request::KeyAdd { mut key } => {
            let parsed = security::parse_key_text(&key);
            security::wipe_string(&mut key);
            parsed.and_then(|k| {
                node.add_key(k)
                    .map(|id| json!({ "ok": true, "id": id.to_string() }))
                    .map_err(|e| e.to_string())
            })
        }
        Request::KeyUse { id } => node
            .use_key(id)
            .map(|()| json!({ "ok": true, "id": id.to_string() }))
            .map_err(|e| e.to_string()),
        Request::KeyRemove { id } => node
            .remove_key(id)
            .map(|()| json!({ "ok": true, "id": id.to_string() }))
            .map_err(|e| e.to_string()),
        Request::Monitor { .. } => Err("monitor is served on its own".into()),
    };
    result.unwrap_or_else(|e| json!({ "error": e }))
}

/// `tags`: edits the local `key=value` metadata and announces it.
async fn tags(
    node: &Node,
    set: Vec<(String, String)>,
    delete: Vec<String>,
) -> Result<Value, String> {
    let current = node.local().meta;
    let mut pairs: Vec<(String, String)> = match meta::decode(&current) {
        Some(p) => p
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        None => {
            return Err("the agent's metadata is not key=value text; tags cannot edit it".into())
        }
    };
    pairs.retain(|(k, _)| !delete.contains(k));
    for (k, v) in set {
        match pairs.iter_mut().find(|(key, _)| *key == k) {
            Some(slot) => slot.1 = v,
            None => pairs.push((k, v)),
        }
    }
    let bytes = meta::encode(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| e.to_string())?;
    let max = node.config().max_meta_size;
    if bytes.len() > max {
        return Err(format!(
            "tags: {} bytes of metadata; at most {max}",
            bytes.len()
        ));
    }
    node.set_meta(bytes)
        .await
        .map_err(|e| format!("tags: {e}"))?;
    let obj: serde_json::Map<String, Value> = pairs
        .into_iter()
        .map(|(k, v)| (k, Value::from(v)))
        .collect();
    Ok(json!({ "ok": true, "tags": obj }))
}

/// `info`: a summary for people and scripts.
fn info(shared: &Shared) -> Value {
    let node = &shared.node;
    let mut counts = serde_json::Map::new();
    for s in [State::Alive, State::Suspect, State::Failed, State::Left] {
        counts.insert(json::state_name(s).into(), json!(0u64));
    }
    for m in node.members() {
        if let Some(Value::Number(n)) = counts.get_mut(json::state_name(m.state)) {
            *n = (n.as_u64().unwrap_or(0).saturating_add(1)).into();
        }
    }
    let c = node.config();
    json!({
        "local": json::member(&node.local()),
        "members": counts,
        "health_score": node.health_score(),
        "stats": json::stats(&node.stats(), &node.io_stats(), node.health_score()),
        "keys": keys(node),
        "config": {
            "probe_interval_ms": c.probe_interval.as_millis(),
            "probe_timeout_ms": c.probe_timeout.as_millis(),
            "indirect_checks": c.indirect_checks,
            "suspicion_mult": c.suspicion_mult,
            "retransmit_mult": c.retransmit_mult,
            "gossip_interval_ms": c.gossip_interval.as_millis(),
            "gossip_fanout": c.gossip_fanout,
            "max_packet_size": c.max_packet_size,
            "max_members": c.max_members,
            "retention_ms": c.retention.as_millis(),
            "facilitator": c.facilitator,
        },
        "agent": *shared.info,
    })
}

/// `{"primary":"<id>"|null,"keys":["<id>",..],"label":..,"accept_plaintext":..,
/// "send_plaintext":..}`: key ids only, never keys.
fn keys(node: &Node) -> Value {
    let envelope = node.envelope();
    let ids: Vec<String> = node.keys().iter().map(ToString::to_string).collect();
    json!({
        "primary": ids.first(),
        "keys": ids,
        "label": envelope.label.as_ref().map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned()),
        "accept_plaintext": envelope.accept_plaintext,
        "send_plaintext": envelope.send_plaintext,
    })
}

/// `monitor`: `{"ok":true}`, then one line per event (as the agent prints
/// them), `{"log":".."}` per log line with `logs`, and `{"missed":N}` when
/// this subscriber fell behind, until the agent stops or the client goes.
async fn monitor(shared: &Shared, logs: bool, write: &mut tokio::net::unix::OwnedWriteHalf) {
    let mut events = shared.node.events();
    let mut log_rx = logs.then(|| shared.logs.subscribe());
    if write.write_all(b"{\"ok\":true}\n").await.is_err() {
        return;
    }
    let mut missed = 0;
    loop {
        let line = tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => json::event_line(&ev),
                None => return,
            },
            log = async {
                match log_rx.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => match log {
                Ok(l) => json!({ "log": &*l }).to_string(),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => json!({ "missed_logs": n }).to_string(),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    log_rx = None;
                    continue;
                }
            },
        };
        let mut out = String::new();
        if events.missed() > missed {
            out.push_str(&json!({ "missed": events.missed() - missed }).to_string());
            out.push('\n');
            missed = events.missed();
        }
        out.push_str(&line);
        out.push('\n');
        if write.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

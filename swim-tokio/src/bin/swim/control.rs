//! The agent's unix control socket: one JSON request per line, one JSON
//! answer per line. Requests: `{"cmd":"members"}`, `{"cmd":"stats"}`, `{"cmd":"leave"}`,
//! `{"cmd":"broadcast","text":"..."}`.

use crate::agent::Stop;
use crate::json;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;
use swim_tokio::Node;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as TokioBufReader};
use tokio::net::{UnixListener, UnixStream as TokioUnixStream};
use tokio::sync::{mpsc, oneshot};

type BoxError = Box<dyn std::error::Error>;

/// Listens on `path` (replacing a stale socket file) and serves requests.
pub(crate) fn serve(path: &Path, node: Node, stop: mpsc::Sender<Stop>) -> std::io::Result<()> {
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((conn, _)) => {
                    tokio::spawn(handle(conn, node.clone(), stop.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(())
}

async fn handle(conn: TokioUnixStream, node: Node, stop: mpsc::Sender<Stop>) {
    let (read, mut write) = conn.into_split();
    let mut lines = TokioBufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let answer = match serde_json::from_str::<Value>(&line) {
            Ok(req) => match req["cmd"].as_str() {
                Some("members") => {
                    let local = json::member(&node.local());
                    let members: Vec<Value> = node.members().iter().map(json::member).collect();
                    json!({ "local": local, "members": members })
                }
                Some("stats") => json::stats(&node.stats(), &node.io_stats(), node.health_score()),
                Some("leave") => {
                    let (tx, rx) = oneshot::channel();
                    let _ = stop.send(Stop::Control(tx)).await;
                    let _ = rx.await;
                    json!({ "ok": true })
                }
                Some("broadcast") => {
                    let text = req["text"].as_str().unwrap_or_default().to_owned();
                    match node.broadcast(text.into()).await {
                        Ok(()) => json!({ "ok": true }),
                        Err(e) => json!({ "error": e.to_string() }),
                    }
                }
                _ => json!({ "error": "unknown cmd" }),
            },
            Err(e) => json!({ "error": format!("bad request: {e}") }),
        };
        let mut out = answer.to_string();
        out.push('\n');
        if write.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn request(path: &Path, req: &Value) -> Result<Value, BoxError> {
    let mut conn = UnixStream::connect(path)
        .map_err(|e| format!("cannot reach the agent at {}: {e}", path.display()))?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    writeln!(conn, "{req}")?;
    let mut line = String::new();
    BufReader::new(conn).read_line(&mut line)?;
    let answer: Value = serde_json::from_str(&line)?;
    if let Some(e) = answer["error"].as_str() {
        return Err(e.into());
    }
    Ok(answer)
}

/// `swim members`.
pub(crate) fn members(path: &Path, as_json: bool) -> Result<(), BoxError> {
    let answer = request(path, &json!({ "cmd": "members" }))?;
    if as_json {
        println!("{answer}");
        return Ok(());
    }
    let mut rows = vec![answer["local"].clone()];
    rows.extend(answer["members"].as_array().cloned().unwrap_or_default());
    println!(
        "{:<40} {:<8} {:>11}  META",
        "ADDRESS", "STATE", "INCARNATION"
    );
    for row in rows {
        let meta = match row["meta"].as_object() {
            Some(m) => m
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(","),
            None => format!("hex:{}", row["meta_hex"].as_str().unwrap_or_default()),
        };
        println!(
            "{:<40} {:<8} {:>11}  {}",
            row["addr"].as_str().unwrap_or_default(),
            row["state"].as_str().unwrap_or_default(),
            row["incarnation"],
            meta
        );
    }
    Ok(())
}

/// `swim leave`.
pub(crate) fn leave(path: &Path) -> Result<(), BoxError> {
    request(path, &json!({ "cmd": "leave" }))?;
    println!("left");
    Ok(())
}

/// `swim broadcast`.
pub(crate) fn broadcast(path: &Path, text: &str) -> Result<(), BoxError> {
    request(path, &json!({ "cmd": "broadcast", "text": text }))?;
    Ok(())
}

/// `swim stats`.
pub(crate) fn stats(path: &Path) -> Result<(), BoxError> {
    let answer = request(path, &json!({ "cmd": "stats" }))?;
    println!("{answer}");
    Ok(())
}

//! The agent's unix control socket: one JSON request per line, one JSON
//! answer per line. Requests: `{"cmd":"members"}`, `{"cmd":"stats"}`, `{"cmd":"leave"}`,
//! `{"cmd":"broadcast","text":"..."}`, and key rotation: `{"cmd":"keys"}`,
//! `{"cmd":"key-add","key":"<hex|base64>"}`, `{"cmd":"key-use","id":"<8 hex>"}`,
//! `{"cmd":"key-remove","id":"<8 hex>"}`. Failures answer `{"error":"..."}`.
//!
//! The socket file is made owner-only (0600): whoever can connect can make
//! the agent leave or change its keys.

use crate::agent::Stop;
use crate::json;
use crate::security;
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
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
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
    while let Ok(Some(mut line)) = lines.next_line().await {
        let answer = match serde_json::from_str::<Value>(&line) {
            Ok(mut req) => match req["cmd"].as_str() {
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
                Some("keys") => keys(&node),
                Some("key-add") => key_add(&node, &mut req),
                Some("key-use") => key_edit(&node, &req, "key-use"),
                Some("key-remove") => key_edit(&node, &req, "key-remove"),
                _ => json!({ "error": "unknown cmd" }),
            },
            Err(e) => json!({ "error": format!("bad request: {e}") }),
        };
        // The line may have carried a key (key-add).
        security::wipe_string(&mut line);
        let mut out = answer.to_string();
        out.push('\n');
        if write.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
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

/// Rotation step 1: `{"ok":true,"id":"<id>"}`.
fn key_add(node: &Node, req: &mut Value) -> Value {
    let Some(Value::String(mut text)) = req.get_mut("key").map(Value::take) else {
        return json!({ "error": "key-add needs \"key\": 64 hex digits or base64 of 32 bytes" });
    };
    let key = security::parse_key_text(&text);
    security::wipe_string(&mut text);
    let key = match key {
        Ok(k) => k,
        Err(e) => return json!({ "error": e }),
    };
    match node.add_key(key) {
        Ok(id) => json!({ "ok": true, "id": id.to_string() }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// Rotation steps 2 (`key-use`) and 3 (`key-remove`).
fn key_edit(node: &Node, req: &Value, cmd: &str) -> Value {
    let Some(text) = req["id"].as_str() else {
        return json!({ "error": format!("{cmd} needs \"id\": 8 hex digits") });
    };
    let id = match security::parse_key_id(text) {
        Ok(id) => id,
        Err(e) => return json!({ "error": e }),
    };
    let done = if cmd == "key-use" {
        node.use_key(id)
    } else {
        node.remove_key(id)
    };
    match done {
        Ok(()) => json!({ "ok": true, "id": id.to_string() }),
        Err(e) => json!({ "error": e.to_string() }),
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

/// `swim keys list`: one id per line, the primary marked.
pub(crate) fn keys_list(path: &Path, as_json: bool) -> Result<(), BoxError> {
    let answer = request(path, &json!({ "cmd": "keys" }))?;
    if as_json {
        println!("{answer}");
        return Ok(());
    }
    let ids = answer["keys"].as_array().cloned().unwrap_or_default();
    if ids.is_empty() {
        println!("no keyring (plaintext or label only)");
    }
    for (i, id) in ids.iter().enumerate() {
        let id = id.as_str().unwrap_or_default();
        if i == 0 {
            println!("{id} primary");
        } else {
            println!("{id}");
        }
    }
    if answer["accept_plaintext"] == true {
        println!("warning: the agent accepts plaintext (--accept-plaintext)");
    }
    Ok(())
}

/// `swim keys add`: reads and checks the key locally, prints its id.
pub(crate) fn keys_add(path: &Path, key_file: &Path) -> Result<(), BoxError> {
    // Checked here for a clear error naming the file; the agent parses the
    // text again.
    let mut text = security::read_key_text(key_file)?;
    let answer = request(path, &json!({ "cmd": "key-add", "key": text.as_str() }));
    security::wipe_string(&mut text);
    let answer = answer?;
    println!("{}", answer["id"].as_str().unwrap_or_default());
    Ok(())
}

/// `swim keys use`.
pub(crate) fn keys_use(path: &Path, id: &str) -> Result<(), BoxError> {
    let id = security::parse_key_id(id)?;
    request(path, &json!({ "cmd": "key-use", "id": id.to_string() }))?;
    println!("primary {id}");
    Ok(())
}

/// `swim keys remove`.
pub(crate) fn keys_remove(path: &Path, id: &str) -> Result<(), BoxError> {
    let id = security::parse_key_id(id)?;
    request(path, &json!({ "cmd": "key-remove", "id": id.to_string() }))?;
    println!("removed {id}");
    Ok(())
}

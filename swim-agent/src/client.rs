//! The client commands: one request on the agent's control socket, the
//! answer printed as text or JSON. Every failure is one line on stderr and
//! a non-zero exit; a client command never changes anything on its own.

use crate::cli::{Client, Format, StatusFilter};
use crate::security;
use crate::socket;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

type BoxError = Box<dyn std::error::Error>;

fn connect(client: &Client) -> Result<(PathBuf, UnixStream), BoxError> {
    let path = socket::client_path(client.control.as_deref())?;
    let shown = path.display();
    let conn = UnixStream::connect(&path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => format!("no agent at {shown}: no such socket"),
        ErrorKind::ConnectionRefused => {
            format!("no agent at {shown}: connection refused (a stale socket of a dead agent?)")
        }
        ErrorKind::PermissionDenied => {
            format!("cannot reach the agent at {shown}: permission denied (the socket is its owner's only)")
        }
        _ => format!("cannot reach the agent at {shown}: {e}"),
    })?;
    // A zero timeout means "none" to std: wait at least 1 ms.
    let timeout = client.timeout.max(Duration::from_millis(1));
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    Ok((path, conn))
}

fn read_answer(
    path: &Path,
    timeout: Duration,
    reader: &mut impl BufRead,
) -> Result<Value, BoxError> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => {
            return Err(format!("the agent at {} closed the connection", path.display()).into())
        }
        Ok(_) => {}
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            return Err(format!(
                "the agent at {} did not answer within {timeout:?} (--timeout)",
                path.display(),
            )
            .into())
        }
        Err(e) => return Err(format!("reading the agent at {}: {e}", path.display()).into()),
    }
    let answer: Value = serde_json::from_str(&line)
        .map_err(|e| format!("the agent at {} sent a bad answer: {e}", path.display()))?;
    if let Some(e) = answer.get("error").and_then(Value::as_str) {
        return Err(e.into());
    }
    Ok(answer)
}

/// One request, one answer (an `{"error":..}` answer becomes an error).
pub(crate) fn request(client: &Client, req: &Value) -> Result<Value, BoxError> {
    let (path, mut conn) = connect(client)?;
    writeln!(conn, "{req}")?;
    read_answer(&path, client.timeout, &mut BufReader::new(conn))
}

fn print_json(v: &Value) {
    println!("{v}");
}

fn tags_text(row: &Value) -> String {
    match row.get("meta").and_then(Value::as_object) {
        Some(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(","),
        None => format!(
            "hex:{}",
            row.get("meta_hex")
                .and_then(Value::as_str)
                .unwrap_or_default()
        ),
    }
}

/// `swim members`: the local member first (marked `(local)`), then the
/// others in address order; `--status` and `--tag` filter rows.
pub(crate) fn members(
    client: &Client,
    status: &[StatusFilter],
    tags: &[(String, String)],
) -> Result<(), BoxError> {
    let answer = request(client, &json!({ "cmd": "members" }))?;
    let mut rows = vec![(true, answer["local"].clone())];
    rows.extend(
        answer["members"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|m| (false, m)),
    );
    rows.retain(|(_, row)| {
        let state_ok = status.is_empty()
            || status
                .iter()
                .any(|s| row["state"].as_str() == Some(s.name()));
        let tags_ok = tags
            .iter()
            .all(|(k, v)| row["meta"].get(k).and_then(Value::as_str) == Some(v.as_str()));
        state_ok && tags_ok
    });
    if client.format() == Format::Json {
        let list: Vec<Value> = rows
            .into_iter()
            .map(|(local, mut row)| {
                row["local"] = json!(local);
                row
            })
            .collect();
        print_json(&json!({ "members": list }));
        return Ok(());
    }
    let table: Vec<[String; 5]> = rows
        .iter()
        .map(|(local, row)| {
            [
                row["addr"].as_str().unwrap_or_default().to_owned(),
                row["state"].as_str().unwrap_or_default().to_owned(),
                row["incarnation"].to_string(),
                tags_text(row),
                if *local {
                    "(local)".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let header = [
        "ADDRESS".to_owned(),
        "STATE".into(),
        "INCARNATION".into(),
        "TAGS".into(),
        String::new(),
    ];
    let mut width = [0usize; 4];
    for row in std::iter::once(&header).chain(&table) {
        for (w, cell) in width.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    for row in std::iter::once(&header).chain(&table) {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:<w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2],
            w3 = width[3],
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Prints `ok`-style answers: JSON as is, or `text`.
fn done(client: &Client, answer: &Value, text: &str) {
    if client.format() == Format::Json {
        print_json(answer);
    } else {
        println!("{text}");
    }
}

/// `swim join`.
pub(crate) fn join(client: &Client, addrs: &[String]) -> Result<(), BoxError> {
    let answer = request(client, &json!({ "cmd": "join", "addrs": addrs }))?;
    let n = answer["seeds"].as_u64().unwrap_or(0);
    done(
        client,
        &answer,
        &format!("joining through {n} seed address(es)"),
    );
    Ok(())
}

/// `swim leave`.
pub(crate) fn leave(client: &Client) -> Result<(), BoxError> {
    let answer = request(client, &json!({ "cmd": "leave" }))?;
    done(client, &answer, "left");
    Ok(())
}

/// `swim force-leave`.
pub(crate) fn force_leave(client: &Client, addr: SocketAddr) -> Result<(), BoxError> {
    let answer = request(
        client,
        &json!({ "cmd": "force-leave", "addr": addr.to_string() }),
    )?;
    done(client, &answer, &format!("{addr} marked left"));
    Ok(())
}

/// `swim tags`.
pub(crate) fn tags(
    client: &Client,
    set: &[(String, String)],
    delete: &[String],
) -> Result<(), BoxError> {
    let set: serde_json::Map<String, Value> = set
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    let answer = request(
        client,
        &json!({ "cmd": "tags", "set": set, "delete": delete }),
    )?;
    let text = tags_text(&json!({ "meta": answer["tags"] }));
    done(client, &answer, &text);
    Ok(())
}

/// `swim event`.
pub(crate) fn event(client: &Client, name: &str, payload: &str) -> Result<(), BoxError> {
    let answer = request(
        client,
        &json!({ "cmd": "event", "name": name, "payload": payload }),
    )?;
    done(client, &answer, &format!("event {name} sent"));
    Ok(())
}

/// `swim broadcast`.
pub(crate) fn broadcast(client: &Client, text: &str) -> Result<(), BoxError> {
    let answer = request(client, &json!({ "cmd": "broadcast", "text": text }))?;
    if client.format() == Format::Json {
        print_json(&answer);
    }
    Ok(())
}

/// `swim stats`: JSON always (counters are for machines).
pub(crate) fn stats(client: &Client) -> Result<(), BoxError> {
    let answer = request(client, &json!({ "cmd": "stats" }))?;
    print_json(&answer);
    Ok(())
}

/// `swim info`.
pub(crate) fn info(client: &Client) -> Result<(), BoxError> {
    let answer = request(client, &json!({ "cmd": "info" }))?;
    if client.format() == Format::Json {
        print_json(&answer);
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let local = &answer["local"];
    writeln!(out, "agent:")?;
    writeln!(
        out,
        "  address = {}",
        local["addr"].as_str().unwrap_or_default()
    )?;
    writeln!(out, "  incarnation = {}", local["incarnation"])?;
    writeln!(out, "  tags = {}", tags_text(local))?;
    if let Some(a) = answer["agent"].as_object() {
        for (k, v) in a {
            writeln!(
                out,
                "  {k} = {}",
                v.as_str().map_or_else(|| v.to_string(), str::to_owned)
            )?;
        }
    }
    writeln!(out, "members:")?;
    if let Some(m) = answer["members"].as_object() {
        for (k, v) in m {
            writeln!(out, "  {k} = {v}")?;
        }
    }
    writeln!(out, "health:")?;
    writeln!(out, "  score = {}", answer["health_score"])?;
    let keys = &answer["keys"];
    writeln!(out, "security:")?;
    let ids = keys["keys"].as_array().cloned().unwrap_or_default();
    writeln!(
        out,
        "  encryption = {}",
        if ids.is_empty() {
            "off (plaintext)"
        } else {
            "on"
        }
    )?;
    writeln!(
        out,
        "  primary_key = {}",
        keys["primary"].as_str().unwrap_or("-")
    )?;
    writeln!(out, "  keys = {}", ids.len())?;
    writeln!(out, "  label = {}", keys["label"].as_str().unwrap_or("-"))?;
    writeln!(out, "  accept_plaintext = {}", keys["accept_plaintext"])?;
    for (section, value) in [
        ("config", &answer["config"]),
        ("stats", &answer["stats"]["core"]),
        ("io", &answer["stats"]["io"]),
    ] {
        writeln!(out, "{section}:")?;
        if let Some(m) = value.as_object() {
            for (k, v) in m {
                writeln!(out, "  {k} = {v}")?;
            }
        }
    }
    Ok(())
}

/// `swim monitor`: prints events (and logs) until the agent stops.
pub(crate) fn monitor(client: &Client, logs: bool) -> Result<(), BoxError> {
    let (path, mut conn) = connect(client)?;
    writeln!(conn, "{}", json!({ "cmd": "monitor", "logs": logs }))?;
    let mut reader = BufReader::new(conn);
    read_answer(&path, client.timeout, &mut reader)?;
    // Events come when they happen: no read timeout from here on.
    reader.get_ref().set_read_timeout(None)?;
    let mut out = std::io::stdout();
    for line in reader.lines() {
        let line = line?;
        if client.format() == Format::Json {
            writeln!(out, "{line}")?;
            out.flush()?;
            continue;
        }
        let v: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(_) => continue,
        };
        let text = if let Some(log) = v.get("log").and_then(Value::as_str) {
            log.to_owned()
        } else if let Some(n) = v.get("missed") {
            format!("[monitor fell behind: {n} events missed]")
        } else if let Some(n) = v.get("missed_logs") {
            format!("[monitor fell behind: {n} log lines missed]")
        } else {
            let mut s = format!(
                "{:.3} {:<9} {}",
                v["ts"].as_f64().unwrap_or_default(),
                v["event"].as_str().unwrap_or_default(),
                v["member"].as_str().unwrap_or_default()
            );
            if let Some(name) = v.get("name").and_then(Value::as_str) {
                s.push_str(&format!(" {name}"));
            }
            if v.get("meta").is_some() || v.get("meta_hex").is_some() {
                s.push_str(&format!(" {}", tags_text(&v)));
            }
            if let Some(p) = v.get("payload").and_then(Value::as_str) {
                s.push_str(&format!(" {p:?}"));
            }
            s
        };
        writeln!(out, "{text}")?;
        out.flush()?;
    }
    Ok(())
}

/// `swim keys list`: one id per line, the primary marked.
pub(crate) fn keys_list(client: &Client) -> Result<(), BoxError> {
    let answer = request(client, &json!({ "cmd": "keys" }))?;
    if client.format() == Format::Json {
        print_json(&answer);
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
pub(crate) fn keys_add(client: &Client, key_file: &Path) -> Result<(), BoxError> {
    // Checked here for a clear error naming the file; the agent parses the
    // text again.
    let mut text = security::read_key_text(key_file)?;
    let answer = request(client, &json!({ "cmd": "key-add", "key": text.as_str() }));
    security::wipe_string(&mut text);
    let answer = answer?;
    done(client, &answer, answer["id"].as_str().unwrap_or_default());
    Ok(())
}

/// `swim keys use`.
pub(crate) fn keys_use(client: &Client, id: &str) -> Result<(), BoxError> {
    let id = security::parse_key_id(id)?;
    let answer = request(client, &json!({ "cmd": "key-use", "id": id.to_string() }))?;
    done(client, &answer, &format!("primary {id}"));
    Ok(())
}

/// `swim keys remove`.
pub(crate) fn keys_remove(client: &Client, id: &str) -> Result<(), BoxError> {
    let id = security::parse_key_id(id)?;
    let answer = request(
        client,
        &json!({ "cmd": "key-remove", "id": id.to_string() }),
    )?;
    done(client, &answer, &format!("removed {id}"));
    Ok(())
}

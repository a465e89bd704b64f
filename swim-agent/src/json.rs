//! The JSON the agent prints and its control socket speaks.

use crate::request::user_event;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use swim_tokio::{meta, Event, IoStats, Member, State, Stats};

/// Seconds since the Unix epoch, as a float (millisecond precision).
fn unix_ts() -> f64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_millis() as f64) / 1000.0
}

/// Metadata as an object when it is in `swim_tokio::meta`'s encoding; under
/// `meta_hex` otherwise.
fn put_meta(obj: &mut Map<String, Value>, bytes: &[u8]) {
    match meta::decode(bytes) {
        Some(pairs) => {
            let m: Map<String, Value> = pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::from(v)))
                .collect();
            obj.insert("meta".into(), Value::Object(m));
        }
        None => {
            obj.insert("meta_hex".into(), Value::from(hex(bytes)));
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An event's name, member and bytes (payload or metadata), and a user
/// event's name: what the printer and the event handler need.
pub(crate) fn event_parts(
    event: &Event<SocketAddr>,
) -> (&'static str, SocketAddr, Option<&str>, &[u8]) {
    match event {
        Event::Joined { member, meta } => ("joined", *member, None, meta),
        Event::Updated { member, meta } => ("updated", *member, None, meta),
        Event::Suspected { member } => ("suspected", *member, None, &[]),
        Event::Alive { member } => ("alive", *member, None, &[]),
        Event::Failed { member } => ("failed", *member, None, &[]),
        Event::Left { member } => ("left", *member, None, &[]),
        // A user event's name comes from the network: only a valid name
        // (what `swim event` accepts) reaches the handler's environment;
        // anything else is shown as a plain message.
        Event::Message { from, payload, .. } => match user_event::decode(payload) {
            Some((name, body)) if crate::cli::parse_event_name(name).is_ok() => {
                ("user", *from, Some(name), body)
            }
            _ => ("message", *from, None, payload),
        },
    }
}

fn put_payload(obj: &mut Map<String, Value>, payload: &[u8]) {
    match core::str::from_utf8(payload) {
        Ok(text) => obj.insert("payload".into(), json!(text)),
        Err(_) => obj.insert("payload_hex".into(), json!(hex(payload))),
    };
}

/// One stdout line for one event.
pub(crate) fn event_line(event: &Event<SocketAddr>) -> String {
    let (name, member, user, bytes) = event_parts(event);
    let mut obj = Map::new();
    obj.insert("ts".into(), json!(unix_ts()));
    obj.insert("event".into(), json!(name));
    obj.insert("member".into(), json!(member.to_string()));
    match event {
        Event::Joined { meta, .. } | Event::Updated { meta, .. } => put_meta(&mut obj, meta),
        Event::Message { broadcast, .. } => {
            if let Some(user) = user {
                obj.insert("name".into(), json!(user));
            } else {
                obj.insert("broadcast".into(), json!(broadcast));
            }
            put_payload(&mut obj, bytes);
        }
        _ => {}
    }
    Value::Object(obj).to_string()
}

pub(crate) fn state_name(state: State) -> &'static str {
    match state {
        State::Alive => "alive",
        State::Suspect => "suspect",
        State::Failed => "failed",
        State::Left => "left",
    }
}

/// One row of the member table.
pub(crate) fn member(m: &Member<SocketAddr>) -> Value {
    let mut obj = Map::new();
    obj.insert("addr".into(), json!(m.addr.to_string()));
    obj.insert("state".into(), json!(state_name(m.state)));
    obj.insert("incarnation".into(), json!(m.incarnation));
    put_meta(&mut obj, &m.meta);
    Value::Object(obj)
}

/// The protocol's and the socket's counters.
pub(crate) fn stats(core: &Stats, io: &IoStats, health: u32) -> Value {
    macro_rules! object {
        ($s:expr; $($f:ident),* $(,)?) => { json!({ $(stringify!($f): $s.$f),* }) };
    }
    json!({
        "core": object!(core; datagrams_received, bytes_received, datagrams_sent, bytes_sent, decode_errors, datagrams_dropped, probes, indirect_probes, nacks_received, nacks_sent, probes_failed, suspicions, refutations, update_queue_drops, broadcast_queue_drops, member_table_full, relay_drops, updates_rejected, joins_sent, syncs, reaped, not_allowed, envelope_rejected),
        "io": object!(io; send_errors, recv_errors),
        "health_score": health,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn event_lines() {
        let a: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let v: Value = serde_json::from_str(&event_line(&Event::Joined {
            member: a,
            meta: Bytes::from_static(b"k=v"),
        }))
        .unwrap();
        assert_eq!(v["event"], "joined");
        assert_eq!(v["member"], "127.0.0.1:7000");
        assert_eq!(v["meta"]["k"], "v");
        assert!(v["ts"].as_f64().unwrap() > 1.0e9);
        let v: Value = serde_json::from_str(&event_line(&Event::Failed { member: a })).unwrap();
        assert_eq!(v["event"], "failed");
        let v: Value = serde_json::from_str(&event_line(&Event::Message {
            from: a,
            payload: Bytes::from_static(&[0xff]),
            broadcast: true,
        }))
        .unwrap();
        assert_eq!(v["payload_hex"], "ff");
        assert_eq!(v["broadcast"], true);
        let v: Value = serde_json::from_str(&event_line(&Event::Message {
            from: a,
            payload: user_event::encode("deploy", b"v2"),
            broadcast: true,
        }))
        .unwrap();
        assert_eq!(v["event"], "user");
        assert_eq!(v["name"], "deploy");
        assert_eq!(v["payload"], "v2");
        // A name `swim event` would refuse (here with a newline) is a plain
        // message: it never reaches a handler's environment.
        let v: Value = serde_json::from_str(&event_line(&Event::Message {
            from: a,
            payload: user_event::encode("a\nb", b"x"),
            broadcast: true,
        }))
        .unwrap();
        assert_eq!(v["event"], "message");
    }
}

//! The control socket's requests: one JSON object per line, parsed into a
//! [`Request`] before anything runs (so a bad request changes nothing).
//!
//! `{"cmd":"members"}`, `{"cmd":"stats"}`, `{"cmd":"info"}`,
//! `{"cmd":"leave"}`, `{"cmd":"join","addrs":["ip:port",..]}`,
//! `{"cmd":"force-leave","addr":"ip:port"}`,
//! `{"cmd":"tags","set":{"k":"v"},"delete":["k"]}`,
//! `{"cmd":"monitor","logs":false}`,
//! `{"cmd":"event","name":"deploy","payload":"v2"}`,
//! `{"cmd":"broadcast","text":".."}`, and key rotation: `{"cmd":"keys"}`,
//! `{"cmd":"key-add","key":"<hex|base64>"}`, `{"cmd":"key-use","id":"<8 hex>"}`,
//! `{"cmd":"key-remove","id":"<8 hex>"}`. Failures answer `{"error":".."}`.

use crate::cli;
use serde_json::Value;
use std::net::SocketAddr;
use swim_tokio::KeyId;

/// The longest request line the agent reads (64 KiB); a longer one is
/// answered with an error and the connection closed.
pub const MAX_LINE: usize = 64 * 1024;

/// The most seeds one `join` request may name.
pub const MAX_JOIN: usize = 64;

/// One control request.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// The member table.
    Members,
    /// Counters as JSON.
    Stats,
    /// A summary: members by state, health, counters, keys, configuration.
    Info,
    /// Leave gracefully and exit.
    Leave,
    /// Join through more seeds.
    Join {
        /// `ip:port` or `host:port`.
        addrs: Vec<String>,
    },
    /// Mark a failed member Left.
    ForceLeave {
        /// The member.
        addr: SocketAddr,
    },
    /// Change the local metadata.
    Tags {
        /// Pairs to set (in order).
        set: Vec<(String, String)>,
        /// Keys to delete.
        delete: Vec<String>,
    },
    /// Stream events (and logs) on this connection.
    Monitor {
        /// Also stream log lines.
        logs: bool,
    },
    /// Send a named user event.
    Event {
        /// The event's name ([`cli::parse_event_name`]).
        name: String,
        /// Its payload.
        payload: String,
    },
    /// Disseminate an application message.
    Broadcast {
        /// The message.
        text: String,
    },
    /// The installed key ids.
    Keys,
    /// Install a key (its text; wiped after use by the handler).
    KeyAdd {
        /// 64 hex digits or base64 of 32 bytes.
        key: String,
    },
    /// Make a key primary.
    KeyUse {
        /// Its id.
        id: KeyId,
    },
    /// Uninstall a key.
    KeyRemove {
        /// Its id.
        id: KeyId,
    },
}

fn string_field(req: &Value, cmd: &str, field: &str) -> Result<String, String> {
    req.get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{cmd} needs \"{field}\": a string"))
}

/// Parses one request line (without its newline).
pub fn parse(line: &str) -> Result<Request, String> {
    if line.len() > MAX_LINE {
        return Err(format!("request longer than {MAX_LINE} bytes"));
    }
    let mut req: Value = serde_json::from_str(line).map_err(|e| format!("bad request: {e}"))?;
    let cmd = req
        .get("cmd")
        .and_then(Value::as_str)
        .ok_or("bad request: no \"cmd\"")?
        .to_owned();
    Ok(match cmd.as_str() {
        "members" => Request::Members,
        "stats" => Request::Stats,
        "info" => Request::Info,
        "leave" => Request::Leave,
        "keys" => Request::Keys,
        "join" => {
            let addrs = req
                .get("addrs")
                .and_then(Value::as_array)
                .ok_or("join needs \"addrs\": a list of ip:port or host:port")?;
            if addrs.is_empty() || addrs.len() > MAX_JOIN {
                return Err(format!("join needs 1 to {MAX_JOIN} addresses"));
            }
            let addrs = addrs
                .iter()
                .map(|a| {
                    let a = a.as_str().ok_or("join: every address is a string")?;
                    cli::parse_seed(a)
                })
                .collect::<Result<Vec<_>, String>>()?;
            Request::Join { addrs }
        }
        "force-leave" => {
            let addr = string_field(&req, &cmd, "addr")?;
            Request::ForceLeave {
                addr: cli::parse_socket_addr(&addr)?,
            }
        }
        "tags" => {
            let mut set = Vec::new();
            match req.get("set") {
                None | Some(Value::Null) => {}
                Some(Value::Object(m)) => {
                    for (k, v) in m {
                        let v = v
                            .as_str()
                            .ok_or("tags: every value in \"set\" is a string")?;
                        swim_tokio::meta::encode([(k.as_str(), v)]).map_err(|e| e.to_string())?;
                        set.push((k.clone(), v.to_owned()));
                    }
                }
                Some(_) => return Err("tags: \"set\" is an object of strings".into()),
            }
            let mut delete = Vec::new();
            match req.get("delete") {
                None | Some(Value::Null) => {}
                Some(Value::Array(keys)) => {
                    for k in keys {
                        delete.push(
                            k.as_str()
                                .ok_or("tags: \"delete\" is a list of strings")?
                                .to_owned(),
                        );
                    }
                }
                Some(_) => return Err("tags: \"delete\" is a list of strings".into()),
            }
            Request::Tags { set, delete }
        }
        "monitor" => Request::Monitor {
            logs: req.get("logs").and_then(Value::as_bool).unwrap_or(false),
        },
        "event" => {
            let name = cli::parse_event_name(&string_field(&req, &cmd, "name")?)?;
            let payload = match req.get("payload") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(p)) => p.clone(),
                Some(_) => return Err("event: \"payload\" is a string".into()),
            };
            Request::Event { name, payload }
        }
        "broadcast" => Request::Broadcast {
            text: string_field(&req, &cmd, "text")?,
        },
        "key-add" => match req.get_mut("key").map(Value::take) {
            Some(Value::String(key)) => Request::KeyAdd { key },
            _ => return Err("key-add needs \"key\": 64 hex digits or base64 of 32 bytes".into()),
        },
        "key-use" | "key-remove" => {
            let text = req
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{cmd} needs \"id\": 8 hex digits"))?;
            let id = crate::security::parse_key_id(text)?;
            if cmd == "key-use" {
                Request::KeyUse { id }
            } else {
                Request::KeyRemove { id }
            }
        }
        other => {
            return Err(format!(
                "unknown cmd {:?}",
                other.chars().take(32).collect::<String>()
            ))
        }
    })
}

/// User events travel as application broadcasts in this form: a zero byte,
/// `E`, the name's length (one byte), the name, then the payload. Plain
/// `swim broadcast` text never starts with a zero byte.
pub mod user_event {
    use bytes::{BufMut, Bytes, BytesMut};

    const TAG: [u8; 2] = [0, b'E'];

    /// Encodes a user event (the name is at most 255 bytes; longer is cut).
    pub fn encode(name: &str, payload: &[u8]) -> Bytes {
        let name = name.as_bytes();
        let name = name.get(..name.len().min(255)).unwrap_or_default();
        let mut out = BytesMut::with_capacity(3 + name.len() + payload.len());
        out.put_slice(&TAG);
        out.put_u8(u8::try_from(name.len()).unwrap_or(u8::MAX));
        out.put_slice(name);
        out.put_slice(payload);
        out.freeze()
    }

    /// The name and payload of a user event; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<(&str, &[u8])> {
        let rest = bytes.strip_prefix(&TAG)?;
        let (&len, rest) = rest.split_first()?;
        let name = rest.get(..usize::from(len))?;
        let payload = rest.get(usize::from(len)..)?;
        let name = core::str::from_utf8(name).ok()?;
        Some((name, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_or_say_why() {
        assert_eq!(parse(r#"{"cmd":"members"}"#), Ok(Request::Members));
        assert_eq!(
            parse(r#"{"cmd":"join","addrs":["127.0.0.1:1","localhost:2"]}"#),
            Ok(Request::Join {
                addrs: vec!["127.0.0.1:1".into(), "localhost:2".into()]
            })
        );
        assert_eq!(
            parse(r#"{"cmd":"tags","set":{"role":"db"},"delete":["dc"]}"#),
            Ok(Request::Tags {
                set: vec![("role".into(), "db".into())],
                delete: vec!["dc".into()]
            })
        );
        for (bad, why) in [
            ("", "bad request"),
            ("[]", "no \"cmd\""),
            (r#"{"cmd":"nope"}"#, "unknown cmd"),
            (r#"{"cmd":"join","addrs":[]}"#, "1 to 64"),
            (r#"{"cmd":"join","addrs":["127.0.0.1"]}"#, "no port"),
            (r#"{"cmd":"force-leave","addr":"x"}"#, "not an address"),
            (r#"{"cmd":"tags","set":{"a=b":"c"}}"#, "metadata"),
            (r#"{"cmd":"tags","set":[1]}"#, "object of strings"),
            (r#"{"cmd":"event","name":"a b"}"#, "not an event name"),
            (r#"{"cmd":"key-use","id":"xyz"}"#, "8 hex digits"),
            (r#"{"cmd":"broadcast"}"#, "needs \"text\""),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(parse(&" ".repeat(MAX_LINE + 1))
            .unwrap_err()
            .contains("longer"));
    }

    #[test]
    fn user_events_round_trip() {
        let b = user_event::encode("deploy", b"v2");
        assert_eq!(user_event::decode(&b), Some(("deploy", &b"v2"[..])));
        assert_eq!(user_event::decode(b"hello"), None);
        assert_eq!(user_event::decode(&[0, b'E', 9, b'a']), None);
        assert_eq!(user_event::decode(&[0, b'E']), None);
    }
}

//! The fuzz target's body (`fuzz/fuzz_targets/agent_parsers.rs`): the
//! argument parser, the control-request parser and the user-event codec
//! must never panic, whatever the bytes; a decoded user event re-encodes to
//! the same bytes.

use crate::{cli, request};

/// Feeds `data` to every parser of user input.
pub fn agent_parsers(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match mode % 4 {
        0 => {
            // A command line: NUL-separated arguments after `swim`.
            let args = std::iter::once("swim").chain(text.split('\0'));
            match cli::try_parse(args) {
                Ok(c) => {
                    // Parsed values are in range by construction.
                    if let cli::Command::Agent(a) = c.command {
                        assert!(a.leave_timeout <= cli::MAX_DURATION);
                        assert!(a.join_timeout <= cli::MAX_DURATION);
                    }
                }
                Err(e) => {
                    let _ = cli::one_line(&e);
                }
            }
        }
        1 => {
            let _ = request::parse(&text);
        }
        2 => {
            if let Ok(d) = cli::parse_duration(&text) {
                assert!(d <= cli::MAX_DURATION);
            }
            let _ = cli::parse_seed(&text);
            let _ = cli::parse_socket_addr(&text);
            let _ = cli::parse_tag(&text);
            let _ = cli::parse_event_name(&text);
        }
        _ => {
            if let Some((name, payload)) = request::user_event::decode(rest) {
                assert_eq!(&request::user_event::encode(name, payload)[..], rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// A few inputs through the fuzz body (the fuzzer explores the rest).
    #[test]
    fn seeds_run_clean() {
        for input in [
            &b"\0agent\0--bind\x00127.0.0.1:1\0--leave-timeout\0inf"[..],
            b"\0members\0--status\0alive\0--tag\0a=b",
            b"\x01{\"cmd\":\"join\",\"addrs\":[\"x:1\"]}",
            b"\x01{\"cmd\":\"tags\",\"set\":{\"\":\"x\"}}",
            b"\x021e400ms",
            b"\x03\0E\x03abcxyz",
            b"\x03\0E\xff",
        ] {
            super::agent_parsers(input);
        }
    }
}

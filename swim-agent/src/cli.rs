//! The command line: every flag, and the parsers that check durations,
//! numbers and addresses when the arguments are read (a bad value stops
//! the command with one line naming the flag and the value; nothing a user
//! types can panic the agent).

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `swim`: a SWIM gossip membership agent and its client commands.
#[derive(Parser, Debug)]
#[command(name = "swim", version, about = "SWIM gossip membership agent")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How client commands print their answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns / plain lines for people.
    #[default]
    Text,
    /// One JSON document (or one JSON object per line for `monitor`).
    Json,
}

/// Options every client command shares.
#[derive(clap::Args, Debug, Clone)]
pub struct Client {
    /// The agent's control socket. Default: `$SWIM_CONTROL`, else the only
    /// socket in the default directory (`$XDG_RUNTIME_DIR/swim/`,
    /// `/run/swim/` as root, `/tmp/swim-UID/` otherwise).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Same as `--format json` (kept for scripts written before --format).
    #[arg(long, hide = true)]
    pub json: bool,
    /// How long to wait for the agent's answer.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, allow_hyphen_values = true)]
    pub timeout: Duration,
}

impl Client {
    /// The format asked for (`--json` means `--format json`).
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            self.format
        }
    }
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a member: print one JSON line per membership event on stdout.
    Agent(Box<AgentArgs>),
    /// Print the member table of a running agent (the local member marked).
    Members {
        /// Client options.
        #[command(flatten)]
        client: Client,
        /// Only members in this state. Repeatable.
        #[arg(long, value_enum)]
        status: Vec<StatusFilter>,
        /// Only members whose metadata has `key=value` (`key=` matches an
        /// empty value). Repeatable: all must match.
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
    },
    /// Make a running agent join more members (`ip:port` or `host:port`).
    Join {
        /// Client options.
        #[command(flatten)]
        client: Client,
        /// Seeds to join through.
        #[arg(required = true, value_name = "ADDR_OR_HOST:PORT")]
        addrs: Vec<String>,
    },
    /// Make a running agent leave the cluster gracefully and exit.
    Leave {
        /// Client options.
        #[command(flatten)]
        client: Client,
    },
    /// Mark a failed member as left so it is no longer re-probed.
    ForceLeave {
        /// Client options.
        #[command(flatten)]
        client: Client,
        /// The failed member's address.
        #[arg(value_name = "ADDR", value_parser = parse_socket_addr)]
        addr: SocketAddr,
    },
    /// Change a running agent's metadata (disseminated to every member).
    Tags {
        /// Client options.
        #[command(flatten)]
        client: Client,
        /// Set a tag. Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_tag)]
        set: Vec<(String, String)>,
        /// Delete a tag. Repeatable.
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
    },
    /// Stream a running agent's events (and, with --logs, its logs) until
    /// interrupted.
    Monitor {
        /// Client options.
        #[command(flatten)]
        client: Client,
        /// Also stream the agent's log lines.
        #[arg(long)]
        logs: bool,
    },
    /// Send a named user event to every member (over the broadcast channel).
    Event {
        /// Client options.
        #[command(flatten)]
        client: Client,
        /// The event name (1-64 bytes of `[A-Za-z0-9._-]`).
        #[arg(value_parser = parse_event_name)]
        name: String,
        /// The payload (UTF-8 text; default empty).
        #[arg(default_value = "")]
        payload: String,
    },
    /// Print a running agent's summary: members by state, health, counters,
    /// keyring and the configuration in force.
    Info {
        /// Client options.
        #[command(flatten)]
        client: Client,
    },
    /// Print a running agent's counters (protocol and socket) as JSON.
    Stats {
        /// Client options.
        #[command(flatten)]
        client: Client,
    },
    /// Disseminate an application message through a running agent.
    Broadcast {
        /// Client options.
        #[command(flatten)]
        client: Client,
        /// The message (UTF-8 text).
        text: String,
    },
    /// List or rotate a running agent's cluster keys. Rotate with no false
    /// failures: `add` on every agent, then `use` on every agent, then
    /// `remove` the old key on every agent.
    Keys {
        /// The key operation.
        #[command(subcommand)]
        command: KeysCommand,
    },
}

/// `swim members --status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    /// Alive members.
    Alive,
    /// Suspected members.
    Suspect,
    /// Members declared failed.
    Failed,
    /// Members that left.
    Left,
}

impl StatusFilter {
    /// The state's name as the control socket writes it.
    pub fn name(self) -> &'static str {
        match self {
            StatusFilter::Alive => "alive",
            StatusFilter::Suspect => "suspect",
            StatusFilter::Failed => "failed",
            StatusFilter::Left => "left",
        }
    }
}

/// `swim keys ...`.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Print the installed key ids, the primary (sealing) key first.
    List {
        /// Client options.
        #[command(flatten)]
        client: Client,
    },
    /// Install a key (accepted, not yet used to send); prints its id.
    Add {
        /// Client options.
        #[command(flatten)]
        client: Client,
        /// The key: 64 hex digits or base64 of 32 bytes (`-` reads stdin).
        #[arg(long = "key-file", value_name = "PATH")]
        key_file: PathBuf,
    },
    /// Make an installed key the primary (sealing) key.
    Use {
        /// Client options.
        #[command(flatten)]
        client: Client,
        /// The key id (8 hex digits, as `swim keys list` prints it).
        id: String,
    },
    /// Uninstall a key that is not primary.
    Remove {
        /// Client options.
        #[command(flatten)]
        client: Client,
        /// The key id (8 hex digits, as `swim keys list` prints it).
        id: String,
    },
}

/// Options of `swim agent`.
#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// Address to bind (`ip:port`, `[ipv6]:port` or `host:port`); it is
    /// also the member's identity unless --advertise is given.
    #[arg(long)]
    pub bind: String,
    /// The address others reach this agent at, when --bind is a wildcard.
    #[arg(long, value_parser = parse_socket_addr)]
    pub advertise: Option<SocketAddr>,
    /// A seed to join through: `ip:port` or `host:port` (every A/AAAA
    /// record is tried). Repeatable.
    #[arg(long = "join", value_name = "ADDR_OR_HOST:PORT", value_parser = parse_seed)]
    pub join: Vec<String>,
    /// How long a join may take before a warning (and, with
    /// --join-required, exit 1). `30`, `1.5s`, `500ms`, `2m`.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, allow_hyphen_values = true)]
    pub join_timeout: Duration,
    /// Exit non-zero when no seed answered within --join-timeout (like
    /// `serf agent -join`).
    #[arg(long)]
    pub join_required: bool,
    /// Timer preset.
    #[arg(long, value_enum, default_value_t = Profile::Lan)]
    pub profile: Profile,
    /// Metadata announced with this member. Repeatable. Encoded as
    /// `key=value` lines (see swim_tokio::meta).
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub meta: Vec<(String, String)>,
    /// Answer joins with the most recently joined members (the bootstrap
    /// facilitator role).
    #[arg(long)]
    pub facilitator: bool,
    /// Unix socket for the client commands. Default: `$SWIM_CONTROL`, else
    /// `PORT.sock` in `$XDG_RUNTIME_DIR/swim/` (`/run/swim/` as root,
    /// `/tmp/swim-UID/` otherwise), a directory created mode 0700.
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Open no control socket.
    #[arg(long, conflicts_with = "control")]
    pub no_control: bool,
    /// Longest wait for a graceful leave. `3`, `1.5s`, `500ms` (at most 1 h).
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_duration, allow_hyphen_values = true)]
    pub leave_timeout: Duration,
    /// Serve Prometheus / OpenMetrics text on `http://ADDR/metrics`.
    #[arg(long, value_name = "ADDR", value_parser = parse_socket_addr)]
    pub metrics: Option<SocketAddr>,
    /// Run this shell command (`sh -c`) for every event: `SWIM_EVENT` is the
    /// event (`joined`, `failed`, ..., `user`), `SWIM_MEMBER` the member's
    /// address, `SWIM_USER_EVENT` a user event's name; the payload (or the
    /// member's metadata) is on stdin. One at a time, at most 30 s each.
    #[arg(long, value_name = "COMMAND")]
    pub event_handler: Option<String>,
    /// A cluster key file: 32 bytes as 64 hex digits or base64 (`head -c32
    /// /dev/urandom | base64`). Every datagram is then encrypted and
    /// authenticated. Repeatable: the first is the primary (sealing) key,
    /// the others are accepted too.
    #[arg(long = "key-file", value_name = "PATH")]
    pub key_files: Vec<PathBuf>,
    /// The cluster label: traffic of another label is dropped. Without a
    /// key it is a filter against mistakes, not security.
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// Accept datagrams only from this network (`10.0.0.0/8`, `fd00::/8`
    /// or one address), every message kind. Repeatable; none allows all.
    #[arg(long = "allow", value_name = "CIDR")]
    pub allow: Vec<swim_tokio::Cidr>,
    /// Migration switch: also accept datagrams without the configured
    /// label / encryption. Unsafe; only while turning them on.
    #[arg(long)]
    pub accept_plaintext: bool,
    /// Migration switch: send one step weaker than configured (needs
    /// --accept-plaintext). Only while turning protection on.
    #[arg(long)]
    pub send_plaintext: bool,
}

/// `swim agent --profile`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Profile {
    /// 1 s protocol period (swim_core::Config::lan).
    Lan,
    /// 5 s protocol period (swim_core::Config::wan).
    Wan,
    /// 200 ms protocol period, for one host (swim_core::Config::local).
    Local,
}

/// The longest duration any flag accepts (one hour): longer is a typo.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

/// A duration: a non-negative decimal number with an optional unit `ms`,
/// `s` (the default), `m` or `h`, at most [`MAX_DURATION`]. `inf`, `nan`,
/// `1e30`, negative numbers and empty text are refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    // Plain decimal only: no `inf`, `nan`, exponents or signs.
    let plain = !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && number.bytes().filter(|&b| b == b'.').count() <= 1
        && number.bytes().any(|b| b.is_ascii_digit());
    let bad = || format!("{t:?} is not a duration: expected e.g. 3, 1.5s, 500ms, 2m (at most 1h)");
    if !plain {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let secs = value * scale;
    if !secs.is_finite() || secs < 0.0 || secs > MAX_DURATION.as_secs_f64() {
        return Err(format!("{t:?} is out of range: at most 1h"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

/// A socket address (`ip:port`, `[ipv6]:port`) with a non-zero port.
pub fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text
        .parse()
        .map_err(|_| format!("{text:?} is not an address: expected ip:port or [ipv6]:port"))?;
    if addr.port() == 0 {
        return Err(format!("{text:?}: port 0 is not a port peers can reach"));
    }
    Ok(addr)
}

/// A seed: `ip:port`, `[ipv6]:port` or `host:port` with a non-zero port.
/// (Family and "not myself" are checked once the agent is bound.)
pub fn parse_seed(text: &str) -> Result<String, String> {
    if text.parse::<SocketAddr>().is_ok() {
        return parse_socket_addr(text).map(|_| text.to_owned());
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "{text:?} has no port: expected host:port or ip:port"
        ));
    };
    if host.is_empty() || host.contains(':') || host.contains(char::is_whitespace) {
        return Err(format!(
            "{text:?} is not host:port (IPv6 addresses go in brackets: [::1]:7946)"
        ));
    }
    match port.parse::<u16>() {
        Ok(0) => Err(format!("{text:?}: port 0 is not a port peers can reach")),
        Ok(_) => Ok(text.to_owned()),
        Err(_) => Err(format!("{text:?}: {port:?} is not a port (1-65535)")),
    }
}

/// A `key=value` tag (see `swim_tokio::meta::parse_pair`).
pub fn parse_tag(text: &str) -> Result<(String, String), String> {
    swim_tokio::meta::parse_pair(text).map_err(|e| e.to_string())
}

/// A user event's name: 1-64 bytes of ASCII letters, digits, `.`, `_`, `-`.
pub fn parse_event_name(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} is not an event name: 1-64 characters of A-Z a-z 0-9 . _ -"
        ))
    }
}

/// A clap error as one line (`swim: <line>` is all a bad command prints):
/// the message and what follows it, without the usage block.
pub fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect();
    let line = parts.join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line).to_owned();
    format!("{line} (see swim --help)")
}

/// Parses a whole command line (the program name first) without exiting:
/// what `main` and the fuzz target use.
pub fn try_parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Cli::try_parse_from(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), MAX_DURATION);
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in [
            "inf", "nan", "NaN", "-1", "1e30", "1e3", "", "s", ".", "1.2.3", "3x", "2h", "infs",
            "+3", " ", "0x10", "1e-400",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn seeds_and_addresses() {
        assert!(parse_seed("127.0.0.1:7946").is_ok());
        assert!(parse_seed("[::1]:7946").is_ok());
        assert!(parse_seed("localhost:7946").is_ok());
        for bad in [
            "127.0.0.1",
            "localhost",
            "::1:7946",
            "host:0",
            "host:x",
            ":7946",
            "a b:1",
        ] {
            assert!(parse_seed(bad).is_err(), "{bad:?}");
        }
        assert!(parse_socket_addr("127.0.0.1:0").is_err());
        assert!(parse_event_name("deploy-v1.2").is_ok());
        assert!(parse_event_name("").is_err());
        assert!(parse_event_name("a b").is_err());
    }

    #[test]
    fn agent_flags_are_checked_when_parsed() {
        for flag in ["--leave-timeout", "--join-timeout"] {
            for value in ["inf", "1e30", "nan", "-1"] {
                let e = try_parse(["swim", "agent", "--bind", "127.0.0.1:1", flag, value])
                    .unwrap_err()
                    .to_string();
                assert!(e.contains(flag) && e.contains(value), "{e}");
            }
        }
    }
}

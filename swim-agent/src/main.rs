//! `swim` (crate swim-agent): the command-line face of swim-tokio, like `serf agent` /
//! `serf members`.
//!
//! - `swim agent --bind ADDR [--join ADDR_OR_HOST:PORT]... [--profile
//!   lan|wan|local] [--meta KEY=VALUE]... [--facilitator] [--control PATH]
//!   [--key-file PATH]... [--label NAME] [--allow CIDR]...
//!   [--accept-plaintext] [--send-plaintext]` runs a member and prints one JSON line per membership event on stdout;
//!   logs go to stderr (`RUST_LOG` filters them). SIGINT/SIGTERM leave
//!   gracefully, then exit 0.
//! - `swim members --control PATH [--json]` prints the member table.
//! - `swim stats --control PATH` prints its counters as JSON.
//! - `swim leave --control PATH` makes the agent leave and exit.
//! - `swim broadcast --control PATH TEXT` disseminates an application message.
//! - `swim keys list|add|use|remove --control PATH ...` rotates the agent's
//!   cluster keys (`--key-file`; see SECURITY.md).

mod agent;
mod control;
mod json;
mod security;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "swim", version, about = "SWIM gossip membership agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a member: print one JSON line per membership event on stdout.
    Agent(AgentArgs),
    /// Print the member table of a running agent.
    Members {
        /// The agent's control socket.
        #[arg(long)]
        control: PathBuf,
        /// Print the agent's JSON answer instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a running agent's counters (protocol and socket) as JSON.
    Stats {
        /// The agent's control socket.
        #[arg(long)]
        control: PathBuf,
    },
    /// Make a running agent leave the cluster gracefully and exit.
    Leave {
        /// The agent's control socket.
        #[arg(long)]
        control: PathBuf,
    },
    /// Disseminate an application message through a running agent.
    Broadcast {
        /// The agent's control socket.
        #[arg(long)]
        control: PathBuf,
        /// The message (UTF-8 text).
        text: String,
    },
    /// List or rotate a running agent's cluster keys. Rotate with no false
    /// failures: `add` on every agent, then `use` on every agent, then
    /// `remove` the old key on every agent.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print the installed key ids, the primary (sealing) key first.
    List {
        /// The agent's control socket.
        #[arg(long)]
        control: PathBuf,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Install a key (accepted, not yet used to send); prints its id.
    Add {
        /// The agent's control socket.
        #[arg(long)]
        control: PathBuf,
        /// The key: 64 hex digits or base64 of 32 bytes (`-` reads stdin).
        #[arg(long = "key-file", value_name = "PATH")]
        key_file: PathBuf,
    },
    /// Make an installed key the primary (sealing) key.
    Use {
        /// The agent's control socket.
        #[arg(long)]
        control: PathBuf,
        /// The key id (8 hex digits, as `swim keys list` prints it).
        id: String,
    },
    /// Uninstall a key that is not primary.
    Remove {
        /// The agent's control socket.
        #[arg(long)]
        control: PathBuf,
        /// The key id (8 hex digits, as `swim keys list` prints it).
        id: String,
    },
}

/// Options of `swim agent`.
#[derive(clap::Args)]
struct AgentArgs {
    /// Address to bind (`ip:port`, `[ipv6]:port` or `host:port`); it is
    /// also the member's identity unless --advertise is given.
    #[arg(long)]
    bind: String,
    /// The address others reach this agent at, when --bind is a wildcard.
    #[arg(long)]
    advertise: Option<std::net::SocketAddr>,
    /// A seed to join through: `ip:port` or `host:port` (every A/AAAA
    /// record is tried). Repeatable.
    #[arg(long = "join", value_name = "ADDR_OR_HOST:PORT")]
    join: Vec<String>,
    /// Timer preset.
    #[arg(long, value_enum, default_value_t = Profile::Lan)]
    profile: Profile,
    /// Metadata announced with this member. Repeatable. Encoded as
    /// `key=value` lines (see swim_tokio::meta).
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// Answer joins with the most recently joined members (the bootstrap
    /// facilitator role).
    #[arg(long)]
    facilitator: bool,
    /// Unix socket for `swim members` / `swim leave`.
    #[arg(long)]
    control: Option<PathBuf>,
    /// Longest wait for a graceful leave, in seconds.
    #[arg(long, default_value_t = 3.0)]
    leave_timeout: f64,
    /// A cluster key file: 32 bytes as 64 hex digits or base64 (`head -c32
    /// /dev/urandom | base64`). Every datagram is then encrypted and
    /// authenticated. Repeatable: the first is the primary (sealing) key,
    /// the others are accepted too.
    #[arg(long = "key-file", value_name = "PATH")]
    key_files: Vec<PathBuf>,
    /// The cluster label: traffic of another label is dropped. Without a
    /// key it is a filter against mistakes, not security.
    #[arg(long, value_name = "NAME")]
    label: Option<String>,
    /// Accept datagrams only from this network (`10.0.0.0/8`, `fd00::/8`
    /// or one address), every message kind. Repeatable; none allows all.
    #[arg(long = "allow", value_name = "CIDR")]
    allow: Vec<swim_tokio::Cidr>,
    /// Migration switch: also accept datagrams without the configured
    /// label / encryption. Unsafe; only while turning them on.
    #[arg(long)]
    accept_plaintext: bool,
    /// Migration switch: send one step weaker than configured (needs
    /// --accept-plaintext). Only while turning protection on.
    #[arg(long)]
    send_plaintext: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Profile {
    /// 1 s protocol period (swim_core::Config::lan).
    Lan,
    /// 5 s protocol period (swim_core::Config::wan).
    Wan,
    /// 200 ms protocol period, for one host (swim_core::Config::local).
    Local,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Agent(args) => agent::main(args),
        Command::Members { control, json } => control::members(&control, json),
        Command::Stats { control } => control::stats(&control),
        Command::Leave { control } => control::leave(&control),
        Command::Broadcast { control, text } => control::broadcast(&control, &text),
        Command::Keys { command } => match command {
            KeysCommand::List { control, json } => control::keys_list(&control, json),
            KeysCommand::Add { control, key_file } => control::keys_add(&control, &key_file),
            KeysCommand::Use { control, id } => control::keys_use(&control, &id),
            KeysCommand::Remove { control, id } => control::keys_remove(&control, &id),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("swim: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `swim` (crate swim-agent): the command-line face of swim-tokio, like
//! `serf agent` / `serf members`. The binary is `src/main.rs`; this
//! library holds its parts so that the argument and control-request
//! parsers can be fuzzed and tested on their own.
//!
//! - `swim agent --bind ADDR [--join ADDR_OR_HOST:PORT]...` runs a member
//!   and prints one JSON line per event on stdout; logs go to stderr
//!   (`RUST_LOG` filters them). SIGINT/SIGTERM leave gracefully, then exit 0.
//! - `swim members | join | leave | force-leave | tags | monitor | event |
//!   info | stats | broadcast | keys` talk to a running agent over its
//!   control socket ([`socket`] says where it is and who may use it;
//!   [`request`] lists the requests). `--format json` prints JSON.
//!
//! Policy: a panic is a bug, never bad input. Every flag is checked when
//! the command line is parsed ([`cli`]), every control request before it
//! runs ([`request::parse`]); a bad value is one line naming the flag and
//! the value, and a non-zero exit.

pub mod cli;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
pub mod request;
pub mod socket;

mod agent;
mod client;
mod control;
mod handler;
mod json;
mod logs;
mod security;

use cli::{Command, KeysCommand};
use std::process::ExitCode;

/// Runs one parsed command line; prints `swim: <error>` and returns 1 on
/// failure.
pub fn run(cli: cli::Cli) -> ExitCode {
    let result = match cli.command {
        Command::Agent(args) => agent::main(*args),
        Command::Members {
            client,
            status,
            tags,
        } => client::members(&client, &status, &tags),
        Command::Join { client, addrs } => client::join(&client, &addrs),
        Command::Leave { client } => client::leave(&client),
        Command::ForceLeave { client, addr } => client::force_leave(&client, addr),
        Command::Tags {
            client,
            set,
            delete,
        } => {
            if set.is_empty() && delete.is_empty() {
                Err("tags: nothing to change: give --set KEY=VALUE and/or --delete KEY".into())
            } else {
                client::tags(&client, &set, &delete)
            }
        }
        Command::Monitor { client, logs } => client::monitor(&client, logs),
        Command::Event {
            client,
            name,
            payload,
        } => client::event(&client, &name, &payload),
        Command::Info { client } => client::info(&client),
        Command::Stats { client } => client::stats(&client),
        Command::Broadcast { client, text } => client::broadcast(&client, &text),
        Command::Keys { command } => match command {
            KeysCommand::List { client } => client::keys_list(&client),
            KeysCommand::Add { client, key_file } => client::keys_add(&client, &key_file),
            KeysCommand::Use { client, id } => client::keys_use(&client, &id),
            KeysCommand::Remove { client, id } => client::keys_remove(&client, &id),
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

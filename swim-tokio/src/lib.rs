//! SWIM gossip membership over tokio UDP sockets.
//!
//! A thin runtime around [`swim_core`]: one task per [`Node`] owns the UDP
//! socket and the protocol state machine; it feeds every datagram to
//! `handle_datagram`, sleeps until `next_deadline` to call `tick`, and sends
//! what the core says. All protocol logic lives in the core. Socket errors
//! (EPERM from a firewall, ENETUNREACH from a downed link, ...) are counted
//! in [`Node::io_stats`] and survived.
//!
//! ```no_run
//! # async fn demo() -> Result<(), swim_tokio::Error> {
//! use std::time::Duration;
//! use swim_tokio::{Config, Event, Node};
//!
//! let node = Node::bind("127.0.0.1:7946", Config::lan()).await?;
//! let mut events = node.events();
//! node.join(&["seed.example:7946", "10.0.0.2:7946"]).await?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         Event::Failed { member } => println!("{member} failed"),
//!         other => println!("{other:?}"),
//!     }
//!     # break;
//! }
//! println!("{} members", node.members().len());
//! node.leave(Duration::from_secs(2)).await?;
//! # Ok(()) }
//! ```
//!
//! The `swim` binary of this crate is a command-line agent over the same
//! API (`swim agent`, `swim members`, `swim leave`).

mod driver;
pub mod meta;
mod node;
mod seeds;

pub use node::{Builder, Events, Node};
pub use swim_core::{Action, Config, ConfigError, Event, Member, State, Stats};

use core::fmt;
use std::net::SocketAddr;

/// The runtime's own counters (the protocol's are in [`Node::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoStats {
    /// Datagrams the socket refused to send (counted, then dropped).
    pub send_errors: u64,
    /// Errors reading the socket (counted, then skipped).
    pub recv_errors: u64,
}

/// Why an operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Binding or a socket call failed.
    Io(std::io::Error),
    /// The configuration is invalid.
    Config(ConfigError),
    /// The core refused a command (payload too large, unknown member, ...).
    Swim(swim_core::Error),
    /// No seed resolved to an address this socket can reach.
    NoSeedAddress,
    /// Bound to a wildcard address without [`Builder::advertise`].
    NeedAdvertise(SocketAddr),
    /// The node has stopped (after `leave`, `shutdown` or the last drop).
    Stopped,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "socket: {e}"),
            Error::Config(e) => e.fmt(f),
            Error::Swim(e) => e.fmt(f),
            Error::NoSeedAddress => f.write_str("no seed resolved to a reachable address"),
            Error::NeedAdvertise(a) => {
                write!(f, "bound to wildcard {a}: set an address to advertise")
            }
            Error::Stopped => f.write_str("the node has stopped"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Config(e) => Some(e),
            Error::Swim(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<swim_core::Error> for Error {
    fn from(e: swim_core::Error) -> Self {
        Error::Swim(e)
    }
}

/// A seed for the core's PRNG from the operating system's randomness (the
/// runtime may use it; the core may not).
pub fn os_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState keys come from the OS; mix in the process and time too.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

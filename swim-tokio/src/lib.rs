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
//! [`Node::events`] is a subscription with an async `recv`;
//! [`Events::into_stream`] turns it into a [`futures_core::Stream`]
//! ([`EventStream`], whose lag behaviour is documented there) for
//! `select!` loops: see `examples/event_stream.rs`.
//!
//! This crate is a library only: it depends on swim-core, tokio, bytes and
//! tracing. The `swim` command-line agent over the same API is the
//! `swim-agent` crate.
//!
//! # Security
//!
//! By default datagrams are plaintext: for trusted networks only (see
//! `SECURITY.md`). [`Security`] sets a cluster label, a keyring
//! (XChaCha20-Poly1305 for every datagram) and a source-address
//! [`AllowList`] at bind time ([`Node::bind_with`], [`Builder::security`]);
//! [`Node::set_envelope`], [`Node::add_key`], [`Node::use_key`],
//! [`Node::remove_key`] and [`Node::set_allow_list`] change them while the
//! node runs (key rotation: add everywhere, then use everywhere, then
//! remove everywhere). The core does all of the work; these calls only hand
//! it the new settings.
//!
//! Sealing nonces come from the core's PRNG, which this crate seeds from the
//! operating system's randomness ([`os_seed`]) unless [`Builder::rng_seed`]
//! fixes it: never fix the seed of a keyed node outside tests, or two runs
//! reuse nonces under the same key.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use swim_tokio::{AllowList, Config, EnvelopeConfig, Key, Keyring, Label, Node, Security};
//!
//! let key = Key::parse(&std::fs::read_to_string("/etc/swim/key")?)?;
//! let security = Security {
//!     envelope: EnvelopeConfig {
//!         label: Some(Label::new("prod-eu")?),
//!         keyring: Some(Keyring::new(key)),
//!         ..EnvelopeConfig::default()
//!     },
//!     allow: AllowList::parse(["10.0.0.0/8"])?,
//! };
//! let node = Node::bind_with("10.0.0.1:7946", Config::lan(), security).await?;
//! // Rotation, step by step on every node:
//! let new_id = node.add_key(Key::parse(&std::fs::read_to_string("/etc/swim/key.new")?)?)?;
//! node.use_key(new_id)?;
//! # let old_id = new_id;
//! node.remove_key(old_id)?;
//! # Ok(()) }
//! ```

mod driver;
pub mod meta;
mod node;
mod seeds;

pub use node::{Builder, EventStream, Events, Node, Security};
pub use swim_core::allow::{AllowList, AllowListError, Cidr, CidrError};
pub use swim_core::wire::envelope::{
    EnvelopeConfig, EnvelopeConfigError, Key, KeyError, KeyId, Keyring, KeyringError, Label,
    LabelError,
};
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
    /// The envelope configuration is inconsistent (e.g. `send_plaintext`
    /// without `accept_plaintext`).
    Envelope(EnvelopeConfigError),
    /// The keyring refused a change (unknown key id, removing the primary,
    /// full, id collision). Nothing changed.
    Keyring(KeyringError),
    /// A key operation on a node without a keyring: turn encryption on
    /// with [`Node::set_envelope`] (see SECURITY.md's migration).
    NoKeyring,
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
            Error::Envelope(e) => e.fmt(f),
            Error::Keyring(e) => e.fmt(f),
            Error::NoKeyring => {
                f.write_str("no keyring is configured (start with a key to use encryption)")
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
            Error::Envelope(e) => Some(e),
            Error::Keyring(e) => Some(e),
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

impl From<EnvelopeConfigError> for Error {
    fn from(e: EnvelopeConfigError) -> Self {
        Error::Envelope(e)
    }
}

impl From<KeyringError> for Error {
    fn from(e: KeyringError) -> Self {
        Error::Keyring(e)
    }
}

/// A seed for the core's PRNG from the operating system's randomness (the
/// runtime may use it; the core may not). Every [`Node`] is seeded with a
/// fresh one unless [`Builder::rng_seed`] says otherwise; with a keyring
/// this matters, because the core draws its sealing nonces from that PRNG.
///
/// The seed is 8 bytes from the OS random source (`getrandom`). Should that
/// source fail (no `/dev/urandom` in a sandbox), the bits of a fresh
/// `RandomState` (also OS-keyed), the process id and the time are hashed
/// instead, and a warning is logged.
pub fn os_seed() -> u64 {
    match getrandom::u64() {
        Ok(seed) => seed,
        Err(e) => {
            tracing::warn!(error = %e, "OS random source failed; seeding from RandomState");
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
                h.write_u128(t.as_nanos());
            }
            h.finish()
        }
    }
}

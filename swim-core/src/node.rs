//! The node: dispatches inputs to the protocol parts. (STUB API.)

use crate::{Action, Addr, Config, ConfigError, State, Stats};
use bytes::Bytes;
use core::fmt;
use std::time::Instant;

/// A member as this node currently sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member<A> {
    /// Its address (and identity).
    pub addr: A,
    /// Its incarnation number.
    pub incarnation: u64,
    /// Its state.
    pub state: State,
    /// Its metadata.
    pub meta: Bytes,
}

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The payload is larger than `Config::max_payload_size`.
    PayloadTooLarge {
        /// The payload's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The metadata is larger than `Config::max_meta_size`.
    MetaTooLarge {
        /// The metadata's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// No such member is known (or it is not alive).
    UnknownMember,
    /// This node has left the cluster.
    Left,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::PayloadTooLarge { size, max } => {
                write!(f, "payload of {size} bytes exceeds the {max}-byte limit")
            }
            Error::MetaTooLarge { size, max } => {
                write!(f, "metadata of {size} bytes exceeds the {max}-byte limit")
            }
            Error::UnknownMember => f.write_str("no such live member"),
            Error::Left => f.write_str("this node has left the cluster"),
        }
    }
}

impl std::error::Error for Error {}

/// One cluster member's protocol state machine.
pub struct Swim<A: Addr> {
    local: A,
    config: Config,
    stats: Stats,
}

impl<A: Addr> Swim<A> {
    /// Creates a node at `local` with a validated `config`; `seed` drives
    /// every random choice.
    pub fn new(local: A, config: Config, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let _ = seed;
        Ok(Swim { local, config, stats: Stats::default() })
    }
    /// Sets this node's metadata (announced with a new incarnation).
    pub fn set_meta(&mut self, now: Instant, meta: Bytes) -> Result<Vec<Action<A>>, Error> {
        let _ = (now, meta);
        Ok(Vec::new())
    }
    /// Starts joining through `seeds`, retrying with backoff until one answers.
    pub fn join(&mut self, now: Instant, seeds: &[A]) -> Vec<Action<A>> {
        let _ = (now, seeds);
        Vec::new()
    }
    /// Handles one datagram from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: A, bytes: &[u8]) -> Vec<Action<A>> {
        let _ = (now, from, bytes);
        Vec::new()
    }
    /// Runs due timers.
    pub fn tick(&mut self, now: Instant) -> Vec<Action<A>> {
        let _ = now;
        Vec::new()
    }
    /// When `tick` must next be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        None
    }
    /// Leaves the cluster gracefully.
    pub fn leave(&mut self, now: Instant) -> Vec<Action<A>> {
        let _ = now;
        Vec::new()
    }
    /// Disseminates an application payload to every member.
    pub fn broadcast(&mut self, now: Instant, payload: Bytes) -> Result<Vec<Action<A>>, Error> {
        let _ = (now, payload);
        Ok(Vec::new())
    }
    /// Sends an application payload to one member.
    pub fn send_to(&mut self, now: Instant, member: A, payload: Bytes) -> Result<Vec<Action<A>>, Error> {
        let _ = (now, member, payload);
        Ok(Vec::new())
    }
    /// Every known member except this node, in address order.
    pub fn members(&self) -> impl Iterator<Item = Member<A>> + '_ {
        core::iter::empty()
    }
    /// This node as the cluster should see it.
    pub fn local(&self) -> Member<A> {
        Member { addr: self.local, incarnation: 0, state: State::Alive, meta: Bytes::new() }
    }
    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }
}

//! swim-core: the SWIM + Lifeguard membership protocol as a pure state
//! machine. (Docs being written.)

#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod addr;
mod config;
mod event;
mod gossip;
mod hash;
mod join;
mod member;
mod membership;
mod node;
mod probe;
mod queue;
mod rng;
mod suspicion;
pub mod wire;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use addr::Addr;
pub use config::{Config, ConfigError};
pub use event::{Action, Event, Stats};
pub use node::{Error, Member, Swim};
pub use wire::State;

#[cfg(test)]
mod cluster_tests;
#[cfg(test)]
mod testkit;

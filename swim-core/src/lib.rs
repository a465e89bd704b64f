//! swim-core: the SWIM + Lifeguard gossip membership protocol as a pure
//! state machine ("sans-IO").
//!
//! Every member of a cluster learns, within seconds and at a constant
//! per-member network load, who else is alive, who failed and who left.
//! This crate has no sockets, no clocks and no OS randomness: you hand it
//! datagrams and the current time, it hands back datagrams to send and
//! events to report. The runtimes `swim-tokio` and `swim-mio` do exactly
//! that over UDP; `swim-sim` does it for thousands of nodes on virtual time.
//!
//! # The run loop
//!
//! ```no_run
//! use std::net::{SocketAddr, UdpSocket};
//! use std::time::Instant;
//! use swim_core::{Action, Config, Event, Swim};
//!
//! let local: SocketAddr = "127.0.0.1:7946".parse().unwrap();
//! let socket = UdpSocket::bind(local).unwrap();
//! let mut node = Swim::new(local, Config::lan(), 42).unwrap();
//! let seed: SocketAddr = "127.0.0.1:7947".parse().unwrap();
//! let mut actions = node.join(Instant::now(), &[seed]);
//! let mut buf = [0u8; 65_536];
//! loop {
//!     for action in actions.drain(..) {
//!         match action {
//!             Action::Send { to, payload } => {
//!                 let _ = socket.send_to(&payload, to); // errors: count and go on
//!             }
//!             Action::Event(Event::Failed { member }) => println!("{member} failed"),
//!             Action::Event(e) => println!("{e:?}"),
//!         }
//!     }
//!     // Sleep until the next timer, or until a datagram arrives.
//!     let timeout = node.next_deadline().map(|t| t.saturating_duration_since(Instant::now()));
//!     socket.set_read_timeout(timeout.filter(|d| !d.is_zero())).unwrap();
//!     actions = match socket.recv_from(&mut buf) {
//!         Ok((len, from)) => node.handle_datagram(Instant::now(), from, &buf[..len]),
//!         Err(_) => node.tick(Instant::now()),
//!     };
//! }
//! ```
//!
//! # The state machine's methods
//!
//! * **Inputs**: [`Swim::handle_datagram`] (one UDP datagram and its real
//!   source address) and [`Swim::tick`] (timers; call it at or after
//!   [`Swim::next_deadline`]).
//! * **Commands**: [`Swim::join`], [`Swim::leave`], [`Swim::broadcast`],
//!   [`Swim::send_to`], [`Swim::set_meta`].
//! * **Outputs**: each input and command returns the [`Action`]s to perform,
//!   in order.
//! * **Getters**: [`Swim::members`], [`Swim::member`], [`Swim::local`],
//!   [`Swim::stats`], [`Swim::config`], [`Swim::health_score`].
//!
//! # Policies
//!
//! * A panic is a bug, never bad input: any byte string yields a counted
//!   error and no state change. No allocation is larger than the datagram.
//! * Determinism: the same seed and the same inputs give the same outputs,
//!   bit for bit (one ChaCha8 PRNG; ordered or lookup-only maps).
//! * Bounded: every table and queue has a configured limit; drops are
//!   counted in [`Stats`]. No datagram exceeds `Config::max_packet_size`,
//!   and replies are at most three times the size of what caused them.
//! * No per-datagram work grows with the cluster: lookups, probe selection,
//!   sampling and piggyback selection are O(1) or O(log n).
//!
//! # Protocol
//!
//! SWIM (Das, Gupta, Motivala 2002) with Lifeguard (Dadgar et al. 2018):
//! randomized round-robin probing, ping-req through `k` helpers with nacks,
//! a local health multiplier, dynamic suspicion timeouts that shrink with
//! independent confirmations, the buddy system, refutation by incarnation,
//! piggybacked dissemination with a retransmit budget, push-pull sync,
//! healing after partitions, graceful leave and reaping. Plaintext mode is
//! for trusted networks: see the repository's SECURITY.md.

#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod addr;
mod admission;
pub mod allow;
mod budget;
mod config;
mod damping;
mod event;
mod gossip;
mod hash;
mod join;
mod leave;
mod member;
mod membership;
mod node;
mod probe;
mod queue;
mod rng;
mod security;
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
mod proptests;
#[cfg(test)]
mod security_tests;
#[cfg(test)]
mod testkit;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

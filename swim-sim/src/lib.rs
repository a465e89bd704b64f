//! swim-sim: a deterministic discrete-event network simulator for the
//! [`swim_core`] SWIM + Lifeguard state machine.
//!
//! One event queue ordered by `(time, sequence)`; virtual time jumps to the
//! next event; every random choice — latencies, losses, which nodes crash,
//! each node's protocol seed — derives from one master seed through
//! `rand_chacha`. Nodes are `Swim<SocketAddrV4>` (six-byte addresses on the
//! wire, so byte counts match real IPv4 deployments); the addresses are
//! virtual labels, no socket is ever opened.
//!
//! ```
//! use std::time::Duration;
//! use swim_sim::Builder;
//!
//! let s = Duration::from_secs;
//! let report = Builder::new()
//!     .seed(42)
//!     .nodes(30)
//!     .loss(0.05)
//!     .crash(s(20), [7])
//!     .duration(s(60))
//!     .build()
//!     .run();
//! // Checkers run on every simulation: see `Report::violations`.
//! println!("{}", report.summary());
//! ```
//!
//! Faults (all scheduled at offsets from the start): `partition` /
//! `partition_oneway` / `partition_pick` / `repair` between node sets,
//! `hold` / `release`, `crash` / `crash_pick` (a fraction at once: mass
//! crash) / `restart` (fresh state, same address), `pause` (SIGSTOP), `slow`
//! (both lanes late: received datagrams FIFO and timers, lag drawn per
//! event), `gc_pauses`, `churn` (crashes + restarts, leaves, joins),
//! `flapping` links, `inbound_loss` (asymmetric), `join_storm`, `leave`,
//! `loss_at`, `broadcast`; network-wide iid `loss`, `latency`, `duplicate`,
//! `reorder`. [`Scenario`] reads the same from a TOML file, and
//! [`matrix`] runs the stress matrix.
//!
//! Checkers on every run: incarnations never go back, no resurrection of a
//! crashed or departed member, a running node never holds itself Failed
//! and refutes every Failed claim about itself it handles, convergence once
//! faults stop, no datagram over `max_packet_size`, and every node's
//! `members()` agrees with the events it emitted. `tests/checkers_fire.rs`
//! shows each one firing on a deliberately broken node ([`Tamper`]).
//!
//! The library needs no CLI crates: `default-features = false` drops the
//! `cli` feature (clap, for the `swim-sim` binary only).
//!
//! `SWIM_SEED=S` replays a seed and `SWIM_SEEDS=N` sweeps `0..N` (see
//! [`seeds_from_env`] and [`for_each_seed`]).

mod addr;
mod builder;
mod check;
mod finish;
pub mod fuzzing;
pub mod matrix;
mod metrics;
mod net;
mod queue;
pub mod report;
mod rng;
pub mod scenario;
mod sim;
pub mod svg;
mod sweep;
mod trace;
mod view;

pub use addr::{node_addr, node_id, NodeId, PORT};
pub use builder::{Builder, Churn, Flapping, GcPauses, NodeSet, Pick, SimConfig, Tamper};
pub use check::{Violation, ViolationKind};
pub use metrics::{
    BroadcastRecord, Convergence, CrashRecord, Detection, FalsePositives, FaultLoad, Lag, Load,
    LoadBin, PauseRecord, Report, RestartRecord, ViewSample,
};
pub use net::NetConfig;
pub use rng::seeds_from_env;
pub use scenario::Scenario;
pub use sim::{Progress, Sim, Status};
pub use sweep::{for_each_seed, random_schedule};

/// `Config` with every Lifeguard mechanism switched off (plain SWIM).
pub fn without_lifeguard(mut config: swim_core::Config) -> swim_core::Config {
    config.lifeguard_nack = false;
    config.lifeguard_suspicion = false;
    config.lifeguard_awareness = false;
    config.lifeguard_buddy = false;
    config
}

//! Invariant violations found by the checkers that run on every simulation.

use crate::NodeId;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// Which invariant broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ViolationKind {
    /// A node's own incarnation, or an incarnation it holds for a member
    /// that stayed in its table, went backwards.
    IncarnationDecreased,
    /// A node reported a crashed or departed member dead, then alive again,
    /// though that member never came back.
    Resurrection,
    /// A running node holds itself Failed (or Left without leaving).
    SelfFailed,
    /// Faults stopped, yet live nodes did not all see exactly the live set
    /// within the bound.
    NotConverged,
    /// A datagram larger than `max_packet_size` was emitted.
    OversizedDatagram,
    /// A node's `members()` disagrees with the events it emitted.
    ViewMismatch,
}

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Simulated time since the start.
    #[serde(serialize_with = "as_secs")]
    pub at: Duration,
    /// The node where it was seen.
    pub node: NodeId,
    /// The invariant.
    pub kind: ViolationKind,
    /// Human-readable specifics.
    pub detail: String,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "t={:.3}s node {}: {:?}: {}",
            self.at.as_secs_f64(),
            self.node,
            self.kind,
            self.detail
        )
    }
}

/// Collected violations: all counted, the first [`Checks::KEPT`] kept.
#[derive(Clone, Debug, Default)]
pub(crate) struct Checks {
    pub(crate) total: u64,
    pub(crate) kept: Vec<Violation>,
}

impl Checks {
    pub(crate) const KEPT: usize = 100;

    pub(crate) fn report(&mut self, at: u64, node: NodeId, kind: ViolationKind, detail: String) {
        self.total += 1;
        if self.kept.len() < Self::KEPT {
            self.kept.push(Violation {
                at: Duration::from_nanos(at),
                node,
                kind,
                detail,
            });
        }
    }
}

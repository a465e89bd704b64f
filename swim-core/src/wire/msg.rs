//! The messages one datagram carries, as plain data.
//!
//! A datagram is one [`Packet`]: a [`Body`] (what the sender asks or answers),
//! then piggybacked membership [`Update`]s, then application [`Broadcast`]s.
//! Encoding and decoding live in the sibling modules; these types have no
//! behaviour of their own.

use bytes::Bytes;

/// Liveness state of a member, as carried on the wire and kept in the table.
///
/// Precedence at equal incarnation: `Left` and `Failed` beat `Suspect`, which
/// beats `Alive`. A higher incarnation always wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Answering probes.
    Alive,
    /// Missed a probe; will be declared `Failed` unless it refutes in time.
    Suspect,
    /// Declared dead after its suspicion timed out.
    Failed,
    /// Left the cluster on purpose.
    Left,
}

/// What a datagram asks for or answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body<A> {
    /// No request: the packet only carries updates and broadcasts.
    Gossip,
    /// Direct probe; the receiver answers `Ack` with the same `seq` to the
    /// datagram's source address.
    Ping {
        /// Probe sequence number chosen by the sender.
        seq: u32,
    },
    /// Answer to a `Ping` (or, relayed by a helper, to a `PingReq`).
    Ack {
        /// The `seq` of the probe being answered.
        seq: u32,
    },
    /// Indirect probe: "please ping `target` for me and relay the ack".
    PingReq {
        /// The requester's probe sequence number, echoed in the relayed `Ack`/`Nack`.
        seq: u32,
        /// The member to probe.
        target: A,
    },
    /// Lifeguard: a helper's "I asked, the target has not answered (yet)".
    Nack {
        /// The requester's probe sequence number.
        seq: u32,
    },
    /// Join request: the sender's own `Alive` update rides in `updates`.
    Join {
        /// Request number, echoed in the `Members` replies.
        seq: u32,
        /// Where in the seed's table to continue (0 for the first request;
        /// then the `cursor` of the previous `Members` reply).
        cursor: u32,
        /// Zero bytes the request is padded with, so that the reply (at
        /// most three times the request's size: no amplification) can carry
        /// a full datagram of members.
        pad: u16,
    },
    /// A slice of a membership table: a join reply or a push-pull state sync.
    Members {
        /// The request this answers (0 for an unsolicited sync request).
        seq: u32,
        /// What the records are for (see the `MEMBERS_*` constants).
        flags: u8,
        /// Where the next page starts, when `MEMBERS_MORE` is set.
        cursor: u32,
        /// Member records, one per member.
        records: Vec<Update<A>>,
    },
    /// An application payload for this node only (`Swim::send_to`).
    User {
        /// The payload, opaque to the protocol.
        payload: Bytes,
    },
}

/// `Members::flags` bit: the records answer a `Join`.
pub const MEMBERS_JOIN_REPLY: u8 = 0x01;
/// `Members::flags` bit: the sender wants the receiver's table back (push-pull).
pub const MEMBERS_SYNC_REQUEST: u8 = 0x02;
/// `Members::flags` bit: the records answer a sync request.
pub const MEMBERS_SYNC_REPLY: u8 = 0x04;
/// `Members::flags` bit: more `Members` datagrams follow for this `seq`.
pub const MEMBERS_MORE: u8 = 0x08;
/// Every defined `Members::flags` bit; a decoder rejects any other.
pub const MEMBERS_ALL_FLAGS: u8 = 0x0f;

/// One piece of membership news about `addr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update<A> {
    /// The member the news is about.
    pub addr: A,
    /// The member's incarnation the news refers to.
    pub incarnation: u64,
    /// What is claimed.
    pub kind: UpdateKind<A>,
}

/// The claim an [`Update`] makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateKind<A> {
    /// The member is alive, with this metadata (possibly empty).
    Alive {
        /// Application metadata, at most `Config::max_meta_size` bytes.
        meta: Bytes,
    },
    /// `by` suspects the member.
    Suspect {
        /// The member that suspects it (Lifeguard counts distinct suspectors).
        by: A,
    },
    /// `by` declared the member failed.
    Failed {
        /// The member that declared it.
        by: A,
    },
    /// The member left on purpose.
    Left,
}

impl<A> UpdateKind<A> {
    /// The state this claim sets.
    pub fn state(&self) -> State {
        match self {
            UpdateKind::Alive { .. } => State::Alive,
            UpdateKind::Suspect { .. } => State::Suspect,
            UpdateKind::Failed { .. } => State::Failed,
            UpdateKind::Left => State::Left,
        }
    }
}

/// An application broadcast (`Swim::broadcast`), disseminated like an update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broadcast<A> {
    /// The member that broadcast it.
    pub origin: A,
    /// Per-origin id, increasing; with `origin` it identifies the broadcast.
    pub id: u64,
    /// The payload, opaque to the protocol.
    pub payload: Bytes,
}

/// One whole datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<A> {
    /// What the datagram asks or answers.
    pub body: Body<A>,
    /// Piggybacked membership updates.
    pub updates: Vec<Update<A>>,
    /// Piggybacked application broadcasts.
    pub broadcasts: Vec<Broadcast<A>>,
}

//! What the state machine asks its runtime to do, and tells it.

use bytes::Bytes;

/// One thing for the runtime to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<A> {
    /// Send `payload` as one UDP datagram to `to`.
    Send {
        /// Destination address.
        to: A,
        /// The whole datagram, never larger than `Config::max_packet_size`.
        payload: Bytes,
    },
    /// Report a membership change or an application message.
    Event(Event<A>),
}

/// A membership change or an application message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<A> {
    /// A member was seen for the first time (or came back after it left,
    /// or after it was forgotten).
    Joined {
        /// The member.
        member: A,
        /// Its metadata.
        meta: Bytes,
    },
    /// A member's metadata changed.
    Updated {
        /// The member.
        member: A,
        /// Its new metadata.
        meta: Bytes,
    },
    /// A member is suspected of having failed.
    Suspected {
        /// The member.
        member: A,
    },
    /// A member is alive again: a suspected member refuted the suspicion,
    /// or a member declared failed turned out to be alive (it refuted, or
    /// restarted at the same address).
    Alive {
        /// The member.
        member: A,
    },
    /// A member was declared failed.
    Failed {
        /// The member.
        member: A,
    },
    /// A member left on purpose.
    Left {
        /// The member.
        member: A,
    },
    /// An application payload arrived (a broadcast, or a direct message).
    Message {
        /// The member that sent it (for a broadcast, its origin).
        from: A,
        /// The payload.
        payload: Bytes,
        /// `true` for a broadcast, `false` for a direct `send_to` message.
        broadcast: bool,
    },
}

/// Counters; every drop and rejection is counted here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to `handle_datagram`.
    pub datagrams_received: u64,
    /// Bytes handed to `handle_datagram`.
    pub bytes_received: u64,
    /// Datagrams emitted as `Action::Send`.
    pub datagrams_sent: u64,
    /// Bytes emitted as `Action::Send`.
    pub bytes_sent: u64,
    /// Datagrams that failed to decode (dropped, nothing changed).
    pub decode_errors: u64,
    /// Datagrams dropped for another reason (from ourselves, after leaving,
    /// claims about us we cannot apply, ...).
    pub datagrams_dropped: u64,
    /// Direct probes started.
    pub probes: u64,
    /// Indirect probe requests sent (one per helper).
    pub indirect_probes: u64,
    /// Nacks received as a requester.
    pub nacks_received: u64,
    /// Nacks sent as a helper.
    pub nacks_sent: u64,
    /// Probes that ended without an ack.
    pub probes_failed: u64,
    /// Members this node started suspecting.
    pub suspicions: u64,
    /// Times this node refuted a claim about itself.
    pub refutations: u64,
    /// Updates dropped from the full dissemination queue.
    pub update_queue_drops: u64,
    /// Broadcasts dropped from the full broadcast queue.
    pub broadcast_queue_drops: u64,
    /// New members ignored because `max_members` was reached.
    pub member_table_full: u64,
    /// Ping-reqs ignored because `max_relays` were in flight.
    pub relay_drops: u64,
    /// Updates or records ignored as invalid (oversized metadata, ...).
    pub updates_rejected: u64,
    /// Join requests sent.
    pub joins_sent: u64,
    /// Push-pull state syncs started.
    pub syncs: u64,
    /// Members forgotten after `retention`.
    pub reaped: u64,
    /// Datagrams dropped because their source is outside the allow-list.
    pub not_allowed: u64,
    /// Datagrams dropped by the envelope: wrong label, unknown key, failed
    /// authentication, plaintext refused, ...
    pub envelope_rejected: u64,
    /// Datagrams not sent because the send budget
    /// (`Config::max_datagrams_per_period` / `max_bytes_per_period`) was
    /// spent.
    pub send_budget_drops: u64,
    /// Sealed datagrams dropped as replays (a counter already seen, or too
    /// old, in its sender's replay window).
    pub replays_rejected: u64,
    /// Replay challenges sent (to a sealed datagram's source whose epoch or
    /// address was not yet validated).
    pub challenges_sent: u64,
    /// Sources validated by a round trip (an answered challenge or probe).
    pub sources_validated: u64,
    /// New members not admitted: too many unverified members (never
    /// answered a probe) already in the table.
    pub unverified_dropped: u64,
}

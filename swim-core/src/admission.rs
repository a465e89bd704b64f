//! Who is let in: sources a round trip validated (an ack to our ping, a
//! join reply to our request, an answered challenge), members that
//! strangers introduce (quarantined until they answer a ping), and where a
//! Left notice goes in keyed mode.

use crate::wire::{self, Body, PacketBuilder, Update};
use crate::{Addr, Swim};
use std::net::IpAddr;
use std::time::Duration;

/// Most new members a stranger introduced that wait for their verification
/// ack at once.
const MAX_QUARANTINE: usize = 64;
/// Of those, most from one network (/24 for IPv4, /64 for IPv6).
const MAX_QUARANTINE_PER_NETWORK: usize = 8;

/// A new member a stranger told us of, pinged, not yet in the table.
#[derive(Clone)]
pub(crate) struct Quarantined<A> {
    update: Update<A>,
    seq: u32,
    expires: Duration,
}

/// The network a member address belongs to, for per-network limits.
fn network(ip: Option<IpAddr>) -> Option<u128> {
    match ip? {
        IpAddr::V4(v4) => Some(u128::from(u32::from(v4) >> 8)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Some(u128::from(u32::from(v4) >> 8)),
            None => Some((u128::from(v6) >> 64) | (1 << 64)),
        },
    }
}

impl<A: Addr> Swim<A> {
    /// An ack answering one of our pings (a probe, or a quarantined
    /// member's verification) proves its source is at its address; a
    /// quarantined member that answers joins the table.
    pub(crate) fn note_round_trip(&mut self, from: A, seq: u32) {
        let quarantined = self
            .guard
            .quarantine
            .iter()
            .position(|q| q.update.addr == from && q.seq == seq);
        if (quarantined.is_some() || self.prober.expects_ack(from, seq))
            && self.guard.validate(from)
        {
            self.stats.sources_validated += 1;
        }
        if let Some(q) = quarantined.and_then(|i| self.guard.quarantine.remove(i)) {
            self.apply_update(&q.update);
        }
    }

    /// A join reply (or page) answering our own request proves its source.
    pub(crate) fn note_join_reply(&mut self, from: A, seq: u32, flags: u8) {
        if flags & wire::MEMBERS_JOIN_REPLY != 0
            && self.joiner.expects_reply(seq)
            && self.guard.validate(from)
        {
            self.stats.sources_validated += 1;
        }
    }

    /// Whether the unknown member `u` (an Alive claim) enters the table now.
    /// Yes unless a *stranger* (a source neither validated by a round trip
    /// nor a live member) introduced it: then it waits in a bounded
    /// quarantine, is pinged, and joins only when it answers. A flood of
    /// forged joiners never reaches the table, the probe rotation, the
    /// dissemination queue or a join reply.
    pub(crate) fn admit_new(&mut self, u: &Update<A>) -> bool {
        let Some(src) = self.guard.source else {
            return true;
        };
        if self.guard.is_validated(&src) || self.is_live(&src) {
            return true;
        }
        self.quarantine(u.clone());
        false
    }

    fn quarantine(&mut self, u: Update<A>) {
        let now = self.now;
        while self
            .guard
            .quarantine
            .front()
            .is_some_and(|q| q.expires <= now)
        {
            self.guard.quarantine.pop_front();
        }
        if let Some(q) = self
            .guard
            .quarantine
            .iter_mut()
            .find(|q| q.update.addr == u.addr)
        {
            if u.incarnation >= q.update.incarnation {
                q.update = u;
            }
            return;
        }
        let net = network(u.addr.source_ip());
        let same_net = net.map_or(0, |n| {
            self.guard
                .quarantine
                .iter()
                .filter(|q| network(q.update.addr.source_ip()) == Some(n))
                .count()
        });
        if self.guard.quarantine.len() >= MAX_QUARANTINE || same_net >= MAX_QUARANTINE_PER_NETWORK {
            self.stats.unverified_dropped += 1;
            return;
        }
        let seq = self.next_seq();
        let to = u.addr;
        self.guard.quarantine.push_back(Quarantined {
            update: u,
            seq,
            expires: now + self.config.probe_interval,
        });
        // A bare ping: no piggyback for an address nobody vouched for.
        if let Some(b) = PacketBuilder::<A>::new(&Body::Ping { seq }, self.max_datagram()) {
            let payload = b.finish();
            self.emit_datagram(to, payload);
        }
    }

    /// Members to hand a Left notice to. Keyed, members that have not
    /// exchanged with this run yet would hold the notice until a challenge
    /// that a node which left never answers: members whose address a round
    /// trip validated (and which therefore know this run) come first.
    pub(crate) fn leave_targets(&mut self) -> Vec<A> {
        let want = self.config.leave_fanout;
        if !self.envelope.encrypts() {
            return self.random_members(want, None);
        }
        let mut pool = self.random_members(want.saturating_mul(4), None);
        pool.sort_by_key(|a| !self.guard.is_validated(a));
        pool.truncate(want);
        pool
    }
}

#[cfg(test)]
mod tests {
    use super::network;
    use std::net::IpAddr;

    fn net(s: &str) -> Option<u128> {
        network(Some(s.parse::<IpAddr>().unwrap()))
    }

    #[test]
    fn networks_are_slash_24_and_slash_64() {
        assert_eq!(net("10.1.2.3"), net("10.1.2.250"));
        assert_ne!(net("10.1.2.3"), net("10.1.3.3"));
        assert_eq!(
            net("::ffff:10.1.2.3"),
            net("10.1.2.9"),
            "mapped IPv4 is IPv4"
        );
        assert_eq!(net("2001:db8:0:1::5"), net("2001:db8:0:1:ffff::1"));
        assert_ne!(net("2001:db8:0:1::5"), net("2001:db8:0:2::5"));
        assert_ne!(net("0.0.0.1"), net("::1"), "v4 and v6 never share one");
        assert_eq!(network(None), None);
    }
}

//! The network between nodes: latency, iid loss, duplication and reordering
//! per datagram, and link rules between node sets (partitions, one-way
//! partitions, held links), flapping node pairs and per-node inbound loss.
//! iid loss and link breaks are separate knobs and separate counters: a
//! partition is never reported as "loss".

use crate::rng::SimRng;
use crate::view::Bits;
use crate::NodeId;
use std::time::Duration;

/// Per-datagram network behaviour.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    /// Smallest one-way latency.
    pub latency_min: Duration,
    /// Largest one-way latency (uniform in between).
    pub latency_max: Duration,
    /// Probability that a datagram is lost (iid), in `[0, 1]`.
    pub loss: f64,
    /// Probability that a delivered datagram arrives twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back by up to `reorder_delay`
    /// extra, so later datagrams overtake it.
    pub reorder: f64,
    /// Largest extra delay of a reordered datagram.
    pub reorder_delay: Duration,
}

impl Default for NetConfig {
    /// A LAN: 1–5 ms one way, no loss, no duplication, no reordering.
    fn default() -> Self {
        NetConfig {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(5),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(50),
        }
    }
}

/// What a link rule does to matching datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkKind {
    /// Dropped (a partition).
    Block,
    /// Kept until released (turmoil's `hold`).
    Hold,
}

#[derive(Clone, Debug)]
struct Rule {
    from: Bits,
    to: Bits,
    kind: LinkKind,
}

/// The fate of one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Arrives after the delay (twice if `dup` is set).
    Deliver { delay: u64, dup: Option<u64> },
    /// Lost to iid loss.
    Lost,
    /// Lost to the receiver's inbound loss (asymmetric loss).
    LostInbound,
    /// Dropped because the pair's link is flapping down.
    LinkDown,
    /// Dropped by a partition.
    Blocked,
    /// Held by a held link.
    Held,
}

/// Network state: the config plus the link rules in force.
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) config: NetConfig,
    rules: Vec<Rule>,
    /// Node pairs `(low, high)` whose link is down right now (flapping).
    down_pairs: std::collections::BTreeSet<(NodeId, NodeId)>,
    /// Per-node probability of losing an inbound datagram (sparse).
    inbound_loss: std::collections::BTreeMap<NodeId, f64>,
    rng: SimRng,
}

impl Net {
    pub(crate) fn new(config: NetConfig, rng: SimRng) -> Self {
        Net {
            config,
            rules: Vec::new(),
            down_pairs: Default::default(),
            inbound_loss: Default::default(),
            rng,
        }
    }

    /// Blocks or holds `from → to` datagrams.
    pub(crate) fn add_rule(&mut self, from: Bits, to: Bits, kind: LinkKind) {
        self.rules.push(Rule { from, to, kind });
    }

    /// Removes rules of `kind` from `from` to `to` (exact sets).
    pub(crate) fn remove_rule(&mut self, from: &Bits, to: &Bits, kind: LinkKind) {
        self.rules
            .retain(|r| !(r.kind == kind && &r.from == from && &r.to == to));
    }

    /// Removes every rule of `kind`.
    pub(crate) fn remove_all(&mut self, kind: LinkKind) {
        self.rules.retain(|r| r.kind != kind);
    }

    /// Whether any rule is in force (partitions, holds, flapping links
    /// that are down).
    pub(crate) fn has_rules(&self) -> bool {
        !self.rules.is_empty() || !self.down_pairs.is_empty()
    }

    /// Takes the link between `a` and `b` down (both ways) or back up.
    pub(crate) fn set_pair(&mut self, a: NodeId, b: NodeId, down: bool) {
        let key = (a.min(b), a.max(b));
        if down {
            self.down_pairs.insert(key);
        } else {
            self.down_pairs.remove(&key);
        }
    }

    /// Sets the probability that `node` loses an inbound datagram (0 lifts it).
    pub(crate) fn set_inbound_loss(&mut self, node: NodeId, p: f64) {
        if p > 0.0 {
            self.inbound_loss.insert(node, p.min(1.0));
        } else {
            self.inbound_loss.remove(&node);
        }
    }

    /// A one-way latency draw.
    pub(crate) fn latency(&mut self) -> u64 {
        let lo = self.config.latency_min.as_nanos() as u64;
        let hi = self.config.latency_max.as_nanos() as u64;
        self.rng.range(lo, hi)
    }

    /// Decides what happens to one datagram `from → to`. Draws from the
    /// network stream in a fixed order so runs replay exactly.
    pub(crate) fn route(&mut self, from: NodeId, to: NodeId) -> Fate {
        for r in &self.rules {
            if r.from.get(from) && r.to.get(to) {
                return match r.kind {
                    LinkKind::Block => Fate::Blocked,
                    LinkKind::Hold => Fate::Held,
                };
            }
        }
        if !self.down_pairs.is_empty() && self.down_pairs.contains(&(from.min(to), from.max(to))) {
            return Fate::LinkDown;
        }
        if self.rng.chance(self.config.loss) {
            return Fate::Lost;
        }
        if let Some(&p) = self.inbound_loss.get(&to) {
            if self.rng.chance(p) {
                return Fate::LostInbound;
            }
        }
        let mut delay = self.latency();
        if self.rng.chance(self.config.reorder) {
            delay += self
                .rng
                .range(0, self.config.reorder_delay.as_nanos() as u64);
        }
        let dup = self
            .rng
            .chance(self.config.duplicate)
            .then(|| self.latency());
        Fate::Deliver { delay, dup }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Purpose;

    fn set(n: usize, ids: &[NodeId]) -> Bits {
        let mut b = Bits::new(n);
        ids.iter().for_each(|&i| {
            b.set(i);
        });
        b
    }

    #[test]
    fn rules_block_one_way_and_lift() {
        let mut net = Net::new(NetConfig::default(), SimRng::new(1, Purpose::Net));
        net.add_rule(set(4, &[0, 1]), set(4, &[2, 3]), LinkKind::Block);
        assert_eq!(net.route(0, 2), Fate::Blocked);
        assert!(matches!(net.route(2, 0), Fate::Deliver { .. }));
        net.remove_rule(&set(4, &[0, 1]), &set(4, &[2, 3]), LinkKind::Block);
        assert!(matches!(net.route(0, 2), Fate::Deliver { .. }));
    }

    #[test]
    fn loss_is_iid_at_the_configured_rate() {
        let config = NetConfig {
            loss: 0.3,
            ..NetConfig::default()
        };
        let mut net = Net::new(config, SimRng::new(2, Purpose::Net));
        let lost = (0..10_000)
            .filter(|_| net.route(0, 1) == Fate::Lost)
            .count();
        assert!((2_700..3_300).contains(&lost), "{lost}");
    }

    #[test]
    fn flapping_pairs_and_inbound_loss() {
        let mut net = Net::new(NetConfig::default(), SimRng::new(4, Purpose::Net));
        net.set_pair(3, 1, true);
        assert_eq!(net.route(1, 3), Fate::LinkDown);
        assert_eq!(net.route(3, 1), Fate::LinkDown);
        assert!(matches!(net.route(1, 2), Fate::Deliver { .. }));
        net.set_pair(1, 3, false);
        assert!(matches!(net.route(1, 3), Fate::Deliver { .. }));
        net.set_inbound_loss(2, 0.8);
        let lost = (0..1000)
            .filter(|_| net.route(0, 2) == Fate::LostInbound)
            .count();
        assert!((700..900).contains(&lost), "{lost}");
        assert!((0..1000).all(|_| net.route(2, 0) != Fate::LostInbound));
        net.set_inbound_loss(2, 0.0);
        assert!((0..100).all(|_| net.route(0, 2) != Fate::LostInbound));
    }

    #[test]
    fn latency_stays_in_range() {
        let mut net = Net::new(NetConfig::default(), SimRng::new(3, Purpose::Net));
        for _ in 0..1000 {
            let Fate::Deliver { delay, .. } = net.route(0, 1) else {
                panic!()
            };
            assert!((1_000_000..=5_000_000).contains(&delay));
        }
    }
}

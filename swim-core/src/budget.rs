//! The per-member send budget: a token bucket of datagrams and bytes per
//! probe interval (`Config::max_datagrams_per_period`,
//! `Config::max_bytes_per_period`).
//!
//! Tokens refill continuously at the configured rate and hold at most one
//! period's worth, so over any window of `t` periods a node sends at most
//! `(t + 1)` periods' budget, whatever happens: a datagram that finds too
//! few tokens is dropped and counted (`Stats::send_budget_drops`).
//! Three tiers share it: anything sent while handling a datagram from a
//! source not yet validated (replies to strangers, which a spoofed flood can
//! multiply) only while half a period's budget is left; dedicated gossip
//! rounds and syncs while a quarter is left; failure detection (pings,
//! acks, ping-reqs) and leave notices to the last token. A flood of spoofed
//! requests therefore cannot starve probing or dissemination.

use crate::Config;
use std::time::Duration;

/// Virtual time since the node's epoch.
type Time = Duration;

#[derive(Clone, Debug)]
pub(crate) struct SendBudget {
    datagrams: f64,
    bytes: f64,
    at: Time,
}

impl SendBudget {
    pub(crate) fn new(config: &Config) -> Self {
        SendBudget {
            datagrams: f64::from(config.max_datagrams_per_period),
            bytes: f64::from(config.max_bytes_per_period),
            at: Time::ZERO,
        }
    }

    fn refill(&mut self, now: Time, config: &Config) {
        let periods = now.saturating_sub(self.at).as_secs_f64()
            / config.probe_interval.as_secs_f64().max(1e-9);
        self.at = self.at.max(now);
        let (d, b) = (
            f64::from(config.max_datagrams_per_period),
            f64::from(config.max_bytes_per_period),
        );
        self.datagrams = (self.datagrams + periods * d).min(d);
        self.bytes = (self.bytes + periods * b).min(b);
    }

    /// Spends one datagram of `len` bytes; `false` (nothing spent) if the
    /// budget does not allow it. A zero limit means unlimited.
    pub(crate) fn take(&mut self, now: Time, len: usize, config: &Config) -> bool {
        self.refill(now, config);
        let len = len as f64;
        let dg_ok = config.max_datagrams_per_period == 0 || self.datagrams >= 1.0;
        let by_ok = config.max_bytes_per_period == 0 || self.bytes >= len;
        if !(dg_ok && by_ok) {
            return false;
        }
        if config.max_datagrams_per_period > 0 {
            self.datagrams -= 1.0;
        }
        if config.max_bytes_per_period > 0 {
            self.bytes -= len;
        }
        true
    }

    /// Whether at least `share` of a period's budget is left.
    pub(crate) fn has_room(&mut self, now: Time, config: &Config, share: f64) -> bool {
        self.refill(now, config);
        let d = f64::from(config.max_datagrams_per_period);
        let b = f64::from(config.max_bytes_per_period);
        (d == 0.0 || self.datagrams >= d * share) && (b == 0.0 || self.bytes >= b * share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Net;

    #[test]
    fn the_bucket_holds_one_period_and_refills_at_the_rate() {
        let mut c = Config::lan();
        c.max_datagrams_per_period = 10;
        c.max_bytes_per_period = 1000;
        let mut b = SendBudget::new(&c);
        let t0 = Duration::from_secs(5);
        let sent = (0..100).filter(|_| b.take(t0, 50, &c)).count();
        assert_eq!(sent, 10, "one period's burst");
        assert!(!b.has_room(t0, &c, 0.25));
        let half = t0 + c.probe_interval / 2;
        assert_eq!((0..100).filter(|_| b.take(half, 50, &c)).count(), 5);
        // Bytes bind too.
        let later = t0 + c.probe_interval * 10;
        assert_eq!((0..100).filter(|_| b.take(later, 400, &c)).count(), 2);
    }

    #[test]
    fn zero_means_unlimited() {
        let mut c = Config::lan();
        c.max_datagrams_per_period = 0;
        c.max_bytes_per_period = 0;
        let mut b = SendBudget::new(&c);
        assert!((0..10_000).all(|_| b.take(Duration::ZERO, 1400, &c)));
        assert!(b.has_room(Duration::ZERO, &c, 0.5));
    }

    #[test]
    fn a_node_under_a_join_storm_stays_within_its_budget_and_counts_drops() {
        // Forty nodes join through node 0 at once: node 0 answers every
        // join and gossips forty announcements. With a budget of 12
        // datagrams per period it may send at most 12 per period (plus one
        // period of burst), and what it could not send is counted.
        let mut c = Config::lan();
        c.max_datagrams_per_period = 12;
        c.max_bytes_per_period = 0;
        let mut net = Net::new(40, c, 3);
        net.join_all_through(0);
        let mut last = 0;
        let mut worst = 0;
        for _ in 0..30 {
            net.run_for(Duration::from_secs(1));
            let sent = net.node(0).stats().datagrams_sent;
            worst = worst.max(sent - last);
            last = sent;
        }
        assert!(worst <= 24, "{worst} datagrams in one period");
        assert!(net.node(0).stats().send_budget_drops > 0);
        // Slower (join replies to strangers get half the budget), but it
        // forms: the joiners retry.
        let formed = net.run_until(
            Duration::from_secs(120),
            Duration::from_secs(1),
            Net::converged,
        );
        assert!(formed.is_some(), "the cluster never formed");
    }
}

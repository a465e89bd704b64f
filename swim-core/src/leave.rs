//! Leaving: a Left notice that is acknowledged, retried and bounded in time.
//!
//! [`Swim::leave`] announces `Left` at a new incarnation in pings to
//! `leave_fanout` live members. Until `leave_fanout` of them have acked (an
//! ack to that ping means the notice got there, and the member spreads it
//! from then on), every probe timeout the unacknowledged pings are sent
//! again, each to a new random member. After three probe intervals the
//! node stops trying. Meanwhile it answers pings with acks that carry the
//! notice, and does nothing else: no probes, no gossip, no suspicion.
//!
//! At 30% loss a fire-and-forget notice to four members reaches none of
//! them about once in 120 leaves, and a member that never hears it reports
//! the leaver Failed; with acknowledgements the notice is lost only if every
//! retry over three periods is.

use crate::wire::{Body, Update, UpdateKind};
use crate::{Addr, Swim};
use std::time::Duration;

/// Virtual time since the node's epoch.
type Time = Duration;

/// A leave in progress.
#[derive(Clone, Debug)]
pub(crate) struct Leaving<A> {
    /// The seq of the notice pings: their acks count.
    seq: u32,
    /// Members that acked the notice.
    acked: Vec<A>,
    /// Members sent the notice and not heard from yet.
    waiting: Vec<A>,
    /// Next retry.
    retry_at: Time,
    /// The leave ends here whatever happened.
    give_up_at: Time,
}

impl<A: Addr> Swim<A> {
    /// Starts leaving (see the module docs).
    pub(crate) fn start_leave(&mut self) {
        self.incarnation = self.incarnation.saturating_add(1);
        let notice = self.left_notice();
        self.enqueue(notice);
        let seq = self.next_seq();
        let interval = self.config.probe_interval;
        self.leaving = Some(Leaving {
            seq,
            acked: Vec::new(),
            waiting: Vec::new(),
            retry_at: self.now + self.config.probe_timeout,
            give_up_at: self.now + interval * 3,
        });
        let targets = self.leave_targets();
        if targets.is_empty() {
            self.finish_leave();
            return;
        }
        for to in targets {
            self.send_notice(to, seq);
        }
    }

    /// This node's `Left` notice.
    fn left_notice(&self) -> Update<A> {
        Update {
            addr: self.local,
            incarnation: self.incarnation,
            kind: UpdateKind::Left,
        }
    }

    fn send_notice(&mut self, to: A, seq: u32) {
        let notice = self.left_notice();
        self.send_reply_with(to, Body::Ping { seq }, Some(&notice), usize::MAX);
        if let Some(l) = self.leaving.as_mut() {
            l.waiting.push(to);
        }
    }

    /// A datagram while leaving: an ack to the notice counts; a ping is
    /// answered with the notice; nothing else is handled.
    pub(crate) fn leaving_datagram(&mut self, from: A, body: &Body<A>, budget: usize) {
        match *body {
            Body::Ack { seq } => {
                let Some(l) = self.leaving.as_mut() else {
                    return;
                };
                if seq == l.seq && l.waiting.contains(&from) && !l.acked.contains(&from) {
                    l.waiting.retain(|a| *a != from);
                    l.acked.push(from);
                    if l.acked.len() >= self.config.leave_fanout {
                        self.finish_leave();
                    }
                }
            }
            Body::Ping { seq } => {
                let notice = self.left_notice();
                self.send_reply_with(from, Body::Ack { seq }, Some(&notice), budget);
            }
            _ => self.stats.datagrams_dropped += 1,
        }
    }

    /// Timers while leaving: retry unacknowledged notices to new members,
    /// give up after three periods.
    pub(crate) fn tick_leave(&mut self) {
        let Some(l) = self.leaving.as_ref() else {
            return;
        };
        if self.now >= l.give_up_at {
            self.finish_leave();
            return;
        }
        if self.now < l.retry_at {
            return;
        }
        let (seq, missing) = (l.seq, l.waiting.len());
        let told: Vec<A> = l.acked.iter().chain(&l.waiting).copied().collect();
        if let Some(l) = self.leaving.as_mut() {
            l.retry_at = self.now + self.config.probe_timeout;
            l.waiting.clear();
        }
        // New members where possible (the silent ones may be down), the
        // same ones again if the cluster is that small.
        let mut targets: Vec<A> = self
            .random_members(missing + told.len(), None)
            .into_iter()
            .filter(|a| !told.contains(a))
            .take(missing)
            .collect();
        if targets.len() < missing {
            targets = self.random_members(missing, None);
        }
        for to in targets {
            self.send_notice(to, seq);
        }
    }

    /// The leave is over: the node turns inert.
    fn finish_leave(&mut self) {
        self.leaving = None;
        self.left = true;
    }

    /// When the leave needs `tick` next.
    pub(crate) fn leave_deadline(&self) -> Option<Time> {
        self.leaving.as_ref().map(|l| l.retry_at.min(l.give_up_at))
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::{addr, Net};
    use crate::{Config, State};
    use std::time::Duration;

    const S: Duration = Duration::from_secs(1);

    /// Node 3 of 12 leaves; its first notices are all lost (the network
    /// drops everything for 0.3 s), then 30% loss for 4 s. `acked`: the
    /// node keeps running its leave; otherwise it stops after the first
    /// notices, as a fire-and-forget leave did. Returns how many of the 11
    /// others report it Left, and whether the leave was still running at
    /// first and finished within the 4 s.
    fn run(acked: bool) -> (usize, bool) {
        let mut net = Net::new(12, Config::lan(), 7);
        net.join_all_through(0);
        net.run_for(10 * S);
        net.loss = 1.0;
        net.leave(3);
        let early = net.node(3).has_left();
        net.run_for(S * 3 / 10);
        if !acked {
            net.crash(3);
        }
        net.loss = 0.3;
        net.run_for(4 * S);
        let done = net.node_opt(3).is_none_or(|n| n.has_left());
        net.loss = 0.0;
        net.run_for(30 * S);
        let left = (0..12)
            .filter(|&i| i != 3)
            .filter(|&i| net.node(i).member(&addr(3)).map(|m| m.state) == Some(State::Left))
            .count();
        (left, !early && done)
    }

    #[test]
    fn the_notice_is_retried_until_acked_and_the_leave_is_bounded() {
        let (left, bounded) = run(true);
        assert!(
            bounded,
            "still collecting acks at first, done within three periods"
        );
        assert_eq!(left, 11, "every member reports it Left");
    }

    #[test]
    fn without_retries_the_same_leave_is_reported_failed() {
        // The control: the same run, the first notices only.
        let (left, _) = run(false);
        assert_eq!(left, 0, "{left} of 11 report Left");
    }
}

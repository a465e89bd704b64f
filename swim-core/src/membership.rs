//! Applying membership news: precedence, refutation, suspicion start and
//! expiry, events, tombstones and reaping.

use crate::member::{overrides, SlotId};
use crate::node::MAX_INCARNATION_JUMP;
use crate::suspicion::{Due, Timeouts, Waits};
use crate::wire::Body;
use crate::wire::{Update, UpdateKind};
use crate::{Addr, Event, State, Swim};
use std::time::Duration;

/// Claims at or above this incarnation are forged: an honest member never
/// gets near it, and a member held at `u64::MAX` could never refute again.
/// Without it, a forged `Alive` at `u64::MAX` about a member not yet known
/// (no jump to measure) followed by a `Failed` at `u64::MAX` evicted it for
/// good. With [`MAX_INCARNATION_JUMP`], pushing a member up to it takes
/// 2^31 accepted claims.
pub(crate) const INCARNATION_CEILING: u64 = u64::MAX / 2;

impl<A: Addr> Swim<A> {
    /// Queues an update for dissemination (replacing older news about the
    /// same member) and arms the gossip timer.
    ///
    /// A suspicion is a question for a few, not news for all: its
    /// originator asks `k` members directly, the suspect hears it from
    /// every witness that talks to it, and only witnesses act on it (the
    /// others wait for their verdict, see `suspicion.rs`). So it gets `λ`
    /// transmissions, not the `λ·log10(n)` of a verdict or a refutation.
    ///
    /// What a member list (join reply, sync page) taught us keeps the full
    /// budget: in a join storm through one seed, the joiners' relays are
    /// what reaches the members that joined before them (with `λ` sends, one
    /// pair in a million missed each other for minutes at N=2,000).
    pub(crate) fn enqueue(&mut self, u: Update<A>) {
        let question = matches!(u.kind, UpdateKind::Suspect { .. });
        let spent = if question {
            self.retransmit_limit()
                .saturating_sub(self.config.retransmit_mult)
        } else {
            0
        };
        if self.updates.push_spent(u.addr, u, spent) {
            self.stats.update_queue_drops += 1;
        }
        self.arm_gossip();
    }

    /// Applies one piece of news, from a datagram or from this node's own
    /// detection. Obeys precedence; re-disseminates what changed our view.
    pub(crate) fn apply_update(&mut self, u: &Update<A>) {
        self.apply_update_at(u, None, None);
    }

    /// Applies a datagram's updates. The table lookups go first, in a tight
    /// loop of independent loads the CPU overlaps, then the updates are
    /// applied with their slots already in cache: at 10,000 members the
    /// lookups are cache misses, and this halves their cost.
    ///
    /// The incarnation-jump limit holds per datagram: every claim about a
    /// member is measured against what we held *before* this datagram (or,
    /// for a member it introduces, against the first claim about it), so
    /// two claims in one datagram cannot climb `2 × MAX_INCARNATION_JUMP`.
    pub(crate) fn apply_updates(&mut self, updates: &[Update<A>]) {
        let mut found: smallvec::SmallVec<[Option<SlotId>; 64]> = smallvec::SmallVec::new();
        found.extend(updates.iter().map(|u| self.table.find(&u.addr)));
        let mut bases: smallvec::SmallVec<[Option<u64>; 64]> = found
            .iter()
            .map(|id| {
                id.and_then(|id| self.table.get(id))
                    .map(|s| s.incarnation())
            })
            .collect();
        for i in 0..updates.len() {
            if bases.get(i).is_some_and(Option::is_none) {
                let addr = updates.get(i).map(|u| u.addr);
                let first = updates
                    .iter()
                    .take(i)
                    .find(|u| Some(u.addr) == addr)
                    .map(|u| u.incarnation);
                if let Some(b) = bases.get_mut(i) {
                    *b = first;
                }
            }
        }
        for ((u, id), base) in updates.iter().zip(found).zip(bases) {
            self.apply_update_at(u, id, base);
        }
    }

    /// `hint`: the member's slot if it was looked up already (`None`: look
    /// it up now). `base`: the incarnation the jump limit is measured from
    /// (`None`: the one held now).
    fn apply_update_at(&mut self, u: &Update<A>, hint: Option<SlotId>, base: Option<u64>) {
        if u.incarnation >= INCARNATION_CEILING {
            self.stats.updates_rejected += 1;
            return;
        }
        if u.addr == self.local {
            self.apply_about_self(u);
            return;
        }
        let state = u.kind.state();
        let found = hint
            .filter(|&id| self.table.get(id).is_some_and(|s| s.addr == u.addr))
            .or_else(|| self.table.find(&u.addr));
        let Some(id) = found else {
            // Only an Alive claim introduces a member; news of the failure
            // of a member we never knew changes nothing.
            if let UpdateKind::Alive { meta } = &u.kind {
                if !self.admit_new(u) {
                    return;
                }
                if self.table.counts().total() >= self.config.max_members {
                    self.stats.member_table_full += 1;
                    return;
                }
                let stamp = self.stamp();
                self.table
                    .insert(u.addr, u.incarnation, State::Alive, stamp);
                self.table.set_meta(u.addr, meta);
                self.note_recent(u.addr);
                self.emit(Event::Joined {
                    member: u.addr,
                    meta: meta.clone(),
                });
                self.enqueue(u.clone());
            }
            return;
        };
        let Some(cur) = self.table.get(id).copied() else {
            return;
        };
        let base = base.unwrap_or(cur.incarnation()).min(cur.incarnation());
        if u.incarnation > base.saturating_add(MAX_INCARNATION_JUMP) {
            self.stats.updates_rejected += 1;
            return;
        }
        if !overrides(u.incarnation, state, cur.incarnation(), cur.state) {
            if u.incarnation < cur.incarnation()
                && state != State::Alive
                && !self.updates.contains(&u.addr)
            {
                // The sender acts on old news (it missed a refutation): tell
                // it, and whoever else missed it, what we know now.
                let current = self.record(&cur);
                self.enqueue(current);
                return;
            }
            // Same suspicion from another member: a Lifeguard confirmation.
            if let UpdateKind::Suspect { by } = u.kind {
                if cur.state == State::Suspect
                    && u.incarnation == cur.incarnation()
                    && self
                        .suspicions
                        .confirm(self.now, &u.addr, u.incarnation, by)
                {
                    // New information for us: pass it on (epidemic relay),
                    // within the resend budget the suspicion already had: a
                    // confirmation is not news of its own (at N=1,000 with
                    // k = 4 restarting the count quintupled the bytes a
                    // failure cost).
                    if self.updates.push_keep_count(u.addr, u.clone()) {
                        self.stats.update_queue_drops += 1;
                    }
                    self.arm_gossip();
                }
            }
            return;
        }
        let stamp = self.stamp();
        self.table.set(id, u.incarnation, state, stamp);
        let was_down = matches!(cur.state, State::Failed | State::Left);
        match &u.kind {
            UpdateKind::Alive { meta } => {
                self.suspicions.remove(&u.addr);
                let meta_changed = self.table.set_meta(u.addr, meta);
                if cur.state == State::Failed {
                    // Declared failed, but alive after all (it refuted, or
                    // restarted at the same address): alive again.
                    self.damping.flapped(u.addr, self.now);
                    self.emit(Event::Alive { member: u.addr });
                    if meta_changed {
                        self.emit(Event::Updated {
                            member: u.addr,
                            meta: meta.clone(),
                        });
                    }
                } else if cur.state == State::Left {
                    self.note_recent(u.addr);
                    self.emit(Event::Joined {
                        member: u.addr,
                        meta: meta.clone(),
                    });
                } else {
                    if cur.state == State::Suspect {
                        self.emit(Event::Alive { member: u.addr });
                    }
                    if meta_changed {
                        self.emit(Event::Updated {
                            member: u.addr,
                            meta: meta.clone(),
                        });
                    }
                }
            }
            UpdateKind::Suspect { by } => {
                if cur.state == State::Failed {
                    // Alive again (a newer incarnation), though suspected.
                    self.damping.flapped(u.addr, self.now);
                    self.emit(Event::Alive { member: u.addr });
                } else if cur.state == State::Left {
                    let meta = self.table.meta(&u.addr);
                    self.emit(Event::Joined {
                        member: u.addr,
                        meta,
                    });
                }
                let t = self.suspicion_timeouts(&u.addr);
                self.suspicions
                    .start(self.now, u.addr, u.incarnation, *by, t);
                if cur.state != State::Suspect {
                    self.emit(Event::Suspected { member: u.addr });
                }
                if *by != self.local && self.sender == Some(*by) && self.config.lifeguard_suspicion
                {
                    // The suspicion's originator asked us directly: probe
                    // the suspect next, to confirm it (or not).
                    self.probe_next(u.addr, Some(*by));
                }
            }
            UpdateKind::Failed { .. } | UpdateKind::Left => {
                self.suspicions.remove(&u.addr);
                self.tombstones.push_back((
                    self.now + self.config.retention,
                    u.addr,
                    u.incarnation,
                ));
                self.compact_tombstones();
                if !was_down {
                    let e = if state == State::Left {
                        Event::Left { member: u.addr }
                    } else {
                        Event::Failed { member: u.addr }
                    };
                    self.emit(e);
                }
            }
        }
        self.enqueue(u.clone());
        // News that decides whether a member is dead spreads at once, not
        // at the next gossip tick.
        if state != State::Alive || cur.state != State::Alive {
            // A verdict (Failed, Left) is rare and everyone needs it: it
            // ignores the churn backoff. Suspicions and refutations, which
            // loss makes common, do not.
            self.expedite_gossip(matches!(state, State::Failed | State::Left));
        }
    }

    /// News about this node: refute suspicion, failure and forged leaves;
    /// after a restart, jump past the incarnation the cluster remembers.
    fn apply_about_self(&mut self, u: &Update<A>) {
        if self.left {
            return;
        }
        // A claim far above our incarnation is forged, but others may hold
        // it (a planted record, or one jump per datagram chained over
        // datagrams): ignoring it left us unable to refute until reaping.
        // We refute it like any other (below the ceiling): those that hold
        // it accept the refutation, one jump above it.
        if !matches!(u.kind, UpdateKind::Alive { .. }) {
            self.claims_about_us = true;
        }
        let refute = match &u.kind {
            UpdateKind::Alive { meta } => {
                u.incarnation > self.incarnation
                    || (u.incarnation == self.incarnation && *meta != self.meta)
            }
            _ => u.incarnation >= self.incarnation,
        };
        if !refute {
            if !matches!(u.kind, UpdateKind::Alive { .. }) {
                // Someone still believes an older suspicion or failure of
                // ours: remind the cluster (the sender first) that we are
                // alive at a newer incarnation.
                self.announce_self();
            }
            return;
        }
        if !matches!(u.kind, UpdateKind::Alive { .. }) {
            self.stats.refutations += 1;
            self.awareness_delta(1);
        }
        self.incarnation = u.incarnation.saturating_add(1).max(self.incarnation);
        self.announce_self();
        self.expedite_gossip(false);
    }

    /// This node's own probe of `target` failed: suspect it (or confirm).
    pub(crate) fn suspect(&mut self, target: A) {
        let Some(cur) = self.table.lookup(&target).copied() else {
            return;
        };
        if !matches!(cur.state, State::Alive | State::Suspect) {
            return;
        }
        if cur.state == State::Alive {
            self.stats.suspicions += 1;
        }
        let u = Update {
            addr: target,
            incarnation: cur.incarnation(),
            kind: UpdateKind::Suspect { by: self.local },
        };
        self.apply_update(&u);
        if cur.state == State::Suspect && self.config.lifeguard_suspicion {
            // A confirmation: straight to the other witnesses, whose
            // timeouts it shortens (gossip alone took seconds to bring it,
            // its resend count being the suspicion's). At most k + 1
            // datagrams, once per witness per suspicion.
            for w in self.suspicions.witnesses(&target) {
                if w != self.local {
                    self.send_packet_with(w, &u);
                }
            }
        }
        if cur.state == State::Alive && self.config.lifeguard_suspicion {
            // Ask k random members to probe it now: Lifeguard's independent
            // confirmations, from exactly k nodes and at once, instead of
            // hoping about k of those who hear the gossip roll the dice.
            let k = self.config.suspicion_confirmations as usize;
            for h in self.random_members(k, Some(target)) {
                self.send_packet_with(h, &u);
            }
        }
        if cur.state == State::Alive && self.config.lifeguard_buddy {
            // Tell the suspect at once, so it can refute before anyone else
            // acts on the suspicion.
            self.send_packet(target, crate::wire::Body::Gossip, usize::MAX);
        }
    }

    /// Suspicion timeouts of `member` for the current cluster size: the
    /// minimum is `(α + log10(n) / 4)` periods (see
    /// [`Config::suspicion_mult`](crate::Config::suspicion_mult)), scaled by
    /// the member's flap damping.
    pub(crate) fn suspicion_timeouts(&self, member: &A) -> Timeouts {
        let n = self.table.counts().live() + 1;
        let periods = self.config.suspicion_mult + (n as f64).log10() / 4.0;
        let damping = self.damping.factor(member, self.now);
        let min = self.config.probe_interval.mul_f64(periods * damping);
        let max = min.mul_f64(self.config.suspicion_max_mult);
        let k = self.config.suspicion_confirmations;
        if !self.config.lifeguard_suspicion {
            return Timeouts {
                min,
                max: min,
                k: 0,
            };
        }
        // Too few members to expect k independent confirmations.
        let k = if n < k as usize + 2 { 0 } else { k };
        Timeouts { min, max, k }
    }

    pub(crate) fn tick_suspicions(&mut self) {
        let base = self.suspicion_timeouts(&self.local).min;
        let waits = Waits {
            grace: if self.config.last_chance_probe {
                self.scaled(self.config.probe_timeout)
            } else {
                Duration::ZERO
            },
            // Evidence of life holds a suspicion for one minimum timeout
            // after the suspect's last datagram: time to hear and refute.
            hold: if self.config.evidence_of_life {
                base
            } else {
                Duration::ZERO
            },
            // Two periods for our own probe of the suspect to finish.
            verify: if self.config.lifeguard_suspicion {
                self.scaled(self.config.probe_interval) * 2
            } else {
                Duration::ZERO
            },
        };
        while let Some(due) = self.suspicions.pop_due(self.now, waits) {
            let (Due::Check(member, inc) | Due::Verify(member, inc) | Due::Expired(member, inc)) =
                due;
            let still = self
                .table
                .lookup(&member)
                .is_some_and(|s| s.state == State::Suspect && s.incarnation() == inc);
            if !still {
                continue;
            }
            match due {
                Due::Check(..) => {
                    // Last chance: the ping carries the suspicion; a live
                    // suspect's ack carries its refutation. Sent three
                    // times: at 30% loss one round trip fails half the
                    // time, three fail one time in eight. Only witnesses
                    // get here, a handful per suspicion.
                    let seq = self.next_seq();
                    for _ in 0..3 {
                        self.send_packet(member, Body::Ping { seq }, usize::MAX);
                    }
                }
                Due::Verify(..) => self.probe_next(member, None),
                Due::Expired(..) => {
                    let u = Update {
                        addr: member,
                        incarnation: inc,
                        kind: UpdateKind::Failed { by: self.local },
                    };
                    self.apply_update(&u);
                }
            }
        }
    }

    /// A member that fails, comes back and fails again leaves a reaping
    /// deadline each time; only those matching its current state count.
    /// Past four per table entry, drop the rest (amortized O(1)), so churn
    /// cannot grow the list without bound.
    fn compact_tombstones(&mut self) {
        if self.tombstones.len() <= 4 * self.config.max_members {
            return;
        }
        let table = &self.table;
        self.tombstones.retain(|(_, member, inc)| {
            table.lookup(member).is_some_and(|s| {
                matches!(s.state, State::Failed | State::Left) && s.incarnation() == *inc
            })
        });
    }

    /// Forgets Failed and Left members `retention` after the change.
    pub(crate) fn tick_reap(&mut self) {
        while let Some(&(at, member, inc)) = self.tombstones.front() {
            if at > self.now {
                break;
            }
            self.tombstones.pop_front();
            if let Some(id) = self.table.find(&member) {
                let reap = self.table.get(id).is_some_and(|s| {
                    matches!(s.state, State::Failed | State::Left) && s.incarnation() == inc
                });
                if reap {
                    self.table.remove(id);
                    self.updates.remove(&member);
                    self.stats.reaped += 1;
                }
            }
        }
    }

    /// `from` sent us a datagram, yet we hold it Failed or Left: tell it,
    /// so that it refutes (a live member held down never learns it
    /// otherwise: nobody probes or gossips to members held down). At most
    /// one such notice per quarter period, whoever sends.
    pub(crate) fn should_tell_down(&mut self, from: A) -> bool {
        let down = self
            .table
            .lookup(&from)
            .is_some_and(|s| matches!(s.state, State::Failed | State::Left));
        if !down || self.now < self.next_tell_down_at {
            return false;
        }
        self.next_tell_down_at = self.now + self.config.probe_interval / 4;
        true
    }

    /// Facilitator bookkeeping: the most recently joined members.
    fn note_recent(&mut self, addr: A) {
        if !self.config.facilitator {
            return;
        }
        self.recent.retain(|a| *a != addr);
        self.recent.push_back(addr);
        // One spare: the joiner itself is usually the most recent.
        while self.recent.len() > self.config.facilitator_members + 1 {
            self.recent.pop_front();
        }
    }
}

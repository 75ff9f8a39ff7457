//! Privacy actions at random moments, run on the store exactly as the interactions endpoint
//! runs them (`interactions-fn/src/commands/privacy.rs`): a deletion (`Store::delete_user`, its
//! partner sweep again a few steps later), an opt-out (the flag, then calls in progress ended
//! and the member's items taken out of the indexes and boards) and an opt-in (the flag, the
//! items back). They reach the store directly, not through the proxy the sidecar talks to, so
//! they run while the sidecar is down, spooling, or cut off from the store too, and race its
//! ends, starts and replays.

use callstats_core::{Timestamp, UserId};
use callstats_interactions::commands::privacy::{DELETE_EVERY_SECS, finish_privacy};

use super::Driver;
use super::world::human;

/// Members privacy actions pick from (the others stay exact for partner time).
const PRIVACY_MEMBERS: u64 = 3;

impl Driver {
    /// One privacy action of a random member, one second after the last instant the sidecar
    /// observed (so every start it has seen began before the action).
    pub(super) async fn privacy(&mut self) {
        let user = human(1 + self.rng.below(PRIVACY_MEMBERS));
        let at = self.clock.advance(1);
        let idle = self.sidecar.is_some() && self.store_up && self.rng.chance(0.75);
        let may_delete = self
            .oracle
            .deleted_at
            .get(&user)
            .is_none_or(|d| at >= d.plus(DELETE_EVERY_SECS));
        if may_delete && self.rng.chance(0.45) {
            self.delete(user, at, idle).await;
        } else if self.oracle.opted_out(user) {
            self.opt_in(user, at).await;
        } else {
            self.opt_out(user, at, idle).await;
        }
    }

    /// Sometimes a privacy action while the program is down (back at `back`): it races the
    /// writes in the spool, which the next start replays.
    pub(super) async fn privacy_while_down(&mut self, back: Timestamp) {
        if self.rng.chance((self.privacy_rate * 5.0).min(1.0)) && self.now().plus(1) < back {
            self.privacy().await;
        }
    }

    fn count_privacy(&mut self, kind: &'static str, racing: bool) {
        let kind = if racing {
            match kind {
                "delete" => "delete_racing",
                "opt_out" => "opt_out_racing",
                "opt_in" => "opt_in_racing",
                other => other,
            }
        } else {
            kind
        };
        *self.report.privacy.entry(kind).or_default() += 1;
    }

    /// A deletion, racing whatever the sidecar still has in flight unless `idle` (then it waits
    /// until every write has reached the store first). The rules hold either way: nothing of
    /// the member from before `at` survives or comes back.
    async fn delete(&mut self, user: UserId, at: Timestamp, idle: bool) {
        if idle {
            self.sidecar().wait_idle().await;
        }
        self.count_privacy("delete", !idle);
        let (_, sweep) = self
            .store
            .delete_user(user, at)
            .await
            .expect("delete a member's data");
        self.oracle.delete(user, at);
        let after = 1 + self.rng.below(3) as usize;
        self.sweeps.push((after, sweep));
        self.trace_privacy("delete", user, idle);
    }

    /// An opt-out. With the sidecar idle the store holds everything it observed, and the
    /// result is exact; otherwise a start, flag change or end in flight races the opt-out's
    /// end of the call in progress, and the member's figures are bounded from now on.
    async fn opt_out(&mut self, user: UserId, at: Timestamp, idle: bool) {
        if idle {
            self.sidecar().wait_idle().await;
        }
        self.count_privacy("opt_out", !idle);
        self.store
            .set_opted_out(user, true, at)
            .await
            .expect("set the opt-out flag");
        finish_privacy(&self.store, user, true, at)
            .await
            .expect("finish an opt-out");
        self.oracle.opt_out(user, at, idle);
        self.trace_privacy("opt-out", user, idle);
    }

    /// An opt-in: whatever is in flight, a start from before `at` is refused and one after
    /// counts, so the result is the same in every order.
    async fn opt_in(&mut self, user: UserId, at: Timestamp) {
        let racing = self.sidecar.is_none() || !self.store_up;
        self.count_privacy("opt_in", racing);
        self.store
            .set_opted_out(user, false, at)
            .await
            .expect("clear the opt-out flag");
        finish_privacy(&self.store, user, false, at)
            .await
            .expect("finish an opt-in");
        self.oracle.opt_in(user, at);
        self.trace_privacy("opt-in", user, !racing);
    }

    /// Second partner sweeps of deletions that are due (`all`: every one left, at the end).
    pub(super) async fn due_sweeps(&mut self, all: bool) {
        let mut due = Vec::new();
        self.sweeps.retain_mut(|(left, sweep)| {
            *left = left.saturating_sub(1);
            if all || *left == 0 {
                due.push(sweep.clone());
                false
            } else {
                true
            }
        });
        for sweep in due {
            self.store
                .sweep_partners(&sweep)
                .await
                .expect("sweep partner lists again");
            self.count_privacy("second_sweep", false);
        }
    }

    fn trace_privacy(&self, what: &str, user: UserId, idle: bool) {
        if self.trace {
            eprintln!(
                "model: seed {} at {} {what} of {user} ({})",
                self.report.seed,
                self.now(),
                if idle { "sidecar idle" } else { "racing" }
            );
        }
    }
}

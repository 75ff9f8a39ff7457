//! The faults a step injects: SIGTERM restarts and SIGKILL crashes (with the store sometimes
//! going or coming back meanwhile), duplicated and replayed dispatches, invalidated gateway
//! sessions, guild outages and store outages; each keeps the oracle in step with what the
//! program can know.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use callstats_core::{GuildId, UserId};
use callstats_fake_gateway::{Delivery, ShardId, VoiceFlags, shard_of};

use super::world::{human, to_voice_flags};
use super::{Change, Driver, HUMANS, SHARDS};
use crate::model::oracle::{Phase, Place};

/// The shards whose state a stop saved, by its log: `true` when in the table, `false` when
/// in the state directory.
fn saved_places(log: &[String]) -> BTreeMap<u32, bool> {
    log.iter()
        .filter_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            let fields = &v["fields"];
            (fields["message"] == "gateway session saved for the next start").then(|| {
                (
                    fields["shard"].as_u64().unwrap_or(u64::MAX) as u32,
                    fields["place"] == "table",
                )
            })
        })
        .collect()
}

impl Driver {
    /// Sends members' current states again (the gateway repeating itself), and a leave for
    /// someone not in voice.
    pub(super) async fn duplicates(&mut self) {
        self.count_fault("duplicate_dispatch");
        let mut sent = Vec::new();
        for g in self.guilds() {
            if !self.available[&g] {
                continue;
            }
            let in_voice: Vec<(UserId, Place)> =
                self.world[&g].iter().map(|(u, p)| (*u, *p)).collect();
            for (user, place) in in_voice {
                if self.rng.chance(0.5) {
                    let delivery = self
                        .fake
                        .voice_update(g, user, Some(place.channel), to_voice_flags(place.flags))
                        .expect("repeat a voice state");
                    self.report.events += 1;
                    let change = Change {
                        guild: g,
                        user,
                        place: Some(place),
                        bot: self.bots.contains(&user),
                    };
                    sent.extend(self.record(change, &delivery));
                }
            }
            let absent = (1..=HUMANS)
                .map(human)
                .find(|u| !self.world[&g].contains_key(u));
            if let Some(user) = absent {
                let data = crate::scene::voice_state_json(g, user, None, VoiceFlags::default());
                let shard = ShardId::new(shard_of(g, SHARDS), SHARDS);
                if let Ok(delivery) = self.fake.dispatch_raw(shard, "VOICE_STATE_UPDATE", &data) {
                    self.report.events += 1;
                    let change = Change {
                        guild: g,
                        user,
                        place: None,
                        bot: false,
                    };
                    sent.extend(self.record(change, &delivery));
                }
            }
        }
        self.wait_sent(&sent).await;
    }

    /// Shards whose guilds all are complete: a stop saves their state.
    pub(super) fn saved_shards(&self) -> BTreeSet<u32> {
        (0..SHARDS)
            .filter(|shard| {
                self.guilds_of_shard(*shard)
                    .iter()
                    .all(|g| !matches!(self.oracle.phase(*g), Phase::Reconciling { .. }))
            })
            .collect()
    }

    pub(super) async fn sigterm(&mut self) {
        self.count_fault("sigterm_restart");
        // A start that cannot read its saved state (an injected error on that one read)
        // identifies afresh instead of resuming, which nothing here can predict: error answers
        // and latency end before a stop.
        self.end_store_errors();
        let predicted = self.saved_shards();
        let stop_at = self.now();
        let heartbeat = self.heartbeat_now();
        let sidecar = self.sidecar.take().expect("the sidecar runs");
        let exit = sidecar.stop_within(Duration::from_secs(30)).await;
        assert_eq!(
            exit.status.code(),
            Some(0),
            "seed {}: the program did not stop cleanly: {:?}",
            self.report.seed,
            exit.stderr
        );
        // Where each shard's state went: the table, or the state directory.
        let places = saved_places(&exit.stdout);
        let saved: BTreeSet<u32> = places.keys().copied().collect();
        if saved != predicted {
            let said: Vec<&String> = exit
                .stdout
                .iter()
                .filter(|l| l.contains("save") || l.contains("stopping") || l.contains("WARN"))
                .collect();
            self.report.mismatches.push(format!(
                "a stop saved the state of shards {saved:?}, expected {predicted:?} (the complete ones); it said {said:?}"
            ));
        }
        self.wait_fake_disconnected().await;
        self.heartbeat = heartbeat;
        self.buffered.clear();
        self.maybe_toggle_store_during_downtime();
        // A state in the table cannot be read while the store is away: that shard starts
        // afresh and reconciles against the store like after a crash.
        let restored: BTreeSet<u32> = places
            .iter()
            .filter(|(_, in_table)| !**in_table || self.store_up)
            .map(|(shard, _)| *shard)
            .collect();
        for (shard, in_table) in &places {
            if *in_table && !self.store_up {
                self.untaken.insert(*shard);
            }
        }
        // Back within two minutes (restored sessions resume) or after more (identify afresh).
        let resume = !restored.is_empty() && self.rng.chance(0.6);
        let back = if resume {
            stop_at.plus(1 + self.rng.below(100))
        } else {
            stop_at.plus(200 + self.rng.below(1500))
        };
        let back = if restored.len() < SHARDS as usize {
            self.unambiguous(back, heartbeat)
        } else {
            back
        };
        self.unseen_events(back);
        self.privacy_while_down(back).await;
        self.clock.set(back);
        for shard in 0..SHARDS {
            let guilds = self.guilds_of_shard(shard);
            if !restored.contains(&shard) {
                self.buffered.remove(&shard);
                for g in guilds {
                    self.oracle.forget_guild(g);
                }
            } else if !resume {
                self.buffered.remove(&shard);
                for g in guilds {
                    self.oracle.blind(g, stop_at);
                }
            }
        }
        self.start_heartbeat = heartbeat;
        self.start_heartbeat_seen = self.narrowed(heartbeat).await;
        let identifies = self.fake.counters().ready;
        let resumes = self.fake.counters().resumed;
        self.resumed = if resume {
            restored.clone()
        } else {
            BTreeSet::new()
        };
        self.spawn().await;
        if resume {
            self.fake
                .wait_for_resumes(resumes + restored.len() as u64)
                .await
                .expect("the program resumes");
            self.replay_buffered(None);
        }
        let fresh = u64::from(SHARDS) - self.resumed.len() as u64;
        self.after_identify(identifies, fresh).await;
        self.resumed.clear();
    }

    pub(super) async fn sigkill(&mut self) {
        self.count_fault("sigkill_crash");
        self.wait_journaled().await;
        if self.store_up && self.oracle.settled() && self.rng.chance(0.5) {
            self.pin().await;
        }
        self.crash(false).await;
    }

    /// SIGKILL at a moment the driver does not wait for: while the program applies its
    /// journaled writes, appends acknowledgements to its spool, writes heartbeats, flushes
    /// boards; then, half the time, a start that is killed again while it opens its spool
    /// (rewriting it), its departures journals and saved state, before it reaches the gateway.
    /// Every dispatch was journaled first: what the program was told is not in question, only
    /// what it had written.
    pub(super) async fn sigkill_anytime(&mut self) {
        self.count_fault("sigkill_anytime");
        self.wait_journaled().await;
        let wait = self.rng.below(200);
        let twice = self.rng.chance(0.5);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        self.crash(twice).await;
    }

    /// Kills the program, lets time pass with events it does not see, and starts it again
    /// (after a start killed before it reached the gateway, when `twice`).
    async fn crash(&mut self, twice: bool) {
        let heartbeat = self.heartbeat_now();
        let sidecar = self.sidecar.take().expect("the sidecar runs");
        let exit = sidecar.kill().await;
        assert!(!exit.status.success());
        self.wait_fake_disconnected().await;
        self.heartbeat = heartbeat;
        self.oracle.forget();
        self.buffered.clear();
        let crash = self.now();
        let back = crash.plus(5 + self.rng.below(1200));
        let back = self.unambiguous(back, heartbeat);
        self.unseen_events(back);
        self.privacy_while_down(back).await;
        self.clock.set(back);
        self.maybe_toggle_store_during_downtime();
        if twice {
            // The gateway cannot be reached: this start never settles, so it writes no
            // heartbeat and decides nothing; it only applies what its spool holds.
            let wait = self.rng.below(300);
            self.fake.set_accepting(false);
            self.spawn().await;
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let sidecar = self.sidecar.take().expect("the sidecar runs");
            let exit = sidecar.kill().await;
            assert!(!exit.status.success());
            self.fake.set_accepting(true);
        }
        self.start_heartbeat = heartbeat;
        self.start_heartbeat_seen = self.narrowed(heartbeat).await;
        let identifies = self.fake.counters().ready;
        self.buffered.clear();
        self.spawn().await;
        self.after_identify(identifies, u64::from(SHARDS)).await;
    }

    /// Sometimes the store goes away, or comes back, while the program is down.
    pub(super) fn maybe_toggle_store_during_downtime(&mut self) {
        if self.rng.chance(0.25) {
            if self.store_up {
                self.count_fault("store_outage");
                self.proxy.refuse();
                self.store_up = false;
                self.store_errors_left = 0;
                self.store_outage_left = 2 + self.rng.below(6) as usize;
            } else {
                self.proxy.pass();
                self.store_up = true;
                self.store_outage_left = 0;
            }
        }
    }

    /// Applies dispatches buffered for a resume at the current instant (the moment the
    /// program receives the replay), for one shard or all.
    pub(super) fn replay_buffered(&mut self, shard: Option<u32>) {
        let now = self.now();
        let shards: Vec<u32> = match shard {
            Some(s) => vec![s],
            None => self.buffered.keys().copied().collect(),
        };
        for s in shards {
            for change in self.buffered.remove(&s).unwrap_or_default() {
                self.oracle
                    .voice(change.guild, change.user, change.place, change.bot, now);
            }
        }
    }

    pub(super) fn pick_shard(&mut self) -> u32 {
        self.rng.below(u64::from(SHARDS)) as u32
    }

    /// The gateway drops the connection (or asks for a reconnect) and cannot be reached for a
    /// moment; what happened meanwhile is replayed on RESUME.
    pub(super) async fn replay_window(&mut self) {
        self.count_fault("replayed_dispatch");
        let shard = self.pick_shard();
        self.fake.set_accepting(false);
        let id = ShardId::new(shard, SHARDS);
        if self.rng.chance(0.5) {
            self.fake.drop_connection(id).expect("drop the connection");
        } else {
            self.fake.reconnect(id).expect("ask for a reconnect");
        }
        self.sidecar().wait_shard_disconnected(shard).await;
        self.wait_fake_gone(&[shard]).await;
        let resumes = self.fake.counters().resumed;
        let count = 1 + self.rng.below(4);
        self.events_one_by_one(count).await;
        self.advance();
        self.fake.set_accepting(true);
        self.fake
            .wait_for_resumes(resumes + 1)
            .await
            .expect("the shard resumes");
        self.replay_buffered(Some(shard));
        self.sync_all().await;
        if self.store_up {
            self.wait_settled().await;
        }
    }

    /// The gateway invalidates a shard's session (`INVALID_SESSION` false) and is away for a
    /// moment; the shard identifies afresh and reconciles from when it lost sight.
    pub(super) async fn invalid_session(&mut self) {
        self.count_fault("invalid_session");
        let shard = self.pick_shard();
        self.fake.set_accepting(false);
        self.fake
            .invalidate_session(ShardId::new(shard, SHARDS), false)
            .expect("invalidate the session");
        self.sidecar().wait_shard_disconnected(shard).await;
        self.wait_fake_gone(&[shard]).await;
        let lost = self.now();
        for g in self.guilds_of_shard(shard) {
            self.oracle.blind(g, lost);
        }
        self.buffered.remove(&shard);
        let count = self.rng.below(4);
        self.events_one_by_one(count).await;
        self.buffered.remove(&shard);
        let back = self.advance();
        let back = if self
            .guilds_of_shard(shard)
            .iter()
            .any(|g| matches!(self.oracle.phase(*g), Phase::Unknown))
        {
            let at = self.unambiguous(back, self.start_heartbeat);
            self.clock.set(at);
            at
        } else {
            back
        };
        let identifies = self.fake.counters().ready;
        self.fake.set_accepting(true);
        self.fake
            .wait_for_identifies(identifies + 1)
            .await
            .expect("the shard identifies");
        let guilds = self.guilds_of_shard(shard);
        self.guilds_created(guilds, back).await;
    }

    pub(super) async fn start_guild_outage(&mut self) {
        let candidates: Vec<GuildId> = self
            .guilds()
            .into_iter()
            .filter(|g| self.available[g])
            .collect();
        if candidates.is_empty() {
            return self.events().await;
        }
        self.count_fault("guild_outage");
        let g = candidates[self.rng.below(candidates.len() as u64) as usize];
        let delivery = self.fake.guild_delete(g, true).expect("guild outage");
        self.available.insert(g, false);
        let now = self.now();
        match self.oracle.phase(g) {
            Phase::Reconciling { .. } => self.oracle.forget_guild(g),
            Phase::Unknown => {}
            _ => self.oracle.blind(g, now),
        }
        if let Delivery::Sent { seq, .. } = delivery {
            self.wait_sent(&[(shard_of(g, SHARDS), seq)]).await;
        }
        self.guild_outages.insert(g, 1 + self.rng.below(8) as usize);
        if self.trace {
            eprintln!(
                "model: seed {} at {now} guild {g} out of sight",
                self.report.seed
            );
        }
    }

    pub(super) async fn end_guild_outage(&mut self, g: GuildId) {
        self.guild_outages.remove(&g);
        let now = self.now();
        let at = if matches!(self.oracle.phase(g), Phase::Unknown) {
            self.unambiguous(now, self.start_heartbeat)
        } else {
            now
        };
        self.clock.set(at);
        if self.trace {
            eprintln!(
                "model: seed {} at {at} guild {g} back ({:?})",
                self.report.seed,
                self.oracle.phase(g)
            );
        }
        self.available.insert(g, true);
        let delivery = self.fake.guild_create_again(g).expect("guild back");
        let view = self.view_of(g);
        self.oracle
            .guild_create(g, view, at, self.start_heartbeat_seen, self.store_up);
        if let Delivery::Sent { seq, .. } = delivery {
            self.wait_sent(&[(shard_of(g, SHARDS), seq)]).await;
        }
        if self.store_up {
            self.wait_settled().await;
        }
    }

    pub(super) async fn start_store_outage(&mut self) {
        let stall = self.rng.chance(0.3);
        self.count_fault(if stall {
            "store_outage_stall"
        } else {
            "store_outage"
        });
        if self.oracle.settled() {
            self.pin().await;
        }
        if stall {
            self.proxy.stall();
        } else {
            self.proxy.refuse();
        }
        self.store_up = false;
        self.store_errors_left = 0;
        self.store_outage_left = 2 + self.rng.below(8) as usize;
    }

    pub(super) async fn end_store_outage(&mut self) {
        self.proxy.pass();
        self.store_up = true;
        self.store_outage_left = 0;
        if self.sidecar.is_some() {
            self.wait_settled().await;
            self.oracle.store_answered();
            self.beating = true;
            if !self.untaken.is_empty() {
                self.pin().await;
            }
        }
    }

    /// Ends an episode of error answers or latency, if one is on.
    fn end_store_errors(&mut self) {
        if self.store_errors_left > 0 {
            self.store_errors_left = 0;
            if self.store_up {
                self.proxy.pass();
            }
        }
    }

    /// For a few steps the store answers a share of requests with DynamoDB's error answers
    /// (throttling, internal errors, cancelled transactions), every request a little late;
    /// or only slowly. It answers in the end: nothing changes for the oracle.
    pub(super) fn start_store_errors(&mut self) {
        self.store_errors_left = 2 + self.rng.below(6) as usize;
        if self.rng.chance(0.25) {
            self.count_fault("store_latency");
            let delay = [20, 50, 150][self.rng.below(3) as usize];
            self.proxy.latency(Duration::from_millis(delay));
        } else {
            self.count_fault("store_errors");
            let per_mille = [100, 300, 600][self.rng.below(3) as usize];
            let delay = [0, 3, 20][self.rng.below(3) as usize];
            self.proxy.errors(per_mille, Duration::from_millis(delay));
        }
    }
}

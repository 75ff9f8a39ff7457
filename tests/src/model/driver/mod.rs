//! Plays one random scenario against the real sidecar program and keeps the oracle in step.
//!
//! Everything random comes from the scenario's seed; nothing the driver decides depends on
//! timing, so a seed plays the same scenario again. The only timing-dependent fact, the value
//! of a shard's last heartbeat at a crash, is a range in the oracle.
//!
//! The world: three guilds over two shards, each with two voice channels, a stage and an AFK
//! channel (and a text channel); eight members, one member who opted out, two bots; each guild
//! with its own timezone and ranking rule. Time runs on the program's clock file; every event
//! of a step happens at one instant, and the driver waits until the program has handled it
//! before moving the clock on.
//!
//! The driver's parts: `world` (the ids, channels, zones and random flags scenarios are made
//! of), `events` (voice changes, seen or unseen by the program), `faults` (restarts, crashes,
//! duplicates, replays, invalidated sessions, guild and store outages) and `waits` (until the
//! program or the fake has caught up, and the heartbeat range those waits pin). This module
//! sets a scenario up, plays its steps and compares at the end.

mod events;
mod faults;
mod privacy;
mod waits;
mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use callstats_core::{GuildConfig, GuildId, RankingRule, Timestamp, UserId};
use callstats_fake_gateway::{ChannelSpec, FakeGateway, GuildSpec, VoiceMember, shard_of};
use callstats_sidecar::ShardPlan;
use callstats_store::Store;

use self::world::{
    AFK, STAGE, TEXT, VOICE_A, VOICE_B, ZONES, bot, chan, guild, human, opted_out, random_flags,
    start_instant, to_voice_flags,
};
use super::compare::compare;
use super::oracle::{Oracle, Place, Span, View};
use super::rng::Rng;
use crate::proxy::FaultProxy;
use crate::sidecar::{Options, ProcessClock, Sidecar, StateDir, spawn_process};

/// Shards of the program.
const SHARDS: u32 = 2;
/// Humans (not opted out) per scenario, shared by the guilds.
const HUMANS: u64 = 8;
/// Generous bound on waiting for the program or the fake.
const WAIT: Duration = Duration::from_mins(1);
/// Bound on waiting for the program to settle (see [`Driver::wait_settled`]).
const WAIT_SETTLED: Duration = Duration::from_mins(3);

/// The kinds of fault a scenario injects.
pub const FAULT_KINDS: [&str; 11] = [
    "sigterm_restart",
    "sigkill_crash",
    "duplicate_dispatch",
    "replayed_dispatch",
    "invalid_session",
    "guild_outage",
    "store_outage",
    "store_outage_stall",
    "store_errors",
    "store_latency",
    "sigkill_anytime",
];

/// What one scenario did and found.
#[derive(Debug, Default)]
pub struct ScenarioReport {
    pub seed: u64,
    pub steps: usize,
    pub events: u64,
    pub faults: BTreeMap<&'static str, u64>,
    pub sessions_checked: u64,
    pub estimated_checked: u64,
    /// Partner entries (member, guild, UTC day, partner) compared, and their seconds.
    pub partner_entries: u64,
    pub partner_secs: u64,
    /// Entries naming a member opted out at the end (checked against the bound only).
    pub opted_out_partner_entries: u64,
    /// Entries owned by or naming a member a privacy action touched (checked against the
    /// bound only).
    pub bounded_partner_entries: u64,
    /// Privacy actions by kind (`delete`, `opt_out`, `opt_in`, each also `_racing` when the
    /// sidecar may still have writes in flight; `second_sweep`).
    pub privacy: BTreeMap<&'static str, u64>,
    pub mismatches: Vec<String>,
    pub took: Duration,
}

/// A voice change the driver made, as the oracle records it.
#[derive(Clone, Copy, Debug)]
struct Change {
    guild: GuildId,
    user: UserId,
    place: Option<Place>,
    bot: bool,
}

#[allow(clippy::struct_excessive_bools)] // independent switches of the scenario's state
struct Driver {
    rng: Rng,
    report: ScenarioReport,
    store: Store,
    proxy: FaultProxy,
    fake: FakeGateway,
    dir: StateDir,
    clock: ProcessClock,
    options: Options,
    sidecar: Option<Sidecar>,
    oracle: Oracle,
    /// Who is in voice where, the truth (bots and the opted-out member included).
    world: BTreeMap<GuildId, View>,
    bots: BTreeSet<UserId>,
    available: BTreeMap<GuildId, bool>,
    store_up: bool,
    /// Steps left in the current store outage.
    store_outage_left: usize,
    /// Steps left while the store answers errors or slowly (it is up meanwhile).
    store_errors_left: usize,
    /// Guilds in an outage, and steps left.
    guild_outages: BTreeMap<GuildId, usize>,
    /// The range the shards' last heartbeat in the store lies in.
    heartbeat: Option<Span>,
    /// Whether the running process may have written heartbeats since the last pin.
    beating: bool,
    /// The shards' last heartbeat from before the running process started.
    start_heartbeat: Option<Span>,
    /// The same, narrowed by what the store held once the process was gone: what the oracle
    /// checks against. (Decisions use the range above, which does not depend on timing.)
    start_heartbeat_seen: Option<Span>,
    /// Dispatches buffered for a resume, by shard.
    buffered: BTreeMap<u32, Vec<Change>>,
    /// Shards that resumed at the current start.
    resumed: BTreeSet<u32>,
    /// Shards whose state a stop saved in the table but no start could take yet (the store
    /// was away): until a heartbeat newer than it is recorded, a start would still take it, so
    /// no restart happens meanwhile.
    untaken: BTreeSet<u32>,
    max_gap: u64,
    /// The chance of a privacy action at a step.
    privacy_rate: f64,
    /// Second partner sweeps of deletions, with the steps until they run.
    sweeps: Vec<(usize, callstats_store::PartnerSweep)>,
    /// The scenario's first instant.
    began_at: Timestamp,
    /// Print every step (`CALLSTATS_MODEL_TRACE`).
    trace: bool,
    /// Half the crashes at moments the driver does not wait for (on unless
    /// `CALLSTATS_MODEL_KILL_ANYTIME=0`).
    kill_anytime: bool,
}

/// The chance of a privacy action at a step of a scenario of the random test: none, so that
/// its recorded seeds keep playing the scenarios they were recorded for; `model_privacy` plays
/// privacy actions on seeds of its own (`docs/reliability.md`).
pub const PRIVACY_RATE: f64 = 0.0;

/// Runs one scenario of `steps` steps from `seed`.
pub async fn run_scenario(seed: u64, steps: usize) -> ScenarioReport {
    run_scenario_with(seed, steps, PRIVACY_RATE).await
}

/// Runs one scenario of `steps` steps from `seed`, with a privacy action at a step with
/// chance `privacy_rate`.
#[allow(clippy::too_many_lines)] // the world's setup, read top to bottom
pub async fn run_scenario_with(seed: u64, steps: usize, privacy_rate: f64) -> ScenarioReport {
    let began = Instant::now();
    let mut rng = Rng::new(seed);
    let store = crate::dynamo::fresh_store().await;
    let proxy = FaultProxy::in_front_of_dynamodb().await;
    let max_gap = [60, 300, 900][rng.below(3) as usize];
    let t0 = start_instant(&mut rng);

    let mut specs = Vec::new();
    let mut world = BTreeMap::new();
    let mut oracle = Oracle::new(max_gap, BTreeSet::from([opted_out()]));
    let bots: BTreeSet<UserId> = (0..2).map(bot).collect();
    for n in 1..=3 {
        let g = guild(n);
        let tz = ZONES[rng.below(ZONES.len() as u64) as usize];
        let rule = RankingRule {
            exclude_deafened: rng.chance(0.7),
            exclude_alone: rng.chance(0.7),
        };
        store
            .set_guild_config(g, &GuildConfig { rule, timezone: tz })
            .await
            .expect("set the guild configuration");
        oracle.add_guild(g, chan(n, AFK), tz, rule);
        let mut spec = GuildSpec::new(g, format!("model {n}"))
            .channel(ChannelSpec::voice(chan(n, VOICE_A), "lounge"))
            .channel(ChannelSpec::voice(chan(n, VOICE_B), "games"))
            .channel(ChannelSpec::stage(chan(n, STAGE), "stage"))
            .channel(ChannelSpec::voice(chan(n, AFK), "afk"))
            .channel(ChannelSpec::text(chan(n, TEXT), "general"))
            .afk(chan(n, AFK), 300);
        let mut view = View::new();
        let people: Vec<UserId> = (1..=HUMANS)
            .map(human)
            .chain([opted_out()])
            .chain(bots.iter().copied())
            .collect();
        for user in people {
            if rng.chance(0.3) {
                let channel = chan(
                    n,
                    [VOICE_A, VOICE_A, VOICE_B, STAGE, AFK][rng.below(5) as usize],
                );
                let flags = random_flags(&mut rng);
                let mut member = VoiceMember::new(user, channel).flags(to_voice_flags(flags));
                if bots.contains(&user) {
                    member = member.bot();
                }
                spec = spec.voice_member(member);
                view.insert(user, Place { channel, flags });
            }
        }
        specs.push(spec);
        world.insert(g, view);
    }
    store
        .set_opted_out(opted_out(), true, Timestamp::EPOCH)
        .await
        .expect("opt a member out");

    let fake = FakeGateway::builder()
        .heartbeat_interval(Duration::from_millis(500))
        .wait_timeout(WAIT)
        .start()
        .await
        .expect("start the fake gateway");
    for b in &bots {
        fake.set_user_bot(*b, true);
    }
    for spec in specs {
        fake.add_guild(spec).expect("add a guild");
    }
    let dir = StateDir::new();
    let clock = ProcessClock::new(dir.path(), t0);
    let options = Options {
        max_gap_secs: max_gap,
        shards: ShardPlan::Count(SHARDS),
        store_endpoint: Some(proxy.url()),
        // A random first nonce per process, as in production.
        first_nonce: 0,
        ..Options::default()
    };
    let available = world.keys().map(|g| (*g, true)).collect();
    let mut driver = Driver {
        rng,
        report: ScenarioReport {
            seed,
            steps,
            ..ScenarioReport::default()
        },
        store,
        proxy,
        fake,
        dir,
        clock,
        options,
        sidecar: None,
        oracle,
        world,
        bots,
        available,
        store_up: true,
        store_outage_left: 0,
        store_errors_left: 0,
        guild_outages: BTreeMap::new(),
        heartbeat: None,
        beating: false,
        start_heartbeat: None,
        start_heartbeat_seen: None,
        buffered: BTreeMap::new(),
        resumed: BTreeSet::new(),
        untaken: BTreeSet::new(),
        max_gap,
        privacy_rate,
        sweeps: Vec::new(),
        began_at: t0,
        trace: std::env::var_os("CALLSTATS_MODEL_TRACE").is_some(),
        kill_anytime: std::env::var("CALLSTATS_MODEL_KILL_ANYTIME")
            .map_or(true, |v| v.trim() != "0"),
    };
    driver.start_fresh().await;
    for _ in 0..steps {
        driver.step().await;
    }
    driver.finish().await;
    driver.report.took = began.elapsed();
    driver.report
}

impl Driver {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn count_fault(&mut self, kind: &'static str) {
        *self.report.faults.entry(kind).or_default() += 1;
    }

    fn sidecar(&self) -> &Sidecar {
        self.sidecar.as_ref().expect("the sidecar runs")
    }

    fn guilds(&self) -> Vec<GuildId> {
        self.world.keys().copied().collect()
    }

    fn guilds_of_shard(&self, shard: u32) -> Vec<GuildId> {
        self.guilds()
            .into_iter()
            .filter(|g| shard_of(*g, SHARDS) == shard)
            .collect()
    }

    /// The view a `GUILD_CREATE` gives the sidecar: humans only.
    fn view_of(&self, guild: GuildId) -> View {
        self.world[&guild]
            .iter()
            .filter(|(u, _)| !self.bots.contains(u))
            .map(|(u, p)| (*u, *p))
            .collect()
    }

    async fn spawn(&mut self) {
        let sidecar = spawn_process(
            self.store.table().as_str(),
            &self.fake.url(),
            &self.clock,
            self.dir.path(),
            &self.options,
            &[("RUST_LOG", "info")],
        )
        .await;
        self.sidecar = Some(sidecar);
        self.beating = false;
    }

    /// The first start: every guild is new to the program and the store is empty.
    async fn start_fresh(&mut self) {
        self.start_heartbeat = None;
        self.start_heartbeat_seen = None;
        let identifies = self.fake.counters().ready;
        self.spawn().await;
        self.after_identify(identifies, u64::from(SHARDS)).await;
    }

    /// After a fresh IDENTIFY at the current instant: every available guild comes with a
    /// `GUILD_CREATE`; wait until the program has handled them (and, with the store up, has
    /// settled), then pin the heartbeat.
    async fn after_identify(&mut self, identifies_before: u64, shards: u64) {
        self.fake
            .wait_for_identifies(identifies_before + shards)
            .await
            .expect("the program identifies");
        self.wait_fake_connected().await;
        let now = self.now();
        let fresh: Vec<GuildId> = self
            .guilds()
            .into_iter()
            .filter(|g| !self.resumed_guild(*g))
            .collect();
        self.guilds_created(fresh, now).await;
        if self.store_up {
            self.pin().await;
        }
    }

    /// Fresh `GUILD_CREATE`s of `guilds` (those available) reach the program at `at`: the
    /// oracle sees what they show; then wait until the program has handled them and, with the
    /// store up, has settled, so the store has answered.
    async fn guilds_created(&mut self, guilds: Vec<GuildId>, at: Timestamp) {
        for g in guilds {
            if self.available[&g] {
                let view = self.view_of(g);
                self.oracle
                    .guild_create(g, view, at, self.start_heartbeat_seen, self.store_up);
            }
        }
        self.sync_all().await;
        if self.store_up {
            self.wait_settled().await;
            self.oracle.store_answered();
        }
    }

    fn advance(&mut self) -> Timestamp {
        let r = self.rng.unit();
        let secs = if r < 0.08 {
            0
        } else if r < 0.78 {
            1 + self.rng.below(120)
        } else if r < 0.98 {
            120 + self.rng.below(1680)
        } else {
            3600 + self.rng.below(7 * 3600)
        };
        self.clock.advance(secs)
    }

    async fn step(&mut self) {
        self.advance();
        // Outages that have run their course end first.
        if !self.store_up {
            self.store_outage_left = self.store_outage_left.saturating_sub(1);
            if self.store_outage_left == 0 {
                self.end_store_outage().await;
            }
        }
        if self.store_errors_left > 0 {
            self.store_errors_left -= 1;
            if self.store_errors_left == 0 && self.store_up {
                self.proxy.pass();
            }
        }
        let due: Vec<GuildId> = self
            .guild_outages
            .iter_mut()
            .filter_map(|(g, left)| {
                *left = left.saturating_sub(1);
                (*left == 0).then_some(*g)
            })
            .collect();
        for g in due {
            self.end_guild_outage(g).await;
        }
        self.due_sweeps(false).await;
        if self.rng.chance(self.privacy_rate) {
            let began = Instant::now();
            self.privacy().await;
            if self.trace {
                eprintln!(
                    "model: seed {} privacy action ({} ms)",
                    self.report.seed,
                    began.elapsed().as_millis()
                );
            }
            return;
        }
        let r = self.rng.unit();
        let restarts = self.untaken.is_empty();
        let began = Instant::now();
        let what = if r < 0.04 && restarts {
            self.sigterm().await;
            "sigterm"
        } else if r < 0.08 && restarts {
            if self.kill_anytime && self.rng.chance(0.5) {
                self.sigkill_anytime().await;
                "sigkill at any moment"
            } else {
                self.sigkill().await;
                "sigkill"
            }
        } else if r < 0.11 {
            self.replay_window().await;
            "replay"
        } else if r < 0.13 {
            self.invalid_session().await;
            "invalid session"
        } else if r < 0.16 {
            self.start_guild_outage().await;
            "guild outage"
        } else if r < 0.18 && self.store_up {
            self.start_store_outage().await;
            "store outage"
        } else if r < 0.21 && self.store_up && self.store_errors_left == 0 {
            self.start_store_errors();
            "store errors"
        } else if r < 0.25 {
            self.duplicates().await;
            "duplicates"
        } else {
            self.events().await;
            "events"
        };
        if self.trace {
            eprintln!(
                "model: seed {} at {} {what} ({} ms; store {})",
                self.report.seed,
                self.now(),
                began.elapsed().as_millis(),
                if self.store_up { "up" } else { "down" }
            );
        }
    }

    /// Whether `g`'s shard resumed its session at the last start (no `GUILD_CREATE`).
    fn resumed_guild(&self, g: GuildId) -> bool {
        self.resumed.contains(&shard_of(g, SHARDS))
    }

    /// Ends the outages, lets every write reach the store, and compares.
    async fn finish(&mut self) {
        if !self.store_up {
            self.advance();
            self.end_store_outage().await;
        }
        let outages: Vec<GuildId> = self.guild_outages.keys().copied().collect();
        for g in outages {
            self.advance();
            self.end_guild_outage(g).await;
        }
        self.due_sweeps(true).await;
        self.sidecar().wait_idle().await;
        let dead = self.dir.path().join("dead-letters.jsonl");
        if let Ok(text) = std::fs::read_to_string(&dead)
            && !text.trim().is_empty()
        {
            self.report
                .mismatches
                .push(format!("the store refused writes for good: {text}"));
        }
        for ambiguous in &self.oracle.ambiguous {
            self.report.mismatches.push(format!(
                "the driver made an ambiguous reconciliation: {ambiguous}"
            ));
        }
        let users: Vec<UserId> = (1..=HUMANS)
            .map(human)
            .chain([opted_out()])
            .chain(self.bots.iter().copied())
            .collect();
        let days = (self.began_at, self.now());
        let comparison = compare(&self.store, &self.oracle, &users, days).await;
        self.report.mismatches.extend(comparison.mismatches);
        self.report.sessions_checked = comparison.sessions_checked;
        self.report.estimated_checked = comparison.estimated_checked;
        self.report.partner_entries = comparison.partner_entries;
        self.report.partner_secs = comparison.partner_secs;
        self.report.opted_out_partner_entries = comparison.opted_out_partner_entries;
        self.report.bounded_partner_entries = comparison.bounded_partner_entries;
        if let Some(sidecar) = self.sidecar.take() {
            let exit = sidecar.stop_within(Duration::from_secs(30)).await;
            if exit.status.code() != Some(0) {
                self.report.mismatches.push(format!(
                    "the program did not stop cleanly: {:?}",
                    exit.stderr
                ));
            }
        }
        self.fake.shutdown().await;
    }
}

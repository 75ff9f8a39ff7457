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

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use callstats_core::{ChannelId, GuildConfig, GuildId, RankingRule, Timestamp, UserId};
use callstats_fake_gateway::{
    ChannelSpec, Delivery, FakeGateway, GuildSpec, ShardId, VoiceFlags, VoiceMember, shard_of,
};
use callstats_sidecar::ShardPlan;
use callstats_store::Store;
use chrono_tz::Tz;
use twilight_model::id::Id;

use super::compare::compare;
use super::oracle::{DiscordFlags, Oracle, Phase, Place, Span, View};
use super::rng::Rng;
use crate::proxy::FaultProxy;
use crate::sidecar::{Options, ProcessClock, Sidecar, StateDir, sample_of, spawn_process};

/// Shards of the program.
const SHARDS: u32 = 2;
/// Humans (not opted out) per scenario, shared by the guilds.
const HUMANS: u64 = 8;
/// Generous bound on waiting for the program or the fake.
const WAIT: Duration = Duration::from_mins(1);
/// Bound on waiting for the program to settle (see [`Driver::wait_settled`]).
const WAIT_SETTLED: Duration = Duration::from_mins(3);

/// The kinds of fault a scenario injects.
pub const FAULT_KINDS: [&str; 8] = [
    "sigterm_restart",
    "sigkill_crash",
    "duplicate_dispatch",
    "replayed_dispatch",
    "invalid_session",
    "guild_outage",
    "store_outage",
    "store_outage_stall",
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
    pub mismatches: Vec<String>,
    pub took: Duration,
}

fn guild(n: u64) -> GuildId {
    Id::new((n << 22) | 7)
}

fn chan(guild_n: u64, n: u64) -> ChannelId {
    Id::new(guild_n * 100 + n)
}

fn human(n: u64) -> UserId {
    Id::new(50_000 + n)
}

fn opted_out() -> UserId {
    Id::new(50_100)
}

fn bot(n: u64) -> UserId {
    Id::new(50_200 + n)
}

const VOICE_A: u64 = 1;
const VOICE_B: u64 = 2;
const STAGE: u64 = 3;
const AFK: u64 = 4;
const TEXT: u64 = 5;

const ZONES: [Tz; 7] = [
    Tz::UTC,
    chrono_tz::Europe::Berlin,
    chrono_tz::America::New_York,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Asia::Kathmandu,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Pacific::Chatham,
];

/// Instants near calendar edges: month and year ends, ISO week 53, daylight-saving changes.
fn start_instant(rng: &mut Rng) -> Timestamp {
    let starts = [
        crate::time::at(2026, 11, 26, 10, 0, 0),
        crate::time::at(2026, 12, 31, 20, 30, 0),
        crate::time::at(2026, 3, 29, 0, 15, 0),
        crate::time::at(2026, 10, 25, 0, 0, 0),
        crate::time::at(2026, 11, 1, 4, 0, 0),
        crate::time::at(2026, 4, 30, 22, 0, 0),
        crate::time::at(2027, 1, 3, 21, 0, 0),
        crate::time::at(2026, 4, 5, 14, 0, 0),
    ];
    starts[rng.below(starts.len() as u64) as usize].plus(rng.below(7200))
}

fn to_voice_flags(f: DiscordFlags) -> VoiceFlags {
    VoiceFlags {
        self_mute: f.self_mute,
        self_deaf: f.self_deaf,
        mute: f.mute,
        deaf: f.deaf,
        self_stream: f.self_stream,
        self_video: f.self_video,
        suppress: f.suppress,
    }
}

fn random_flags(rng: &mut Rng) -> DiscordFlags {
    let mut f = DiscordFlags::default();
    if rng.chance(0.5) {
        return f;
    }
    flip(rng, &mut f);
    if rng.chance(0.3) {
        flip(rng, &mut f);
    }
    f
}

fn flip(rng: &mut Rng, f: &mut DiscordFlags) {
    match rng.below(7) {
        0 => f.self_mute ^= true,
        1 => f.self_deaf ^= true,
        2 => f.mute ^= true,
        3 => f.deaf ^= true,
        4 => f.self_stream ^= true,
        5 => f.self_video ^= true,
        _ => f.suppress ^= true,
    }
}

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

/// A voice change the driver made, as the oracle records it.
#[derive(Clone, Copy, Debug)]
struct Change {
    guild: GuildId,
    user: UserId,
    place: Option<Place>,
    bot: bool,
}

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
    /// Print every step (`CALLSTATS_MODEL_TRACE`).
    trace: bool,
}

/// Runs one scenario of `steps` steps from `seed`.
#[allow(clippy::too_many_lines)] // the world's setup, read top to bottom
pub async fn run_scenario(seed: u64, steps: usize) -> ScenarioReport {
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
        .set_opted_out(opted_out(), true)
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
        guild_outages: BTreeMap::new(),
        heartbeat: None,
        beating: false,
        start_heartbeat: None,
        start_heartbeat_seen: None,
        buffered: BTreeMap::new(),
        resumed: BTreeSet::new(),
        untaken: BTreeSet::new(),
        max_gap,
        trace: std::env::var_os("CALLSTATS_MODEL_TRACE").is_some(),
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
        for g in self.guilds() {
            if self.available[&g] && !self.resumed_guild(g) {
                let view = self.view_of(g);
                self.oracle
                    .guild_create(g, view, now, self.start_heartbeat_seen, self.store_up);
            }
        }
        self.sync_all().await;
        if self.store_up {
            self.wait_settled().await;
            self.oracle.store_answered();
            self.pin().await;
        }
    }

    /// Waits until every shard is in sync. After a stalled store, requests in flight only give
    /// up at their timeouts before the retries get through: allow minutes, not seconds.
    async fn wait_settled(&self) {
        self.sidecar()
            .wait_metrics_for("every shard to settle", WAIT_SETTLED, |text| {
                let settled = crate::sidecar::samples_of(text, "callstats_shard_settled");
                !settled.is_empty() && settled.iter().all(|v| *v > 0.5)
            })
            .await;
    }

    /// Waits until the fake has a connected session for every shard.
    async fn wait_fake_connected(&self) {
        for shard in 0..SHARDS {
            self.fake
                .wait_for_session(ShardId::new(shard, SHARDS))
                .await
                .expect("the shard connects");
        }
    }

    /// Waits until the fake knows that no connection serves `shards`.
    async fn wait_fake_gone(&self, shards: &[u32]) {
        let deadline = tokio::time::Instant::now() + WAIT;
        for shard in shards {
            while self
                .fake
                .session(ShardId::new(*shard, SHARDS))
                .is_some_and(|s| s.connected)
            {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "seed {}: the fake still serves shard {shard}",
                    self.report.seed
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    async fn wait_fake_disconnected(&self) {
        let all: Vec<u32> = (0..SHARDS).collect();
        self.wait_fake_gone(&all).await;
    }

    /// Waits until the program has handled every dispatch the fake holds for its shards.
    async fn sync_all(&self) {
        for shard in 0..SHARDS {
            if let Some(info) = self.fake.session(ShardId::new(shard, SHARDS))
                && info.connected
            {
                self.sidecar().wait_sequence(shard, info.seq).await;
            }
        }
    }

    /// Waits until every shard's heartbeat in the store says "now".
    async fn pin(&mut self) {
        let now = self.now();
        let deadline = tokio::time::Instant::now() + WAIT;
        for shard in 0..SHARDS {
            loop {
                if self.store.last_heartbeat(shard).await.ok().flatten() == Some(now) {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "seed {}: no heartbeat at {now} from shard {shard}",
                    self.report.seed
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.heartbeat = Some(Span::exact(now));
        self.beating = true;
        self.untaken.clear();
    }

    /// The heartbeat range as the running process leaves it now.
    fn heartbeat_now(&self) -> Option<Span> {
        let now = self.now();
        match self.heartbeat {
            Some(span) if self.beating => Some(Span {
                lo: span.lo,
                hi: span.hi.max(now),
            }),
            other => other,
        }
    }

    /// `span` narrowed by the store: with the process gone, each shard's heartbeat can only be
    /// what the store holds now or a later one still in flight, so the lowest one the store
    /// holds is a lower bound.
    async fn narrowed(&self, span: Option<Span>) -> Option<Span> {
        let span = span?;
        let mut lowest: Option<Timestamp> = None;
        for shard in 0..SHARDS {
            let beat = self.store.last_heartbeat(shard).await.ok().flatten();
            lowest = match (lowest, beat) {
                (_, None) => return Some(span),
                (None, Some(b)) => Some(b),
                (Some(l), Some(b)) => Some(l.min(b)),
            };
        }
        match lowest {
            Some(seen) if span.contains(seen) => Some(Span {
                lo: seen,
                hi: span.hi,
            }),
            _ => Some(span),
        }
    }

    /// `at`, moved on when needed so that a reconciliation against `span` decides keep or
    /// split the same way wherever in the range the heartbeat lies.
    fn unambiguous(&self, at: Timestamp, span: Option<Span>) -> Timestamp {
        let Some(span) = span else { return at };
        if span.lo.secs_until(at) <= self.max_gap || span.hi.secs_until(at) > self.max_gap {
            at
        } else {
            span.hi.plus(self.max_gap + 1)
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

    // ---- events ------------------------------------------------------------------------------

    /// A random voice change: who, where, with which flags.
    fn random_change(&mut self) -> Change {
        let n = 1 + self.rng.below(3);
        let g = guild(n);
        let r = self.rng.unit();
        let user = if r < 0.08 {
            opted_out()
        } else if r < 0.16 {
            bot(self.rng.below(2))
        } else {
            human(1 + self.rng.below(HUMANS))
        };
        let channels = [VOICE_A, VOICE_A, VOICE_B, VOICE_B, STAGE, AFK];
        let current = self.world[&g].get(&user).copied();
        let place = match current {
            None => Some(Place {
                channel: chan(n, channels[self.rng.below(6) as usize]),
                flags: random_flags(&mut self.rng),
            }),
            Some(p) => {
                let r = self.rng.unit();
                if r < 0.3 {
                    None
                } else if r < 0.55 {
                    Some(Place {
                        channel: chan(n, channels[self.rng.below(6) as usize]),
                        flags: p.flags,
                    })
                } else {
                    let mut flags = p.flags;
                    flip(&mut self.rng, &mut flags);
                    Some(Place {
                        channel: p.channel,
                        flags,
                    })
                }
            }
        };
        Change {
            guild: g,
            user,
            place,
            bot: self.bots.contains(&user),
        }
    }

    /// Makes `change` happen in the world and on the fake at the current instant; records
    /// what the program will see. Returns the shard and sequence to wait for when sent.
    fn apply(&mut self, change: Change) -> Option<(u32, u64)> {
        let world = self.world.get_mut(&change.guild).expect("known guild");
        match change.place {
            Some(p) => world.insert(change.user, p),
            None => world.remove(&change.user),
        };
        let delivery = self
            .fake
            .voice_update(
                change.guild,
                change.user,
                change.place.map(|p| p.channel),
                change
                    .place
                    .map(|p| to_voice_flags(p.flags))
                    .unwrap_or_default(),
            )
            .expect("script a voice change");
        self.report.events += 1;
        self.record(change, &delivery)
    }

    fn record(&mut self, change: Change, delivery: &Delivery) -> Option<(u32, u64)> {
        let shard = shard_of(change.guild, SHARDS);
        match delivery {
            Delivery::Sent { seq, .. } => {
                let now = self.now();
                self.oracle
                    .voice(change.guild, change.user, change.place, change.bot, now);
                Some((shard, *seq))
            }
            Delivery::Buffered { .. } => {
                self.buffered.entry(shard).or_default().push(change);
                None
            }
            _ => None,
        }
    }

    async fn wait_sent(&self, sent: &[(u32, u64)]) {
        let mut last: BTreeMap<u32, u64> = BTreeMap::new();
        for (shard, seq) in sent {
            let e = last.entry(*shard).or_default();
            *e = (*e).max(*seq);
        }
        for (shard, seq) in last {
            self.sidecar().wait_sequence(shard, seq).await;
        }
    }

    /// One to three voice changes at the current instant, handled by the program.
    async fn events(&mut self) {
        let count = 1 + self.rng.below(3);
        let mut sent = Vec::new();
        for _ in 0..count {
            let change = self.random_change();
            sent.extend(self.apply(change));
        }
        self.wait_sent(&sent).await;
    }

    /// Voice changes while the program cannot see them (down, or its shard disconnected),
    /// over `[from, until)`, the clock moving on between them.
    fn unseen_events(&mut self, until: Timestamp) {
        let count = self.rng.below(5);
        for _ in 0..count {
            let now = self.now();
            if now.secs_until(until) > 1 {
                let step = 1 + self.rng.below(now.secs_until(until) - 1);
                self.clock.set(now.plus(step));
            }
            let change = self.random_change();
            let sent = self.apply(change);
            assert!(
                sent.is_none(),
                "seed {}: a dispatch reached a program that should not see it",
                self.report.seed
            );
        }
    }

    // ---- steps -------------------------------------------------------------------------------

    async fn step(&mut self) {
        self.advance();
        // Outages that have run their course end first.
        if !self.store_up {
            self.store_outage_left = self.store_outage_left.saturating_sub(1);
            if self.store_outage_left == 0 {
                self.end_store_outage().await;
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
        let r = self.rng.unit();
        let restarts = self.untaken.is_empty();
        let began = Instant::now();
        let what = if r < 0.04 && restarts {
            self.sigterm().await;
            "sigterm"
        } else if r < 0.08 && restarts {
            self.sigkill().await;
            "sigkill"
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
        } else if r < 0.23 {
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

    /// Sends members' current states again (the gateway repeating itself), and a leave for
    /// someone not in voice.
    async fn duplicates(&mut self) {
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
                let data = crate::sidecar::voice_state_json(g, user, None, VoiceFlags::default());
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

    /// Waits until every write the program decided on is in its spool.
    async fn wait_journaled(&self) {
        self.sidecar()
            .wait_metrics("every write to be journaled", |text| {
                sample_of(text, "callstats_writes_handed_total")
                    == sample_of(text, "callstats_writes_submitted_total")
            })
            .await;
    }

    /// Shards whose guilds all are complete: a stop saves their state.
    fn saved_shards(&self) -> BTreeSet<u32> {
        (0..SHARDS)
            .filter(|shard| {
                self.guilds_of_shard(*shard)
                    .iter()
                    .all(|g| !matches!(self.oracle.phase(*g), Phase::Reconciling { .. }))
            })
            .collect()
    }

    /// Whether `g`'s shard resumed its session at the last start (no `GUILD_CREATE`).
    fn resumed_guild(&self, g: GuildId) -> bool {
        self.resumed.contains(&shard_of(g, SHARDS))
    }

    async fn sigterm(&mut self) {
        self.count_fault("sigterm_restart");
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

    async fn sigkill(&mut self) {
        self.count_fault("sigkill_crash");
        self.wait_journaled().await;
        if self.store_up && self.oracle.settled() && self.rng.chance(0.5) {
            self.pin().await;
        }
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
        self.clock.set(back);
        self.maybe_toggle_store_during_downtime();
        self.start_heartbeat = heartbeat;
        self.start_heartbeat_seen = self.narrowed(heartbeat).await;
        let identifies = self.fake.counters().ready;
        self.buffered.clear();
        self.spawn().await;
        self.after_identify(identifies, u64::from(SHARDS)).await;
    }

    /// Sometimes the store goes away, or comes back, while the program is down.
    fn maybe_toggle_store_during_downtime(&mut self) {
        if self.rng.chance(0.25) {
            if self.store_up {
                self.count_fault("store_outage");
                self.proxy.refuse();
                self.store_up = false;
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
    fn replay_buffered(&mut self, shard: Option<u32>) {
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

    fn pick_shard(&mut self) -> u32 {
        self.rng.below(u64::from(SHARDS)) as u32
    }

    async fn wait_disconnected(&self, shard: u32) {
        let sample = format!("callstats_shard_connected{{shard=\"{shard}\"}}");
        self.sidecar()
            .wait_metrics("the shard to notice", |text| {
                sample_of(text, &sample) == Some(0.0)
            })
            .await;
    }

    /// The gateway drops the connection (or asks for a reconnect) and cannot be reached for a
    /// moment; what happened meanwhile is replayed on RESUME.
    async fn replay_window(&mut self) {
        self.count_fault("replayed_dispatch");
        let shard = self.pick_shard();
        self.fake.set_accepting(false);
        let id = ShardId::new(shard, SHARDS);
        if self.rng.chance(0.5) {
            self.fake.drop_connection(id).expect("drop the connection");
        } else {
            self.fake.reconnect(id).expect("ask for a reconnect");
        }
        self.wait_disconnected(shard).await;
        self.wait_fake_gone(&[shard]).await;
        let resumes = self.fake.counters().resumed;
        let count = 1 + self.rng.below(4);
        let mut sent = Vec::new();
        for _ in 0..count {
            self.advance();
            let change = self.random_change();
            sent.extend(self.apply(change));
            // Events on the other shard arrive as usual.
            self.wait_sent(&sent).await;
            sent.clear();
        }
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
    async fn invalid_session(&mut self) {
        self.count_fault("invalid_session");
        let shard = self.pick_shard();
        self.fake.set_accepting(false);
        self.fake
            .invalidate_session(ShardId::new(shard, SHARDS), false)
            .expect("invalidate the session");
        self.wait_disconnected(shard).await;
        self.wait_fake_gone(&[shard]).await;
        let lost = self.now();
        for g in self.guilds_of_shard(shard) {
            self.oracle.blind(g, lost);
        }
        self.buffered.remove(&shard);
        let count = self.rng.below(4);
        let mut sent = Vec::new();
        for _ in 0..count {
            self.advance();
            let change = self.random_change();
            sent.extend(self.apply(change));
            self.wait_sent(&sent).await;
            sent.clear();
        }
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
        for g in self.guilds_of_shard(shard) {
            if self.available[&g] {
                let view = self.view_of(g);
                self.oracle
                    .guild_create(g, view, back, self.start_heartbeat_seen, self.store_up);
            }
        }
        self.sync_all().await;
        if self.store_up {
            self.wait_settled().await;
            self.oracle.store_answered();
        }
    }

    async fn start_guild_outage(&mut self) {
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
    }

    async fn end_guild_outage(&mut self, g: GuildId) {
        self.guild_outages.remove(&g);
        let now = self.now();
        let at = if matches!(self.oracle.phase(g), Phase::Unknown) {
            self.unambiguous(now, self.start_heartbeat)
        } else {
            now
        };
        self.clock.set(at);
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

    async fn start_store_outage(&mut self) {
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
        self.store_outage_left = 2 + self.rng.below(8) as usize;
    }

    async fn end_store_outage(&mut self) {
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
        let comparison = compare(&self.store, &self.oracle, &users).await;
        self.report.mismatches.extend(comparison.mismatches);
        self.report.sessions_checked = comparison.sessions_checked;
        self.report.estimated_checked = comparison.estimated_checked;
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

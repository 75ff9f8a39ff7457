//! The tracker: a pure state machine from gateway events to session writes.
//!
//! No I/O and no clock: every input carries the instant the sidecar received it, and every
//! output is a [`SessionWrite`] for the writer to apply. One tracker serves one shard (its guilds are
//! disjoint from every other shard's), so it needs no locking and its state is what a graceful
//! restart snapshots for that shard.
//!
//! Per guild it keeps only what it needs: the AFK channel, the guild's configuration (timezone
//! of period cells, ranking rule), where each non-bot member in voice is with their own flags,
//! how many members each channel holds (for "alone"), and the sessions it is accounting.
//!
//! # Rules
//!
//! - A member's *desired* session is "in channel C with flags F" when they are in a voice or
//!   stage channel that is not the AFK channel; F is their muted / deafened / streaming / video
//!   flags plus ALONE when they are the only non-bot member of C. Bots are never tracked and
//!   never count as company. Opted-out members are tracked like everyone else here (the store
//!   refuses their sessions) so they still keep others from being alone.
//! - After every change, each affected member's session is brought to its desired state: none
//!   to some starts, some to none ends, another channel ends and starts (end first), other flags
//!   account the segment so far and continue (an update). An event that changes nothing (a
//!   duplicate) writes nothing.
//! - `GUILD_CREATE` of a guild the tracker does not know needs the store's view of the guild's
//!   open sessions first: the guild waits in *reconciling* state, queueing its events, until
//!   [`Tracker::store_reconciled`] hands over what the store holds; then the core's
//!   [`reconcile`](callstats_core::reconcile::reconcile) decision runs at the `GUILD_CREATE`
//!   instant and the queued events follow at their own instants, so the result does not depend
//!   on how long the store took to answer.
//! - `GUILD_CREATE` of a guild the tracker knows (back from an outage, after a fresh IDENTIFY in
//!   the same process or after a restored snapshot) reconciles in memory against the sessions
//!   it holds, with the instant it lost sight of the guild as last seen.
//! - `GUILD_DELETE` with `unavailable` freezes the guild: nothing is written until it comes
//!   back. Without it the bot was removed: every session ends at that moment.

use std::collections::{BTreeMap, BTreeSet};

use callstats_core::partners::{Departures, Stay, overlaps};
use callstats_core::reconcile::{self, Decision, OpenRef, Present};
use callstats_core::{
    ChannelId, ClosedSession, Flags, GuildConfig, GuildId, OpenSession, SessionId, Timestamp,
    UserId,
};
use serde::{Deserialize, Serialize};

pub use crate::departures::Departure;

/// One change for the store, in the order the tracker decided it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SessionWrite {
    /// Open a session. The guild's configuration comes along in case an older session of the
    /// same user is still open in the store and must be ended first.
    Start {
        session: OpenSession,
        config: GuildConfig,
    },
    /// Record what an open session has accounted so far, under the guild's configuration
    /// (its ranking rule decides what the store's live summary counts as ranked).
    Update {
        session: OpenSession,
        config: GuildConfig,
    },
    /// End a session and add it to the aggregates, under the guild's configuration.
    End {
        session: ClosedSession,
        config: GuildConfig,
    },
}

impl SessionWrite {
    #[must_use]
    pub const fn user(&self) -> UserId {
        match self {
            Self::Start { session, .. } | Self::Update { session, .. } => session.user,
            Self::End { session, .. } => session.user,
        }
    }

    #[must_use]
    pub const fn guild(&self) -> GuildId {
        match self {
            Self::Start { session, .. } | Self::Update { session, .. } => session.guild,
            Self::End { session, .. } => session.guild,
        }
    }

    #[must_use]
    pub const fn session_id(&self) -> SessionId {
        match self {
            Self::Start { session, .. } | Self::Update { session, .. } => session.id,
            Self::End { session, .. } => session.id,
        }
    }

    /// `start`, `update` or `end`, for logs and metrics.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Start { .. } => "start",
            Self::Update { .. } => "update",
            Self::End { .. } => "end",
        }
    }
}

/// A member in a voice channel, as a `GUILD_CREATE` lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceMember {
    pub user: UserId,
    pub channel: ChannelId,
    pub bot: bool,
    /// Their own flags; ALONE is the tracker's to decide and is ignored here.
    pub flags: Flags,
}

/// What a `GUILD_CREATE` says about a guild.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuildSeed {
    pub guild: GuildId,
    pub afk: Option<ChannelId>,
    pub voice: Vec<VoiceMember>,
}

/// What a `VOICE_STATE_UPDATE` says: where a member is now (`None`: not in voice).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoiceChange {
    pub guild: GuildId,
    pub user: UserId,
    pub channel: Option<ChannelId>,
    pub bot: bool,
    pub flags: Flags,
}

/// What the caller must do after a `GUILD_CREATE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuildCreated {
    /// Apply these writes; the guild is tracked.
    Writes(Vec<SessionWrite>),
    /// Read the guild's open sessions and configuration from the store, then call
    /// [`Tracker::store_reconciled`] with this generation.
    NeedsStore { generation: u64 },
}

/// Where a member is and what they are doing, apart from ALONE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Position {
    channel: ChannelId,
    flags: Flags,
}

/// An event held back while the guild waits for the store.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Queued {
    Voice(VoiceChange),
    Afk(Option<ChannelId>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Events are applied as they come.
    Live,
    /// Out of sight since `since` (outage, lost gateway session): nothing is written until the
    /// next `GUILD_CREATE`.
    Frozen { since: Timestamp },
    /// Waiting for the store's open sessions.
    Reconciling {
        generation: u64,
        seed: GuildSeed,
        seed_at: Timestamp,
        queued: Vec<(Timestamp, Queued)>,
    },
}

#[derive(Clone, Debug)]
struct GuildState {
    id: GuildId,
    afk: Option<ChannelId>,
    config: GuildConfig,
    /// Non-bot members in voice, the AFK channel included.
    voice: BTreeMap<UserId, Position>,
    /// Members per channel: the index behind "alone".
    occupancy: BTreeMap<ChannelId, BTreeSet<UserId>>,
    /// Boxed: a map's nodes hold room for eleven values each, mostly empty in a guild's small
    /// map, and a session is many times the size of a pointer (BENCHMARKS.md, memory).
    sessions: BTreeMap<UserId, Box<OpenSession>>,
    /// Stays that ended while others in their channel stayed: their partner time still needs
    /// them.
    departures: Departures,
    /// Members whose time the store does not record (opted out, or their data deleted during
    /// the call), from when: they are no one's partner from then on.
    unrecorded: BTreeMap<UserId, Timestamp>,
    /// Departures recorded since the shard last took them for its journal.
    fresh: Vec<(ChannelId, Stay)>,
    /// The latest instant a change was applied at: a clock that steps back does not take
    /// the guild's time back with it (a session would start before a departure it followed).
    latest: Timestamp,
    phase: Phase,
}

/// Source of session nonces: a counter from a chosen start (random in production, fixed in
/// tests), so two sessions of one user starting in the same second never share an id.
#[derive(Clone, Copy, Debug)]
struct Nonces(u32);

impl Nonces {
    fn next(&mut self) -> u32 {
        let n = self.0;
        self.0 = self.0.wrapping_add(1);
        n
    }
}

/// The voice state of one shard's guilds and the sessions accounted for them.
#[derive(Clone, Debug)]
pub struct Tracker {
    guilds: BTreeMap<GuildId, GuildState>,
    nonces: Nonces,
    generations: u64,
    /// Departures read back from the journal after a crash, for guilds not seen yet.
    pending: BTreeMap<GuildId, Vec<(ChannelId, Stay)>>,
}

impl Tracker {
    /// An empty tracker whose session nonces count up from `first_nonce`.
    #[must_use]
    pub const fn new(first_nonce: u32) -> Self {
        Self {
            guilds: BTreeMap::new(),
            nonces: Nonces(first_nonce),
            generations: 0,
            pending: BTreeMap::new(),
        }
    }

    /// A `GUILD_CREATE` received at `at`.
    pub fn guild_create(
        &mut self,
        seed: GuildSeed,
        at: Timestamp,
        max_gap_secs: u64,
    ) -> GuildCreated {
        let last_seen = match self.guilds.get(&seed.guild).map(|g| &g.phase) {
            Some(Phase::Frozen { since }) => *since,
            // Seen again without having gone away: nothing was missed until now.
            Some(Phase::Live) => at,
            // Unknown, or a newer view of a guild still waiting for the store: ask the store.
            None | Some(Phase::Reconciling { .. }) => {
                self.generations += 1;
                let generation = self.generations;
                let id = seed.guild;
                let phase = Phase::Reconciling {
                    generation,
                    seed_at: at,
                    queued: Vec::new(),
                    seed,
                };
                match self.guilds.get_mut(&id) {
                    Some(state) => state.phase = phase,
                    None => {
                        self.guilds
                            .insert(id, GuildState::new(id, GuildConfig::default(), phase));
                    }
                }
                return GuildCreated::NeedsStore { generation };
            }
        };
        let mut out = Vec::new();
        let pending = self.pending.remove(&seed.guild).unwrap_or_default();
        if let Some(state) = self.guilds.get_mut(&seed.guild) {
            for (channel, stay) in pending {
                state.departures.record(channel, stay);
            }
            state.reconcile(
                &seed,
                Some(last_seen),
                at,
                max_gap_secs,
                &mut self.nonces,
                &mut out,
            );
        }
        GuildCreated::Writes(out)
    }

    /// The store's view of a guild that was waiting for it: its open sessions (strongly
    /// consistent), its configuration, and when the sidecar was last known alive before it
    /// started (`None` when it never recorded a heartbeat). Ignored unless the guild still
    /// waits for exactly this `generation`.
    pub fn store_reconciled(
        &mut self,
        guild: GuildId,
        generation: u64,
        open: Vec<OpenSession>,
        config: GuildConfig,
        last_seen: Option<Timestamp>,
        max_gap_secs: u64,
    ) -> Vec<SessionWrite> {
        let Some(state) = self.guilds.get_mut(&guild) else {
            return Vec::new();
        };
        let Phase::Reconciling {
            generation: waiting,
            ..
        } = &state.phase
        else {
            return Vec::new();
        };
        if *waiting != generation {
            return Vec::new();
        }
        let Phase::Reconciling {
            seed,
            seed_at,
            queued,
            ..
        } = std::mem::replace(&mut state.phase, Phase::Live)
        else {
            return Vec::new();
        };
        state.config = config;
        state.sessions = open
            .into_iter()
            .filter(|s| s.guild == guild)
            .map(|s| (s.user, Box::new(s)))
            .collect();
        for (channel, stay) in self.pending.remove(&guild).unwrap_or_default() {
            state.departures.record(channel, stay);
        }
        // Stays read back from the journal of members the store just said it does not record.
        let unrecorded: Vec<(UserId, Timestamp)> =
            state.unrecorded.iter().map(|(u, t)| (*u, *t)).collect();
        for (user, since) in unrecorded {
            state.unrecord(user, since);
        }
        let mut out = Vec::new();
        state.reconcile(
            &seed,
            last_seen,
            seed_at,
            max_gap_secs,
            &mut self.nonces,
            &mut out,
        );
        for (at, event) in queued {
            match event {
                Queued::Voice(change) => state.apply_voice(change, at, &mut self.nonces, &mut out),
                Queued::Afk(afk) => state.apply_afk(afk, at, &mut self.nonces, &mut out),
            }
        }
        out
    }

    /// A `VOICE_STATE_UPDATE` received at `at`.
    pub fn voice_update(&mut self, change: VoiceChange, at: Timestamp) -> Vec<SessionWrite> {
        let mut out = Vec::new();
        let Some(guild) = self.guilds.get_mut(&change.guild) else {
            return out;
        };
        match &mut guild.phase {
            Phase::Live => guild.apply_voice(change, at, &mut self.nonces, &mut out),
            Phase::Reconciling { queued, .. } => queued.push((at, Queued::Voice(change))),
            Phase::Frozen { .. } => {}
        }
        out
    }

    /// A `GUILD_UPDATE` naming the guild's AFK channel.
    pub fn afk_changed(
        &mut self,
        guild: GuildId,
        afk: Option<ChannelId>,
        at: Timestamp,
    ) -> Vec<SessionWrite> {
        let mut out = Vec::new();
        let Some(state) = self.guilds.get_mut(&guild) else {
            return out;
        };
        match &mut state.phase {
            Phase::Live => state.apply_afk(afk, at, &mut self.nonces, &mut out),
            Phase::Reconciling { queued, .. } => queued.push((at, Queued::Afk(afk))),
            Phase::Frozen { .. } => state.afk = afk,
        }
        out
    }

    /// `GUILD_DELETE` with `unavailable`: the guild is out of sight from `at`.
    pub fn guild_unavailable(&mut self, guild: GuildId, at: Timestamp) {
        let Some(state) = self.guilds.get_mut(&guild) else {
            return;
        };
        match state.phase {
            Phase::Live => state.phase = Phase::Frozen { since: at },
            Phase::Frozen { .. } => {}
            // Its sessions are still only in the store; the next GUILD_CREATE asks it again.
            Phase::Reconciling { .. } => {
                self.guilds.remove(&guild);
            }
        }
    }

    /// `GUILD_DELETE` without `unavailable`: the bot left the guild or was removed at `at`.
    /// Every session ends then (or, for a guild out of sight, when it was last seen, as an
    /// estimate).
    pub fn guild_removed(&mut self, guild: GuildId, at: Timestamp) -> Vec<SessionWrite> {
        let mut out = Vec::new();
        if let Some(state) = self.guilds.remove(&guild) {
            state.end_all(at, &mut out);
        }
        out
    }

    /// The shard lost its gateway session (a fresh IDENTIFY follows): every guild it tracks is
    /// out of sight since `since`, until its next `GUILD_CREATE`.
    pub fn freeze_all(&mut self, since: Timestamp) {
        for state in self.guilds.values_mut() {
            if state.phase == Phase::Live {
                state.phase = Phase::Frozen { since };
            }
        }
    }

    /// After a fresh IDENTIFY, guilds the tracker knows that READY no longer lists: the bot was
    /// removed while it could not see. Their sessions end when they were last seen (estimated).
    pub fn retain_guilds(
        &mut self,
        listed: &BTreeSet<GuildId>,
        at: Timestamp,
    ) -> Vec<SessionWrite> {
        let gone: Vec<GuildId> = self
            .guilds
            .keys()
            .filter(|g| !listed.contains(g))
            .copied()
            .collect();
        let mut out = Vec::new();
        for guild in gone {
            if let Some(state) = self.guilds.remove(&guild) {
                state.end_all(at, &mut out);
            }
        }
        out
    }

    /// A guild's configuration as read from the store (at start, or refreshed later). Time
    /// accounted from now on uses it.
    pub fn set_config(&mut self, guild: GuildId, config: GuildConfig) {
        if let Some(state) = self.guilds.get_mut(&guild)
            && !matches!(state.phase, Phase::Reconciling { .. })
        {
            state.config = config;
        }
    }

    /// Departures read back from the shard's journal: each guild keeps those its open
    /// sessions overlap once it is seen.
    pub fn restore_departures(&mut self, departures: impl IntoIterator<Item = Departure>) {
        for (guild, channel, stay) in departures {
            match self.guilds.get_mut(&guild) {
                Some(state) => {
                    state.departures.record(channel, stay);
                }
                None => self.pending.entry(guild).or_default().push((channel, stay)),
            }
        }
    }

    /// Departures recorded since the last call, for the shard's journal.
    pub fn take_departures(&mut self) -> Vec<Departure> {
        let mut out = Vec::new();
        for (guild, state) in &mut self.guilds {
            out.extend(state.fresh.drain(..).map(|(c, s)| (*guild, c, s)));
        }
        out
    }

    /// Every departure kept (a rewrite of the journal).
    #[must_use]
    pub fn departures(&self) -> Vec<Departure> {
        let kept = self
            .guilds
            .iter()
            .flat_map(|(guild, state)| state.departures.iter().map(move |(c, s)| (*guild, c, s)));
        let pending = self
            .pending
            .iter()
            .flat_map(|(guild, stays)| stays.iter().map(move |(c, s)| (*guild, *c, *s)));
        kept.chain(pending).collect()
    }

    /// `user`'s time in `guild` is not recorded from `since` (the store says they opted out):
    /// they are no one's partner from then on, until a start of theirs is recorded.
    pub fn not_recorded(&mut self, guild: GuildId, user: UserId, since: Timestamp) {
        if let Some(state) = self.guilds.get_mut(&guild) {
            state.unrecord(user, since);
        }
    }

    /// What the store did with the start of `session`: recorded, or refused because the member
    /// opted out.
    pub fn start_outcome(
        &mut self,
        guild: GuildId,
        session: SessionId,
        user: UserId,
        recorded: bool,
    ) {
        let Some(state) = self.guilds.get_mut(&guild) else {
            return;
        };
        let open = state.sessions.get(&user).is_some_and(|s| s.id == session);
        if recorded {
            if open {
                state.unrecorded.remove(&user);
            }
            return;
        }
        // Refused, maybe after the session ended (the store was slow or away): its stay, kept
        // for others' partner time, goes too.
        state.unrecord(user, session.start());
        if !open {
            state.cut_stays(user, |stay| (stay.start != session.start()).then_some(stay));
        }
    }

    /// Members a privacy action took off `guild`'s boards, with when (opt-out, deletion): a
    /// call of theirs that began before is not recorded from then on.
    pub fn privacy_actions(
        &mut self,
        guild: GuildId,
        actions: impl IntoIterator<Item = (UserId, Timestamp)>,
    ) {
        let Some(state) = self.guilds.get_mut(&guild) else {
            return;
        };
        for (user, at) in actions {
            if state.sessions.get(&user).is_some_and(|s| s.start() < at) {
                state.unrecord(user, at);
            }
            // Stays that began before and ended since are not recorded from then on either.
            state.cut_stays(user, |stay| {
                Some(Stay {
                    end: if stay.start < at {
                        stay.end.min(at)
                    } else {
                        stay.end
                    },
                    ..stay
                })
            });
        }
    }

    /// Whether no guild waits for the store: the state is complete.
    #[must_use]
    pub fn is_settled(&self) -> bool {
        !self
            .guilds
            .values()
            .any(|g| matches!(g.phase, Phase::Reconciling { .. }))
    }

    /// Sessions being accounted in `guild`: its members in voice who count.
    #[must_use]
    pub fn sessions_in(&self, guild: GuildId) -> u32 {
        self.guilds
            .get(&guild)
            .map_or(0, |g| u32::try_from(g.sessions.len()).unwrap_or(u32::MAX))
    }

    /// Whether the store records `user`'s time in `guild` as far as the tracker knows: a session
    /// of theirs is being accounted and the store has not refused it (an opt-out) nor had it
    /// taken off by a privacy action. A start still on its way to the store counts as recorded
    /// here; the caller waits for its outcome when that matters.
    #[must_use]
    pub fn is_recorded(&self, guild: GuildId, user: UserId) -> bool {
        self.guilds
            .get(&guild)
            .is_some_and(|g| g.sessions.contains_key(&user) && !g.unrecorded.contains_key(&user))
    }

    /// Whether `user` has a session being accounted in `guild`.
    #[must_use]
    pub fn in_session(&self, guild: GuildId, user: UserId) -> bool {
        self.session_start(guild, user).is_some()
    }

    /// When the session of `user` being accounted in `guild` began.
    #[must_use]
    pub fn session_start(&self, guild: GuildId, user: UserId) -> Option<Timestamp> {
        self.guilds
            .get(&guild)
            .and_then(|g| g.sessions.get(&user))
            .map(|s| s.id.start())
    }

    /// A guild's configuration as the tracker uses it.
    #[must_use]
    pub fn config_of(&self, guild: GuildId) -> Option<GuildConfig> {
        self.guilds.get(&guild).map(|g| g.config)
    }

    /// Sessions being accounted.
    #[must_use]
    pub fn open_sessions(&self) -> usize {
        self.guilds.values().map(|g| g.sessions.len()).sum()
    }

    /// The open session of a user in a guild, as accounted so far.
    #[must_use]
    pub fn session(&self, guild: GuildId, user: UserId) -> Option<&OpenSession> {
        self.guilds
            .get(&guild)?
            .sessions
            .get(&user)
            .map(AsRef::as_ref)
    }

    /// Guilds the tracker knows.
    pub fn guilds(&self) -> impl Iterator<Item = GuildId> + '_ {
        self.guilds.keys().copied()
    }

    /// The state to carry over a restart. Guilds still waiting for the store are left out
    /// (their next `GUILD_CREATE` asks the store again).
    #[must_use]
    pub fn snapshot(&self) -> TrackerSnapshot {
        TrackerSnapshot {
            version: SNAPSHOT_VERSION,
            next_nonce: self.nonces.0,
            guilds: self
                .guilds
                .values()
                .filter_map(|g| {
                    let frozen_since = match g.phase {
                        Phase::Live => None,
                        Phase::Frozen { since } => Some(since),
                        Phase::Reconciling { .. } => return None,
                    };
                    Some(GuildSnapshot {
                        guild: g.id,
                        afk: g.afk,
                        config: g.config,
                        voice: g
                            .voice
                            .iter()
                            .map(|(user, p)| VoiceMember {
                                user: *user,
                                channel: p.channel,
                                bot: false,
                                flags: p.flags,
                            })
                            .collect(),
                        sessions: g.sessions.values().map(|s| (**s).clone()).collect(),
                        frozen_since,
                        departures: g.departures.iter().collect(),
                        unrecorded: g.unrecorded.iter().map(|(u, t)| (*u, *t)).collect(),
                    })
                })
                .collect(),
        }
    }

    /// A tracker as a snapshot left it, keeping only the guilds `keep` accepts (the ones of the
    /// shard it will serve). With `frozen_since`, every guild is out of sight since then (the
    /// gateway session will not be resumed).
    pub fn restore(
        snapshot: TrackerSnapshot,
        keep: impl Fn(GuildId) -> bool,
        frozen_since: Option<Timestamp>,
    ) -> Result<Self, SnapshotError> {
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version(snapshot.version));
        }
        let mut tracker = Self::new(snapshot.next_nonce);
        for g in snapshot.guilds {
            if !keep(g.guild) {
                continue;
            }
            let phase = match (g.frozen_since, frozen_since) {
                (Some(since), _) | (None, Some(since)) => Phase::Frozen { since },
                (None, None) => Phase::Live,
            };
            let mut state = GuildState::new(g.guild, g.config, phase);
            state.afk = g.afk;
            state.set_voice(&g.voice);
            for (channel, stay) in g.departures {
                state.departures.record(channel, stay);
            }
            state.unrecorded = g.unrecorded.into_iter().collect();
            for session in g.sessions {
                if session.guild != g.guild || session.seg_start < session.start() {
                    return Err(SnapshotError::Inconsistent(format!(
                        "session {} does not belong to guild {}",
                        session.id, g.guild
                    )));
                }
                state.latest = state.latest.max(session.seg_start);
                if state
                    .sessions
                    .insert(session.user, Box::new(session))
                    .is_some()
                {
                    return Err(SnapshotError::Inconsistent(format!(
                        "two sessions of one user in guild {}",
                        g.guild
                    )));
                }
            }
            tracker.guilds.insert(g.guild, state);
        }
        Ok(tracker)
    }
}

const SNAPSHOT_VERSION: u32 = 3;

/// A tracker's state, serialisable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackerSnapshot {
    pub version: u32,
    pub next_nonce: u32,
    pub guilds: Vec<GuildSnapshot>,
}

/// One guild in a [`TrackerSnapshot`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuildSnapshot {
    pub guild: GuildId,
    pub afk: Option<ChannelId>,
    pub config: GuildConfig,
    pub voice: Vec<VoiceMember>,
    pub sessions: Vec<OpenSession>,
    pub frozen_since: Option<Timestamp>,
    pub departures: Vec<(ChannelId, Stay)>,
    pub unrecorded: Vec<(UserId, Timestamp)>,
}

/// A snapshot this version cannot use.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Written by another version of the sidecar.
    #[error("snapshot version {0} is not supported")]
    Version(u32),
    /// Its parts contradict each other.
    #[error("inconsistent snapshot: {0}")]
    Inconsistent(String),
}

impl GuildState {
    fn new(id: GuildId, config: GuildConfig, phase: Phase) -> Self {
        Self {
            id,
            afk: None,
            config,
            voice: BTreeMap::new(),
            occupancy: BTreeMap::new(),
            sessions: BTreeMap::new(),
            departures: Departures::default(),
            unrecorded: BTreeMap::new(),
            fresh: Vec::new(),
            latest: Timestamp::EPOCH,
            phase,
        }
    }

    /// Forgets departures no open session overlaps.
    fn prune_departures(&mut self) {
        let channels: Vec<ChannelId> = self.departures.channels().collect();
        for channel in channels {
            let oldest = self
                .sessions
                .values()
                .filter(|s| s.channel == channel)
                .map(|s| s.start())
                .min();
            self.departures.prune(channel, oldest);
        }
    }

    /// The latest departure from `session`'s channel while it was open: the member was there
    /// then.
    fn seen_until(&self, session: &OpenSession) -> Timestamp {
        self.departures
            .of(session.channel)
            .filter(|d| d.user != session.user && d.end > session.start())
            .map(|d| d.end)
            .max()
            .unwrap_or(Timestamp::EPOCH)
    }

    /// `user`'s time is not recorded from `since`: their kept stays are cut there.
    fn unrecord(&mut self, user: UserId, since: Timestamp) {
        let at = self.unrecorded.entry(user).or_insert(since);
        *at = (*at).min(since);
        let since = *at;
        self.cut_stays(user, |stay| {
            Some(Stay {
                end: stay.end.min(since),
                ..stay
            })
        });
    }

    /// Replaces each stay of `user` kept for others' partner time with what `cut` makes of it
    /// (none, or an empty one: forgotten).
    fn cut_stays(&mut self, user: UserId, cut: impl Fn(Stay) -> Option<Stay>) {
        if !self.departures.iter().any(|(_, s)| s.user == user) {
            return;
        }
        let kept: Vec<(ChannelId, Stay)> = self
            .departures
            .iter()
            .filter_map(|(c, s)| if s.user == user { cut(s) } else { Some(s) }.map(|s| (c, s)))
            .collect();
        self.departures = Departures::default();
        for (channel, stay) in kept {
            self.departures.record(channel, stay);
        }
    }

    /// Until when `user`'s time up to `end` is recorded.
    fn recorded_until(&self, user: UserId, end: Timestamp) -> Timestamp {
        self.unrecorded
            .get(&user)
            .map_or(end, |since| end.min(*since))
    }

    /// Ends `session` (already taken out of `sessions`) at `at` with its partner time: its
    /// overlap with every other recorded session of its channel, open or departed. Its own stay
    /// is kept for the sessions still open there.
    fn close(&mut self, session: OpenSession, at: Timestamp, estimated: bool) -> ClosedSession {
        let (user, channel, start) = (session.user, session.channel, session.start());
        // Never before a departure this session saw: the member was there then (an end
        // estimated at the last heartbeat after a crash, a clock that stepped back).
        let at = at.max(self.seen_until(&session));
        let mut closed = session.close(at, self.config.timezone, estimated);
        let until = self.recorded_until(user, closed.end);
        if start < until {
            let others: Vec<Stay> = self
                .sessions
                .values()
                .filter(|s| s.channel == channel && s.user != user)
                .map(|s| Stay {
                    user: s.user,
                    start: s.start(),
                    end: self.recorded_until(s.user, closed.end),
                })
                .chain(self.departures.of(channel))
                .collect();
            closed.partners = overlaps(start, until, others);
            let stay = Stay {
                user,
                start,
                end: until,
            };
            let company = self
                .sessions
                .values()
                .any(|s| s.channel == channel && s.start() < until);
            if company && self.departures.record(channel, stay) {
                self.fresh.push((channel, stay));
            }
        }
        let oldest = self
            .sessions
            .values()
            .filter(|s| s.channel == channel)
            .map(|s| s.start())
            .min();
        self.departures.prune(channel, oldest);
        closed
    }

    /// Replaces who is where with a `GUILD_CREATE`'s list.
    fn set_voice(&mut self, voice: &[VoiceMember]) {
        self.voice.clear();
        self.occupancy.clear();
        for m in voice {
            if !m.bot {
                self.place(
                    m.user,
                    Some(Position {
                        channel: m.channel,
                        flags: own_flags(m.flags),
                    }),
                );
            }
        }
    }

    /// Moves `user` to `position` (or out of voice); returns where they were.
    fn place(&mut self, user: UserId, position: Option<Position>) -> Option<Position> {
        let old = match position {
            Some(p) => self.voice.insert(user, p),
            None => self.voice.remove(&user),
        };
        if let Some(o) = old
            && let Some(members) = self.occupancy.get_mut(&o.channel)
        {
            members.remove(&user);
            if members.is_empty() {
                self.occupancy.remove(&o.channel);
            }
        }
        if let Some(p) = position {
            self.occupancy.entry(p.channel).or_default().insert(user);
        }
        old
    }

    fn members_of(&self, channel: ChannelId) -> impl Iterator<Item = UserId> + '_ {
        self.occupancy.get(&channel).into_iter().flatten().copied()
    }

    /// The session `user` should have now: channel and flags, or none.
    fn desired(&self, user: UserId) -> Option<(ChannelId, Flags)> {
        let p = self.voice.get(&user)?;
        if Some(p.channel) == self.afk {
            return None;
        }
        let alone = self.occupancy.get(&p.channel).map_or(0, BTreeSet::len) == 1;
        Some((p.channel, p.flags.with(Flags::ALONE, alone)))
    }

    fn apply_voice(
        &mut self,
        change: VoiceChange,
        at: Timestamp,
        nonces: &mut Nonces,
        out: &mut Vec<SessionWrite>,
    ) {
        let position = match (change.bot, change.channel) {
            (false, Some(channel)) => Some(Position {
                channel,
                flags: own_flags(change.flags),
            }),
            _ => None,
        };
        let old = self.place(change.user, position);
        if old == position {
            return;
        }
        let mut affected = BTreeSet::from([change.user]);
        for p in [old, position].into_iter().flatten() {
            affected.extend(self.members_of(p.channel));
        }
        self.sync_users(affected, at, nonces, out);
    }

    fn apply_afk(
        &mut self,
        afk: Option<ChannelId>,
        at: Timestamp,
        nonces: &mut Nonces,
        out: &mut Vec<SessionWrite>,
    ) {
        let old = std::mem::replace(&mut self.afk, afk);
        if old == afk {
            return;
        }
        let affected: BTreeSet<UserId> = [old, afk]
            .into_iter()
            .flatten()
            .flat_map(|c| self.members_of(c))
            .collect();
        self.sync_users(affected, at, nonces, out);
    }

    /// Brings each user's session to the desired state at `at`.
    fn sync_users(
        &mut self,
        users: BTreeSet<UserId>,
        at: Timestamp,
        nonces: &mut Nonces,
        out: &mut Vec<SessionWrite>,
    ) {
        let at = at.max(self.latest);
        self.latest = at;
        let tz = self.config.timezone;
        for user in users {
            let desired = self.desired(user);
            match (self.sessions.remove(&user), desired) {
                (None, None) => {}
                (Some(mut session), Some((channel, flags))) if session.channel == channel => {
                    if session.flags != flags {
                        session.set_flags(at, flags, tz);
                        out.push(SessionWrite::Update {
                            session: (*session).clone(),
                            config: self.config,
                        });
                    }
                    self.sessions.insert(user, session);
                }
                (open, desired) => {
                    if let Some(session) = open {
                        out.push(SessionWrite::End {
                            session: self.close(*session, at, false),
                            config: self.config,
                        });
                    }
                    if let Some((channel, flags)) = desired {
                        let id = SessionId::new(at, nonces.next());
                        let session = OpenSession::new(id, user, self.id, channel, flags);
                        out.push(SessionWrite::Start {
                            session: session.clone(),
                            config: self.config,
                        });
                        self.sessions.insert(user, Box::new(session));
                    }
                }
            }
        }
    }

    /// Sees the guild afresh at `at` (the core's reconciliation decision over the sessions it
    /// holds), then brings every member's session to the desired state.
    fn reconcile(
        &mut self,
        seed: &GuildSeed,
        last_seen: Option<Timestamp>,
        at: Timestamp,
        max_gap_secs: u64,
        nonces: &mut Nonces,
        out: &mut Vec<SessionWrite>,
    ) {
        self.afk = seed.afk;
        self.set_voice(&seed.voice);
        self.phase = Phase::Live;
        let open: Vec<OpenRef> = self
            .sessions
            .values()
            .map(|s| OpenRef {
                user: s.user,
                channel: s.channel,
                id: s.id,
            })
            .collect();
        let present: Vec<Present> = self
            .voice
            .keys()
            .filter_map(|user| {
                self.desired(*user).map(|(channel, flags)| Present {
                    user: *user,
                    channel,
                    flags,
                })
            })
            .collect();
        // Estimated ends, earliest first: a session closing sees the others still open until
        // its own end, which holds only if they end later.
        let mut ends: Vec<(Timestamp, UserId)> =
            reconcile::reconcile(&open, &present, last_seen, at, max_gap_secs)
                .into_iter()
                .filter_map(|decision| match decision {
                    Decision::End { user, id, at: end } => {
                        let session = self.sessions.get(&user).filter(|s| s.id == id)?;
                        Some((end.max(self.seen_until(session)), user))
                    }
                    Decision::Keep { .. } | Decision::Start { .. } => None,
                })
                .collect();
        ends.sort_unstable();
        for (end, user) in ends {
            if let Some(session) = self.sessions.remove(&user) {
                out.push(SessionWrite::End {
                    session: self.close(*session, end, true),
                    config: self.config,
                });
            }
        }
        let users: BTreeSet<UserId> = self
            .voice
            .keys()
            .chain(self.sessions.keys())
            .copied()
            .collect();
        self.sync_users(users, at, nonces, out);
        self.prune_departures();
    }

    /// Ends every session: at `at` when the guild was in sight, else when it was last seen.
    fn end_all(mut self, at: Timestamp, out: &mut Vec<SessionWrite>) {
        let (end, estimated) = match self.phase {
            Phase::Frozen { since } => (since, true),
            Phase::Live | Phase::Reconciling { .. } => (at.max(self.latest), false),
        };
        while let Some((_, session)) = self.sessions.pop_first() {
            out.push(SessionWrite::End {
                session: self.close(*session, end, estimated),
                config: self.config,
            });
        }
    }
}

/// A member's own flags: ALONE is not theirs to report.
const fn own_flags(flags: Flags) -> Flags {
    flags.with(Flags::ALONE, false)
}

#[cfg(test)]
mod tests;

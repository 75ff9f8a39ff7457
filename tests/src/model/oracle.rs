//! The oracle: what the store must hold for what the sidecar observed.
//!
//! Written from `docs/behaviour.md`, independently of the sidecar's tracker: it keeps, per guild, what
//! the sidecar can know (who is where with which flags, from the events it received and the
//! `GUILD_CREATE`s it read) and per member the session that knowledge implies, as a list of
//! segments (instant, flags). Closed sessions keep their segments, so every figure (breakdown,
//! days, weeks, months, heatmap) is computed here by its own arithmetic, not by the core's.
//!
//! The rules (`docs/behaviour.md`, What is measured and Keeping the numbers right):
//!
//! - a member's desired state is "in channel C with flags F" when they are a human in a voice
//!   or stage channel other than the AFK channel and have not opted out; F holds ALONE when
//!   they are the only human (opted out or not) in C;
//! - every observation at `t` brings every session to its desired state at `t`: a new channel
//!   ends the session and starts another, new flags start a new segment;
//! - an event the sidecar does not receive (its guild out of sight, the gateway session lost,
//!   the process down) changes nothing until the sidecar sees the guild again; then a member
//!   gone or in another channel has their session ended at "last seen", estimated; a member
//!   still in the same channel keeps it if the gap since last seen was at most `max_gap`
//!   (else ends at last seen and starts anew); members present start at the moment of seeing;
//! - "last seen" is exact for a guild outage, a lost gateway session and a graceful stop (the
//!   instant the sidecar lost sight), and a range after a crash: the shard's last heartbeat,
//!   somewhere between the last heartbeat the test saw in the store and the crash. An end that
//!   is a range is checked against it, then taken as the store says for the sums.

use std::collections::{BTreeMap, BTreeSet};

use callstats_core::{ChannelId, Flags, GuildId, RankingRule, Timestamp, UserId};
use chrono::{Datelike, NaiveDate};
use chrono_tz::Tz;

/// An instant known exactly (`lo == hi`) or only within bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub lo: Timestamp,
    pub hi: Timestamp,
}

impl Span {
    #[must_use]
    pub const fn exact(at: Timestamp) -> Self {
        Self { lo: at, hi: at }
    }

    #[must_use]
    pub fn contains(&self, at: Timestamp) -> bool {
        self.lo <= at && at <= self.hi
    }
}

/// A member's voice flags as Discord names them (the driver's vocabulary).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // one bool per Discord field
pub struct DiscordFlags {
    pub self_mute: bool,
    pub self_deaf: bool,
    pub mute: bool,
    pub deaf: bool,
    pub self_stream: bool,
    pub self_video: bool,
    pub suppress: bool,
}

impl DiscordFlags {
    /// The breakdown's own flags: muted is self-muted, server-muted or suppressed; deafened
    /// is self- or server-deafened.
    #[must_use]
    pub fn own(self) -> Flags {
        let mut f = Flags::NONE;
        if self.self_mute || self.mute || self.suppress {
            f = f.with(Flags::MUTED, true);
        }
        if self.self_deaf || self.deaf {
            f = f.with(Flags::DEAFENED, true);
        }
        if self.self_stream {
            f = f.with(Flags::STREAMING, true);
        }
        if self.self_video {
            f = f.with(Flags::VIDEO, true);
        }
        f
    }
}

/// Where a member is, as a `GUILD_CREATE` or a `VOICE_STATE_UPDATE` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub channel: ChannelId,
    pub flags: DiscordFlags,
}

/// Who is in voice in a guild: the truth, or what the sidecar was told.
pub type View = BTreeMap<UserId, Place>;

/// A session as the oracle expects it: segments `(from, flags)`, the first one's `from` the
/// start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenExpected {
    pub channel: ChannelId,
    pub segments: Vec<(Timestamp, Flags)>,
    /// Whether the store holds it. A session the sidecar tracks but the store refused (an
    /// opted-out member, a start from before a privacy action) or dropped (a deletion, an
    /// opt-out that ended it) is a ghost: the sidecar's writes about it change nothing, and it
    /// still keeps others from being alone.
    pub recorded: bool,
}

impl OpenExpected {
    #[must_use]
    pub fn start(&self) -> Timestamp {
        self.segments[0].0
    }

    /// Start of the last segment: what has been accounted up to.
    #[must_use]
    pub fn accounted_until(&self) -> Timestamp {
        self.segments[self.segments.len() - 1].0
    }

    #[must_use]
    pub fn flags(&self) -> Flags {
        self.segments[self.segments.len() - 1].1
    }
}

/// A closed session as the oracle expects it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosedExpected {
    pub channel: ChannelId,
    pub segments: Vec<(Timestamp, Flags)>,
    pub end: Span,
    pub estimated: bool,
    /// A ghost's end (see [`OpenExpected::recorded`]): not in the store.
    pub recorded: bool,
    /// Whether the end is the sidecar's to see: false for a call an opt-out ended in the store
    /// while the sidecar still tracks the member (no one saw them leave the channel).
    pub seen: bool,
}

impl ClosedExpected {
    #[must_use]
    pub fn start(&self) -> Timestamp {
        self.segments[0].0
    }
}

/// How the sidecar sees a guild now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Every dispatch about it arrives.
    Live,
    /// Out of sight since `since` (an outage, a lost gateway session, a stop): the process
    /// still holds its sessions and reconciles in memory when the guild comes back.
    Blind { since: Timestamp },
    /// The process does not know the guild (after a crash, or an unsaved stop): the store
    /// holds its sessions, and the next `GUILD_CREATE` reconciles against them with the
    /// shard's last heartbeat from before the process started.
    Unknown,
    /// A `GUILD_CREATE` at `at` waits for the store's answer (the store is away); events
    /// queue with their own instants.
    Reconciling {
        at: Timestamp,
        last_seen: Option<Span>,
        view: View,
        queued: Vec<(Timestamp, UserId, Option<Place>, bool)>,
    },
}

/// One guild in the oracle.
#[derive(Clone, Debug)]
pub struct GuildModel {
    pub afk: ChannelId,
    pub tz: Tz,
    pub rule: RankingRule,
    /// Humans in voice as the sidecar knows them.
    seen: View,
    pub open: BTreeMap<UserId, OpenExpected>,
    pub phase: Phase,
}

/// The oracle for one scenario.
#[derive(Clone, Debug)]
pub struct Oracle {
    max_gap: u64,
    opted_out: BTreeSet<UserId>,
    /// The last privacy action (opt-out, opt-in, deletion) of each member: the store refuses
    /// a start of a call that began before it.
    privacy_at: BTreeMap<UserId, Timestamp>,
    /// The last deletion of each member.
    pub deleted_at: BTreeMap<UserId, Timestamp>,
    /// Members whose data an opt-out made while the store lagged behind the sidecar leaves
    /// bounded, not exact (see [`Oracle::opt_out`]).
    pub uncertain: BTreeSet<UserId>,
    /// Members any privacy action touched.
    pub touched: BTreeSet<UserId>,
    /// Ghosts' stays (see [`OpenExpected::recorded`]), ended: company that partner time may or
    /// may not have counted, and (`departed`: the sidecar saw them leave) departures an
    /// estimated end may have been held after.
    pub ghosts: Vec<(UserId, GuildId, ClosedExpected, bool)>,
    pub guilds: BTreeMap<GuildId, GuildModel>,
    pub closed: BTreeMap<(UserId, GuildId), Vec<ClosedExpected>>,
    /// Reconciliations whose keep-or-split decision the heartbeat range left open: the
    /// driver must never cause one.
    pub ambiguous: Vec<String>,
}

impl Oracle {
    #[must_use]
    pub fn new(max_gap: u64, opted_out: BTreeSet<UserId>) -> Self {
        Self {
            max_gap,
            privacy_at: opted_out.iter().map(|u| (*u, Timestamp::EPOCH)).collect(),
            opted_out,
            deleted_at: BTreeMap::new(),
            uncertain: BTreeSet::new(),
            touched: BTreeSet::new(),
            ghosts: Vec::new(),
            guilds: BTreeMap::new(),
            closed: BTreeMap::new(),
            ambiguous: Vec::new(),
        }
    }

    /// A guild the sidecar has never seen (its first `GUILD_CREATE` reconciles with an
    /// empty store).
    pub fn add_guild(&mut self, guild: GuildId, afk: ChannelId, tz: Tz, rule: RankingRule) {
        self.guilds.insert(
            guild,
            GuildModel {
                afk,
                tz,
                rule,
                seen: View::new(),
                open: BTreeMap::new(),
                phase: Phase::Unknown,
            },
        );
    }

    /// Whether `user` opted out (the store refuses their sessions).
    #[must_use]
    pub fn opted_out(&self, user: UserId) -> bool {
        self.opted_out.contains(&user)
    }

    #[must_use]
    pub fn phase(&self, guild: GuildId) -> &Phase {
        &self.guilds[&guild].phase
    }

    /// A `VOICE_STATE_UPDATE` the sidecar received at `at` (`bot`: the member is a bot).
    pub fn voice(
        &mut self,
        guild: GuildId,
        user: UserId,
        place: Option<Place>,
        bot: bool,
        at: Timestamp,
    ) {
        let g = self.guilds.get_mut(&guild).expect("known guild");
        match &mut g.phase {
            Phase::Live => {}
            Phase::Reconciling { queued, .. } => {
                queued.push((at, user, place, bot));
                return;
            }
            // Not received: the driver never says so, but be safe.
            Phase::Blind { .. } | Phase::Unknown => return,
        }
        if bot {
            return;
        }
        match place {
            Some(p) => g.seen.insert(user, p),
            None => g.seen.remove(&user),
        };
        let closed = sync(g, &self.opted_out, &self.privacy_at, at);
        self.file(guild, closed, true);
    }

    /// The sidecar lost sight of the guild at `at` (`GUILD_DELETE` unavailable, or its shard
    /// lost the gateway session). A guild already out of sight keeps its earlier instant.
    pub fn blind(&mut self, guild: GuildId, at: Timestamp) {
        let g = self.guilds.get_mut(&guild).expect("known guild");
        if g.phase == Phase::Live {
            g.phase = Phase::Blind { since: at };
        }
    }

    /// The process that tracked `guild` ended without saving it, or dropped it while it
    /// waited for the store (an outage began): the next `GUILD_CREATE` goes to the store.
    pub fn forget_guild(&mut self, guild: GuildId) {
        let g = self.guilds.get_mut(&guild).expect("known guild");
        g.phase = Phase::Unknown;
        g.seen.clear();
    }

    /// The process ended without saving its state (a crash, or a stop while incomplete):
    /// guilds waiting for the store lose their queued events, every guild is unknown to the
    /// next process.
    pub fn forget(&mut self) {
        for g in self.guilds.values_mut() {
            g.phase = Phase::Unknown;
            g.seen.clear();
        }
    }

    /// A `GUILD_CREATE` received at `at` showing `view` (bots already left out). A guild the
    /// process holds reconciles in memory (from when it went out of sight); an unknown one
    /// against the store with `heartbeat` (the shard's last heartbeat from before the
    /// process started) as last seen, at once when the store answers (`store_up`), else once
    /// it does ([`Oracle::store_answered`]).
    pub fn guild_create(
        &mut self,
        guild: GuildId,
        view: View,
        at: Timestamp,
        heartbeat: Option<Span>,
        store_up: bool,
    ) {
        let g = self.guilds.get_mut(&guild).expect("known guild");
        match std::mem::replace(&mut g.phase, Phase::Live) {
            Phase::Live => self.reconcile(guild, view, at, Some(Span::exact(at)), false),
            Phase::Blind { since } => {
                self.reconcile(guild, view, at, Some(Span::exact(since)), false);
            }
            Phase::Unknown | Phase::Reconciling { .. } if !store_up => {
                self.guilds.get_mut(&guild).expect("known guild").phase = Phase::Reconciling {
                    at,
                    last_seen: heartbeat,
                    view,
                    queued: Vec::new(),
                };
            }
            Phase::Unknown | Phase::Reconciling { .. } => {
                self.reconcile(guild, view, at, heartbeat, true);
            }
        }
    }

    /// The store answers again: guilds waiting for it reconcile, then their queued events
    /// apply at their own instants.
    pub fn store_answered(&mut self) {
        let waiting: Vec<GuildId> = self
            .guilds
            .iter()
            .filter(|(_, g)| matches!(g.phase, Phase::Reconciling { .. }))
            .map(|(id, _)| *id)
            .collect();
        for guild in waiting {
            let g = self.guilds.get_mut(&guild).expect("known guild");
            let Phase::Reconciling {
                at,
                last_seen,
                view,
                queued,
            } = std::mem::replace(&mut g.phase, Phase::Live)
            else {
                continue;
            };
            self.reconcile(guild, view, at, last_seen, true);
            for (t, user, place, bot) in queued {
                self.voice(guild, user, place, bot, t);
            }
        }
    }

    /// Whether every guild the process knows is complete (none waits for the store).
    #[must_use]
    pub fn settled(&self) -> bool {
        !self
            .guilds
            .values()
            .any(|g| matches!(g.phase, Phase::Reconciling { .. }))
    }

    /// Reconciles `guild` at `at`: in memory, or (`from_store`) by a new process against the
    /// store, which does not know the ghosts: they are dropped, and members present start anew.
    fn reconcile(
        &mut self,
        guild: GuildId,
        view: View,
        at: Timestamp,
        last_seen: Option<Span>,
        from_store: bool,
    ) {
        let max_gap = self.max_gap;
        let g = self.guilds.get_mut(&guild).expect("known guild");
        g.phase = Phase::Live;
        g.seen = view;
        if from_store {
            let ghosts: Vec<UserId> = g
                .open
                .iter()
                .filter(|(_, s)| !s.recorded)
                .map(|(u, _)| *u)
                .collect();
            for user in ghosts {
                let s = g.open.remove(&user).expect("listed");
                let end = Span {
                    lo: s.accounted_until(),
                    hi: at.max(s.accounted_until()),
                };
                self.ghosts.push((
                    user,
                    guild,
                    ClosedExpected {
                        channel: s.channel,
                        segments: s.segments,
                        end,
                        estimated: true,
                        recorded: false,
                        seen: true,
                    },
                    false,
                ));
            }
        }
        let g = self.guilds.get_mut(&guild).expect("known guild");
        let short = last_seen.map(|seen| {
            let lo = seen.lo.secs_until(at) <= max_gap;
            let hi = seen.hi.secs_until(at) <= max_gap;
            (lo, hi)
        });
        let mut ended = Vec::new();
        let users: Vec<UserId> = g.open.keys().copied().collect();
        for user in users {
            let channel = g.open[&user].channel;
            let present = desired(g, user).is_some_and(|(c, _)| c == channel);
            let keep = match short {
                None => false,
                Some((lo, hi)) => {
                    if present && lo != hi {
                        self.ambiguous.push(format!(
                            "guild {guild} user {user}: gap from {last_seen:?} to {at} is on both sides of {max_gap} s"
                        ));
                    }
                    // `hi` gives the shorter gap; only reached when both agree.
                    present && hi
                }
            };
            if keep {
                continue;
            }
            let session = g.open.remove(&user).expect("listed");
            let seg = session.accounted_until();
            let end = match last_seen {
                None => Span::exact(seg),
                Some(seen) => Span {
                    lo: seen.lo.min(at).max(seg),
                    hi: seen.hi.min(at).max(seg),
                },
            };
            // Never before another member left the channel while this session was open: the
            // member was there then.
            let end = match departed_while_open(&self.closed, &self.ghosts, guild, user, &session) {
                None => end,
                Some(seen) => Span {
                    lo: end.lo.max(seen.lo),
                    hi: end.hi.max(seen.hi),
                },
            };
            ended.push((
                user,
                ClosedExpected {
                    channel: session.channel,
                    segments: session.segments,
                    end,
                    estimated: true,
                    recorded: session.recorded,
                    seen: true,
                },
            ));
        }
        let mut closed = ended;
        closed.extend(sync(g, &self.opted_out, &self.privacy_at, at));
        self.file(guild, closed, true);
    }

    /// Files sessions that ended: recorded ones in `closed`, ghosts among the ghosts
    /// (`departed`: the sidecar saw them end).
    fn file(&mut self, guild: GuildId, closed: Vec<(UserId, ClosedExpected)>, departed: bool) {
        for (user, session) in closed {
            if session.recorded {
                self.closed.entry((user, guild)).or_default().push(session);
            } else {
                self.ghosts.push((user, guild, session, departed));
            }
        }
    }

    /// `user` opts out at `at` (`docs/storage.md`, Operations): the flag, then every call in
    /// progress the store holds ended at `at` (exactly, not estimated), then the member's
    /// items leave the indexes and boards. The sidecar does not know: it keeps tracking the
    /// call, as a ghost. `exact`: the store held everything the sidecar had observed when
    /// the opt-out ran; otherwise an end, a start or a flag change still in flight races it
    /// (which of them the opt-out's end sees depends on timing), and the member's figures are
    /// only checked for the bounds in [`Oracle::uncertain`].
    pub fn opt_out(&mut self, user: UserId, at: Timestamp, exact: bool) {
        self.opted_out.insert(user);
        self.privacy_at.insert(user, at);
        self.touched.insert(user);
        if !exact {
            self.uncertain.insert(user);
        }
        let mut ended = Vec::new();
        for (guild, g) in &mut self.guilds {
            if let Some(open) = g.open.get_mut(&user)
                && open.recorded
            {
                open.recorded = false;
                ended.push((
                    *guild,
                    ClosedExpected {
                        channel: open.channel,
                        segments: open.segments.clone(),
                        end: Span::exact(at),
                        estimated: false,
                        recorded: true,
                        seen: false,
                    },
                ));
            }
        }
        for (guild, session) in ended {
            self.closed.entry((user, guild)).or_default().push(session);
        }
    }

    /// `user` opts back in at `at`: the flag; calls the sidecar tracks stay ghosts (the store
    /// refuses starts from before `at`), the next session counts.
    pub fn opt_in(&mut self, user: UserId, at: Timestamp) {
        self.opted_out.remove(&user);
        self.privacy_at.insert(user, at);
        self.touched.insert(user);
    }

    /// `user` deletes their data at `at`: nothing recorded so far remains, and calls in
    /// progress become ghosts whatever the sidecar later writes about them.
    pub fn delete(&mut self, user: UserId, at: Timestamp) {
        self.privacy_at.insert(user, at);
        self.deleted_at.insert(user, at);
        self.touched.insert(user);
        self.closed.retain(|(u, _), _| *u != user);
        for g in self.guilds.values_mut() {
            if let Some(open) = g.open.get_mut(&user) {
                open.recorded = false;
            }
        }
    }

    /// The instant of `user`'s last privacy action.
    #[must_use]
    pub fn privacy_at(&self, user: UserId) -> Option<Timestamp> {
        self.privacy_at.get(&user).copied()
    }

    /// Whether the store holds a session of `user` in `guild` (ended or in progress).
    #[must_use]
    pub fn recorded_in(&self, user: UserId, guild: GuildId) -> bool {
        self.closed
            .get(&(user, guild))
            .is_some_and(|s| !s.is_empty())
            || self.guilds[&guild]
                .open
                .get(&user)
                .is_some_and(|s| s.recorded)
    }

    /// Whether the store would record a start of `user` at `at` now.
    #[must_use]
    pub fn records(&self, user: UserId, at: Timestamp) -> bool {
        records(&self.opted_out, &self.privacy_at, user, at)
    }

    /// Every (user, guild) with a session, closed or open.
    #[must_use]
    pub fn pairs(&self) -> BTreeSet<(UserId, GuildId)> {
        let mut pairs: BTreeSet<(UserId, GuildId)> = self.closed.keys().copied().collect();
        for (guild, g) in &self.guilds {
            pairs.extend(
                g.open
                    .iter()
                    .filter(|(_, s)| s.recorded)
                    .map(|(u, _)| (*u, *guild)),
            );
        }
        pairs
    }
}

/// The latest instant another member's session in `open`'s guild and channel ended while
/// `open` was open (a stay of its own, ended after `open` started), among the sessions closed
/// so far: the member of `open` was in the channel then. Ends known within a range count with
/// their range: `lo` only from sessions that certainly ended after `open` started and lasted,
/// `hi` from every one that may have.
///
/// Ghosts the sidecar saw leave count for `hi` only: whether the sidecar still held their stay
/// depends on when it learnt of the privacy action that made them ghosts.
fn departed_while_open(
    closed: &BTreeMap<(UserId, GuildId), Vec<ClosedExpected>>,
    ghosts: &[(UserId, GuildId, ClosedExpected, bool)],
    guild: GuildId,
    user: UserId,
    open: &OpenExpected,
) -> Option<Span> {
    let mut seen: Option<Span> = None;
    let recorded = closed
        .iter()
        .filter(|((u, g), _)| *g == guild && *u != user)
        .flat_map(|(_, sessions)| sessions)
        .filter(|c| c.seen)
        .map(|c| (c, true));
    let ghosts = ghosts
        .iter()
        .filter(|(u, g, _, departed)| *g == guild && *u != user && *departed)
        .map(|(_, _, c, _)| (c, false));
    for (c, certain) in recorded.chain(ghosts) {
        if c.channel != open.channel || c.end.hi <= open.start() || c.end.hi <= c.start() {
            continue;
        }
        let span = seen.get_or_insert(Span::exact(Timestamp::EPOCH));
        span.hi = span.hi.max(c.end.hi);
        if certain && c.end.lo > open.start() && c.end.lo > c.start() {
            span.lo = span.lo.max(c.end.lo);
        }
    }
    seen
}

/// Whether the store records a start of `user` at `at`: not opted out, and not begun before
/// their last privacy action.
fn records(
    opted_out: &BTreeSet<UserId>,
    privacy_at: &BTreeMap<UserId, Timestamp>,
    user: UserId,
    at: Timestamp,
) -> bool {
    !opted_out.contains(&user) && privacy_at.get(&user).is_none_or(|p| *p <= at)
}

/// The session the sidecar should track for `user` now: channel and flags with ALONE, or
/// none (whether the store records it is [`records`]'s question).
fn desired(g: &GuildModel, user: UserId) -> Option<(ChannelId, Flags)> {
    let place = g.seen.get(&user)?;
    if place.channel == g.afk {
        return None;
    }
    let company = g
        .seen
        .iter()
        .filter(|(u, p)| **u != user && p.channel == place.channel)
        .count();
    Some((
        place.channel,
        place.flags.own().with(Flags::ALONE, company == 0),
    ))
}

/// Brings every session of the guild to its desired state at `at`; returns the sessions
/// that ended.
fn sync(
    g: &mut GuildModel,
    opted_out: &BTreeSet<UserId>,
    privacy_at: &BTreeMap<UserId, Timestamp>,
    at: Timestamp,
) -> Vec<(UserId, ClosedExpected)> {
    let users: BTreeSet<UserId> = g.seen.keys().chain(g.open.keys()).copied().collect();
    let mut closed = Vec::new();
    for user in users {
        let want = desired(g, user);
        match (g.open.get_mut(&user), want) {
            (None, None) => {}
            (Some(open), Some((channel, flags))) if open.channel == channel => {
                if open.flags() != flags {
                    open.segments.push((at, flags));
                }
            }
            (_, want) => {
                if let Some(open) = g.open.remove(&user) {
                    closed.push((
                        user,
                        ClosedExpected {
                            channel: open.channel,
                            segments: open.segments,
                            end: Span::exact(at),
                            estimated: false,
                            recorded: open.recorded,
                            seen: true,
                        },
                    ));
                }
                if let Some((channel, flags)) = want {
                    g.open.insert(
                        user,
                        OpenExpected {
                            channel,
                            segments: vec![(at, flags)],
                            recorded: records(opted_out, privacy_at, user, at),
                        },
                    );
                }
            }
        }
    }
    closed
}

// ---- figures ----------------------------------------------------------------------------------

/// Seconds by state, as a session record and an all-time item keep them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Secs {
    pub total: u64,
    pub muted: u64,
    pub deafened: u64,
    pub streaming: u64,
    pub video: u64,
    pub alone: u64,
    pub active: u64,
    pub ranked: u64,
}

impl Secs {
    fn add(&mut self, flags: Flags, secs: u64, rule: RankingRule) {
        let deaf = flags.contains(Flags::DEAFENED);
        let alone = flags.contains(Flags::ALONE);
        self.total += secs;
        if flags.contains(Flags::MUTED) {
            self.muted += secs;
        }
        if deaf {
            self.deafened += secs;
        }
        if flags.contains(Flags::STREAMING) {
            self.streaming += secs;
        }
        if flags.contains(Flags::VIDEO) {
            self.video += secs;
        }
        if alone {
            self.alone += secs;
        }
        if !deaf && !alone {
            self.active += secs;
        }
        if !(deaf && rule.exclude_deafened || alone && rule.exclude_alone) {
            self.ranked += secs;
        }
    }

    fn merge(&mut self, o: &Self) {
        self.total += o.total;
        self.muted += o.muted;
        self.deafened += o.deafened;
        self.streaming += o.streaming;
        self.video += o.video;
        self.alone += o.alone;
        self.active += o.active;
        self.ranked += o.ranked;
    }
}

/// A UTC day, an ISO week (year, week) or a month (year, month) in the guild's timezone.
pub type WeekOf = (i32, u32);
pub type MonthOf = (i32, u32);

/// What one day item must hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayExpected {
    pub total: u64,
    pub active: u64,
    pub deafened: u64,
    pub alone: u64,
    pub sessions: u64,
    pub longest: u64,
    pub last: Option<Timestamp>,
}

/// What one week or month item must hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeriodExpected {
    pub total: u64,
    pub active: u64,
    pub ranked: u64,
    pub sessions: u64,
}

/// What the all-time item must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllTimeExpected {
    pub secs: Secs,
    pub sessions: u64,
    pub longest: u64,
    pub last: Option<Timestamp>,
    /// UTC half hours of the week from Monday 00:00, seconds in each.
    pub heatmap: BTreeMap<usize, u64>,
}

/// Every figure of one user in one guild, from closed sessions with known ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    pub all_time: Option<AllTimeExpected>,
    pub days: BTreeMap<NaiveDate, DayExpected>,
    pub weeks: BTreeMap<WeekOf, PeriodExpected>,
    pub months: BTreeMap<MonthOf, PeriodExpected>,
    /// Seconds per channel, over all time and per UTC day.
    pub channels: BTreeMap<ChannelId, u64>,
    pub day_channels: BTreeMap<(NaiveDate, ChannelId), u64>,
}

const QUARTER_HOUR: i64 = 900;

/// Splits `[from, to)` at every UTC quarter hour. Every timezone offset in use, and every
/// daylight-saving change, falls on a quarter hour, so inside one piece the UTC day, the half
/// hour of the heatmap and the local date all stay the same.
fn quarter_hours(from: Timestamp, to: Timestamp) -> Vec<(Timestamp, u64)> {
    let mut pieces = Vec::new();
    let mut at = from.unix();
    while at < to.unix() {
        let next = ((at / QUARTER_HOUR) + 1) * QUARTER_HOUR;
        let next = next.min(to.unix());
        pieces.push((Timestamp::new(at).expect("in range"), (next - at) as u64));
        at = next;
    }
    pieces
}

fn utc_day(at: Timestamp) -> NaiveDate {
    at.to_utc().date_naive()
}

fn local_date(at: Timestamp, tz: Tz) -> NaiveDate {
    at.to_utc().with_timezone(&tz).date_naive()
}

fn week_of(at: Timestamp, tz: Tz) -> WeekOf {
    let iso = local_date(at, tz).iso_week();
    (iso.year(), iso.week())
}

fn month_of(at: Timestamp, tz: Tz) -> MonthOf {
    let d = local_date(at, tz);
    (d.year(), d.month())
}

/// Monday 00:00 UTC based half hour of the week.
fn bucket(at: Timestamp) -> usize {
    let days = at.unix().div_euclid(86_400);
    // 1970-01-01 was a Thursday (weekday 3 from Monday).
    let weekday = (days + 3).rem_euclid(7);
    let half_hour = at.unix().rem_euclid(86_400) / 1800;
    (weekday * 48 + half_hour) as usize
}

/// A closed session with its end settled: its seconds, and its pieces.
#[derive(Clone, Debug)]
pub struct Settled {
    pub channel: ChannelId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub estimated: bool,
    pub segments: Vec<(Timestamp, Flags)>,
}

impl Settled {
    #[must_use]
    pub fn duration(&self) -> u64 {
        self.start.secs_until(self.end)
    }

    /// `(from, seconds, flags)` of every quarter-hour piece.
    fn pieces(&self) -> Vec<(Timestamp, u64, Flags)> {
        let mut out = Vec::new();
        for (i, (from, flags)) in self.segments.iter().enumerate() {
            let to = self
                .segments
                .get(i + 1)
                .map_or(self.end, |(next, _)| *next)
                .min(self.end);
            for (at, secs) in quarter_hours(*from, to) {
                out.push((at, secs, *flags));
            }
        }
        out
    }

    #[must_use]
    pub fn secs(&self, rule: RankingRule) -> Secs {
        let mut s = Secs::default();
        for (_, secs, flags) in self.pieces() {
            s.add(flags, secs, rule);
        }
        s
    }
}

/// Seconds of an open session accounted so far (every segment but the last).
#[must_use]
pub fn accounted(open: &OpenExpected) -> Secs {
    let settled = Settled {
        channel: open.channel,
        start: open.start(),
        end: open.accounted_until(),
        estimated: false,
        segments: open.segments.clone(),
    };
    settled.secs(RankingRule::default())
}

/// Every figure of `sessions` (one user, one guild).
#[must_use]
pub fn figures(sessions: &[Settled], tz: Tz, rule: RankingRule) -> Figures {
    let mut f = Figures::default();
    for s in sessions {
        let all = f.all_time.get_or_insert_with(AllTimeExpected::default);
        all.secs.merge(&s.secs(rule));
        all.sessions += 1;
        all.longest = all.longest.max(s.duration());
        all.last = all.last.max(Some(s.end));
        let start_day = utc_day(s.start);
        let day = f.days.entry(start_day).or_default();
        day.sessions += 1;
        day.longest = day.longest.max(s.duration());
        f.weeks.entry(week_of(s.start, tz)).or_default().sessions += 1;
        f.months.entry(month_of(s.start, tz)).or_default().sessions += 1;
        for (at, secs, flags) in s.pieces() {
            let mut one = Secs::default();
            one.add(flags, secs, rule);
            *all.heatmap.entry(bucket(at)).or_default() += secs;
            *f.channels.entry(s.channel).or_default() += secs;
            *f.day_channels.entry((utc_day(at), s.channel)).or_default() += secs;
            let d = f.days.entry(utc_day(at)).or_default();
            d.total += one.total;
            d.active += one.active;
            d.deafened += one.deafened;
            d.alone += one.alone;
            for p in [
                f.weeks.entry(week_of(at, tz)).or_default(),
                f.months.entry(month_of(at, tz)).or_default(),
            ] {
                p.total += one.total;
                p.active += one.active;
                p.ranked += one.ranked;
            }
        }
        // A day's "last active" is the end of the last session whose last second fell on it.
        let last_second = if s.end > s.start {
            s.end.minus(1)
        } else {
            s.start
        };
        let d = f.days.entry(utc_day(last_second)).or_default();
        d.last = d.last.max(Some(s.end));
    }
    f
}

/// One member's partner time in one guild: seconds per UTC day, per partner.
pub type PartnerDays = BTreeMap<NaiveDate, BTreeMap<UserId, u64>>;

const DAY: i64 = 86_400;

/// Splits `[from, to)` at every UTC midnight.
fn utc_days(from: Timestamp, to: Timestamp) -> Vec<(NaiveDate, u64)> {
    let mut pieces = Vec::new();
    let mut at = from.unix();
    while at < to.unix() {
        let next = (at.div_euclid(DAY) + 1) * DAY;
        let next = next.min(to.unix());
        let day = utc_day(Timestamp::new(at).expect("in range"));
        pieces.push((day, (next - at) as u64));
        at = next;
    }
    pieces
}

/// Partner time (`docs/behaviour.md`, What is measured; a session is one stay in one channel):
/// for every closed session, the seconds it shared with each other member's session in the same
/// guild and channel, closed (with its end as settled) or still open, split at UTC midnights,
/// added up per member, guild, day and partner. A session still open has no partner time of its
/// own yet (its member's days get it when it ends), but counts as company for the others.
#[must_use]
pub fn partner_time(
    closed: &BTreeMap<(UserId, GuildId), Vec<Settled>>,
    open: &BTreeMap<(UserId, GuildId), OpenExpected>,
) -> BTreeMap<(UserId, GuildId), PartnerDays> {
    // Every stay by guild and channel: member, start, and end (none while open).
    type Stay = (UserId, Timestamp, Option<Timestamp>);
    let mut stays: BTreeMap<(GuildId, ChannelId), Vec<Stay>> = BTreeMap::new();
    for ((user, guild), sessions) in closed {
        for s in sessions {
            stays
                .entry((*guild, s.channel))
                .or_default()
                .push((*user, s.start, Some(s.end)));
        }
    }
    for ((user, guild), s) in open {
        stays
            .entry((*guild, s.channel))
            .or_default()
            .push((*user, s.start(), None));
    }
    let mut out: BTreeMap<(UserId, GuildId), PartnerDays> = BTreeMap::new();
    for ((user, guild), sessions) in closed {
        for s in sessions {
            let others = stays.get(&(*guild, s.channel)).into_iter().flatten();
            for (partner, start, end) in others {
                if partner == user {
                    continue;
                }
                let from = s.start.max(*start);
                let to = end.map_or(s.end, |e| e.min(s.end));
                for (day, secs) in utc_days(from, to) {
                    *out.entry((*user, *guild))
                        .or_default()
                        .entry(day)
                        .or_default()
                        .entry(*partner)
                        .or_default() += secs;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilight_model::id::Id;

    fn t(secs: i64) -> Timestamp {
        Timestamp::new(secs).unwrap()
    }

    #[test]
    fn quarter_hour_pieces_cover_the_interval() {
        let pieces = quarter_hours(t(1_795_000_100), t(1_795_002_000));
        assert_eq!(pieces.iter().map(|p| p.1).sum::<u64>(), 1900);
        assert!(pieces.iter().skip(1).all(|p| p.0.unix() % 900 == 0));
    }

    #[test]
    fn buckets_start_on_monday_utc() {
        // 2026-11-23 was a Monday.
        let monday = crate::time::at(2026, 11, 23, 0, 0, 0);
        assert_eq!(bucket(monday), 0);
        assert_eq!(bucket(monday.plus(1799)), 0);
        assert_eq!(bucket(monday.plus(86_400 + 1800)), 49);
        assert_eq!(bucket(monday.plus(7 * 86_400 - 1)), 335);
    }

    #[test]
    #[allow(clippy::many_single_char_names)]
    fn alone_follows_company_and_afk_ends() {
        let (g, a, b) = (Id::new(1 << 22), Id::new(1), Id::new(2));
        let (c, afk) = (Id::new(10), Id::new(11));
        let mut o = Oracle::new(300, BTreeSet::new());
        o.add_guild(g, afk, Tz::UTC, RankingRule::default());
        o.guild_create(g, View::new(), t(0), None, true);
        let here = |channel| {
            Some(Place {
                channel,
                flags: DiscordFlags::default(),
            })
        };
        o.voice(g, a, here(c), false, t(100));
        o.voice(g, b, here(c), false, t(160));
        o.voice(g, b, here(afk), false, t(200));
        o.voice(g, a, None, false, t(260));
        let a_sessions = &o.closed[&(a, g)];
        assert_eq!(
            a_sessions[0].segments,
            [
                (t(100), Flags::ALONE),
                (t(160), Flags::NONE),
                (t(200), Flags::ALONE)
            ]
        );
        assert_eq!(a_sessions[0].end, Span::exact(t(260)));
        assert_eq!(o.closed[&(b, g)][0].end, Span::exact(t(200)));
    }

    fn settled(channel: ChannelId, start: i64, end: i64) -> Settled {
        Settled {
            channel,
            start: t(start),
            end: t(end),
            estimated: false,
            segments: vec![(t(start), Flags::NONE)],
        }
    }

    #[test]
    #[allow(clippy::many_single_char_names)]
    fn partner_time_is_the_overlap_in_one_channel_split_at_utc_midnight() {
        let (g, a, b, c, d) = (
            Id::new(1 << 22),
            Id::new(1),
            Id::new(2),
            Id::new(3),
            Id::new(4),
        );
        let (lounge, games) = (Id::new(10), Id::new(12));
        // From 2026-11-23 23:55 UTC: a stays until 00:10, b from 23:56 to 00:05, c from 23:59
        // and still there, d in another channel.
        let t0 = crate::time::at(2026, 11, 23, 23, 55, 0).unix();
        let closed = BTreeMap::from([
            ((a, g), vec![settled(lounge, t0, t0 + 900)]),
            ((b, g), vec![settled(lounge, t0 + 60, t0 + 600)]),
            ((d, g), vec![settled(games, t0, t0 + 900)]),
        ]);
        let open = BTreeMap::from([(
            (c, g),
            OpenExpected {
                channel: lounge,
                segments: vec![(t(t0 + 240), Flags::NONE)],
                recorded: true,
            },
        )]);
        let p = partner_time(&closed, &open);
        let (nov, dec) = (
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
        );
        assert_eq!(
            p[&(a, g)],
            BTreeMap::from([
                (nov, BTreeMap::from([(b, 240), (c, 60)])),
                (dec, BTreeMap::from([(b, 300), (c, 600)])),
            ])
        );
        assert_eq!(
            p[&(b, g)],
            BTreeMap::from([
                (nov, BTreeMap::from([(a, 240), (c, 60)])),
                (dec, BTreeMap::from([(a, 300), (c, 300)])),
            ])
        );
        // No company, no entry; an open session has none of its own yet.
        assert!(!p.contains_key(&(d, g)) && !p.contains_key(&(c, g)));
    }

    #[test]
    #[allow(clippy::many_single_char_names)]
    fn an_estimated_end_is_never_before_a_departure_the_session_saw() {
        let (g, a, b, c) = (Id::new(1 << 22), Id::new(1), Id::new(2), Id::new(3));
        let (lounge, afk) = (Id::new(10), Id::new(11));
        let mut o = Oracle::new(300, BTreeSet::new());
        o.add_guild(g, afk, Tz::UTC, RankingRule::default());
        o.guild_create(g, View::new(), t(0), None, true);
        let here = Some(Place {
            channel: lounge,
            flags: DiscordFlags::default(),
        });
        o.voice(g, a, here, false, t(100));
        o.voice(g, b, here, false, t(100));
        o.voice(g, c, here, false, t(400));
        // The last heartbeat lies between 200 and 250.
        o.voice(g, b, None, false, t(300));
        o.voice(g, c, None, false, t(450));
        o.forget();
        let heartbeat = Span {
            lo: t(200),
            hi: t(250),
        };
        o.guild_create(g, View::new(), t(1000), Some(heartbeat), true);
        // b left at 300 and c at 450 while a was in the lounge, both after the last heartbeat:
        // a's estimated end is not earlier than the later of them.
        assert_eq!(o.closed[&(a, g)][0].end, Span::exact(t(450)));
        assert!(o.closed[&(a, g)][0].estimated);
    }
}

//! One task per shard: reads the gateway, feeds the tracker, hands its writes to the writer.
//!
//! The loop never waits for the store. What needs the store (reconciling a guild the tracker
//! does not know, the per-shard heartbeat, refreshing guild configurations) runs in tasks of
//! its own that report back through the shard's inbox; what the directory learns (display
//! names, the channels everyone can view) goes to a writing task of its own.
//!
//! Event time is the clock's reading when the event arrives. Reconnecting is twilight's job
//! (it backs off exponentially between failed connects and resumes when it can); this loop
//! notes when the shard lost sight of its guilds so that, if the session cannot be resumed,
//! the next `GUILD_CREATE`s reconcile from that instant. A close code Discord means as final
//! (4004 authentication failed, 4010-4014) ends the shard with a [`GatewayFatal`].

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use callstats_core::{GuildId, Timestamp, UserId};
use callstats_store::Store;
use tokio::sync::{OnceCell, mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use twilight_gateway::error::ReceiveMessageErrorType;
use twilight_gateway::{Event, EventTypeFlags, Shard, StreamExt as _};
use twilight_model::gateway::payload::incoming::GuildCreate;
use twilight_model::guild::Guild;

use crate::departures::{Departure, DepartureLog};
use crate::directory::{Directory, DirectoryWrite};
use crate::metrics::{Metrics, inc};
use crate::tracker::{GuildCreated, SessionWrite, Tracker};
use crate::writer::Writer;

mod adapters;
mod directory_writes;
mod store_tasks;

use adapters::fatal_reason;
pub use adapters::{
    change_of, channel_view, everyone_of, flags_of, seed_of, seen_member, voice_members_of,
};
use callstats_runtime::Clock;
use callstats_store::Backoff;
use directory_writes::DirectoryOutbox;

/// The dispatches the sidecar reads; twilight skips the others without parsing them.
pub const WANTED: EventTypeFlags = EventTypeFlags::READY
    .union(EventTypeFlags::RESUMED)
    .union(EventTypeFlags::GUILD_CREATE)
    .union(EventTypeFlags::GUILD_DELETE)
    .union(EventTypeFlags::GUILD_UPDATE)
    .union(EventTypeFlags::VOICE_STATE_UPDATE)
    .union(EventTypeFlags::CHANNEL_CREATE)
    .union(EventTypeFlags::CHANNEL_UPDATE)
    .union(EventTypeFlags::CHANNEL_DELETE)
    .union(EventTypeFlags::ROLE_UPDATE);

/// How often guild configurations are read again (an admin may change them any time).
const CONFIG_REFRESH: Duration = Duration::from_mins(5);
/// Store reads at once when reconciling, across every guild and shard of the process (the
/// writer's concurrency). A burst of `GUILD_CREATE`s (2,500 guilds after an IDENTIFY) must not
/// turn into a connection per member: unbounded, 2,500 guilds with 20 members in voice opened
/// thousands of connections at once, held 430 MB and starved the store (`scripts/bench memory`).
pub const RECONCILE_READS: usize = 16;
/// How long after READY the guilds it lists may take to arrive. Those still missing then are
/// taken as unavailable (an outage): the shard counts as in sync without them, so its
/// heartbeat goes on; each is reconciled when its `GUILD_CREATE` comes.
const AWAIT_GUILDS: Duration = Duration::from_mins(2);

/// Discord closed a shard for good: running on cannot help.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("discord closed gateway shard {shard} with code {code}: {reason}")]
pub struct GatewayFatal {
    pub shard: u32,
    pub code: String,
    pub reason: &'static str,
}

/// What every shard task shares.
#[derive(Debug)]
pub struct ShardContext {
    pub store: Store,
    pub writer: Writer,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub max_gap_secs: u64,
    pub heartbeat: Duration,
    pub backoff: Backoff,
    /// True once the spool left by the last run is applied.
    pub replayed: watch::Receiver<bool>,
    /// Permits for reconciliation's store reads ([`RECONCILE_READS`] for the process).
    pub reconcile_reads: tokio::sync::Semaphore,
    /// The servers tracked (`CALLSTATS_GUILDS`); other servers' events are dropped.
    pub guilds: callstats_runtime::GuildAllowList,
}

impl ShardContext {
    /// Starts one reconciliation read once a permit is free (a closed semaphore, which never
    /// happens, would only lift the bound). The read's future is made and boxed only then:
    /// an SDK call's future is large, and inline in every waiting guild's task it made a burst
    /// of 2,500 guilds hold about half a gigabyte before any read ran.
    async fn bounded<F, Fut>(&self, read: F) -> Fut::Output
    where
        F: FnOnce() -> Fut,
        Fut: Future,
    {
        let _permit = self.reconcile_reads.acquire().await.ok();
        Box::pin(read()).await
    }
}

/// Reports from the shard's helper tasks.
#[derive(Debug)]
enum Inbox {
    Reconciled {
        guild: GuildId,
        generation: u64,
        open: Vec<callstats_core::OpenSession>,
        /// Members asked about who opted out.
        opted_out: Vec<UserId>,
        config: callstats_core::GuildConfig,
        last_seen: Option<Timestamp>,
    },
    Config {
        guild: GuildId,
        config: callstats_core::GuildConfig,
        /// Members a privacy action took off the boards, with when.
        gone: Vec<(UserId, Timestamp)>,
    },
}

/// A shard stopped on request, with what a graceful restart saves.
#[derive(Debug)]
pub struct Stopped {
    pub shard: Shard,
    pub tracker: Tracker,
    /// Connected with every guild known: the state is worth resuming from.
    pub settled: bool,
    /// Where the gateway session resumes: READY's `resume_gateway_url`, kept here because
    /// twilight forgets it after a failed connect attempt (the session itself stays
    /// resumable).
    pub resume_url: Option<String>,
}

/// One shard's loop and state.
#[derive(Debug)]
pub struct ShardRunner {
    shard: Shard,
    tracker: Tracker,
    ctx: Arc<ShardContext>,
    inbox_tx: mpsc::UnboundedSender<Inbox>,
    inbox: mpsc::UnboundedReceiver<Inbox>,
    /// Since when the shard has not seen its guilds (disconnected, not yet resumed).
    lost_since: Option<Timestamp>,
    /// Guilds READY listed that have not had their `GUILD_CREATE` yet.
    awaiting: BTreeSet<GuildId>,
    /// When READY came.
    ready_at: Option<Instant>,
    connected: bool,
    last_close: Option<u16>,
    /// The shard's last heartbeat from before this process started: the "last seen" of
    /// guilds reconciled against the store.
    last_seen_at_start: Arc<OnceCell<Option<Timestamp>>>,
    heartbeat_busy: Arc<AtomicBool>,
    disconnects: u64,
    /// READY's `resume_gateway_url` (or the saved one this process resumed with).
    resume_url: Option<String>,
    /// The most members in voice at once seen today (the server's local day), per server.
    peaks: std::collections::HashMap<GuildId, (chrono::NaiveDate, u32)>,
    /// The shard's departures journal (none in tests that run without a state directory).
    journal: Option<DepartureLog>,
    /// Display names and public channels of the shard's guilds.
    directory: Directory,
    /// Where the directory's writes go (its task runs while the shard runs).
    outbox: Option<DirectoryOutbox>,
}

impl ShardRunner {
    /// A runner for `shard`. `tracker` is empty, or restored from a snapshot; `lost_since` is
    /// when the snapshot was taken (cleared if the saved session resumes).
    #[must_use]
    pub fn new(
        shard: Shard,
        tracker: Tracker,
        lost_since: Option<Timestamp>,
        ctx: Arc<ShardContext>,
    ) -> Self {
        let (inbox_tx, inbox) = mpsc::unbounded_channel();
        Self {
            shard,
            tracker,
            ctx,
            inbox_tx,
            inbox,
            lost_since,
            awaiting: BTreeSet::new(),
            ready_at: None,
            connected: false,
            last_close: None,
            last_seen_at_start: Arc::new(OnceCell::new()),
            heartbeat_busy: Arc::new(AtomicBool::new(false)),
            disconnects: 0,
            resume_url: None,
            peaks: std::collections::HashMap::new(),
            journal: None,
            directory: Directory::new(),
            outbox: None,
        }
    }

    /// Keeps the departures of partner time in `journal`, after restoring what it holds.
    #[must_use]
    pub fn with_journal(mut self, journal: DepartureLog, held: Vec<Departure>) -> Self {
        self.tracker.restore_departures(held);
        self.journal = Some(journal);
        self
    }

    /// Ends what the restored tracker holds of servers not served (`CALLSTATS_GUILDS`): the
    /// list may have changed since the state was saved, and a resumed gateway session brings
    /// no READY to drop them ([`crate::allow::forget_others`]). After [`Self::with_journal`],
    /// so that the departures of those ends are journaled like any others.
    #[must_use]
    pub fn forget_unserved(mut self, now: Timestamp) -> Self {
        let writes = crate::allow::forget_others(&self.ctx.guilds, &mut self.tracker, now);
        if !writes.is_empty() {
            self.submit(writes);
        }
        self
    }

    /// The resume URL of the saved gateway session this runner resumes, if any.
    #[must_use]
    pub fn with_resume_url(mut self, url: Option<String>) -> Self {
        self.resume_url = url;
        self
    }

    fn number(&self) -> u32 {
        self.shard.id().number()
    }

    /// Runs until `stop` turns true (then returns the shard and its state) or Discord closes
    /// the shard for good.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> Result<Stopped, GatewayFatal> {
        let mut heartbeat = tokio::time::interval(self.ctx.heartbeat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut refresh = tokio::time::interval_at(Instant::now() + CONFIG_REFRESH, CONFIG_REFRESH);
        refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut starts = self.ctx.writer.starts();
        self.outbox = Some(DirectoryOutbox::start(Arc::clone(&self.ctx), self.number()));
        self.publish();
        loop {
            tokio::select! {
                biased;
                _ = stop.wait_for(|stop| *stop) => break,
                Some(message) = self.inbox.recv() => self.on_inbox(message),
                started = starts.recv() => match started {
                    Ok(s) => self.on_start_outcome(s),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(shard = self.number(), missed, "start outcomes missed");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {}
                },
                _ = heartbeat.tick() => self.beat(),
                _ = refresh.tick() => self.refresh_configs(),
                item = self.shard.next_event(WANTED) => match item {
                    None => return Err(self.fatal()),
                    Some(Ok(event)) => self.on_event(event),
                    Some(Err(err)) => self.on_error(&err),
                },
            }
            self.publish();
        }
        self.outbox = None;
        let settled = self.settled();
        let resume_url = self
            .shard
            .resume_url()
            .map(str::to_owned)
            .or(self.resume_url);
        Ok(Stopped {
            shard: self.shard,
            tracker: self.tracker,
            settled,
            resume_url,
        })
    }

    fn fatal(&self) -> GatewayFatal {
        GatewayFatal {
            shard: self.number(),
            code: self
                .last_close
                .map_or_else(|| "none".to_owned(), |c| c.to_string()),
            reason: fatal_reason(self.last_close),
        }
    }

    fn settled(&self) -> bool {
        self.connected && self.awaiting.is_empty() && self.tracker.is_settled()
    }

    fn publish(&self) {
        let total = self.shard.id().total();
        let sequence = self
            .shard
            .session()
            .map_or(0, twilight_gateway::Session::sequence);
        let latency = self.shard.latency().average();
        let (connected, open, settled) =
            (self.connected, self.tracker.open_sessions(), self.settled());
        let disconnects = self.disconnects;
        self.ctx.metrics.update_shard(self.number(), |s| {
            s.total = total;
            s.connected = connected;
            s.sequence = sequence;
            s.latency = latency;
            s.open_sessions = open;
            s.settled = settled;
            s.disconnects = disconnects;
        });
    }

    fn submit(&mut self, writes: Vec<SessionWrite>) {
        // Stays that others' partner time still needs go to disk before the ends that made
        // them are handed over.
        let departures = self.tracker.take_departures();
        if let Some(journal) = &mut self.journal
            && !departures.is_empty()
        {
            let kept = self.tracker.departures();
            if let Err(err) = journal
                .append(&departures)
                .and_then(|()| journal.compact(&kept))
            {
                inc(&self.ctx.metrics.spool_errors);
                tracing::error!(error = %err, "departures not journaled: partner time may fall short after a crash");
            }
        }
        for write in &writes {
            match write {
                SessionWrite::Start { session, .. } => {
                    self.directory
                        .started(session.guild, session.user, session.id);
                }
                SessionWrite::End { session, .. } => {
                    self.directory
                        .ended(session.guild, session.user, session.id);
                }
                SessionWrite::Update { .. } => {}
            }
        }
        // A start may set a server's peak of members in voice for the day.
        let started: BTreeSet<(GuildId, Timestamp)> = writes
            .iter()
            .filter_map(|w| match w {
                SessionWrite::Start { session, .. } => Some((session.guild, session.start())),
                _ => None,
            })
            .collect();
        self.ctx.writer.submit(writes);
        for (guild, at) in started {
            let members = self.tracker.sessions_in(guild);
            let tz = self
                .tracker
                .config_of(guild)
                .map_or(chrono_tz::Tz::UTC, |c| c.timezone);
            let date = callstats_core::period::local_date(at, tz);
            let best = self.peaks.entry(guild).or_insert((date, 0));
            if best.0 != date {
                *best = (date, 0);
            }
            if members > best.1 {
                best.1 = members;
                self.ctx.writer.peak(guild, members, at);
            }
        }
    }

    fn disconnected(&mut self, now: Timestamp) {
        if self.connected {
            self.disconnects += 1;
        }
        self.connected = false;
        self.lost_since.get_or_insert(now);
    }

    fn on_event(&mut self, event: Event) {
        let Some(event) = crate::allow::admit(&self.ctx.guilds, event) else {
            return;
        };
        let now = self.ctx.clock.now();
        let shard = self.number();
        if !matches!(event, Event::GatewayClose(_)) {
            inc(&self.ctx.metrics.events_received);
        }
        match event {
            Event::Ready(ready) => {
                // A new gateway session: nothing since `lost_since` will be replayed.
                let since = self.lost_since.take().unwrap_or(now);
                self.tracker.freeze_all(since);
                self.resume_url = Some(ready.resume_gateway_url.clone());
                let listed: BTreeSet<GuildId> = ready.guilds.iter().map(|g| g.id).collect();
                let writes = self.tracker.retain_guilds(&listed, now);
                self.directory.retain_guilds(|g| listed.contains(&g));
                self.submit(writes);
                tracing::info!(shard, guilds = listed.len(), "gateway session identified");
                self.awaiting = listed;
                self.ready_at = Some(Instant::now());
                self.connected = true;
                self.last_close = None;
            }
            Event::Resumed => {
                tracing::info!(shard, "gateway session resumed");
                self.lost_since = None;
                self.connected = true;
                self.last_close = None;
            }
            Event::GuildCreate(created) => match *created {
                GuildCreate::Available(guild) => self.on_guild_create(&guild, now),
                GuildCreate::Unavailable(guild) => {
                    self.awaiting.remove(&guild.id);
                    self.tracker.guild_unavailable(guild.id, now);
                }
            },
            Event::GuildDelete(deleted) => {
                self.awaiting.remove(&deleted.id);
                if deleted.unavailable == Some(true) {
                    tracing::info!(shard, guild = %deleted.id, "guild unavailable");
                    self.tracker.guild_unavailable(deleted.id, now);
                } else {
                    tracing::info!(shard, guild = %deleted.id, "removed from guild");
                    let writes = self.tracker.guild_removed(deleted.id, now);
                    self.submit(writes);
                    self.directory.remove_guild(deleted.id);
                }
            }
            Event::GuildUpdate(update) => {
                let writes = self
                    .tracker
                    .afk_changed(update.id, update.afk_channel_id, now);
                self.submit(writes);
            }
            Event::VoiceStateUpdate(update) => {
                inc(&self.ctx.metrics.voice_updates);
                if let Some(change) = change_of(&update.0) {
                    let writes = self.tracker.voice_update(change, now);
                    self.submit(writes);
                    if let Some(member) = &update.0.member {
                        let recorded = self.tracker.is_recorded(change.guild, change.user);
                        let write =
                            self.directory
                                .seen(change.guild, seen_member(member), recorded, now);
                        self.send_directory(write.into_iter().collect());
                    }
                }
            }
            Event::ChannelCreate(channel) => self.on_channel(&channel.0, false),
            Event::ChannelUpdate(channel) => self.on_channel(&channel.0, false),
            Event::ChannelDelete(channel) => self.on_channel(&channel.0, true),
            // Only the @everyone role (its id is the server's) decides who views what.
            Event::RoleUpdate(update) if update.role.id.get() == update.guild_id.get() => {
                let write = self
                    .directory
                    .everyone_changed(update.guild_id, update.role.permissions);
                self.send_directory(write.into_iter().collect());
            }
            Event::GatewayClose(frame) => {
                let code = frame.as_ref().map(|f| f.code);
                self.last_close = code;
                self.disconnected(now);
                tracing::info!(shard, code, "gateway connection closed");
            }
            _ => {}
        }
    }

    fn on_guild_create(&mut self, guild: &Guild, now: Timestamp) {
        self.awaiting.remove(&guild.id);
        let seed = seed_of(guild);
        let present: Vec<UserId> = seed
            .voice
            .iter()
            .filter(|m| !m.bot)
            .map(|m| m.user)
            .collect();
        tracing::debug!(shard = self.number(), guild = %guild.id, in_voice = present.len(), "guild available");
        match self.tracker.guild_create(seed, now, self.ctx.max_gap_secs) {
            GuildCreated::Writes(writes) => self.submit(writes),
            GuildCreated::NeedsStore { generation } => {
                self.spawn_reconcile(guild.id, generation, present);
            }
        }
        if everyone_of(guild).is_none() {
            tracing::warn!(shard = self.number(), guild = %guild.id, "GUILD_CREATE without the @everyone role; public channels unknown until it is updated");
        }
        let channels = guild.channels.iter().map(|c| channel_view(c, guild.id));
        let tracker = &self.tracker;
        let writes = self.directory.guild_create(
            guild.id,
            everyone_of(guild),
            channels,
            voice_members_of(guild),
            |user| tracker.is_recorded(guild.id, user),
            now,
        );
        self.send_directory(writes);
    }

    /// A channel created, updated or deleted.
    fn on_channel(&mut self, channel: &twilight_model::channel::Channel, deleted: bool) {
        // Channels outside a server (direct messages) do not concern the directory.
        let Some(guild) = channel.guild_id else {
            return;
        };
        let write = if deleted {
            self.directory.channel_deleted(guild, channel.id)
        } else {
            self.directory
                .channel_changed(guild, channel_view(channel, guild))
        };
        self.send_directory(write.into_iter().collect());
    }

    /// What the store did with a start, for the tracker and then the directory.
    fn on_start_outcome(&mut self, started: crate::writer::StartRecorded) {
        let (guild, user) = (started.guild, started.user);
        self.tracker
            .start_outcome(guild, started.session, user, started.recorded);
        // A session that ended before its start's outcome came back (a short call, or a
        // writer behind the events) is recorded when the store took its start.
        let recorded = if self.tracker.in_session(guild, user) {
            self.tracker.is_recorded(guild, user)
        } else {
            started.recorded
        };
        let mut write = self.directory.start_outcome(
            guild,
            user,
            started.session,
            recorded,
            self.ctx.clock.now(),
        );
        // Seen during this call, whether or not it is still going on.
        if let Some(DirectoryWrite::Name { since, .. }) = &mut write {
            *since = Some(started.session.start());
        }
        self.send_directory(write.into_iter().collect());
    }

    /// Hands directory writes to the shard's writer, each name with the start of the call it
    /// was seen in.
    fn send_directory(&self, mut writes: Vec<DirectoryWrite>) {
        for write in &mut writes {
            if let DirectoryWrite::Name {
                guild, user, since, ..
            } = write
            {
                *since = since.or_else(|| self.tracker.session_start(*guild, *user));
            }
        }
        if let Some(outbox) = &self.outbox {
            outbox.send(writes);
        }
    }

    fn on_error(&mut self, err: &twilight_gateway::error::ReceiveMessageError) {
        inc(&self.ctx.metrics.gateway_errors);
        let shard = self.number();
        let source = std::error::Error::source(err).map(ToString::to_string);
        match err.kind() {
            ReceiveMessageErrorType::Reconnect => {
                self.disconnected(self.ctx.clock.now());
                let attempts = match self.shard.state() {
                    twilight_gateway::ShardState::Disconnected { reconnect_attempts } => {
                        reconnect_attempts
                    }
                    _ => 0,
                };
                tracing::warn!(
                    shard,
                    attempts,
                    error = source,
                    "cannot reach the gateway; retrying with backoff"
                );
            }
            ReceiveMessageErrorType::Compression => {
                self.disconnected(self.ctx.clock.now());
                tracing::warn!(
                    shard,
                    error = source,
                    "gateway stream could not be decompressed; reconnecting"
                );
            }
            // The event itself is not logged: it may carry member data.
            ReceiveMessageErrorType::Deserializing { .. } => {
                tracing::error!(
                    shard,
                    error = source,
                    "gateway event could not be read; skipped"
                );
            }
            _ => tracing::warn!(shard, error = %err, "gateway error"),
        }
    }

    fn on_inbox(&mut self, message: Inbox) {
        match message {
            Inbox::Reconciled {
                guild,
                generation,
                open,
                opted_out,
                config,
                last_seen,
            } => {
                tracing::info!(
                    shard = self.number(),
                    guild = %guild,
                    open = open.len(),
                    last_seen = last_seen.map(|t| t.to_string()),
                    "guild reconciled with the store"
                );
                for user in opted_out {
                    self.tracker.not_recorded(guild, user, Timestamp::EPOCH);
                }
                let writes = self.tracker.store_reconciled(
                    guild,
                    generation,
                    open,
                    config,
                    last_seen,
                    self.ctx.max_gap_secs,
                );
                self.submit(writes);
                // Who opted out is known now: names may be written.
                let tracker = &self.tracker;
                let names = self.directory.recheck(
                    guild,
                    |user| tracker.is_recorded(guild, user),
                    self.ctx.clock.now(),
                );
                self.send_directory(names);
            }
            Inbox::Config {
                guild,
                config,
                gone,
            } => {
                self.tracker.set_config(guild, config);
                self.directory.privacy_actions(guild, &gone);
                self.tracker.privacy_actions(guild, gone);
            }
        }
    }
}

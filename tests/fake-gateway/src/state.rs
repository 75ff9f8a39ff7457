//! The fake's model: guilds, users, sessions and connections, and the gateway rules over them.
//!
//! Everything here runs under one mutex and does no I/O. Frames for a client are pushed into its
//! connection's unbounded channel while the lock is held, which is what keeps each session's
//! sequence numbers and the order of its frames the same: the connection task only compresses
//! and writes them.

use crate::{
    error::Error,
    payload::{self, BotIdentity, GuildView, UserView, VoiceView},
    record::{Activity, ConnectionId, Counters, Recorded},
    spec::{ChannelSpec, GuildSpec, UserSpec, VoiceFlags},
};
use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque, hash_map::RandomState},
    hash::BuildHasher,
    sync::Arc,
    time::Instant,
};
use tokio::sync::mpsc::UnboundedSender;
use twilight_model::{
    gateway::ShardId,
    id::{
        Id,
        marker::{ChannelMarker, GuildMarker, UserMarker},
    },
};

/// `GUILD_VOICE_STATES`: without it Discord sends no `VOICE_STATE_UPDATE`.
const INTENT_GUILD_VOICE_STATES: u64 = 1 << 7;
/// `GUILD_MEMBERS`, `GUILD_PRESENCES` and `MESSAGE_CONTENT`.
const PRIVILEGED_INTENTS: u64 = (1 << 1) | (1 << 8) | (1 << 15);

/// Disconnected sessions of one shard that stay resumable; older ones are forgotten.
const SESSIONS_KEPT_PER_SHARD: usize = 8;

/// Owner of guilds whose spec names none.
const DEFAULT_OWNER: u64 = 80_351_110_224_678_912;

/// Settings fixed when the fake starts.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) heartbeat_interval_ms: u64,
    /// Accepted tokens without a `Bot ` prefix; `None` accepts any.
    pub(crate) tokens: Option<HashSet<String>>,
    pub(crate) bot: BotIdentity,
    pub(crate) replay_limit: usize,
    pub(crate) allow_privileged_intents: bool,
}

/// Something for a connection task to do with its client.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Send this gateway payload.
    Frame(Arc<str>),
    /// Send a close frame with this code, then wait for the client to close.
    Close(u16),
    /// Drop the TCP connection without a close frame.
    Drop,
}

/// How a dispatch went.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Delivery {
    /// Sent on the session's open connection with this sequence number.
    Sent {
        /// Session id.
        session: String,
        /// Sequence number `s`.
        seq: u64,
    },
    /// The session has no open connection; buffered with this sequence number for a RESUME.
    Buffered {
        /// Session id.
        session: String,
        /// Sequence number `s`.
        seq: u64,
    },
    /// Not dispatched: no session owns the guild's shard, the guild is in an outage, or the
    /// owning session lacks the intent. The model was updated all the same.
    NotDispatched,
    /// Nothing changed (a leave for a user who was not in voice).
    Unchanged,
}

/// A user's voice connection in a guild.
#[derive(Clone, Debug)]
struct Voice {
    channel: Id<ChannelMarker>,
    flags: VoiceFlags,
    session_id: String,
}

#[derive(Debug)]
struct Guild {
    name: String,
    owner: Id<UserMarker>,
    afk_channel: Option<Id<ChannelMarker>>,
    afk_timeout: u16,
    channels: Vec<ChannelSpec>,
    member_count: Option<u64>,
    /// Users in voice, in join order so `GUILD_CREATE` lists them stably.
    voice: BTreeMap<Id<UserMarker>, Voice>,
    /// False during an outage (`GUILD_DELETE` with `unavailable: true`).
    available: bool,
}

#[derive(Debug)]
struct Session {
    shard: ShardId,
    token: String,
    intents: u64,
    large_threshold: u64,
    /// Last sequence number assigned.
    seq: u64,
    /// Sent dispatches, oldest first, for replay on RESUME.
    replay: VecDeque<(u64, Arc<str>)>,
    /// Sequence numbers up to this one were evicted from `replay`.
    evicted_through: u64,
    conn: Option<ConnectionId>,
    /// Order of identification; the newest session of a shard owns its guilds.
    generation: u64,
}

#[derive(Debug)]
struct Conn {
    tx: UnboundedSender<Outgoing>,
    session: Option<String>,
    shard: Option<ShardId>,
}

/// Public view of a session.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SessionInfo {
    /// Session id, as sent in READY.
    pub id: String,
    /// Shard the session identified as.
    pub shard: ShardId,
    /// Last sequence number assigned.
    pub seq: u64,
    /// Whether a connection is attached.
    pub connected: bool,
    /// Intents the session identified with.
    pub intents: u64,
}

/// What the connection task must do after a client payload.
#[derive(Debug, Eq, PartialEq)]
pub(crate) enum Reply {
    /// Nothing.
    None,
    /// Send this payload now.
    Send(String),
    /// Close the connection with this code.
    Close(u16),
}

/// The whole model.
#[derive(Debug)]
pub(crate) struct State {
    options: Options,
    resume_url: String,
    guilds: BTreeMap<Id<GuildMarker>, Guild>,
    users: HashMap<Id<UserMarker>, UserSpec>,
    /// Resumable sessions; an invalidated session is removed.
    sessions: HashMap<String, Session>,
    conns: HashMap<ConnectionId, Conn>,
    next_conn: u64,
    next_generation: u64,
    random: RandomState,
    random_counter: u64,
    pub(crate) records: Vec<Recorded>,
    pub(crate) counters: Counters,
    pub(crate) last_close_code: Option<u16>,
}

/// The shard of a guild under `total` shards.
#[must_use]
pub fn shard_of(guild: Id<GuildMarker>, total: u32) -> u32 {
    ((guild.get() >> 22) % u64::from(total.max(1))) as u32
}

fn covers(shard: ShardId, guild: Id<GuildMarker>) -> bool {
    shard_of(guild, shard.total()) == shard.number()
}

fn strip_bot(token: &str) -> &str {
    token.strip_prefix("Bot ").unwrap_or(token)
}

impl State {
    pub(crate) fn new(options: Options, resume_url: String) -> Self {
        Self {
            options,
            resume_url,
            guilds: BTreeMap::new(),
            users: HashMap::new(),
            sessions: HashMap::new(),
            conns: HashMap::new(),
            next_conn: 0,
            next_generation: 0,
            random: RandomState::new(),
            random_counter: 0,
            records: Vec::new(),
            counters: Counters::default(),
            last_close_code: None,
        }
    }

    pub(crate) const fn options(&self) -> &Options {
        &self.options
    }

    /// 32 hex digits, different every call: session ids of gateway and voice sessions.
    fn random_id(&mut self) -> String {
        self.random_counter += 1;
        let a = self.random.hash_one(self.random_counter);
        let b = self.random.hash_one(!self.random_counter);
        format!("{a:016x}{b:016x}")
    }

    pub(crate) fn record(&mut self, connection: ConnectionId, activity: Activity) {
        let shard = self.conns.get(&connection).and_then(|c| c.shard);
        if let Activity::Closed { code, .. } = &activity {
            self.last_close_code = *code;
        }
        self.records.push(Recorded {
            index: self.records.len(),
            connection,
            shard,
            at: Instant::now(),
            activity,
        });
    }

    // ---- connections -------------------------------------------------------------------------

    pub(crate) fn open_connection(&mut self, tx: UnboundedSender<Outgoing>) -> ConnectionId {
        self.next_conn += 1;
        let id = ConnectionId(self.next_conn);
        self.conns.insert(
            id,
            Conn {
                tx,
                session: None,
                shard: None,
            },
        );
        self.counters.connections += 1;
        id
    }

    /// Forgets a connection whose task ended; its session stays resumable.
    pub(crate) fn close_connection(&mut self, id: ConnectionId, dropped_by_server: bool) {
        self.record(id, Activity::Disconnected { dropped_by_server });
        self.counters.disconnections += 1;
        self.detach(id);
        self.conns.remove(&id);
    }

    /// Stops sending a session's dispatches on a closing connection; they are buffered for a
    /// RESUME from then on.
    fn detach(&mut self, id: ConnectionId) {
        if let Some(session) = self
            .conns
            .get(&id)
            .and_then(|c| c.session.as_ref())
            .and_then(|s| self.sessions.get_mut(s))
            && session.conn == Some(id)
        {
            session.conn = None;
        }
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Sends to every open connection.
    pub(crate) fn broadcast(&self, make: impl Fn() -> Outgoing) {
        for conn in self.conns.values() {
            let _ = conn.tx.send(make());
        }
    }

    /// The client sent a close frame: 1000 and 1001 end its session, like on Discord, unless the
    /// frame only answers the fake's own close frame (`echo`).
    pub(crate) fn client_closed(&mut self, id: ConnectionId, code: Option<u16>, echo: bool) {
        self.record(
            id,
            Activity::Closed {
                code,
                by_server: false,
            },
        );
        if !echo
            && matches!(code, Some(1000 | 1001))
            && let Some(session) = self.conns.get(&id).and_then(|c| c.session.clone())
        {
            self.sessions.remove(&session);
        }
        self.detach(id);
    }

    /// The fake is about to send a close frame. Codes after which Discord does not let the
    /// session resume end it here too.
    pub(crate) fn server_closing(&mut self, id: ConnectionId, code: u16) {
        self.record(
            id,
            Activity::Closed {
                code: Some(code),
                by_server: true,
            },
        );
        if matches!(code, 4004 | 4007 | 4009..=4014)
            && let Some(session) = self.conns.get(&id).and_then(|c| c.session.clone())
        {
            self.sessions.remove(&session);
        }
        self.detach(id);
    }

    pub(crate) fn reject(&mut self, id: ConnectionId, reason: &str, code: u16) -> Reply {
        self.counters.rejected += 1;
        self.record(
            id,
            Activity::Rejected {
                reason: reason.to_owned(),
                code,
            },
        );
        Reply::Close(code)
    }

    // ---- client payloads ---------------------------------------------------------------------

    /// Applies one text frame from a client.
    pub(crate) fn client_text(&mut self, id: ConnectionId, text: &str, ack: bool) -> Reply {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
            return self.reject(id, "payload is not JSON", 4002);
        };
        let Some(op) = json.get("op").and_then(serde_json::Value::as_u64) else {
            return self.reject(id, "payload has no numeric op", 4002);
        };
        let data = json.get("d").cloned().unwrap_or(serde_json::Value::Null);
        self.record(id, Activity::Payload { op, json });
        let authenticated = self.conns.get(&id).is_some_and(|c| c.session.is_some());
        match op {
            1 => {
                self.counters.heartbeats += 1;
                if ack {
                    self.counters.heartbeat_acks += 1;
                    Reply::Send(payload::heartbeat_ack())
                } else {
                    Reply::None
                }
            }
            2 => {
                self.counters.identifies += 1;
                if authenticated {
                    return self.reject(id, "identify on an identified connection", 4005);
                }
                self.identify(id, &data)
            }
            6 => {
                self.counters.resumes += 1;
                if authenticated {
                    return self.reject(id, "resume on an identified connection", 4005);
                }
                self.resume(id, &data)
            }
            3 | 4 | 8 | 31 if !authenticated => self.reject(id, "payload before identify", 4003),
            3 | 4 | 8 | 31 => Reply::None,
            _ => self.reject(id, "unknown opcode", 4001),
        }
    }

    fn identify(&mut self, id: ConnectionId, data: &serde_json::Value) -> Reply {
        let token = data.get("token").and_then(serde_json::Value::as_str);
        let intents = data.get("intents").and_then(serde_json::Value::as_u64);
        let (Some(token), Some(intents)) = (token, intents) else {
            return self.reject(id, "identify without token or intents", 4002);
        };
        let token = strip_bot(token).to_owned();
        if let Some(tokens) = &self.options.tokens
            && !tokens.contains(&token)
        {
            return self.reject(id, "token not accepted", 4004);
        }
        let shard = match data.get("shard") {
            None | Some(serde_json::Value::Null) => ShardId::ONE,
            Some(value) => match serde_json::from_value::<[u32; 2]>(value.clone())
                .ok()
                .and_then(|[number, total]| ShardId::new_checked(number, total))
            {
                Some(shard) => shard,
                None => return self.reject(id, "invalid shard", 4010),
            },
        };
        if !self.options.allow_privileged_intents && intents & PRIVILEGED_INTENTS != 0 {
            return self.reject(id, "privileged intents not allowed", 4014);
        }
        let large_threshold = data
            .get("large_threshold")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(50);

        let session_id = self.random_id();
        self.next_generation += 1;
        self.sessions.insert(
            session_id.clone(),
            Session {
                shard,
                token,
                intents,
                large_threshold,
                seq: 0,
                replay: VecDeque::new(),
                evicted_through: 0,
                conn: Some(id),
                generation: self.next_generation,
            },
        );
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.session = Some(session_id.clone());
            conn.shard = Some(shard);
        }
        self.forget_old_sessions(shard);
        // The IDENTIFY was recorded before the shard was known.
        if let Some(last) = self.records.last_mut()
            && last.connection == id
        {
            last.shard = Some(shard);
        }
        self.counters.ready += 1;
        tracing::debug!(connection = id.0, %shard, "identified");

        let guilds: Vec<Id<GuildMarker>> = self
            .guilds
            .keys()
            .copied()
            .filter(|&g| covers(shard, g))
            .collect();
        let ready = payload::ready(
            &self.options.bot,
            guilds.iter().copied(),
            &session_id,
            &self.resume_url,
            [shard.number(), shard.total()],
        );
        self.dispatch_to(&session_id, "READY", &ready);
        for guild in guilds {
            let data = self.guild_create_data(guild, large_threshold);
            self.dispatch_to(&session_id, "GUILD_CREATE", &data);
        }
        Reply::None
    }

    /// Keeps the replay buffers of superseded sessions from piling up when a client restarts
    /// again and again: only the newest [`SESSIONS_KEPT_PER_SHARD`] disconnected ones stay
    /// resumable.
    fn forget_old_sessions(&mut self, shard: ShardId) {
        let mut idle: Vec<(u64, String)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.shard == shard && s.conn.is_none())
            .map(|(id, s)| (s.generation, id.clone()))
            .collect();
        if idle.len() <= SESSIONS_KEPT_PER_SHARD {
            return;
        }
        idle.sort_unstable();
        for (_, id) in &idle[..idle.len() - SESSIONS_KEPT_PER_SHARD] {
            self.sessions.remove(id);
        }
    }

    fn resume(&mut self, id: ConnectionId, data: &serde_json::Value) -> Reply {
        let token = data.get("token").and_then(serde_json::Value::as_str);
        let session_id = data.get("session_id").and_then(serde_json::Value::as_str);
        // Discord's `seq` is the last sequence the client received; null before any.
        let seq = match data.get("seq") {
            None | Some(serde_json::Value::Null) => Some(0),
            Some(value) => value.as_u64(),
        };
        let (Some(token), Some(session_id), Some(seq)) = (token, session_id, seq) else {
            return self.reject(id, "resume without token, session_id or seq", 4002);
        };
        let token = strip_bot(token);
        let resumable = self.sessions.get(session_id).is_some_and(|session| {
            session.token == token && seq <= session.seq && seq >= session.evicted_through
        });
        if !resumable {
            self.counters.invalid_sessions += 1;
            tracing::debug!(connection = id.0, "resume refused");
            return Reply::Send(payload::invalid_session(false));
        }
        let session_id = session_id.to_owned();
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return Reply::Send(payload::invalid_session(false));
        };
        session.conn = Some(id);
        let shard = session.shard;
        let Some(conn) = self.conns.get_mut(&id) else {
            return Reply::None;
        };
        conn.session = Some(session_id.clone());
        conn.shard = Some(shard);
        if let Some(last) = self.records.last_mut()
            && last.connection == id
        {
            last.shard = Some(shard);
        }
        let mut replayed = 0;
        for (_, frame) in session.replay.iter().filter(|(s, _)| *s > seq) {
            let _ = conn.tx.send(Outgoing::Frame(Arc::clone(frame)));
            replayed += 1;
        }
        self.counters.replayed += replayed;
        self.counters.resumed += 1;
        tracing::debug!(connection = id.0, %shard, replayed, "resumed");
        self.dispatch_to(&session_id, "RESUMED", &payload::resumed());
        Reply::None
    }

    // ---- dispatching -------------------------------------------------------------------------

    /// Assigns the session's next sequence number, keeps the frame for replay and sends it if
    /// the session has a connection.
    fn dispatch_to(&mut self, session_id: &str, event: &str, data: &str) -> Delivery {
        let Some(session) = self.sessions.get_mut(session_id) else {
            return Delivery::NotDispatched;
        };
        session.seq += 1;
        let seq = session.seq;
        let frame: Arc<str> = payload::dispatch(seq, event, data).into();
        session.replay.push_back((seq, Arc::clone(&frame)));
        while session.replay.len() > self.options.replay_limit {
            if let Some((evicted, _)) = session.replay.pop_front() {
                session.evicted_through = evicted;
            }
        }
        self.counters.dispatches += 1;
        let session = session_id.to_owned();
        let sent = self
            .sessions
            .get(&session)
            .and_then(|s| s.conn)
            .and_then(|c| self.conns.get(&c))
            .is_some_and(|conn| conn.tx.send(Outgoing::Frame(frame)).is_ok());
        if sent {
            Delivery::Sent { session, seq }
        } else {
            Delivery::Buffered { session, seq }
        }
    }

    /// The newest resumable session whose shard covers the guild.
    fn owner_of_guild(&self, guild: Id<GuildMarker>) -> Option<String> {
        self.sessions
            .iter()
            .filter(|(_, s)| covers(s.shard, guild))
            .max_by_key(|(_, s)| s.generation)
            .map(|(id, _)| id.clone())
    }

    /// The newest resumable session identified as exactly this shard.
    fn owner_of_shard(&self, shard: ShardId) -> Option<String> {
        self.sessions
            .iter()
            .filter(|(_, s)| s.shard == shard)
            .max_by_key(|(_, s)| s.generation)
            .map(|(id, _)| id.clone())
    }

    pub(crate) fn session_info(&self, shard: ShardId) -> Option<SessionInfo> {
        let id = self.owner_of_shard(shard)?;
        let session = self.sessions.get(&id)?;
        Some(SessionInfo {
            shard: session.shard,
            seq: session.seq,
            connected: session.conn.is_some(),
            intents: session.intents,
            id,
        })
    }

    pub(crate) fn dispatch_raw(
        &mut self,
        shard: ShardId,
        event: &str,
        data: &serde_json::Value,
    ) -> Result<Delivery, Error> {
        if !payload::is_event_name(event) {
            return Err(Error::InvalidEventName(event.to_owned()));
        }
        let session = self.owner_of_shard(shard).ok_or(Error::NoSession(shard))?;
        Ok(self.dispatch_to(&session, event, &data.to_string()))
    }

    /// Dispatches a guild event to the session owning the guild, if the guild is available.
    fn dispatch_guild(
        &mut self,
        guild: Id<GuildMarker>,
        event: &str,
        intent: Option<u64>,
        data: impl FnOnce(&Self, u64) -> String,
    ) -> Delivery {
        let Some(session) = self.owner_of_guild(guild) else {
            return Delivery::NotDispatched;
        };
        let Some((intents, large_threshold)) = self
            .sessions
            .get(&session)
            .map(|s| (s.intents, s.large_threshold))
        else {
            return Delivery::NotDispatched;
        };
        if intent.is_some_and(|bit| intents & bit == 0) {
            return Delivery::NotDispatched;
        }
        let data = data(self, large_threshold);
        self.dispatch_to(&session, event, &data)
    }

    /// Finds the session and connection a control call acts on.
    fn shard_connection(&self, shard: ShardId) -> Result<(String, &Conn), Error> {
        let session = self.owner_of_shard(shard).ok_or(Error::NoSession(shard))?;
        let conn = self
            .sessions
            .get(&session)
            .and_then(|s| s.conn)
            .and_then(|c| self.conns.get(&c))
            .ok_or(Error::NotConnected(shard))?;
        Ok((session, conn))
    }

    pub(crate) fn send_to_shard(&self, shard: ShardId, outgoing: Outgoing) -> Result<(), Error> {
        let (_, conn) = self.shard_connection(shard)?;
        conn.tx
            .send(outgoing)
            .map_err(|_| Error::NotConnected(shard))
    }

    /// Sends op 9 and, when not resumable, ends the session even if it has no connection.
    pub(crate) fn invalidate_session(
        &mut self,
        shard: ShardId,
        resumable: bool,
    ) -> Result<(), Error> {
        let session = self.owner_of_shard(shard).ok_or(Error::NoSession(shard))?;
        let sent = self.shard_connection(shard).is_ok_and(|(_, conn)| {
            conn.tx
                .send(Outgoing::Frame(payload::invalid_session(resumable).into()))
                .is_ok()
        });
        if sent {
            self.counters.invalid_sessions += 1;
        }
        if !resumable {
            self.sessions.remove(&session);
        } else if !sent {
            return Err(Error::NotConnected(shard));
        }
        Ok(())
    }

    // ---- guilds and voice --------------------------------------------------------------------

    fn user_view(&self, id: Id<UserMarker>) -> UserView<'_> {
        self.users.get(&id).map_or(
            UserView {
                id,
                name: "unknown",
                bot: false,
            },
            |user| UserView {
                id,
                name: &user.name,
                bot: user.bot,
            },
        )
    }

    fn ensure_user(&mut self, id: Id<UserMarker>, bot: bool) {
        self.users
            .entry(id)
            .and_modify(|u| u.bot = bot)
            .or_insert_with(|| UserSpec {
                name: format!("user{id}"),
                bot,
            });
    }

    pub(crate) fn set_user(&mut self, id: Id<UserMarker>, user: UserSpec) {
        self.users.insert(id, user);
    }

    pub(crate) fn set_user_bot(&mut self, id: Id<UserMarker>, bot: bool) {
        self.ensure_user(id, bot);
    }

    fn guild_create_data(&self, id: Id<GuildMarker>, large_threshold: u64) -> String {
        let Some(guild) = self.guilds.get(&id) else {
            return payload::unavailable_guild(id);
        };
        if !guild.available {
            return payload::unavailable_guild(id);
        }
        let voice: Vec<VoiceView<'_>> = guild
            .voice
            .iter()
            .map(|(&user, voice)| VoiceView {
                user: self.user_view(user),
                channel: Some(voice.channel),
                flags: voice.flags,
                session_id: &voice.session_id,
            })
            .collect();
        let member_count = guild.member_count.unwrap_or(voice.len() as u64 + 1).max(1);
        let view = GuildView {
            id,
            name: &guild.name,
            owner: guild.owner,
            afk_channel: guild.afk_channel,
            afk_timeout: guild.afk_timeout,
            channels: &guild.channels,
            member_count,
            voice,
        };
        let bot = UserView {
            id: self.options.bot.user_id,
            name: &self.options.bot.name,
            bot: true,
        };
        payload::guild_create(&view, bot, large_threshold)
    }

    pub(crate) fn add_guild(&mut self, spec: GuildSpec) -> Result<Delivery, Error> {
        if self.guilds.contains_key(&spec.id) {
            return Err(Error::GuildExists(spec.id));
        }
        for member in &spec.voice {
            let is_voice = spec
                .channels
                .iter()
                .any(|c| c.id == member.channel && c.kind.is_voice());
            if !is_voice {
                return Err(Error::NotVoiceChannel {
                    guild: spec.id,
                    channel: member.channel,
                });
            }
        }
        let mut voice = BTreeMap::new();
        for member in spec.voice {
            self.ensure_user(member.user, member.bot);
            let session_id = self.random_id();
            voice.insert(
                member.user,
                Voice {
                    channel: member.channel,
                    flags: member.flags,
                    session_id,
                },
            );
        }
        let id = spec.id;
        self.guilds.insert(
            id,
            Guild {
                name: spec.name,
                owner: spec.owner.unwrap_or(Id::new(DEFAULT_OWNER)),
                afk_channel: spec.afk_channel,
                afk_timeout: spec.afk_timeout,
                channels: spec.channels,
                member_count: spec.member_count,
                voice,
                available: true,
            },
        );
        Ok(
            self.dispatch_guild(id, "GUILD_CREATE", None, |state, threshold| {
                state.guild_create_data(id, threshold)
            }),
        )
    }

    pub(crate) fn guild_delete(
        &mut self,
        id: Id<GuildMarker>,
        unavailable: bool,
    ) -> Result<Delivery, Error> {
        let guild = self.guilds.get_mut(&id).ok_or(Error::UnknownGuild(id))?;
        if unavailable {
            if !guild.available {
                return Ok(Delivery::Unchanged);
            }
            guild.available = false;
        }
        let data = payload::guild_delete(id, unavailable);
        let delivery = self.dispatch_guild(id, "GUILD_DELETE", None, |_, _| data);
        if !unavailable {
            self.guilds.remove(&id);
        }
        Ok(delivery)
    }

    pub(crate) fn guild_create_again(&mut self, id: Id<GuildMarker>) -> Result<Delivery, Error> {
        let guild = self.guilds.get_mut(&id).ok_or(Error::UnknownGuild(id))?;
        guild.available = true;
        Ok(
            self.dispatch_guild(id, "GUILD_CREATE", None, |state, threshold| {
                state.guild_create_data(id, threshold)
            }),
        )
    }

    pub(crate) fn voice_update(
        &mut self,
        guild_id: Id<GuildMarker>,
        user: Id<UserMarker>,
        channel: Option<Id<ChannelMarker>>,
        flags: VoiceFlags,
    ) -> Result<Delivery, Error> {
        let guild = self
            .guilds
            .get(&guild_id)
            .ok_or(Error::UnknownGuild(guild_id))?;
        if let Some(channel) = channel
            && !guild
                .channels
                .iter()
                .any(|c| c.id == channel && c.kind.is_voice())
        {
            return Err(Error::NotVoiceChannel {
                guild: guild_id,
                channel,
            });
        }
        let available = guild.available;
        let previous = guild.voice.get(&user).map(|v| v.session_id.clone());
        let session_id = match (channel, previous) {
            (None, None) => return Ok(Delivery::Unchanged),
            (_, Some(previous)) => previous,
            (Some(_), None) => self.random_id(),
        };
        if !self.users.contains_key(&user) {
            self.ensure_user(user, false);
        }
        let Some(guild) = self.guilds.get_mut(&guild_id) else {
            return Err(Error::UnknownGuild(guild_id));
        };
        match channel {
            Some(channel) => {
                guild.voice.insert(
                    user,
                    Voice {
                        channel,
                        flags,
                        session_id: session_id.clone(),
                    },
                );
            }
            None => {
                guild.voice.remove(&user);
            }
        }
        if !available {
            return Ok(Delivery::NotDispatched);
        }
        Ok(self.dispatch_guild(
            guild_id,
            "VOICE_STATE_UPDATE",
            Some(INTENT_GUILD_VOICE_STATES),
            |state, _| {
                let view = VoiceView {
                    user: state.user_view(user),
                    channel,
                    flags,
                    session_id: &session_id,
                };
                payload::voice_state_update(guild_id, &view)
            },
        ))
    }

    /// The voice channel and flags of a user, as the model has them now.
    pub(crate) fn voice_of(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
    ) -> Option<(Id<ChannelMarker>, VoiceFlags)> {
        let voice = self.guilds.get(&guild)?.voice.get(&user)?;
        Some((voice.channel, voice.flags))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::too_many_lines)]
mod tests {
    use super::{Delivery, Options, Outgoing, Reply, State};
    use crate::{
        payload::BotIdentity,
        spec::{ChannelSpec, GuildSpec, VoiceFlags, VoiceMember},
    };
    use serde::de::DeserializeSeed;
    use std::collections::HashSet;
    use tokio::sync::mpsc::{self, UnboundedReceiver};
    use twilight_model::{
        channel::ChannelType,
        gateway::{
            ShardId,
            event::{DispatchEvent, GatewayEvent, GatewayEventDeserializer},
            payload::incoming::GuildCreate,
        },
        id::Id,
    };

    fn options(tokens: Option<&[&str]>) -> Options {
        Options {
            heartbeat_interval_ms: 1_000,
            tokens: tokens.map(|t| t.iter().map(|s| (*s).to_owned()).collect::<HashSet<_>>()),
            bot: BotIdentity {
                user_id: Id::new(7),
                name: "bot".to_owned(),
                application_id: Id::new(7),
            },
            replay_limit: 100,
            allow_privileged_intents: true,
        }
    }

    fn parse(frame: &str) -> GatewayEvent {
        let deserializer = GatewayEventDeserializer::from_json(frame).unwrap();
        let mut json = serde_json::Deserializer::from_str(frame);
        deserializer.deserialize(&mut json).unwrap()
    }

    fn drain(rx: &mut UnboundedReceiver<Outgoing>) -> Vec<(u64, DispatchEvent)> {
        let mut events = Vec::new();
        while let Ok(outgoing) = rx.try_recv() {
            let Outgoing::Frame(frame) = outgoing else {
                panic!("expected a frame, got {outgoing:?}");
            };
            match parse(&frame) {
                GatewayEvent::Dispatch(seq, event) => events.push((seq, event)),
                other => panic!("expected a dispatch, got {other:?}"),
            }
        }
        events
    }

    fn identify(token: &str, shard: [u32; 2], intents: u64) -> String {
        serde_json::json!({
            "op": 2,
            "d": {
                "token": token,
                "intents": intents,
                "shard": shard,
                "properties": {"os": "linux", "browser": "test", "device": "test"},
            }
        })
        .to_string()
    }

    fn lounge_guild() -> GuildSpec {
        GuildSpec::new(Id::new(1 << 22), "guild")
            .channel(ChannelSpec::text(Id::new(10), "general"))
            .channel(ChannelSpec::voice(Id::new(11), "lounge"))
            .channel(ChannelSpec::stage(Id::new(12), "stage"))
            .afk(Id::new(11), 900)
            .voice_member(VoiceMember::new(Id::new(100), Id::new(11)))
            .voice_member(
                VoiceMember::new(Id::new(101), Id::new(12))
                    .bot()
                    .flags(VoiceFlags {
                        suppress: true,
                        self_mute: true,
                        ..VoiceFlags::default()
                    }),
            )
    }

    #[test]
    fn every_payload_deserializes_with_twilight_model() {
        let mut state = State::new(options(None), "ws://127.0.0.1:1/resume".to_owned());
        state.add_guild(lounge_guild()).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let conn = state.open_connection(tx);

        let reply = state.client_text(conn, &identify("Bot token", [0, 1], 1 | 1 << 7), true);
        assert_eq!(reply, Reply::None);
        let events = drain(&mut rx);
        assert_eq!(events.len(), 2);
        let (seq, DispatchEvent::Ready(ready)) = &events[0] else {
            panic!("expected READY first");
        };
        assert_eq!(*seq, 1);
        assert_eq!(ready.resume_gateway_url, "ws://127.0.0.1:1/resume");
        assert_eq!(ready.shard, Some(ShardId::ONE));
        assert_eq!(ready.guilds.len(), 1);
        assert!(ready.user.bot);
        let (2, DispatchEvent::GuildCreate(create)) = &events[1] else {
            panic!("expected GUILD_CREATE second");
        };
        let GuildCreate::Available(guild) = create.as_ref() else {
            panic!("guild should be available");
        };
        assert_eq!(guild.afk_channel_id, Some(Id::new(11)));
        assert_eq!(guild.afk_timeout.get(), 900);
        assert_eq!(guild.channels.len(), 3);
        assert_eq!(guild.channels[1].kind, ChannelType::GuildVoice);
        assert_eq!(guild.channels[2].kind, ChannelType::GuildStageVoice);
        assert_eq!(guild.voice_states.len(), 2);
        assert!(
            guild
                .voice_states
                .iter()
                .all(|v| v.guild_id == Some(guild.id))
        );
        let on_stage = guild
            .voice_states
            .iter()
            .find(|v| v.user_id == Id::new(101))
            .unwrap();
        assert!(on_stage.suppress && on_stage.self_mute);
        let bot_member = guild
            .members
            .iter()
            .find(|m| m.user.id == Id::new(101))
            .unwrap();
        assert!(bot_member.user.bot);
        let human = guild
            .members
            .iter()
            .find(|m| m.user.id == Id::new(100))
            .unwrap();
        assert!(!human.user.bot);

        // Join, move, flag change, leave.
        let g = Id::new(1 << 22);
        let deliveries = [
            state.voice_update(g, Id::new(200), Some(Id::new(11)), VoiceFlags::default()),
            state.voice_update(g, Id::new(200), Some(Id::new(12)), VoiceFlags::default()),
            state.voice_update(
                g,
                Id::new(200),
                Some(Id::new(12)),
                VoiceFlags {
                    self_deaf: true,
                    self_stream: true,
                    self_video: true,
                    mute: true,
                    deaf: true,
                    ..VoiceFlags::default()
                },
            ),
            state.voice_update(g, Id::new(200), None, VoiceFlags::default()),
        ];
        assert!(
            deliveries
                .iter()
                .all(|d| matches!(d, Ok(Delivery::Sent { .. })))
        );
        let events = drain(&mut rx);
        let updates: Vec<_> = events
            .iter()
            .map(|(seq, event)| match event {
                DispatchEvent::VoiceStateUpdate(update) => (*seq, &update.0),
                other => panic!("expected VOICE_STATE_UPDATE, got {other:?}"),
            })
            .collect();
        assert_eq!(
            updates.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [3, 4, 5, 6]
        );
        assert_eq!(updates[0].1.channel_id, Some(Id::new(11)));
        assert_eq!(updates[0].1.guild_id, Some(g));
        assert_eq!(updates[0].1.member.as_ref().unwrap().user.id, Id::new(200));
        assert_eq!(updates[1].1.channel_id, Some(Id::new(12)));
        assert!(updates[2].1.self_deaf && updates[2].1.self_stream && updates[2].1.self_video);
        assert_eq!(updates[3].1.channel_id, None);
        assert_eq!(updates[0].1.session_id, updates[3].1.session_id);

        // Outage, voice change during it (not dispatched), recovery with current state.
        state.guild_delete(g, true).unwrap();
        assert_eq!(
            state
                .voice_update(g, Id::new(100), None, VoiceFlags::default())
                .unwrap(),
            Delivery::NotDispatched
        );
        state.guild_create_again(g).unwrap();
        let events = drain(&mut rx);
        assert!(matches!(
            &events[0].1,
            DispatchEvent::GuildDelete(d) if d.unavailable == Some(true)
        ));
        let DispatchEvent::GuildCreate(create) = &events[1].1 else {
            panic!("expected GUILD_CREATE after the outage");
        };
        let GuildCreate::Available(guild) = create.as_ref() else {
            panic!("guild should be available again");
        };
        assert_eq!(guild.voice_states.len(), 1);

        // Removal.
        state.guild_delete(g, false).unwrap();
        let events = drain(&mut rx);
        assert!(matches!(
            &events[0].1,
            DispatchEvent::GuildDelete(d) if d.unavailable.is_none()
        ));

        // A guild in an outage at IDENTIFY time comes as an unavailable GUILD_CREATE.
        state.add_guild(lounge_guild()).unwrap();
        state.guild_delete(g, true).unwrap();
        let (tx, mut rx2) = mpsc::unbounded_channel();
        let second = state.open_connection(tx);
        state.client_text(second, &identify("t", [0, 1], 1), true);
        let events = drain(&mut rx2);
        assert!(matches!(
            &events[1].1,
            DispatchEvent::GuildCreate(c) if matches!(c.as_ref(), GuildCreate::Unavailable(_))
        ));
        // The newest session owns the guild now; the first one gets nothing more.
        drain(&mut rx);
        state.guild_create_again(g).unwrap();
        assert!(drain(&mut rx).is_empty());
        assert_eq!(drain(&mut rx2).len(), 1);
    }

    #[test]
    fn resume_replays_what_was_missed_then_resumed() {
        let mut state = State::new(options(None), "ws://x/resume".to_owned());
        state.add_guild(lounge_guild()).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let first = state.open_connection(tx);
        state.client_text(first, &identify("t", [0, 1], 1 << 7), true);
        let session = state.session_info(ShardId::ONE).unwrap();
        assert_eq!(drain(&mut rx).len(), 2);
        state.close_connection(first, false);

        let g = Id::new(1 << 22);
        let buffered = state
            .voice_update(g, Id::new(100), None, VoiceFlags::default())
            .unwrap();
        assert!(matches!(buffered, Delivery::Buffered { seq: 3, .. }));

        let (tx, mut rx) = mpsc::unbounded_channel();
        let second = state.open_connection(tx);
        let resume = serde_json::json!({
            "op": 6, "d": {"token": "Bot t", "session_id": session.id, "seq": 2}
        });
        assert_eq!(
            state.client_text(second, &resume.to_string(), true),
            Reply::None
        );
        let events = drain(&mut rx);
        assert_eq!(events.len(), 2);
        assert!(matches!(events[0], (3, DispatchEvent::VoiceStateUpdate(_))));
        assert!(matches!(events[1], (4, DispatchEvent::Resumed)));

        // A resume of an ended session is refused.
        state.client_closed(second, Some(1000), false);
        let (tx, _rx) = mpsc::unbounded_channel();
        let third = state.open_connection(tx);
        let reply = state.client_text(third, &resume.to_string(), true);
        let Reply::Send(frame) = reply else {
            panic!("expected INVALID_SESSION");
        };
        assert!(matches!(
            parse(&frame),
            GatewayEvent::InvalidateSession(false)
        ));
    }

    #[test]
    fn client_mistakes_close_with_discord_codes() {
        let mut state = State::new(options(Some(&["good"])), "ws://x/resume".to_owned());
        let (tx, _rx) = mpsc::unbounded_channel();
        let conn = state.open_connection(tx);
        assert_eq!(
            state.client_text(conn, "not json", true),
            Reply::Close(4002)
        );
        assert_eq!(
            state.client_text(conn, r#"{"op":99}"#, true),
            Reply::Close(4001)
        );
        assert_eq!(
            state.client_text(conn, r#"{"op":3,"d":{}}"#, true),
            Reply::Close(4003)
        );
        assert_eq!(
            state.client_text(conn, &identify("Bot bad", [0, 1], 1), true),
            Reply::Close(4004)
        );
        assert_eq!(
            state.client_text(conn, &identify("good", [2, 2], 1), true),
            Reply::Close(4010)
        );
        let Reply::Send(ack) = state.client_text(conn, r#"{"op":1,"d":null}"#, true) else {
            panic!("expected an ACK");
        };
        assert!(matches!(parse(&ack), GatewayEvent::HeartbeatAck));
        assert_eq!(
            state.client_text(conn, r#"{"op":1,"d":null}"#, false),
            Reply::None
        );
        assert_eq!(
            state.client_text(conn, &identify("Bot good", [0, 1], 1), true),
            Reply::None
        );
        assert_eq!(
            state.client_text(conn, &identify("Bot good", [0, 1], 1), true),
            Reply::Close(4005)
        );
        assert_eq!(state.counters.rejected, 6);
        assert_eq!(state.counters.heartbeats, 2);
    }

    #[test]
    fn sharding_sends_each_guild_to_its_shard_only() {
        let mut state = State::new(options(None), "ws://x/resume".to_owned());
        for index in 0..10 {
            state.add_guild(GuildSpec::synthetic(index, 2, 3)).unwrap();
        }
        let mut seen = Vec::new();
        for number in 0..2 {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let conn = state.open_connection(tx);
            state.client_text(conn, &identify("t", [number, 2], 1), true);
            let guilds: Vec<_> = drain(&mut rx)
                .into_iter()
                .filter_map(|(_, event)| match event {
                    DispatchEvent::GuildCreate(create) => Some(create.id()),
                    _ => None,
                })
                .collect();
            assert_eq!(guilds.len(), 5);
            assert!(guilds.iter().all(|g| super::shard_of(*g, 2) == number));
            seen.extend(guilds);
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 10);
    }

    #[test]
    fn only_the_newest_disconnected_sessions_of_a_shard_stay_resumable() {
        let mut state = State::new(options(None), "ws://x/resume".to_owned());
        let mut ids = Vec::new();
        for _ in 0..12 {
            let (tx, _rx) = mpsc::unbounded_channel();
            let conn = state.open_connection(tx);
            state.client_text(conn, &identify("t", [0, 1], 1), true);
            ids.push(state.session_info(ShardId::ONE).unwrap().id);
            state.close_connection(conn, true);
        }
        let (tx, _rx) = mpsc::unbounded_channel();
        let conn = state.open_connection(tx);
        state.client_text(conn, &identify("t", [0, 1], 1), true);
        let kept: Vec<bool> = ids
            .iter()
            .map(|id| state.sessions.contains_key(id))
            .collect();
        assert_eq!(
            kept.iter().filter(|k| **k).count(),
            super::SESSIONS_KEPT_PER_SHARD
        );
        assert!(
            kept[12 - super::SESSIONS_KEPT_PER_SHARD..]
                .iter()
                .all(|k| *k)
        );
    }
}

//! The fake's model: guilds, users, sessions and connections, and the gateway rules over them.
//!
//! Everything here runs under one mutex and does no I/O. Frames for a client are pushed into its
//! connection's unbounded channel while the lock is held, which is what keeps each session's
//! sequence numbers and the order of its frames the same: the connection task only compresses
//! and writes them.
//!
//! This module holds the model's types; the rules over them are one `impl State` per concern:
//! `connections` (connections opening, closing and being rejected), `client` (what a client
//! sends: heartbeats, IDENTIFY, RESUME), `dispatch` (sequence numbers, replay buffers, which
//! session owns a guild or shard, control calls), `guilds` (guilds, users and who is in
//! voice, and the events their changes dispatch) and `channels` (channels, the `@everyone`
//! role and nicknames changing).

mod channels;
mod client;
mod connections;
mod dispatch;
mod guilds;

use crate::{
    payload::BotIdentity,
    record::{Activity, ConnectionId, Counters, Recorded},
    spec::{ChannelSpec, UserSpec, VoiceFlags},
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
    /// Permission bits of the `@everyone` role.
    everyone_permissions: u64,
    /// Members' nicknames in the guild.
    nicknames: BTreeMap<Id<UserMarker>, String>,
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
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::too_many_lines)]
mod tests;

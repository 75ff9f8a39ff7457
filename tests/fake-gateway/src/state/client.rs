//! What a client sends: heartbeats, IDENTIFY (a new session, READY and the shard's guilds) and
//! RESUME (the missed dispatches replayed), with the close codes Discord uses for mistakes.

use super::{Outgoing, Reply, Session, State, covers};
use crate::{
    payload,
    record::{Activity, ConnectionId},
};
use std::{collections::VecDeque, sync::Arc};
use twilight_model::{
    gateway::ShardId,
    id::{Id, marker::GuildMarker},
};

/// `GUILD_MEMBERS`, `GUILD_PRESENCES` and `MESSAGE_CONTENT`.
const PRIVILEGED_INTENTS: u64 = (1 << 1) | (1 << 8) | (1 << 15);

/// Disconnected sessions of one shard that stay resumable; older ones are forgotten.
pub(super) const SESSIONS_KEPT_PER_SHARD: usize = 8;

fn strip_bot(token: &str) -> &str {
    token.strip_prefix("Bot ").unwrap_or(token)
}

impl State {
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
}

//! Dispatching: each session's sequence numbers and replay buffer, which session owns a guild
//! or a shard, and the control calls tests make on a shard's session.

use super::{Conn, Delivery, Outgoing, SessionInfo, State, covers};
use crate::{error::Error, payload};
use std::sync::Arc;
use twilight_model::{
    gateway::ShardId,
    id::{Id, marker::GuildMarker},
};

impl State {
    /// Assigns the session's next sequence number, keeps the frame for replay and sends it if
    /// the session has a connection.
    pub(super) fn dispatch_to(&mut self, session_id: &str, event: &str, data: &str) -> Delivery {
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
    pub(super) fn dispatch_guild(
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

    /// Sends op 1 to the connection of the session owning `guild`; returns the connection and
    /// the session's last sequence number.
    pub(crate) fn request_heartbeat_for(
        &self,
        guild: Id<GuildMarker>,
    ) -> Result<(crate::record::ConnectionId, u64), Error> {
        let session = self
            .owner_of_guild(guild)
            .and_then(|id| self.sessions.get(&id))
            .ok_or(Error::NoOwner(guild))?;
        let sent = session
            .conn
            .and_then(|c| self.conns.get(&c).map(|conn| (c, conn)))
            .filter(|(_, conn)| {
                conn.tx
                    .send(Outgoing::Frame(payload::heartbeat_request().into()))
                    .is_ok()
            });
        let Some((connection, _)) = sent else {
            return Err(Error::NotConnected(session.shard));
        };
        Ok((connection, session.seq))
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
}

//! What the fake saw: every client frame, connection life cycle, and counters.

use std::time::Instant;
use twilight_model::gateway::ShardId;

/// Identifies one websocket connection for the life of a fake gateway; ids start at 1.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct ConnectionId(pub u64);

/// One thing that happened on a connection, in arrival order.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Position in the record, from 0; use it to wait for something newer than a mark.
    pub index: usize,
    /// The connection it happened on.
    pub connection: ConnectionId,
    /// The shard the connection identified or resumed as, when known.
    pub shard: Option<ShardId>,
    /// When the fake saw it.
    pub at: Instant,
    /// What happened.
    pub activity: Activity,
}

/// What happened on a connection.
#[derive(Clone, Debug, PartialEq)]
pub enum Activity {
    /// The websocket handshake completed.
    Connected {
        /// Request path, `/` or `/resume` for the `resume_gateway_url`.
        path: String,
        /// Request query, such as `v=10&encoding=json&compress=zstd-stream`.
        query: String,
        /// Whether frames to this client are zstd-stream compressed.
        compressed: bool,
    },
    /// The client sent a gateway payload.
    Payload {
        /// Its opcode.
        op: u64,
        /// The whole payload as sent (`op`, `d`, ...), tokens included.
        json: serde_json::Value,
    },
    /// A close frame, from the client or from the fake.
    Closed {
        /// Close code, if the frame had one.
        code: Option<u16>,
        /// Whether the fake sent it (otherwise the client did).
        by_server: bool,
    },
    /// The client sent something the gateway rejects; the fake closed the connection.
    Rejected {
        /// Why, in a few words.
        reason: String,
        /// The close code the fake used.
        code: u16,
    },
    /// The connection ended: after a close handshake, or abruptly.
    Disconnected {
        /// Whether the fake dropped the TCP connection on purpose.
        dropped_by_server: bool,
    },
}

impl Recorded {
    /// The opcode, when this is a client payload.
    #[must_use]
    pub const fn op(&self) -> Option<u64> {
        match &self.activity {
            Activity::Payload { op, .. } => Some(*op),
            _ => None,
        }
    }

    /// The payload, when this is a client payload.
    #[must_use]
    pub const fn json(&self) -> Option<&serde_json::Value> {
        match &self.activity {
            Activity::Payload { json, .. } => Some(json),
            _ => None,
        }
    }
}

/// Running totals since the fake started.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Counters {
    /// Websocket connections accepted.
    pub connections: u64,
    /// TCP connections refused while not accepting.
    pub refused: u64,
    /// Op 2 IDENTIFY received (accepted or not).
    pub identifies: u64,
    /// Sessions created by an accepted IDENTIFY (READY sent).
    pub ready: u64,
    /// Op 6 RESUME received.
    pub resumes: u64,
    /// Resumes that succeeded (RESUMED sent).
    pub resumed: u64,
    /// Op 9 `INVALID_SESSION` sent.
    pub invalid_sessions: u64,
    /// Op 1 HEARTBEAT received.
    pub heartbeats: u64,
    /// Op 11 `HEARTBEAT_ACK` sent.
    pub heartbeat_acks: u64,
    /// Dispatches (op 0) assigned a sequence number, replays not counted again.
    pub dispatches: u64,
    /// Dispatches sent again on resume.
    pub replayed: u64,
    /// Client frames rejected (bad JSON, unknown opcode, ...).
    pub rejected: u64,
    /// Connections that have ended.
    pub disconnections: u64,
}

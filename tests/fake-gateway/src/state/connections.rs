//! Connections opening, closing and being rejected, and what each does to its session.

use super::{Conn, Outgoing, Reply, State};
use crate::record::{Activity, ConnectionId};
use tokio::sync::mpsc::UnboundedSender;

impl State {
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
}

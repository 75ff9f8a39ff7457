//! The network edge: the accept loop and one task per websocket connection.
//!
//! A connection task owns its websocket and its zstd stream. It writes what the model queued for
//! it, hands every client frame to the model, and carries out closes and drops. It never panics
//! on anything a client sends.

use crate::{
    compress::ZstdStream,
    payload,
    record::{Activity, ConnectionId},
    state::{Outgoing, Reply, State},
};
use futures_util::{SinkExt, StreamExt};
use std::{
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
    time::{Instant, sleep_until, timeout},
};
use tokio_websockets::{CloseCode, Error as WsError, Limits, Message, WebSocketStream};

/// Time a client gets to complete the websocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client gets to answer our close frame before the TCP connection is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames written before one flush, so bursts are not flushed frame by frame.
const BATCH: usize = 256;

/// State shared by the handle, the accept loop and the connection tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Bumped after every change a waiter may care about.
    changed: watch::Sender<u64>,
    pub(crate) accepting: AtomicBool,
    pub(crate) ack_heartbeats: AtomicBool,
    pub(crate) shutdown: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn new(state: State) -> Self {
        Self {
            state: Mutex::new(state),
            changed: watch::Sender::new(0),
            accepting: AtomicBool::new(true),
            ack_heartbeats: AtomicBool::new(true),
            shutdown: watch::Sender::new(false),
        }
    }

    /// Runs `f` on the model, then wakes waiters.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let result = f(&mut self.lock());
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
        result
    }

    /// Reads the model without waking waiters.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the model half-updated in a way that matters to a
        // test double; keep serving rather than poison every later call.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// Resolves once shutdown was requested (or the handle is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Accepts connections until shutdown; while not accepting, resets them at once.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            () = stopped(&mut shutdown) => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, _)) if !shared.accepting.load(Ordering::SeqCst) => {
                // The peer sees a reset during its handshake, as with an unreachable gateway.
                shared.with(|state| state.counters.refused += 1);
                let _ = tcp.set_zero_linger();
                drop(tcp);
            }
            Ok((tcp, _)) => {
                tokio::spawn(serve(tcp, Arc::clone(&shared)));
            }
            Err(error) => {
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    tracing::debug!("fake gateway stopped accepting");
}

/// How the connection's request asked for frames.
#[derive(Debug)]
struct Handshake {
    path: String,
    query: String,
    compressed: bool,
    /// A `compress` value the fake does not speak.
    unsupported: bool,
}

fn parse_request(path: &str, query: Option<&str>) -> Handshake {
    let path = path.to_owned();
    let query = query.unwrap_or_default().to_owned();
    let compress = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "compress")
        .map(|(_, value)| value.to_owned());
    Handshake {
        compressed: compress.as_deref() == Some("zstd-stream"),
        unsupported: compress.is_some_and(|c| c != "zstd-stream"),
        path,
        query,
    }
}

/// Why a connection loop ended.
#[derive(Debug, Eq, PartialEq)]
enum End {
    /// The websocket closed (handshake done, or the peer went away).
    Closed,
    /// The fake dropped the TCP connection on purpose.
    Dropped,
}

/// One connection: handshake, HELLO, then frames both ways until it ends.
async fn serve(tcp: TcpStream, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    let builder = tokio_websockets::ServerBuilder::new().limits(Limits::default());
    let (request, mut ws) = match timeout(HANDSHAKE_TIMEOUT, builder.accept(tcp)).await {
        Ok(Ok(accepted)) => accepted,
        Ok(Err(error)) => {
            tracing::debug!(%error, "websocket handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!("websocket handshake timed out");
            return;
        }
    };
    let handshake = parse_request(request.uri().path(), request.uri().query());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = shared.with(|state| {
        let id = state.open_connection(tx);
        state.record(
            id,
            Activity::Connected {
                path: handshake.path.clone(),
                query: handshake.query.clone(),
                compressed: handshake.compressed,
            },
        );
        id
    });
    tracing::debug!(
        connection = id.0,
        compressed = handshake.compressed,
        "client connected"
    );

    let mut conn = Connection {
        id,
        shared: &shared,
        zstd: None,
        close_deadline: None,
    };
    let end = if handshake.unsupported {
        let code = shared.with(|state| {
            state.reject(id, "unsupported transport compression", 4002);
            state.server_closing(id, 4002);
            4002
        });
        conn.close(&mut ws, code).await;
        conn.run(&mut ws, &mut rx).await
    } else {
        match handshake.compressed.then(ZstdStream::new).transpose() {
            Ok(zstd) => {
                conn.zstd = zstd;
                let interval = shared.read(|state| state.options().heartbeat_interval_ms);
                if conn.send(&mut ws, &payload::hello(interval)).await {
                    conn.run(&mut ws, &mut rx).await
                } else {
                    End::Closed
                }
            }
            Err(error) => {
                tracing::warn!(%error, "creating a zstd stream failed");
                End::Closed
            }
        }
    };
    if end == End::Dropped {
        let _ = ws.get_ref().set_zero_linger();
    }
    drop(ws);
    shared.with(|state| state.close_connection(id, end == End::Dropped));
    tracing::debug!(connection = id.0, "client disconnected");
}

/// The per-connection half of the fake.
struct Connection<'a> {
    id: ConnectionId,
    shared: &'a Shared,
    zstd: Option<ZstdStream>,
    /// Set once the fake sent a close frame: the client must answer before it.
    close_deadline: Option<Instant>,
}

type Ws = WebSocketStream<TcpStream>;

impl Connection<'_> {
    async fn run(&mut self, ws: &mut Ws, rx: &mut mpsc::UnboundedReceiver<Outgoing>) -> End {
        let mut shutdown = self.shared.shutdown.subscribe();
        loop {
            let deadline = self.close_deadline;
            tokio::select! {
                outgoing = rx.recv() => match outgoing {
                    Some(outgoing) => {
                        if let Some(end) = self.outgoing(ws, rx, outgoing).await {
                            return end;
                        }
                    }
                    None => return End::Closed,
                },
                message = ws.next() => match message {
                    Some(Ok(message)) => {
                        if let Some(end) = self.incoming(ws, &message).await {
                            return end;
                        }
                    }
                    Some(Err(error)) => {
                        tracing::debug!(connection = self.id.0, %error, "websocket error");
                        // tokio-websockets has already answered with a close frame.
                        let rejected = match error {
                            WsError::Io(_) => None,
                            WsError::PayloadTooLong { .. } => Some(("frame too large", 1009)),
                            _ => Some(("websocket protocol error", 1002)),
                        };
                        if let Some((reason, code)) = rejected {
                            self.shared.with(|state| state.reject(self.id, reason, code));
                        }
                        return End::Closed;
                    }
                    None => return End::Closed,
                },
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    return End::Dropped;
                }
                () = stopped(&mut shutdown), if deadline.is_none() => {
                    self.shared.with(|state| state.server_closing(self.id, 1001));
                    self.close(ws, 1001).await;
                }
            }
        }
    }

    /// Carries out one queued instruction, plus any frames queued behind it.
    async fn outgoing(
        &mut self,
        ws: &mut Ws,
        rx: &mut mpsc::UnboundedReceiver<Outgoing>,
        first: Outgoing,
    ) -> Option<End> {
        let mut next = Some(first);
        let mut fed = 0;
        while let Some(outgoing) = next.take() {
            match outgoing {
                Outgoing::Frame(frame) => {
                    if self.close_deadline.is_some() {
                        // No payloads after our close frame; the session keeps them for replay.
                    } else if !self.feed(ws, &frame).await {
                        return Some(End::Closed);
                    }
                    fed += 1;
                }
                Outgoing::Close(code) => {
                    if self.close_deadline.is_none() {
                        self.shared
                            .with(|state| state.server_closing(self.id, code));
                        self.close(ws, code).await;
                    }
                    return None;
                }
                Outgoing::Drop => return Some(End::Dropped),
            }
            if fed < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if ws.flush().await.is_err() {
            return Some(End::Closed);
        }
        None
    }

    /// Handles one client message; `Some` when the connection is over.
    async fn incoming(&mut self, ws: &mut Ws, message: &Message) -> Option<End> {
        if let Some((code, _)) = message.as_close() {
            let code = u16::from(code);
            let echo = self.close_deadline.is_some();
            self.shared
                .with(|state| state.client_closed(self.id, Some(code), echo));
            // tokio-websockets answers the close frame; the stream then ends.
            return None;
        }
        if message.is_ping() || message.is_pong() {
            return None;
        }
        if self.close_deadline.is_some() {
            return None;
        }
        let reply = match message.as_text() {
            Some(text) => {
                let ack = self.shared.ack_heartbeats.load(Ordering::SeqCst);
                self.shared
                    .with(|state| state.client_text(self.id, text, ack))
            }
            None => self.shared.with(|state| {
                // Discord takes binary frames only for ETF, which the fake does not speak.
                state.reject(self.id, "binary frame", 4002)
            }),
        };
        match reply {
            Reply::None => None,
            Reply::Send(text) => {
                if self.send(ws, &text).await {
                    None
                } else {
                    Some(End::Closed)
                }
            }
            Reply::Close(code) => {
                self.shared
                    .with(|state| state.server_closing(self.id, code));
                self.close(ws, code).await;
                None
            }
        }
    }

    /// Encodes one payload and queues it on the websocket without flushing.
    async fn feed(&mut self, ws: &mut Ws, text: &str) -> bool {
        let message = match &mut self.zstd {
            Some(zstd) => match zstd.compress(text.as_bytes()) {
                Ok(bytes) => Message::binary(bytes),
                Err(error) => {
                    tracing::warn!(connection = self.id.0, %error, "compressing a payload failed");
                    return false;
                }
            },
            None => Message::text(text.to_owned()),
        };
        ws.feed(message).await.is_ok()
    }

    async fn send(&mut self, ws: &mut Ws, text: &str) -> bool {
        self.feed(ws, text).await && ws.flush().await.is_ok()
    }

    /// Sends a close frame and starts waiting for the client's answer.
    async fn close(&mut self, ws: &mut Ws, code: u16) {
        let frame = CloseCode::try_from(code)
            .ok()
            .filter(|code| !code.is_reserved())
            .map_or_else(
                || Message::close(None, ""),
                |code| Message::close(Some(code), ""),
            );
        let _ = ws.send(frame).await;
        self.close_deadline = Some(Instant::now() + CLOSE_TIMEOUT);
    }
}

//! A fault-injecting TCP proxy on 127.0.0.1 (port 0) in front of the local DynamoDB server.
//!
//! The sidecar talks to the proxy; the test decides what the proxy does with connections:
//! - [`Mode::Pass`]: forward both ways;
//! - [`Mode::Refuse`]: close new connections at once, and cut open ones ("unreachable");
//! - [`Mode::Stall`]: accept and never answer, and stop forwarding on open ones (a store that
//!   hangs: the client's timeouts must fire);
//! - [`Mode::Latency`]: forward, but hold every chunk from the client for a while first (a
//!   slow store).
//!
//! The server behind it keeps its data throughout, so a test can check afterwards, directly,
//! that nothing was lost.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Refuse,
    Stall,
    Latency(Duration),
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    accepted: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy in front of `upstream` (an `http://host:port` URL or `host:port`), passing.
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, _) = watch::channel(Mode::Pass);
        let mode = Arc::new(mode);
        let accepted = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            Arc::clone(&mode),
            Arc::clone(&accepted),
        ));
        Self {
            addr,
            mode,
            accepted,
            task,
        }
    }

    /// A proxy in front of the local DynamoDB server of this test run.
    pub async fn in_front_of_dynamodb() -> Self {
        Self::start(&crate::dynamo::endpoint()).await
    }

    /// `http://127.0.0.1:PORT`: the endpoint to give the client.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn pass(&self) {
        self.set(Mode::Pass);
    }

    pub fn refuse(&self) {
        self.set(Mode::Refuse);
    }

    pub fn stall(&self) {
        self.set(Mode::Stall);
    }

    pub fn latency(&self, delay: Duration) {
        self.set(Mode::Latency(delay));
    }

    /// Connections accepted so far.
    #[must_use]
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: String,
    mode: Arc<watch::Sender<Mode>>,
    accepted: Arc<AtomicU64>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        accepted.fetch_add(1, Ordering::SeqCst);
        let mode = mode.subscribe();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let _ = Box::pin(handle(client, &upstream, mode)).await;
        });
    }
}

async fn handle(
    mut client: TcpStream,
    upstream: &str,
    mut mode: watch::Receiver<Mode>,
) -> std::io::Result<()> {
    let current = *mode.borrow_and_update();
    match current {
        Mode::Refuse => return Ok(()),
        Mode::Stall => {
            // Hold the connection, unanswered, until the mode changes or the client gives up.
            let mut sink = [0u8; 4096];
            loop {
                tokio::select! {
                    changed = mode.changed() => {
                        let now = *mode.borrow();
                        if changed.is_err() || now != Mode::Stall {
                            return Ok(());
                        }
                    }
                    read = client.read(&mut sink) => {
                        if read? == 0 {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Mode::Pass | Mode::Latency(_) => {}
    }
    let mut server = TcpStream::connect(upstream).await?;
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let mut up = [0u8; 16 * 1024];
    let mut down = [0u8; 16 * 1024];
    loop {
        tokio::select! {
            changed = mode.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let now = *mode.borrow();
                match now {
                    Mode::Refuse => return Ok(()),
                    Mode::Stall => {
                        // Stop forwarding; the client's own timeout ends this.
                        let mut sink = [0u8; 4096];
                        while client_read.read(&mut sink).await? > 0 {}
                        return Ok(());
                    }
                    Mode::Pass | Mode::Latency(_) => {}
                }
            }
            read = client_read.read(&mut up) => {
                let n = read?;
                if n == 0 {
                    server_write.shutdown().await?;
                    // Finish forwarding the answer.
                    loop {
                        let n = server_read.read(&mut down).await?;
                        if n == 0 {
                            return Ok(());
                        }
                        client_write.write_all(&down[..n]).await?;
                    }
                }
                let now = *mode.borrow();
                if let Mode::Latency(delay) = now {
                    tokio::time::sleep(delay).await;
                }
                server_write.write_all(&up[..n]).await?;
            }
            read = server_read.read(&mut down) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                client_write.write_all(&down[..n]).await?;
            }
        }
    }
}

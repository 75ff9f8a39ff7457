//! A fault-injecting proxy on 127.0.0.1 (port 0) in front of the local DynamoDB server.
//!
//! It reads HTTP/1.1 requests (the SDK sends each with a `content-length` and may reuse a
//! connection) and, request by request, does what the test decides:
//! - [`Mode::Pass`]: forward it and its answer;
//! - [`Mode::Refuse`]: close new connections at once, and cut open ones ("unreachable");
//! - [`Mode::Stall`]: accept and never answer, and stop forwarding on open ones (a store that
//!   hangs: the client's timeouts must fire);
//! - [`Mode::Latency`]: forward, but hold every request for a while first (a slow store);
//! - [`Mode::Errors`]: hold every request for a while, then answer a share of them, instead
//!   of forwarding, with one of DynamoDB's own error answers ([`Injected`]), as the AWS JSON
//!   1.0 protocol sends them (`__type` in the JSON body and the `x-amzn-ErrorType` header);
//!   the request never reaches the server, so a retry is safe, as with the real service.
//!
//! The server behind it keeps its data throughout, so a test can check afterwards, directly,
//! that nothing was lost.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Refuse,
    Stall,
    Latency(Duration),
    Errors(ErrorPlan),
}

/// Error answers for a share of requests, and a delay for every request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorPlan {
    /// Out of every 1,000 requests, about how many get an error answer (1,000: all).
    pub per_mille: u64,
    /// How long every request is held first.
    pub delay: Duration,
    /// Only this error, or (`None`) a mix of all of them.
    pub kind: Option<Injected>,
}

/// The error answers the proxy gives, as DynamoDB gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injected {
    /// HTTP 400 `ProvisionedThroughputExceededException`.
    Throughput,
    /// HTTP 400 `ThrottlingException`.
    Throttling,
    /// HTTP 500 `InternalServerError`.
    Internal,
    /// HTTP 400 `TransactionCanceledException` with `CancellationReasons` (one per item)
    /// mixing `ThrottlingError`, `TransactionConflict` and `None`; only for
    /// `TransactWriteItems` (in a mix, other requests get `ThrottlingException` instead; as
    /// the only kind, they go through).
    Cancelled,
}

impl Injected {
    pub const ALL: [Self; 4] = [
        Self::Throughput,
        Self::Throttling,
        Self::Internal,
        Self::Cancelled,
    ];

    /// The status line, the error code and the JSON body answering a request to `target`
    /// (the `x-amz-target` operation) whose body is `body`.
    #[must_use]
    pub fn answer(self, target: &str, body: &[u8], pick: u64) -> (&'static str, String, String) {
        const NS: &str = "com.amazonaws.dynamodb.v20120810";
        let (status, code, namespace, message) = match self {
            Self::Throughput => (
                "400 Bad Request",
                "ProvisionedThroughputExceededException",
                NS,
                "The level of configured provisioned throughput for the table was exceeded.",
            ),
            Self::Throttling => (
                "400 Bad Request",
                "ThrottlingException",
                "com.amazon.coral.availability",
                "Rate of requests exceeds the allowed throughput.",
            ),
            Self::Internal => (
                "500 Internal Server Error",
                "InternalServerError",
                NS,
                "Internal server error",
            ),
            Self::Cancelled => {
                if !target.ends_with(".TransactWriteItems") {
                    return Self::Throttling.answer(target, body, pick);
                }
                let items = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
                    .unwrap_or(1)
                    .max(1);
                let reasons: Vec<serde_json::Value> = (0..items)
                    .map(|i| {
                        // One item always failed transiently; the others at random.
                        let roll = if i == (pick as usize) % items { pick % 2 } else { (pick >> (i % 32)) % 3 };
                        match roll {
                            0 => serde_json::json!({"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity of your table or index."}),
                            1 => serde_json::json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}),
                            _ => serde_json::json!({"Code": "None"}),
                        }
                    })
                    .collect();
                let codes: Vec<&str> = reasons
                    .iter()
                    .map(|r| r["Code"].as_str().unwrap_or("None"))
                    .collect();
                let body = serde_json::json!({
                    "__type": format!("{NS}#TransactionCanceledException"),
                    "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
                    "CancellationReasons": reasons,
                });
                return (
                    "400 Bad Request",
                    "TransactionCanceledException".to_owned(),
                    body.to_string(),
                );
            }
        };
        let body = serde_json::json!({"__type": format!("{namespace}#{code}"), "message": message});
        (status, code.to_owned(), body.to_string())
    }
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    counts: Arc<Counts>,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Counts {
    accepted: AtomicU64,
    requests: AtomicU64,
    injected: [AtomicU64; 4],
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
        let counts = Arc::new(Counts::default());
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            Arc::clone(&mode),
            Arc::clone(&counts),
        ));
        Self {
            addr,
            mode,
            counts,
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

    /// Error answers for about `per_mille` of every 1,000 requests, every request held for
    /// `delay` first.
    pub fn errors(&self, per_mille: u64, delay: Duration) {
        self.set(Mode::Errors(ErrorPlan {
            per_mille,
            delay,
            kind: None,
        }));
    }

    /// Connections accepted so far.
    #[must_use]
    pub fn accepted(&self) -> u64 {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    /// Error answers given so far, by kind (in the order of [`Injected::ALL`]).
    #[must_use]
    pub fn injected(&self) -> [u64; 4] {
        std::array::from_fn(|i| self.counts.injected[i].load(Ordering::SeqCst))
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: String,
    mode: Arc<watch::Sender<Mode>>,
    counts: Arc<Counts>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        counts.accepted.fetch_add(1, Ordering::SeqCst);
        let mode = mode.subscribe();
        let upstream = upstream.clone();
        let counts = Arc::clone(&counts);
        tokio::spawn(async move {
            let _ = Box::pin(handle(client, &upstream, mode, &counts)).await;
        });
    }
}

/// How waiting for something ended.
enum Waited<T> {
    Done(T),
    Refused,
    Stalled,
}

/// Runs `fut` unless the mode turns to refusing or stalling first.
async fn unless_cut<T>(
    mode: &mut watch::Receiver<Mode>,
    fut: impl Future<Output = std::io::Result<T>>,
) -> std::io::Result<Waited<T>> {
    tokio::pin!(fut);
    loop {
        tokio::select! {
            done = &mut fut => return done.map(Waited::Done),
            changed = mode.changed() => {
                if changed.is_err() {
                    return Ok(Waited::Refused);
                }
                match *mode.borrow() {
                    Mode::Refuse => return Ok(Waited::Refused),
                    Mode::Stall => return Ok(Waited::Stalled),
                    _ => {}
                }
            }
        }
    }
}

/// Holds a connection, unanswered, until the mode changes or the client gives up.
async fn stall(
    client: &mut (impl AsyncBufRead + Unpin),
    mode: &mut watch::Receiver<Mode>,
) -> std::io::Result<()> {
    let mut sink = [0u8; 4096];
    loop {
        tokio::select! {
            changed = mode.changed() => {
                if changed.is_err() || *mode.borrow() != Mode::Stall {
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

/// One HTTP/1.1 message read off a connection: its bytes as sent, and what the proxy needs.
struct Message {
    raw: Vec<u8>,
    body_start: usize,
    target: String,
    /// The sender closes the connection after it (no length given, or `connection: close`).
    closes: bool,
}

/// Reads one message (head, then a `content-length` or chunked body, or everything until the
/// connection closes when neither is given and `to_eof` says so); `None` at a clean end.
async fn read_message(
    r: &mut (impl AsyncBufRead + Unpin),
    to_eof: bool,
) -> std::io::Result<Option<Message>> {
    let mut raw = Vec::new();
    let (mut length, mut chunked, mut closes, mut target) = (None, false, false, String::new());
    loop {
        let start = raw.len();
        if r.read_until(b'\n', &mut raw).await? == 0 {
            return if raw.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        let line = String::from_utf8_lossy(&raw[start..]).trim().to_owned();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            match name.as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => closes = value.eq_ignore_ascii_case("close"),
                "x-amz-target" => value.clone_into(&mut target),
                _ => {}
            }
        }
    }
    let body_start = raw.len();
    if let Some(n) = length {
        let at = raw.len();
        raw.resize(at + n, 0);
        r.read_exact(&mut raw[at..]).await?;
    } else if chunked {
        loop {
            let start = raw.len();
            r.read_until(b'\n', &mut raw).await?;
            let size = String::from_utf8_lossy(&raw[start..]);
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
            let at = raw.len();
            raw.resize(at + size + 2, 0);
            r.read_exact(&mut raw[at..]).await?;
            if size == 0 {
                break;
            }
        }
    } else if to_eof {
        r.read_to_end(&mut raw).await?;
        closes = true;
    }
    Ok(Some(Message {
        raw,
        body_start,
        target,
        closes,
    }))
}

/// A number from the request count: which requests fail, and how.
fn spread(n: u64) -> u64 {
    let mut x = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

async fn handle(
    client: TcpStream,
    upstream: &str,
    mut mode: watch::Receiver<Mode>,
    counts: &Counts,
) -> std::io::Result<()> {
    if *mode.borrow_and_update() == Mode::Refuse {
        return Ok(());
    }
    let (client_read, mut client_write) = client.into_split();
    let mut client_read = BufReader::new(client_read);
    let mut server: Option<(
        BufReader<tokio::net::tcp::OwnedReadHalf>,
        tokio::net::tcp::OwnedWriteHalf,
    )> = None;
    loop {
        if *mode.borrow() == Mode::Stall {
            return stall(&mut client_read, &mut mode).await;
        }
        let request = match unless_cut(&mut mode, read_message(&mut client_read, false)).await? {
            Waited::Done(Some(request)) => request,
            Waited::Done(None) | Waited::Refused => return Ok(()),
            Waited::Stalled => return stall(&mut client_read, &mut mode).await,
        };
        let n = counts.requests.fetch_add(1, Ordering::SeqCst);
        let current = *mode.borrow();
        match current {
            Mode::Refuse => return Ok(()),
            Mode::Stall => return stall(&mut client_read, &mut mode).await,
            Mode::Latency(delay) => tokio::time::sleep(delay).await,
            Mode::Errors(plan) => {
                tokio::time::sleep(plan.delay).await;
                let roll = spread(n);
                // Cancelled transactions alone: other requests go through.
                let spared = plan.kind == Some(Injected::Cancelled)
                    && !request.target.ends_with(".TransactWriteItems");
                if roll % 1000 < plan.per_mille && !spared {
                    let index = plan
                        .kind
                        .and_then(|k| Injected::ALL.iter().position(|a| *a == k))
                        .unwrap_or(((roll / 1000) % 4) as usize);
                    let kind = Injected::ALL[index];
                    let (status, code, body) = kind.answer(
                        &request.target,
                        &request.raw[request.body_start..],
                        roll >> 12,
                    );
                    counts.injected[index].fetch_add(1, Ordering::SeqCst);
                    let answer = format!(
                        "HTTP/1.1 {status}\r\nx-amzn-requestid: injected-{n}\r\nx-amzn-errortype: {code}\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    client_write.write_all(answer.as_bytes()).await?;
                    continue;
                }
            }
            Mode::Pass => {}
        }
        if server.is_none() {
            let (read, write) = TcpStream::connect(upstream).await?.into_split();
            server = Some((BufReader::new(read), write));
        }
        let (server_read, server_write) = server.as_mut().expect("connected");
        server_write.write_all(&request.raw).await?;
        let answer = match unless_cut(&mut mode, read_message(server_read, true)).await? {
            Waited::Done(Some(answer)) => answer,
            Waited::Done(None) | Waited::Refused => return Ok(()),
            Waited::Stalled => return stall(&mut client_read, &mut mode).await,
        };
        client_write.write_all(&answer.raw).await?;
        if answer.closes {
            server = None;
        }
        if request.closes {
            return Ok(());
        }
    }
}

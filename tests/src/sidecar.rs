//! Running the gateway sidecar in tests: in-process with a manual clock ([`spawn_in_process`],
//! for the tracking tests), or as the real program in a child process ([`spawn_process`], for
//! restarts, crashes and signals), always against a fake gateway and the local DynamoDB server.
//!
//! Both give a [`Sidecar`] that reads the same Prometheus metrics the program serves, which is
//! how a test knows that the sidecar has handled an event (`callstats_gateway_sequence`), that
//! every write reached the store (`callstats_spool_depth`), and that a shard is in sync.
//!
//! The child process reads its clock from a file ([`ProcessClock`]) so that the program's
//! durations are exact to the second as well. The program is `target/debug/callstats-sidecar`,
//! built by `scripts/test` (`cargo build --workspace --bins`) before the tests run.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use callstats_core::{ChannelId, GuildId, Timestamp, UserId};
use callstats_fake_gateway::{Delivery, FakeGateway, VoiceFlags, shard_of};
use callstats_sidecar::config::{GuildAllowList, Task};
use callstats_sidecar::{
    Backoff, Config, LogFormat, ManualClock, Metrics, RunError, Seams, ShardPlan, Token,
    WriterOptions,
};
use callstats_store::Store;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Samples of the metrics text, read with the development kit's parser (as the benchmarks
/// read them).
pub use callstats_devkit::prometheus::{sample_of, samples_of};

/// Generous bound on any wait: the sidecar answers in milliseconds, the store in tens.
pub const WAIT: Duration = Duration::from_secs(30);
/// Bound on waiting for every write to reach the store. The local server copies the whole
/// table for each item of a transaction, so a test that fills a table with hundreds of
/// sessions needs minutes on a busy machine; this only bounds a hang.
pub const WAIT_IDLE: Duration = Duration::from_mins(5);

static DIRS: AtomicU32 = AtomicU32::new(0);

/// A state directory of its own, removed when dropped.
#[derive(Debug)]
pub struct StateDir(PathBuf);

impl StateDir {
    #[must_use]
    pub fn new() -> Self {
        let n = DIRS.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "callstats-sidecar-test-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create a state directory");
        Self(path)
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Default for StateDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How to run the sidecar. The defaults suit tests: one shard, a heartbeat every second, fast
/// retries.
#[derive(Clone, Debug)]
pub struct Options {
    pub token: String,
    pub heartbeat_secs: u64,
    pub max_gap_secs: u64,
    pub shards: ShardPlan,
    pub identify_concurrency: u16,
    pub writer: WriterOptions,
    pub first_nonce: u32,
    /// Talk to the store here instead of the local server (a fault-injecting proxy).
    pub store_endpoint: Option<String>,
    /// The servers tracked (`CALLSTATS_GUILDS`), in process.
    pub guilds: GuildAllowList,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            token: "test-token".to_owned(),
            heartbeat_secs: 1,
            max_gap_secs: 300,
            shards: ShardPlan::Recommended,
            identify_concurrency: 16,
            writer: WriterOptions {
                backoff: Backoff {
                    first: Duration::from_millis(50),
                    max: Duration::from_secs(1),
                },
                ..WriterOptions::default()
            },
            first_nonce: 1,
            store_endpoint: None,
            guilds: GuildAllowList::everyone(),
        }
    }
}

enum Kind {
    InProcess {
        metrics: Arc<Metrics>,
        stop: Option<oneshot::Sender<()>>,
        task: Option<JoinHandle<Result<(), RunError>>>,
    },
    Process {
        child: Child,
        stdout: Arc<Mutex<Vec<String>>>,
        stderr: Arc<Mutex<Vec<String>>>,
    },
}

/// A running sidecar.
pub struct Sidecar {
    kind: Kind,
    http: Option<SocketAddr>,
}

impl std::fmt::Debug for Sidecar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::InProcess { .. } => "in process",
            Kind::Process { .. } => "process",
        };
        f.debug_struct("Sidecar")
            .field("kind", &kind)
            .field("http", &self.http)
            .finish()
    }
}

/// Runs the sidecar library in this process, reading `clock`, against `gateway_url`.
pub async fn spawn_in_process(
    store: &Store,
    gateway_url: &str,
    clock: &ManualClock,
    state_dir: &Path,
    options: &Options,
) -> Sidecar {
    let store = match &options.store_endpoint {
        Some(endpoint) => {
            Store::connect_with_endpoint(store.table().clone(), test_timeouts(), endpoint).await
        }
        None => store.clone(),
    };
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("bind the http endpoint");
    let http = listener.local_addr().expect("http address");
    let config = Config {
        token: Token::new(&options.token).expect("a valid token"),
        table: store.table().clone(),
        gateway_url: Some(gateway_url.trim_end_matches('/').to_owned()),
        shards: options.shards,
        task: Task::default(),
        guilds: options.guilds.clone(),
        identify_concurrency: Some(options.identify_concurrency),
        state_dir: state_dir.to_owned(),
        heartbeat: Duration::from_secs(options.heartbeat_secs),
        max_gap_secs: options.max_gap_secs,
        http_listen: http,
        log_format: LogFormat::Text,
        cloudwatch: None,
        clock_file: None,
    };
    let metrics = Arc::new(Metrics::default());
    let seams = Seams {
        store,
        clock: Arc::new(clock.clone()),
        metrics: Arc::clone(&metrics),
        first_nonce: options.first_nonce,
        http: Some(listener),
        writer: options.writer,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(callstats_sidecar::run(config, seams, async move {
        let _ = stopped.await;
    }));
    Sidecar {
        kind: Kind::InProcess {
            metrics,
            stop: Some(stop),
            task: Some(task),
        },
        http: Some(http),
    }
}

/// Store timeouts short enough that a stalled store is noticed quickly in tests.
#[must_use]
pub fn test_timeouts() -> callstats_store::Timeouts {
    callstats_store::Timeouts {
        connect: Duration::from_secs(1),
        attempt: Duration::from_secs(2),
        operation: Duration::from_secs(5),
    }
}

/// The clock of a sidecar process: a file holding the Unix second, replaced atomically.
#[derive(Debug)]
pub struct ProcessClock {
    path: PathBuf,
    now: Mutex<Timestamp>,
}

impl ProcessClock {
    /// A clock file in `dir`, set to `at`.
    #[must_use]
    pub fn new(dir: &Path, at: Timestamp) -> Self {
        let clock = Self {
            path: dir.join("clock"),
            now: Mutex::new(at),
        };
        clock.set(at);
        clock
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn set(&self, at: Timestamp) {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, at.unix().to_string()).expect("write the clock file");
        std::fs::rename(&tmp, &self.path).expect("replace the clock file");
        *self.now.lock().expect("clock lock") = at;
    }

    #[must_use]
    pub fn now(&self) -> Timestamp {
        *self.now.lock().expect("clock lock")
    }

    /// Moves the time on and returns it.
    pub fn advance(&self, secs: u64) -> Timestamp {
        let at = self.now().plus(secs);
        self.set(at);
        at
    }
}

/// The sidecar program, built by `scripts/test` next to the test executables.
#[must_use]
pub fn program() -> PathBuf {
    crate::program("callstats-sidecar")
}

/// Starts the sidecar program with the test's table, gateway, clock file and state directory.
/// `extra` adds or overrides environment variables (an empty value unsets one).
pub async fn spawn_process(
    table: &str,
    gateway_url: &str,
    clock: &ProcessClock,
    state_dir: &Path,
    options: &Options,
    extra: &[(&str, &str)],
) -> Sidecar {
    let mut command = program_command();
    let heartbeat = options.heartbeat_secs.to_string();
    let max_gap = options.max_gap_secs.to_string();
    let concurrency = options.identify_concurrency.to_string();
    let shards = match options.shards {
        ShardPlan::Recommended => String::new(),
        ShardPlan::Count(n) => n.to_string(),
        ShardPlan::Range { first, last, total } => format!("{first}-{last}/{total}"),
    };
    let endpoint = options
        .store_endpoint
        .clone()
        .unwrap_or_else(crate::dynamo::endpoint);
    let vars: Vec<(&str, &str)> = vec![
        ("DISCORD_TOKEN", &options.token),
        ("CALLSTATS_TABLE", table),
        ("CALLSTATS_GATEWAY_URL", gateway_url),
        ("CALLSTATS_SHARDS", &shards),
        ("CALLSTATS_IDENTIFY_CONCURRENCY", &concurrency),
        (
            "CALLSTATS_STATE_DIR",
            state_dir.to_str().expect("utf-8 path"),
        ),
        ("CALLSTATS_HEARTBEAT_SECS", &heartbeat),
        ("CALLSTATS_MAX_GAP_SECS", &max_gap),
        ("CALLSTATS_HTTP_LISTEN", "127.0.0.1:0"),
        ("CALLSTATS_LOG_FORMAT", "json"),
        (
            "CALLSTATS_CLOCK_FILE",
            clock.path().to_str().expect("utf-8 path"),
        ),
        ("AWS_ENDPOINT_URL_DYNAMODB", &endpoint),
        ("RUST_LOG", "info,callstats_sidecar=debug"),
    ];
    for (name, value) in vars.into_iter().chain(extra.iter().copied()) {
        if value.is_empty() {
            command.env_remove(name);
        } else {
            command.env(name, value);
        }
    }
    let mut sidecar = start_child(command);
    sidecar.http = Some(sidecar.wait_for_http().await);
    sidecar
}

/// The program with a clean environment: only what the AWS SDK and the OS need.
#[must_use]
pub fn program_command() -> Command {
    let mut command = Command::new(program());
    command.env_clear();
    for keep in [
        "PATH",
        "HOME",
        "TMPDIR",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_REGION",
        "AWS_ENDPOINT_URL_DYNAMODB",
    ] {
        if let Ok(value) = std::env::var(keep) {
            command.env(keep, value);
        }
    }
    command
}

fn start_child(mut command: Command) -> Sidecar {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("start the sidecar program");
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let stderr = Arc::new(Mutex::new(Vec::new()));
    if let Some(out) = child.stdout.take() {
        tokio::spawn(collect_lines(out, Arc::clone(&stdout), false));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(collect_lines(err, Arc::clone(&stderr), true));
    }
    Sidecar {
        kind: Kind::Process {
            child,
            stdout,
            stderr,
        },
        http: None,
    }
}

async fn collect_lines(
    stream: impl tokio::io::AsyncRead + Unpin,
    into: Arc<Mutex<Vec<String>>>,
    echo: bool,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if echo || std::env::var_os("CALLSTATS_TEST_ECHO").is_some() {
            eprintln!("sidecar: {line}");
        }
        into.lock().expect("log lock").push(line);
    }
}

/// What a finished program left.
#[derive(Debug)]
pub struct Exit {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

/// Runs the program to its end with exactly these environment variables (plus the OS and AWS
/// basics), for configuration errors.
pub async fn run_program(vars: &[(&str, &str)], args: &[&str]) -> Exit {
    let mut command = program_command();
    command.args(args);
    for (name, value) in vars {
        command.env(name, value);
    }
    let mut sidecar = start_child(command);
    sidecar.wait_exit(WAIT).await
}

impl Sidecar {
    /// The `/healthz` and `/metrics` address.
    #[must_use]
    pub fn http(&self) -> SocketAddr {
        self.http.expect("the sidecar serves http")
    }

    async fn wait_for_http(&self) -> SocketAddr {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(addr) = self.log_lines().iter().find_map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).ok()?;
                (v["fields"]["message"] == "serving /healthz and /metrics")
                    .then(|| v["fields"]["addr"].as_str()?.parse().ok())
                    .flatten()
            }) {
                return addr;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the sidecar did not start serving http; stderr: {:?}",
                self.stderr_lines()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Lines the program printed on stdout (JSON log lines).
    #[must_use]
    pub fn log_lines(&self) -> Vec<String> {
        match &self.kind {
            Kind::Process { stdout, .. } => stdout.lock().expect("log lock").clone(),
            Kind::InProcess { .. } => Vec::new(),
        }
    }

    /// Lines the program printed on stderr.
    #[must_use]
    pub fn stderr_lines(&self) -> Vec<String> {
        match &self.kind {
            Kind::Process { stderr, .. } => stderr.lock().expect("log lock").clone(),
            Kind::InProcess { .. } => Vec::new(),
        }
    }

    /// The metrics, as the program serves them.
    pub async fn metrics_text(&self) -> String {
        match &self.kind {
            Kind::InProcess { metrics, .. } => metrics.render(SystemTime::now()),
            Kind::Process { .. } => {
                let (status, body) = self.get("/metrics").await;
                assert_eq!(status, 200, "{body}");
                body
            }
        }
    }

    /// One sample: `name` with its labels, e.g. `callstats_gateway_sequence{shard="0"}`.
    pub async fn metric(&self, sample: &str) -> Option<f64> {
        let text = self.metrics_text().await;
        sample_of(&text, sample)
    }

    /// `GET path` on the http endpoint: status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.http(), path).await
    }

    /// Waits until `done` holds for the metrics text.
    pub async fn wait_metrics(&self, what: &str, done: impl FnMut(&str) -> bool) {
        self.wait_metrics_for(what, WAIT, done).await;
    }

    /// Waits at most `timeout` until `done` holds for the metrics text.
    pub async fn wait_metrics_for(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let text = self.metrics_text().await;
            if done(&text) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; metrics:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until shard `shard` has handled the dispatch with sequence `seq`.
    pub async fn wait_sequence(&self, shard: u32, seq: u64) {
        let sample = format!("callstats_gateway_sequence{{shard=\"{shard}\"}}");
        self.wait_metrics(&format!("shard {shard} to handle dispatch {seq}"), |text| {
            sample_of(text, &sample).is_some_and(|s| s >= seq as f64)
        })
        .await;
    }

    /// Waits until the sidecar says shard `shard` is connected to the gateway.
    pub async fn wait_shard_connected(&self, shard: u32) {
        self.wait_shard_connection(shard, "the shard to connect", 1.0)
            .await;
    }

    /// Waits until the sidecar has noticed that shard `shard` lost its gateway connection.
    pub async fn wait_shard_disconnected(&self, shard: u32) {
        self.wait_shard_connection(shard, "the shard to notice", 0.0)
            .await;
    }

    async fn wait_shard_connection(&self, shard: u32, what: &str, connected: f64) {
        let sample = format!("callstats_shard_connected{{shard=\"{shard}\"}}");
        self.wait_metrics(what, |text| sample_of(text, &sample) == Some(connected))
            .await;
    }

    /// Waits until every shard is connected and knows all its guilds.
    pub async fn wait_settled(&self) {
        self.wait_metrics("every shard to settle", |text| {
            let settled: Vec<f64> = samples_of(text, "callstats_shard_settled");
            !settled.is_empty() && settled.iter().all(|v| *v > 0.5)
        })
        .await;
    }

    /// Waits until every write handed over so far is in the store.
    pub async fn wait_idle(&self) {
        self.wait_metrics_for("every write to reach the store", WAIT_IDLE, |text| {
            sample_of(text, "callstats_spool_depth") == Some(0.0)
                && sample_of(text, "callstats_writes_handed_total")
                    == sample_of(text, "callstats_writes_submitted_total")
        })
        .await;
    }

    /// Scripts a voice change on the fake gateway and waits until the sidecar has handled it.
    pub async fn voice(
        &self,
        fake: &FakeGateway,
        guild: GuildId,
        user: UserId,
        channel: Option<ChannelId>,
        flags: VoiceFlags,
    ) {
        let delivery = fake
            .voice_update(guild, user, channel, flags)
            .expect("script a voice change");
        self.wait_delivered(guild, &delivery).await;
    }

    /// `user` joins (or moves to) `channel` with no voice flag set; waits as [`Self::voice`].
    pub async fn join(&self, fake: &FakeGateway, guild: GuildId, user: UserId, channel: ChannelId) {
        self.voice(fake, guild, user, Some(channel), VoiceFlags::default())
            .await;
    }

    /// `user` leaves voice in `guild`; waits as [`Self::voice`].
    pub async fn leave(&self, fake: &FakeGateway, guild: GuildId, user: UserId) {
        self.voice(fake, guild, user, None, VoiceFlags::default())
            .await;
    }

    /// Waits until the sidecar has handled a dispatch the fake sent.
    pub async fn wait_delivered(&self, guild: GuildId, delivery: &Delivery) {
        match delivery {
            Delivery::Sent { seq, .. } => {
                let total = self.shard_total().await;
                self.wait_sequence(shard_of(guild, total), *seq).await;
            }
            Delivery::Unchanged => {}
            other => panic!("the fake did not deliver the event: {other:?}"),
        }
    }

    async fn shard_total(&self) -> u32 {
        let text = self.metrics_text().await;
        samples_of(&text, "callstats_shard_total")
            .first()
            .map_or(1, |total| *total as u32)
            .max(1)
    }

    /// Stops the sidecar as an operator would (SIGTERM for the program) and waits for its end.
    pub async fn stop(self) -> Exit {
        self.stop_within(WAIT).await
    }

    /// Stops the sidecar (SIGTERM) and requires it to end within `timeout`.
    pub async fn stop_within(mut self, timeout: Duration) -> Exit {
        match &mut self.kind {
            Kind::InProcess { stop, .. } => {
                if let Some(stop) = stop.take() {
                    let _ = stop.send(());
                }
            }
            Kind::Process { child, .. } => signal(child, "TERM"),
        }
        self.wait_exit(timeout).await
    }

    /// Kills the program at once (SIGKILL): a crash.
    pub async fn kill(mut self) -> Exit {
        match &mut self.kind {
            Kind::Process { child, .. } => {
                let _ = child.start_kill();
            }
            Kind::InProcess { task, .. } => {
                if let Some(task) = task.as_ref() {
                    task.abort();
                }
            }
        }
        self.wait_exit(WAIT).await
    }

    /// Waits for the sidecar to end by itself.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Exit {
        match &mut self.kind {
            Kind::Process {
                child,
                stdout,
                stderr,
            } => {
                let status = tokio::time::timeout(timeout, child.wait())
                    .await
                    .expect("the sidecar program did not exit in time")
                    .expect("wait for the sidecar program");
                // Let the readers drain the pipes.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Exit {
                    status,
                    stdout: stdout.lock().expect("log lock").clone(),
                    stderr: stderr.lock().expect("log lock").clone(),
                }
            }
            Kind::InProcess { task, .. } => {
                let result = match task.take() {
                    Some(task) => tokio::time::timeout(timeout, task)
                        .await
                        .expect("the sidecar did not stop in time"),
                    None => Ok(Ok(())),
                };
                let (code, message) = match result {
                    Ok(Ok(())) => (0, String::new()),
                    Ok(Err(err)) => (1, err.to_string()),
                    Err(err) => (if err.is_cancelled() { 9 } else { 101 }, err.to_string()),
                };
                Exit {
                    status: exit_status(code),
                    stdout: Vec::new(),
                    stderr: vec![message],
                }
            }
        }
    }

    /// The in-process run's outcome, waiting at most `timeout` for it to end by itself.
    pub async fn result(&mut self, timeout: Duration) -> Result<(), RunError> {
        let Kind::InProcess { task, .. } = &mut self.kind else {
            panic!("only for an in-process sidecar");
        };
        let task = task.take().expect("the result is taken once");
        tokio::time::timeout(timeout, task)
            .await
            .expect("the sidecar did not end in time")
            .expect("the sidecar task panicked")
    }
}

fn signal(child: &Child, name: &str) {
    let pid = child.id().expect("the sidecar is running");
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

#[cfg(unix)]
fn exit_status(code: i32) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    ExitStatus::from_raw(code << 8)
}

/// A plain HTTP/1.1 GET: status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr)
        .await
        .expect("connect to the sidecar");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("read the response");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

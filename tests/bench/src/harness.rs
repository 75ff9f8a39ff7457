//! What every benchmark shares: the local server, fresh tables, the release programs as
//! child processes, and the sidecar's metrics. Signed requests, answers and metric samples
//! are read with the development kit (`callstats-devkit`), as the tests read them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use callstats_store::Store;
use callstats_store::{TableName, Timeouts};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// How a run is sized and where things are.
#[derive(Clone, Debug)]
pub struct Bench {
    /// Small sizes, for a smoke run: checks the machinery, measures nothing worth keeping.
    pub quick: bool,
    /// Where `callstats-sidecar` and `callstats-interactions` are (beside this program).
    pub bin_dir: PathBuf,
    pub repo: PathBuf,
    /// The local DynamoDB server.
    pub endpoint: String,
}

static TABLES: AtomicU32 = AtomicU32::new(0);

/// Timeouts of the benchmarks' own store clients. The local server copies a whole table for
/// every item of a transaction, so on a table of tens of thousands of items a transaction can
/// take longer than the default 5 s attempt: the SDK would then send it again, and the second
/// copy would find its work done (an end's session no longer open), which DynamoDB, whose
/// transactions are idempotent by their client request token, never does.
pub const LOCAL_SERVER_TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    attempt: Duration::from_mins(1),
    operation: Duration::from_mins(2),
};

impl Bench {
    /// `full` normally, `quick` in a smoke run.
    #[must_use]
    pub fn size<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }

    /// A store on a new table with a unique name.
    pub async fn fresh_store(&self, what: &str) -> anyhow::Result<Store> {
        let n = TABLES.fetch_add(1, Ordering::Relaxed);
        let name: TableName = format!("bench-{what}-{}-{n}", std::process::id())
            .parse()
            .map_err(|e| anyhow!("{e}"))?;
        let store = Store::connect(name, LOCAL_SERVER_TIMEOUTS).await;
        store.create_table().await.context("create a table")?;
        Ok(store)
    }

    #[must_use]
    pub fn program(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// The port of the local server.
    #[must_use]
    pub fn server_port(&self) -> Option<u16> {
        self.endpoint
            .rsplit_once(':')?
            .1
            .trim_end_matches('/')
            .parse()
            .ok()
    }

    /// The local server's process, for its CPU time.
    #[must_use]
    pub fn server_pid(&self) -> Option<u32> {
        crate::machine::pid_listening_on(self.server_port()?)
    }
}

/// A child process whose output lines are collected.
#[derive(Debug)]
pub struct Proc {
    pub child: Child,
    pub pid: u32,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Starts `command` with stdout and stderr collected (both carry JSON logs).
    pub fn spawn(mut command: Command) -> anyhow::Result<Self> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().context("start a program")?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("the program ended at once"))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(collect(out, Arc::clone(&lines)));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(collect(err, Arc::clone(&lines)));
        }
        Ok(Self { child, pid, lines })
    }

    /// Waits for a JSON log line whose message is `message`; returns the line's fields.
    pub async fn wait_log(
        &mut self,
        message: &str,
        timeout: Duration,
    ) -> anyhow::Result<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(fields) = self.find_log(message) {
                return Ok(fields);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!("the program ended ({status}): {}", self.tail(10));
            }
            if Instant::now() > deadline {
                bail!("no log line {message:?} in {timeout:?}: {}", self.tail(10));
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// The fields of the first log line with `message`, in either layout tracing writes
    /// (`fields.message` or a flattened `message`).
    #[must_use]
    pub fn find_log(&self, message: &str) -> Option<serde_json::Value> {
        let lines = self.lines.lock().ok()?;
        lines.iter().find_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            if v["fields"]["message"] == message {
                Some(v["fields"].clone())
            } else if v["message"] == message {
                Some(v)
            } else {
                None
            }
        })
    }

    /// Every log line's fields with `message`.
    #[must_use]
    pub fn all_logs(&self, message: &str) -> Vec<serde_json::Value> {
        let Ok(lines) = self.lines.lock() else {
            return Vec::new();
        };
        lines
            .iter()
            .filter_map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).ok()?;
                if v["fields"]["message"] == message {
                    Some(v["fields"].clone())
                } else if v["message"] == message {
                    Some(v)
                } else {
                    None
                }
            })
            .collect()
    }

    #[must_use]
    pub fn tail(&self, n: usize) -> String {
        self.lines.lock().map_or_else(
            |_| String::new(),
            |l| l[l.len().saturating_sub(n)..].join("\n"),
        )
    }

    /// Ends the program at once.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// Stops the program as an operator would (SIGTERM) and waits at most `timeout`.
    pub async fn terminate(mut self, timeout: Duration) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        if tokio::time::timeout(timeout, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}

async fn collect(stream: impl tokio::io::AsyncRead + Unpin, into: Arc<Mutex<Vec<String>>>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(mut all) = into.lock() {
            all.push(line);
        }
    }
}

/// A command for one of the release programs with only the environment it needs.
#[must_use]
pub fn program_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    command.env_clear();
    for keep in [
        "PATH",
        "HOME",
        "TMPDIR",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_ENDPOINT_URL_DYNAMODB",
        // The C allocator's settings, to measure the programs under another one.
        "MALLOC_ARENA_MAX",
    ] {
        if let Ok(value) = std::env::var(keep) {
            command.env(keep, value);
        }
    }
    command
}

/// A PING as Discord sends it to check the endpoint.
#[must_use]
pub fn ping() -> serde_json::Value {
    serde_json::json!({
        "id": "1000000000000000100",
        "application_id": "1000000000000000001",
        "type": 1,
        "token": "ping-token",
        "version": 1,
    })
}

/// `callstats-interactions serve` on a free port of 127.0.0.1, for `table`.
pub async fn spawn_endpoint(
    bench: &Bench,
    table: &str,
    public_key: &str,
    dynamodb: &str,
) -> anyhow::Result<(Proc, String)> {
    let mut command = program_command(&bench.program("callstats-interactions"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DISCORD_PUBLIC_KEY", public_key)
        .env("CALLSTATS_TABLE", table)
        .env("CALLSTATS_LOG_FORMAT", "json")
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb);
    let mut proc = Proc::spawn(command)?;
    let fields = proc
        .wait_log("serving interactions", Duration::from_secs(30))
        .await?;
    let addr = fields["addr"]
        .as_str()
        .ok_or_else(|| anyhow!("no address in the log line"))?;
    Ok((proc, format!("http://{addr}/")))
}

/// `callstats-interactions serve` for `table` (signed with `public_key`), and beside it a plain
/// SDK client of the same table, the baseline's, which waits as long as the endpoint's reads
/// may (the local server answers one request at a time).
pub async fn endpoint_and_plain_client(
    bench: &Bench,
    table: &TableName,
    public_key: &str,
) -> anyhow::Result<(Proc, String, aws_sdk_dynamodb::Client)> {
    let (endpoint, url) =
        spawn_endpoint(bench, table.as_str(), public_key, &bench.endpoint).await?;
    let client = Store::connect(table.clone(), LOCAL_SERVER_TIMEOUTS)
        .await
        .client()
        .clone();
    Ok((endpoint, url, client))
}

/// A plain HTTP/1.1 GET: status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("no status line"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The sidecar program against a fake gateway, reading its clock from a file.
#[derive(Debug)]
pub struct SidecarProc {
    pub proc: Proc,
    pub http: SocketAddr,
    pub state_dir: PathBuf,
}

impl SidecarProc {
    pub async fn spawn(
        bench: &Bench,
        table: &str,
        gateway_url: &str,
        state_dir: &Path,
        clock_file: &Path,
    ) -> anyhow::Result<Self> {
        let mut command = program_command(&bench.program("callstats-sidecar"));
        command
            .env("DISCORD_TOKEN", "bench-token")
            .env("CALLSTATS_TABLE", table)
            .env("CALLSTATS_GATEWAY_URL", gateway_url)
            .env("CALLSTATS_STATE_DIR", state_dir)
            .env("CALLSTATS_HTTP_LISTEN", "127.0.0.1:0")
            .env("CALLSTATS_LOG_FORMAT", "json")
            .env("CALLSTATS_CLOCK_FILE", clock_file);
        let mut proc = Proc::spawn(command)?;
        let fields = proc
            .wait_log("serving /healthz and /metrics", Duration::from_secs(30))
            .await?;
        let http = fields["addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| anyhow!("no metrics address in the log line"))?;
        Ok(Self {
            proc,
            http,
            state_dir: state_dir.to_owned(),
        })
    }

    pub async fn metrics(&self) -> anyhow::Result<String> {
        let (status, body) = http_get(self.http, "/metrics").await?;
        if status != 200 {
            bail!("/metrics answered {status}");
        }
        Ok(body)
    }

    /// Polls the metrics every `every` until `done` holds; returns when it did.
    pub async fn wait_metrics(
        &mut self,
        what: &str,
        every: Duration,
        timeout: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.metrics().await?;
            if done(&text) {
                return Ok(Instant::now());
            }
            if let Ok(Some(status)) = self.proc.child.try_wait() {
                bail!(
                    "the sidecar ended ({status}) waiting for {what}: {}",
                    self.proc.tail(10)
                );
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for {what}; metrics:\n{text}");
            }
            tokio::time::sleep(every).await;
        }
    }
}

/// A clock file the sidecar reads "now" from (`CALLSTATS_CLOCK_FILE`).
#[derive(Debug)]
pub struct ClockFile {
    pub path: PathBuf,
    now: Mutex<i64>,
}

impl ClockFile {
    pub fn new(dir: &Path, at: i64) -> anyhow::Result<Self> {
        let clock = Self {
            path: dir.join("clock"),
            now: Mutex::new(at),
        };
        clock.set(at)?;
        Ok(clock)
    }

    pub fn set(&self, at: i64) -> anyhow::Result<()> {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, at.to_string())?;
        std::fs::rename(&tmp, &self.path)?;
        if let Ok(mut now) = self.now.lock() {
            *now = at;
        }
        Ok(())
    }

    #[must_use]
    pub fn now(&self) -> i64 {
        self.now.lock().map_or(0, |n| *n)
    }

    pub fn advance(&self, secs: i64) -> anyhow::Result<i64> {
        let at = self.now() + secs;
        self.set(at)?;
        Ok(at)
    }
}

/// A directory of its own under the system's temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> anyhow::Result<Self> {
        let n = TABLES.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("callstats-bench-{what}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

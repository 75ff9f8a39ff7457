//! 4. Interactions cold start: from starting `callstats-interactions serve` (release) to the
//!    answer of its first request, a signed PING, over a new connection.
//!
//! Start-up reads the table's schema version and warms the store (a `DescribeTable` round
//! trip) before it listens. To leave those round trips out, the program is pointed at a stand-in DynamoDB endpoint in this process
//! that answers at once; the same start against the local server, and the round trip itself
//! from a fresh client, are measured in the same run, interleaved. Then the Lambda package:
//! `cargo lambda build --release --arm64 --output-format zip`, its size and build time.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use callstats_store::{SCHEMA_VERSION, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use callstats_devkit::send::Signer;
use callstats_devkit::sign::key_from_seed;

use crate::harness::{Bench, ping, spawn_endpoint};
use crate::report::{Outcome, Row, Verdict};
use crate::stats::Summary;

/// A DynamoDB endpoint that answers at once: every `GetItem` with this program's schema
/// version, every other request with an active table.
async fn instant_dynamodb() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // One request: headers, then Content-Length bytes of body.
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < end + 4 + length {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..end + 4 + length);
                    // Start-up reads the table's schema version (`GetItem`) and describes it.
                    let reads_item = head
                        .lines()
                        .find_map(|l| l.strip_prefix("x-amz-target:"))
                        .is_some_and(|t| t.trim().ends_with(".getitem"));
                    let body = if reads_item {
                        format!(r#"{{"Item":{{"v":{{"N":"{SCHEMA_VERSION}"}}}}}}"#)
                    } else {
                        r#"{"Table":{"TableName":"bench","TableStatus":"ACTIVE"}}"#.to_owned()
                    };
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(format!("http://{addr}"))
}

/// Start to first answered PING, and start to listening.
async fn cold_start(
    bench: &Bench,
    table: &str,
    dynamodb: &str,
) -> anyhow::Result<(Duration, Duration)> {
    let signer = Signer::new(key_from_seed(3));
    let started = Instant::now();
    let (proc, url) = spawn_endpoint(bench, table, &signer.public_hex(), dynamodb).await?;
    let listening = started.elapsed();
    let answer = signer.send(&url, &ping()).await?;
    let answered = started.elapsed();
    proc.kill().await;
    ensure!(
        answer.status == 200 && answer.body == br#"{"type":1}"#,
        "the PING got {} {:?}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    Ok((answered, listening))
}

/// Whether rustc has the standard library for `triple`.
async fn target_installed(repo: &Path, triple: &str) -> bool {
    let Ok(out) = tokio::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(repo)
        .output()
        .await
    else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Path::new(&sysroot)
        .join("lib/rustlib")
        .join(triple)
        .join("lib")
        .exists()
}

/// What `cargo lambda build` gave.
struct Package {
    target: &'static str,
    size: Option<u64>,
    build: Duration,
    note: String,
}

async fn lambda_package(repo: &Path) -> anyhow::Result<Vec<Package>> {
    let venv = repo.join(".local/lambda-venv");
    let bin = venv.join("bin");
    if !bin.join("cargo-lambda").exists() {
        eprintln!("callstats-bench: installing cargo-lambda (PyPI) into .local/lambda-venv ...");
        let ok = tokio::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .await?
            .success()
            && tokio::process::Command::new(bin.join("pip"))
                .args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "cargo-lambda",
                ])
                .status()
                .await?
                .success();
        if !ok {
            bail!("cannot install cargo-lambda into {}", venv.display());
        }
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let zip = repo.join("target/lambda/callstats-interactions/bootstrap.zip");
    let mut packages = Vec::new();
    for (target, flag, triple) in [
        ("arm64", "--arm64", "aarch64-unknown-linux-gnu"),
        ("x86_64", "--x86-64", "x86_64-unknown-linux-gnu"),
    ] {
        // Without the target's standard library, cargo lambda would ask rustup to download
        // it; say so instead.
        if !target_installed(repo, triple).await {
            packages.push(Package {
                target,
                size: None,
                build: Duration::ZERO,
                note: format!(
                    "the {triple} standard library is not installed on this machine (`rustup target add {triple}`)"
                ),
            });
            continue;
        }
        let _ = std::fs::remove_file(&zip);
        let started = Instant::now();
        let out = tokio::process::Command::new("cargo")
            .args([
                "lambda",
                "build",
                "--release",
                flag,
                "--skip-target-check",
                "--output-format",
                "zip",
                "-p",
                "callstats-interactions",
            ])
            .current_dir(repo)
            .env("PATH", &path)
            .output()
            .await
            .context("run cargo lambda")?;
        let build = started.elapsed();
        if out.status.success() {
            let size = std::fs::metadata(&zip).ok().map(|m| m.len());
            packages.push(Package {
                target,
                size,
                build,
                note: String::new(),
            });
            if target == "arm64" {
                break;
            }
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            let reason = err
                .lines()
                .filter(|l| l.contains("error"))
                .take(3)
                .collect::<Vec<_>>()
                .join(" / ");
            packages.push(Package {
                target,
                size: None,
                build,
                note: format!("failed: {}", reason.chars().take(300).collect::<String>()),
            });
        }
    }
    Ok(packages)
}

#[allow(clippy::too_many_lines)] // one benchmark: its runs, then its report
pub async fn run(bench: &Bench) -> anyhow::Result<Outcome> {
    let store = bench.fresh_store("cold").await?;
    let table = store.table().as_str().to_owned();
    let instant = instant_dynamodb().await?;
    let runs = bench.size(25, 2);
    let (mut without, mut with, mut listen_without, mut listen_with, mut round_trips) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // One of each first, unmeasured: the page cache holds the program afterwards.
    cold_start(bench, &table, &instant).await?;
    cold_start(bench, &table, &bench.endpoint).await?;
    for i in 0..runs {
        let order = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for instant_side in order {
            if instant_side {
                let (answered, listening) = cold_start(bench, &table, &instant).await?;
                without.push(answered);
                listen_without.push(listening);
            } else {
                let (answered, listening) = cold_start(bench, &table, &bench.endpoint).await?;
                with.push(answered);
                listen_with.push(listening);
            }
        }
        // The round trip start-up makes: a new client, a new connection, DescribeTable.
        let started = Instant::now();
        let fresh = Store::connect(
            store.table().clone(),
            callstats_interactions::startup::REQUEST_TIMEOUTS,
        )
        .await;
        fresh.ping().await?;
        round_trips.push(started.elapsed());
    }
    let (a, b, rt) = (
        Summary::of(&without),
        Summary::of(&with),
        Summary::of(&round_trips),
    );
    let (la, lb) = (Summary::of(&listen_without), Summary::of(&listen_with));
    let mut rows = vec![
        Row::new(
            "start to first answered PING, without the DynamoDB round trip",
            format!("p50 {:.1} ms, p99 {:.1} ms", a.p50_ms, a.p99_ms),
        )
        .baseline(
            format!(
                "with it (local server): p50 {:.1} ms; the round trip alone: p50 {:.1} ms",
                b.p50_ms, rt.p50_ms
            ),
            "",
        )
        .target("≤ 50 ms", Verdict::of(a.p50_ms <= 50.0)),
    ];
    let packages = if bench.quick {
        Vec::new()
    } else {
        lambda_package(&bench.repo).await?
    };
    for p in &packages {
        let result = match p.size {
            Some(size) => format!(
                "{:.2} MiB zip; built in {:.0} s",
                size as f64 / 1_048_576.0,
                p.build.as_secs_f64()
            ),
            None => format!(
                "not built here ({})",
                p.note.chars().take(120).collect::<String>()
            ),
        };
        rows.push(Row::new(
            format!(
                "Lambda package, {} (`cargo lambda build --release`)",
                p.target
            ),
            result,
        ));
    }
    let mut detail = String::new();
    let _ = writeln!(
        detail,
        "{runs} starts of each kind, interleaved, after one unmeasured start of each (the program in the page cache). \
         \"Listening\" is when the program logged `serving interactions`; the PING then goes over a new connection.\n"
    );
    detail.push_str("| start | to listening p50 / p99 (ms) | to answered PING p50 / p99 (ms) |\n|---|---|---|\n");
    let _ = writeln!(
        detail,
        "| store endpoint answering at once | {:.1} / {:.1} | {:.1} / {:.1} |",
        la.p50_ms, la.p99_ms, a.p50_ms, a.p99_ms
    );
    let _ = writeln!(
        detail,
        "| local DynamoDB server (moto) | {:.1} / {:.1} | {:.1} / {:.1} |",
        lb.p50_ms, lb.p99_ms, b.p50_ms, b.p99_ms
    );
    let _ = writeln!(
        detail,
        "\nThe round trip start-up makes (a new client: configuration, connection, `DescribeTable`), from a fresh client in \
         this process: p50 {:.1} ms, p99 {:.1} ms against the local server. On Lambda the same round trip goes to DynamoDB \
         over TLS during init, before the first request is taken.",
        rt.p50_ms, rt.p99_ms
    );
    for p in &packages {
        let _ = writeln!(
            detail,
            "\n`cargo lambda build --release --{} --output-format zip`: {}, {:.0} s. {}",
            if p.target == "arm64" {
                "arm64"
            } else {
                "x86-64"
            },
            p.size
                .map_or_else(|| "no package".to_owned(), |s| format!("{s} bytes")),
            p.build.as_secs_f64(),
            p.note
        );
    }
    Ok(Outcome {
        name: "cold-start",
        rows,
        detail,
    })
}

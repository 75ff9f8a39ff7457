//! 7. Load: `callstats-interactions serve` under a mix of `/callstats show`, `/calltop`,
//!    `/callstats history` and `/callstats server`, sent at increasing rates until the p99
//!    passes 1 s or errors appear; next to it, at the same rates, the same commands' reads
//!    from a plain SDK client.
//!
//! Requests arrive on a fixed schedule (open loop): request `i` of a step is due at
//! `i / rate` seconds, and its latency runs from when it was due, so a slow answer delays
//! no later request and a backlog shows in the percentiles. Each command is asked by one of
//! four members of a seeded server; the baseline sends the reads the handler made for that
//! very command and member (recorded once in this process). The endpoint's own CPU per
//! request is its process's user + system time over the step divided by the requests
//! answered: it includes the SDK's work for the reads (signing, HTTP, decoding), never the
//! time spent waiting for them; the local server's CPU is reported beside it.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use aws_sdk_dynamodb::Client;
use callstats_core::GuildId;
use callstats_devkit::client::Caller;
use callstats_devkit::send::Signer;
use callstats_devkit::sign::key_from_seed;
use twilight_model::id::Id;

use crate::harness::{Bench, endpoint_and_plain_client};
use crate::machine::cpu_secs;
use crate::replay::{Read, send_all};
use crate::report::{Outcome, Row, Verdict};
use crate::scaling::{charged, seed_board};
use crate::show::interaction;
use crate::stats::{Summary, ratio};

/// The commands of the mix, asked in turn.
const MIX: [&str; 4] = [
    "/callstats show",
    "/calltop",
    "/callstats history",
    "/callstats server",
];

/// A step fails when its p99 passes this.
const P99_LIMIT: Duration = Duration::from_secs(1);

/// A request not answered within this counts as an error (Discord's deadline).
const DEADLINE: Duration = Duration::from_secs(3);

/// What one step at one rate measured on one side.
#[derive(Clone, Debug)]
struct Side {
    latency: Summary,
    errors: usize,
    /// The first error, for the report.
    first_error: Option<String>,
    /// CPU seconds of the process under test (the endpoint; none for the baseline) and of the
    /// local server over the step.
    cpu: Option<f64>,
    server_cpu: Option<f64>,
    took: Duration,
}

impl Side {
    fn passed(&self) -> bool {
        self.errors == 0 && self.latency.p99_ms <= P99_LIMIT.as_secs_f64() * 1000.0
    }
}

/// One rate: the endpoint's side and the baseline's.
#[derive(Clone, Debug)]
struct Step {
    rate: u32,
    requests: usize,
    endpoint: Side,
    baseline: Side,
}

/// Runs `count` requests due at `i / rate` s each, at most [`DEADLINE`] each: latencies
/// from when each was due, and the errors.
async fn open_loop<F, Fut>(rate: u32, count: usize, send: F) -> (Vec<Duration>, Vec<String>)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let due = start + Duration::from_secs_f64(i as f64 / f64::from(rate));
        tokio::time::sleep_until(due).await;
        let request = send(i);
        tasks.push(tokio::spawn(async move {
            let result = tokio::time::timeout(DEADLINE, request).await;
            (due.elapsed(), result)
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    let mut errors = Vec::new();
    for task in tasks {
        match task.await {
            Ok((took, Ok(Ok(())))) => latencies.push(took),
            Ok((_, Ok(Err(err)))) => errors.push(format!("{err:#}")),
            Ok((_, Err(_))) => errors.push(format!("no answer within {} s", DEADLINE.as_secs())),
            Err(err) => errors.push(format!("the request's task failed: {err}")),
        }
    }
    (latencies, errors)
}

/// One side of a step: `count` requests sent by `send` on `rate`'s schedule, with the CPU
/// `pid` (the process under test, if any) and the local server used meanwhile.
async fn measure_side<F, Fut>(
    rate: u32,
    count: usize,
    send: F,
    pid: Option<u32>,
    server_pid: Option<u32>,
) -> Side
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let cpu0 = pid.and_then(cpu_secs);
    let server0 = server_pid.and_then(cpu_secs);
    let started = Instant::now();
    let (latencies, errors) = open_loop(rate, count, send).await;
    let used = |pid: Option<u32>, before: Option<f64>| {
        pid.and_then(cpu_secs)
            .zip(before)
            .map(|(after, before)| after - before)
    };
    Side {
        latency: Summary::of(&latencies),
        errors: errors.len(),
        first_error: errors.into_iter().next(),
        cpu: used(pid, cpu0),
        server_cpu: used(server_pid, server0),
        took: started.elapsed(),
    }
}

/// The endpoint's side of a step.
async fn endpoint_side(
    signer: &Arc<Signer>,
    url: &Arc<str>,
    callers: &Arc<Vec<Caller>>,
    rate: u32,
    count: usize,
    pids: (u32, Option<u32>),
) -> Side {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let send = |i: usize| {
        let (signer, url, callers) = (signer.clone(), url.clone(), callers.clone());
        async move {
            let caller = &callers[(i / MIX.len()) % callers.len()];
            let line = MIX[i % MIX.len()];
            let request = interaction(line, caller, NEXT_ID.fetch_add(1, Ordering::Relaxed))?;
            let answer = signer.send(&url, &request).await?;
            ensure!(
                answer.status == 200,
                "{line}: the endpoint answered {}",
                answer.status
            );
            Ok(())
        }
    };
    measure_side(rate, count, send, Some(pids.0), pids.1).await
}

/// The baseline's side of a step: the recorded reads of the same command and member.
async fn baseline_side(
    client: &Client,
    reads: &Arc<Vec<Vec<Vec<Read>>>>,
    rate: u32,
    count: usize,
    server_pid: Option<u32>,
) -> Side {
    let send = |i: usize| {
        let (client, reads) = (client.clone(), reads.clone());
        async move {
            let member = (i / MIX.len()) % reads.len();
            send_all(&client, &reads[member][i % MIX.len()]).await
        }
    };
    measure_side(rate, count, send, None, server_pid).await
}

/// The endpoint's CPU per request of each command alone: `count` requests one after the
/// other, the process's CPU time over them divided by `count`.
async fn cpu_by_command(
    signer: &Signer,
    url: &str,
    callers: &[Caller],
    pid: u32,
    count: usize,
) -> anyhow::Result<Vec<(&'static str, Option<f64>)>> {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1 << 30);
    let mut out = Vec::new();
    for line in MIX {
        let before = cpu_secs(pid);
        for i in 0..count {
            let caller = &callers[i % callers.len()];
            let request = interaction(line, caller, NEXT_ID.fetch_add(1, Ordering::Relaxed))?;
            let answer = signer.send(url, &request).await?;
            ensure!(
                answer.status == 200,
                "{line}: the endpoint answered {}",
                answer.status
            );
        }
        let per = cpu_secs(pid)
            .zip(before)
            .map(|(after, before)| (after - before) * 1000.0 / count as f64);
        out.push((line, per));
    }
    Ok(out)
}

fn cpu_ms_per_request(side: &Side, requests: usize) -> Option<f64> {
    side.cpu.map(|c| c * 1000.0 / requests.max(1) as f64)
}

#[allow(clippy::too_many_lines)] // one benchmark: seeding, the steps, then its report
pub async fn run(bench: &Bench) -> anyhow::Result<Outcome> {
    let store = bench.fresh_store("load").await?;
    let guild: GuildId = Id::new(870_000_000_000_000_000);
    let board = bench.size(100, 12);
    let (users, seeded) = seed_board(&store, guild, board).await?;
    let signer = Arc::new(Signer::new(key_from_seed(9)));
    let callers: Vec<Caller> = (0..4)
        .map(|k| Caller {
            user: users[users.len() * k / 4 + 1].get(),
            guild: guild.get(),
        })
        .collect();
    // The reads of each command for each member, as the handler makes them.
    let mut reads = Vec::new();
    for (n, caller) in callers.iter().enumerate() {
        let mut of_member = Vec::new();
        for line in MIX {
            let (calls, _, reply) = charged(
                &store,
                &signer,
                caller,
                interaction(line, caller, n as u64)?,
            )
            .await
            .with_context(|| format!("record {line}"))?;
            ensure!(
                reply.response["type"] == 4,
                "{line} was not answered at once: {}",
                reply.response
            );
            of_member.push(Read::from_calls(&calls)?);
        }
        reads.push(of_member);
    }
    let reads = Arc::new(reads);
    let (endpoint, url, client) =
        endpoint_and_plain_client(bench, store.table(), &signer.public_hex()).await?;
    let url: Arc<str> = Arc::from(url.as_str());
    let callers = Arc::new(callers);
    let pids = (endpoint.pid, bench.server_pid());
    let step_secs = bench.size(15.0, 1.0);
    let rates: Vec<u32> = bench.size(vec![2, 4, 8, 16, 32, 64, 128, 256], vec![2, 4]);
    let mut steps: Vec<Step> = Vec::new();
    let mut by_command = Vec::new();
    let result = async {
        // Warm-up: connections and caches on both sides.
        endpoint_side(&signer, &url, &callers, 4, 8, pids).await;
        baseline_side(&client, &reads, 4, 8, pids.1).await;
        for (n, rate) in rates.iter().enumerate() {
            let requests = ((f64::from(*rate) * step_secs).ceil() as usize).max(MIX.len() * 2);
            let (endpoint, baseline) = if n % 2 == 0 {
                let e = endpoint_side(&signer, &url, &callers, *rate, requests, pids).await;
                (
                    e,
                    baseline_side(&client, &reads, *rate, requests, pids.1).await,
                )
            } else {
                let b = baseline_side(&client, &reads, *rate, requests, pids.1).await;
                (
                    endpoint_side(&signer, &url, &callers, *rate, requests, pids).await,
                    b,
                )
            };
            let over = !endpoint.passed();
            steps.push(Step {
                rate: *rate,
                requests,
                endpoint,
                baseline,
            });
            if over {
                break;
            }
        }
        by_command = cpu_by_command(&signer, &url, &callers, pids.0, bench.size(100, 8)).await?;
        Ok::<(), anyhow::Error>(())
    }
    .await;
    endpoint.kill().await;
    result?;
    ensure!(!steps.is_empty(), "no step ran");
    let mut outcome = report(board, &seeded, step_secs, &steps);
    let _ = writeln!(
        outcome.detail,
        "\nThe endpoint's CPU per request by command, each alone ({} requests one after the other, \
         after the steps): {}. The images (`/callstats show` and `/callstats server` draw a \
         heatmap and a chart) take about 1 ms each (BENCHMARKS.md, Images).",
        bench.size(100, 8),
        by_command
            .iter()
            .map(|(line, ms)| format!(
                "`{line}` {}",
                ms.map_or_else(|| "?".to_owned(), |m| format!("{m:.2} ms"))
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(outcome)
}

fn report(board: u64, seeded: &crate::seed::Seeded, step_secs: f64, steps: &[Step]) -> Outcome {
    let passed: Vec<&Step> = steps.iter().filter(|s| s.endpoint.passed()).collect();
    let last = steps.last();
    let mut rows = Vec::new();
    let reached = passed.last();
    let stopped = last.filter(|s| !s.endpoint.passed());
    rows.push(
        Row::new(
            "highest rate of the mix with endpoint p99 ≤ 1 s and no error".to_owned(),
            reached.map_or_else(
                || "none: the first step failed".to_owned(),
                |s| {
                    format!(
                        "{} requests/s (p50 {:.1} ms, p99 {:.1} ms)",
                        s.rate, s.endpoint.latency.p50_ms, s.endpoint.latency.p99_ms
                    )
                },
            ),
        )
        .baseline(
            reached.map_or_else(String::new, |s| {
                format!(
                    "p50 {:.1} ms, p99 {:.1} ms at that rate (same reads, plain SDK{})",
                    s.baseline.latency.p50_ms,
                    s.baseline.latency.p99_ms,
                    if s.baseline.passed() {
                        ""
                    } else {
                        "; it failed too"
                    }
                )
            }),
            reached.map_or_else(String::new, |s| {
                format!(
                    "{:.2}× / {:.2}× (p50 / p99)",
                    ratio(s.endpoint.latency.p50_ms, s.baseline.latency.p50_ms),
                    ratio(s.endpoint.latency.p99_ms, s.baseline.latency.p99_ms)
                )
            }),
        )
        .target(
            match stopped {
                Some(s) => format!("stopped at {} requests/s", s.rate),
                None => "no step failed up to the highest rate tried".to_owned(),
            },
            Verdict::Info,
        ),
    );
    // CPU per request over the steps the endpoint kept up with.
    let cpu: Vec<f64> = passed
        .iter()
        .filter_map(|s| cpu_ms_per_request(&s.endpoint, s.requests))
        .collect();
    let cpu_worst = cpu.iter().copied().fold(0.0_f64, f64::max);
    rows.push(
        Row::new(
            "endpoint CPU per request (its own process: user + system)",
            if cpu.is_empty() {
                "not measured".to_owned()
            } else {
                format!(
                    "{} ms (each step kept up with; worst {cpu_worst:.2} ms)",
                    cpu.iter()
                        .map(|c| format!("{c:.2}"))
                        .collect::<Vec<_>>()
                        .join(" / ")
                )
            },
        )
        .target("≤ 2 ms", Verdict::of(!cpu.is_empty() && cpu_worst <= 2.0)),
    );
    Outcome {
        name: "load",
        rows,
        detail: detail(board, seeded, step_secs, steps),
    }
}

/// The measured details: the setting, every step's figures, the first errors.
fn detail(board: u64, seeded: &crate::seed::Seeded, step_secs: f64, steps: &[Step]) -> String {
    let mut detail = String::new();
    let _ = writeln!(
        detail,
        "A server with a board of {board} members (one to three sessions each, stored through \
         the store's own writes: {} sessions in {:.0} s), three of them in a call. The mix, in \
         turn: {}; each asked by one of four members. Each step sends requests on a fixed \
         schedule for {step_secs:.0} s at its rate (at least {} requests; latency from when each request was due; no \
         answer within {} s is an error), first on one side then on the other, alternating; \
         the run stops at the first step whose endpoint p99 passes 1 s or that has an error. \
         CPU: user + system time of the endpoint's process and of the local server over each \
         step, per request.\n",
        seeded.sessions,
        seeded.took.as_secs_f64(),
        MIX.map(|l| format!("`{l}`")).join(", "),
        MIX.len() * 2,
        DEADLINE.as_secs()
    );
    detail.push_str(
        "| rate (requests/s) | requests | endpoint p50 / p99 (ms) | errors | baseline p50 / p99 (ms) | baseline errors | endpoint CPU per request (ms) | local server CPU per request, endpoint / baseline (ms) | step took, endpoint / baseline (s) |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in steps {
        let server = |side: &Side| {
            side.server_cpu.map_or_else(
                || "?".to_owned(),
                |c| format!("{:.1}", c * 1000.0 / s.requests as f64),
            )
        };
        let _ = writeln!(
            detail,
            "| {} | {} | {:.1} / {:.1} | {} | {:.1} / {:.1} | {} | {} | {} / {} | {:.1} / {:.1} |",
            s.rate,
            s.requests,
            s.endpoint.latency.p50_ms,
            s.endpoint.latency.p99_ms,
            s.endpoint.errors,
            s.baseline.latency.p50_ms,
            s.baseline.latency.p99_ms,
            s.baseline.errors,
            cpu_ms_per_request(&s.endpoint, s.requests)
                .map_or_else(|| "?".to_owned(), |c| format!("{c:.2}")),
            server(&s.endpoint),
            server(&s.baseline),
            s.endpoint.took.as_secs_f64(),
            s.baseline.took.as_secs_f64(),
        );
    }
    for s in steps {
        for (side, what) in [(&s.endpoint, "endpoint"), (&s.baseline, "baseline")] {
            if let Some(err) = &side.first_error {
                let _ = writeln!(
                    detail,
                    "\nAt {} requests/s, the {what}'s first error of {}: {err}.",
                    s.rate, side.errors
                );
            }
        }
    }
    let _ = writeln!(
        detail,
        "\nThe local server answers one request at a time: where both sides slow down together, \
         the rate reached is the local server's, not the endpoint's (compare the two sides' \
         percentiles and the server's CPU per request)."
    );
    detail
}

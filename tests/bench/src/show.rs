//! 1. `/callstats show` over HTTP (`callstats-interactions serve`, release) against the local
//!    server, next to the same reads sent by a plain SDK client in the same run.
//!
//! The baseline is exact, not a guess: the handler runs once in this process on a client
//! that records its requests, and the baseline sends those very requests (same keys, same
//! consistency, at once as the handler's `try_join!` does). Rounds alternate which side goes
//! first; each round runs `concurrency` requests of one side at once, then of the other.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use aws_sdk_dynamodb::Client;
use callstats_core::{Flags, GuildConfig, GuildId, OpenSession, SessionId, UserId};
use callstats_devkit::client::{Caller, build_command};
use callstats_devkit::send::Signer;
use callstats_devkit::sign::key_from_seed;
use callstats_devkit::{Answer, Reply};
use callstats_interactions::App;
use callstats_store::Store;
use twilight_model::id::Id;

use crate::harness::{Bench, spawn_endpoint};
use crate::recorder::{Call, Recorder};
use crate::replay::{Read, send_all};
use crate::report::{Outcome, Row, Verdict};
use crate::seed;
use crate::stats::{Summary, ratio};

/// The endpoint's latency next to its baseline's.
#[derive(Clone, Debug)]
pub struct Pair {
    pub endpoint: Summary,
    pub baseline: Summary,
}

impl Pair {
    #[must_use]
    pub fn p50_ratio(&self) -> f64 {
        ratio(self.endpoint.p50_ms, self.baseline.p50_ms)
    }

    #[must_use]
    pub fn p99_ratio(&self) -> f64 {
        ratio(self.endpoint.p99_ms, self.baseline.p99_ms)
    }
}

/// The interaction for `line` from `caller`, with a fresh id.
pub fn interaction(line: &str, caller: &Caller, n: u64) -> anyhow::Result<serde_json::Value> {
    Ok(build_command(line, caller, (1 << 40) + n)?)
}

/// Runs `line` once through an in-process handler whose store records its calls.
pub async fn record(
    store: &Store,
    signer: &Signer,
    caller: &Caller,
    line: &str,
) -> anyhow::Result<(Vec<Call>, Reply)> {
    let recorder = Recorder::default();
    let app = App::builder(recorder.store(store), signer.key.verifying_key()).build();
    let request = signer.request("http://bench/", &interaction(line, caller, 0)?)?;
    let answer = Answer::from_response(app.handle(request).await);
    ensure!(
        answer.status == 200,
        "the handler answered {}",
        answer.status
    );
    Ok((recorder.take(), answer.reply()?))
}

/// Measures `rounds` rounds of `concurrency` requests of `line` on the endpoint at `url`
/// and of `reads` on `client`, alternating which goes first.
#[allow(clippy::too_many_arguments)] // the two sides of one measurement, each named once
pub async fn measure(
    signer: &Signer,
    url: &str,
    caller: &Caller,
    line: &str,
    client: &Client,
    reads: &[Read],
    rounds: usize,
    concurrency: usize,
) -> anyhow::Result<Pair> {
    let mut endpoint = Vec::with_capacity(rounds * concurrency);
    let mut baseline = Vec::with_capacity(rounds * concurrency);
    for round in 0..rounds {
        let (e, b) = measure_round(
            signer,
            url,
            caller,
            line,
            client,
            reads,
            round % 2 == 0,
            concurrency,
        )
        .await?;
        endpoint.extend(e);
        baseline.extend(b);
    }
    Ok(Pair {
        endpoint: Summary::of(&endpoint),
        baseline: Summary::of(&baseline),
    })
}

/// One round: `concurrency` requests at once on one side, then on the other.
#[allow(clippy::too_many_arguments)] // the two sides of one measurement, each named once
pub async fn measure_round(
    signer: &Signer,
    url: &str,
    caller: &Caller,
    line: &str,
    client: &Client,
    reads: &[Read],
    endpoint_first: bool,
    concurrency: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let mut endpoint = Vec::new();
    let mut baseline = Vec::new();
    let order = if endpoint_first {
        [true, false]
    } else {
        [false, true]
    };
    for side in order {
        if side {
            let batch: Vec<_> = (0..concurrency)
                .map(|_| interaction(line, caller, NEXT_ID.fetch_add(1, Ordering::Relaxed)))
                .collect::<anyhow::Result<_>>()?;
            let times = futures_util::future::try_join_all(batch.iter().map(|i| async move {
                let started = Instant::now();
                let answer = signer.send(url, i).await?;
                let took = started.elapsed();
                ensure!(
                    answer.status == 200,
                    "the endpoint answered {}",
                    answer.status
                );
                Ok::<_, anyhow::Error>(took)
            }))
            .await?;
            endpoint.extend(times);
        } else {
            let times = futures_util::future::try_join_all((0..concurrency).map(|_| async {
                let started = Instant::now();
                send_all(client, reads).await?;
                Ok::<_, anyhow::Error>(started.elapsed())
            }))
            .await?;
            baseline.extend(times);
        }
    }
    Ok((endpoint, baseline))
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Ids of the benchmark's guild and member.
#[must_use]
pub fn ids(n: u64) -> (GuildId, UserId) {
    (
        Id::new(800_000_000_000_000_000 + n),
        Id::new(810_000_000_000_000_000 + n),
    )
}

/// A member with `count` past sessions (stored through the store's own writes, the board
/// flushed behind them) and a session in progress, who set a timezone.
pub async fn seed_member(
    store: &Store,
    guild: GuildId,
    user: UserId,
    count: usize,
) -> anyhow::Result<seed::Seeded> {
    let config = GuildConfig::default();
    let now = seed::wall_now();
    store
        .set_user_timezone(user, Some(chrono_tz::Europe::Berlin))
        .await?;
    let plan = seed::history(user, guild, count, now.minus(3600), 11, &config, &[]);
    let seeded = seed::real(store, &plan, &config, 1).await?;
    let live = OpenSession::new(
        SessionId::new(now.minus(20 * 60), 99),
        user,
        guild,
        seed::channels(guild)[0],
        Flags::NONE,
    );
    let outcome = store.start_session(&live, config.rule).await?;
    ensure!(
        outcome == callstats_store::StartOutcome::Started,
        "start: {outcome:?}"
    );
    Ok(seeded)
}

fn describe_calls(calls: &[Call]) -> String {
    calls
        .iter()
        .map(|c| {
            let what = c.request["Key"]["sk"]["S"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| {
                    c.request["RequestItems"].as_object().map(|tables| {
                        tables
                            .values()
                            .filter_map(|t| t["Keys"].as_array())
                            .flatten()
                            .filter_map(|k| k["sk"]["S"].as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                })
                .or_else(|| {
                    c.request["KeyConditionExpression"]
                        .as_str()
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            let strong = c.request["ConsistentRead"] == true
                || c.request["RequestItems"]
                    .as_object()
                    .is_some_and(|t| t.values().any(|t| t["ConsistentRead"] == true));
            let consistent = if strong { ", strong" } else { "" };
            format!("{} `{what}`{consistent}", c.op)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[allow(clippy::too_many_lines)] // one benchmark: its commands and concurrencies, then its report
pub async fn run(bench: &Bench) -> anyhow::Result<Outcome> {
    let store = bench.fresh_store("show").await?;
    let (guild, user) = ids(1);
    let past = bench.size(300, 20);
    seed_member(&store, guild, user, past).await?;
    let signer = Signer::new(key_from_seed(7));
    let caller = Caller {
        user: user.get(),
        guild: guild.get(),
    };
    let (mut endpoint_proc, url) = spawn_endpoint(
        bench,
        store.table().as_str(),
        &signer.public_hex(),
        &bench.endpoint,
    )
    .await?;
    let plain = Store::connect(store.table().clone(), callstats_store::Timeouts::default()).await;
    let client = plain.client().clone();
    let mut rows = Vec::new();
    let mut table = Vec::new();
    let mut read_lines = Vec::new();
    for line in ["/callstats show", "/callstats show period:7d"] {
        let (calls, answer) = record(&store, &signer, &caller, line).await?;
        ensure!(
            answer.response["data"]["embeds"].is_array(),
            "the reply has no embed: {}",
            answer.response
        );
        let reads = Read::from_calls(&calls)?;
        // Warm both sides up (connections, caches) before measuring.
        measure(
            &signer,
            &url,
            &caller,
            line,
            &client,
            &reads,
            bench.size(20, 2),
            1,
        )
        .await?;
        for concurrency in [1usize, 4] {
            let rounds = bench.size(400, 8) / concurrency;
            let pair = measure(
                &signer,
                &url,
                &caller,
                line,
                &client,
                &reads,
                rounds,
                concurrency,
            )
            .await
            .with_context(|| format!("measure {line}"))?;
            table.push(format!(
                "| `{line}` | {concurrency} | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} | {:.2}× | {:.2}× | {} + {} |",
                pair.endpoint.p50_ms,
                pair.endpoint.p90_ms,
                pair.endpoint.p99_ms,
                pair.baseline.p50_ms,
                pair.baseline.p90_ms,
                pair.baseline.p99_ms,
                pair.p50_ratio(),
                pair.p99_ratio(),
                pair.endpoint.n,
                pair.baseline.n,
            ));
            let worst = pair.p50_ratio().max(pair.p99_ratio());
            rows.push(
                Row::new(
                    format!("`{line}` p50 / p99, concurrency {concurrency}"),
                    format!(
                        "{:.1} / {:.1} ms",
                        pair.endpoint.p50_ms, pair.endpoint.p99_ms
                    ),
                )
                .baseline(
                    format!(
                        "{:.1} / {:.1} ms (same reads, plain SDK)",
                        pair.baseline.p50_ms, pair.baseline.p99_ms
                    ),
                    format!("{:.2}× / {:.2}×", pair.p50_ratio(), pair.p99_ratio()),
                )
                .target("≤ 1.3×", Verdict::of(worst <= 1.3)),
            );
        }
        read_lines.push(format!("- `{line}`: {}", describe_calls(&calls)));
    }
    let mut detail = String::new();
    let _ = writeln!(
        detail,
        "A member with {past} past sessions (stored through the store's own writes), a session \
         in progress and a timezone; the guild has the default configuration. Each side first \
         gets a warm-up of its own.\n"
    );
    detail.push_str(
        "| command | concurrency | endpoint p50 / p90 / p99 (ms) | baseline p50 / p90 / p99 (ms) | p50 ratio | p99 ratio | samples |\n|---|---|---|---|---|---|---|\n",
    );
    for line in &table {
        let _ = writeln!(detail, "{line}");
    }
    let _ = writeln!(
        detail,
        "\nThe reads each command makes (recorded from the handler, sent again as the baseline):\n\n{}",
        read_lines.join("\n")
    );
    // The handler's own time, as it logs it ("answered", whole milliseconds).
    let handler_ms: Vec<Duration> = endpoint_proc
        .all_logs("answered")
        .iter()
        .filter_map(|f| {
            let v = &f["elapsed_ms"];
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .map(Duration::from_millis)
        .collect();
    let handler = Summary::of(&handler_ms);
    let _ = writeln!(
        detail,
        "\nThe endpoint's own log (`answered`, whole milliseconds from the verified request to the reply, reads included) over all {} requests: p50 {:.0} ms, p99 {:.0} ms.",
        handler.n, handler.p50_ms, handler.p99_ms
    );
    endpoint_proc.child.start_kill().ok();
    let _ = endpoint_proc.child.wait().await;
    Ok(Outcome {
        name: "show",
        rows,
        detail,
    })
}

//! The `/callstats server` part of benchmark 6 ([`crate::scaling`]): what the server view
//! costs and takes on the scaling boards (100 and 10,000 members, every one of them with day
//! items in the window).
//!
//! Read units are computed from the items each view read: the handler's reads and, for a big
//! server, those of the background job it starts (`INLINE_MEMBER_DAYS` in
//! `interactions-fn/src/commands/server.rs`). A view answered while Discord waits is timed
//! over HTTP as `/callstats show` is (benchmark 1), next to the same reads from a plain SDK
//! client. A deferred view's answer is the job's edit of the response: the job
//! (`server::job`, what the endpoint runs in the background) is timed in this process, next
//! to the same reads. The largest board's job is always timed, so a quick run covers it.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::ensure;
use aws_sdk_dynamodb::Client;
use callstats_devkit::client::Caller;
use callstats_devkit::send::Signer;
use callstats_interactions::App;
use callstats_interactions::commands::server::{self, Period, ServerArgs};
use callstats_store::Store;
use twilight_model::id::Id;

use crate::cost::{Units, ops_of, units_text};
use crate::harness::{Bench, LOCAL_SERVER_TIMEOUTS, endpoint_and_plain_client};
use crate::recorder::{Call, Recorder};
use crate::replay::{Read, send_all};
use crate::report::{Row, Verdict};
use crate::scaling::charged;
use crate::show::{Pair, interaction, measure};
use crate::stats::Summary;

/// The periods measured: the window (and the one before it, for the change) from the
/// `guild-days` index, and all time from `guild-members`.
const PERIODS: [(&str, Period, &str); 2] = [
    ("/callstats server period:7d", Period::Days(7), "guild-days"),
    ("/callstats server period:all", Period::All, "guild-members"),
];

/// One view of one board.
struct View {
    line: &'static str,
    /// The board's table.
    store: Store,
    period: Period,
    board: usize,
    caller: Caller,
    units: Units,
    ops: String,
    /// Index entries the view read (the seeded members' day or all-time items).
    entries: u64,
    deferred: bool,
    reads: Vec<Read>,
}

/// Entries returned by the queries of `index` among `calls`.
fn entries_read(calls: &[Call], index: &str) -> u64 {
    calls
        .iter()
        .filter(|c| c.op == "Query" && c.request["IndexName"] == index)
        .filter_map(|c| c.response["Count"].as_u64())
        .sum()
}

/// Each period's view of each board, charged; every member must be among the entries read.
async fn views(
    stores: &[Store],
    signer: &Signer,
    callers: &[Caller],
    boards: &[u64],
) -> anyhow::Result<Vec<View>> {
    let mut out = Vec::new();
    for (line, period, index) in PERIODS {
        for ((caller, board), store) in callers.iter().zip(boards).zip(stores) {
            let (calls, units, reply) =
                charged(store, signer, caller, interaction(line, caller, 500)?).await?;
            // Discord's "deferred channel message" answer.
            let deferred = reply.response["type"] == 5;
            ensure!(
                deferred || reply.response["data"]["embeds"].is_array(),
                "{line}: no embed in {}",
                reply.response
            );
            let entries = entries_read(&calls, index);
            ensure!(
                entries >= *board,
                "{line}, board of {board}: {entries} entries of {index} read"
            );
            out.push(View {
                line,
                store: store.clone(),
                period,
                board: *board as usize,
                caller: caller.clone(),
                units,
                ops: ops_of(&calls),
                entries,
                deferred,
                reads: Read::from_calls(&calls)?,
            });
        }
    }
    Ok(out)
}

/// `rounds` runs of a server's background job (`server::job`, on a plain client) and of the
/// same reads, alternating which goes first.
async fn time_job(signer: &Signer, view: &View, rounds: usize) -> anyhow::Result<Pair> {
    let store = &view.store;
    let guild = Id::new(view.caller.guild);
    let args = ServerArgs {
        period: view.period,
        private: false,
    };
    let recorder = Recorder::default();
    let recording = App::builder(recorder.store(store), signer.key.verifying_key()).build();
    server::job(&recording, guild, args).await?;
    let reads = Read::from_calls(&recorder.take())?;
    let plain = Store::connect(store.table().clone(), LOCAL_SERVER_TIMEOUTS).await;
    let client: Client = plain.client().clone();
    let app = App::builder(plain, signer.key.verifying_key()).build();
    let (mut job, mut baseline) = (Vec::new(), Vec::new());
    for round in 0..=rounds {
        for job_side in [round % 2 == 0, round % 2 != 0] {
            let started = Instant::now();
            if job_side {
                server::job(&app, guild, args).await?;
            } else {
                send_all(&client, &reads).await?;
            }
            // Round 0 warms both sides up.
            if round > 0 {
                let took = started.elapsed();
                (if job_side { &mut job } else { &mut baseline }).push(took);
            }
        }
    }
    Ok(Pair {
        endpoint: Summary::of(&job),
        baseline: Summary::of(&baseline),
    })
}

/// `rounds` requests of a view to the endpoint (on the view's table) and of the same reads,
/// after a warm-up, alternating which goes first.
async fn time_http(
    bench: &Bench,
    signer: &Signer,
    v: &View,
    rounds: usize,
) -> anyhow::Result<Pair> {
    let table = v.store.table();
    let (endpoint, url, client) =
        endpoint_and_plain_client(bench, table, &signer.public_hex()).await?;
    let c = &v.caller;
    let timed = async {
        measure(signer, &url, c, v.line, &client, &v.reads, 1, 1).await?;
        measure(signer, &url, c, v.line, &client, &v.reads, rounds, 1).await
    }
    .await;
    endpoint.kill().await;
    timed
}

/// A latency row and its detail line.
fn latency_row(view: &View, how: &str, pair: &Pair) -> (Row, String) {
    let worst = pair.p50_ratio().max(pair.p99_ratio());
    let row = Row::new(
        format!("`{}` p50 / p99, board of {} ({how})", view.line, view.board),
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
    .target("≤ 1.3×", Verdict::of(worst <= 1.3));
    let line = format!(
        "| `{}` | {} | {how} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2}× / {:.2}× | {} + {} |",
        view.line,
        view.board,
        pair.endpoint.p50_ms,
        pair.endpoint.p99_ms,
        pair.baseline.p50_ms,
        pair.baseline.p99_ms,
        pair.p50_ratio(),
        pair.p99_ratio(),
        pair.endpoint.n,
        pair.baseline.n,
    );
    (row, line)
}

/// The read units of each view: rows and details.
fn cost_report(views: &[View]) -> (Vec<Row>, String) {
    let mut rows = Vec::new();
    let mut detail = String::from(
        "\n`/callstats server`, asked by the same member of each board: the days of the window \
         and of the one before it (7 days) or every member's all-time item (all), the server \
         item, the public channels, the calls in progress and the shard's heartbeat. RCU \
         computed from the items read, the background job's reads included when the view is \
         deferred.\n\n| command | board | calls | entries read | RCU (computed) | reported by the server | answered |\n|---|---|---|---|---|---|---|\n",
    );
    for v in views {
        let _ = writeln!(
            detail,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            v.line,
            v.board,
            v.ops,
            v.entries,
            units_text(v.units.read),
            v.units.reported_text(),
            if v.deferred {
                "deferred, in the background"
            } else {
                "at once"
            }
        );
    }
    for (line, _, _) in PERIODS {
        let of: Vec<&View> = views.iter().filter(|v| v.line == line).collect();
        let join =
            |f: &dyn Fn(&View) -> String| of.iter().map(|v| f(v)).collect::<Vec<_>>().join(" / ");
        rows.push(
            Row::new(
                format!(
                    "`{line}` RCU at boards of {}",
                    join(&|v| v.board.to_string())
                ),
                join(&|v| {
                    let later = if v.deferred { " (deferred)" } else { "" };
                    format!("{}{later}", units_text(v.units.read))
                }),
            )
            .baseline(
                format!("server reported {}", join(&|v| v.units.reported_text())),
                "",
            )
            .target("none set (issue 16): reported", Verdict::Info),
        );
    }
    (rows, detail)
}

/// `/callstats server` on each board (`callers[i]` a member of the board of `boards[i]`
/// members, in the table of `stores[i]`): its rows and its part of the details.
pub async fn measure_views(
    bench: &Bench,
    stores: &[Store],
    signer: &Signer,
    callers: &[Caller],
    boards: &[u64],
) -> anyhow::Result<(Vec<Row>, String)> {
    let views = views(stores, signer, callers, boards).await?;
    let (mut rows, mut detail) = cost_report(&views);
    let rounds = bench.size(20, 2);
    let _ = writeln!(
        detail,
        "\nLatency next to the same reads from a plain SDK client, {rounds} rounds after a \
         warm-up, alternating which side goes first: over HTTP (`callstats-interactions \
         serve`) for a view answered at once; for the largest board, its background job \
         (`server::job`) in this process, which is what answers a deferred view.\n\n\
         | command | board | how | p50 / p99 (ms) | baseline p50 / p99 (ms) | ratio p50 / p99 | samples |\n|---|---|---|---|---|---|---|"
    );
    let largest = boards.iter().max().copied().unwrap_or_default() as usize;
    for v in &views {
        let mut pairs = Vec::new();
        if !v.deferred {
            pairs.push((
                "over HTTP, answered at once",
                time_http(bench, signer, v, rounds).await?,
            ));
        }
        if v.board == largest {
            let how = if v.deferred {
                "deferred: the background job"
            } else {
                "its view as a job, in process"
            };
            pairs.push((how, time_job(signer, v, rounds).await?));
        }
        for (how, pair) in pairs {
            let (row, line) = latency_row(v, how, &pair);
            rows.push(row);
            let _ = writeln!(detail, "{line}");
        }
    }
    Ok((rows, detail))
}

//! 6. Scaling: `/callstats show` for members with 10, 1,000 and 10,000 past sessions, over
//!    HTTP as in benchmark 1, with the read units of each (computed from item sizes).
//!
//! The histories are written directly as the items their sessions' ends would leave (10,000
//! real starts and ends would take minutes on the local server); before that, the same
//! history is stored both ways for two members and every item compared
//! ([`crate::seed::check_direct_matches_real`]), so the seeded aggregates are what real
//! sessions give. Sizes are interleaved in every round.

use std::fmt::Write as _;
use std::time::Duration;

use callstats_devkit::client::Caller;
use callstats_devkit::send::Signer;
use callstats_devkit::sign::key_from_seed;
use callstats_store::Store;
use callstats_store::Timeouts;

use crate::cost::Mirror;
use crate::harness::{Bench, spawn_endpoint};
use crate::replay::Read;
use crate::report::{Outcome, Row, Verdict};
use crate::seed;
use crate::show::{ids, measure_round, record, seed_member};
use crate::stats::{Summary, ratio};

#[allow(clippy::too_many_lines)] // one benchmark: seeding, rounds, then its report
pub async fn run(bench: &Bench) -> anyhow::Result<Outcome> {
    let store = bench.fresh_store("scaling").await?;
    seed::check_direct_matches_real(&store, bench.size(40, 8)).await?;
    let sizes: Vec<usize> = bench.size(vec![10, 1_000, 10_000], vec![10, 50, 200]);
    let mut members = Vec::new();
    for (i, count) in sizes.iter().enumerate() {
        let (guild, user) = ids(100 + i as u64);
        seed_member(&store, guild, user, *count, true).await?;
        members.push(Caller {
            user: user.get(),
            guild: guild.get(),
        });
    }
    let signer = Signer::new(key_from_seed(5));
    let (endpoint, url) = spawn_endpoint(
        bench,
        store.table().as_str(),
        &signer.public_hex(),
        &bench.endpoint,
    )
    .await?;
    let client = Store::connect(store.table().clone(), Timeouts::default())
        .await
        .client()
        .clone();
    let mut mirror = Mirror::lazy(&store);
    let rounds = bench.size(200, 4);
    let mut rows = Vec::new();
    let mut detail = String::new();
    let _ = writeln!(
        detail,
        "Each member also has a session in progress and a timezone. {rounds} rounds; in each, every size in turn \
         (the order rotating), one request to the endpoint and one replay of the same reads, alternating which \
         goes first. Direct seeding was checked against real sessions first (every item equal).\n"
    );
    detail.push_str("| command | past sessions | endpoint p50 / p99 (ms) | baseline p50 / p99 (ms) | ratio (p50) | RCU (computed) | reads |\n|---|---|---|---|---|---|---|\n");
    for line in ["/callstats show", "/callstats show period:7d"] {
        let mut reads = Vec::new();
        let mut units = Vec::new();
        for caller in &members {
            let (calls, _) = record(&store, &signer, caller, line).await?;
            units.push(mirror.charge(&calls).await?);
            reads.push(Read::from_calls(&calls)?);
        }
        let mut endpoint_samples: Vec<Vec<Duration>> = vec![Vec::new(); members.len()];
        let mut baseline_samples: Vec<Vec<Duration>> = vec![Vec::new(); members.len()];
        // Warm-up.
        for (i, caller) in members.iter().enumerate() {
            measure_round(&signer, &url, caller, line, &client, &reads[i], true, 1).await?;
        }
        for round in 0..rounds {
            for k in 0..members.len() {
                let i = (round + k) % members.len();
                let (e, b) = measure_round(
                    &signer,
                    &url,
                    &members[i],
                    line,
                    &client,
                    &reads[i],
                    round % 2 == 0,
                    1,
                )
                .await?;
                endpoint_samples[i].extend(e);
                baseline_samples[i].extend(b);
            }
        }
        let summaries: Vec<(Summary, Summary)> = endpoint_samples
            .iter()
            .zip(&baseline_samples)
            .map(|(e, b)| (Summary::of(e), Summary::of(b)))
            .collect();
        for (i, (e, b)) in summaries.iter().enumerate() {
            let _ = writeln!(
                detail,
                "| `{line}` | {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2}× | {:.1} | {} |",
                sizes[i],
                e.p50_ms,
                e.p99_ms,
                b.p50_ms,
                b.p99_ms,
                ratio(e.p50_ms, b.p50_ms),
                units[i].read,
                units[i].calls
            );
        }
        let first = &summaries[0];
        let last = &summaries[summaries.len() - 1];
        let growth = ratio(last.0.p50_ms, first.0.p50_ms);
        let base_growth = ratio(last.1.p50_ms, first.1.p50_ms);
        let rcu_flat = units.iter().all(|u| (u.read - units[0].read).abs() < 1e-9);
        let join = |f: &dyn Fn(&(Summary, Summary)) -> f64| {
            summaries
                .iter()
                .map(|s| format!("{:.1}", f(s)))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        rows.push(
            Row::new(
                format!(
                    "`{line}` p50 at {} past sessions; RCU",
                    sizes
                        .iter()
                        .map(|s| format!("{s}"))
                        .collect::<Vec<_>>()
                        .join(" / ")
                ),
                format!(
                    "{} ms; {} RCU",
                    join(&|s| s.0.p50_ms),
                    units
                        .iter()
                        .map(|u| format!("{:.1}", u.read))
                        .collect::<Vec<_>>()
                        .join(" / ")
                ),
            )
            .baseline(
                format!("{} ms (same reads, plain SDK)", join(&|s| s.1.p50_ms)),
                format!("{growth:.2}× (baseline {base_growth:.2}×) largest / smallest"),
            )
            .target(
                "flat (≤ 1.3× growth, same RCU)",
                Verdict::of(rcu_flat && growth <= 1.3),
            ),
        );
        // What the endpoint adds to the reads: the handler's own part.
        let ours: Vec<f64> = summaries.iter().map(|s| s.0.p50_ms - s.1.p50_ms).collect();
        let (small, large) = (ours[0], ours[ours.len() - 1]);
        let ours_growth = ratio(large.max(0.0), small.max(1e-9));
        // A difference of two medians of a few milliseconds: flat within 30 % or 1 ms.
        let ours_flat = large <= (small * 1.3).max(small + 1.0);
        rows.push(
            Row::new(
                format!("`{line}`: endpoint p50 minus baseline p50 (the handler's own part)"),
                format!(
                    "{} ms",
                    ours.iter()
                        .map(|v| format!("{v:.1}"))
                        .collect::<Vec<_>>()
                        .join(" / ")
                ),
            )
            .baseline("", format!("{ours_growth:.2}× largest / smallest"))
            .target("flat (≤ 1.3× or + 1 ms)", Verdict::of(ours_flat)),
        );
    }
    endpoint.kill().await;
    Ok(Outcome {
        name: "scaling",
        rows,
        detail,
    })
}

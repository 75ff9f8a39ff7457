//! 6. Scaling: what `/callstats show` costs and takes for members with 10, 1,000 and 10,000
//!    past sessions, and what `/calltop` costs on boards of 100 and 10,000 members.
//!
//! Everything is stored through the store's own writes, as the sidecar makes them (a start
//! and an end per session, the board flushed behind the ends: [`crate::seed::real`]), so
//! every item read has the size real sessions give it. Read units are computed from the
//! items each command's answers carried (the handler runs in this process on a recording
//! client). `/callstats show` is also timed over HTTP as in benchmark 1, next to the same
//! reads from a plain SDK client, sizes interleaved in every round.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use callstats_core::{Flags, GuildConfig, GuildId, OpenSession, SessionId, Timestamp, UserId};
use callstats_devkit::client::{Caller, build_press};
use callstats_devkit::send::Signer;
use callstats_devkit::sign::key_from_seed;
use callstats_devkit::{Answer, Reply};
use callstats_interactions::App;
use callstats_interactions::config::ApiBase;
use callstats_store::Store;
use twilight_model::id::Id;

use crate::cost::{Mirror, Units, lifecycle, measure_lifecycle, ops_of, units_text};
use crate::harness::{Bench, endpoint_and_plain_client};
use crate::recorder::{Call, Recorder};
use crate::replay::Read;
use crate::report::{Outcome, Row, Verdict};
use crate::seed;
use crate::server_view;
use crate::show::{ids, interaction, measure_round, record, seed_member};
use crate::stats::{Summary, ratio};

/// A server whose board holds `members` members: each with one to three sessions over the
/// last days (one each on a board of more than 1,000, to keep the seeding short), shared with
/// others, a display name, shard 0's heartbeat, two public channels of three, and three
/// members in a call. Returns a member
/// in the middle of the board, to ask as.
pub(crate) async fn seed_board(
    store: &Store,
    guild: GuildId,
    members: u64,
) -> anyhow::Result<(Vec<UserId>, seed::Seeded)> {
    let config = GuildConfig::default();
    let now = seed::wall_now();
    let users: Vec<UserId> = (0..members)
        .map(|n| Id::new(guild.get() + 1_000_000 + n))
        .collect();
    let mut plan = Vec::new();
    for (n, user) in users.iter().enumerate() {
        let company: Vec<UserId> = (1..=3).map(|k| users[(n + k * 7) % users.len()]).collect();
        plan.extend(seed::history(
            *user,
            guild,
            if members > 1_000 { 1 } else { 1 + n % 3 },
            now.minus(3600 + (n as u64 % 50) * 600),
            n as u64,
            &config,
            &company,
        ));
    }
    let seeded = seed::real(store, &plan, &config, 16).await?;
    futures_util::future::try_join_all(users.chunks(users.len().div_ceil(16)).map(
        |chunk| async move {
            for user in chunk {
                store
                    .set_name(
                        guild,
                        *user,
                        &format!("Member {}", user.get() % 100_000),
                        Timestamp::EPOCH,
                    )
                    .await?;
            }
            Ok::<_, anyhow::Error>(())
        },
    ))
    .await?;
    store.heartbeat(0, now, 30).await?;
    // Two of the three channels are public: `/callstats server` sums the third as "other".
    store
        .set_public_channels(guild, &seed::channels(guild)[..2])
        .await?;
    for (n, user) in users.iter().take(3).enumerate() {
        let open = OpenSession::new(
            SessionId::new(now.minus(600 + n as u64), 77),
            *user,
            guild,
            seed::channels(guild)[n % 3],
            Flags::NONE,
        );
        store.start_session(&open, config.rule).await?;
    }
    Ok((users, seeded))
}

/// What one more session of a member costs in a server whose board is as seeded.
#[derive(Clone, Debug)]
struct SessionInBoard {
    board: u64,
    who: &'static str,
    /// Join, mute, leave and the flush.
    total: Units,
    flush: Units,
    /// The server item, as the flush read or wrote it.
    bytes: usize,
    /// Whether the flush wrote the server item.
    wrote: bool,
    entries: usize,
}

/// One more session of `user` (join, mute, leave) and one board flush for it; the copy of
/// the table knows the member's items and the server item.
async fn session_in_board(
    store: &Store,
    guild: GuildId,
    user: UserId,
    partners: &[UserId],
) -> anyhow::Result<(Units, Units, usize, bool, usize)> {
    let config = GuildConfig::default();
    let now = seed::wall_now();
    let session = lifecycle(user, guild, now.minus(50 * 60), 1800, partners);
    let pk = format!("U#{user}");
    let mut keys = vec![
        (pk.clone(), "USER".to_owned()),
        (pk.clone(), format!("O#{guild}")),
        (pk.clone(), format!("A#{guild}")),
        (format!("G#{guild}"), "GUILD".to_owned()),
    ];
    for (day, _) in seed::utc_days(session.0.start(), session.2.end) {
        keys.push((pk.clone(), format!("D#{guild}#{day}")));
    }
    let recorder = Recorder::default();
    let recording = recorder.store(store);
    let mut mirror = Mirror::with_items(store, &keys).await?;
    let measured = measure_lifecycle(&recording, &recorder, &mut mirror, &config, session).await?;
    let (flush, bytes, wrote) = measured.flush().context("no board flush measured")?;
    let entries = store.board(guild).await?.0.entries.len();
    Ok((measured.total, flush, bytes, wrote, entries))
}

/// One more session in a server, for a member at the top of its all-time board (not in a
/// call) and, on a board that keeps only part of the server, for `below` too.
async fn sessions_in_board(
    store: &Store,
    guild: GuildId,
    users: &[UserId],
    below: UserId,
) -> anyhow::Result<Vec<SessionInBoard>> {
    let (board, _) = store.board(guild).await?;
    let in_call = &users[..3];
    let top = board
        .entries
        .iter()
        .filter(|(u, _)| !in_call.contains(u) && **u != below)
        .max_by_key(|(u, f)| (f[4], std::cmp::Reverse(**u)))
        .map(|(u, _)| *u)
        .context("an empty board")?;
    let mut who = vec![("a member at the top of the board", top)];
    if !board.entries.contains_key(&below) {
        who.push(("a member below the board's floors", below));
    }
    let mut out = Vec::new();
    for (what, user) in who {
        let (total, flush, bytes, wrote, entries) =
            session_in_board(store, guild, user, &[users[0], users[1]]).await?;
        out.push(SessionInBoard {
            board: users.len() as u64,
            who: what,
            total,
            flush,
            bytes,
            wrote,
            entries,
        });
    }
    Ok(out)
}

/// Runs `line` (or a button press, `press`) once through the handler on a recording client,
/// and charges the reads it made, those of the background work it started included (a big
/// server's `/callstats server`: the job's reads are recorded, its edit of the response goes
/// nowhere).
pub(crate) async fn charged(
    store: &Store,
    signer: &Signer,
    caller: &Caller,
    request: serde_json::Value,
) -> anyhow::Result<(Vec<Call>, Units, Reply)> {
    let recorder = Recorder::default();
    let app = App::builder(recorder.store(store), signer.key.verifying_key())
        .api_base(ApiBase::parse("http://127.0.0.1:1/api/v10")?)
        .build();
    let request = signer.request("http://bench/", &request)?;
    let answer = Answer::from_response(app.handle(request).await);
    ensure!(
        answer.status == 200,
        "the handler answered {}",
        answer.status
    );
    app.background().drain(Duration::from_mins(10)).await;
    let calls = recorder.take();
    let units = Mirror::reads_only(store).charge(&calls).await?;
    let _ = caller;
    Ok((calls, units, answer.reply()?))
}

/// One command's cost at each size.
struct CostLine {
    what: String,
    sizes: Vec<String>,
    units: Vec<Units>,
    ops: Vec<String>,
}

#[allow(clippy::too_many_lines)] // one benchmark: seeding, costs, rounds, then its report
pub async fn run(bench: &Bench) -> anyhow::Result<Outcome> {
    let store = bench.fresh_store("scaling").await?;
    let mut notes = Vec::new();
    let sizes: Vec<usize> = bench.size(vec![10, 1_000, 10_000], vec![10, 50, 200]);
    let mut members = Vec::new();
    for (i, count) in sizes.iter().enumerate() {
        let (guild, user) = ids(100 + i as u64);
        let seeded = seed_member(&store, guild, user, *count).await?;
        notes.push(format!(
            "{} sessions of one member in {:.0} s",
            seeded.sessions,
            seeded.took.as_secs_f64()
        ));
        members.push(Caller {
            user: user.get(),
            guild: guild.get(),
        });
    }
    // Each board in a table of its own: the local server's index queries scan a whole table,
    // and the timed requests below should not wait for another table's items (a server view
    // of the small board would otherwise outlast the handler's deadline).
    let boards: Vec<u64> = bench.size(vec![100, 10_000], vec![12, 60]);
    let mut board_stores = Vec::new();
    let mut board_callers = Vec::new();
    let mut board_members: Vec<Vec<UserId>> = Vec::new();
    for (i, count) in boards.iter().enumerate() {
        let guild: GuildId = Id::new(860_000_000_000_000_000 + i as u64 * 10_000_000);
        let boards_store = bench.fresh_store(&format!("board-{count}")).await?;
        let (users, seeded) = seed_board(&boards_store, guild, *count).await?;
        board_stores.push(boards_store);
        notes.push(format!(
            "a board of {count} members: {} sessions, {} board flushes, in {:.0} s",
            seeded.sessions,
            seeded.flushes,
            seeded.took.as_secs_f64()
        ));
        board_callers.push(Caller {
            user: users[users.len() / 2].get(),
            guild: guild.get(),
        });
        board_members.push(users);
    }
    let signer = Signer::new(key_from_seed(5));

    // Read units, from the items each command read.
    let mut cost_lines: Vec<CostLine> = Vec::new();
    for line in [
        "/callstats show",
        "/callstats show period:7d",
        "/callstats show period:30d",
        "/callstats history",
    ] {
        let mut c = CostLine {
            what: format!("`{line}`"),
            sizes: sizes.iter().map(|s| format!("{s} past sessions")).collect(),
            units: Vec::new(),
            ops: Vec::new(),
        };
        for (i, caller) in members.iter().enumerate() {
            let (calls, units, _) = charged(
                &store,
                &signer,
                caller,
                interaction(line, caller, i as u64)?,
            )
            .await?;
            c.ops.push(ops_of(&calls));
            c.units.push(units);
        }
        cost_lines.push(c);
    }
    for (what, line, page2) in [
        ("`/calltop` (this week), page 1", "/calltop", false),
        (
            "`/calltop period:all`, page 1",
            "/calltop period:all",
            false,
        ),
        (
            "`/calltop period:all`, Next (page 2)",
            "/calltop period:all",
            true,
        ),
        ("`/callstats show` of a member", "/callstats show", false),
    ] {
        let mut c = CostLine {
            what: what.to_owned(),
            sizes: boards.iter().map(|b| format!("board of {b}")).collect(),
            units: Vec::new(),
            ops: Vec::new(),
        };
        for (i, caller) in board_callers.iter().enumerate() {
            let (calls, units, reply) = charged(
                &board_stores[i],
                &signer,
                caller,
                interaction(line, caller, i as u64)?,
            )
            .await?;
            let (calls, units) = if page2 {
                let press = build_press(&reply, "next", caller, (1 << 40) + 77)?;
                let (calls, units, reply) =
                    charged(&board_stores[i], &signer, caller, press).await?;
                ensure!(
                    reply.response.to_string().contains("Your rank:**"),
                    "page 2 shows no rank line"
                );
                (calls, units)
            } else {
                (calls, units)
            };
            if line.starts_with("/calltop") {
                ensure!(
                    reply.response.to_string().contains("Your rank:**"),
                    "{line}: no rank line"
                );
            }
            c.ops.push(ops_of(&calls));
            c.units.push(units);
        }
        cost_lines.push(c);
    }

    // One more session in each server, with its board flush: what a session's writes cost as
    // the board grows (the flush rewrites the whole server item).
    let mut sessions_in_boards = Vec::new();
    let mut sessions_failed = Vec::new();
    for ((caller, users), boards_store) in
        board_callers.iter().zip(&board_members).zip(&board_stores)
    {
        match sessions_in_board(
            boards_store,
            Id::new(caller.guild),
            users,
            Id::new(caller.user),
        )
        .await
        {
            Ok(measured) => sessions_in_boards.extend(measured),
            Err(err) => {
                sessions_failed.push(format!("board of {}: not measured ({err:#})", users.len()));
            }
        }
    }

    let rounds = bench.size(20, 4);
    let mut rows = Vec::new();
    let mut detail = String::new();
    let _ = writeln!(
        detail,
        "Everything stored through the store's own writes, as the sidecar makes them (a start \
         and an end per session, the board flushed behind the ends): {}. The members of the \
         history sizes have a timezone and a call in progress; the boards' members have one \
         to three sessions over the last days, shared with others, a display name, and three \
         of them are in a call. RCU: computed from the items each command's answers carried \
         (DynamoDB's rules, `tests/bench/src/size.rs`); the command runs through the \
         endpoint's handler in this process, asked by the member (for the boards, a member \
         in the middle of the board).\n",
        notes.join("; ")
    );
    detail.push_str("| command | size | calls | RCU (computed) | reported by the server |\n|---|---|---|---|---|\n");
    for c in &cost_lines {
        for ((size, u), ops) in c.sizes.iter().zip(&c.units).zip(&c.ops) {
            let _ = writeln!(
                detail,
                "| {} | {size} | {ops} | {} | {} |",
                c.what,
                units_text(u.read),
                u.reported_text()
            );
        }
    }
    let _ = writeln!(
        detail,
        "\nOne more session of that member (join, mute, leave, 30 minutes with two partners) \
         and the sidecar's board flush for it, in each server: the flush reads and rewrites \
         the whole server item, whose board grows with the server (each of the six boards \
         keeps its top 1,000). How many ends one flush carries depends on how many end within \
         the writer's interval for that board (2 s, plus 10 ms per member on it, at most a \
         minute).\n"
    );
    detail.push_str("| server | whose session | session WCU (table + index), flush included | RCU | the flush: WCU / RCU | server item | members on the board | flush interval |\n|---|---|---|---|---|---|---|---|\n");
    for s in &sessions_in_boards {
        let _ = writeln!(
            detail,
            "| board of {} | {} | {} ({} + {}) | {} | {} / {}{} | {} bytes | {} | {:.1} s |",
            s.board,
            s.who,
            units_text(s.total.wcu()),
            units_text(s.total.write),
            units_text(s.total.index_total()),
            units_text(s.total.read),
            units_text(s.flush.wcu()),
            units_text(s.flush.read),
            if s.wrote {
                ""
            } else {
                " (nothing changed on the board: no write)"
            },
            s.bytes,
            s.entries,
            seed::flush_interval(s.entries).as_secs_f64()
        );
    }
    for failed in &sessions_failed {
        let _ = writeln!(detail, "\nOne more session, {failed}.");
    }
    rows.push(Row::new(
        "WCU of one session with its own board flush, a member at the top of the board; boards of "
            .to_owned()
            + &boards
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" / "),
        sessions_in_boards
            .iter()
            .filter(|s| s.who.contains("top"))
            .map(|s| {
                format!(
                    "{} (flush {}, server item {:.1} KB)",
                    units_text(s.total.wcu()),
                    units_text(s.flush.wcu()),
                    s.bytes as f64 / 1024.0
                )
            })
            .collect::<Vec<_>>()
            .join(" / "),
    ));
    for c in &cost_lines {
        let rcu: Vec<String> = c.units.iter().map(|u| units_text(u.read)).collect();
        let (target, verdict) = if c.what.starts_with("`/calltop") {
            (
                "≤ 10 RCU at both sizes",
                Verdict::of(c.units.iter().all(|u| u.read <= 10.0)),
            )
        } else if c.what.starts_with("`/callstats show` of a member") {
            ("", Verdict::Info)
        } else if c.what.starts_with("`/callstats show") {
            let flat = c
                .units
                .iter()
                .all(|u| (u.read - c.units[0].read).abs() < 1e-9);
            (
                "≤ 4 RCU, the same at every size",
                Verdict::of(flat && c.units.iter().all(|u| u.read <= 4.0)),
            )
        } else {
            ("", Verdict::Info)
        };
        rows.push(
            Row::new(
                format!("{} RCU at {}", c.what, c.sizes.join(" / ")),
                rcu.join(" / "),
            )
            .baseline(
                format!(
                    "server reported {}",
                    c.units
                        .iter()
                        .map(Units::reported_text)
                        .collect::<Vec<_>>()
                        .join(" / ")
                ),
                "",
            )
            .target(target, verdict),
        );
    }
    match latency(bench, &store, &signer, &members, &sizes, rounds).await {
        Ok((more_rows, more_detail)) => {
            rows.extend(more_rows);
            detail.push_str(&more_detail);
        }
        Err(err) => {
            rows.push(Row::new(
                "`/callstats show` latency over HTTP",
                format!("not measured: the timed rounds failed ({err:#})"),
            ));
            let _ = writeln!(
                detail,
                "\nThe timed rounds of `/callstats show` failed: {err:#}."
            );
        }
    }
    let (more_rows, more_detail) =
        server_view::measure_views(bench, &board_stores, &signer, &board_callers, &boards)
            .await
            .context("`/callstats server`")?;
    rows.extend(more_rows);
    detail.push_str(&more_detail);
    Ok(Outcome {
        name: "scaling",
        rows,
        detail,
    })
}

/// `/callstats show` over HTTP at each history size, next to the same reads from a plain SDK
/// client: its rows and its part of the details.
#[allow(clippy::too_many_lines)] // the timed rounds and their report
async fn latency(
    bench: &Bench,
    store: &Store,
    signer: &Signer,
    members: &[Caller],
    sizes: &[usize],
    rounds: usize,
) -> anyhow::Result<(Vec<Row>, String)> {
    let (endpoint, url, client) =
        endpoint_and_plain_client(bench, store.table(), &signer.public_hex()).await?;
    let mut rows = Vec::new();
    let mut detail = String::new();
    let result = async {
    let _ = writeln!(
            detail,
            "\nLatency of `/callstats show` over HTTP (`callstats-interactions serve`, the build \
             this run used) next to the same reads from a plain SDK client: {rounds} rounds; in \
             each, every size in turn (the order rotating), one request to the endpoint and one \
             replay of the same reads, alternating which goes first.\n"
        );
        detail.push_str("| command | past sessions | endpoint p50 / p99 (ms) | baseline p50 / p99 (ms) | ratio (p50) |\n|---|---|---|---|---|\n");
        let started = Instant::now();
        for line in ["/callstats show", "/callstats show period:7d"] {
            let mut reads = Vec::new();
            for caller in members {
                let (calls, _) = record(store, signer, caller, line).await?;
                reads.push(Read::from_calls(&calls)?);
            }
            let mut endpoint_samples: Vec<Vec<Duration>> = vec![Vec::new(); members.len()];
            let mut baseline_samples: Vec<Vec<Duration>> = vec![Vec::new(); members.len()];
            // Warm-up.
            for (i, caller) in members.iter().enumerate() {
                measure_round(signer, &url, caller, line, &client, &reads[i], true, 1).await?;
            }
            for round in 0..rounds {
                for k in 0..members.len() {
                    let i = (round + k) % members.len();
                    let (e, b) = measure_round(
                        signer,
                        &url,
                        &members[i],
                        line,
                        &client,
                        &reads[i],
                        round % 2 == 0,
                        1,
                    )
                    .await
                    .with_context(|| format!("measure {line}"))?;
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
                    "| `{line}` | {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2}× |",
                    sizes[i],
                    e.p50_ms,
                    e.p99_ms,
                    b.p50_ms,
                    b.p99_ms,
                    ratio(e.p50_ms, b.p50_ms),
                );
            }
            let first = &summaries[0];
            let last = &summaries[summaries.len() - 1];
            let growth = ratio(last.0.p50_ms, first.0.p50_ms);
            let base_growth = ratio(last.1.p50_ms, first.1.p50_ms);
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
                        "`{line}` p50 at {} past sessions",
                        sizes
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(" / ")
                    ),
                    format!("{} ms", join(&|s| s.0.p50_ms)),
                )
                .baseline(
                    format!("{} ms (same reads, plain SDK)", join(&|s| s.1.p50_ms)),
                    format!("{growth:.2}× (baseline {base_growth:.2}×) largest / smallest"),
                )
                .target("flat (≤ 1.3× growth)", Verdict::of(growth <= 1.3)),
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
        let _ = writeln!(
            detail,
            "\nThe timed rounds took {:.0} s.",
            started.elapsed().as_secs_f64()
        );
        Ok::<(), anyhow::Error>(())
    }
    .await;
    endpoint.kill().await;
    result?;
    Ok((rows, detail))
}

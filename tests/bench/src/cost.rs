//! 5. Read and write units per operation: what the local server reports (it is asked for
//!    `ReturnConsumedCapacity` by an interceptor on the store's own client), and what
//!    DynamoDB would charge, computed from the items each call touched with DynamoDB's
//!    published rules ([`crate::size`]).
//!
//! The computation keeps a copy of the table (read once at the start, then every item a write
//! touched is read again after it): a write costs by the larger of the item's sizes before
//! and after, a condition check by the item checked, a read by what it read; index writes
//! by how each item's index entries changed. Queries that only count (`Select: COUNT`) are
//! charged for the entries they counted, which are fetched again to be sized.

use std::collections::HashMap;
use std::fmt::Write as _;

use anyhow::{Context, ensure};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use callstats_core::{Flags, GuildConfig, GuildId, OpenSession, SessionId, Timestamp, UserId};
use callstats_devkit::Answer;
use callstats_devkit::client::{Caller, build_press};
use callstats_devkit::send::Signer;
use callstats_devkit::sign::key_from_seed;
use callstats_interactions::App;
use callstats_store::Store;
use serde_json::Value;
use twilight_model::id::Id;

use crate::harness::Bench;
use crate::recorder::{Call, Recorder};
use crate::report::{Outcome, Row, Verdict};
use crate::seed;
use crate::show::interaction;
use crate::size::{INDEXES, Item, item_from_json, item_size, read_units, write_units};

type Key = (String, String);

fn key_of(item: &Item) -> Option<Key> {
    let get = |n: &str| match item.get(n) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    };
    Some((get("pk")?, get("sk")?))
}

/// Units of one call, or of several added up.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Units {
    pub read: f64,
    pub write: f64,
    /// Writes to global secondary indexes.
    pub index: f64,
    /// What the server said (summed over calls that reported anything).
    pub reported: f64,
    pub calls: usize,
}

impl Units {
    fn add(&mut self, other: Self) {
        self.read += other.read;
        self.write += other.write;
        self.index += other.index;
        self.reported += other.reported;
        self.calls += other.calls;
    }
}

/// A copy of the table that follows every recorded write.
#[derive(Debug)]
pub struct Mirror {
    client: Client,
    table: String,
    items: HashMap<Key, Item>,
    /// Holds the whole table (else items are read when first needed, for reads only).
    complete: bool,
    /// What each item written by the last charged step cost.
    pub last_items: Vec<ItemCharge>,
}

/// The units one written item cost.
#[derive(Clone, Debug)]
pub struct ItemCharge {
    /// The item's sort key, ids left out (`A#…`, `D#…#2026-11-25`).
    pub item: String,
    pub bytes: usize,
    pub write: f64,
    pub index: f64,
}

/// A sort key without its ids, to name an item type.
fn item_kind(sk: &str) -> String {
    sk.split('#')
        .map(|part| {
            if part.len() > 8 && part.chars().all(|c| c.is_ascii_digit()) {
                "…".to_owned()
            } else if part.len() > 8
                && part.contains('-')
                && part.chars().next().is_some_and(|c| c.is_ascii_digit())
                && part.len() > 12
            {
                "<session>".to_owned()
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("#")
}

impl Mirror {
    /// Reads the whole table (small: the benchmark's own).
    pub async fn new(store: &Store) -> anyhow::Result<Self> {
        let client = store.client().clone();
        let table = store.table().as_str().to_owned();
        let mut items = HashMap::new();
        let mut start = None;
        loop {
            let out = client
                .scan()
                .table_name(&table)
                .set_exclusive_start_key(start.take())
                .consistent_read(true)
                .send()
                .await?;
            for item in out.items.unwrap_or_default() {
                if let Some(k) = key_of(&item) {
                    items.insert(k, item);
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(Self {
            client,
            table,
            items,
            complete: true,
            last_items: Vec::new(),
        })
    }

    /// A copy that reads items when a call first needs them: for charging reads only (a
    /// big table takes too long to copy whole from the local server).
    #[must_use]
    pub fn lazy(store: &Store) -> Self {
        Self {
            client: store.client().clone(),
            table: store.table().as_str().to_owned(),
            items: HashMap::new(),
            complete: false,
            last_items: Vec::new(),
        }
    }

    async fn read(&self, key: &Key) -> anyhow::Result<Option<Item>> {
        Ok(self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.0.clone()))
            .key("sk", AttributeValue::S(key.1.clone()))
            .consistent_read(true)
            .send()
            .await?
            .item)
    }

    /// The units of `calls` (one step's, in order), moving the copy to the state after them.
    pub async fn charge(&mut self, calls: &[Call]) -> anyhow::Result<Units> {
        // Every item a write touched, read once after the step.
        let mut touched: Vec<Key> = Vec::new();
        for call in calls {
            for (_, key, _) in writes_of(call) {
                if !touched.contains(&key) {
                    touched.push(key);
                }
            }
        }
        let mut after: HashMap<Key, Option<Item>> = HashMap::new();
        for key in &touched {
            after.insert(key.clone(), self.read(key).await?);
        }
        let mut total = Units::default();
        self.last_items.clear();
        for call in calls {
            let mut units = Units {
                calls: 1,
                reported: call.reported_units().unwrap_or(0.0),
                ..Units::default()
            };
            match call.op.as_str() {
                "GetItem" => {
                    let key = call
                        .request
                        .get("Key")
                        .and_then(item_from_json)
                        .and_then(|k| key_of(&k));
                    let size = key.and_then(|k| self.items.get(&k)).map_or(0, item_size);
                    units.read = read_units(size, call.request["ConsistentRead"] == true);
                }
                "Query" => {
                    let items = self.query_items(call).await?;
                    let size: usize = items.iter().map(item_size).sum();
                    units.read = read_units(size, call.request["ConsistentRead"] == true);
                }
                _ => {
                    ensure!(self.complete, "a lazy copy cannot charge writes");
                    for (kind, key, transactional) in writes_of(call) {
                        let before = self.items.get(&key).cloned();
                        let now = if call.ok {
                            after.get(&key).cloned().flatten()
                        } else {
                            before.clone()
                        };
                        let size = match kind {
                            WriteKind::Check => before.as_ref().map_or(0, item_size),
                            WriteKind::Change => before
                                .as_ref()
                                .map_or(0, item_size)
                                .max(now.as_ref().map_or(0, item_size)),
                        };
                        let factor = if transactional { 2.0 } else { 1.0 };
                        let write = factor * write_units(size);
                        let index: f64 = INDEXES
                            .iter()
                            .map(|i| i.write_units(before.as_ref(), now.as_ref()))
                            .sum();
                        units.write += write;
                        units.index += index;
                        self.last_items.push(ItemCharge {
                            item: match kind {
                                WriteKind::Check => {
                                    format!("{} (condition check)", item_kind(&key.1))
                                }
                                WriteKind::Change => item_kind(&key.1),
                            },
                            bytes: size,
                            write,
                            index,
                        });
                        match now {
                            Some(item) => self.items.insert(key, item),
                            None => self.items.remove(&key),
                        };
                    }
                }
            }
            total.add(units);
        }
        Ok(total)
    }

    /// The items (or index entries) a query read.
    async fn query_items(&self, call: &Call) -> anyhow::Result<Vec<Item>> {
        if call.request["Select"] != "COUNT" {
            return Ok(call.response["Items"]
                .as_array()
                .map(|items| items.iter().filter_map(item_from_json).collect())
                .unwrap_or_default());
        }
        // Counted entries: fetch them to size them.
        let mut request = call.request.clone();
        if let Some(obj) = request.as_object_mut() {
            obj.remove("Select");
            obj.remove("ReturnConsumedCapacity");
        }
        let r = &request;
        let string = |n: &str| r.get(n).and_then(Value::as_str).map(str::to_owned);
        let out = self
            .client
            .query()
            .set_table_name(string("TableName"))
            .set_index_name(string("IndexName"))
            .set_key_condition_expression(string("KeyConditionExpression"))
            .set_expression_attribute_names(r.get("ExpressionAttributeNames").and_then(|m| {
                m.as_object().map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
            }))
            .set_expression_attribute_values(
                r.get("ExpressionAttributeValues").and_then(item_from_json),
            )
            .set_exclusive_start_key(r.get("ExclusiveStartKey").and_then(item_from_json))
            .set_limit(
                r.get("Limit")
                    .and_then(Value::as_i64)
                    .and_then(|l| i32::try_from(l).ok()),
            )
            .send()
            .await
            .context("fetch counted entries")?;
        Ok(out.items.unwrap_or_default())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteKind {
    Check,
    Change,
}

/// The items a write call touches: kind, key, inside a transaction or not.
fn writes_of(call: &Call) -> Vec<(WriteKind, Key, bool)> {
    let key_in = |v: &Value, field: &str| {
        v.get(field)
            .and_then(item_from_json)
            .and_then(|i| key_of(&i))
    };
    match call.op.as_str() {
        "PutItem" => key_in(&call.request, "Item")
            .map(|k| vec![(WriteKind::Change, k, false)])
            .unwrap_or_default(),
        "UpdateItem" | "DeleteItem" => key_in(&call.request, "Key")
            .map(|k| vec![(WriteKind::Change, k, false)])
            .unwrap_or_default(),
        "TransactWriteItems" => call.request["TransactItems"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|t| {
                        if let Some(c) = t.get("ConditionCheck") {
                            Some((WriteKind::Check, key_in(c, "Key")?, true))
                        } else if let Some(p) = t.get("Put") {
                            Some((WriteKind::Change, key_in(p, "Item")?, true))
                        } else if let Some(d) = t.get("Delete") {
                            Some((WriteKind::Change, key_in(d, "Key")?, true))
                        } else {
                            Some((WriteKind::Change, key_in(t.get("Update")?, "Key")?, true))
                        }
                    })
                    .collect()
            })
            .unwrap_or_default(),
        "BatchWriteItem" => call.request["RequestItems"]
            .as_object()
            .map(|tables| {
                tables
                    .values()
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter_map(|w| {
                        w.get("PutRequest")
                            .and_then(|p| key_in(p, "Item"))
                            .or_else(|| w.get("DeleteRequest").and_then(|d| key_in(d, "Key")))
                    })
                    .map(|k| (WriteKind::Change, k, false))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// One line of the cost table.
#[derive(Clone, Debug)]
struct Line {
    what: String,
    units: Units,
    ops: String,
    documented: &'static str,
}

fn ops_of(calls: &[Call]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for c in calls {
        let name = if c.op == "TransactWriteItems" {
            let n = c.request["TransactItems"].as_array().map_or(0, Vec::len);
            format!("TransactWriteItems({n})")
        } else {
            c.op.clone()
        };
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, k)) => *k += 1,
            None => counts.push((name, 1)),
        }
    }
    counts
        .into_iter()
        .map(|(n, k)| if k == 1 { n } else { format!("{k}× {n}") })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// A session of `user` from `start` for `secs`, muted after a third of it.
fn lifecycle(
    user: UserId,
    guild: GuildId,
    start: Timestamp,
    secs: u64,
) -> (OpenSession, OpenSession, callstats_core::ClosedSession) {
    let open = OpenSession::new(
        SessionId::new(start, 4242),
        user,
        guild,
        Id::new(guild.get() + 11),
        Flags::NONE,
    );
    let mut muted = open.clone();
    muted.set_flags(start.plus(secs / 3), Flags::MUTED, chrono_tz::Tz::UTC);
    let closed = muted
        .clone()
        .close(start.plus(secs), chrono_tz::Tz::UTC, false);
    (open, muted, closed)
}

async fn step<F, Fut, T>(
    recorder: &Recorder,
    mirror: &mut Mirror,
    f: F,
) -> anyhow::Result<(T, Vec<Call>, Units)>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let _ = recorder.take();
    let value = f().await?;
    let calls = recorder.take();
    let units = mirror.charge(&calls).await?;
    Ok((value, calls, units))
}

#[allow(clippy::too_many_lines)] // one scenario after the other, in the order of the table
pub async fn run(bench: &Bench) -> anyhow::Result<Outcome> {
    let plain = bench.fresh_store("cost").await?;
    let recorder = Recorder::default();
    let store = recorder.store(&plain);
    let config = GuildConfig::default();
    let guild: GuildId = Id::new(820_000_000_000_000_000);
    let now = Timestamp::from_datetime(chrono::Utc::now());
    // A regular: 300 sessions (a full heatmap), a timezone; 59 others on the leaderboards.
    let regular: UserId = Id::new(821_000_000_000_000_000);
    let mut histories = seed::history(
        regular,
        guild,
        bench.size(300, 30),
        now.minus(86_400),
        3,
        &config,
    );
    for n in 1..bench.size(60u64, 12) {
        let user: UserId = Id::new(821_000_000_000_000_000 + n);
        histories.extend(seed::history(user, guild, 4, now.minus(3600), n, &config));
    }
    seed::direct(&plain, &histories, &config).await?;
    plain
        .set_user_timezone(regular, Some(chrono_tz::Europe::Berlin))
        .await?;
    let mut mirror = Mirror::new(&plain).await?;
    let mut lines: Vec<Line> = Vec::new();
    let mut regular_end: Vec<ItemCharge> = Vec::new();

    // Session lifecycles: a newcomer's first session, and a regular's, both inside one day.
    // Yesterday 10:00 UTC: inside one UTC day, and over.
    let yesterday = callstats_core::period::Day::of(now).start().minus(86_400);
    for (label, user, documented) in [
        (
            "first session of a newcomer (join, mute, leave)",
            Id::new(822_000_000_000_000_000),
            "19-23 WCU + 5-14 index, 2 RCU",
        ),
        (
            "a regular's session (join, mute, leave)",
            regular,
            "19-23 WCU + 5-14 index, 2 RCU",
        ),
    ] {
        let (open, muted, closed) = lifecycle(user, guild, yesterday.plus(10 * 3600), 1800);
        let mut parts = Units::default();
        let mut all_calls = Vec::new();
        let ((), calls, units) = step(&recorder, &mut mirror, || async {
            let outcome = store.start_session(&open).await?;
            ensure!(
                outcome == callstats_store::StartOutcome::Started,
                "start: {outcome:?}"
            );
            Ok(())
        })
        .await?;
        lines.push(Line {
            what: format!("— join: start session ({label})"),
            units,
            ops: ops_of(&calls),
            documented: "6 WCU + 1 index",
        });
        parts.add(units);
        all_calls.extend(calls);
        let ((), calls, units) = step(&recorder, &mut mirror, || async {
            let outcome = store.update_session(&muted).await?;
            ensure!(
                outcome == callstats_store::UpdateOutcome::Updated,
                "update: {outcome:?}"
            );
            Ok(())
        })
        .await?;
        lines.push(Line {
            what: "— mute: update session".into(),
            units,
            ops: ops_of(&calls),
            documented: "1 WCU",
        });
        parts.add(units);
        all_calls.extend(calls);
        let ((), calls, units) = step(&recorder, &mut mirror, || async {
            let outcome = store.end_session(&closed, &config, true).await?;
            ensure!(
                outcome == callstats_store::EndOutcome::Ended,
                "end: {outcome:?}"
            );
            Ok(())
        })
        .await?;
        if user == regular {
            regular_end = mirror.last_items.clone();
        }
        lines.push(Line {
            what: "— leave: end session".into(),
            units,
            ops: ops_of(&calls),
            documented: "12-16 WCU + 4-13 index, 2 RCU",
        });
        parts.add(units);
        all_calls.extend(calls);
        // Put the whole session first, its parts after it.
        let at = lines.len() - 3;
        lines.insert(
            at,
            Line {
                what: format!("**{label}**"),
                units: parts,
                ops: ops_of(&all_calls),
                documented,
            },
        );
    }
    // The regular's session across midnight UTC: one more day item.
    {
        let (open, muted, closed) = lifecycle(regular, guild, yesterday.minus(1800), 3600);
        let ((), calls, units) = step(&recorder, &mut mirror, || async {
            store.start_session(&open).await?;
            store.update_session(&muted).await?;
            store.end_session(&closed, &config, true).await?;
            Ok(())
        })
        .await?;
        lines.push(Line {
            what: "**a regular's session across midnight UTC**".into(),
            units,
            ops: ops_of(&calls),
            documented: "+2 WCU per extra day",
        });
    }
    // Heartbeat.
    let ((), calls, units) = step(&recorder, &mut mirror, || async {
        store.heartbeat(0, now).await?;
        Ok(())
    })
    .await?;
    lines.push(Line {
        what: "heartbeat (per shard, every 30 s)".into(),
        units,
        ops: ops_of(&calls),
        documented: "1 WCU",
    });

    // Commands, through the handler in this process.
    let signer = Signer::new(key_from_seed(9));
    let app = App::builder(store.clone(), signer.key.verifying_key()).build();
    let caller = Caller {
        user: regular.get(),
        guild: guild.get(),
    };
    let other = Caller {
        user: 821_000_000_000_000_005,
        guild: guild.get(),
    };
    let mut top_answer = None;
    for (line, who, documented) in [
        ("/callstats show", &caller, "about 3 RCU"),
        ("/callstats show period:7d", &caller, "+0.5"),
        ("/callstats show period:30d", &caller, "+1"),
        ("/callstats show user:821000000000000003", &other, "+0.5"),
        ("/calltop period:all", &caller, "0.5 per 45 entries + 1"),
        ("/calltop", &caller, "0.5 per 45 entries + 1"),
    ] {
        let request = signer.request("http://bench/", &interaction(line, who, 1)?)?;
        let (answer, calls, units) = step(&recorder, &mut mirror, || async {
            let answer = Answer::from_response(app.handle(request).await);
            ensure!(answer.status == 200, "{line}: {}", answer.status);
            Ok(answer.reply()?)
        })
        .await?;
        ensure!(
            answer.response["data"]["embeds"].is_array(),
            "{line}: no embed: {}",
            answer.response
        );
        if line == "/calltop period:all" {
            top_answer = Some(answer);
        }
        lines.push(Line {
            what: format!("`{line}`"),
            units,
            ops: ops_of(&calls),
            documented,
        });
    }
    if let Some(answer) = top_answer {
        let press = build_press(&answer, "next", &caller, (1 << 40) + 7)?;
        let request = signer.request("http://bench/", &press)?;
        let ((), calls, units) = step(&recorder, &mut mirror, || async {
            let response = app.handle(request).await;
            ensure!(response.status() == 200, "next page: {}", response.status());
            Ok(())
        })
        .await?;
        lines.push(Line {
            what: "`/calltop period:all`, Next (page 2)".into(),
            units,
            ops: ops_of(&calls),
            documented: "0.5 per 45 entries + 1",
        });
    }

    let find = |what: &str| {
        lines
            .iter()
            .find(|l| l.what.contains(what))
            .map(|l| l.units)
    };
    let mut rows = Vec::new();
    if let Some(u) = find("a regular's session (join") {
        let total = u.write + u.index;
        rows.push(
            Row::new(
                "WCU per session (join, mute, leave), computed",
                format!(
                    "{:.0} WCU ({:.0} table + {:.0} index), {:.1} RCU",
                    total, u.write, u.index, u.read
                ),
            )
            .baseline(
                format!(
                    "server reported {:.1} (a fixed figure per call)",
                    u.reported
                ),
                "",
            )
            .target("≤ 16 WCU", Verdict::of(total <= 16.0)),
        );
    }
    if let Some(u) = find("first session of a newcomer") {
        rows.push(Row::new(
            "WCU of a newcomer's first session, computed",
            format!(
                "{:.0} WCU ({:.0} table + {:.0} index)",
                u.write + u.index,
                u.write,
                u.index
            ),
        ));
    }
    if let Some(u) = find("`/callstats show`") {
        rows.push(
            Row::new(
                "RCU per `/callstats show`, computed",
                format!("{:.1} RCU in {} reads", u.read, u.calls),
            )
            .baseline(format!("server reported {:.1}", u.reported), "")
            .target("≤ 4 RCU", Verdict::of(u.read <= 4.0)),
        );
    }
    if let Some(u) = find("`/calltop period:all`") {
        rows.push(
            Row::new(
                "RCU per `/calltop` page 1, computed",
                format!("{:.1} RCU in {} reads", u.read, u.calls),
            )
            .baseline(format!("server reported {:.1}", u.reported), ""),
        );
    }
    let mut detail = String::new();
    let _ = writeln!(
        detail,
        "Computed = DynamoDB's rules applied to the items each call touched (see `tests/bench/src/size.rs`); \
         reported = what the local server (moto) put in `ConsumedCapacity` when asked: a fixed figure per call \
         type (0.5 for GetItem, 1 for Query, PutItem, UpdateItem and DeleteItem, nothing for transactions), \
         not a measurement. Members: one regular with {} sessions (every heatmap bucket in use) and {} others.\n",
        bench.size(300, 30),
        bench.size(59, 11)
    );
    detail.push_str("| operation | calls | computed WCU (table) | computed WCU (indexes) | computed RCU | reported by the server | docs/storage.md before these measurements |\n|---|---|---|---|---|---|---|\n");
    for l in &lines {
        let _ = writeln!(
            detail,
            "| {} | {} | {:.0} | {:.0} | {:.1} | {:.1} | {} |",
            l.what,
            l.ops,
            l.units.write,
            l.units.index,
            l.units.read,
            l.units.reported,
            l.documented
        );
    }
    let _ = writeln!(
        detail,
        "\nWhere the regular's end of session spends its units (the profile of the WCU target):\n\n\
         | item written | bytes (larger of before and after) | WCU (table, ×2 in the transaction) | WCU (indexes) |\n|---|---|---|---|"
    );
    for c in &regular_end {
        let _ = writeln!(
            detail,
            "| `{}` | {} | {:.0} | {:.0} |",
            c.item, c.bytes, c.write, c.index
        );
    }
    Ok(Outcome {
        name: "cost",
        rows,
        detail,
    })
}

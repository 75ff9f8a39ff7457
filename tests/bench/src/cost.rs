//! 5. Read and write units per operation: what DynamoDB would charge, computed with its
//!    published rules ([`crate::size`]) from the items each call really read and wrote, next
//!    to what the local server put in `ConsumedCapacity` (it is asked for it by an interceptor
//!    on the store's own client, [`crate::recorder`]).
//!
//! - A read is charged by what the answer carried: the items a `GetItem`, `BatchGetItem` or
//!   `Query` returned (a key that found nothing at the minimum).
//! - A write is charged by the item's real sizes before and after it: the benchmark keeps a
//!   copy of the table (read whole at the start) and reads back every item a write touched
//!   right after it, so each item's size is the table's, not an estimate; the larger of the
//!   two sizes is charged (twice inside a transaction, condition checks included; a write
//!   whose condition failed is charged by the item as it stayed). Each index is charged by how
//!   the item's entry in it changed.
//!
//! Each step is one store operation (or one command through the endpoint's handler) and must
//! write an item at most once, so "after" is the state that write left.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use anyhow::{Context, bail, ensure};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use callstats_core::period::Day;
use callstats_core::session::PartnerSecs;
use callstats_core::{
    ClosedSession, Flags, GuildConfig, GuildId, OpenSession, SessionId, Timestamp, UserId,
};
use callstats_devkit::Answer;
use callstats_devkit::client::{Caller, build_press};
use callstats_devkit::send::Signer;
use callstats_devkit::sign::key_from_seed;
use callstats_interactions::App;
use callstats_store::{BoardUpdate, EndOutcome, StartOutcome, Store, UpdateOutcome};
use serde_json::Value;
use twilight_model::id::Id;

use crate::harness::Bench;
use crate::recorder::{Call, Recorder};
use crate::report::{Outcome, Row, Verdict};
use crate::seed;
use crate::show::interaction;
use crate::size::{
    Index, Item, batch_read_units, indexes, item_from_json, item_size, read_units, write_units,
};

type Key = (String, String);

fn key_of(item: &Item) -> Option<Key> {
    let get = |n: &str| match item.get(n) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    };
    Some((get("pk")?, get("sk")?))
}

/// Units of one call, or of several added up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Units {
    pub read: f64,
    /// Writes to the table.
    pub write: f64,
    /// Writes to each global secondary index, by name.
    pub index: BTreeMap<&'static str, f64>,
    /// What the server put in `ConsumedCapacity`, summed over the calls that had it.
    pub reported: f64,
    /// Calls whose answer carried `ConsumedCapacity`.
    pub reported_calls: usize,
    pub calls: usize,
}

impl Units {
    pub fn add(&mut self, other: &Self) {
        self.read += other.read;
        self.write += other.write;
        for (name, units) in &other.index {
            *self.index.entry(name).or_default() += units;
        }
        self.reported += other.reported;
        self.reported_calls += other.reported_calls;
        self.calls += other.calls;
    }

    /// Index writes, every index together.
    #[must_use]
    pub fn index_total(&self) -> f64 {
        self.index.values().sum()
    }

    /// Table and index writes.
    #[must_use]
    pub fn wcu(&self) -> f64 {
        self.write + self.index_total()
    }

    /// What the server reported, as it reported it.
    #[must_use]
    pub fn reported_text(&self) -> String {
        if self.reported_calls == 0 {
            "nothing".to_owned()
        } else if self.reported_calls < self.calls {
            format!(
                "{} ({} of {} calls)",
                units_text(self.reported),
                self.reported_calls,
                self.calls
            )
        } else {
            units_text(self.reported)
        }
    }
}

/// Units as a table shows them: whole units as integers, halves with one decimal.
#[must_use]
pub fn units_text(u: f64) -> String {
    if (u - u.round()).abs() < 1e-9 {
        format!("{u:.0}")
    } else {
        format!("{u:.1}")
    }
}

/// What one item cost in one call.
#[derive(Clone, Debug)]
pub struct ItemCharge {
    /// The call (`UpdateItem`, `TransactWriteItems`, `BatchGetItem`, ...).
    pub op: String,
    /// The item's sort key, ids left out (`A#…`, `D#…#2026-11-25`), with what was done.
    pub item: String,
    /// Bytes charged: the larger of before and after for a write, the item read for a read.
    pub bytes: usize,
    pub read: f64,
    pub write: f64,
    pub index: BTreeMap<&'static str, f64>,
}

/// A sort key without its ids, to name an item type.
#[must_use]
pub fn item_kind(sk: &str) -> String {
    sk.split('#')
        .map(|part| {
            if part.len() > 8 && part.chars().all(|c| c.is_ascii_digit()) {
                "…".to_owned()
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("#")
}

/// Which items of the table a call wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteKind {
    Check,
    Change,
}

/// A copy of the table that follows every recorded write, to know each written item's size
/// before the write.
#[derive(Debug)]
pub struct Mirror {
    client: Client,
    table: String,
    items: HashMap<Key, Item>,
    /// Holds the whole table; without it, only reads and writes to `loaded` keys can be
    /// charged.
    complete: bool,
    /// Keys whose items (or absence) the copy knows.
    loaded: HashSet<Key>,
    indexes: Vec<Index>,
    /// What each item cost in the last charged step.
    pub last_items: Vec<ItemCharge>,
}

impl Mirror {
    /// Reads the whole table (strongly consistent scan: the benchmark's own, small table).
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
            loaded: HashSet::new(),
            indexes: indexes(),
            last_items: Vec::new(),
        })
    }

    /// A copy that charges reads only (they are charged by what their answers carried, so
    /// they need no copy of the table): for a big table that takes too long to copy.
    #[must_use]
    pub fn reads_only(store: &Store) -> Self {
        Self {
            client: store.client().clone(),
            table: store.table().as_str().to_owned(),
            items: HashMap::new(),
            complete: false,
            loaded: HashSet::new(),
            indexes: indexes(),
            last_items: Vec::new(),
        }
    }

    /// A copy that knows only the items of `keys` (read now, strongly consistent): enough to
    /// charge writes to them in a table too big to copy whole.
    pub async fn with_items(store: &Store, keys: &[(String, String)]) -> anyhow::Result<Self> {
        let mut mirror = Self::reads_only(store);
        for key in keys {
            if let Some(item) = mirror.read(key).await? {
                mirror.items.insert(key.clone(), item);
            }
            mirror.loaded.insert(key.clone());
        }
        Ok(mirror)
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
        // Every item a write touched, read back once after the step; an item written twice in
        // one step would leave its first write's "after" unknown.
        let mut touched: Vec<Key> = Vec::new();
        for call in calls {
            for (_, key, _) in writes_of(call) {
                if touched.contains(&key) {
                    bail!(
                        "{} {} is written twice in one step: its sizes between the writes are unknown",
                        key.0,
                        key.1
                    );
                }
                touched.push(key);
            }
        }
        if let Some(unknown) = touched
            .iter()
            .find(|k| !self.complete && !self.loaded.contains(*k))
        {
            bail!(
                "{} {} was written, but its size before is unknown to this copy",
                unknown.0,
                unknown.1
            );
        }
        let mut after: HashMap<Key, Option<Item>> = HashMap::new();
        for key in &touched {
            after.insert(key.clone(), self.read(key).await?);
        }
        let mut total = Units::default();
        self.last_items.clear();
        for call in calls {
            let reported = call.reported_units();
            let mut units = Units {
                calls: 1,
                reported: reported.unwrap_or(0.0),
                reported_calls: usize::from(reported.is_some()),
                ..Units::default()
            };
            match call.op.as_str() {
                "GetItem" => {
                    let consistent = call.request["ConsistentRead"] == true;
                    let found = call.response.get("Item").and_then(item_from_json);
                    let size = found.as_ref().map(item_size);
                    units.read = read_units(size.unwrap_or(0), consistent);
                    let key = call
                        .request
                        .get("Key")
                        .and_then(item_from_json)
                        .and_then(|k| key_of(&k));
                    self.last_items.push(ItemCharge {
                        op: call.op.clone(),
                        item: format!(
                            "{}{}",
                            key.map_or_else(|| "?".to_owned(), |k| item_kind(&k.1)),
                            if size.is_none() { " (none)" } else { "" }
                        ),
                        bytes: size.unwrap_or(0),
                        read: units.read,
                        write: 0.0,
                        index: BTreeMap::new(),
                    });
                }
                "BatchGetItem" => {
                    units.read = self.charge_batch_get(call)?;
                }
                "Query" => {
                    let items = self.query_items(call).await?;
                    let size: usize = items.iter().map(item_size).sum();
                    units.read = read_units(size, call.request["ConsistentRead"] == true);
                    let what = call.request["IndexName"]
                        .as_str()
                        .map_or_else(|| "table".to_owned(), |i| format!("index {i}"));
                    self.last_items.push(ItemCharge {
                        op: call.op.clone(),
                        item: format!("{} items of the {what}", items.len()),
                        bytes: size,
                        read: units.read,
                        write: 0.0,
                        index: BTreeMap::new(),
                    });
                }
                "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems"
                | "BatchWriteItem" => self.charge_writes(call, &after, &mut units),
                other => bail!("no rule to charge {other}"),
            }
            total.add(&units);
        }
        Ok(total)
    }

    /// A write call: every item it touched, by its sizes before and after (or as it stayed,
    /// when the call failed), and each index by how the item's entry changed.
    fn charge_writes(
        &mut self,
        call: &Call,
        after: &HashMap<Key, Option<Item>>,
        units: &mut Units,
    ) {
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
            let index: BTreeMap<&'static str, f64> = self
                .indexes
                .iter()
                .map(|i| (i.name, i.write_units(before.as_ref(), now.as_ref())))
                .filter(|(_, u)| *u > 0.0)
                .collect();
            units.write += write;
            for (name, u) in &index {
                *units.index.entry(name).or_default() += u;
            }
            let what = match (kind, before.is_some(), now.is_some(), call.ok) {
                (WriteKind::Check, ..) => "condition check",
                (_, _, _, false) => "condition failed",
                (_, false, true, _) => "created",
                (_, true, false, _) => "deleted",
                _ => "rewritten",
            };
            self.last_items.push(ItemCharge {
                op: call.op.clone(),
                item: format!("{} ({what})", item_kind(&key.1)),
                bytes: size,
                read: 0.0,
                write,
                index,
            });
            match now {
                Some(item) => self.items.insert(key, item),
                None => self.items.remove(&key),
            };
        }
    }

    /// A batch read: every key as a point read of its own (rounded by itself, a key that found
    /// nothing at the minimum); keys left unprocessed were not read.
    fn charge_batch_get(&mut self, call: &Call) -> anyhow::Result<f64> {
        let mut units = 0.0;
        let requested = call.request["RequestItems"]
            .as_object()
            .context("a batch read without RequestItems")?;
        for (table, ask) in requested {
            let consistent = ask["ConsistentRead"] == true;
            let keys: Vec<Key> = ask["Keys"]
                .as_array()
                .map(|keys| {
                    keys.iter()
                        .filter_map(item_from_json)
                        .filter_map(|k| key_of(&k))
                        .collect()
                })
                .unwrap_or_default();
            let found: HashMap<Key, usize> = call.response["Responses"][table]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(item_from_json)
                        .filter_map(|i| Some((key_of(&i)?, item_size(&i))))
                        .collect()
                })
                .unwrap_or_default();
            let unprocessed: Vec<Key> = call.response["UnprocessedKeys"][table]["Keys"]
                .as_array()
                .map(|keys| {
                    keys.iter()
                        .filter_map(item_from_json)
                        .filter_map(|k| key_of(&k))
                        .collect()
                })
                .unwrap_or_default();
            for key in keys.iter().filter(|k| !unprocessed.contains(k)) {
                let size = found.get(key).copied();
                let read = batch_read_units(&[size], consistent);
                units += read;
                self.last_items.push(ItemCharge {
                    op: call.op.clone(),
                    item: format!(
                        "{}{}",
                        item_kind(&key.1),
                        if size.is_none() { " (none)" } else { "" }
                    ),
                    bytes: size.unwrap_or(0),
                    read,
                    write: 0.0,
                    index: BTreeMap::new(),
                });
            }
        }
        Ok(units)
    }

    /// The items (or index entries) a query read: those its answer carried, or for a query
    /// that only counts (`Select: COUNT`), the same query asked again for the items.
    async fn query_items(&self, call: &Call) -> anyhow::Result<Vec<Item>> {
        if call.request["Select"] != "COUNT" {
            return Ok(call.response["Items"]
                .as_array()
                .map(|items| items.iter().filter_map(item_from_json).collect())
                .unwrap_or_default());
        }
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

/// The calls of a step, counted by kind: `2× GetItem + TransactWriteItems(3)`.
#[must_use]
pub fn ops_of(calls: &[Call]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for c in calls {
        let name = match c.op.as_str() {
            "TransactWriteItems" => {
                let n = c.request["TransactItems"].as_array().map_or(0, Vec::len);
                format!("TransactWriteItems({n})")
            }
            "BatchGetItem" => {
                let n: usize = c.request["RequestItems"].as_object().map_or(0, |t| {
                    t.values()
                        .map(|a| a["Keys"].as_array().map_or(0, Vec::len))
                        .sum()
                });
                format!("BatchGetItem({n})")
            }
            _ => c.op.clone(),
        };
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, k)) => *k += 1,
            None => counts.push((name, 1)),
        }
    }
    if counts.is_empty() {
        return "none".to_owned();
    }
    counts
        .into_iter()
        .map(|(n, k)| if k == 1 { n } else { format!("{k}× {n}") })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Runs `f` and charges what it sent.
pub async fn step<F, Fut, T>(
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

/// One line of the cost table.
#[derive(Clone, Debug)]
struct Line {
    what: String,
    units: Units,
    ops: String,
}

/// One row of a session's profile: an item in a call of a step.
#[derive(Clone, Debug)]
struct ProfileRow {
    step: &'static str,
    charge: ItemCharge,
}

/// A session of `user` from `start` for `secs` in `guild`'s first channel, muted after a
/// third of it, in company of `partners` for its last two thirds.
#[must_use]
pub fn lifecycle(
    user: UserId,
    guild: GuildId,
    start: Timestamp,
    secs: u64,
    partners: &[UserId],
) -> (OpenSession, OpenSession, ClosedSession) {
    let open = OpenSession::new(
        SessionId::new(start, 4242),
        user,
        guild,
        seed::channels(guild)[0],
        Flags::NONE,
    );
    let mut muted = open.clone();
    muted.set_flags(start.plus(secs / 3), Flags::MUTED, chrono_tz::Tz::UTC);
    let mut closed = muted
        .clone()
        .close(start.plus(secs), chrono_tz::Tz::UTC, false);
    closed.partners = partners
        .iter()
        .flat_map(|p| {
            seed::utc_days(start.plus(secs / 3), start.plus(secs))
                .into_iter()
                .map(|(day, secs)| PartnerSecs {
                    day,
                    user: *p,
                    secs,
                    since: start,
                })
        })
        .collect();
    (open, muted, closed)
}

/// What measuring a lifecycle gives: its steps' lines and the profile of its items.
#[derive(Debug)]
pub struct Lifecycle {
    lines: Vec<Line>,
    profile: Vec<ProfileRow>,
    pub total: Units,
}

impl Lifecycle {
    /// The board flush's step: its units, the server item's size, and whether it wrote (a
    /// flush that changes nothing on the board, as for a member who stays below its floors,
    /// only reads).
    #[must_use]
    pub fn flush(&self) -> Option<(Units, usize, bool)> {
        let line = self.lines.iter().find(|l| l.what.contains("board flush"))?;
        let rows = self
            .profile
            .iter()
            .filter(|r| r.step.starts_with("board flush"));
        let bytes = rows.clone().map(|r| r.charge.bytes).max()?;
        let wrote = rows.clone().any(|r| r.charge.write > 0.0);
        Some((line.units.clone(), bytes, wrote))
    }
}

/// Join, mute, leave, and the sidecar's board flush behind the end: each a step of its own.
pub async fn measure_lifecycle(
    store: &Store,
    recorder: &Recorder,
    mirror: &mut Mirror,
    config: &GuildConfig,
    session: (OpenSession, OpenSession, ClosedSession),
) -> anyhow::Result<Lifecycle> {
    let (open, muted, closed) = session;
    let mut lines = Vec::new();
    let mut profile = Vec::new();
    let mut total = Units::default();
    let mut note = |name: &'static str, calls: &[Call], units: Units, mirror: &Mirror| {
        lines.push(Line {
            what: format!("— {name}"),
            ops: ops_of(calls),
            units: units.clone(),
        });
        profile.extend(mirror.last_items.iter().map(|c| ProfileRow {
            step: name,
            charge: c.clone(),
        }));
        total.add(&units);
    };
    let ((), calls, units) = step(recorder, mirror, || async {
        let outcome = store.start_session(&open, config.rule).await?;
        ensure!(outcome == StartOutcome::Started, "start: {outcome:?}");
        Ok(())
    })
    .await?;
    note("join: start session", &calls, units, mirror);
    let ((), calls, units) = step(recorder, mirror, || async {
        let outcome = store.update_session(&muted, config.rule).await?;
        ensure!(outcome == UpdateOutcome::Updated, "update: {outcome:?}");
        Ok(())
    })
    .await?;
    note("mute: update session", &calls, units, mirror);
    let (totals, calls, units) = step(recorder, mirror, || async {
        match store.end_session(&closed, config).await? {
            EndOutcome::Ended(totals) => Ok(totals),
            EndOutcome::AlreadyEnded => bail!(
                "end of a measured session ({} of {} in {}): the store found it not open",
                closed.id,
                closed.user,
                closed.guild
            ),
        }
    })
    .await?;
    note("leave: end session", &calls, units, mirror);
    // The sidecar's flush behind the end: a small server's board gets one flush per end.
    let now = seed::wall_now();
    let update = BoardUpdate {
        user: closed.user,
        totals,
        as_of: now,
    };
    let ((), calls, units) = step(recorder, mirror, || async {
        store
            .flush_board(closed.guild, &[update], &[], None, now)
            .await?;
        Ok(())
    })
    .await?;
    note(
        "board flush (sidecar, behind the end)",
        &calls,
        units,
        mirror,
    );
    Ok(Lifecycle {
        lines,
        profile,
        total,
    })
}

/// Every index name, in the table's order.
fn index_names() -> Vec<&'static str> {
    indexes().into_iter().map(|i| i.name).collect()
}

fn index_cells(units: &BTreeMap<&'static str, f64>) -> String {
    index_names()
        .iter()
        .map(|n| units_text(units.get(n).copied().unwrap_or(0.0)))
        .collect::<Vec<_>>()
        .join(" | ")
}

#[allow(clippy::too_many_lines)] // one scenario after the other, in the order of the table
pub async fn run(bench: &Bench) -> anyhow::Result<Outcome> {
    let plain = bench.fresh_store("cost").await?;
    let recorder = Recorder::default();
    let store = recorder.store(&plain);
    let config = GuildConfig::default();
    let guild: GuildId = Id::new(820_000_000_000_000_000);
    let now = seed::wall_now();
    // A regular: 300 sessions (a full heatmap), a timezone; 59 others with a few sessions,
    // all on the server's board, each session shared with up to three of the others.
    let regular: UserId = Id::new(821_000_000_000_000_000);
    let regular_sessions = bench.size(300, 30);
    let member_count = bench.size(60u64, 12);
    let members: Vec<UserId> = (0..member_count)
        .map(|n| Id::new(821_000_000_000_000_000 + n))
        .collect();
    plain
        .set_user_timezone(regular, Some(chrono_tz::Europe::Berlin))
        .await?;
    let mut histories = seed::history(
        regular,
        guild,
        regular_sessions,
        Day::of(now).start().minus(2 * 86_400 + 2 * 3600),
        3,
        &config,
        &members,
    );
    for (n, user) in members.iter().enumerate().skip(1) {
        histories.extend(seed::history(
            *user,
            guild,
            4,
            now.minus(3600),
            n as u64,
            &config,
            &members,
        ));
    }
    let seeded = seed::real(&plain, &histories, &config, 16).await?;
    for user in &members {
        plain
            .set_name(
                guild,
                *user,
                &format!("Member {}", user.get() % 1000),
                Timestamp::EPOCH,
            )
            .await?;
    }
    plain.heartbeat(0, now, 30).await?;
    // A guild with 20 members in voice, for reconciliation.
    let busy: GuildId = Id::new(830_000_000_000_000_000);
    let in_voice: Vec<UserId> = (0..20)
        .map(|n| Id::new(831_000_000_000_000_000 + n))
        .collect();
    for (n, user) in in_voice.iter().enumerate() {
        let open = OpenSession::new(
            SessionId::new(now.minus(600 + n as u64), 7),
            *user,
            busy,
            seed::channels(busy)[n % 3],
            Flags::NONE,
        );
        let outcome = plain.start_session(&open, config.rule).await?;
        ensure!(outcome == StartOutcome::Started, "start: {outcome:?}");
    }
    let mut mirror = Mirror::new(&plain).await?;
    let mut lines: Vec<Line> = Vec::new();
    let mut regular_profile: Vec<ProfileRow> = Vec::new();

    // Session lifecycles, each shared with two members for its last two thirds: a
    // newcomer's first session and a regular's, inside one UTC day (yesterday from 10:00),
    // and the regular's across midnight UTC (the night before, measured first: the store
    // refuses a start older than the member's last end).
    let yesterday = Day::of(now).start().minus(86_400);
    let partners = [members[1], members[2]];
    let newcomer: UserId = Id::new(822_000_000_000_000_000);
    let mut measured = Vec::new();
    for (label, user, start, secs) in [
        (
            "first session of a newcomer (join, mute, leave)",
            newcomer,
            yesterday.plus(10 * 3600),
            1800,
        ),
        (
            "a regular's session across midnight UTC",
            regular,
            yesterday.minus(1800),
            3600,
        ),
        (
            "a regular's session (join, mute, leave)",
            regular,
            yesterday.plus(10 * 3600),
            1800,
        ),
    ] {
        let session = lifecycle(user, guild, start, secs, &partners);
        let m = measure_lifecycle(&store, &recorder, &mut mirror, &config, session).await?;
        measured.push((label, m));
    }
    // In the table: the newcomer, the regular, across midnight.
    measured.swap(1, 2);
    for (label, m) in measured {
        if label.starts_with("a regular's session (") {
            regular_profile.clone_from(&m.profile);
        }
        lines.push(Line {
            what: format!("**{label}**"),
            ops: m
                .lines
                .iter()
                .map(|l| l.ops.clone())
                .collect::<Vec<_>>()
                .join(" · "),
            units: m.total,
        });
        lines.extend(m.lines);
    }
    // Heartbeat, and a display name as the store takes it when one changes.
    let ((), calls, units) = step(&recorder, &mut mirror, || async {
        store.heartbeat(0, now, 30).await?;
        Ok(())
    })
    .await?;
    lines.push(Line {
        what: "heartbeat (per shard, every 30 s)".into(),
        ops: ops_of(&calls),
        units,
    });
    let ((), calls, units) = step(&recorder, &mut mirror, || async {
        store
            .set_name(guild, regular, "Regular, renamed", Timestamp::EPOCH)
            .await?;
        Ok(())
    })
    .await?;
    lines.push(Line {
        what: "display name (when a member's name changes)".into(),
        ops: ops_of(&calls),
        units,
    });
    // Reconciling the guild with 20 members in voice, as the sidecar does it
    // (gateway/store_tasks.rs): the index's open sessions, then every listed and present
    // member's state with the server item in one strongly consistent batch.
    let ((open, listed), calls, reconcile) = step(&recorder, &mut mirror, || async {
        let refs = store.open_sessions_of_guild(busy).await?;
        let listed = refs.len();
        let users: Vec<UserId> = refs
            .iter()
            .map(|r| r.user)
            .chain(in_voice.iter().copied())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let open = store.reconcile_view(busy, &users).await?.open;
        Ok((open.len(), listed))
    })
    .await?;
    ensure!(
        open == in_voice.len() && listed == in_voice.len(),
        "reconcile found {open} open sessions ({listed} listed), expected {}",
        in_voice.len()
    );
    let reconcile_requests = calls.len();
    let reconcile_ops = ops_of(&calls);
    lines.push(Line {
        what: format!("reconcile a guild with {} members in voice", in_voice.len()),
        ops: ops_of(&calls),
        units: reconcile.clone(),
    });

    // Calls in progress while the commands run: the regular and three others.
    for (n, user) in [regular, members[3], members[4], members[5]]
        .into_iter()
        .enumerate()
    {
        let open = OpenSession::new(
            SessionId::new(now.minus(1200 + n as u64 * 60), 99),
            user,
            guild,
            seed::channels(guild)[n % 3],
            Flags::NONE,
        );
        step(&recorder, &mut mirror, || async {
            let outcome = store.start_session(&open, config.rule).await?;
            ensure!(outcome == StartOutcome::Started, "start: {outcome:?}");
            Ok(())
        })
        .await?;
    }

    // Commands, through the endpoint's handler in this process.
    let signer = Signer::new(key_from_seed(9));
    let app = App::builder(store.clone(), signer.key.verifying_key()).build();
    let caller = Caller {
        user: regular.get(),
        guild: guild.get(),
    };
    let mut command_units: BTreeMap<&'static str, Units> = BTreeMap::new();
    let other = members[7].get();
    let other_line = format!("/callstats show user:{other}");
    let commands: [(&'static str, &str); 7] = [
        ("show", "/callstats show"),
        ("show 7d", "/callstats show period:7d"),
        ("show 30d", "/callstats show period:30d"),
        ("show other", other_line.as_str()),
        ("top", "/calltop"),
        ("top all", "/calltop period:all"),
        ("history", "/callstats history"),
    ];
    let mut top_answer = None;
    for (n, (name, line)) in commands.iter().enumerate() {
        let request =
            signer.request("http://bench/", &interaction(line, &caller, 10 + n as u64)?)?;
        let (answer, calls, units) = step(&recorder, &mut mirror, || async {
            let answer = Answer::from_response(app.handle(request).await);
            ensure!(answer.status == 200, "{line}: {}", answer.status);
            Ok(answer.reply()?)
        })
        .await?;
        let embeds = &answer.response["data"]["embeds"];
        ensure!(embeds.is_array(), "{line}: no embed: {}", answer.response);
        if name.starts_with("top") {
            ensure!(
                embeds.to_string().contains("Your rank:** #"),
                "{line}: the caller's rank is not shown: {embeds}"
            );
        }
        if *name == "top all" {
            top_answer = Some(answer);
        }
        lines.push(Line {
            what: format!("`{line}`"),
            ops: ops_of(&calls),
            units: units.clone(),
        });
        command_units.insert(name, units);
    }
    let answer = top_answer.context("no /calltop answer")?;
    let press = build_press(&answer, "next", &caller, (1 << 40) + 7)?;
    let request = signer.request("http://bench/", &press)?;
    let ((), calls, units) = step(&recorder, &mut mirror, || async {
        let answer = Answer::from_response(app.handle(request).await);
        ensure!(answer.status == 200, "next page: {}", answer.status);
        ensure!(
            answer
                .reply()?
                .response
                .to_string()
                .contains("Your rank:** #"),
            "page 2: the caller's rank is not shown"
        );
        Ok(())
    })
    .await?;
    lines.push(Line {
        what: "`/calltop period:all`, Next (page 2)".into(),
        ops: ops_of(&calls),
        units: units.clone(),
    });
    command_units.insert("top all 2", units);

    // The summary rows.
    let find = |what: &str| {
        lines
            .iter()
            .find(|l| l.what.contains(what))
            .map(|l| l.units.clone())
    };
    let mut rows = Vec::new();
    let wcu_row = |measure: &str, u: &Units| {
        Row::new(
            measure,
            format!(
                "{} WCU ({} table + {} index), {} RCU",
                units_text(u.wcu()),
                units_text(u.write),
                units_text(u.index_total()),
                units_text(u.read)
            ),
        )
        .baseline(format!("server reported {}", u.reported_text()), "")
        .target("≤ 16 WCU", Verdict::of(u.wcu() <= 16.0))
    };
    if let Some(u) = find("a regular's session (join") {
        rows.push(wcu_row(
            "WCU per session (join, mute, leave, board flush), regular, computed",
            &u,
        ));
    }
    if let Some(u) = find("first session of a newcomer") {
        rows.push(wcu_row(
            "WCU of a newcomer's first session (join, mute, leave, board flush), computed",
            &u,
        ));
    }
    if let Some(u) = find("across midnight") {
        rows.push(Row::new(
            "WCU of a regular's session across midnight UTC, computed",
            format!(
                "{} WCU ({} table + {} index), {} RCU",
                units_text(u.wcu()),
                units_text(u.write),
                units_text(u.index_total()),
                units_text(u.read)
            ),
        ));
    }
    let shows = ["show", "show 7d", "show 30d", "show other"];
    let show_rcu: Vec<f64> = shows
        .iter()
        .filter_map(|n| command_units.get(n).map(|u| u.read))
        .collect();
    rows.push(
        Row::new(
            "RCU per `/callstats show`: all time / 7d / 30d / someone else, computed",
            show_rcu
                .iter()
                .map(|r| units_text(*r))
                .collect::<Vec<_>>()
                .join(" / "),
        )
        .baseline(
            format!(
                "server reported {}",
                shows
                    .iter()
                    .filter_map(|n| command_units.get(n).map(Units::reported_text))
                    .collect::<Vec<_>>()
                    .join(" / ")
            ),
            "",
        )
        .target("≤ 4 RCU", Verdict::of(show_rcu.iter().all(|r| *r <= 4.0))),
    );
    let tops = ["top", "top all", "top all 2"];
    let top_rcu: Vec<f64> = tops
        .iter()
        .filter_map(|n| command_units.get(n).map(|u| u.read))
        .collect();
    rows.push(
        Row::new(
            format!(
                "RCU per `/calltop` with the caller's rank, board of {member_count}: week page 1 / all time page 1 / page 2, computed"
            ),
            top_rcu
                .iter()
                .map(|r| units_text(*r))
                .collect::<Vec<_>>()
                .join(" / "),
        )
        .baseline(
            format!(
                "server reported {}",
                tops.iter()
                    .filter_map(|n| command_units.get(n).map(Units::reported_text))
                    .collect::<Vec<_>>()
                    .join(" / ")
            ),
            "",
        )
        .target("≤ 10 RCU", Verdict::of(top_rcu.iter().all(|r| *r <= 10.0))),
    );
    if let Some(u) = command_units.get("history") {
        rows.push(
            Row::new("RCU per `/callstats history`, computed", units_text(u.read))
                .baseline(format!("server reported {}", u.reported_text()), ""),
        );
    }
    rows.push(
        Row::new(
            format!(
                "store requests to reconcile a guild with {} members in voice; RCU",
                in_voice.len()
            ),
            format!(
                "{reconcile_requests} requests ({reconcile_ops}); {} RCU",
                units_text(reconcile.read)
            ),
        )
        .baseline(format!("server reported {}", reconcile.reported_text()), "")
        .target("≤ 4 requests", Verdict::of(reconcile_requests <= 4)),
    );

    let mut detail = String::new();
    let _ = writeln!(
        detail,
        "Computed = DynamoDB's rules applied to the items each call really read and wrote \
         (`tests/bench/src/size.rs`): reads by the items their answers carried, writes by each \
         item's size read back from the table before and after; index writes per index \
         (open-by-guild / guild-members / guild-days). Reported = what the local server put in \
         `ConsumedCapacity` in its answers (\"nothing\" when an answer had none). \
         The server: {member_count} members on the board, one regular with {regular_sessions} \
         sessions (every heatmap bucket in use) and a timezone, the others with 4 sessions \
         each, every session shared with up to three others (partner time, as the sidecar \
         computes it), display names recorded, shard 0's heartbeat; \
         seeded through the store's own writes ({} sessions, {} board flushes, {:.0} s). \
         The measured sessions last 30 minutes, muted after 10, with two partners for their \
         last 20; the board flush is the sidecar's, one per end (a small server). The commands \
         run through the endpoint's handler while four members (the caller among them) are in \
         a call.\n",
        seeded.sessions,
        seeded.flushes,
        seeded.took.as_secs_f64()
    );
    let names = index_names();
    let _ = writeln!(
        detail,
        "| operation | calls | RCU | WCU table | WCU {} | WCU total | reported by the server |",
        names.join(" | WCU ")
    );
    let _ = writeln!(
        detail,
        "|---|---|---|---|{}---|---|",
        "---|".repeat(names.len())
    );
    for l in &lines {
        let _ = writeln!(
            detail,
            "| {} | {} | {} | {} | {} | {} | {} |",
            l.what,
            l.ops,
            units_text(l.units.read),
            units_text(l.units.write),
            index_cells(&l.units.index),
            units_text(l.units.wcu()),
            l.units.reported_text(),
        );
    }
    let _ = writeln!(
        detail,
        "\nWhere a regular's session spends its units, item by item (the profile of the WCU \
         target; bytes: the larger of the item's sizes before and after a write, the item \
         read for a read):\n"
    );
    let _ = writeln!(
        detail,
        "| step | call | item | bytes | RCU | WCU table | WCU {} |",
        names.join(" | WCU ")
    );
    let _ = writeln!(
        detail,
        "|---|---|---|---|---|---|{}",
        "---|".repeat(names.len())
    );
    for r in &regular_profile {
        let _ = writeln!(
            detail,
            "| {} | {} | `{}` | {} | {} | {} | {} |",
            r.step,
            r.charge.op,
            r.charge.item,
            r.charge.bytes,
            units_text(r.charge.read),
            units_text(r.charge.write),
            index_cells(&r.charge.index),
        );
    }
    Ok(Outcome {
        name: "cost",
        rows,
        detail,
    })
}

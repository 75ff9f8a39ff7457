//! Session writes: start, flag changes, end. Each is conditional, so a replay or a duplicate
//! is reported as already applied and changes nothing.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, Select, TransactWriteItem, Update,
};

use crate::Store;
use crate::codec::{Item, Reader, key, n, s};
use crate::error::{StoreError, classify, is_condition_failure};
use crate::expr::Expr;
use crate::items::{
    BREAKDOWN_ATTRS, SessionRecord, breakdown_values, heatmap_value, open_session_item,
    open_session_state, read_heatmap, read_open_session, session_record_item, user_of,
};
use crate::schema::{OPEN_BY_GUILD, keys};
use callstats_core::heatmap::Heatmap;
use callstats_core::ids::{GuildId, UserId, parse_id};
use callstats_core::period::{Day, PeriodKey};
use callstats_core::reconcile::OpenRef;
use callstats_core::session::{ClosedSession, DayTotals, OpenSession, PeriodTotals};
use callstats_core::settings::GuildConfig;

/// DynamoDB's limit on items in one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// Attempts when a concurrent change moved a `longest` value between our read and our write.
const LONGEST_ATTEMPTS: usize = 5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartOutcome {
    Started,
    /// This very session is already open: a replay.
    AlreadyStarted,
    /// The user opted out; nothing was stored.
    OptedOut,
    /// Another session of this user in this guild is open. The caller must end it first.
    Conflict(Box<OpenSession>),
    /// This very session was started and has already ended: a replay of an old start (from a
    /// write journal, say). Nothing changed; reopening it would count it twice.
    AlreadyEnded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateOutcome {
    Updated,
    /// The session is no longer open, or a later change was already applied.
    Stale,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndOutcome {
    Ended,
    /// The session was not open (already ended, never started, or deleted): nothing changed.
    AlreadyEnded,
}

/// The per-item cancellation codes of a cancelled transaction, if that is what failed.
fn cancellation_codes<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<String>> {
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(e) => Some(
            e.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
        ),
        _ => None,
    }
}

fn failed_condition(codes: &[String], index: usize) -> bool {
    codes
        .get(index)
        .is_some_and(|c| c == "ConditionalCheckFailed")
}

impl Store {
    fn table_name(&self) -> String {
        self.table.as_str().to_owned()
    }

    /// Opens a session, in one transaction with a check that the user has not opted out and a
    /// check that this session was not already recorded as ended (so a replayed start of a
    /// finished session never reopens it).
    pub async fn start_session(&self, session: &OpenSession) -> Result<StartOutcome, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(self.table_name())
            .set_key(Some(key(keys::user(session.user), keys::SETTINGS)))
            .condition_expression("attribute_not_exists(#o) OR #o = :no")
            .expression_attribute_names("#o", "optout")
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .build()
            .map_err(|e| StoreError::rejected("start session", e.to_string()))?;
        let put = Put::builder()
            .table_name(self.table_name())
            .set_item(Some(open_session_item(session)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::rejected("start session", e.to_string()))?;
        let not_ended = ConditionCheck::builder()
            .table_name(self.table_name())
            .set_key(Some(key(
                keys::user(session.user),
                keys::session(session.guild, session.id),
            )))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::rejected("start session", e.to_string()))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(check).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(not_ended)
                    .build(),
            )
            .send()
            .await;
        let Err(err) = result else {
            return Ok(StartOutcome::Started);
        };
        match cancellation_codes(&err) {
            Some(codes) if failed_condition(&codes, 2) => Ok(StartOutcome::AlreadyEnded),
            Some(codes) if failed_condition(&codes, 0) => Ok(StartOutcome::OptedOut),
            Some(codes) if failed_condition(&codes, 1) => {
                match self.open_session(session.user, session.guild).await? {
                    Some(open) if open.id == session.id => Ok(StartOutcome::AlreadyStarted),
                    Some(open) => Ok(StartOutcome::Conflict(Box::new(open))),
                    None => Err(StoreError::Unavailable {
                        op: "start session",
                        message: "the open session changed during the start; try again".into(),
                    }),
                }
            }
            _ => Err(classify("start session", err)),
        }
    }

    /// Writes what an open session has accounted so far (after a flag change). Conditional on
    /// the same session being open and no later change having been written.
    pub async fn update_session(&self, session: &OpenSession) -> Result<UpdateOutcome, StoreError> {
        let mut e = Expr::new();
        for (attr, value) in open_session_state(session)? {
            if attr != "sid" {
                e.set(&attr, value);
            }
        }
        let (sid, seg) = (e.name("sid"), e.name("seg"));
        let sid_value = e.value(s(session.id.to_string()));
        let seg_value = e.value(n(session.seg_start.unix()));
        e.condition(format!("{sid} = {sid_value} AND {seg} <= {seg_value}"));
        let result = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(
                keys::user(session.user),
                keys::open(session.guild),
            )))
            .set_update_expression(e.update_expression())
            .set_condition_expression(e.condition_expression())
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(UpdateOutcome::Updated),
            Err(err) if is_condition_failure(&err) => Ok(UpdateOutcome::Stale),
            Err(err) => Err(classify("update session", err)),
        }
    }

    /// Ends a session: one transaction removes the open item (on condition that it is this
    /// session), records the session, and adds it to the all-time, day, week and month items.
    /// `on_leaderboards` is false when the user is opting out.
    pub async fn end_session(
        &self,
        session: &ClosedSession,
        config: &GuildConfig,
        on_leaderboards: bool,
    ) -> Result<EndOutcome, StoreError> {
        let (days, periods) = fit_in_transaction(
            session.day_totals(),
            session.period_totals(config.rule, config.timezone),
            Day::of(session.end),
        );
        for _ in 0..LONGEST_ATTEMPTS {
            let items = self
                .end_items(session, config, on_leaderboards, &days, &periods)
                .await?;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let Err(err) = result else {
                return Ok(EndOutcome::Ended);
            };
            match cancellation_codes(&err) {
                Some(codes) if failed_condition(&codes, 0) => return Ok(EndOutcome::AlreadyEnded),
                // A `longest` moved under us (a concurrent delete): read again and retry.
                Some(codes) if codes.iter().any(|c| c == "ConditionalCheckFailed") => {}
                _ => return Err(classify("end session", err)),
            }
        }
        Err(StoreError::Unavailable {
            op: "end session",
            message: "aggregates kept changing during the end; try again".into(),
        })
    }

    /// The transaction that ends `session`, with `longest` conditions from a fresh read.
    async fn end_items(
        &self,
        session: &ClosedSession,
        config: &GuildConfig,
        on_leaderboards: bool,
        days: &[(Day, DayTotals)],
        periods: &[(PeriodKey, PeriodTotals)],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let user_pk = keys::user(session.user);
        let start_day = Day::of(session.start());
        let (all_time, day_longest) = tokio::try_join!(
            self.read_all_time_state(&user_pk, keys::all_time(session.guild)),
            self.read_longest(&user_pk, keys::day(session.guild, start_day)),
        )?;
        let mut items = vec![
            self.delete_open_item(session)?,
            self.put_record_item(session)?,
        ];
        items.push(
            self.update_item(&user_pk, keys::all_time(session.guild), |e| {
                let class = session.class_secs();
                e.add("total", n(session.duration()))
                    .add("active", n(session.breakdown.active))
                    .add("ranked", n(class.ranked(config.rule)))
                    .add("sessions", n(1));
                for (attr, value) in BREAKDOWN_ATTRS
                    .iter()
                    .zip(breakdown_values(&session.breakdown))
                {
                    e.add(attr, n(value));
                }
                // The heatmap is rewritten whole from what was read, on condition that its
                // version is still the one read (a concurrent delete changes it).
                let mut heatmap = all_time.heatmap.clone();
                for (bucket, secs) in session.heatmap_buckets() {
                    heatmap.add(bucket, secs);
                }
                e.set("hm", heatmap_value(&heatmap));
                e.set("hv", n(all_time.version.map_or(1, |v| v + 1)));
                let hv = e.name("hv");
                match all_time.version {
                    Some(version) => {
                        let read = e.value(n(version));
                        e.condition(format!("{hv} = {read}"));
                    }
                    None => {
                        e.condition(format!("attribute_not_exists({hv})"));
                    }
                }
                e.set("last", n(session.end.unix()));
                if on_leaderboards {
                    e.set("lb", s(keys::leaderboard(session.guild, PeriodKey::All)));
                }
                keep_longest(e, all_time.longest, session.duration());
            })?,
        );
        for (day, t) in days {
            items.push(
                self.update_item(&user_pk, keys::day(session.guild, *day), |e| {
                    e.add("total", n(t.total))
                        .add("active", n(t.active))
                        .add("de", n(t.deafened))
                        .add("al", n(t.alone))
                        .add("sessions", n(t.sessions));
                    if *day == start_day {
                        keep_longest(e, day_longest, t.longest);
                    } else {
                        e.set_if_missing("longest", n(0));
                    }
                    match t.last_active {
                        Some(last) => e.set("last", n(last.unix())),
                        None => e.set_if_missing("last", n(0)),
                    };
                })?,
            );
        }
        for (period, t) in periods {
            items.push(
                self.update_item(&user_pk, keys::period(session.guild, *period), |e| {
                    e.add("total", n(t.total))
                        .add("active", n(t.active))
                        .add("ranked", n(t.ranked))
                        .add("sessions", n(t.sessions));
                    if on_leaderboards {
                        e.set("lb", s(keys::leaderboard(session.guild, *period)));
                    }
                })?,
            );
        }
        Ok(items)
    }

    /// What an end rewrites of the all-time item: its longest, heatmap and heatmap version.
    async fn read_all_time_state(&self, pk: &str, sk: String) -> Result<AllTimeState, StoreError> {
        let item = self
            .get_one(
                "read all-time item",
                key(pk, sk),
                Read::StrongOnly("pk, sk, longest, hm, hv"),
            )
            .await?;
        let Some(item) = item else {
            return Ok(AllTimeState::default());
        };
        let r = Reader::new(&item);
        Ok(AllTimeState {
            longest: if r.has("longest") {
                Some(r.u64("longest")?)
            } else {
                None
            },
            heatmap: if r.has("hm") {
                read_heatmap(&r)?
            } else {
                Heatmap::default()
            },
            version: if r.has("hv") {
                Some(r.u64("hv")?)
            } else {
                None
            },
        })
    }

    async fn read_longest(&self, pk: &str, sk: String) -> Result<Option<u64>, StoreError> {
        let item = self
            .get_one(
                "read longest",
                key(pk, sk),
                Read::StrongOnly("pk, sk, longest"),
            )
            .await?;
        match item {
            Some(item) if item.contains_key("longest") => {
                Reader::new(&item).u64("longest").map(Some)
            }
            _ => Ok(None),
        }
    }

    fn delete_open_item(&self, session: &ClosedSession) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(self.table_name())
            .set_key(Some(key(
                keys::user(session.user),
                keys::open(session.guild),
            )))
            .condition_expression("#sid = :sid")
            .expression_attribute_names("#sid", "sid")
            .expression_attribute_values(":sid", s(session.id.to_string()))
            .build()
            .map_err(|e| StoreError::rejected("end session", e.to_string()))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    fn put_record_item(&self, session: &ClosedSession) -> Result<TransactWriteItem, StoreError> {
        let record = SessionRecord {
            id: session.id,
            user: session.user,
            guild: session.guild,
            channel: session.channel,
            end: session.end,
            estimated: session.estimated,
            breakdown: session.breakdown,
        };
        let put = Put::builder()
            .table_name(self.table_name())
            .set_item(Some(session_record_item(&record)))
            .build()
            .map_err(|e| StoreError::rejected("end session", e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn update_item(
        &self,
        pk: &str,
        sk: String,
        build: impl FnOnce(&mut Expr),
    ) -> Result<TransactWriteItem, StoreError> {
        let mut e = Expr::new();
        build(&mut e);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .set_update_expression(e.update_expression())
            .set_condition_expression(e.condition_expression())
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .build()
            .map_err(|e| StoreError::rejected("end session", e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The open session of a user in a guild (strongly consistent read).
    pub async fn open_session(
        &self,
        user: UserId,
        guild: GuildId,
    ) -> Result<Option<OpenSession>, StoreError> {
        let item = self
            .get_one(
                "get open session",
                key(keys::user(user), keys::open(guild)),
                Read::Strong,
            )
            .await?;
        item.as_ref().map(read_open_session).transpose()
    }

    /// Every open session of a user, in every guild.
    pub async fn open_sessions_of_user(
        &self,
        user: UserId,
    ) -> Result<Vec<OpenSession>, StoreError> {
        let items = self
            .query_prefix(&keys::user(user), keys::OPEN_PREFIX, true)
            .await?;
        items.iter().map(read_open_session).collect()
    }

    /// The open sessions of a guild, from the sparse index (eventually consistent: a session
    /// opened a moment ago may be missing).
    pub async fn open_sessions_of_guild(&self, guild: GuildId) -> Result<Vec<OpenRef>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(self.table_name())
            .index_name(OPEN_BY_GUILD)
            .key_condition_expression("og = :g")
            .expression_attribute_values(":g", s(guild.to_string()));
        all_items("query open sessions", query)
            .await?
            .iter()
            .map(|item| {
                let r = Reader::new(item);
                Ok(OpenRef {
                    user: user_of(&r)?,
                    channel: parse_id(r.string("ch")?)
                        .ok_or_else(|| r.error("ch is not a channel id"))?,
                    id: r.parse("sid")?,
                })
            })
            .collect()
    }

    /// Every item of partition `pk` whose sort key starts with `prefix`, all pages.
    pub(crate) async fn query_prefix(
        &self,
        pk: &str,
        prefix: &str,
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(self.table_name())
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(consistent);
        let query = if prefix.is_empty() {
            query.key_condition_expression("pk = :pk")
        } else {
            query
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix))
        };
        all_items("query", query).await
    }
}

/// How a point read reads.
#[derive(Clone, Copy)]
pub(crate) enum Read {
    /// Eventually consistent, every attribute.
    Eventual,
    /// Strongly consistent (an opt-out or a heartbeat must be seen at once), every attribute.
    Strong,
    /// Strongly consistent, only these attributes.
    StrongOnly(&'static str),
}

impl Store {
    /// One item by its key, `None` when there is none: every point read goes through here.
    pub(crate) async fn get_one(
        &self,
        op: &'static str,
        key: Item,
        read: Read,
    ) -> Result<Option<Item>, StoreError> {
        let projection = match read {
            Read::StrongOnly(attributes) => Some(attributes),
            Read::Eventual | Read::Strong => None,
        };
        let out = self
            .client
            .get_item()
            .table_name(self.table.as_str())
            .set_key(Some(key))
            .consistent_read(!matches!(read, Read::Eventual))
            .set_projection_expression(projection.map(str::to_owned))
            .send()
            .await
            .map_err(|e| classify(op, e))?;
        Ok(out.item)
    }
}

/// Every item a query finds, over all its pages.
pub(crate) async fn all_items(
    op: &'static str,
    query: QueryFluentBuilder,
) -> Result<Vec<Item>, StoreError> {
    let mut pages = query.into_paginator().items().send();
    let mut items = Vec::new();
    while let Some(item) = pages.next().await {
        items.push(item.map_err(|e| classify(op, e))?);
    }
    Ok(items)
}

/// How many items a query matches, over all its pages.
pub(crate) async fn count_all(
    op: &'static str,
    query: QueryFluentBuilder,
) -> Result<u64, StoreError> {
    let mut pages = query.select(Select::Count).into_paginator().send();
    let mut count = 0u64;
    while let Some(page) = pages.next().await {
        count += u64::try_from(page.map_err(|e| classify(op, e))?.count).unwrap_or(0);
    }
    Ok(count)
}

/// The part of an all-time item that an end reads before rewriting it.
#[derive(Default)]
struct AllTimeState {
    longest: Option<u64>,
    heatmap: Heatmap,
    version: Option<u64>,
}

/// Day items a session must keep: enough for any future "last N days" window (the longest is
/// 30 days, and windows only move forward from the session's end).
const KEPT_DAYS: u64 = 32;

/// Fits a session's item updates into one transaction (at most 100 items, 3 of them the open
/// item, the record and the all-time item). Only sessions of more than about 80 days need it:
/// their day items older than [`KEPT_DAYS`] before the end are left out first (no window can
/// show them any more), then their oldest week and month items (past leaderboards nobody can
/// ask for). The all-time item always gets every second, so totals stay exact; only an export
/// shows the difference.
fn fit_in_transaction(
    mut days: Vec<(Day, DayTotals)>,
    mut periods: Vec<(PeriodKey, PeriodTotals)>,
    end_day: Day,
) -> (DayItems, PeriodItems) {
    let room = MAX_TRANSACTION_ITEMS - 3;
    if days.len() + periods.len() <= room {
        return (days, periods);
    }
    let oldest_kept = end_day.minus_days(KEPT_DAYS - 1);
    days.retain(|(day, _)| *day >= oldest_kept);
    // Periods come in time order per kind; drop the oldest of either kind first.
    while days.len() + periods.len() > room && !periods.is_empty() {
        let oldest = periods
            .iter()
            .enumerate()
            .min_by_key(|(_, (key, _))| period_order(*key))
            .map_or(0, |(i, _)| i);
        periods.remove(oldest);
    }
    tracing::warn!(
        days = days.len(),
        periods = periods.len(),
        "session too long for one transaction: its oldest day, week and month items are left out"
    );
    (days, periods)
}

type DayItems = Vec<(Day, DayTotals)>;
type PeriodItems = Vec<(PeriodKey, PeriodTotals)>;

/// Sorts weeks and months by when they start (roughly; enough to find the oldest).
fn period_order(key: PeriodKey) -> (i32, u32) {
    match key {
        PeriodKey::All => (i32::MAX, 0),
        PeriodKey::Week(w) => (w.year(), w.week() * 7),
        PeriodKey::Month(m) => (m.year(), m.month() * 30),
    }
}

/// Keeps `longest` the maximum of all sessions: set it when this one is longer than what was
/// read, on condition that it has not grown since; otherwise require that it is still at least
/// this long (so a concurrent delete is noticed and the end is retried).
fn keep_longest(e: &mut Expr, current: Option<u64>, duration: u64) {
    let name = e.name("longest");
    let value = e.value(n(duration));
    if current.is_none_or(|c| duration > c) {
        e.set("longest", n(duration));
        e.condition(format!("attribute_not_exists({name}) OR {name} <= {value}"));
    } else {
        e.condition(format!("{name} >= {value}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callstats_core::breakdown::Flags;
    use callstats_core::session::{OpenSession, SessionId};
    use callstats_core::time::Timestamp;
    use chrono_tz::Tz;
    use twilight_model::id::Id;

    fn long_session(days: u64) -> ClosedSession {
        let start = Timestamp::new(1_767_225_600).unwrap(); // 2026-01-01
        OpenSession::new(
            SessionId::new(start, 1),
            Id::new(1),
            Id::new(2),
            Id::new(3),
            Flags::NONE,
        )
        .close(start.plus(days * 86_400 + 43_200), Tz::UTC, false)
    }

    #[test]
    fn short_sessions_keep_every_item() {
        let s = long_session(60);
        let (days, periods) = fit_in_transaction(
            s.day_totals(),
            s.period_totals(callstats_core::breakdown::RankingRule::default(), Tz::UTC),
            Day::of(s.end),
        );
        assert_eq!(days.len(), 61);
        assert_eq!(
            days.len() + periods.len(),
            s.day_totals().len()
                + s.period_totals(callstats_core::breakdown::RankingRule::default(), Tz::UTC)
                    .len()
        );
    }

    #[test]
    fn very_long_sessions_keep_the_recent_days_and_fit() {
        for len in [90, 200, 400, 1000] {
            let s = long_session(len);
            let end_day = Day::of(s.end);
            let (days, periods) = fit_in_transaction(
                s.day_totals(),
                s.period_totals(callstats_core::breakdown::RankingRule::default(), Tz::UTC),
                end_day,
            );
            assert!(
                3 + days.len() + periods.len() <= MAX_TRANSACTION_ITEMS,
                "{len}"
            );
            assert_eq!(days.len(), 32, "{len}");
            assert_eq!(days.last().map(|d| d.0), Some(end_day));
            // The most recent week and month are always kept: they are on today's leaderboards.
            let weeks: Vec<_> = periods
                .iter()
                .filter(|p| matches!(p.0, PeriodKey::Week(_)))
                .collect();
            assert!(weeks.iter().any(|p| p.0
                == PeriodKey::Week(callstats_core::period::WeekKey::of(s.end.minus(1), Tz::UTC))));
            assert!(periods.iter().any(|p| p.0
                == PeriodKey::Month(callstats_core::period::MonthKey::of(
                    s.end.minus(1),
                    Tz::UTC
                ))));
        }
    }
}

//! Session writes: start, flag changes, end; and what reconciling a server reads. Each write
//! is conditional, so a replay or a duplicate is reported as already applied and changes
//! nothing (`docs/storage.md`, Operations).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};

use callstats_core::breakdown::RankingRule;
use callstats_core::ids::{GuildId, UserId, parse_id};
use callstats_core::member::{self, AllTime, DayRecord, MemberTotals};
use callstats_core::period::Day;
use callstats_core::reconcile::OpenRef;
use callstats_core::session::{ClosedSession, OpenSession};
use callstats_core::settings::GuildConfig;

use crate::Store;
use crate::codec::{Item, Reader, key, n, s};
use crate::error::{StoreError, classify, is_condition_failure};
use crate::expr::Expr;
use crate::items::{
    AllTimeItem, DayItem, GuildItem, LastEnded, MemberState, all_time_item, day_item,
    last_ended_value, open_attrs, read_all_time, read_day, read_guild, read_member_state,
    read_secondary, summary_attrs, user_of,
};
use crate::retry::{CONTENTION_ATTEMPTS, contention_pause};
use crate::schema::{OPEN_BY_GUILD, OPEN_SUMMARY, keys};
use crate::table::{Consistency, Transacted, all_items};

/// DynamoDB's limit on items in one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// How long the member state remembers the last session ended in a server.
const LAST_ENDED_SECS: u64 = 7 * 86_400;
/// Day records a session keeps: enough for any "last N days" window (the longest is 30 days,
/// and windows only move forward from the session's end).
const KEPT_DAYS: u64 = 32;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartOutcome {
    Started,
    /// This very session is already open: a replay.
    AlreadyStarted,
    /// The member opted out; nothing was stored.
    OptedOut,
    /// Another session of this member in this server is open. The caller must end it first.
    Conflict(Box<OpenSession>),
    /// This session, or a later one of the member in this server, has ended, or the member
    /// deleted their data after it began: a replay of an old start. Nothing changed.
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
    /// Ended; the member's leaderboard figures are now these.
    Ended(MemberTotals),
    /// The session was not open (already ended, never started, or deleted): nothing changed.
    AlreadyEnded,
}

/// Where an open session lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// The member state's `o`.
    Primary,
    /// An `O#<guild>` item of its own (a second server at the same time).
    Secondary,
}

/// What an end found.
enum ForEnd {
    Open(Box<EndRead>),
    /// The session is not open (ended already, never started).
    NotOpen,
    /// The member deleted their data after the session began.
    Deleted,
}

/// What ending a session reads first.
struct EndRead {
    state: MemberState,
    slot: Slot,
    all: AllTimeItem,
    days: BTreeMap<Day, DayItem>,
    /// Partners with a privacy action: time with their stays begun before the instant is not
    /// recorded (`None`: opted out now, none of it is).
    barred_partners: BTreeMap<UserId, Option<callstats_core::Timestamp>>,
}

impl Store {
    /// The member's state: settings, the primary open session, recent ends (strongly
    /// consistent). Default when the member never had one.
    pub async fn member_state(&self, user: UserId) -> Result<MemberState, StoreError> {
        self.get_or_default(
            "read member",
            key(keys::user(user), keys::USER),
            Consistency::Strong,
            read_member_state,
        )
        .await
    }

    /// Opens a session: one conditional update of the member state (the opt-out, the
    /// session's own end and a deletion since it began are checked in the same write), or, when
    /// another server's session already holds the member state, a transaction with an item of
    /// its own.
    pub async fn start_session(
        &self,
        session: &OpenSession,
        rule: RankingRule,
    ) -> Result<StartOutcome, StoreError> {
        let mut e = Expr::new();
        let o = e.name("o");
        let og = e.name("og");
        e.set("o", AttributeValue::M(open_attrs(session)));
        for (attr, value) in summary_attrs(session, rule) {
            e.set(&attr, value);
        }
        bump_version(&mut e);
        start_conditions(&mut e, session);
        e.condition(format!(
            "attribute_not_exists({o}) AND attribute_not_exists({og})"
        ));
        let result = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(keys::user(session.user), keys::USER)))
            .set_update_expression(e.update_expression())
            .set_condition_expression(e.condition_expression())
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await;
        match result {
            Ok(_) => return Ok(StartOutcome::Started),
            Err(err) if is_condition_failure(&err) => {}
            Err(err) => return Err(classify("start session", err)),
        }
        // Why: read the member state and decide.
        let state = self.member_state(session.user).await?;
        if let Some(outcome) = refused(&state, session) {
            return Ok(outcome);
        }
        if let Some(open) = &state.primary {
            if open.guild == session.guild {
                return Ok(if open.id == session.id {
                    StartOutcome::AlreadyStarted
                } else {
                    StartOutcome::Conflict(Box::new(open.clone()))
                });
            }
            return self.start_secondary(session, rule).await;
        }
        if let Some(open) = self.secondary(session.user, session.guild).await? {
            return Ok(if open.id == session.id {
                StartOutcome::AlreadyStarted
            } else {
                StartOutcome::Conflict(Box::new(open))
            });
        }
        Err(StoreError::Unavailable {
            op: "start session",
            message: "the member state changed during the start; try again".into(),
        })
    }

    /// A session in a second server while another holds the member state: its own item, in a
    /// transaction with the member state's checks (and its mark `x<guild>`, which keeps a
    /// primary start in that server out).
    async fn start_secondary(
        &self,
        session: &OpenSession,
        rule: RankingRule,
    ) -> Result<StartOutcome, StoreError> {
        let mark = format!("x{}", session.guild);
        let mut e = Expr::new();
        let og = e.name("og");
        let mark_name = e.name(&mark);
        let guild_value = e.value(s(session.guild.to_string()));
        e.set(&mark, s(session.id.to_string()));
        start_conditions(&mut e, session);
        e.condition(format!(
            "attribute_not_exists({mark_name}) AND (attribute_not_exists({og}) OR {og} <> {guild_value})"
        ));
        let mut item = key(keys::user(session.user), keys::open(session.guild));
        item.extend(open_attrs(session));
        item.extend(summary_attrs(session, rule));
        let put = Put::builder()
            .table_name(self.table_name())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::rejected("start session", e.to_string()))?;
        let items = vec![
            self.update_item("start session", keys::user(session.user), keys::USER, &e)?,
            TransactWriteItem::builder().put(put).build(),
        ];
        match self.transact("start session", items).await? {
            Transacted::Done => Ok(StartOutcome::Started),
            Transacted::Cancelled(_) => {
                let state = self.member_state(session.user).await?;
                if let Some(outcome) = refused(&state, session) {
                    return Ok(outcome);
                }
                match self.secondary(session.user, session.guild).await? {
                    Some(open) if open.id == session.id => Ok(StartOutcome::AlreadyStarted),
                    Some(open) => Ok(StartOutcome::Conflict(Box::new(open))),
                    None => Err(StoreError::Unavailable {
                        op: "start session",
                        message: "the member state changed during the start; try again".into(),
                    }),
                }
            }
        }
    }

    /// A secondary open session of the member in `guild`.
    async fn secondary(
        &self,
        user: UserId,
        guild: GuildId,
    ) -> Result<Option<OpenSession>, StoreError> {
        let item = self
            .get_one(
                "get open session",
                key(keys::user(user), keys::open(guild)),
                Consistency::Strong,
            )
            .await?;
        item.as_ref().map(read_secondary).transpose()
    }

    /// Writes what an open session has accounted so far (after a flag change): on condition
    /// that the same session is open and no later change was written. The index summary moves
    /// only when the active or ranked seconds start or stop growing.
    pub async fn update_session(
        &self,
        session: &OpenSession,
        rule: RankingRule,
    ) -> Result<UpdateOutcome, StoreError> {
        let new_run = session.run_start == session.seg_start;
        // The primary slot first (nearly always), then the secondary.
        let mut e = Expr::new();
        let (o, og) = (e.name("o"), e.name("og"));
        for (attr, value) in open_attrs(session) {
            if attr != "sid" && attr != "ch" {
                e.set_path(&["o", &attr], value);
            }
        }
        if new_run {
            for (attr, value) in summary_attrs(session, rule) {
                if OPEN_SUMMARY.contains(&attr.as_str()) {
                    e.set(&attr, value);
                }
            }
        }
        let (sid, seg) = (e.name("sid"), e.name("seg"));
        let (guild_value, sid_value, seg_value) = (
            e.value(s(session.guild.to_string())),
            e.value(s(session.id.to_string())),
            e.value(n(session.seg_start.unix())),
        );
        e.condition(format!(
            "{og} = {guild_value} AND {o}.{sid} = {sid_value} AND {o}.{seg} <= {seg_value}"
        ));
        if self
            .conditional_update(
                "update session",
                keys::user(session.user),
                keys::USER.to_owned(),
                &e,
            )
            .await?
        {
            return Ok(UpdateOutcome::Updated);
        }
        let mut e = Expr::new();
        for (attr, value) in open_attrs(session) {
            if attr != "sid" && attr != "ch" {
                e.set(&attr, value);
            }
        }
        if new_run {
            for (attr, value) in summary_attrs(session, rule) {
                if OPEN_SUMMARY.contains(&attr.as_str()) {
                    e.set(&attr, value);
                }
            }
        }
        let (sid, seg) = (e.name("sid"), e.name("seg"));
        let (sid_value, seg_value) = (
            e.value(s(session.id.to_string())),
            e.value(n(session.seg_start.unix())),
        );
        e.condition(format!("{sid} = {sid_value} AND {seg} <= {seg_value}"));
        Ok(
            if self
                .conditional_update(
                    "update session",
                    keys::user(session.user),
                    keys::open(session.guild),
                    &e,
                )
                .await?
            {
                UpdateOutcome::Updated
            } else {
                UpdateOutcome::Stale
            },
        )
    }

    /// Ends a session: reads the member's state, all-time item and the day items the session
    /// touched, computes their new contents, and writes them in one transaction on condition
    /// that the session is still open and nothing else changed them in between.
    pub async fn end_session(
        &self,
        session: &ClosedSession,
        config: &GuildConfig,
    ) -> Result<EndOutcome, StoreError> {
        let days = kept_days(session);
        for attempt in 0..CONTENTION_ATTEMPTS {
            if attempt > 0 {
                contention_pause(attempt - 1).await;
            }
            let read = match self.read_for_end(session, &days).await? {
                ForEnd::Open(read) => read,
                ForEnd::NotOpen => return Ok(EndOutcome::AlreadyEnded),
                // Not recorded; its partners, who recorded this member on their side, are
                // swept clean of them.
                ForEnd::Deleted => {
                    let sweep = crate::privacy::PartnerSweep {
                        user: session.user,
                        entries: session
                            .partners
                            .iter()
                            .map(|p| (p.user, session.guild, p.day))
                            .collect(),
                        scans: Vec::new(),
                    };
                    self.sweep_partners(&sweep).await?;
                    return Ok(EndOutcome::AlreadyEnded);
                }
            };
            // Time with a partner's stay that a privacy action of theirs cut (an opt-out or
            // a deletion after it began, or begun while opted out) is left out: the store
            // does not hold that stay, so nothing on their side would ever find it.
            let kept;
            let recorded = if read.barred_partners.is_empty() {
                session
            } else {
                let mut s = session.clone();
                s.partners
                    .retain(|p| match read.barred_partners.get(&p.user) {
                        None => true,
                        Some(None) => false,
                        Some(Some(at)) => *at <= p.since,
                    });
                kept = s;
                &kept
            };
            let (items, totals) = self.end_items(recorded, *config, *read)?;
            match self.transact("end session", items).await? {
                Transacted::Done => return Ok(EndOutcome::Ended(totals)),
                // The session's own slot: no longer open (ended by someone else, deleted).
                Transacted::Cancelled(c) if c.condition_failed(0) => {
                    return Ok(EndOutcome::AlreadyEnded);
                }
                // A version moved (a privacy action in between): read again.
                Transacted::Cancelled(_) => {}
            }
        }
        Err(StoreError::Unavailable {
            op: "end session",
            message: "the member's items kept changing during the end; try again".into(),
        })
    }

    async fn read_for_end(
        &self,
        session: &ClosedSession,
        days: &[Day],
    ) -> Result<ForEnd, StoreError> {
        let pk = keys::user(session.user);
        let mut wanted = vec![
            key(&pk, keys::USER),
            key(&pk, keys::open(session.guild)),
            key(&pk, keys::all_time(session.guild)),
        ];
        wanted.extend(days.iter().map(|d| key(&pk, keys::day(session.guild, *d))));
        // The partners' states: their opt-out and their last privacy action.
        let partners: BTreeSet<UserId> = session.partners.iter().map(|p| p.user).collect();
        wanted.extend(partners.iter().map(|p| key(keys::user(*p), keys::USER)));
        let items = self
            .batch_get("read for end", wanted, Consistency::Strong)
            .await?;
        let mut state = MemberState::default();
        let mut secondary = None;
        let mut all = AllTimeItem::default();
        let mut day_items: BTreeMap<Day, DayItem> = BTreeMap::new();
        let mut barred_partners = BTreeMap::new();
        for item in &items {
            let r = Reader::new(item);
            let sk = r.string("sk")?;
            if sk == keys::USER && r.string("pk")? != pk {
                // Only these matter here: whatever else a partner's state holds is theirs.
                if r.opt_bool("optout")?.unwrap_or(false) {
                    barred_partners.insert(user_of(&r)?, None);
                } else if r.has("priv") {
                    barred_partners.insert(user_of(&r)?, Some(r.timestamp("priv")?));
                }
            } else if sk == keys::USER {
                state = read_member_state(item)?;
            } else if sk.starts_with(keys::OPEN_PREFIX) {
                secondary = Some(read_secondary(item)?);
            } else if sk.starts_with(keys::ALL_PREFIX) {
                all = read_all_time(item)?;
            } else {
                let (day, d) = read_day(item)?;
                day_items.insert(day, d);
            }
        }
        let slot = if state
            .primary
            .as_ref()
            .is_some_and(|o| o.id == session.id && o.guild == session.guild)
        {
            Slot::Primary
        } else if secondary.as_ref().is_some_and(|o| o.id == session.id) {
            Slot::Secondary
        } else {
            return Ok(ForEnd::NotOpen);
        };
        // The member deleted their data after this session began: it is not recorded.
        if state.deleted_at.is_some_and(|at| at > session.start()) {
            return Ok(ForEnd::Deleted);
        }
        let listed = !state.settings.opted_out;
        if all.version == 0 {
            all.listed = listed;
        }
        for d in days {
            day_items.entry(*d).or_insert_with(|| DayItem {
                record: DayRecord::default(),
                version: 0,
                listed,
            });
        }
        Ok(ForEnd::Open(Box::new(EndRead {
            state,
            slot,
            all,
            days: day_items,
            barred_partners,
        })))
    }

    /// The transaction that ends `session`: the slot first (its condition decides "already
    /// ended"), then the all-time and day items on their versions.
    fn end_items(
        &self,
        session: &ClosedSession,
        config: GuildConfig,
        read: EndRead,
    ) -> Result<(Vec<TransactWriteItem>, MemberTotals), StoreError> {
        let EndRead {
            state,
            slot,
            all: all_item,
            days: day_items,
            barred_partners: _,
        } = read;
        let user_pk = keys::user(session.user);
        let member_tz = state.settings.timezone_or_utc();
        let mut all: AllTime = all_item.all.clone();
        let mut records: BTreeMap<Day, DayRecord> = day_items
            .iter()
            .map(|(d, i)| (*d, i.record.clone()))
            .collect();
        member::apply_end(
            &mut all,
            &mut records,
            session,
            config.rule,
            config.timezone,
            member_tz,
        );

        let mut items = Vec::with_capacity(2 + records.len() + 1);
        // The member state: close the slot, remember the end, forget old ends.
        let mut e = Expr::new();
        e.set(
            &keys::last_ended(session.guild),
            last_ended_value(LastEnded {
                id: session.id,
                end: session.end,
            }),
        );
        let horizon = session.end.minus(LAST_ENDED_SECS);
        for (guild, last) in &state.last_ended {
            if *guild != session.guild && last.end < horizon {
                e.remove(&keys::last_ended(*guild));
            }
        }
        bump_version(&mut e);
        let sid_value = e.value(s(session.id.to_string()));
        match slot {
            Slot::Primary => {
                for attr in std::iter::once("o")
                    .chain(std::iter::once("og"))
                    .chain(OPEN_SUMMARY)
                {
                    e.remove(attr);
                }
                let (o, og, sid) = (e.name("o"), e.name("og"), e.name("sid"));
                let guild_value = e.value(s(session.guild.to_string()));
                let not_deleted = not_deleted_since(&mut e, session.start());
                e.condition(format!(
                    "{og} = {guild_value} AND {o}.{sid} = {sid_value} AND {not_deleted}"
                ));
                items.push(self.update_item("end session", user_pk.clone(), keys::USER, &e)?);
            }
            Slot::Secondary => {
                let delete = Delete::builder()
                    .table_name(self.table_name())
                    .set_key(Some(key(&user_pk, keys::open(session.guild))))
                    .condition_expression("#sid = :sid")
                    .expression_attribute_names("#sid", "sid")
                    .expression_attribute_values(":sid", s(session.id.to_string()))
                    .build()
                    .map_err(|e| StoreError::rejected("end session", e.to_string()))?;
                items.push(TransactWriteItem::builder().delete(delete).build());
                let mark = format!("x{}", session.guild);
                e.remove(&mark);
                let mark_name = e.name(&mark);
                let not_deleted = not_deleted_since(&mut e, session.start());
                e.condition(format!("{mark_name} = {sid_value} AND {not_deleted}"));
                items.push(self.update_item("end session", user_pk.clone(), keys::USER, &e)?);
            }
        }
        let all_new = AllTimeItem {
            all,
            version: all_item.version + 1,
            listed: all_item.listed,
        };
        items.push(self.versioned_put(
            all_time_item(session.user, session.guild, &all_new),
            all_item.version,
        )?);
        for (day, record) in records {
            let before = &day_items[&day];
            let new = DayItem {
                record,
                version: before.version + 1,
                listed: before.listed,
            };
            items.push(self.versioned_put(
                day_item(session.user, session.guild, day, &new),
                before.version,
            )?);
        }
        Ok((items, all_new.all.totals()))
    }

    /// A put on condition that the item's version is still `read` (0: that it does not exist).
    fn versioned_put(&self, item: Item, read: u64) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(self.table_name())
            .set_item(Some(item));
        let put = if read == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("#v = :v")
                .expression_attribute_names("#v", "v")
                .expression_attribute_values(":v", n(read))
        };
        let put = put
            .build()
            .map_err(|e| StoreError::rejected("end session", e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(crate) fn update_item(
        &self,
        op: &'static str,
        pk: impl Into<String>,
        sk: impl Into<String>,
        e: &Expr,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .set_update_expression(e.update_expression())
            .set_condition_expression(e.condition_expression())
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .build()
            .map_err(|e| StoreError::rejected(op, e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// An `UpdateItem`; `false` when its condition failed.
    pub(crate) async fn conditional_update(
        &self,
        op: &'static str,
        pk: String,
        sk: String,
        e: &Expr,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .set_update_expression(e.update_expression())
            .set_condition_expression(e.condition_expression())
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(classify(op, err)),
        }
    }

    /// The member's leaderboard figures in `guild` as stored (after an end that found its
    /// session already ended: the board gets the stored figures again).
    pub async fn member_totals(
        &self,
        user: UserId,
        guild: GuildId,
    ) -> Result<Option<MemberTotals>, StoreError> {
        let item = self
            .get_one(
                "read all-time",
                key(keys::user(user), keys::all_time(guild)),
                Consistency::Strong,
            )
            .await?;
        item.as_ref()
            .map(|i| read_all_time(i).map(|a| a.listed.then(|| a.all.totals())))
            .transpose()
            .map(Option::flatten)
    }

    /// Every open session of a member, in every server.
    pub async fn open_sessions_of_user(
        &self,
        user: UserId,
    ) -> Result<Vec<OpenSession>, StoreError> {
        let mut out: Vec<OpenSession> =
            self.member_state(user).await?.primary.into_iter().collect();
        for item in self
            .query_prefix(&keys::user(user), keys::OPEN_PREFIX, Consistency::Strong)
            .await?
        {
            out.push(read_secondary(&item)?);
        }
        Ok(out)
    }

    /// The open session of a member in a server (strongly consistent).
    pub async fn open_session(
        &self,
        user: UserId,
        guild: GuildId,
    ) -> Result<Option<OpenSession>, StoreError> {
        match self.member_state(user).await?.primary {
            Some(o) if o.guild == guild => Ok(Some(o)),
            _ => self.secondary(user, guild).await,
        }
    }

    /// The open sessions of a server from the sparse index (eventually consistent: a session
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
                let id: callstats_core::SessionId = r.parse("os")?;
                Ok(OpenRef {
                    user: user_of(&r)?,
                    channel: parse_id(r.string("oc")?)
                        .ok_or_else(|| r.error("oc is not a channel id"))?,
                    id,
                })
            })
            .collect()
    }

    /// What reconciling a server needs, strongly consistent, in one batch: the open sessions in
    /// `guild` of `users` (those the index lists and those present now), which of them opted
    /// out, and the server item.
    pub async fn reconcile_view(
        &self,
        guild: GuildId,
        users: &[UserId],
    ) -> Result<ReconcileView, StoreError> {
        let mut wanted = vec![key(keys::guild(guild), keys::GUILD)];
        for user in users {
            wanted.push(key(keys::user(*user), keys::USER));
            wanted.push(key(keys::user(*user), keys::open(guild)));
        }
        let items = self
            .batch_get("read for reconcile", wanted, Consistency::Strong)
            .await?;
        let mut view = ReconcileView::default();
        for item in &items {
            let r = Reader::new(item);
            let sk = r.string("sk")?;
            if sk == keys::GUILD {
                view.server = read_guild(item)?;
            } else if sk == keys::USER {
                let state = read_member_state(item)?;
                if state.settings.opted_out {
                    view.opted_out.push(user_of(&r)?);
                }
                if let Some(o) = state.primary
                    && o.guild == guild
                {
                    view.open.push(o);
                }
            } else {
                view.open.push(read_secondary(item)?);
            }
        }
        view.opted_out.sort_unstable();
        Ok(view)
    }
}

/// What [`Store::reconcile_view`] read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileView {
    pub open: Vec<OpenSession>,
    /// Members among those asked about who opted out.
    pub opted_out: Vec<UserId>,
    pub server: GuildItem,
}

/// The condition that the member has not deleted their data since `start` (a deletion
/// between an end's read and its write cancels the end).
fn not_deleted_since(e: &mut Expr, start: callstats_core::Timestamp) -> String {
    let del = e.name("del");
    let at = e.value(n(start.unix()));
    format!("(attribute_not_exists({del}) OR {del} <= {at})")
}

/// The conditions every start checks on the member state: not opted out, this session newer
/// than the last one ended in the server, and not begun before a deletion.
fn start_conditions(e: &mut Expr, session: &OpenSession) {
    let optout = e.name("optout");
    let no = e.value(AttributeValue::Bool(false));
    let last = e.name(&keys::last_ended(session.guild));
    let sid = e.value(s(session.id.to_string()));
    let deleted = e.name("priv");
    let start = e.value(n(session.start().unix()));
    e.condition(format!(
        "(attribute_not_exists({optout}) OR {optout} = {no}) \
         AND (attribute_not_exists({last}) OR {last} < {sid}) \
         AND (attribute_not_exists({deleted}) OR {deleted} <= {start})"
    ));
}

/// Why the member state refuses `session`, if it does.
fn refused(state: &MemberState, session: &OpenSession) -> Option<StartOutcome> {
    if state.settings.opted_out {
        return Some(StartOutcome::OptedOut);
    }
    let ended = state
        .last_ended
        .get(&session.guild)
        .is_some_and(|last| last.id >= session.id);
    let deleted_since = state.privacy_at.is_some_and(|at| at > session.start());
    (ended || deleted_since).then_some(StartOutcome::AlreadyEnded)
}

/// `v = v + 1` (from 0 for a new item).
fn bump_version(e: &mut Expr) {
    let v = e.name("v");
    let (zero, one) = (e.value(n(0)), e.value(n(1)));
    e.set_raw(format!("{v} = if_not_exists({v}, {zero}) + {one}"));
}

/// The days of `session` its end writes: all it touched, but for sessions too long for one
/// transaction only the last [`KEPT_DAYS`] (no window can show older ones; the all-time item
/// gets every second).
fn kept_days(session: &ClosedSession) -> Vec<Day> {
    let mut days = member::days_touched(session);
    // The slot (one or two items) and the all-time item share the transaction.
    let room = MAX_TRANSACTION_ITEMS - 3;
    if days.len() > room {
        let oldest = member::end_day(session).minus_days(KEPT_DAYS - 1);
        days.retain(|d| *d >= oldest);
        tracing::warn!(
            days = days.len(),
            "session too long for one transaction: its oldest day items are left out"
        );
    }
    days
}

#[cfg(test)]
mod tests {
    use super::*;
    use callstats_core::breakdown::Flags;
    use callstats_core::session::SessionId;
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
    fn sessions_up_to_three_months_keep_every_day() {
        let s = long_session(60);
        assert_eq!(kept_days(&s).len(), 61);
    }

    #[test]
    fn very_long_sessions_keep_the_last_days_and_fit() {
        for len in [100, 400, 1000] {
            let s = long_session(len);
            let days = kept_days(&s);
            assert_eq!(days.len(), KEPT_DAYS as usize, "{len}");
            assert_eq!(days.last().copied(), Some(member::end_day(&s)));
            assert!(days.len() + 3 <= MAX_TRANSACTION_ITEMS);
        }
    }
}

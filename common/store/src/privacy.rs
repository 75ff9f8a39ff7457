//! Everything of one member at once: export, delete, and leaving or rejoining the server
//! figures and leaderboards (opt-out, opt-in). Each step is safe to repeat.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};

use callstats_core::ids::{GuildId, UserId, parse_id};
use callstats_core::member::{AllTime, DayRecord};
use callstats_core::period::Day;
use callstats_core::session::OpenSession;
use callstats_core::settings::UserSettings;
use callstats_core::time::Timestamp;

use crate::Store;
use crate::bin;
use crate::codec::{Item, Reader, key, n, s};
use crate::error::{StoreError, classify};
use crate::expr::Expr;
use crate::items::{b, read_all_time, read_day, read_member_state, read_secondary, version};
use crate::retry::{CONTENTION_ATTEMPTS, contention_pause};
use crate::schema::keys;
use crate::table::Consistency;

/// Concurrent single-item updates when changing visibility or sweeping partners.
const PARALLEL_UPDATES: usize = 16;

/// All of one member's data in one server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuildExport {
    pub all_time: Option<AllTime>,
    pub open: Option<OpenSession>,
    pub days: Vec<(Day, DayRecord)>,
}

/// All of one member's data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserExport {
    pub user: Option<UserId>,
    pub settings: UserSettings,
    pub guilds: BTreeMap<GuildId, GuildExport>,
}

/// What a deletion removed, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteReport {
    pub sessions: usize,
    pub open_sessions: usize,
    pub all_time: usize,
    pub days: usize,
    /// Entries naming the member in other members' partner lists.
    pub partner_entries: usize,
    /// Servers whose leaderboards and names no longer hold the member.
    pub servers: usize,
    /// Settings removed (kept only as the opt-out flag when the member opted out).
    pub settings: bool,
}

impl DeleteReport {
    #[must_use]
    pub const fn items(&self) -> usize {
        self.open_sessions + self.all_time + self.days + self.settings as usize
    }
}

/// The other members' day items that name a deleted member as a partner: swept at once, and
/// again once ends that were in flight have landed (`docs/storage.md`, delete).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartnerSweep {
    pub user: UserId,
    /// Day items known to name the member: their own partners' days.
    pub entries: BTreeSet<(UserId, GuildId, Day)>,
    /// Days of a server to search through the `guild-days` index: those of the member's
    /// calls in progress, whose partners only the other side has recorded yet.
    #[serde(default)]
    pub scans: Vec<(GuildId, Day, Day)>,
}

impl Store {
    /// Reads every item of the member's partition into typed data. A malformed item fails the
    /// export rather than being skipped.
    pub async fn export_user(&self, user: UserId) -> Result<UserExport, StoreError> {
        let items = self
            .query_prefix(&keys::user(user), "", Consistency::Strong)
            .await?;
        let mut export = UserExport {
            user: Some(user),
            ..UserExport::default()
        };
        for item in &items {
            let r = Reader::new(item);
            let sk = r.string("sk")?;
            if sk == keys::USER {
                let state = read_member_state(item)?;
                export.settings = state.settings;
                if let Some(open) = state.primary {
                    let guild = open.guild;
                    export.guilds.entry(guild).or_default().open = Some(open);
                }
            } else if let Some(rest) = sk.strip_prefix(keys::OPEN_PREFIX) {
                let open = read_secondary(item)?;
                let guild = parse_id(rest).ok_or_else(|| r.error("sort key names no server"))?;
                export.guilds.entry(guild).or_default().open = Some(open);
            } else if let Some(rest) = sk.strip_prefix(keys::ALL_PREFIX) {
                let guild = parse_id(rest).ok_or_else(|| r.error("sort key names no server"))?;
                export.guilds.entry(guild).or_default().all_time = Some(read_all_time(item)?.all);
            } else if sk.starts_with(keys::DAY_PREFIX) {
                let (guild, _) = crate::items::day_key(&r)?;
                let (day, d) = read_day(item)?;
                export
                    .guilds
                    .entry(guild)
                    .or_default()
                    .days
                    .push((day, d.record));
            } else {
                return Err(r.error("unknown item type"));
            }
        }
        Ok(export)
    }

    /// How many items the member's partition holds, counting no further than `at_most`: one
    /// cheap query that tells whether an export or a deletion is small enough to finish at
    /// once.
    pub async fn user_item_count(&self, user: UserId, at_most: usize) -> Result<usize, StoreError> {
        let out = self
            .client
            .query()
            .table_name(self.table.as_str())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::user(user)))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .limit(i32::try_from(at_most.max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| classify("count items", e))?;
        Ok(usize::try_from(out.count).unwrap_or(0).min(at_most))
    }

    /// Deletes every item of the member in every server (the member state survives as the
    /// opt-out flag when it is set, and as the instant of the deletion, which refuses any start
    /// of a call that began before it); takes the member off every leaderboard, removes their
    /// names, and sweeps them out of other members' partner lists. Returns the sweep, to run
    /// again a minute later.
    pub async fn delete_user(
        &self,
        user: UserId,
        at: Timestamp,
    ) -> Result<(DeleteReport, PartnerSweep), StoreError> {
        let pk = keys::user(user);
        // The instant first: from now on no start of a call that began earlier is accepted,
        // no end of one is recorded, and no partner list of one takes the member.
        let mut e = Expr::new();
        e.set("priv", n(at.unix()));
        e.set("del", n(at.unix()));
        self.update_member(user, &e).await?;
        let items = self.query_prefix(&pk, "", Consistency::Strong).await?;
        let mut report = DeleteReport::default();
        let mut sweep = PartnerSweep {
            user,
            entries: BTreeSet::new(),
            scans: Vec::new(),
        };
        let mut guilds = BTreeSet::new();
        let mut own_days: BTreeMap<GuildId, BTreeSet<Day>> = BTreeMap::new();
        let mut deletes = Vec::new();
        let mut state_version = 0;
        let mut opted_out = false;
        for item in &items {
            let r = Reader::new(item);
            let sk = r.string("sk")?;
            if sk == keys::USER {
                let state = read_member_state(item)?;
                opted_out = state.settings.opted_out;
                state_version = state.version;
                report.settings = true;
                if let Some(o) = state.primary {
                    report.open_sessions += 1;
                    guilds.insert(o.guild);
                    sweep.scans.push((o.guild, Day::of(o.start()), Day::of(at)));
                }
                continue;
            }
            if sk.starts_with(keys::OPEN_PREFIX) {
                let o = read_secondary(item)?;
                report.open_sessions += 1;
                guilds.insert(o.guild);
                sweep.scans.push((o.guild, Day::of(o.start()), Day::of(at)));
            } else if let Some(rest) = sk.strip_prefix(keys::ALL_PREFIX) {
                report.all_time += 1;
                guilds.extend(parse_id(rest));
            } else if sk.starts_with(keys::DAY_PREFIX) {
                let (guild, _) = crate::items::day_key(&r)?;
                let (day, d) = read_day(item)?;
                report.days += 1;
                report.sessions += d.record.ended.len();
                guilds.insert(guild);
                own_days.entry(guild).or_default().insert(day);
                for partner in d.record.partners.keys() {
                    sweep.entries.insert((*partner, guild, day));
                }
            }
            let delete = DeleteRequest::builder()
                .set_key(Some(key(&pk, sk)))
                .build()
                .map_err(|e| StoreError::rejected("delete member", e.to_string()))?;
            deletes.push(WriteRequest::builder().delete_request(delete).build());
        }
        // The member's own days are searched too: a call the store ended without its partners
        // (an opt-out's end of a call in progress) left time with the member in other members'
        // days that the member's own days do not name.
        for (guild, days) in &own_days {
            sweep
                .scans
                .extend(day_runs(days).map(|(first, last)| (*guild, first, last)));
        }
        self.batch_write(deletes).await?;
        self.reset_member(user, opted_out, at, state_version)
            .await?;
        for guild in &guilds {
            self.leave_board(*guild, user, at).await?;
            self.remove_name(*guild, user, at).await?;
        }
        report.servers = guilds.len();
        report.partner_entries = self.sweep_partners(&sweep).await?;
        Ok((report, sweep))
    }

    /// The member state after a deletion: only the opt-out flag (when set) and the instant.
    async fn reset_member(
        &self,
        user: UserId,
        opted_out: bool,
        at: Timestamp,
        mut read_version: u64,
    ) -> Result<(), StoreError> {
        for attempt in 0..CONTENTION_ATTEMPTS {
            if attempt > 0 {
                contention_pause(attempt - 1).await;
            }
            let mut item = key(keys::user(user), keys::USER);
            if opted_out {
                item.insert("optout".into(), AttributeValue::Bool(true));
            }
            item.insert("priv".into(), n(at.unix()));
            item.insert("del".into(), n(at.unix()));
            item.insert("v".into(), n(read_version + 1));
            let result = self
                .client
                .put_item()
                .table_name(self.table.as_str())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#v) OR #v = :v")
                .expression_attribute_names("#v", "v")
                .expression_attribute_values(":v", n(read_version))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(err) if crate::error::is_condition_failure(&err) => {
                    read_version = self.member_state(user).await?.version;
                }
                Err(err) => return Err(classify("reset member", err)),
            }
        }
        Err(StoreError::Unavailable {
            op: "reset member",
            message: "the member state kept changing; try again".into(),
        })
    }

    /// Removes the member from the partner lists `sweep` names or finds; returns how many
    /// entries it removed (none the second time, unless an end was in flight).
    pub async fn sweep_partners(&self, sweep: &PartnerSweep) -> Result<usize, StoreError> {
        let mut entries = sweep.entries.clone();
        for (guild, first, last) in &sweep.scans {
            for day in self.guild_days(*guild, *first, *last).await? {
                if day.user != sweep.user && day.partners.contains_key(&sweep.user) {
                    entries.insert((day.user, *guild, day.day));
                }
            }
        }
        let mut removed = 0;
        let mut tasks = tokio::task::JoinSet::new();
        for (partner, guild, day) in entries {
            if tasks.len() >= PARALLEL_UPDATES
                && let Some(done) = tasks.join_next().await
            {
                removed += done.map_err(|e| StoreError::rejected("sweep", e.to_string()))??;
            }
            let store = self.clone();
            let user = sweep.user;
            tasks.spawn(async move { store.remove_partner(partner, guild, day, user).await });
        }
        while let Some(done) = tasks.join_next().await {
            removed += done.map_err(|e| StoreError::rejected("sweep", e.to_string()))??;
        }
        Ok(removed)
    }

    /// Removes `gone` from `partner`'s day item, on its version.
    async fn remove_partner(
        &self,
        partner: UserId,
        guild: GuildId,
        day: Day,
        gone: UserId,
    ) -> Result<usize, StoreError> {
        for attempt in 0..CONTENTION_ATTEMPTS {
            if attempt > 0 {
                contention_pause(attempt - 1).await;
            }
            let Some(item) = self
                .get_one(
                    "read partner day",
                    key(keys::user(partner), keys::day(guild, day)),
                    Consistency::Strong,
                )
                .await?
            else {
                return Ok(0);
            };
            let r = Reader::new(&item);
            let read = version(&r)?;
            let (_, d) = read_day(&item)?;
            let mut partners = d.record.partners;
            if partners.remove(&gone).is_none() {
                return Ok(0);
            }
            let mut e = Expr::new();
            e.set("pt", b(bin::secs_by_id(&partners)));
            e.set("v", n(read + 1));
            let v = e.name("v");
            let read_value = e.value(n(read));
            e.condition(format!("{v} = {read_value}"));
            if self
                .conditional_update(
                    "sweep partner",
                    keys::user(partner),
                    keys::day(guild, day),
                    &e,
                )
                .await?
            {
                return Ok(1);
            }
        }
        Err(StoreError::Unavailable {
            op: "sweep partner",
            message: "a partner's day kept changing; try again".into(),
        })
    }

    /// Writes a member's all-time and day records as they are, unconditionally, in batches:
    /// for seeding big histories in tests and benchmarks, where one transaction per session
    /// would take minutes. Never used by the programs.
    pub async fn put_records(
        &self,
        user: UserId,
        guild: GuildId,
        all: &AllTime,
        days: &[(Day, DayRecord)],
    ) -> Result<(), StoreError> {
        let mut puts = vec![crate::items::all_time_item(
            user,
            guild,
            &crate::items::AllTimeItem {
                all: all.clone(),
                version: 1,
                listed: true,
            },
        )];
        for (day, record) in days {
            puts.push(crate::items::day_item(
                user,
                guild,
                *day,
                &crate::items::DayItem {
                    record: record.clone(),
                    version: 1,
                    listed: true,
                },
            ));
        }
        let requests = puts
            .into_iter()
            .map(|item| {
                aws_sdk_dynamodb::types::PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(|e| StoreError::rejected("put records", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(requests).await
    }

    /// Takes the member's items out of (or back into) the server indexes and leaderboards:
    /// opting out hides them from every server figure, opting in shows them again. Each item
    /// is one conditional update (items deleted meanwhile are not recreated); returns how many
    /// items changed.
    pub async fn set_listed(
        &self,
        user: UserId,
        listed: bool,
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        let pk = keys::user(user);
        let items = self.query_prefix(&pk, "", Consistency::Strong).await?;
        let mut targets: Vec<(String, Item)> = Vec::new();
        let mut boards: Vec<(GuildId, Option<callstats_core::member::MemberTotals>)> = Vec::new();
        for item in &items {
            let r = Reader::new(item);
            let sk = r.string("sk")?.to_owned();
            let mut set = Item::new();
            if let Some(rest) = sk.strip_prefix(keys::ALL_PREFIX) {
                let guild: GuildId =
                    parse_id(rest).ok_or_else(|| r.error("sort key names no server"))?;
                set.insert("ga".into(), s(guild.to_string()));
                let totals = read_all_time(item)?.all.totals();
                boards.push((guild, Some(totals)));
            } else if sk.starts_with(keys::DAY_PREFIX) {
                let (guild, day) = crate::items::day_key(&r)?;
                set.insert("gm".into(), s(keys::guild_month(guild, day)));
                set.insert("gd".into(), s(day.to_string()));
            } else {
                continue;
            }
            targets.push((sk, set));
        }
        let changed = targets.len();
        let mut tasks = tokio::task::JoinSet::new();
        for (sk, attrs) in targets {
            if tasks.len() >= PARALLEL_UPDATES
                && let Some(done) = tasks.join_next().await
            {
                done.map_err(|e| StoreError::rejected("visibility", e.to_string()))??;
            }
            let store = self.clone();
            let pk = pk.clone();
            tasks.spawn(async move {
                let mut e = Expr::new();
                for (attr, value) in attrs {
                    if listed {
                        e.set(&attr, value);
                    } else {
                        e.remove(&attr);
                    }
                }
                let v = e.name("v");
                let one = e.value(n(1));
                e.set_raw(format!("{v} = {v} + {one}"));
                // Only items that still exist: a concurrent delete must not recreate them.
                let pk_name = e.name("pk");
                e.condition(format!("attribute_exists({pk_name})"));
                store
                    .conditional_update("visibility", pk, sk, &e)
                    .await
                    .map(|_| ())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| StoreError::rejected("visibility", e.to_string()))??;
        }
        for (guild, totals) in boards {
            match (listed, totals) {
                (true, Some(t)) => self.rejoin_board(guild, user, &t, at).await?,
                _ => self.leave_board(guild, user, at).await?,
            }
        }
        Ok(changed)
    }
}

/// Runs of consecutive days, as (first, last).
fn day_runs(days: &BTreeSet<Day>) -> impl Iterator<Item = (Day, Day)> + '_ {
    let mut runs: Vec<(Day, Day)> = Vec::new();
    for day in days {
        match runs.last_mut() {
            Some((_, last)) if day.minus_days(1) == *last => *last = *day,
            _ => runs.push((*day, *day)),
        }
    }
    runs.into_iter()
}

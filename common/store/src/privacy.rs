//! Everything of one user at once: export, delete, and leaving or rejoining the leaderboards.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::retry::Backoff;

use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};

use crate::Store;
use crate::codec::{Reader, key, s};
use crate::error::{StoreError, classify};
use crate::expr::Expr;
use crate::items::{
    SessionRecord, read_all_time, read_day, read_open_session, read_period, read_session_record,
};
use crate::schema::keys;
use crate::sessions::all_items;
use callstats_core::aggregate::Aggregate;
use callstats_core::ids::{GuildId, UserId, parse_id};
use callstats_core::period::{Day, MonthKey, PeriodKey, WeekKey};
use callstats_core::session::{DayTotals, OpenSession, PeriodTotals};
use callstats_core::settings::UserSettings;

/// `BatchWriteItem` takes at most 25 requests.
const BATCH: usize = 25;
/// Unprocessed batch items are sent again after this backoff.
const UNPROCESSED_BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(50),
    max: Duration::from_secs(2),
};
/// Concurrent single-item updates when changing leaderboard visibility.
const PARALLEL_UPDATES: usize = 16;

/// All of one user's data in one guild.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuildExport {
    pub all_time: Option<Aggregate>,
    pub open: Option<OpenSession>,
    pub sessions: Vec<SessionRecord>,
    pub days: Vec<(Day, DayTotals)>,
    pub weeks: Vec<(WeekKey, PeriodTotals)>,
    pub months: Vec<(MonthKey, PeriodTotals)>,
}

/// All of one user's data.
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
    pub weeks_and_months: usize,
    /// Settings removed (kept only as the opt-out flag when the user opted out).
    pub settings: bool,
}

impl DeleteReport {
    #[must_use]
    pub const fn items(&self) -> usize {
        self.sessions
            + self.open_sessions
            + self.all_time
            + self.days
            + self.weeks_and_months
            + self.settings as usize
    }
}

fn guild_of(r: &Reader<'_>, prefix: &str) -> Result<GuildId, StoreError> {
    let rest = r.sk_suffix(prefix)?;
    let guild = rest.split('#').next().unwrap_or_default();
    parse_id(guild).ok_or_else(|| r.error("sort key does not name a guild"))
}

impl Store {
    /// Reads every item of the user's partition into typed data. A malformed item fails the
    /// export rather than being skipped.
    pub async fn export_user(&self, user: UserId) -> Result<UserExport, StoreError> {
        let items = self.query_prefix(&keys::user(user), "", true).await?;
        let mut export = UserExport {
            user: Some(user),
            settings: self.user_settings(user).await?,
            guilds: BTreeMap::new(),
        };
        for item in &items {
            let r = Reader::new(item);
            let sk = r.string("sk")?;
            if sk == keys::SETTINGS {
                continue;
            }
            let (prefix, guild) = [
                keys::OPEN_PREFIX,
                keys::SESSION_PREFIX,
                keys::ALL_PREFIX,
                keys::DAY_PREFIX,
                keys::WEEK_PREFIX,
                keys::MONTH_PREFIX,
            ]
            .iter()
            .find(|p| sk.starts_with(**p))
            .map(|p| Ok::<_, StoreError>((*p, guild_of(&r, p)?)))
            .transpose()?
            .ok_or_else(|| r.error("unknown item type"))?;
            let g = export.guilds.entry(guild).or_default();
            let period_suffix = || -> Result<&str, StoreError> {
                let rest = r.sk_suffix(prefix)?;
                rest.split_once('#')
                    .map(|(_, p)| p)
                    .ok_or_else(|| r.error("sort key has no period"))
            };
            match prefix {
                keys::OPEN_PREFIX => g.open = Some(read_open_session(item)?),
                keys::SESSION_PREFIX => g.sessions.push(read_session_record(item)?),
                keys::ALL_PREFIX => g.all_time = Some(read_all_time(item)?),
                keys::DAY_PREFIX => {
                    let day = period_suffix()?.parse().map_err(|_| r.error("bad day"))?;
                    g.days.push((day, read_day(item)?));
                }
                keys::WEEK_PREFIX => {
                    let week = period_suffix()?.parse().map_err(|_| r.error("bad week"))?;
                    g.weeks.push((week, read_period(item)?));
                }
                _ => {
                    let month = period_suffix()?.parse().map_err(|_| r.error("bad month"))?;
                    g.months.push((month, read_period(item)?));
                }
            }
        }
        Ok(export)
    }

    /// How many items the user's partition holds, counting no further than `at_most`: one
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

    /// Deletes every item of the user, in every guild, except the opt-out flag when it is set.
    pub async fn delete_user(&self, user: UserId) -> Result<DeleteReport, StoreError> {
        let pk = keys::user(user);
        let settings = self.user_settings(user).await?;
        let items = self.query_keys(&pk).await?;
        let mut report = DeleteReport::default();
        let mut deletes = Vec::new();
        for sk in &items {
            let kind = sk.get(..2).unwrap_or_default();
            match kind {
                "O#" => report.open_sessions += 1,
                "S#" => report.sessions += 1,
                "A#" => report.all_time += 1,
                "D#" => report.days += 1,
                "W#" | "M#" => report.weeks_and_months += 1,
                _ => {}
            }
            if sk == keys::SETTINGS {
                report.settings = true;
                if settings.opted_out {
                    continue;
                }
            }
            let delete = DeleteRequest::builder()
                .set_key(Some(key(&pk, sk)))
                .build()
                .map_err(|e| StoreError::rejected("delete user", e.to_string()))?;
            deletes.push(WriteRequest::builder().delete_request(delete).build());
        }
        self.batch_write(deletes).await?;
        if settings.opted_out && settings.timezone.is_some() {
            self.set_user_timezone(user, None).await?;
        }
        Ok(report)
    }

    /// Removes (or restores) the user's entries on every leaderboard of every guild.
    pub async fn set_leaderboard_visibility(
        &self,
        user: UserId,
        visible: bool,
    ) -> Result<usize, StoreError> {
        let pk = keys::user(user);
        let mut targets: Vec<(String, String)> = Vec::new();
        for sk in self.query_keys(&pk).await? {
            let lb = if let Some(guild) = sk.strip_prefix(keys::ALL_PREFIX) {
                parse_id::<callstats_core::ids::marker::GuildMarker>(guild)
                    .map(|g| keys::leaderboard(g, PeriodKey::All))
            } else if let Some(rest) = sk.strip_prefix(keys::WEEK_PREFIX) {
                rest.split_once('#').and_then(|(g, w)| {
                    Some(keys::leaderboard(
                        parse_id(g)?,
                        PeriodKey::Week(w.parse().ok()?),
                    ))
                })
            } else if let Some(rest) = sk.strip_prefix(keys::MONTH_PREFIX) {
                rest.split_once('#').and_then(|(g, m)| {
                    Some(keys::leaderboard(
                        parse_id(g)?,
                        PeriodKey::Month(m.parse().ok()?),
                    ))
                })
            } else {
                continue;
            };
            let lb = lb.ok_or_else(|| {
                StoreError::malformed(format!("{pk}/{sk}"), "sort key does not name a period")
            })?;
            targets.push((sk, lb));
        }
        let changed = targets.len();
        let mut tasks = tokio::task::JoinSet::new();
        for (sk, lb) in targets {
            if tasks.len() >= PARALLEL_UPDATES
                && let Some(done) = tasks.join_next().await
            {
                {
                    done.map_err(|e| {
                        StoreError::rejected("leaderboard visibility", e.to_string())
                    })??;
                }
            }
            let store = self.clone();
            let pk = pk.clone();
            tasks.spawn(async move {
                let mut e = Expr::new();
                if visible {
                    e.set("lb", s(lb));
                } else {
                    e.remove("lb");
                }
                // Only items that still exist: a concurrent delete must not recreate them.
                let pk_name = e.name("pk");
                e.condition(format!("attribute_exists({pk_name})"));
                let result = store
                    .client
                    .update_item()
                    .table_name(store.table.as_str())
                    .set_key(Some(key(pk, sk)))
                    .set_update_expression(e.update_expression())
                    .set_condition_expression(e.condition_expression())
                    .set_expression_attribute_names(e.names())
                    .set_expression_attribute_values(e.values())
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(err) if crate::error::is_condition_failure(&err) => Ok(()),
                    Err(err) => Err(classify("leaderboard visibility", err)),
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| StoreError::rejected("leaderboard visibility", e.to_string()))??;
        }
        Ok(changed)
    }

    /// The sort keys of every item in a partition.
    async fn query_keys(&self, pk: &str) -> Result<Vec<String>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(self.table.as_str())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .projection_expression("pk, sk")
            .consistent_read(true);
        all_items("list items", query)
            .await?
            .iter()
            .map(|item| Ok(Reader::new(item).string("sk")?.to_owned()))
            .collect()
    }

    /// Writes requests in batches of 25, retrying unprocessed ones with backoff.
    pub(crate) async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(BATCH) {
            let mut pending = chunk.to_vec();
            for attempt in 0.. {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(self.table.as_str(), pending)
                    .send()
                    .await
                    .map_err(|e| classify("batch write", e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(self.table.as_str()))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt >= 8 {
                    return Err(StoreError::Unavailable {
                        op: "batch write",
                        message: format!("{} items still unprocessed after retries", pending.len()),
                    });
                }
                tokio::time::sleep(UNPROCESSED_BACKOFF.delay(attempt)).await;
            }
        }
        Ok(())
    }
}

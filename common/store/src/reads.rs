//! What `/callstats` and `/calltop` read.

use crate::Store;
use crate::codec::{Item, Reader, key, n, s};
use crate::error::{StoreError, classify};
use crate::items::{
    LeaderboardEntry, Metric, SessionRecord, read_all_time, read_day, read_leaderboard_entry,
    read_period, read_session_record,
};
use crate::schema::keys;
use crate::sessions::Read;
use crate::sessions::{all_items, count_all};
use callstats_core::aggregate::Aggregate;
use callstats_core::ids::{GuildId, UserId};
use callstats_core::period::{Day, PeriodKey};
use callstats_core::session::{DayTotals, PeriodTotals};

impl Store {
    /// All-time figures of a user in a guild; `None` before their first session ends.
    pub async fn all_time(
        &self,
        user: UserId,
        guild: GuildId,
    ) -> Result<Option<Aggregate>, StoreError> {
        let item = self
            .get_one(
                "read all-time stats",
                key(keys::user(user), keys::all_time(guild)),
                Read::Eventual,
            )
            .await?;
        item.as_ref().map(read_all_time).transpose()
    }

    /// Day items from `first` to `last` inclusive, in day order (days without a call have none).
    pub async fn days(
        &self,
        user: UserId,
        guild: GuildId,
        first: Day,
        last: Day,
    ) -> Result<Vec<(Day, DayTotals)>, StoreError> {
        let prefix = format!("{}{guild}#", keys::DAY_PREFIX);
        let query = self
            .client
            .query()
            .table_name(self.table.as_str())
            .key_condition_expression("pk = :pk AND sk BETWEEN :first AND :last")
            .expression_attribute_values(":pk", s(keys::user(user)))
            .expression_attribute_values(":first", s(keys::day(guild, first)))
            .expression_attribute_values(":last", s(keys::day(guild, last)));
        all_items("read days", query)
            .await?
            .iter()
            .map(|item| {
                let r = Reader::new(item);
                let day: Day = r
                    .sk_suffix(&prefix)?
                    .parse()
                    .map_err(|_| r.error("sort key does not name a day"))?;
                Ok((day, read_day(item)?))
            })
            .collect()
    }

    /// The most recent closed sessions of a user in a guild, newest first.
    pub async fn recent_sessions(
        &self,
        user: UserId,
        guild: GuildId,
        limit: i32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(self.table.as_str())
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::user(user)))
            .expression_attribute_values(":prefix", s(keys::sessions_of(guild)))
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(|e| classify("read recent sessions", e))?;
        out.items().iter().map(read_session_record).collect()
    }

    /// A user's figures for one period (week, month or all time), if they have any.
    pub async fn period_totals(
        &self,
        user: UserId,
        guild: GuildId,
        period: PeriodKey,
    ) -> Result<Option<(PeriodTotals, bool)>, StoreError> {
        let item = self
            .get_one(
                "read period",
                key(keys::user(user), keys::period(guild, period)),
                Read::Eventual,
            )
            .await?;
        item.as_ref()
            .map(|item| Ok((read_period(item)?, item.contains_key("lb"))))
            .transpose()
    }

    /// Leaderboard entries `offset..offset + limit`, highest first. Users who opted out are not
    /// in the index at all.
    pub async fn leaderboard(
        &self,
        guild: GuildId,
        period: PeriodKey,
        metric: Metric,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LeaderboardEntry>, StoreError> {
        let wanted = offset + limit;
        let mut entries = Vec::with_capacity(wanted);
        let mut start: Option<Item> = None;
        while entries.len() < wanted {
            let out = self
                .client
                .query()
                .table_name(self.table.as_str())
                .index_name(metric.index())
                .key_condition_expression("lb = :lb")
                .expression_attribute_values(":lb", s(keys::leaderboard(guild, period)))
                .scan_index_forward(false)
                .limit(i32::try_from(wanted - entries.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("read leaderboard", e))?;
            for item in out.items() {
                entries.push(read_leaderboard_entry(item, metric)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(entries.into_iter().skip(offset).take(limit).collect())
    }

    /// How many leaderboard entries have more than `secs` (so a user with `secs` ranks one
    /// after them), or with `at_least`, how many have `secs` or more.
    pub async fn count_above(
        &self,
        guild: GuildId,
        period: PeriodKey,
        metric: Metric,
        secs: u64,
        at_least: bool,
    ) -> Result<u64, StoreError> {
        let condition = if at_least {
            "lb = :lb AND #m >= :v"
        } else {
            "lb = :lb AND #m > :v"
        };
        let query = self
            .client
            .query()
            .table_name(self.table.as_str())
            .index_name(metric.index())
            .key_condition_expression(condition)
            .expression_attribute_names("#m", metric.attr())
            .expression_attribute_values(":lb", s(keys::leaderboard(guild, period)))
            .expression_attribute_values(":v", n(secs));
        count_all("count leaderboard", query).await
    }
}

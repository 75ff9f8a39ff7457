//! What the endpoint's commands read: a member's figures, their days and sessions, a server's
//! item, its calls in progress, and the server figures read back through the indexes.

use std::collections::BTreeMap;

use callstats_core::ids::{ChannelId, GuildId, UserId, parse_id};
use callstats_core::member::SlotSecs;
use callstats_core::period::Day;
use callstats_core::session::{OpenSession, SessionRecord};

use crate::Store;
use crate::bin;
use crate::codec::{Reader, key, s};
use crate::error::{StoreError, classify};
use crate::items::{
    AllTimeItem, DayItem, GuildItem, LiveCall, MemberState, read_all_time, read_day, read_guild,
    read_live_call, read_member_summary, user_of,
};
use crate::schema::{GUILD_DAYS, GUILD_MEMBERS, OPEN_BY_GUILD, keys};
use crate::table::{Consistency, all_items};

/// What `/callstats show` reads of one member in one server, in one batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberView {
    pub state: MemberState,
    /// The open session in this server (primary or secondary).
    pub open: Option<OpenSession>,
    pub all_time: Option<AllTimeItem>,
    pub guild: GuildItem,
}

/// One member's share of one server's UTC day, as the `guild-days` index holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberDay {
    pub user: UserId,
    pub day: Day,
    pub slots: Vec<SlotSecs>,
    /// Seconds with each partner that day.
    pub partners: BTreeMap<UserId, u64>,
}

impl Store {
    /// The member's state (strongly consistent: an opt-out must be seen at once), their
    /// all-time item in `guild` and the server item (eventually consistent), in two parallel
    /// requests.
    pub async fn member_view(
        &self,
        user: UserId,
        guild: GuildId,
    ) -> Result<MemberView, StoreError> {
        let wanted = vec![
            key(keys::user(user), keys::all_time(guild)),
            key(keys::guild(guild), keys::GUILD),
        ];
        let (state, items) = tokio::try_join!(
            self.member_state(user),
            self.batch_get("read member view", wanted, Consistency::Eventual),
        )?;
        let mut view = MemberView {
            state,
            ..MemberView::default()
        };
        for item in items {
            let r = Reader::new(&item);
            match r.string("sk")? {
                keys::GUILD => view.guild = read_guild(&item)?,
                _ => view.all_time = Some(read_all_time(&item)?),
            }
        }
        view.open = match &view.state.primary {
            Some(o) if o.guild == guild => Some(o.clone()),
            _ if view.state.has_secondary(guild) => self.open_session(user, guild).await?,
            _ => None,
        };
        Ok(view)
    }

    /// The server item: configuration, shard, leaderboards, peaks. Default when the server was
    /// never seen.
    pub async fn guild(&self, guild: GuildId) -> Result<GuildItem, StoreError> {
        self.get_or_default(
            "read server",
            key(keys::guild(guild), keys::GUILD),
            Consistency::Eventual,
            read_guild,
        )
        .await
    }

    /// Day items from `first` to `last` inclusive, in day order (days without a call have none).
    pub async fn days(
        &self,
        user: UserId,
        guild: GuildId,
        first: Day,
        last: Day,
    ) -> Result<Vec<(Day, DayItem)>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(self.table_name())
            .key_condition_expression("pk = :pk AND sk BETWEEN :first AND :last")
            .expression_attribute_values(":pk", s(keys::user(user)))
            .expression_attribute_values(":first", s(keys::day(guild, first)))
            .expression_attribute_values(":last", s(keys::day(guild, last)));
        all_items("read days", query)
            .await?
            .iter()
            .map(read_day)
            .collect()
    }

    /// Every day item of a member in a server (partners over all time), in day order.
    pub async fn all_days(
        &self,
        user: UserId,
        guild: GuildId,
    ) -> Result<Vec<(Day, DayItem)>, StoreError> {
        self.query_prefix(
            &keys::user(user),
            &keys::days_of(guild),
            Consistency::Eventual,
        )
        .await?
        .iter()
        .map(read_day)
        .collect()
    }

    /// The most recent closed sessions of a member in a server, newest first: day items are
    /// read from the latest back until `limit` sessions are found.
    pub async fn recent_sessions(
        &self,
        user: UserId,
        guild: GuildId,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut out: Vec<SessionRecord> = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(self.table_name())
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(keys::user(user)))
                .expression_attribute_values(":prefix", s(keys::days_of(guild)))
                .scan_index_forward(false)
                .limit(8)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("read recent sessions", e))?;
            for item in page.items() {
                let (_, day) = read_day(item)?;
                out.extend(day.record.ended);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() && out.len() < limit => start = Some(k),
                _ => break,
            }
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.id));
        out.truncate(limit);
        Ok(out)
    }

    /// Calls in progress in a server, from the `open-by-guild` index.
    pub async fn live_calls(&self, guild: GuildId) -> Result<Vec<LiveCall>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(self.table_name())
            .index_name(OPEN_BY_GUILD)
            .key_condition_expression("og = :g")
            .expression_attribute_values(":g", s(guild.to_string()));
        all_items("read calls in progress", query)
            .await?
            .iter()
            .map(read_live_call)
            .collect()
    }

    /// Every member's share of the server's UTC days from `first` to `last`, from the
    /// `guild-days` index (one query per calendar month).
    pub async fn guild_days(
        &self,
        guild: GuildId,
        first: Day,
        last: Day,
    ) -> Result<Vec<MemberDay>, StoreError> {
        let mut out = Vec::new();
        let mut month_start = first;
        while month_start <= last {
            let query = self
                .client
                .query()
                .table_name(self.table_name())
                .index_name(GUILD_DAYS)
                .key_condition_expression("gm = :m AND gd BETWEEN :first AND :last")
                .expression_attribute_values(":m", s(keys::guild_month(guild, month_start)))
                .expression_attribute_values(":first", s(month_start.to_string()))
                .expression_attribute_values(":last", s(last.to_string()));
            for item in all_items("read server days", query).await? {
                let r = Reader::new(&item);
                let (_, day) = crate::items::day_key(&r)?;
                out.push(MemberDay {
                    user: user_of(&r)?,
                    day,
                    slots: bin::read_slots(r.bytes("hb")?)
                        .map_err(|e| r.error(format!("hb: {e}")))?,
                    partners: if r.has("pt") {
                        bin::read_secs_by_id(r.bytes("pt")?)
                            .map_err(|e| r.error(format!("pt: {e}")))?
                    } else {
                        BTreeMap::new()
                    },
                });
            }
            month_start = month_start.first_of_next_month();
        }
        Ok(out)
    }

    /// Every listed member's all-time figures in a server, from the `guild-members` index.
    pub async fn guild_members(
        &self,
        guild: GuildId,
    ) -> Result<Vec<callstats_core::server::MemberAllTime>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(self.table_name())
            .index_name(GUILD_MEMBERS)
            .key_condition_expression("ga = :g")
            .expression_attribute_values(":g", s(guild.to_string()));
        all_items("read server members", query)
            .await?
            .iter()
            .map(read_member_summary)
            .collect()
    }

    /// The display names the sidecar last saw for `users` in a server (members never seen, or
    /// whose name was removed, are missing).
    pub async fn names(
        &self,
        guild: GuildId,
        users: &[UserId],
    ) -> Result<BTreeMap<UserId, String>, StoreError> {
        if users.is_empty() {
            return Ok(BTreeMap::new());
        }
        let wanted = users
            .iter()
            .map(|u| key(keys::guild(guild), keys::name(*u)))
            .collect();
        let mut out = BTreeMap::new();
        for item in self
            .batch_get("read names", wanted, Consistency::Eventual)
            .await?
        {
            let r = Reader::new(&item);
            // What a deletion left: no name.
            if !r.has("n") && r.has("gone") {
                continue;
            }
            let user = r
                .sk_suffix(keys::NAME_PREFIX)
                .ok()
                .and_then(parse_id)
                .ok_or_else(|| r.error("sort key does not name a member"))?;
            out.insert(user, r.string("n")?.to_owned());
        }
        Ok(out)
    }

    /// Which of `users` opted out (eventually consistent: a list of partners leaves out
    /// members who opted out, a moment late at worst).
    pub async fn opted_out(
        &self,
        users: &[UserId],
    ) -> Result<std::collections::BTreeSet<UserId>, StoreError> {
        if users.is_empty() {
            return Ok(std::collections::BTreeSet::new());
        }
        let wanted = users
            .iter()
            .map(|u| key(keys::user(*u), keys::USER))
            .collect();
        let mut out = std::collections::BTreeSet::new();
        for item in self
            .batch_get("read member states", wanted, Consistency::Eventual)
            .await?
        {
            if crate::items::read_member_state(&item)?.settings.opted_out {
                out.insert(user_of(&Reader::new(&item))?);
            }
        }
        Ok(out)
    }

    /// The voice channels everyone in a server can view, as the sidecar last saw them.
    pub async fn public_channels(&self, guild: GuildId) -> Result<Vec<ChannelId>, StoreError> {
        let item = self
            .get_one(
                "read public channels",
                key(keys::guild(guild), keys::CHANNELS),
                Consistency::Eventual,
            )
            .await?;
        match item {
            None => Ok(Vec::new()),
            Some(item) => {
                let r = Reader::new(&item);
                bin::read_ids(r.bytes("ch")?).map_err(|e| r.error(format!("ch: {e}")))
            }
        }
    }
}

//! Writes to a server's items: the leaderboard flush (the sidecar), the configuration
//! (`/callconfig`), display names and public channels (the sidecar), and a member leaving or
//! rejoining the boards (privacy actions). The server item is read, changed and written back
//! on its version, so concurrent writers never lose each other's changes.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono_tz::Tz;

use callstats_core::board::Board;
use callstats_core::ids::{ChannelId, GuildId, UserId};
use callstats_core::member::MemberTotals;
use callstats_core::settings::GuildConfig;
use callstats_core::time::Timestamp;

use crate::Store;
use crate::bin;
use crate::codec::{key, n, s};
use crate::error::{StoreError, classify};
use crate::expr::Expr;
use crate::items::{GuildItem, b, board_attrs, read_guild};
use crate::retry::{CONTENTION_ATTEMPTS, contention_pause};
use crate::schema::keys;
use crate::table::Consistency;

/// A member's figures for the leaderboard flush, as read at `as_of`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardUpdate {
    pub user: UserId,
    pub totals: MemberTotals,
    pub as_of: Timestamp,
}

impl Store {
    /// Reads the server item (strongly consistent), lets `change` edit it, and writes back the
    /// board, the configuration and the shard on condition that nobody wrote in between; reads
    /// again and retries when someone did.
    async fn change_guild(
        &self,
        op: &'static str,
        guild: GuildId,
        mut change: impl FnMut(&mut GuildItem),
    ) -> Result<GuildItem, StoreError> {
        for attempt in 0..CONTENTION_ATTEMPTS {
            if attempt > 0 {
                contention_pause(attempt - 1).await;
            }
            let before = self
                .get_one(
                    op,
                    key(keys::guild(guild), keys::GUILD),
                    Consistency::Strong,
                )
                .await?
                .as_ref()
                .map(read_guild)
                .transpose()?
                .unwrap_or_default();
            let mut after = before.clone();
            change(&mut after);
            if after == before {
                return Ok(after);
            }
            let mut e = Expr::new();
            for (attr, value) in board_attrs(&after.board) {
                match value {
                    Some(v) => e.set(attr, v),
                    None => e.remove(attr),
                };
            }
            e.set(
                "xdeaf",
                AttributeValue::Bool(after.config.rule.exclude_deafened),
            );
            e.set(
                "xalone",
                AttributeValue::Bool(after.config.rule.exclude_alone),
            );
            e.set("tz", s(after.config.timezone.name()));
            if let Some(shard) = after.shard {
                e.set("sh", n(shard));
            }
            e.set("v", n(before.version + 1));
            let v = e.name("v");
            if before.version == 0 {
                e.condition(format!("attribute_not_exists({v})"));
            } else {
                let read = e.value(n(before.version));
                e.condition(format!("{v} = {read}"));
            }
            if self
                .conditional_update(op, keys::guild(guild), keys::GUILD.to_owned(), &e)
                .await?
            {
                after.version = before.version + 1;
                return Ok(after);
            }
        }
        Err(StoreError::Unavailable {
            op,
            message: "the server item kept changing; try again".into(),
        })
    }

    /// The sidecar's leaderboard flush: members' new absolute figures, peaks of members in
    /// voice, and the shard that serves the server, merged into the server item. Returns how
    /// many members the boards hold (the size of what each flush rewrites).
    pub async fn flush_board(
        &self,
        guild: GuildId,
        updates: &[BoardUpdate],
        peaks: &[(u32, Timestamp)],
        shard: Option<u32>,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let after = self
            .change_guild("flush leaderboard", guild, |g| {
                let tz = g.config.timezone;
                g.board.roll(now, tz);
                for u in updates {
                    g.board.merge(u.user, &u.totals, u.as_of);
                }
                for (members, at) in peaks {
                    g.board.record_peak(*members, *at, tz);
                }
                g.board.prune(now, tz);
                if shard.is_some() {
                    g.shard = shard;
                }
            })
            .await?;
        Ok(after.board.entries.len())
    }

    /// Removes a member from the server's boards (opt-out, deletion) and remembers when.
    pub async fn leave_board(
        &self,
        guild: GuildId,
        user: UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.change_guild("leave leaderboard", guild, |g| g.board.remove(user, at))
            .await?;
        Ok(())
    }

    /// Puts a member back on the server's boards (opt-in) with their stored figures.
    pub async fn rejoin_board(
        &self,
        guild: GuildId,
        user: UserId,
        totals: &MemberTotals,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.change_guild("rejoin leaderboard", guild, |g| {
            g.board.roll(at, g.config.timezone);
            g.board.restore(user, totals, at);
        })
        .await?;
        Ok(())
    }

    /// A server's configuration; defaults when an admin never set it.
    pub async fn guild_config(&self, guild: GuildId) -> Result<GuildConfig, StoreError> {
        Ok(self.guild(guild).await?.config)
    }

    /// Sets a server's configuration. Leaderboard weeks and months follow a new timezone from
    /// the next period on.
    pub async fn set_guild_config(
        &self,
        guild: GuildId,
        config: &GuildConfig,
    ) -> Result<(), StoreError> {
        let config = *config;
        self.change_guild("write server config", guild, |g| g.config = config)
            .await?;
        Ok(())
    }

    /// Records a member's display name in a server, seen during their call that began at
    /// `since`. Refused (`false`) when the member deleted their data after that call began:
    /// a tracker that has not heard of the deletion yet names no one it removed.
    pub async fn set_name(
        &self,
        guild: GuildId,
        user: UserId,
        name: &str,
        since: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut item = key(keys::guild(guild), keys::name(user));
        item.insert("n".into(), s(name));
        let written = self
            .client
            .put_item()
            .table_name(self.table_name())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#gone) OR #gone <= :since")
            .expression_attribute_names("#gone", "gone")
            .expression_attribute_values(":since", n(since.unix()))
            .send()
            .await;
        match written {
            Ok(_) => Ok(true),
            Err(e) if crate::error::is_condition_failure(&e) => Ok(false),
            Err(e) => Err(classify("write name", e)),
        }
    }

    /// Removes a member's display name from a server (deletion): what stays is the instant
    /// of the deletion (`gone`), so that no name from a call begun before it is written again.
    pub async fn remove_name(
        &self,
        guild: GuildId,
        user: UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut item = key(keys::guild(guild), keys::name(user));
        item.insert("gone".into(), n(at.unix()));
        self.client
            .put_item()
            .table_name(self.table_name())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| classify("remove name", e))?;
        Ok(())
    }

    /// Records the voice channels everyone in a server can view.
    pub async fn set_public_channels(
        &self,
        guild: GuildId,
        channels: &[ChannelId],
    ) -> Result<(), StoreError> {
        let mut item = key(keys::guild(guild), keys::CHANNELS);
        item.insert("ch".into(), b(bin::ids(channels)));
        self.client
            .put_item()
            .table_name(self.table_name())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| classify("write public channels", e))?;
        Ok(())
    }

    /// The board of a server as stored (the sidecar's flush reads it itself).
    pub async fn board(&self, guild: GuildId) -> Result<(Board, Tz), StoreError> {
        let g = self.guild(guild).await?;
        Ok((g.board, g.config.timezone))
    }
}

//! User settings and guild configuration items.

use crate::sessions::Read;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::Store;
use crate::codec::{Reader, key, s};
use crate::error::{StoreError, classify};
use crate::expr::Expr;
use crate::schema::keys;
use callstats_core::breakdown::RankingRule;
use callstats_core::ids::{GuildId, UserId};
use callstats_core::settings::{GuildConfig, UserSettings, parse_timezone};

impl Store {
    /// A user's settings; defaults when they never set anything. Strongly consistent: an
    /// opt-out must be seen at once.
    pub async fn user_settings(&self, user: UserId) -> Result<UserSettings, StoreError> {
        let item = self
            .get_one(
                "read settings",
                key(keys::user(user), keys::SETTINGS),
                Read::Strong,
            )
            .await?;
        let Some(item) = item else {
            return Ok(UserSettings::default());
        };
        let r = Reader::new(&item);
        let timezone = match r.opt_parse::<String>("tz")? {
            Some(name) => Some(
                parse_timezone(&name)
                    .ok_or_else(|| r.error(format!("unknown timezone {name:?}")))?,
            ),
            None => None,
        };
        Ok(UserSettings {
            opted_out: r.opt_bool("optout")?.unwrap_or(false),
            timezone,
        })
    }

    /// Sets (or with `None`, clears) a user's timezone.
    pub async fn set_user_timezone(
        &self,
        user: UserId,
        timezone: Option<chrono_tz::Tz>,
    ) -> Result<(), StoreError> {
        let mut e = Expr::new();
        match timezone {
            Some(tz) => e.set("tz", s(tz.name())),
            None => e.remove("tz"),
        };
        self.update_settings(user, &e).await
    }

    /// Records the opt-out flag. Ending open sessions and leaving the leaderboards are separate
    /// steps (see `privacy`), in that order after this one.
    pub async fn set_opted_out(&self, user: UserId, opted_out: bool) -> Result<(), StoreError> {
        let mut e = Expr::new();
        e.set("optout", AttributeValue::Bool(opted_out));
        self.update_settings(user, &e).await
    }

    async fn update_settings(&self, user: UserId, e: &Expr) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(self.table.as_str())
            .set_key(Some(key(keys::user(user), keys::SETTINGS)))
            .set_update_expression(e.update_expression())
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await
            .map_err(|e| classify("write settings", e))?;
        Ok(())
    }

    /// A guild's configuration; defaults when an admin never set it.
    pub async fn guild_config(&self, guild: GuildId) -> Result<GuildConfig, StoreError> {
        let item = self
            .get_one(
                "read guild config",
                key(keys::guild(guild), keys::CONFIG),
                Read::Eventual,
            )
            .await?;
        let Some(item) = item else {
            return Ok(GuildConfig::default());
        };
        let r = Reader::new(&item);
        let tz_name: String = r.parse("tz")?;
        Ok(GuildConfig {
            rule: RankingRule {
                exclude_deafened: r.bool("xdeaf")?,
                exclude_alone: r.bool("xalone")?,
            },
            timezone: parse_timezone(&tz_name)
                .ok_or_else(|| r.error(format!("unknown timezone {tz_name:?}")))?,
        })
    }

    pub async fn set_guild_config(
        &self,
        guild: GuildId,
        config: &GuildConfig,
    ) -> Result<(), StoreError> {
        let mut item = key(keys::guild(guild), keys::CONFIG);
        item.insert(
            "xdeaf".into(),
            AttributeValue::Bool(config.rule.exclude_deafened),
        );
        item.insert(
            "xalone".into(),
            AttributeValue::Bool(config.rule.exclude_alone),
        );
        item.insert("tz".into(), s(config.timezone.name()));
        self.client
            .put_item()
            .table_name(self.table.as_str())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| classify("write guild config", e))?;
        Ok(())
    }
}

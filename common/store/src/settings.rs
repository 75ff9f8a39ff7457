//! A member's settings, on their state item.

use aws_sdk_dynamodb::types::AttributeValue;

use callstats_core::ids::UserId;
use callstats_core::settings::UserSettings;
use callstats_core::time::Timestamp;

use crate::Store;
use crate::codec::{key, n, s};
use crate::error::{StoreError, classify};
use crate::expr::Expr;
use crate::items::read_member_state;
use crate::schema::keys;
use crate::table::Consistency;

impl Store {
    /// A member's settings; defaults when they never set anything. Strongly consistent: an
    /// opt-out must be seen at once.
    pub async fn user_settings(&self, user: UserId) -> Result<UserSettings, StoreError> {
        Ok(self.member_state(user).await?.settings)
    }

    /// A member's settings read eventually consistent (half the units of
    /// [`Self::user_settings`]), for what only shapes a display: a viewer's timezone.
    pub async fn user_settings_for_display(
        &self,
        user: UserId,
    ) -> Result<UserSettings, StoreError> {
        let state = self
            .get_or_default(
                "read member for display",
                key(keys::user(user), keys::USER),
                Consistency::Eventual,
                read_member_state,
            )
            .await?;
        Ok(state.settings)
    }

    /// Sets (or with `None`, clears) a member's timezone.
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
        self.update_member(user, &e).await
    }

    /// Records the opt-out flag and when it changed. Ending calls in progress and leaving the
    /// indexes and boards are separate steps (see `privacy`), in that order after this one.
    pub async fn set_opted_out(
        &self,
        user: UserId,
        opted_out: bool,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut e = Expr::new();
        e.set("optout", AttributeValue::Bool(opted_out));
        e.set("priv", n(at.unix()));
        self.update_member(user, &e).await
    }

    /// Records an export at `at` unless the last one was less than `every` seconds before;
    /// then returns when the next one is allowed.
    pub async fn claim_export(
        &self,
        user: UserId,
        at: Timestamp,
        every: u64,
    ) -> Result<Result<(), Timestamp>, StoreError> {
        let mut e = Expr::new();
        e.set("cx", n(at.unix()));
        let v = e.name("v");
        let (zero, one) = (e.value(n(0)), e.value(n(1)));
        e.set_raw(format!("{v} = if_not_exists({v}, {zero}) + {one}"));
        let cx = e.name("cx");
        let earliest = e.value(n(at.minus(every).unix()));
        e.condition(format!("attribute_not_exists({cx}) OR {cx} <= {earliest}"));
        if self
            .conditional_update("claim export", keys::user(user), keys::USER.to_owned(), &e)
            .await?
        {
            return Ok(Ok(()));
        }
        let last = self.member_state(user).await?.last_export.unwrap_or(at);
        Ok(Err(last.plus(every)))
    }

    pub(crate) async fn update_member(&self, user: UserId, e: &Expr) -> Result<(), StoreError> {
        let mut e_with_version = e.clone();
        let v = e_with_version.name("v");
        let (zero, one) = (e_with_version.value(n(0)), e_with_version.value(n(1)));
        e_with_version.set_raw(format!("{v} = if_not_exists({v}, {zero}) + {one}"));
        self.client
            .update_item()
            .table_name(self.table.as_str())
            .set_key(Some(key(keys::user(user), keys::USER)))
            .set_update_expression(e_with_version.update_expression())
            .set_expression_attribute_names(e_with_version.names())
            .set_expression_attribute_values(e_with_version.values())
            .send()
            .await
            .map_err(|e| classify("write settings", e))?;
        Ok(())
    }
}

//! A member's settings, on their state item.

use aws_sdk_dynamodb::types::AttributeValue;

use callstats_core::ids::UserId;
use callstats_core::settings::UserSettings;
use callstats_core::time::Timestamp;

use crate::Store;
use crate::codec::{key, n, s};
use crate::error::{StoreError, classify};
use crate::expr::Expr;
use crate::schema::keys;

impl Store {
    /// A member's settings; defaults when they never set anything. Strongly consistent: an
    /// opt-out must be seen at once.
    pub async fn user_settings(&self, user: UserId) -> Result<UserSettings, StoreError> {
        Ok(self.member_state(user).await?.settings)
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

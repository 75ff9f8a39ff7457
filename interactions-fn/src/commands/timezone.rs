//! `/callstats timezone zone` and the timezone autocomplete (shared with `/callconfig`): up to
//! 25 zones found by [`crate::zones::search`], each shown with its offset right now.

use twilight_model::application::command::{CommandOptionChoice, CommandOptionChoiceValue};

use callstats_core::Timestamp;

use crate::context::App;
use crate::error::Failure;
use crate::interaction::Ctx;
use crate::render::settings::{offset_text, timezone_set};
use crate::reply::{Message, Reply};
use crate::zones::{parse_zone, search};
use callstats_core::period::utc_offset_secs;
#[cfg(test)]
use chrono_tz::Tz;

/// Autocomplete choices for `typed`, each named with its offset at `now`.
#[must_use]
pub fn choices(typed: &str, now: Timestamp) -> Vec<CommandOptionChoice> {
    search(typed)
        .into_iter()
        .map(|tz| CommandOptionChoice {
            name: format!("{} ({})", tz.name(), offset_text(utc_offset_secs(tz, now))),
            name_localizations: None,
            value: CommandOptionChoiceValue::String(tz.name().to_owned()),
        })
        .collect()
}

pub async fn set(app: &App, ctx: &Ctx, zone: &str) -> Result<Reply, Failure> {
    let tz = parse_zone(zone)?;
    app.store()
        .set_user_timezone(ctx.invoker.id, Some(tz))
        .await?;
    Ok(Reply::Message(
        Message::embed(timezone_set(tz, utc_offset_secs(tz, ctx.now))).ephemeral(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_fit_discord() {
        let now = Timestamp::new(1_795_000_000).unwrap();
        for typed in ["", "a", "america/argentina", "etc"] {
            for c in choices(typed, now) {
                assert!(c.name.chars().count() <= 100);
                let CommandOptionChoiceValue::String(v) = c.value else {
                    panic!()
                };
                assert!(v.chars().count() <= 100);
                assert!(v.parse::<Tz>().is_ok());
            }
        }
        assert_eq!(choices("kolkata", now)[0].name, "Asia/Kolkata (UTC+05:30)");
    }
}

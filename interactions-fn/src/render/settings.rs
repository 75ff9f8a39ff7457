//! Replies of the settings commands: `/callstats timezone` and `/callconfig`.

use callstats_core::GuildConfig;
use chrono_tz::Tz;
use twilight_model::channel::message::Embed;

use super::{embed, field, notice};
use crate::limits;

/// "UTC+05:30".
#[must_use]
pub fn offset_text(offset_secs: i32) -> String {
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let abs = offset_secs.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
}

#[must_use]
pub fn timezone_set(tz: Tz, offset_secs: i32) -> Embed {
    notice(
        "Timezone saved",
        &format!(
            "Your timezone is now **{}** ({} right now). Heatmaps show your hours and \
             weekdays in it from now on.",
            tz.name(),
            offset_text(offset_secs)
        ),
    )
}

/// The guild's settings, after a change when `changed`.
#[must_use]
pub fn guild_config(config: &GuildConfig, changed: bool) -> Embed {
    let mut e = embed();
    e.title = Some(if changed {
        "Server settings saved".into()
    } else {
        "Server settings".into()
    });
    let yes_no = |b: bool| if b { "excluded" } else { "counted" };
    e.fields = vec![
        field(
            "Deafened time",
            format!("{} in the ranking", yes_no(config.rule.exclude_deafened)),
            true,
        ),
        field(
            "Time alone",
            format!("{} in the ranking", yes_no(config.rule.exclude_alone)),
            true,
        ),
        field(
            "Timezone",
            format!(
                "{} (weeks start Monday 00:00, months on the 1st)",
                config.timezone.name()
            ),
            false,
        ),
    ];
    e.description = Some(format!(
        "Leaderboards rank by active time, {}. The AFK channel never counts.{}",
        config.rule.describe(),
        if changed {
            "\nChanges apply to calls that end from now on; time already counted keeps the \
             rule it was counted under."
        } else {
            "\nChange them with the options of `/callconfig` (Manage Server)."
        }
    ));
    limits::fit(&mut e, limits::EMBEDS_TOTAL);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::Message;

    #[test]
    fn offsets_read_naturally() {
        assert_eq!(offset_text(19_800), "UTC+05:30");
        assert_eq!(offset_text(-18_000), "UTC-05:00");
        assert_eq!(offset_text(0), "UTC+00:00");
    }

    #[test]
    fn every_reply_fits() {
        for m in [
            Message::embed(timezone_set(
                chrono_tz::America::Argentina::ComodRivadavia,
                -10_800,
            )),
            Message::embed(guild_config(&GuildConfig::default(), true)),
            Message::embed(guild_config(&GuildConfig::default(), false)),
        ] {
            limits::check(&m).unwrap();
        }
    }
}

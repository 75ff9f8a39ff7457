//! Per-user settings and per-guild configuration.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::breakdown::RankingRule;

/// What a user chose, in every guild.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserSettings {
    /// Not tracked, not on leaderboards, not visible to others.
    pub opted_out: bool,
    /// For heatmaps; UTC until set.
    pub timezone: Option<Tz>,
}

impl UserSettings {
    #[must_use]
    pub fn timezone_or_utc(&self) -> Tz {
        self.timezone.unwrap_or(Tz::UTC)
    }
}

/// What an admin chose for one guild with `/callconfig`. Serialises the timezone by its IANA
/// name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuildConfig {
    pub rule: RankingRule,
    /// Week and month boundaries of the guild's leaderboards.
    #[serde(with = "tz_name")]
    pub timezone: Tz,
}

/// A [`Tz`] as its IANA name.
mod tz_name {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's `with` signature
    pub(super) fn serialize<S: Serializer>(tz: &Tz, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(tz.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(deserializer)?;
        super::parse_timezone(&name)
            .ok_or_else(|| D::Error::custom(format!("unknown timezone {name:?}")))
    }
}

impl Default for GuildConfig {
    fn default() -> Self {
        Self {
            rule: RankingRule::default(),
            timezone: Tz::UTC,
        }
    }
}

/// Parses an IANA timezone name as a user types it ("europe/berlin" works).
#[must_use]
pub fn parse_timezone(name: &str) -> Option<Tz> {
    let name = name.trim();
    name.parse::<Tz>().ok().or_else(|| {
        chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(name))
            .copied()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guild_config_round_trips_by_zone_name() {
        let config = GuildConfig {
            rule: RankingRule {
                exclude_deafened: false,
                exclude_alone: true,
            },
            timezone: chrono_tz::Europe::Berlin,
        };
        let json = serde_json::to_string(&config).unwrap();
        assert!(json.contains("\"Europe/Berlin\""), "{json}");
        assert_eq!(serde_json::from_str::<GuildConfig>(&json).unwrap(), config);
        assert!(
            serde_json::from_str::<GuildConfig>(&json.replace("Europe/Berlin", "Mars/Base"))
                .is_err()
        );
    }

    #[test]
    fn timezones_parse_leniently() {
        assert_eq!(
            parse_timezone("Europe/Berlin"),
            Some(chrono_tz::Europe::Berlin)
        );
        assert_eq!(
            parse_timezone(" asia/kolkata "),
            Some(chrono_tz::Asia::Kolkata)
        );
        assert_eq!(parse_timezone("Mars/Olympus"), None);
        assert_eq!(parse_timezone(""), None);
    }
}

//! Per-user settings and per-guild configuration.

use chrono_tz::Tz;

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

/// What an admin chose for one guild with `/callconfig`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuildConfig {
    pub rule: RankingRule,
    /// Week and month boundaries of the guild's leaderboards.
    pub timezone: Tz,
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

//! Timezone names as members type them: a search that ranks IANA zones for autocomplete, and
//! a parse that answers an unknown name with close matches.
//!
//! Names are IANA zones from chrono-tz. Suggestions rank an exact name first, then zones
//! whose city starts with what was typed, then names that start with it, then names that
//! contain it; spaces count as underscores ("new york" finds `America/New_York`). At most 25.

use chrono_tz::{TZ_VARIANTS, Tz};

use callstats_core::settings::parse_timezone;

use crate::error::Notice;
use crate::limits::CHOICES;

/// Offered before anything is typed: one or two zones per populated region.
const POPULAR: [&str; 25] = [
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Warsaw",
    "Europe/Kyiv",
    "Europe/Moscow",
    "Europe/Istanbul",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Toronto",
    "America/Mexico_City",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
];

/// Up to 25 zones matching `typed`, best first.
#[must_use]
pub fn search(typed: &str) -> Vec<Tz> {
    let query = typed.trim().to_lowercase().replace(' ', "_");
    if query.is_empty() {
        return POPULAR.iter().filter_map(|n| n.parse().ok()).collect();
    }
    let mut ranked: Vec<(u8, &str, Tz)> = TZ_VARIANTS
        .iter()
        .filter_map(|tz| {
            let name = tz.name();
            let lower = name.to_lowercase();
            let city = lower.rsplit('/').next().unwrap_or(&lower);
            let rank = if lower == query {
                0
            } else if city.starts_with(&query) {
                1
            } else if lower.starts_with(&query) {
                2
            } else if lower.contains(&query) {
                3
            } else {
                return None;
            };
            Some((rank, name, *tz))
        })
        .collect();
    ranked.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    ranked
        .into_iter()
        .take(CHOICES)
        .map(|(_, _, tz)| tz)
        .collect()
}

/// A zone name as typed, or a notice with close matches.
pub fn parse_zone(input: &str) -> Result<Tz, Notice> {
    parse_timezone(input).ok_or_else(|| Notice::UnknownTimezone {
        input: input.to_owned(),
        suggestions: search(input)
            .into_iter()
            .take(5)
            .map(|tz| tz.name().to_owned())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_zones_as_people_type_them() {
        assert_eq!(search("Europe/Berlin")[0], chrono_tz::Europe::Berlin);
        assert_eq!(search("berl")[0], chrono_tz::Europe::Berlin);
        assert_eq!(search("new york")[0], chrono_tz::America::New_York);
        assert_eq!(search("kolk")[0], chrono_tz::Asia::Kolkata);
        assert!(search("zzzz").is_empty());
        assert_eq!(search("").len(), 25);
        assert_eq!(search("a").len(), 25, "never more than 25");
    }

    #[test]
    fn unknown_zones_come_with_suggestions() {
        let Err(Notice::UnknownTimezone { suggestions, .. }) = parse_zone("Berlinn") else {
            panic!()
        };
        assert!(suggestions.is_empty());
        let Err(Notice::UnknownTimezone { suggestions, .. }) = parse_zone("Europe/Berl") else {
            panic!()
        };
        assert_eq!(suggestions, vec!["Europe/Berlin".to_owned()]);
        assert_eq!(
            parse_zone("asia/kolkata").unwrap(),
            chrono_tz::Asia::Kolkata
        );
    }
}

//! Button state, carried in `custom_id` (Discord stores nothing for us between clicks).
//!
//! Formats (a version in the prefix, so buttons of an older format are refused as stale):
//!
//! - `top1:<owner>:<period>:<t|r>:<page>`: a leaderboard page; the period key (`all`,
//!   `W2026-W48`, `M2026-11`) is fixed when `/calltop` runs, so paging stays on the same week
//!   even after it ends;
//! - `del1:<owner>:<yes|no>`: the answer to "delete all my data?".
//!
//! `owner` is the member who ran the command: only they may press. Parsing is strict: the
//! text must be exactly what [`Action::custom_id`] would write, at most 100 characters.

use std::fmt;

use callstats_core::UserId;
use callstats_core::board::Metric;
use callstats_core::ids::parse_id;
use callstats_core::period::PeriodKey;

use crate::limits::CUSTOM_ID;

/// Highest page a button may ask for: far beyond any real leaderboard, small enough that
/// the offset arithmetic never overflows.
pub const MAX_PAGE: u32 = 100_000;

/// A leaderboard page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopPage {
    pub owner: UserId,
    pub period: PeriodKey,
    pub metric: Metric,
    /// 1-based.
    pub page: u32,
}

/// What a button does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Top(TopPage),
    Delete { owner: UserId, confirm: bool },
}

impl Action {
    #[must_use]
    pub const fn owner(&self) -> UserId {
        match self {
            Self::Top(t) => t.owner,
            Self::Delete { owner, .. } => *owner,
        }
    }

    #[must_use]
    pub fn custom_id(&self) -> String {
        self.to_string()
    }

    /// Parses a `custom_id`; `None` for anything this version would not have written.
    #[must_use]
    pub fn parse(custom_id: &str) -> Option<Self> {
        if custom_id.is_empty() || custom_id.len() > CUSTOM_ID {
            return None;
        }
        let parts: Vec<&str> = custom_id.split(':').collect();
        let action = match parts.as_slice() {
            ["top1", owner, period, metric, page] => {
                let page: u32 = page.parse().ok()?;
                if page == 0 || page > MAX_PAGE {
                    return None;
                }
                Self::Top(TopPage {
                    owner: parse_id(owner)?,
                    period: period.parse().ok()?,
                    metric: match *metric {
                        "t" => Metric::Total,
                        "r" => Metric::Ranked,
                        _ => return None,
                    },
                    page,
                })
            }
            ["del1", owner, answer] => Self::Delete {
                owner: parse_id(owner)?,
                confirm: match *answer {
                    "yes" => true,
                    "no" => false,
                    _ => return None,
                },
            },
            _ => return None,
        };
        // Canonical form only: no leading zeros, no alternative spellings.
        (action.custom_id() == custom_id).then_some(action)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Top(t) => write!(
                f,
                "top1:{}:{}:{}:{}",
                t.owner,
                t.period,
                match t.metric {
                    Metric::Total => "t",
                    Metric::Ranked => "r",
                },
                t.page
            ),
            Self::Delete { owner, confirm } => {
                write!(f, "del1:{owner}:{}", if *confirm { "yes" } else { "no" })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use twilight_model::id::Id;

    #[test]
    fn round_trips_and_fits() {
        let longest = Action::Top(TopPage {
            owner: Id::new(u64::MAX),
            period: "W9999-W52".parse().unwrap(),
            metric: Metric::Ranked,
            page: MAX_PAGE,
        });
        let id = longest.custom_id();
        assert!(id.len() <= CUSTOM_ID, "{id}");
        assert_eq!(Action::parse(&id), Some(longest));
        let del = Action::Delete {
            owner: Id::new(42),
            confirm: true,
        };
        assert_eq!(del.custom_id(), "del1:42:yes");
        assert_eq!(Action::parse("del1:42:no").unwrap().owner(), Id::new(42));
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "",
            "top1:1:all:t",
            "top1:1:all:t:0",
            "top1:1:all:t:01",
            "top1:01:all:t:1",
            "top1:1:all:x:1",
            "top1:1:W2026-W54:t:1",
            "top1:1:all:t:100001",
            "top1:0:all:t:1",
            "top2:1:all:t:1",
            "del1:1:maybe",
            "del1:1:yes:extra",
            "top1:1:all:t:1 ",
            &format!("top1:1:all:t:{}", "9".repeat(100)),
        ] {
            assert_eq!(Action::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,120}") {
            let _ = Action::parse(&s);
        }

        #[test]
        fn pages_round_trip(owner in 1u64.., page in 1u32..=MAX_PAGE, week in 1u32..=52) {
            let a = Action::Top(TopPage {
                owner: Id::new(owner),
                period: format!("W2026-W{week:02}").parse().unwrap(),
                metric: Metric::Total,
                page,
            });
            prop_assert_eq!(Action::parse(&a.custom_id()), Some(a));
        }
    }
}

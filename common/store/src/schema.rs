//! The one table: its name, keys, indexes, and the key of every item type.
//! `docs/storage.md` describes the same layout for people.

use std::fmt;
use std::str::FromStr;

use callstats_core::ids::{GuildId, UserId};
use callstats_core::period::{Day, MonthKey, PeriodKey, WeekKey};
use callstats_core::session::SessionId;

/// A valid DynamoDB table name: 3-255 of `a-z A-Z 0-9 _ - .`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TableName(String);

impl TableName {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TableName {
    type Err = InvalidTableName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if (3..=255).contains(&s.len()) && s.chars().all(ok_char) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidTableName(s.to_owned()))
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A table name DynamoDB would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid table name {0:?}: 3 to 255 characters of a-z, A-Z, 0-9, '_', '-' and '.'")]
pub struct InvalidTableName(pub String);

/// The attribute types a key can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    String,
    Number,
}

/// What an index copies from the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Projection {
    KeysOnly,
    Include(Vec<&'static str>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: &'static str,
    pub hash: &'static str,
    pub range: &'static str,
    pub projection: Projection,
}

/// Keys, key attribute types and indexes: everything `create-table` creates and the
/// infrastructure template must declare the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDefinition {
    pub hash: &'static str,
    pub range: &'static str,
    pub attributes: Vec<(&'static str, KeyType)>,
    pub indexes: Vec<IndexDefinition>,
}

/// Open sessions of a guild, for reconciliation. Sparse: only open-session items carry `og`.
pub const OPEN_BY_GUILD: &str = "open-by-guild";
/// Leaderboard entries by guild and period, sorted by total seconds.
pub const LB_TOTAL: &str = "lb-total";
/// Leaderboard entries by guild and period, sorted by ranked seconds.
pub const LB_RANKED: &str = "lb-ranked";

#[must_use]
pub fn table_definition() -> TableDefinition {
    TableDefinition {
        hash: "pk",
        range: "sk",
        attributes: vec![
            ("pk", KeyType::String),
            ("sk", KeyType::String),
            ("og", KeyType::String),
            ("lb", KeyType::String),
            ("total", KeyType::Number),
            ("ranked", KeyType::Number),
        ],
        indexes: vec![
            IndexDefinition {
                name: OPEN_BY_GUILD,
                hash: "og",
                range: "pk",
                projection: Projection::Include(vec!["ch", "sid"]),
            },
            IndexDefinition {
                name: LB_TOTAL,
                hash: "lb",
                range: "total",
                projection: Projection::KeysOnly,
            },
            IndexDefinition {
                name: LB_RANKED,
                hash: "lb",
                range: "ranked",
                projection: Projection::KeysOnly,
            },
        ],
    }
}

/// Partition and sort keys of every item type.
pub(crate) mod keys {
    use super::{Day, GuildId, MonthKey, PeriodKey, SessionId, UserId, WeekKey};

    pub(crate) const SETTINGS: &str = "SETTINGS";
    pub(crate) const CONFIG: &str = "CONFIG";
    pub(crate) const ALIVE: &str = "ALIVE";
    pub(crate) const RESUME: &str = "RESUME";
    pub(crate) const SNAPSHOT_PREFIX: &str = "SNAP#";
    pub(crate) const OPEN_PREFIX: &str = "O#";
    pub(crate) const SESSION_PREFIX: &str = "S#";
    pub(crate) const ALL_PREFIX: &str = "A#";
    pub(crate) const DAY_PREFIX: &str = "D#";
    pub(crate) const WEEK_PREFIX: &str = "W#";
    pub(crate) const MONTH_PREFIX: &str = "M#";

    pub(crate) fn user(user: UserId) -> String {
        format!("U#{user}")
    }

    pub(crate) fn guild(guild: GuildId) -> String {
        format!("G#{guild}")
    }

    pub(crate) fn shard(shard: u32) -> String {
        format!("SHARD#{shard}")
    }

    pub(crate) fn open(guild: GuildId) -> String {
        format!("{OPEN_PREFIX}{guild}")
    }

    pub(crate) fn sessions_of(guild: GuildId) -> String {
        format!("{SESSION_PREFIX}{guild}#")
    }

    pub(crate) fn session(guild: GuildId, id: SessionId) -> String {
        format!("{SESSION_PREFIX}{guild}#{id}")
    }

    pub(crate) fn all_time(guild: GuildId) -> String {
        format!("{ALL_PREFIX}{guild}")
    }

    pub(crate) fn day(guild: GuildId, day: Day) -> String {
        format!("{DAY_PREFIX}{guild}#{day}")
    }

    pub(crate) fn week(guild: GuildId, week: WeekKey) -> String {
        format!("{WEEK_PREFIX}{guild}#{week}")
    }

    pub(crate) fn month(guild: GuildId, month: MonthKey) -> String {
        format!("{MONTH_PREFIX}{guild}#{month}")
    }

    /// The sort key of the item that holds a user's figures for `period`.
    pub(crate) fn period(guild: GuildId, period: PeriodKey) -> String {
        match period {
            PeriodKey::All => all_time(guild),
            PeriodKey::Week(w) => week(guild, w),
            PeriodKey::Month(m) => month(guild, m),
        }
    }

    /// The leaderboard index partition of a guild and period.
    pub(crate) fn leaderboard(guild: GuildId, period: PeriodKey) -> String {
        format!("{guild}#{period}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        assert!("callstats".parse::<TableName>().is_ok());
        assert!("call-stats_1.x".parse::<TableName>().is_ok());
        assert!("ab".parse::<TableName>().is_err());
        assert!("has space".parse::<TableName>().is_err());
        assert!("x".repeat(256).parse::<TableName>().is_err());
    }

    #[test]
    fn every_index_key_is_declared() {
        let def = table_definition();
        for index in &def.indexes {
            for attr in [index.hash, index.range] {
                assert!(def.attributes.iter().any(|(a, _)| *a == attr), "{attr}");
            }
        }
    }
}

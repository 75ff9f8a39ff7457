//! The one table: its name, keys, indexes, schema version, and the key of every item type.
//! `docs/storage.md` describes the same layout for people.

use std::fmt;
use std::str::FromStr;

use callstats_core::ids::{GuildId, UserId};
use callstats_core::period::Day;

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
    /// `None` for an index with a partition key only.
    pub range: Option<&'static str>,
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

/// The layout version this program reads and writes (`docs/storage.md`, Schema version).
pub const SCHEMA_VERSION: u64 = 2;

/// Open sessions by server: reconciliation and calls in progress. Sparse: only open sessions
/// carry `og`.
pub const OPEN_BY_GUILD: &str = "open-by-guild";
/// All-time items by server, for the server view over all time. Sparse: `ga` is absent while
/// the member is opted out.
pub const GUILD_MEMBERS: &str = "guild-members";
/// Day items by server and month, sorted by date, for the server view over days. Sparse like
/// `guild-members`.
pub const GUILD_DAYS: &str = "guild-days";

/// Attributes of an open session the `open-by-guild` index copies: channel, session id, and the
/// live summary (active and ranked seconds as of `ox`, whether they grow).
pub const OPEN_SUMMARY: [&str; 6] = ["oc", "os", "oa", "or", "ox", "of"];

#[must_use]
pub fn table_definition() -> TableDefinition {
    TableDefinition {
        hash: "pk",
        range: "sk",
        attributes: vec![
            ("pk", KeyType::String),
            ("sk", KeyType::String),
            ("og", KeyType::String),
            ("ga", KeyType::String),
            ("gm", KeyType::String),
            ("gd", KeyType::String),
        ],
        indexes: vec![
            IndexDefinition {
                name: OPEN_BY_GUILD,
                hash: "og",
                range: None,
                projection: Projection::Include(OPEN_SUMMARY.to_vec()),
            },
            IndexDefinition {
                name: GUILD_MEMBERS,
                hash: "ga",
                range: None,
                projection: Projection::Include(vec!["t", "a", "s", "chn"]),
            },
            IndexDefinition {
                name: GUILD_DAYS,
                hash: "gm",
                range: Some("gd"),
                projection: Projection::Include(vec!["hb", "pt"]),
            },
        ],
    }
}

/// Partition and sort keys of every item type.
pub(crate) mod keys {
    use super::{Day, GuildId, UserId};

    pub(crate) const META: &str = "META";
    pub(crate) const SCHEMA: &str = "SCHEMA";
    pub(crate) const USER: &str = "USER";
    pub(crate) const GUILD: &str = "GUILD";
    pub(crate) const CHANNELS: &str = "CHANNELS";
    pub(crate) const ALIVE: &str = "ALIVE";
    pub(crate) const RESUME: &str = "RESUME";
    pub(crate) const SNAPSHOT_PREFIX: &str = "SNAP#";
    pub(crate) const OPEN_PREFIX: &str = "O#";
    pub(crate) const ALL_PREFIX: &str = "A#";
    pub(crate) const DAY_PREFIX: &str = "D#";
    pub(crate) const NAME_PREFIX: &str = "N#";

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

    pub(crate) fn all_time(guild: GuildId) -> String {
        format!("{ALL_PREFIX}{guild}")
    }

    pub(crate) fn days_of(guild: GuildId) -> String {
        format!("{DAY_PREFIX}{guild}#")
    }

    pub(crate) fn day(guild: GuildId, day: Day) -> String {
        format!("{DAY_PREFIX}{guild}#{day}")
    }

    pub(crate) fn name(user: UserId) -> String {
        format!("{NAME_PREFIX}{user}")
    }

    /// The `guild-days` partition of a server and month (`YYYY-MM` of a UTC day).
    pub(crate) fn guild_month(guild: GuildId, day: Day) -> String {
        format!("{guild}#{}", &day.to_string()[..7])
    }

    /// The `e<guild>` attribute of the member state: the last session ended in that server.
    pub(crate) fn last_ended(guild: GuildId) -> String {
        format!("e{guild}")
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
            for attr in std::iter::once(index.hash).chain(index.range) {
                assert!(def.attributes.iter().any(|(a, _)| *a == attr), "{attr}");
            }
        }
    }
}

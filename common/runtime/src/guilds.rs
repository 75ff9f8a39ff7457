//! `CALLSTATS_GUILDS`: the servers a private deployment serves. Both programs read it: the
//! sidecar ignores every other server's events, the endpoint answers other servers with a
//! notice. Unset or empty: every server the bot is in.

use std::collections::BTreeSet;

use callstats_core::GuildId;
use callstats_core::ids::parse_id;

use crate::env::{ConfigError, Env};

/// The variable.
pub const GUILDS: &str = "CALLSTATS_GUILDS";

/// Which servers are served.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuildAllowList(Option<BTreeSet<GuildId>>);

impl GuildAllowList {
    /// Every server.
    #[must_use]
    pub fn everyone() -> Self {
        Self(None)
    }

    /// Only these servers.
    #[must_use]
    pub fn only(guilds: impl IntoIterator<Item = GuildId>) -> Self {
        Self(Some(guilds.into_iter().collect()))
    }

    /// `CALLSTATS_GUILDS`: server ids separated by commas or spaces.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(env.parse(GUILDS, Self::parse)?.unwrap_or_default())
    }

    fn parse(value: &str) -> Result<Self, String> {
        let mut guilds = BTreeSet::new();
        for word in value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
        {
            let guild = parse_id(word).ok_or_else(|| {
                format!("{word:?} is not a server id; give server ids separated by commas")
            })?;
            guilds.insert(guild);
        }
        if guilds.is_empty() {
            return Err("give server ids separated by commas, or leave it unset".into());
        }
        Ok(Self(Some(guilds)))
    }

    /// Whether `guild` is served.
    #[must_use]
    pub fn allows(&self, guild: GuildId) -> bool {
        self.0.as_ref().is_none_or(|set| set.contains(&guild))
    }

    /// Whether this is a private deployment (some servers only).
    #[must_use]
    pub fn is_restricted(&self) -> bool {
        self.0.is_some()
    }

    /// How many servers are served; `None` when every server is.
    #[must_use]
    pub fn count(&self) -> Option<usize> {
        self.0.as_ref().map(BTreeSet::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(value: &str) -> Result<GuildAllowList, ConfigError> {
        GuildAllowList::from_env(&Env::from_pairs(&[(GUILDS, value)]))
    }

    #[test]
    fn unset_or_empty_serves_everyone() {
        let all = GuildAllowList::from_env(&Env::from_pairs(&[])).unwrap();
        assert!(all.allows(GuildId::new(1)));
        assert!(!all.is_restricted());
        assert_eq!(list("  ").unwrap(), GuildAllowList::everyone());
    }

    #[test]
    fn ids_separated_by_commas_or_spaces() {
        let some = list("80351110224678912, 42 7").unwrap();
        assert_eq!(some.count(), Some(3));
        assert!(some.allows(GuildId::new(42)));
        assert!(some.allows(GuildId::new(80_351_110_224_678_912)));
        assert!(!some.allows(GuildId::new(43)));
        assert_eq!(
            some,
            GuildAllowList::only([42, 7, 80_351_110_224_678_912].map(GuildId::new))
        );
    }

    #[test]
    fn anything_else_names_the_variable() {
        for bad in ["42,abc", "0", "-5", ",,"] {
            let err = list(bad).unwrap_err();
            assert_eq!(err.variable, GUILDS, "{bad}");
            assert!(!err.to_string().contains('\n'));
        }
    }
}

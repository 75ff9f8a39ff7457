//! Discord ids, typed. Past the parsers no id is a bare integer or string.

pub use twilight_model::id::marker;
use twilight_model::id::{
    Id,
    marker::{ApplicationMarker, ChannelMarker, GuildMarker, UserMarker},
};

pub type UserId = Id<UserMarker>;
pub type GuildId = Id<GuildMarker>;
pub type ChannelId = Id<ChannelMarker>;
pub type ApplicationId = Id<ApplicationMarker>;

/// Parses a snowflake from its decimal form; zero and non-numbers are rejected.
#[must_use]
pub fn parse_id<T>(s: &str) -> Option<Id<T>> {
    s.parse::<u64>().ok().and_then(Id::new_checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_snowflakes() {
        assert_eq!(
            parse_id::<UserMarker>("80351110224678912"),
            Some(Id::new(80_351_110_224_678_912))
        );
        assert_eq!(parse_id::<UserMarker>("0"), None);
        assert_eq!(parse_id::<UserMarker>("-1"), None);
        assert_eq!(parse_id::<UserMarker>("12a"), None);
        assert_eq!(parse_id::<UserMarker>(""), None);
    }
}

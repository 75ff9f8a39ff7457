//! Instants as whole Unix seconds.
//!
//! Durations are whole seconds everywhere (`docs/behaviour.md`, What is measured), so an instant
//! is a second count, not a `SystemTime`. The core never reads a clock: every function that
//! needs "now" takes it as an argument.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch, UTC. Always inside `0..=Timestamp::MAX.unix()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Timestamp(i64);

impl Timestamp {
    /// 9999-12-31T23:59:59Z: the last instant chrono and every period key can represent.
    pub const MAX: Self = Self(253_402_300_799);
    pub const EPOCH: Self = Self(0);

    /// Validates a second count from outside (the database, a test script).
    #[must_use]
    pub const fn new(unix_secs: i64) -> Option<Self> {
        if unix_secs >= 0 && unix_secs <= Self::MAX.0 {
            Some(Self(unix_secs))
        } else {
            None
        }
    }

    /// Truncates a clock reading to whole seconds; readings out of range are clamped.
    #[must_use]
    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        Self(at.timestamp().clamp(0, Self::MAX.0))
    }

    #[must_use]
    pub const fn unix(self) -> i64 {
        self.0
    }

    #[must_use]
    pub fn to_utc(self) -> DateTime<Utc> {
        // In range by construction, so `from_timestamp` always answers.
        DateTime::from_timestamp(self.0, 0).unwrap_or_default()
    }

    /// Whole seconds from `self` to `later`; zero when `later` is not after `self`.
    #[must_use]
    pub const fn secs_until(self, later: Self) -> u64 {
        if later.0 > self.0 {
            (later.0 - self.0) as u64
        } else {
            0
        }
    }

    /// `self` plus `secs`, clamped to [`Timestamp::MAX`].
    #[must_use]
    pub fn plus(self, secs: u64) -> Self {
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(secs).min(Self::MAX.0))
    }

    /// `self` minus `secs`, clamped to the epoch.
    #[must_use]
    pub fn minus(self, secs: u64) -> Self {
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(secs).max(0))
    }
}

impl TryFrom<i64> for Timestamp {
    type Error = OutOfRange;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value).ok_or(OutOfRange(value))
    }
}

impl From<Timestamp> for i64 {
    fn from(value: Timestamp) -> Self {
        value.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_utc().format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

/// A second count outside what a [`Timestamp`] can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timestamp {0} is outside 1970..=9999")]
pub struct OutOfRange(pub i64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_out_of_range() {
        assert!(Timestamp::new(-1).is_none());
        assert!(Timestamp::new(Timestamp::MAX.unix() + 1).is_none());
        assert_eq!(Timestamp::new(0), Some(Timestamp::EPOCH));
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::new(100).unwrap();
        assert_eq!(t.secs_until(Timestamp::new(40).unwrap()), 0);
        assert_eq!(t.minus(1_000), Timestamp::EPOCH);
        assert_eq!(Timestamp::MAX.plus(5), Timestamp::MAX);
        assert_eq!(t.plus(5).unix(), 105);
    }

    #[test]
    fn displays_iso() {
        assert_eq!(
            Timestamp::new(86_400).unwrap().to_string(),
            "1970-01-02T00:00:00Z"
        );
    }
}

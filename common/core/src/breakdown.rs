//! What a member was doing while in a call, and how many seconds of each.

use serde::{Deserialize, Serialize};

/// The state of a member in a call that the breakdown accounts for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Flags(u8);

impl Flags {
    pub const NONE: Self = Self(0);
    /// Self-muted, server-muted, or a suppressed stage audience member: cannot be heard.
    pub const MUTED: Self = Self(1);
    /// Self-deafened or server-deafened: cannot hear.
    pub const DEAFENED: Self = Self(1 << 1);
    /// Sharing the screen ("Go Live").
    pub const STREAMING: Self = Self(1 << 2);
    /// Camera on.
    pub const VIDEO: Self = Self(1 << 3);
    /// The only non-bot member in the channel.
    pub const ALONE: Self = Self(1 << 4);
    const ALL: u8 = 0b1_1111;

    #[must_use]
    pub const fn from_bits(bits: u8) -> Option<Self> {
        if bits & !Self::ALL == 0 {
            Some(Self(bits))
        } else {
            None
        }
    }

    #[must_use]
    pub const fn bits(self) -> u8 {
        self.0
    }

    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with `flag` set when `on`, cleared otherwise.
    #[must_use]
    pub const fn with(self, flag: Self, on: bool) -> Self {
        if on {
            Self(self.0 | flag.0)
        } else {
            Self(self.0 & !flag.0)
        }
    }

    /// Active time is time neither deafened nor alone (`docs/behaviour.md`, What is measured).
    #[must_use]
    pub const fn is_active(self) -> bool {
        !self.contains(Self::DEAFENED) && !self.contains(Self::ALONE)
    }
}

impl TryFrom<u8> for Flags {
    type Error = String;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Self::from_bits(value).ok_or_else(|| format!("unknown flag bits {value:#b}"))
    }
}

impl From<Flags> for u8 {
    fn from(value: Flags) -> Self {
        value.0
    }
}

/// Seconds of a session (or a sum of sessions) spent in each state. States overlap: a minute
/// muted and streaming counts in both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakdown {
    pub muted: u64,
    pub deafened: u64,
    pub streaming: u64,
    pub video: u64,
    pub alone: u64,
    pub active: u64,
}

impl Breakdown {
    /// Accounts `secs` seconds spent with `flags`.
    pub fn add(&mut self, flags: Flags, secs: u64) {
        let count = |on: bool, field: &mut u64| {
            if on {
                *field += secs;
            }
        };
        count(flags.contains(Flags::MUTED), &mut self.muted);
        count(flags.contains(Flags::DEAFENED), &mut self.deafened);
        count(flags.contains(Flags::STREAMING), &mut self.streaming);
        count(flags.contains(Flags::VIDEO), &mut self.video);
        count(flags.contains(Flags::ALONE), &mut self.alone);
        count(flags.is_active(), &mut self.active);
    }

    pub fn merge(&mut self, other: &Self) {
        self.muted += other.muted;
        self.deafened += other.deafened;
        self.streaming += other.streaming;
        self.video += other.video;
        self.alone += other.alone;
        self.active += other.active;
    }
}

/// Which time a guild's ranking metric leaves out (set with `/callconfig`). The default leaves
/// out both, so the ranked time is the active time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankingRule {
    pub exclude_deafened: bool,
    pub exclude_alone: bool,
}

impl Default for RankingRule {
    fn default() -> Self {
        Self {
            exclude_deafened: true,
            exclude_alone: true,
        }
    }
}

impl RankingRule {
    /// A short description for embed footers: "excluding deafened and alone time".
    #[must_use]
    pub fn describe(self) -> &'static str {
        match (self.exclude_deafened, self.exclude_alone) {
            (true, true) => "excluding deafened and alone time",
            (true, false) => "excluding deafened time",
            (false, true) => "excluding alone time",
            (false, false) => "all time in calls",
        }
    }
}

/// Seconds split by the two states that decide active and ranked time. Enough to compute
/// total, active, deafened, alone and the ranked time under any [`RankingRule`] later.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassSecs {
    /// Neither deafened nor alone: active.
    #[serde(rename = "p")]
    pub plain: u64,
    /// Deafened, not alone.
    #[serde(rename = "df")]
    pub deafened: u64,
    /// Alone, not deafened.
    #[serde(rename = "al")]
    pub alone: u64,
    /// Deafened and alone.
    #[serde(rename = "b")]
    pub both: u64,
}

impl ClassSecs {
    pub fn add(&mut self, flags: Flags, secs: u64) {
        let field = match (
            flags.contains(Flags::DEAFENED),
            flags.contains(Flags::ALONE),
        ) {
            (false, false) => &mut self.plain,
            (true, false) => &mut self.deafened,
            (false, true) => &mut self.alone,
            (true, true) => &mut self.both,
        };
        *field += secs;
    }

    pub fn merge(&mut self, other: &Self) {
        self.plain += other.plain;
        self.deafened += other.deafened;
        self.alone += other.alone;
        self.both += other.both;
    }

    #[must_use]
    pub const fn total(&self) -> u64 {
        self.plain + self.deafened + self.alone + self.both
    }

    #[must_use]
    pub const fn active(&self) -> u64 {
        self.plain
    }

    /// Seconds deafened, alone or not.
    #[must_use]
    pub const fn deafened_total(&self) -> u64 {
        self.deafened + self.both
    }

    /// Seconds alone, deafened or not.
    #[must_use]
    pub const fn alone_total(&self) -> u64 {
        self.alone + self.both
    }

    /// Seconds that count for the ranking under `rule`.
    #[must_use]
    pub const fn ranked(&self, rule: RankingRule) -> u64 {
        let mut secs = self.plain;
        if !rule.exclude_deafened {
            secs += self.deafened;
        }
        if !rule.exclude_alone {
            secs += self.alone;
        }
        if !rule.exclude_deafened && !rule.exclude_alone {
            secs += self.both;
        }
        secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_and_reject_unknown_bits() {
        let f = Flags::NONE
            .with(Flags::MUTED, true)
            .with(Flags::VIDEO, true);
        assert_eq!(Flags::from_bits(f.bits()), Some(f));
        assert!(Flags::from_bits(1 << 5).is_none());
        assert!(!f.with(Flags::MUTED, false).contains(Flags::MUTED));
    }

    #[test]
    fn active_is_neither_deafened_nor_alone() {
        assert!(Flags::NONE.is_active());
        assert!(Flags::MUTED.is_active());
        assert!(!Flags::DEAFENED.is_active());
        assert!(!Flags::ALONE.is_active());
    }

    #[test]
    fn breakdown_counts_overlapping_states() {
        let mut b = Breakdown::default();
        b.add(Flags::MUTED.with(Flags::STREAMING, true), 10);
        b.add(Flags::DEAFENED.with(Flags::MUTED, true), 5);
        b.add(Flags::ALONE, 7);
        assert_eq!(
            b,
            Breakdown {
                muted: 15,
                deafened: 5,
                streaming: 10,
                video: 0,
                alone: 7,
                active: 10
            }
        );
    }

    #[test]
    fn ranked_time_follows_the_rule() {
        let mut c = ClassSecs::default();
        c.add(Flags::NONE, 100);
        c.add(Flags::DEAFENED, 20);
        c.add(Flags::ALONE, 30);
        c.add(Flags::DEAFENED.with(Flags::ALONE, true), 4);
        assert_eq!(c.total(), 154);
        assert_eq!(c.ranked(RankingRule::default()), 100);
        let only_deaf = RankingRule {
            exclude_deafened: true,
            exclude_alone: false,
        };
        assert_eq!(c.ranked(only_deaf), 130);
        let only_alone = RankingRule {
            exclude_deafened: false,
            exclude_alone: true,
        };
        assert_eq!(c.ranked(only_alone), 120);
        let none = RankingRule {
            exclude_deafened: false,
            exclude_alone: false,
        };
        assert_eq!(c.ranked(none), 154);
        assert_eq!(c.deafened_total(), 24);
        assert_eq!(c.alone_total(), 34);
    }
}

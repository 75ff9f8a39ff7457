//! When someone is in calls: seconds per UTC half hour of the week, and the hour-of-day and
//! day-of-week views of them in any timezone.
//!
//! Buckets are stored in UTC at half-hour resolution so that any timezone can be shown later
//! (`docs/behaviour.md`). Bucket `i` covers weekday `i / 48` (0 = Monday) from `(i % 48) * 30`
//! minutes past midnight UTC.

use crate::time::Timestamp;

/// Half hours in a week.
pub const BUCKETS: usize = 7 * 48;
const BUCKET_SECS: i64 = 1800;
const WEEK_SECS: i64 = 7 * 86_400;
/// 1970-01-01 was a Thursday: shift by three days so that a week starts on Monday.
const EPOCH_WEEKDAY_SHIFT: i64 = 3 * 86_400;

/// Seconds per UTC half hour of the week.
#[derive(Clone, PartialEq, Eq)]
pub struct Heatmap([u64; BUCKETS]);

impl Default for Heatmap {
    fn default() -> Self {
        Self([0; BUCKETS])
    }
}

impl std::fmt::Debug for Heatmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().enumerate().filter(|(_, s)| **s > 0))
            .finish()
    }
}

impl Heatmap {
    #[must_use]
    pub fn from_buckets(buckets: [u64; BUCKETS]) -> Self {
        Self(buckets)
    }

    #[must_use]
    pub fn buckets(&self) -> &[u64; BUCKETS] {
        &self.0
    }

    /// Seconds in bucket `index`; zero outside the week.
    #[must_use]
    pub fn get(&self, index: usize) -> u64 {
        self.0.get(index).copied().unwrap_or(0)
    }

    pub fn add(&mut self, index: usize, secs: u64) {
        if let Some(b) = self.0.get_mut(index) {
            *b += secs;
        }
    }

    pub fn merge(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    #[must_use]
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The hour-of-day and day-of-week views for a timezone `offset_secs` east of UTC.
    ///
    /// Offsets that are not whole half hours (Asia/Kathmandu) split a bucket's seconds in
    /// proportion; the views always sum to [`Heatmap::total`].
    #[must_use]
    pub fn localize(&self, offset_secs: i32) -> LocalHeatmap {
        let mut local = LocalHeatmap::default();
        for (day, hours) in self.localize_grid(offset_secs).iter().enumerate() {
            for (hour, &secs) in hours.iter().enumerate() {
                local.hours[hour] += secs;
                local.days[day] += secs;
            }
        }
        local
    }

    /// Seconds per local weekday (0 = Monday) and hour for a timezone `offset_secs` east of
    /// UTC: the 7 x 24 grid a heatmap image shows. Same splitting as [`Heatmap::localize`],
    /// whose views are this grid's row and column sums.
    #[must_use]
    pub fn localize_grid(&self, offset_secs: i32) -> [[u64; 24]; 7] {
        let mut grid = [[0u64; 24]; 7];
        for (index, &secs) in self.0.iter().enumerate() {
            if secs == 0 {
                continue;
            }
            let start = (index as i64 * BUCKET_SECS + i64::from(offset_secs)).rem_euclid(WEEK_SECS);
            let end = start + BUCKET_SECS;
            let hour_end = (start / 3600 + 1) * 3600;
            let pieces = if hour_end < end {
                let first = secs * (hour_end - start) as u64 / BUCKET_SECS as u64;
                [(start, first), (hour_end, secs - first)]
            } else {
                [(start, secs), (start, 0)]
            };
            for (at, s) in pieces {
                let at = at.rem_euclid(WEEK_SECS);
                grid[(at / 86_400) as usize][(at / 3600 % 24) as usize] += s;
            }
        }
        grid
    }
}

/// The bucket that contains `at`.
#[must_use]
pub fn bucket_of(at: Timestamp) -> usize {
    ((at.unix() + EPOCH_WEEKDAY_SHIFT).rem_euclid(WEEK_SECS) / BUCKET_SECS) as usize
}

/// Splits `[from, to)` into `(bucket, seconds)` pairs, one per bucket touched, in bucket order.
/// The seconds sum to `from.secs_until(to)`; a session longer than a week adds to a bucket
/// once per pass.
#[must_use]
pub fn split_buckets(from: Timestamp, to: Timestamp) -> Vec<(usize, u64)> {
    let mut per_bucket = [0u64; BUCKETS];
    let mut at = from.unix();
    while at < to.unix() {
        let next = ((at.div_euclid(BUCKET_SECS)) + 1) * BUCKET_SECS;
        let next = next.min(to.unix());
        let index = ((at + EPOCH_WEEKDAY_SHIFT).rem_euclid(WEEK_SECS) / BUCKET_SECS) as usize;
        per_bucket[index] += (next - at) as u64;
        at = next;
    }
    per_bucket
        .iter()
        .enumerate()
        .filter(|(_, s)| **s > 0)
        .map(|(i, s)| (i, *s))
        .collect()
}

/// Seconds per local hour of the day (0-23) and per local weekday (0 = Monday).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalHeatmap {
    pub hours: [u64; 24],
    pub days: [u64; 7],
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    fn ts(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
        Timestamp::from_datetime(Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap())
    }

    #[test]
    fn buckets_start_on_monday_utc() {
        // 2026-11-23 is a Monday.
        assert_eq!(bucket_of(ts(2026, 11, 23, 0, 0)), 0);
        assert_eq!(bucket_of(ts(2026, 11, 23, 0, 29)), 0);
        assert_eq!(bucket_of(ts(2026, 11, 23, 0, 30)), 1);
        assert_eq!(bucket_of(ts(2026, 11, 26, 10, 15)), 3 * 48 + 20);
        assert_eq!(bucket_of(ts(2026, 11, 29, 23, 59)), BUCKETS - 1);
    }

    #[test]
    fn split_across_half_hours_and_week_end() {
        let parts = split_buckets(ts(2026, 11, 29, 23, 45), ts(2026, 11, 30, 0, 40));
        assert_eq!(parts, vec![(0, 1800), (1, 600), (BUCKETS - 1, 900)]);
        assert!(split_buckets(ts(2026, 11, 29, 23, 45), ts(2026, 11, 29, 23, 45)).is_empty());
    }

    #[test]
    fn localize_shifts_by_offset() {
        let mut h = Heatmap::default();
        // Monday 00:00-00:30 UTC.
        h.add(0, 1800);
        let utc = h.localize(0);
        assert_eq!(utc.hours[0], 1800);
        assert_eq!(utc.days[0], 1800);
        // In Asia/Kolkata (+5:30) that is Monday 05:30-06:00.
        let ist = h.localize(5 * 3600 + 1800);
        assert_eq!(ist.hours[5], 1800);
        assert_eq!(ist.days[0], 1800);
        // In America/New_York winter (-5:00) it is Sunday 19:00-19:30.
        let est = h.localize(-5 * 3600);
        assert_eq!(est.hours[19], 1800);
        assert_eq!(est.days[6], 1800);
        // Asia/Kathmandu (+5:45) splits the half hour across 05:00 and 06:00.
        let npt = h.localize(5 * 3600 + 45 * 60);
        assert_eq!(npt.hours[5], 900);
        assert_eq!(npt.hours[6], 900);
    }

    #[test]
    fn grid_places_local_weekday_and_hour() {
        let mut h = Heatmap::default();
        // Sunday 23:00-23:30 UTC is Monday 04:30-05:00 in Asia/Kolkata (+5:30).
        h.add(BUCKETS - 2, 1800);
        let grid = h.localize_grid(5 * 3600 + 1800);
        assert_eq!(grid[0][4], 1800);
        assert_eq!(grid.iter().flatten().sum::<u64>(), 1800);
        assert_eq!(h.localize_grid(0)[6][23], 1800);
    }

    proptest! {
        #[test]
        fn bucket_seconds_sum_to_duration(start in 0i64..4_000_000_000, len in 0u64..3_000_000) {
            let from = Timestamp::new(start).unwrap();
            let to = from.plus(len);
            let parts = split_buckets(from, to);
            prop_assert_eq!(parts.iter().map(|p| p.1).sum::<u64>(), len);
            prop_assert!(parts.iter().all(|p| p.0 < BUCKETS && p.1 > 0));
        }

        #[test]
        fn localized_views_keep_every_second(
            cells in proptest::collection::vec((0usize..BUCKETS, 0u64..100_000), 0..50),
            offset in -14 * 3600i32..=14 * 3600,
        ) {
            let mut h = Heatmap::default();
            for (i, s) in cells {
                h.add(i, s);
            }
            let local = h.localize(offset);
            prop_assert_eq!(local.hours.iter().sum::<u64>(), h.total());
            prop_assert_eq!(local.days.iter().sum::<u64>(), h.total());
            let grid = h.localize_grid(offset);
            for (day, row) in grid.iter().enumerate() {
                prop_assert_eq!(row.iter().sum::<u64>(), local.days[day]);
            }
            for hour in 0..24 {
                prop_assert_eq!(grid.iter().map(|row| row[hour]).sum::<u64>(), local.hours[hour]);
            }
        }
    }
}

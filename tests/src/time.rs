//! Readable instants for tests.

use callstats_core::Timestamp;
use chrono::{TimeZone, Utc};

/// The instant `y-mo-d h:mi:s` UTC.
///
/// # Panics
/// On an impossible date.
#[must_use]
pub fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Timestamp {
    Timestamp::from_datetime(
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid date"),
    )
}

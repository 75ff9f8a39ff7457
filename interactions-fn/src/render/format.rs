//! Numbers for humans.

/// "45 s", "12 min 05 s", "3 h 05 min", "1234 h 00 min". Hours are never rolled into days:
/// a leaderboard compares hours at a glance.
#[must_use]
pub fn human_duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {:02} s", secs / 60, secs % 60),
        _ => format!("{} h {:02} min", secs / 3600, secs % 3600 / 60),
    }
}

/// A share as a whole percentage, "0 %" when there is nothing to share.
#[must_use]
pub fn percent(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        0
    } else {
        (u128::from(part) * 100 / u128::from(whole)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "0 s");
        assert_eq!(human_duration(45), "45 s");
        assert_eq!(human_duration(60), "1 min 00 s");
        assert_eq!(human_duration(725), "12 min 05 s");
        assert_eq!(human_duration(3 * 3600 + 5 * 60 + 59), "3 h 05 min");
        assert_eq!(human_duration(1234 * 3600), "1234 h 00 min");
    }

    #[test]
    fn percents() {
        assert_eq!(percent(0, 0), 0);
        assert_eq!(percent(9, 12), 75);
        assert_eq!(percent(u64::MAX, u64::MAX), 100);
    }
}

//! Simulated wall-clock time, for a sidecar that reads "now" from a file
//! (`CALLSTATS_CLOCK_FILE`).
//!
//! The sidecar measures sessions with its own clock when an event arrives. At `--speed 60` a
//! ten-minute simulated call reaches it in ten real seconds; with the simulator keeping a clock
//! file and the sidecar reading it, the call is recorded as ten minutes, so leaderboards and
//! heatmaps look like a real server's. Pure arithmetic: the caller measures the real time.
//!
//! The simulated clock runs ahead of the real one by `(speed - 1) x` the real time elapsed.
//! Anything else that reads "now" (the interactions endpoint computing a live session or the
//! last seven days) must read the same clock, or it sees sessions that start in its future.

use super::Speed;
use std::time::Duration;

/// Unix time that runs `speed` times as fast as real time from `base_unix`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimulatedClock {
    base_unix: i64,
    speed: Speed,
}

impl SimulatedClock {
    /// A clock that reads `base_unix` at the start and then runs at `speed`.
    #[must_use]
    pub const fn new(base_unix: i64, speed: Speed) -> Self {
        Self { base_unix, speed }
    }

    /// Unix seconds after `real` has passed since the start (whole seconds, rounded down).
    #[must_use]
    pub fn unix_after(&self, real: Duration) -> i64 {
        let simulated = real.as_secs_f64() * self.speed.factor();
        // Far beyond any run; saturates rather than wrapping.
        self.base_unix.saturating_add(simulated.floor() as i64)
    }

    /// Real time since the start at which the clock reads `unix` (zero for times before the
    /// start).
    #[must_use]
    pub fn real_until(&self, unix: i64) -> Duration {
        let simulated = unix.saturating_sub(self.base_unix).max(0) as f64;
        Duration::try_from_secs_f64(simulated / self.speed.factor()).unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::SimulatedClock;
    use crate::simulator::Speed;
    use std::time::Duration;

    #[test]
    fn runs_speed_times_as_fast_and_rounds_down() {
        let clock = SimulatedClock::new(1_700_000_000, Speed::new(60.0).unwrap());
        assert_eq!(clock.unix_after(Duration::ZERO), 1_700_000_000);
        assert_eq!(clock.unix_after(Duration::from_millis(16)), 1_700_000_000);
        assert_eq!(clock.unix_after(Duration::from_millis(17)), 1_700_000_001);
        assert_eq!(clock.unix_after(Duration::from_mins(1)), 1_700_003_600);
        assert_eq!(clock.real_until(1_700_003_600), Duration::from_mins(1));
        assert_eq!(clock.real_until(1_600_000_000), Duration::ZERO);
        let real_time = SimulatedClock::new(5, Speed::REAL_TIME);
        assert_eq!(real_time.unix_after(Duration::from_millis(2_999)), 7);
        assert_eq!(real_time.real_until(8), Duration::from_secs(3));
    }
}

//! The clock seam: where event times come from.
//!
//! Every session second is measured by the sidecar's clock at the moment an event arrives, and
//! every live figure the endpoint shows is counted up to its clock's "now"
//! (`docs/behaviour.md`), so the clock is the one thing tests must control to check totals to
//! the second. Production uses [`SystemClock`]; in-process tests a [`ManualClock`]; tests and
//! the local simulator that run the real sidecar point `CALLSTATS_CLOCK_FILE` at a file holding
//! the current Unix second ([`FileClock`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use callstats_core::Timestamp;
use chrono::Utc;

/// What time it is, in whole seconds.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(Utc::now())
    }
}

/// A clock that says what it is told. Clones share the time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    #[must_use]
    pub fn new(at: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(at.unix())))
    }

    pub fn set(&self, at: Timestamp) {
        self.0.store(at.unix(), Ordering::SeqCst);
    }

    /// Moves the time `secs` seconds on and returns the new time.
    #[allow(clippy::must_use_candidate)] // advancing is the point; the time is a convenience
    pub fn advance(&self, secs: u64) -> Timestamp {
        let at = self.now().plus(secs);
        self.set(at);
        at
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::new(self.0.load(Ordering::SeqCst)).unwrap_or(Timestamp::EPOCH)
    }
}

/// A clock read from a file holding a Unix second count, for tests and the local simulator
/// that drive the real program. A reading that fails (the file being replaced, say) gives the
/// last good one, so time never jumps to zero.
#[derive(Debug)]
pub struct FileClock {
    path: PathBuf,
    last: AtomicI64,
}

/// A clock file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot read a unix time from {path}: {reason}")]
pub struct ClockFileError {
    pub path: String,
    pub reason: String,
}

impl FileClock {
    /// Opens the clock, checking that the file holds a time now.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, ClockFileError> {
        let path = path.into();
        let first = read_time(&path).map_err(|reason| ClockFileError {
            path: path.display().to_string(),
            reason,
        })?;
        Ok(Self {
            path,
            last: AtomicI64::new(first.unix()),
        })
    }
}

impl Clock for FileClock {
    fn now(&self) -> Timestamp {
        match read_time(&self.path) {
            Ok(at) => {
                self.last.store(at.unix(), Ordering::SeqCst);
                at
            }
            Err(reason) => {
                tracing::warn!(path = %self.path.display(), %reason, "clock file unreadable, using its last reading");
                Timestamp::new(self.last.load(Ordering::SeqCst)).unwrap_or(Timestamp::EPOCH)
            }
        }
    }
}

fn read_time(path: &Path) -> Result<Timestamp, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    text.trim()
        .parse::<i64>()
        .ok()
        .and_then(Timestamp::new)
        .ok_or_else(|| format!("{:?} is not a unix time in seconds", text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_is_shared_by_clones() {
        let clock = ManualClock::new(Timestamp::new(100).unwrap());
        let other = clock.clone();
        assert_eq!(other.advance(5).unix(), 105);
        assert_eq!(clock.now().unix(), 105);
    }

    #[test]
    fn file_clock_keeps_its_last_good_reading() {
        let dir = std::env::temp_dir().join(format!("callstats-clock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("now");
        std::fs::write(&path, "1795000000\n").unwrap();
        let clock = FileClock::open(&path).unwrap();
        assert_eq!(clock.now().unix(), 1_795_000_000);
        std::fs::write(&path, "1795000042").unwrap();
        assert_eq!(clock.now().unix(), 1_795_000_042);
        std::fs::write(&path, "soon").unwrap();
        assert_eq!(clock.now().unix(), 1_795_000_042);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(FileClock::open(&path).is_err());
    }
}

//! Retrying what the store could not do yet: one backoff policy for every caller (the
//! sidecar's writes and reads, the store's own batch writes).

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::StoreError;

/// Exponential backoff with jitter, capped.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(200),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (from 0): between half and all of
    /// `first * 2^attempt`, at most `max`.
    #[must_use]
    pub fn delay(self, attempt: u32) -> Duration {
        let full = self
            .first
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.max);
        full / 2 + full.mul_f64(random_fraction() / 2.0)
    }
}

/// How often a versioned write (read, change, write on condition that nobody wrote in between)
/// is tried before giving up with a retryable error.
pub(crate) const CONTENTION_ATTEMPTS: u32 = 10;

/// The pause after a versioned write lost to a concurrent one: short, growing and jittered,
/// so writers of one hot item (a server's board) spread out instead of colliding again.
pub(crate) async fn contention_pause(attempt: u32) {
    let backoff = Backoff {
        first: Duration::from_millis(10),
        max: Duration::from_millis(500),
    };
    tokio::time::sleep(backoff.delay(attempt)).await;
}

/// A number in `0..1` that differs from call to call (jitter needs no better).
fn random_fraction() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos().into()),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Calls `op` until it succeeds or fails for good ([`StoreError::is_retryable`]), sleeping with
/// backoff between transient failures and calling `on_retry` before each retry (a metric).
pub async fn retrying<T, F, Fut>(
    what: &'static str,
    backoff: Backoff,
    on_retry: impl Fn(),
    mut op: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut attempt = 0u32;
    loop {
        match op().await {
            Err(err) if err.is_retryable() => {
                on_retry();
                let delay = backoff.delay(attempt);
                if attempt == 0 {
                    tracing::warn!(op = what, error = %err, "store unavailable, retrying");
                } else {
                    tracing::debug!(op = what, attempt, error = %err, ?delay, "store still unavailable");
                }
                attempt = attempt.saturating_add(1);
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn backoff_grows_with_jitter_up_to_its_cap() {
        let b = Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        for attempt in 0..30 {
            let d = b.delay(attempt);
            let full = Duration::from_millis(100)
                .saturating_mul(2u32.saturating_pow(attempt.min(20)))
                .min(Duration::from_secs(2));
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
        let spread: HashSet<Duration> = (0..20).map(|_| b.delay(3)).collect();
        assert!(spread.len() > 1);
    }
}

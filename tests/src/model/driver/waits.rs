//! Waiting until the program or the fake has caught up, always bounded, and the range the
//! shards' last heartbeat lies in, which the waits pin.

use std::collections::BTreeMap;
use std::time::Duration;

use callstats_core::Timestamp;
use callstats_fake_gateway::ShardId;

use super::{Driver, SHARDS, WAIT, WAIT_SETTLED};
use crate::model::oracle::Span;
use crate::sidecar::sample_of;

impl Driver {
    /// Waits until every shard is in sync. After a stalled store, requests in flight only give
    /// up at their timeouts before the retries get through: allow minutes, not seconds.
    pub(super) async fn wait_settled(&self) {
        self.sidecar()
            .wait_metrics_for("every shard to settle", WAIT_SETTLED, |text| {
                let settled = crate::sidecar::samples_of(text, "callstats_shard_settled");
                !settled.is_empty() && settled.iter().all(|v| *v > 0.5)
            })
            .await;
    }

    /// Waits until the fake has a connected session for every shard.
    pub(super) async fn wait_fake_connected(&self) {
        for shard in 0..SHARDS {
            self.fake
                .wait_for_session(ShardId::new(shard, SHARDS))
                .await
                .expect("the shard connects");
        }
    }

    /// Waits until the fake knows that no connection serves `shards`.
    pub(super) async fn wait_fake_gone(&self, shards: &[u32]) {
        let deadline = tokio::time::Instant::now() + WAIT;
        for shard in shards {
            while self
                .fake
                .session(ShardId::new(*shard, SHARDS))
                .is_some_and(|s| s.connected)
            {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "seed {}: the fake still serves shard {shard}",
                    self.report.seed
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    pub(super) async fn wait_fake_disconnected(&self) {
        let all: Vec<u32> = (0..SHARDS).collect();
        self.wait_fake_gone(&all).await;
    }

    /// Waits until the program has handled every dispatch the fake holds for its shards.
    pub(super) async fn sync_all(&self) {
        for shard in 0..SHARDS {
            if let Some(info) = self.fake.session(ShardId::new(shard, SHARDS))
                && info.connected
            {
                self.sidecar().wait_sequence(shard, info.seq).await;
            }
        }
    }

    /// Waits until every shard's heartbeat in the store says "now".
    pub(super) async fn pin(&mut self) {
        let now = self.now();
        let deadline = tokio::time::Instant::now() + WAIT;
        for shard in 0..SHARDS {
            loop {
                if self.store.last_heartbeat(shard).await.ok().flatten() == Some(now) {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "seed {}: no heartbeat at {now} from shard {shard}",
                    self.report.seed
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.heartbeat = Some(Span::exact(now));
        self.beating = true;
        self.untaken.clear();
    }

    /// The heartbeat range as the running process leaves it now.
    pub(super) fn heartbeat_now(&self) -> Option<Span> {
        let now = self.now();
        match self.heartbeat {
            Some(span) if self.beating => Some(Span {
                lo: span.lo,
                hi: span.hi.max(now),
            }),
            other => other,
        }
    }

    /// `span` narrowed by the store: with the process gone, each shard's heartbeat can only be
    /// what the store holds now or a later one still in flight, so the lowest one the store
    /// holds is a lower bound.
    pub(super) async fn narrowed(&self, span: Option<Span>) -> Option<Span> {
        let span = span?;
        let mut lowest: Option<Timestamp> = None;
        for shard in 0..SHARDS {
            let beat = self.store.last_heartbeat(shard).await.ok().flatten();
            lowest = match (lowest, beat) {
                (_, None) => return Some(span),
                (None, Some(b)) => Some(b),
                (Some(l), Some(b)) => Some(l.min(b)),
            };
        }
        match lowest {
            Some(seen) if span.contains(seen) => Some(Span {
                lo: seen,
                hi: span.hi,
            }),
            _ => Some(span),
        }
    }

    /// `at`, moved on when needed so that a reconciliation against `span` decides keep or
    /// split the same way wherever in the range the heartbeat lies.
    pub(super) fn unambiguous(&self, at: Timestamp, span: Option<Span>) -> Timestamp {
        let Some(span) = span else { return at };
        if span.lo.secs_until(at) <= self.max_gap || span.hi.secs_until(at) > self.max_gap {
            at
        } else {
            span.hi.plus(self.max_gap + 1)
        }
    }

    pub(super) async fn wait_sent(&self, sent: &[(u32, u64)]) {
        let mut last: BTreeMap<u32, u64> = BTreeMap::new();
        for (shard, seq) in sent {
            let e = last.entry(*shard).or_default();
            *e = (*e).max(*seq);
        }
        for (shard, seq) in last {
            self.sidecar().wait_sequence(shard, seq).await;
        }
    }

    /// Waits until every write the program decided on is in its spool.
    pub(super) async fn wait_journaled(&self) {
        self.sidecar()
            .wait_metrics("every write to be journaled", |text| {
                sample_of(text, "callstats_writes_handed_total")
                    == sample_of(text, "callstats_writes_submitted_total")
            })
            .await;
    }
}

//! Counters and gauges, shared by the shard tasks, the writer and the HTTP endpoint, and
//! rendered in the Prometheus text format for `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What one shard reports about itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardStatus {
    pub total: u32,
    /// Identified or resumed, and not disconnected since.
    pub connected: bool,
    /// Sequence number of the last dispatch handled (0 before the first).
    pub sequence: u64,
    /// Average heartbeat round trip of the current connection.
    pub latency: Option<Duration>,
    pub open_sessions: usize,
    /// Every guild is known (none waits for its `GUILD_CREATE` or for the store).
    pub settled: bool,
    pub disconnects: u64,
    /// When the shard last recorded "alive" in the store (the clock's reading).
    pub last_heartbeat: Option<callstats_core::Timestamp>,
}

/// Name, type, help and labelled values of one metric family.
type Family<'a> = (&'a str, &'a str, &'a str, Vec<(String, String)>);

/// Everything `/metrics` shows. Cheap to update from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    pub events_received: AtomicU64,
    pub voice_updates: AtomicU64,
    /// Writes the shards handed to the writer.
    pub writes_handed: AtomicU64,
    /// Writes the writer journaled (equal to `writes_handed` once it caught up).
    pub writes_submitted: AtomicU64,
    pub writes_started: AtomicU64,
    pub writes_updated: AtomicU64,
    pub writes_ended: AtomicU64,
    /// Writes the store had already applied (replays, duplicates, stale updates).
    pub writes_already_applied: AtomicU64,
    pub writes_opted_out: AtomicU64,
    pub writes_superseded: AtomicU64,
    /// Session writes retried after a transient store failure.
    pub writes_retried: AtomicU64,
    /// Store reads (reconciliation, heartbeat, guild configuration) retried after a transient
    /// failure.
    pub reads_retried: AtomicU64,
    pub writes_failed: AtomicU64,
    pub conflicts_resolved: AtomicU64,
    /// Leaderboard flushes written.
    pub board_flushes: AtomicU64,
    /// Display names written (new or changed since this process last wrote them).
    pub names_written: AtomicU64,
    /// Writes journaled and not yet applied (in memory and spilled to disk).
    pub spool_depth: AtomicU64,
    /// Writes kept only on disk because memory was full.
    pub spool_spilled: AtomicU64,
    /// When the oldest write still waiting was queued (Unix seconds; 0: none waits).
    pub spool_oldest_queued_at: AtomicI64,
    pub spool_errors: AtomicU64,
    pub heartbeats_written: AtomicU64,
    pub heartbeat_failures: AtomicU64,
    pub gateway_errors: AtomicU64,
    shards: Mutex<BTreeMap<u32, ShardStatus>>,
}

/// Adds one to a counter.
pub fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    pub fn set_shard(&self, number: u32, status: ShardStatus) {
        if let Ok(mut shards) = self.shards.lock() {
            shards.insert(number, status);
        }
    }

    pub fn update_shard(&self, number: u32, update: impl FnOnce(&mut ShardStatus)) {
        if let Ok(mut shards) = self.shards.lock() {
            update(shards.entry(number).or_default());
        }
    }

    #[must_use]
    pub fn shard(&self, number: u32) -> Option<ShardStatus> {
        self.shards.lock().ok()?.get(&number).copied()
    }

    #[must_use]
    pub fn shards(&self) -> Vec<(u32, ShardStatus)> {
        self.shards
            .lock()
            .map(|s| s.iter().map(|(n, s)| (*n, *s)).collect())
            .unwrap_or_default()
    }

    #[must_use]
    pub fn spool_depth(&self) -> u64 {
        self.spool_depth.load(Ordering::SeqCst)
    }

    /// Seconds the oldest waiting write has waited.
    #[must_use]
    pub fn spool_oldest_age(&self, now: SystemTime) -> u64 {
        let queued = self.spool_oldest_queued_at.load(Ordering::Relaxed);
        if queued <= 0 {
            return 0;
        }
        let now = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        u64::try_from(now - queued).unwrap_or(0)
    }

    /// The Prometheus text exposition of everything.
    #[must_use]
    #[allow(clippy::too_many_lines)] // one table row per metric family
    pub fn render(&self, now: SystemTime) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed).to_string();
        let one = |v: String| vec![(String::new(), v)];
        let shards = self.shards();
        let per_shard = |f: fn(&ShardStatus) -> String| -> Vec<(String, String)> {
            shards
                .iter()
                .map(|(n, s)| (format!("{{shard=\"{n}\"}}"), f(s)))
                .collect()
        };
        let families: Vec<Family<'_>> = vec![
            (
                "callstats_events_received_total",
                "counter",
                "Gateway dispatches handled.",
                one(get(&self.events_received)),
            ),
            (
                "callstats_voice_updates_total",
                "counter",
                "VOICE_STATE_UPDATE dispatches handled.",
                one(get(&self.voice_updates)),
            ),
            (
                "callstats_writes_handed_total",
                "counter",
                "Session writes the shards handed to the writer.",
                one(get(&self.writes_handed)),
            ),
            (
                "callstats_writes_submitted_total",
                "counter",
                "Session writes journaled for the store.",
                one(get(&self.writes_submitted)),
            ),
            (
                "callstats_writes_applied_total",
                "counter",
                "Session writes the store applied.",
                vec![
                    ("{kind=\"start\"}".to_owned(), get(&self.writes_started)),
                    ("{kind=\"update\"}".to_owned(), get(&self.writes_updated)),
                    ("{kind=\"end\"}".to_owned(), get(&self.writes_ended)),
                ],
            ),
            (
                "callstats_writes_already_applied_total",
                "counter",
                "Session writes the store had already applied (replays and duplicates).",
                one(get(&self.writes_already_applied)),
            ),
            (
                "callstats_writes_opted_out_total",
                "counter",
                "Session starts refused because the user opted out.",
                one(get(&self.writes_opted_out)),
            ),
            (
                "callstats_writes_superseded_total",
                "counter",
                "Session starts dropped because a newer session of the user was open.",
                one(get(&self.writes_superseded)),
            ),
            (
                "callstats_writes_retried_total",
                "counter",
                "Session writes retried after a transient store failure.",
                one(get(&self.writes_retried)),
            ),
            (
                "callstats_store_reads_retried_total",
                "counter",
                "Store reads (reconciliation, heartbeats, guild configuration) retried after a transient failure.",
                one(get(&self.reads_retried)),
            ),
            (
                "callstats_writes_failed_total",
                "counter",
                "Session writes the store refused for good (kept in the dead-letter file).",
                one(get(&self.writes_failed)),
            ),
            (
                "callstats_board_flushes_total",
                "counter",
                "Leaderboard flushes written (new figures of ended sessions, per server).",
                one(get(&self.board_flushes)),
            ),
            (
                "callstats_names_written_total",
                "counter",
                "Display names written (a member's name new or changed since this process last wrote it).",
                one(get(&self.names_written)),
            ),
            (
                "callstats_conflicts_resolved_total",
                "counter",
                "Sessions left open from before that were ended so a new one could start.",
                one(get(&self.conflicts_resolved)),
            ),
            (
                "callstats_spool_errors_total",
                "counter",
                "Failures to write the durable spool or the departures journal (state directory).",
                one(get(&self.spool_errors)),
            ),
            (
                "callstats_heartbeats_total",
                "counter",
                "Shard heartbeats recorded in the store.",
                one(get(&self.heartbeats_written)),
            ),
            (
                "callstats_heartbeat_failures_total",
                "counter",
                "Shard heartbeats the store did not take.",
                one(get(&self.heartbeat_failures)),
            ),
            (
                "callstats_gateway_errors_total",
                "counter",
                "Errors receiving from the gateway (failed connects included).",
                one(get(&self.gateway_errors)),
            ),
            (
                "callstats_spool_depth",
                "gauge",
                "Session writes journaled and not yet applied.",
                one(self.spool_depth().to_string()),
            ),
            (
                "callstats_spool_spilled",
                "gauge",
                "Waiting writes kept only on disk.",
                one(get(&self.spool_spilled)),
            ),
            (
                "callstats_spool_oldest_age_seconds",
                "gauge",
                "Age of the oldest write waiting for the store.",
                one(self.spool_oldest_age(now).to_string()),
            ),
            (
                "callstats_open_sessions",
                "gauge",
                "Sessions being accounted.",
                per_shard(|s| s.open_sessions.to_string()),
            ),
            (
                "callstats_shard_total",
                "gauge",
                "Number of shards of the bot (this process runs some of them).",
                per_shard(|s| s.total.to_string()),
            ),
            (
                "callstats_shard_connected",
                "gauge",
                "1 when the shard has a live gateway session.",
                per_shard(|s| u8::from(s.connected).to_string()),
            ),
            (
                "callstats_shard_settled",
                "gauge",
                "1 when every guild of the shard is known and reconciled.",
                per_shard(|s| u8::from(s.settled).to_string()),
            ),
            (
                "callstats_gateway_sequence",
                "gauge",
                "Sequence number of the last dispatch handled.",
                per_shard(|s| s.sequence.to_string()),
            ),
            (
                "callstats_gateway_latency_seconds",
                "gauge",
                "Average heartbeat round trip of the shard's connection.",
                per_shard(|s| {
                    s.latency
                        .map_or_else(|| "NaN".to_owned(), |l| format!("{:.3}", l.as_secs_f64()))
                }),
            ),
            (
                "callstats_shard_disconnects",
                "gauge",
                "Times the shard lost its connection.",
                per_shard(|s| s.disconnects.to_string()),
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, values) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in values {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        inc(&m.writes_started);
        inc(&m.names_written);
        m.spool_depth.store(3, Ordering::SeqCst);
        m.spool_oldest_queued_at.store(100, Ordering::SeqCst);
        m.set_shard(
            0,
            ShardStatus {
                total: 1,
                connected: true,
                sequence: 7,
                latency: Some(Duration::from_millis(42)),
                ..ShardStatus::default()
            },
        );
        let text = m.render(UNIX_EPOCH + Duration::from_secs(160));
        for line in [
            "callstats_writes_applied_total{kind=\"start\"} 1",
            "callstats_spool_depth 3",
            "callstats_names_written_total 1",
            "callstats_spool_oldest_age_seconds 60",
            "callstats_shard_connected{shard=\"0\"} 1",
            "callstats_gateway_sequence{shard=\"0\"} 7",
            "callstats_gateway_latency_seconds{shard=\"0\"} 0.042",
            "# TYPE callstats_spool_depth gauge",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}

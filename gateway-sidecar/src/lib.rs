//! The callstats gateway sidecar: holds the Discord gateway connection and turns voice state
//! changes into exact session writes in DynamoDB.
//!
//! # Layout
//!
//! Events flow left to right; only the edges do I/O.
//!
//! ```text
//! gateway (twilight shard) ──▶ gateway::ShardRunner ──▶ tracker::Tracker ──▶ writer ──▶ store
//!   one task per shard           stamps events with        pure state         spool + retries,
//!                                the clock, never waits    machine: events    in order per user
//!                                for the store             to writes
//! ```
//!
//! - [`config`]: every environment variable, read once and validated;
//! - [`tracker`]: the pure state machine from gateway events to [`SessionWrite`]s, one per shard;
//! - [`directory`]: the pure record of members' display names and the channels everyone can
//!   view, from gateway events to the store writes they need;
//! - [`gateway`]: the shard loop: events in, writes out, heartbeats, reconciliation reads;
//! - [`writer`]: applies writes in order per user, concurrently across users, retrying
//!   transient failures for as long as it takes;
//! - [`spool`]: the durable journal under the state directory that makes the writer lose
//!   nothing across crashes, restarts and store outages;
//! - [`resume`]: carrying a shard's gateway session and tracker state over a restart;
//! - [`metrics`] and [`ops`]: `/metrics` and `/healthz`;
//! - [`emf`]: the alarms' counters as CloudWatch embedded metric format lines on stdout;
//! - [`allow`]: a private deployment's servers (`CALLSTATS_GUILDS`), the events let through;
//! - [`app`]: the wiring, and the graceful stop.
//!
//! The program (`main.rs`) only reads the configuration, sets up logging and signals, and
//! calls [`run`] with production seams; tests call [`run`] with their own (a manual clock, a
//! store on a fresh table, a fake gateway URL).
//!
//! # Operating it
//!
//! - Configuration: environment variables, listed in [`config`]. Missing or invalid ones end
//!   the program with one line on stderr and exit status 2.
//! - `callstats-sidecar create-table` creates the table (or checks an existing one).
//! - SIGTERM or SIGINT: stop reading the gateway, finish queued writes (up to 5 s), save each
//!   shard's gateway session and state, close with the resume code, exit 0, all within 10 s.
//! - A fatal gateway close (4004 bad token, 4010-4014), a token Discord refuses, a table the
//!   store refuses, or a state directory in use by another process: one line on stderr, exit
//!   status 1. An unreachable gateway or store is not fatal: both are retried.
//! - `CALLSTATS_STATE_DIR` holds `spool.log` (writes not yet applied), `dead-letters.jsonl`
//!   (writes the store refused for good, one JSON object per line, to inspect and replay by
//!   hand), `resume-<shard>.json` (a resume state saved while the table could not take it) and
//!   `lock`. Give it a persistent volume that stays with the service: a restart elsewhere
//!   without it loses the writes still in the spool.
//! - `/healthz` (200 when every shard is connected and the table answers, else 503 with the
//!   reasons) and `/metrics` (Prometheus text) on `CALLSTATS_HTTP_LISTEN`.
//! - Logs: readable, or JSON with `CALLSTATS_LOG_FORMAT=json`; `RUST_LOG` filters (default
//!   `info`). The token is never logged.
//! - Run one process per shard range; two processes must never run the same shard
//!   (`CALLSTATS_TASK=i/K` with the shard count in `CALLSTATS_SHARDS` slices them).
//! - With `CALLSTATS_CLOUDWATCH_NAMESPACE`, the counters the data-loss alarms watch go to
//!   stdout once a minute in CloudWatch's embedded metric format ([`emf`]).
//!
//! # Decisions
//!
//! - The guild's AFK channel is not a call; bots are never tracked and keep nobody company;
//!   members who opted out still keep others from being alone (the store, not the sidecar,
//!   refuses their sessions).
//! - After a crash the sidecar applies its spool, then reconciles each guild with the store
//!   using the shard's last heartbeat as "last seen"; heartbeats are only written while the
//!   shard's state is complete, so they never claim more than the sidecar knew.
//! - A gateway session saved at shutdown is resumed when at most two minutes old; older, its
//!   tracker state still serves as the last known truth (see [`resume`]).
//! - A guild's configuration (timezone, ranking rule) is read when the guild is first seen and
//!   every five minutes; a change applies to time accounted after it is read.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod allow;
pub mod app;
pub mod config;
pub mod departures;
pub mod directory;
pub mod emf;
pub mod gateway;
pub mod metrics;
pub mod ops;
pub mod resume;
pub mod spool;
pub mod tracker;
pub mod writer;

pub use app::{RunError, Seams, run};
pub use callstats_runtime::{Clock, FileClock, ManualClock, SystemClock};
pub use callstats_store::Backoff;
pub use config::{Config, ConfigError, LogFormat, ShardPlan, Token};
pub use metrics::{Metrics, ShardStatus};
pub use tracker::{SessionWrite, Tracker};
pub use writer::WriterOptions;

/// A session nonce start that differs from process to process.
#[must_use]
pub fn random_nonce() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish() as u32
}

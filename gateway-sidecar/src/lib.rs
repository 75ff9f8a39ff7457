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
//! - [`clock`]: the clock seam (system, manual for tests, a file for tests of the program);
//! - [`tracker`]: the pure state machine from gateway events to [`Write`]s, one per shard;
//! - [`gateway`]: the shard loop: events in, writes out, heartbeats, reconciliation reads;
//! - [`writer`]: applies writes in order per user, concurrently across users, retrying
//!   transient failures for as long as it takes;
//! - [`spool`]: the durable journal under the state directory that makes the writer lose
//!   nothing across crashes, restarts and store outages;
//! - [`resume`]: carrying a shard's gateway session and tracker state over a restart;
//! - [`metrics`] and [`ops`]: `/metrics` and `/healthz`;
//! - [`app`]: the wiring, and the graceful stop.
//!
//! The program (`main.rs`) only reads the configuration, sets up logging and signals, and
//! calls [`run`] with production seams; tests call [`run`] with their own (a manual clock, a
//! store on a fresh table, a fake gateway URL).
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

pub mod app;
pub mod clock;
pub mod config;
pub mod gateway;
pub mod metrics;
pub mod ops;
pub mod resume;
pub mod spool;
pub mod tracker;
pub mod writer;

pub use app::{RunError, Seams, run};
pub use clock::{Clock, FileClock, ManualClock, SystemClock};
pub use config::{Config, ConfigError, LogFormat, ShardPlan, Token};
pub use metrics::{Metrics, ShardStatus};
pub use tracker::{Tracker, Write};
pub use writer::{Backoff, WriterOptions};

/// A session nonce start that differs from process to process.
#[must_use]
pub fn random_nonce() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish() as u32
}

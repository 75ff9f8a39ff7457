//! Benchmarks of callstats: speed, memory and cost, each measured next to its baseline in the
//! same run, on the release programs against the local DynamoDB server.
//!
//! `scripts/bench [name ...]` builds what it needs in release, starts a fresh local server,
//! runs the benchmarks (all, or the named ones) and rewrites the results in
//! `BENCHMARKS.md`. `callstats-bench --quick` runs every benchmark with tiny sizes and
//! writes nothing: a smoke run of the machinery, with no figure worth keeping and no timing
//! assertion.
//!
//! | benchmark | module | what |
//! |---|---|---|
//! | `show` | [`show`] | `/callstats show` over HTTP vs the same reads from a plain SDK client |
//! | `throughput` | [`throughput`] | voice updates through the sidecar to committed writes vs the same store writes in a loop |
//! | `memory` | [`memory`] | the sidecar's memory and reconcile time after 2,500 guilds with 50,000 members in voice |
//! | `cold-start` | [`cold_start`] | process start to the first answered PING; the Lambda zip |
//! | `cost` | [`cost`] | read and write units per operation, reported by the server and computed from item sizes |
//! | `load` | [`load`] | `callstats-interactions serve` under a mix of commands at increasing rates vs the same reads from a plain SDK client |
//! | `scaling` | [`scaling`] | `/callstats show` for 10, 1,000 and 10,000 past sessions; `/calltop` and `/callstats server` ([`server_view`]) on boards of 100 and 10,000 members |
//!
//! Shared parts: [`harness`] (processes, tables, the sidecar's metrics), [`recorder`] (an SDK
//! interceptor that records calls and asks for consumed capacity), [`replay`] (recorded reads
//! sent again), [`seed`] (realistic histories, stored through the store's own writes), [`size`]
//! (DynamoDB's size and unit rules),
//! [`stats`], [`machine`], [`report`] (`BENCHMARKS.md`).

// Outside input never panics the process: program code has no unwrap or expect.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod cold_start;
pub mod cost;
pub mod harness;
pub mod load;
pub mod machine;
pub mod memory;
pub mod recorder;
pub mod replay;
pub mod report;
pub mod scaling;
pub mod seed;
pub mod server_view;
pub mod show;
pub mod size;
pub mod stats;
pub mod throughput;

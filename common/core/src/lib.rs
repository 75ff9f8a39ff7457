//! The pure domain core of callstats: plain functions over plain data, no I/O, no clock.
//! Time comes in as a [`Timestamp`] argument. Nothing in this crate's dependency tree does I/O
//! (no tokio, no AWS SDK, no HTTP): the compiler, not a comment, keeps it pure.
//!
//! - [`session`]: sessions, their breakdown and what each contributes to days, weeks, months
//!   and the heatmap;
//! - [`period`]: UTC days, and ISO weeks and months in a timezone;
//! - [`heatmap`]: UTC half-hour buckets and their local hour-of-day and day-of-week views;
//! - [`aggregate`]: totals over sessions;
//! - [`board`]: a server's leaderboards, kept as absolute figures;
//! - [`member`]: what a member's all-time and day records become when a session ends;
//! - [`reconcile`]: what happens to open sessions when the sidecar sees a guild afresh;
//! - [`settings`]: what a member and a guild chose;
//! - [`window`]: figures over the viewer's calendar days, cut exactly at local midnights;
//! - [`ids`], [`time`]: typed ids and whole-second instants.
//!
//! The rules these modules implement are written for people in `docs/behaviour.md`.

// Outside input never panics the process: program code has no unwrap or expect.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod aggregate;
pub mod board;
pub mod breakdown;
pub mod heatmap;
pub mod ids;
pub mod member;
pub mod partners;
pub mod period;
pub mod reconcile;
pub mod server;
pub mod session;
pub mod settings;
pub mod time;
pub mod window;

pub use aggregate::{Aggregate, Stats};
pub use breakdown::{Breakdown, ClassSecs, Flags, RankingRule};
pub use ids::{ChannelId, GuildId, UserId};
pub use session::{ClosedSession, OpenSession, SessionId};
pub use settings::{GuildConfig, UserSettings};
pub use time::Timestamp;

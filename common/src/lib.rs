//! The domain core of callstats and the DynamoDB store both programs share.
//!
//! Everything outside [`store`] is pure: plain functions over plain data, no I/O, no clock.
//! Time comes in as a [`Timestamp`] argument.
//!
//! - [`session`]: sessions, their breakdown and what each contributes to days, weeks, months
//!   and the heatmap;
//! - [`period`]: UTC days, and ISO weeks and months in a timezone;
//! - [`heatmap`]: UTC half-hour buckets and their local hour-of-day and day-of-week views;
//! - [`aggregate`]: totals over sessions;
//! - [`reconcile`]: what happens to open sessions when the sidecar sees a guild afresh;
//! - [`format`]: durations for humans;
//! - [`store`]: the one DynamoDB table (see `docs/storage.md`).

// Outside input never panics the process: program code has no unwrap or expect.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod aggregate;
pub mod breakdown;
pub mod format;
pub mod heatmap;
pub mod ids;
pub mod period;
pub mod reconcile;
pub mod session;
pub mod settings;
pub mod store;
pub mod time;

pub use aggregate::{Aggregate, Stats};
pub use breakdown::{Breakdown, ClassSecs, Flags, RankingRule};
pub use ids::{ChannelId, GuildId, UserId};
pub use session::{ClosedSession, OpenSession, SessionId};
pub use settings::{GuildConfig, UserSettings};
pub use store::{Store, StoreError};
pub use time::Timestamp;

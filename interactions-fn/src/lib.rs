//! callstats' interactions endpoint: Discord's signed HTTP interactions in, replies out.
//!
//! One handler ([`App::handle`]: raw request to response) behind two front ends: AWS Lambda
//! ([`lambda`], Function URL events) and a plain HTTP server ([`serve`]). The binary
//! (`callstats-interactions`) picks one, or registers the commands ([`register`]).
//!
//! - [`verify`]: ed25519 signatures over the raw body, before any JSON is read;
//! - [`interaction`]: the verified body as typed input;
//! - [`commands`]: one module per command, each a parse step and a run step;
//! - [`render`]: pure functions from data to embeds and images, inside Discord's limits;
//! - [`reply`]: replies and their HTTP encoding (JSON or multipart);
//! - [`error`]: failures, and the one place that turns them into replies;
//! - [`custom_id`]: button state;
//! - [`background`]: exports and deletions that outlast Discord's 3 seconds;
//! - [`config`], [`startup`]: environment and start-up.
//!
//! The local client that talks to this endpoint as Discord does is `callstats-dev`, in the
//! development kit (`tests/devkit`); it is not part of this crate.

// Outside input never panics the process: program code has no unwrap or expect.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod answer;
pub mod background;
pub mod commands;
pub mod config;
pub mod context;
pub mod custom_id;
pub mod dispatch;
pub mod error;
pub mod figures;
pub mod handler;
pub mod interaction;
pub mod lambda;
pub mod limits;
pub mod register;
pub mod render;
pub mod reply;
pub mod rest;
pub mod serve;
pub mod startup;
pub mod verify;
pub mod zones;

pub use callstats_runtime::Clock;
pub use callstats_runtime::ConfigError;
pub use config::{Config, RegisterConfig};
pub use context::{App, AppBuilder};
pub use reply::{Message, Reply};

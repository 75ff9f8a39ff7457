//! Talking to callstats as Discord does, for development: what the local client
//! (`callstats-dev`), the integration tests (`callstats-tests`) and the benchmarks
//! (`callstats-bench`) share, said once.
//!
//! - [`sign`]: keys and ed25519 signatures over timestamp and body;
//! - [`send`]: requests to a local endpoint, and interactions signed as Discord signs them;
//! - [`answer`]: the endpoint's answers and the interaction responses in them;
//! - [`multipart`]: multipart/form-data bodies (replies with files, follow-up edits);
//! - [`prometheus`]: samples of the sidecar's `/metrics`;
//! - [`client`]: the local client (`callstats-dev call`): a command line typed as in Discord
//!   to an interaction, and the reply as text.
//!
//! Nothing here ships: the endpoint's binary (`callstats-interactions`) does not depend on
//! this crate.

// Outside input never panics the process: program code has no unwrap or expect.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod answer;
pub mod client;
pub mod multipart;
pub mod prometheus;
pub mod send;
pub mod sign;

pub use answer::{Answer, Reply};
pub use multipart::{Part, parse_multipart};

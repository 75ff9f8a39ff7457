//! The integration-test harness shared by every test binary in `tests/tests/`.
#![allow(clippy::missing_panics_doc)] // a test harness: a failed setup is a failed test
//!
//! - [`dynamo`]: a fresh table per test on the local DynamoDB-compatible server that
//!   `scripts/test` starts (`AWS_ENDPOINT_URL_DYNAMODB`);
//! - the fake Discord gateway lives in its own crate, `callstats-fake-gateway`.

pub mod dynamo;
pub mod time;
pub mod interactions;
pub mod proxy;
pub mod sidecar;

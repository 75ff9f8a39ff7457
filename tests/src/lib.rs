//! The integration-test harness shared by every test binary in `tests/tests/`.
//!
//! - [`dynamo`]: a fresh table per test on the local DynamoDB-compatible server that
//!   `scripts/test` starts (`AWS_ENDPOINT_URL_DYNAMODB`), and what a test wrote there read back;
//! - [`sidecar`], [`proxy`]: the gateway sidecar in-process or as a process, and a
//!   fault-injecting TCP proxy in front of the store;
//! - [`scene`]: a test's world around the sidecar (table, fake gateway, clock, sidecar) and the
//!   voice steps tests take in it;
//! - [`interactions`]: signed requests and fake Discord REST servers;
//! - [`fuzz`]: the bodies of the fuzz targets (libFuzzer in `tests/fuzz/`, proptest here);
//! - [`model`]: the model-based randomized fault test: an oracle, a scenario driver, and the
//!   comparison with the store;
//! - [`template`]: the infrastructure template, and a stand-in for a stack of it;
//! - [`lambda_deploy`]: the operator's `cargo lambda deploy` against a local AWS emulation;
//! - the fake Discord gateway lives in its own crate, `callstats-fake-gateway`.
// A test harness: a failed setup is a failed test.
#![allow(clippy::missing_panics_doc)]

pub mod dynamo;
pub mod fuzz;
pub mod interactions;
pub mod lambda_deploy;
pub mod model;
pub mod proxy;
pub mod scene;
pub mod sidecar;
pub mod template;
pub mod time;

use std::path::{Path, PathBuf};

/// One of the workspace's programs (`callstats-sidecar`, `callstats-interactions`), built by
/// `scripts/test` next to the test executables.
#[must_use]
pub fn program(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    // target/debug/deps/<test>-<hash> -> target/debug/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps");
    let program = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        program.exists(),
        "{} is missing: build the programs first with `cargo build --workspace --bins` (scripts/test does)",
        program.display()
    );
    program
}

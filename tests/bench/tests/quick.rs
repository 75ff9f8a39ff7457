//! The benchmarks' smoke run: every store-side benchmark with tiny sizes against the local
//! server, through the same program `scripts/bench` runs. It asserts no timing, only that the
//! machinery works: histories are stored through the store's own writes, requests are
//! recorded and replayed, every call is charged by DynamoDB's rules (a call the benchmark has
//! no rule for, or an item written twice in one step, fails the run), and the commands answer
//! (so a change of the store that the benchmarks have not followed fails here, not in a
//! benchmark run).
//!
//! Needs the local server (`scripts/test` starts one) and the programs beside this package's
//! binary (`cargo build --workspace --bins`, which `scripts/test` runs first).

use std::process::Command;

#[test]
fn quick_run_of_show_cost_and_scaling() {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        eprintln!("skipped: no local DynamoDB server (run through scripts/test)");
        return;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_callstats-bench"))
        .args(["--quick", "show", "cost", "scaling"])
        .output()
        .expect("run callstats-bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the quick run failed:\n{stderr}");
    for name in ["show", "cost", "scaling"] {
        assert!(
            stderr.contains(&format!("{name} done")),
            "{name} did not run:\n{stderr}"
        );
    }
}

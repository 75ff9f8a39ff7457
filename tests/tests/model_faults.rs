//! The model-based randomized test. Random voice scenarios in several guilds, played
//! against the real sidecar program while it is restarted, killed, fed duplicates and replays,
//! loses its gateway session, its guilds and its store; afterwards the store must equal the
//! oracle (see `callstats_tests::model`).
//!
//! The suite runs a few scenarios from a fresh seed each time; `scripts/model-test` runs it for
//! as long as asked. Every scenario prints its seed; `CALLSTATS_MODEL_SEED=<n>` plays it again.

use callstats_tests::model::{RunOptions, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_scenarios_with_faults_match_the_oracle() {
    let options = RunOptions::from_env();
    let figures = run(options).await;
    eprintln!("{}", figures.summary());
    assert!(figures.scenarios > 0, "no scenario ran");
    assert!(
        figures.mismatches.is_empty(),
        "{} mismatches:\n{}",
        figures.mismatches.len(),
        figures.mismatches.join("\n")
    );
}

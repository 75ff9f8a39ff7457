//! The model-based randomized test. Random voice scenarios in several guilds, played
//! against the real sidecar program while it is restarted, killed (also at moments the driver
//! does not wait for), fed duplicates and replays, loses its gateway session, its guilds and
//! its store, and while the store answers with errors or slowly; afterwards the store must
//! equal the oracle (see `callstats_tests::model`).
//!
//! The suite plays the recorded seeds below, then one new seed, which it prints;
//! `scripts/model-test` runs it for as long as asked. Every scenario prints its seed;
//! `CALLSTATS_MODEL_SEED=<n>` plays it again (and only it).

use callstats_tests::model::{Bound, RunOptions, run};

/// Seeds the suite always plays: scenarios that once found a defect or exercise every kind
/// of fault (`docs/reliability.md`).
const RECORDED: [u64; 2] = [2, 1_796_667_162_422];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_scenarios_with_faults_match_the_oracle() {
    let options = RunOptions::from_env();
    let chosen = [
        "CALLSTATS_MODEL_SEED",
        "CALLSTATS_MODEL_MINUTES",
        "CALLSTATS_MODEL_SCENARIOS",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()));
    let mut runs = Vec::new();
    if chosen {
        runs.push(options);
    } else {
        for seed in RECORDED {
            runs.push(RunOptions {
                first_seed: seed,
                bound: Bound::Scenarios(1),
                ..options
            });
        }
        eprintln!("model: new seed {}", options.first_seed);
        runs.push(RunOptions {
            bound: Bound::Scenarios(1),
            ..options
        });
    }
    let mut mismatches = Vec::new();
    let mut scenarios = 0;
    for options in runs {
        let figures = run(options).await;
        eprintln!("{}", figures.summary());
        scenarios += figures.scenarios;
        mismatches.extend(figures.mismatches);
    }
    assert!(scenarios > 0, "no scenario ran");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

//! The model-based fault test with many privacy actions: deletions and opt-outs racing the
//! sidecar's ends, flag changes, spooled starts and ends replayed after a restart or a store
//! outage, and reconciliations (see `callstats_tests::model`). A fixed seed, so the same
//! races play every run; `CALLSTATS_MODEL_SEED` plays another.

use callstats_tests::model::run_scenario_with;

/// A privacy action at about one step in five.
const RATE: f64 = 0.2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_and_opt_outs_racing_the_sidecar_match_the_oracle() {
    let seed = std::env::var("CALLSTATS_MODEL_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(SEED);
    let report = run_scenario_with(seed, 60, RATE).await;
    eprintln!(
        "seed {seed}: privacy {:?}, faults {:?}, {} sessions checked, {} bounded partner entries, {:.1}s",
        report.privacy,
        report.faults,
        report.sessions_checked,
        report.bounded_partner_entries,
        report.took.as_secs_f64()
    );
    assert!(
        report.mismatches.is_empty(),
        "seed {seed}: {} mismatches:\n{}",
        report.mismatches.len(),
        report.mismatches.join("\n")
    );
    if seed == SEED {
        for kind in [
            "delete",
            "delete_racing",
            "opt_out",
            "opt_out_racing",
            "opt_in",
        ] {
            assert!(
                report.privacy.get(kind).copied().unwrap_or(0) > 0,
                "seed {seed} no longer plays a {kind}: {:?}",
                report.privacy
            );
        }
    }
}

const SEED: u64 = 1;

//! The model-based fault test with many privacy actions: deletions and opt-outs racing the
//! sidecar's ends, flag changes, spooled starts and ends replayed after a restart or a store
//! outage, and reconciliations (see `callstats_tests::model`). Fixed seeds, so the same races
//! play every run; `CALLSTATS_MODEL_SEED` plays another (and only it).

use callstats_tests::model::run_scenario_with;

/// A privacy action at about one step in five.
const RATE: f64 = 0.2;

/// Seed 1 plays every kind of privacy action; the others each found a defect
/// (`docs/reliability.md`, Seeds with privacy actions).
const RECORDED: [u64; 4] = [1, 6, 10, 13];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_and_opt_outs_racing_the_sidecar_match_the_oracle() {
    let chosen = std::env::var("CALLSTATS_MODEL_SEED")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let seeds: Vec<u64> = chosen.map_or_else(|| RECORDED.to_vec(), |seed| vec![seed]);
    let mut mismatches = Vec::new();
    for seed in seeds {
        let report = run_scenario_with(seed, 60, RATE).await;
        eprintln!(
            "seed {seed}: privacy {:?}, faults {:?}, {} sessions checked, {} bounded partner entries, {} mismatches, {:.1}s",
            report.privacy,
            report.faults,
            report.sessions_checked,
            report.bounded_partner_entries,
            report.mismatches.len(),
            report.took.as_secs_f64()
        );
        mismatches.extend(
            report
                .mismatches
                .iter()
                .map(|m| format!("seed {seed}: {m}")),
        );
        if seed == RECORDED[0] {
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
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

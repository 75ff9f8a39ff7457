//! The fuzz targets as property tests in the normal suite. The same bodies run under
//! libFuzzer with `scripts/fuzz` (coverage-guided, for as long as asked); here proptest feeds
//! them random and structured bytes for a bounded number of cases, so every CI run tries new
//! inputs. `PROPTEST_CASES` raises the count.

use callstats_tests::fuzz::{InteractionTarget, check_tracker};
use proptest::prelude::*;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(2000)))]

    /// Arbitrary dispatch sequences into the sidecar's tracker.
    #[test]
    fn the_tracker_survives_arbitrary_dispatch_sequences(data in proptest::collection::vec(any::<u8>(), 0..1200)) {
        check_tracker(&data);
    }
}

#[test]
fn the_interaction_handler_survives_arbitrary_requests() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let target = runtime.block_on(InteractionTarget::new());
    let config = ProptestConfig::with_cases(cases(600));
    let mut runner = proptest::test_runner::TestRunner::new(config);
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..600), |data| {
            runtime.block_on(target.check(&data));
            Ok(())
        })
        .unwrap_or_else(|err| panic!("{err}"));
}

//! Arbitrary gateway event sequences into the sidecar's tracker: never a panic, never a
//! negative or impossible duration, every session closed at most once.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    callstats_tests::fuzz::check_tracker(data);
});

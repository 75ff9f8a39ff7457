//! Headers and a body into the interactions handler (`App::handle`): never a panic, nothing
//! parsed before the signature is checked, signed input answered with 400 or a reply.
#![no_main]

use std::sync::LazyLock;

use callstats_tests::fuzz::InteractionTarget;
use libfuzzer_sys::fuzz_target;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
});

static TARGET: LazyLock<InteractionTarget> =
    LazyLock::new(|| RUNTIME.block_on(InteractionTarget::new()));

fuzz_target!(|data: &[u8]| {
    RUNTIME.block_on(TARGET.check(data));
});

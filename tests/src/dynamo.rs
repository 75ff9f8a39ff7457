//! A fresh, uniquely named table per test, so tests run in parallel and in any order.

use std::sync::atomic::{AtomicU32, Ordering};

use callstats_store::{Store, TableName, Timeouts};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The local server's endpoint. Tests need the server `scripts/test` starts.
///
/// # Panics
/// When `AWS_ENDPOINT_URL_DYNAMODB` is not set: run the tests with `scripts/test`.
#[must_use]
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        panic!("AWS_ENDPOINT_URL_DYNAMODB is not set: run the tests with scripts/test, which starts the local DynamoDB server")
    })
}

/// A table name no other test uses.
#[must_use]
pub fn unique_table_name(prefix: &str) -> TableName {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
        .parse()
        .expect("generated table names are valid")
}

/// A store on a new table, already created.
///
/// # Panics
/// When the local server is not running or refuses to create the table.
pub async fn fresh_store() -> Store {
    let _ = endpoint();
    let store = Store::connect(unique_table_name("t"), Timeouts::default()).await;
    store.create_table().await.expect("create test table");
    store
}

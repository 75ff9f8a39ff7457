//! The store in tests: a fresh, uniquely named table per test, so tests run in parallel and in
//! any order, and what the code under test wrote there read back.

use std::sync::atomic::{AtomicU32, Ordering};

use callstats_core::period::PeriodKey;
use callstats_core::session::PeriodTotals;
use callstats_core::{Aggregate, GuildId, UserId};
use callstats_store::{SessionRecord, Store, TableName, Timeouts};

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

/// A user's closed sessions in a guild, oldest first.
pub async fn sessions(store: &Store, user: UserId, guild: GuildId) -> Vec<SessionRecord> {
    let mut sessions = store
        .recent_sessions(user, guild, 1000)
        .await
        .expect("read sessions");
    sessions.reverse();
    sessions
}

/// Asserts that the store holds nothing at all about `user`.
pub async fn assert_nothing_stored(store: &Store, user: UserId) {
    let export = store.export_user(user).await.expect("export");
    assert!(
        export.guilds.is_empty(),
        "expected nothing about {user}, found {:?}",
        export.guilds
    );
}

/// A user's all-time aggregate in a guild, which must exist.
pub async fn all_time(store: &Store, user: UserId, guild: GuildId) -> Aggregate {
    store
        .all_time(user, guild)
        .await
        .expect("read the all-time aggregate")
        .expect("an all-time aggregate")
}

/// A user's totals of one period in a guild, which must exist, and whether they are on its
/// leaderboards.
pub async fn period_totals(
    store: &Store,
    user: UserId,
    guild: GuildId,
    period: PeriodKey,
) -> (PeriodTotals, bool) {
    store
        .period_totals(user, guild, period)
        .await
        .expect("read the period")
        .expect("the period's totals")
}

//! The store in tests: a fresh, uniquely named table per test, so tests run in parallel and in
//! any order, and what the code under test wrote there read back.

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::Datelike as _;

use callstats_core::board::Column;
use callstats_core::member::{AllTime, DayRecord};
use callstats_core::period::{Day, PeriodKey};
use callstats_core::session::SessionRecord;
use callstats_core::window::{LocalWindow, window_figures};
use callstats_core::{GuildId, UserId};
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

/// A user's closed sessions in a guild, oldest first.
pub async fn sessions(store: &Store, user: UserId, guild: GuildId) -> Vec<SessionRecord> {
    let mut sessions = store
        .recent_sessions(user, guild, usize::MAX)
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

/// A user's all-time record in a guild, which must exist.
pub async fn all_time(store: &Store, user: UserId, guild: GuildId) -> AllTime {
    store
        .member_view(user, guild)
        .await
        .expect("read the all-time record")
        .all_time
        .expect("an all-time record")
        .all
}

/// What a user has in one period in a guild (the server's timezone, from the store's day
/// records): total, active and started sessions; the ranked seconds when the period is the
/// member's current week or month (the store keeps ranked seconds only for those), and whether
/// the member is listed on the server's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeriodFigures {
    pub total: u64,
    pub active: u64,
    pub ranked: Option<u64>,
    pub sessions: u64,
    pub listed: bool,
}

/// A user's figures for `period` in a guild, which must have some.
pub async fn period_totals(
    store: &Store,
    user: UserId,
    guild: GuildId,
    period: PeriodKey,
) -> PeriodFigures {
    let view = store
        .member_view(user, guild)
        .await
        .expect("read the member");
    let tz = view.guild.config.timezone;
    let item = view.all_time.expect("an all-time record");
    let all = &item.all;
    let dates: Vec<chrono::NaiveDate> = match period {
        PeriodKey::All => panic!("all time is all_time()"),
        PeriodKey::Week(w) => {
            let monday =
                chrono::NaiveDate::from_isoywd_opt(w.year(), w.week(), chrono::Weekday::Mon)
                    .expect("a week");
            monday.iter_days().take(7).collect()
        }
        PeriodKey::Month(m) => {
            let first = chrono::NaiveDate::from_ymd_opt(m.year(), m.month(), 1).expect("a month");
            first
                .iter_days()
                .take_while(|d| d.month() == m.month())
                .collect()
        }
    };
    let window = LocalWindow {
        first: dates[0],
        last: *dates.last().expect("days"),
        tz,
    };
    let days: Vec<(Day, DayRecord)> = store
        .all_days(user, guild)
        .await
        .expect("read days")
        .into_iter()
        .map(|(d, i)| (d, i.record))
        .collect();
    let f = window_figures(&window, &days, None);
    let ranked = match period {
        PeriodKey::Week(w) => all.week.filter(|f| f.key == w).map(|f| f.ranked),
        PeriodKey::Month(m) => all.month.filter(|f| f.key == m).map(|f| f.ranked),
        PeriodKey::All => None,
    };
    PeriodFigures {
        total: f.stats.total,
        active: f.stats.active,
        ranked,
        sessions: f.stats.sessions,
        listed: item.listed,
    }
}

/// A server's leaderboard of `column` as stored (calls in progress not counted).
pub async fn board(store: &Store, guild: GuildId, column: Column) -> Vec<(UserId, u64)> {
    let server = store.guild(guild).await.expect("read the server");
    server
        .board
        .standings(column, &std::collections::BTreeMap::new())
        .lines
        .into_iter()
        .map(|l| (l.user, l.secs))
        .collect()
}

/// Puts a user item this program never writes (an open session with a session id that is not
/// one) in `guild`: the store refuses every start of `user` there for good, so the sidecar
/// dead-letters it.
pub async fn plant_unreadable_open_session(store: &Store, user: UserId, guild: GuildId) {
    use aws_sdk_dynamodb::types::AttributeValue;
    store
        .client()
        .put_item()
        .table_name(store.table().as_str())
        .item("pk", AttributeValue::S(format!("U#{user}")))
        .item("sk", AttributeValue::S("USER".into()))
        .item(
            "o",
            AttributeValue::M(
                [
                    ("og".to_owned(), AttributeValue::S(guild.to_string())),
                    (
                        "sid".to_owned(),
                        AttributeValue::S("not a session id".into()),
                    ),
                ]
                .into(),
            ),
        )
        .send()
        .await
        .expect("put the unreadable item");
}

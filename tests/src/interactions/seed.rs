//! Seeding over the store's own session writes, big histories written fast, and a local
//! DynamoDB server of one's own for the tests that need them.

use std::time::Duration;

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use callstats_core::member::{DayRecord, apply_end, days_touched};
use callstats_core::period::Day;
use callstats_core::{
    ClosedSession, Flags, GuildConfig, OpenSession, RankingRule, SessionId, Timestamp,
};
use callstats_store::{BoardUpdate, EndOutcome, StartOutcome, Store, Timeouts};
use chrono_tz::Tz;
use twilight_model::id::Id;

use super::CHANNEL;

/// Opens a session for seeding.
#[must_use]
pub fn open(user: u64, guild: u64, channel: u64, start: Timestamp, flags: Flags) -> OpenSession {
    OpenSession::new(
        SessionId::new(start, (user % 1_000_000) as u32),
        Id::new(user),
        Id::new(guild),
        Id::new(channel),
        flags,
    )
}

/// Starts a call of `user` in `guild` (channel [`CHANNEL`]) through the store's own write, as
/// the sidecar does when a member joins; the call stays in progress.
pub async fn seed_open(
    store: &Store,
    user: u64,
    guild: u64,
    start: Timestamp,
    flags: Flags,
) -> OpenSession {
    let session = open(user, guild, CHANNEL, start, flags);
    assert_eq!(
        store
            .start_session(&session, RankingRule::default())
            .await
            .expect("start"),
        StartOutcome::Started
    );
    session
}

/// Ends a seeded session through the store's own write and flushes the server's leaderboard
/// with the new figures, as the sidecar does; returns the outcome.
pub async fn seed_end(store: &Store, closed: &ClosedSession, config: &GuildConfig) -> EndOutcome {
    let outcome = store.end_session(closed, config).await.expect("end");
    if let EndOutcome::Ended(totals) = outcome {
        store
            .flush_board(
                closed.guild,
                &[BoardUpdate {
                    user: closed.user,
                    totals,
                    as_of: closed.end,
                }],
                &[],
                None,
                closed.end,
            )
            .await
            .expect("flush the leaderboard");
    }
    outcome
}

/// Records a session through the store's own writes: start, flag changes at the given
/// offsets, end after `secs` (UTC guild config, on leaderboards).
pub async fn seed(
    store: &Store,
    user: u64,
    guild: u64,
    start: Timestamp,
    secs: u64,
    changes: &[(u64, Flags)],
) -> ClosedSession {
    let mut s = seed_open(store, user, guild, start, Flags::NONE).await;
    for (offset, flags) in changes {
        s.set_flags(start.plus(*offset), *flags, Tz::UTC);
    }
    let closed = s.close(start.plus(secs), Tz::UTC, false);
    assert!(matches!(
        seed_end(store, &closed, &GuildConfig::default()).await,
        EndOutcome::Ended(_)
    ));
    closed
}

/// Another handle on `store`'s table (same server) whose calls may take minutes: the local
/// server answers a query of a 10,000-item partition in one page, after some seconds.
#[must_use]
pub fn patient(store: &Store) -> Store {
    let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_mins(5))
        .operation_timeout(Duration::from_mins(5))
        .build();
    let config = store
        .client()
        .config()
        .to_builder()
        .timeout_config(timeouts)
        .build();
    Store::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        store.table().clone(),
    )
}

/// A local DynamoDB server of one's own, for tests whose big partitions would hold up the
/// shared server (it answers one request at a time) for seconds. Stopped when dropped.
#[derive(Debug)]
pub struct PrivateDynamo {
    pub endpoint: String,
    _server: tokio::process::Child,
    _dir: TempDir,
}

#[derive(Debug)]
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl PrivateDynamo {
    pub async fn start() -> Self {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace root")
            .to_owned();
        let status = tokio::process::Command::new(root.join("scripts/ensure-venv"))
            .status()
            .await
            .expect("scripts/ensure-venv runs");
        assert!(status.success(), "scripts/ensure-venv failed");
        let dir = std::env::temp_dir().join(format!(
            "callstats-private-dynamo-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let port_file = dir.join("endpoint");
        let server = tokio::process::Command::new(root.join(".local/venv/bin/python"))
            .arg(root.join("scripts/moto_dynamodb.py"))
            .arg("--port-file")
            .arg(&port_file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the local DynamoDB server starts");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let endpoint = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && !text.trim().is_empty()
            {
                break text.trim().to_owned();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the private DynamoDB server did not start within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        Self {
            endpoint,
            _server: server,
            _dir: TempDir(dir),
        }
    }

    /// A store on a new table of this server, with patient timeouts.
    pub async fn fresh_store(&self) -> Store {
        let store = Store::connect_with_endpoint(
            crate::dynamo::unique_table_name("big"),
            Timeouts::default(),
            &self.endpoint,
        )
        .await;
        store.create_table().await.expect("create the table");
        patient(&store)
    }
}

/// The sort keys of every item in `user`'s partition (the layout is in the store's `schema`:
/// one partition `U#<user>` per user).
pub async fn partition_keys(store: &Store, user: u64) -> Vec<String> {
    let store = &patient(store);
    let mut keys = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client()
            .query()
            .table_name(store.table().as_str())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("U#{user}")))
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("query a partition");
        keys.extend(
            out.items()
                .iter()
                .map(|i| i["sk"].as_s().expect("sk is a string").clone()),
        );
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return keys,
        }
    }
}

/// Seeds `count` sessions of `user` in `guild` quickly: one real session through the store,
/// then `count - 1` more, an hour apart and a minute long, added to the member's records by the
/// core's own arithmetic and written 25 items at a time (40,000 transactional calls to the
/// single-threaded local server would take minutes). Enough for tests of history, export and
/// deletion of a long history.
pub async fn seed_many(store: &Store, user: u64, guild: u64, first: Timestamp, count: u64) {
    // Boxed: the records it builds make a large future.
    Box::pin(seed_many_records(store, user, guild, first, count)).await;
}

async fn seed_many_records(store: &Store, user: u64, guild: u64, first: Timestamp, count: u64) {
    let store = &patient(store);
    seed(store, user, guild, first, 60, &[]).await;
    let view = store
        .member_view(Id::new(user), Id::new(guild))
        .await
        .expect("read the member");
    let mut all = view.all_time.expect("the first session's record").all;
    let mut days: BTreeMap<Day, DayRecord> = store
        .all_days(Id::new(user), Id::new(guild))
        .await
        .expect("read days")
        .into_iter()
        .map(|(d, i)| (d, i.record))
        .collect();
    for i in 1..count {
        let start = first.plus(i * 3600);
        let closed =
            open(user, guild, CHANNEL, start, Flags::NONE).close(start.plus(60), Tz::UTC, false);
        for d in days_touched(&closed) {
            days.entry(d).or_default();
        }
        apply_end(
            &mut all,
            &mut days,
            &closed,
            RankingRule::default(),
            Tz::UTC,
            Tz::UTC,
        );
    }
    let days: Vec<(Day, DayRecord)> = days.into_iter().collect();
    store
        .put_records(Id::new(user), Id::new(guild), &all, &days)
        .await
        .expect("write the records");
}

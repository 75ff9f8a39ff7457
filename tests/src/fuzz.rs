//! The bodies of the fuzz targets, shared by the libFuzzer targets in `tests/fuzz/`
//! (`scripts/fuzz`) and the proptest targets of the normal suite (`tests/tests/model_fuzz.rs`).
//!
//! Each takes arbitrary bytes, turns them into an input the program could meet, runs the real
//! code, and panics when a property breaks:
//!
//! - [`InteractionTarget`]: headers and a body into the real handler, [`App::handle`]. Never a
//!   panic, never a 5xx. Whatever is not signed by the application's key, or is signed for
//!   another body or too long ago, gets 401 and the store is never contacted (nothing is
//!   parsed before the signature is checked). A validly signed body, arbitrary or a recorded
//!   interaction with fields replaced by fuzzed values (options, `custom_id`s, ids, types),
//!   gets 400 or a 200 with a well-formed interaction response. The store is a listener that
//!   drops every connection (so command paths end in their failure replies, quickly, and the
//!   test can count connections); follow-up edits go to another such listener.
//! - [`check_tracker`]: an arbitrary sequence of gateway-level events (guild creates with
//!   voice states, voice updates, AFK changes, outages, removals, lost sessions, store answers,
//!   configuration changes, snapshots and restores, clock steps back) into the sidecar's pure
//!   tracker, plus raw JSON voice states through the gateway's own conversion. Never a panic;
//!   every session started at most once and ended at most once, never two open sessions of a
//!   member in a guild, no end before its start, and every breakdown within its duration.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use callstats_core::{
    ChannelId, ClosedSession, Flags, GuildConfig, GuildId, OpenSession, RankingRule, SessionId,
    Timestamp, UserId,
};
use callstats_devkit::Answer;
use callstats_devkit::sign::signature;
use callstats_interactions::App;
use callstats_interactions::config::ApiBase;
use callstats_sidecar::Tracker;
use callstats_sidecar::tracker::{GuildCreated, GuildSeed, SessionWrite, VoiceChange, VoiceMember};
use callstats_store::Store;
use callstats_store::{TableName, Timeouts};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use twilight_model::id::Id;

use crate::interactions::{Interaction, signing_key};

/// Reads fuzz bytes front to back; past the end, every read is zero.
#[derive(Debug)]
pub struct Bytes2<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Bytes2<'a> {
    #[must_use]
    pub const fn new(data: &'a [u8]) -> Self {
        Self { data, at: 0 }
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    pub fn below(&mut self, n: u8) -> u8 {
        self.byte() % n.max(1)
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }

    /// Up to `max` bytes.
    pub fn take(&mut self, max: usize) -> &'a [u8] {
        let n = usize::from(self.byte()).min(max);
        let start = self.at.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.at = start + n;
        &self.data[start..end]
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let start = self.at.min(self.data.len());
        self.at = self.data.len();
        &self.data[start..]
    }

    #[must_use]
    pub fn done(&self) -> bool {
        self.at >= self.data.len()
    }
}

// ---- the interaction request path -------------------------------------------------------------

/// A listener that accepts connections, counts them and drops them at once.
async fn dropping_listener() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a dropping listener");
    let addr = listener.local_addr().expect("listener address");
    let count = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (format!("127.0.0.1:{}", addr.port()), count)
}

/// The interaction handler with an unreachable, counting store.
pub struct InteractionTarget {
    app: App,
    key: SigningKey,
    now: Timestamp,
    store_connections: Arc<AtomicU64>,
}

impl std::fmt::Debug for InteractionTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InteractionTarget").finish_non_exhaustive()
    }
}

/// Templates of real interactions to mutate.
fn templates() -> Vec<Value> {
    let none = json!([]);
    vec![
        Interaction::ping().0,
        Interaction::callstats("show", none.clone()).0,
        Interaction::callstats(
            "show",
            json!([{"name": "user", "type": 6, "value": "1180000000000000301"}]),
        )
        .resolve(1_180_000_000_000_000_301, "Bob", false)
        .0,
        Interaction::callstats("history", none.clone()).0,
        Interaction::callstats(
            "timezone",
            json!([{"name": "zone", "type": 3, "value": "Europe/Berlin"}]),
        )
        .0,
        Interaction::callstats("optout", none.clone()).0,
        Interaction::callstats("optin", none.clone()).0,
        Interaction::callstats("export", none.clone()).0,
        Interaction::callstats("delete", none.clone()).0,
        Interaction::command(
            "calltop",
            json!([{"name": "period", "type": 3, "value": "week"}]),
        )
        .0,
        Interaction::command("callconfig", none)
            .with_permissions(1 << 5)
            .0,
        Interaction::user_menu(1_180_000_000_000_000_301, "Bob").0,
        Interaction::autocomplete("callstats", Some("timezone"), "zone", "eur").0,
        Interaction::button("top1:1180000000000000300:all:r:2").0,
        Interaction::button("del1:1180000000000000300:yes").0,
    ]
}

/// A fuzzed JSON value: strings from the input, numbers, ids, odd shapes.
fn fuzz_value(b: &mut Bytes2<'_>) -> Value {
    match b.below(9) {
        0 => Value::Null,
        1 => json!(b.byte().is_multiple_of(2)),
        2 => json!(b.u64()),
        3 => json!(i64::from(b.u16()) - 40_000),
        4 => json!(b.u64().to_string()),
        5 => json!(String::from_utf8_lossy(b.take(120))),
        6 => json!([fuzz_value(b)]),
        7 => {
            json!({"name": String::from_utf8_lossy(b.take(16)), "type": b.below(12), "value": fuzz_value(b)})
        }
        _ => json!(f64::from(b.u16()) / 7.0),
    }
}

/// Replaces the value at a path the input picks (object keys and array elements).
fn mutate(value: &mut Value, b: &mut Bytes2<'_>, depth: u8) {
    if depth > 6 || b.below(4) == 0 {
        *value = fuzz_value(b);
        return;
    }
    match value {
        Value::Object(map) if !map.is_empty() => {
            let i = usize::from(b.byte()) % map.len();
            if let Some(key) = map.keys().nth(i).cloned()
                && let Some(v) = map.get_mut(&key)
            {
                mutate(v, b, depth + 1);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = usize::from(b.byte()) % items.len();
            mutate(&mut items[i], b, depth + 1);
        }
        other => *other = fuzz_value(b),
    }
}

impl InteractionTarget {
    /// A handler whose store and Discord API are listeners that drop every connection.
    pub async fn new() -> Self {
        let (store_addr, store_connections) = dropping_listener().await;
        let (rest_addr, _) = dropping_listener().await;
        let table: TableName = "fuzz".parse().expect("a valid table name");
        let timeouts = Timeouts {
            connect: Duration::from_millis(200),
            attempt: Duration::from_millis(300),
            operation: Duration::from_millis(500),
        };
        let base =
            Store::connect_with_endpoint(table.clone(), timeouts, &format!("http://{store_addr}"))
                .await;
        let conf = base
            .client()
            .config()
            .to_builder()
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build();
        let store = Store::new(aws_sdk_dynamodb::Client::from_conf(conf), table);
        let now = Timestamp::new(1_795_000_000).expect("in range");
        let key = signing_key();
        let api = ApiBase::parse(&format!("http://{rest_addr}/api/v10")).expect("api base");
        let app = App::builder(store, key.verifying_key())
            .clock(Arc::new(callstats_runtime::ManualClock::new(now)))
            .api_base(api)
            .deadline(Duration::from_secs(2))
            .build();
        Self {
            app,
            key,
            now,
            store_connections,
        }
    }

    async fn send(&self, headers: &[(Vec<u8>, Vec<u8>)], body: Vec<u8>) -> http::Response<Bytes> {
        let mut request = http::Request::builder().method(http::Method::POST).uri("/");
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name),
                http::HeaderValue::from_bytes(value),
            ) {
                request = request.header(name, value);
            }
        }
        let request = request
            .body(Bytes::from(body))
            .expect("a request from valid parts");
        self.app.handle(request).await
    }

    fn signed(&self, timestamp: &str, body: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        vec![
            (
                b"x-signature-ed25519".to_vec(),
                signature(&self.key, timestamp, body).into_bytes(),
            ),
            (
                b"x-signature-timestamp".to_vec(),
                timestamp.as_bytes().to_vec(),
            ),
        ]
    }

    /// One fuzz input; panics when a property breaks.
    pub async fn check(&self, data: &[u8]) {
        let mut b = Bytes2::new(data);
        let now = self.now.unix().to_string();
        match b.below(5) {
            // Arbitrary headers (sometimes named like the signature ones) and body.
            0 => {
                let mut headers = Vec::new();
                for _ in 0..b.below(5) {
                    let name = match b.below(4) {
                        0 => b"x-signature-ed25519".to_vec(),
                        1 => b"x-signature-timestamp".to_vec(),
                        _ => b.take(24).to_vec(),
                    };
                    headers.push((name, b.take(140).to_vec()));
                }
                let body = b.rest().to_vec();
                self.expect_refused(&headers, body, "arbitrary headers")
                    .await;
            }
            // A recorded interaction, well formed, with a signature that is not for it.
            1 => {
                let template = &templates()[usize::from(b.byte()) % templates().len()];
                let body = template.to_string().into_bytes();
                let (headers, body) = match b.below(4) {
                    // Signed for another body.
                    0 => {
                        let mut other = body.clone();
                        other.push(b' ');
                        (self.signed(&now, &other), body)
                    }
                    // Signed too long ago, or too far ahead.
                    1 => {
                        let skew = 301 + u64::from(b.u16());
                        let at = if b.byte().is_multiple_of(2) {
                            self.now.minus(skew)
                        } else {
                            self.now.plus(skew)
                        };
                        (self.signed(&at.unix().to_string(), &body), body)
                    }
                    // One byte of the signature changed.
                    2 => {
                        let mut headers = self.signed(&now, &body);
                        let sig = &mut headers[0].1;
                        let i = usize::from(b.byte()) % sig.len();
                        sig[i] = if sig[i] == b'0' { b'1' } else { b'0' };
                        (headers, body)
                    }
                    // Signed by another key.
                    _ => {
                        // Never the application's key ([7; 32] in tests).
                        let other = SigningKey::from_bytes(&[b.byte() | 0x80; 32]);
                        let headers = vec![
                            (
                                b"x-signature-ed25519".to_vec(),
                                signature(&other, &now, &body).into_bytes(),
                            ),
                            (b"x-signature-timestamp".to_vec(), now.as_bytes().to_vec()),
                        ];
                        (headers, body)
                    }
                };
                self.expect_refused(&headers, body, "a signature not for this request")
                    .await;
            }
            // Validly signed arbitrary bytes.
            2 => {
                let body = b.rest().to_vec();
                let headers = self.signed(&now, &body);
                self.expect_answered(&headers, body).await;
            }
            // Validly signed recorded interactions with fuzzed fields.
            _ => {
                let mut value = templates()[usize::from(b.byte()) % templates().len()].clone();
                for _ in 0..=b.below(4) {
                    mutate(&mut value, &mut b, 0);
                }
                let body = value.to_string().into_bytes();
                let headers = self.signed(&now, &body);
                self.expect_answered(&headers, body).await;
            }
        }
    }

    async fn expect_refused(&self, headers: &[(Vec<u8>, Vec<u8>)], body: Vec<u8>, what: &str) {
        let before = self.store_connections.load(Ordering::SeqCst);
        let response = self.send(headers, body).await;
        assert_eq!(
            response.status(),
            http::StatusCode::UNAUTHORIZED,
            "{what}: expected 401"
        );
        assert_eq!(
            self.store_connections.load(Ordering::SeqCst),
            before,
            "{what}: the store was contacted before the signature was checked"
        );
    }

    async fn expect_answered(&self, headers: &[(Vec<u8>, Vec<u8>)], body: Vec<u8>) {
        let response = self.send(headers, body).await;
        let status = response.status();
        assert!(
            status == http::StatusCode::OK || status == http::StatusCode::BAD_REQUEST,
            "a signed request got {status}"
        );
        if status == http::StatusCode::OK {
            let json = Answer::from_response(response).json();
            let kind = json["type"].as_u64().expect("a reply has a type");
            assert!(
                matches!(kind, 1 | 4 | 5 | 6 | 7 | 8 | 9),
                "reply type {kind}"
            );
            if let Some(mentions) = json["data"].get("allowed_mentions") {
                assert_eq!(mentions["parse"], json!([]), "replies mention no one");
            }
        }
    }
}

// ---- the sidecar's event handling -------------------------------------------------------------

const GUILDS: u8 = 3;
const USERS: u8 = 6;
const CHANNELS: u8 = 4;

fn f_guild(n: u8) -> GuildId {
    Id::new((u64::from(n % GUILDS) + 1) << 22)
}

fn f_user(n: u8) -> UserId {
    Id::new(u64::from(n % USERS) + 1)
}

fn f_channel(n: u8) -> ChannelId {
    Id::new(u64::from(n % CHANNELS) + 100)
}

/// Checks the writes of one tracker step.
#[derive(Debug, Default)]
struct Ledger {
    started: BTreeSet<SessionId>,
    ended: BTreeSet<SessionId>,
    /// Open sessions as the writes say, by member: what a store would hold.
    open: BTreeMap<(UserId, GuildId), OpenSession>,
    latest: i64,
}

impl Ledger {
    fn check(&mut self, writes: &[SessionWrite]) {
        for write in writes {
            match write {
                SessionWrite::Start { session, .. } => {
                    assert!(
                        self.started.insert(session.id),
                        "{} started twice",
                        session.id
                    );
                    assert_eq!(session.seg_start, session.start(), "a start has no past");
                    assert_eq!(session.breakdown, callstats_core::Breakdown::default());
                    assert!(session.cells.is_empty());
                    let key = (session.user, session.guild);
                    assert!(
                        !self.open.contains_key(&key),
                        "two open sessions of {} in {}",
                        session.user,
                        session.guild
                    );
                    self.open.insert(key, session.clone());
                }
                SessionWrite::Update { session, .. } => {
                    assert!(!self.ended.contains(&session.id), "update after end");
                    assert!(session.seg_start >= session.start());
                    check_accounted(
                        &session.breakdown,
                        &session.cells,
                        session.start().secs_until(session.seg_start),
                    );
                    let key = (session.user, session.guild);
                    if let Some(open) = self.open.get(&key) {
                        assert_eq!(open.id, session.id, "an update of a session not open");
                    }
                    self.open.insert(key, session.clone());
                }
                SessionWrite::End { session, .. } => {
                    assert!(self.ended.insert(session.id), "{} ended twice", session.id);
                    check_closed(session, self.latest);
                    let key = (session.user, session.guild);
                    if self.open.get(&key).is_some_and(|o| o.id == session.id) {
                        self.open.remove(&key);
                    }
                }
            }
        }
    }
}

fn check_accounted(
    totals: &callstats_core::Breakdown,
    cells: &[callstats_core::session::CellSecs],
    duration: u64,
) {
    for (name, secs) in [
        ("muted", totals.muted),
        ("deafened", totals.deafened),
        ("streaming", totals.streaming),
        ("video", totals.video),
        ("alone", totals.alone),
        ("active", totals.active),
    ] {
        assert!(
            secs <= duration,
            "{name} {secs} s in a {duration} s session"
        );
    }
    let in_cells: u64 = cells.iter().map(|c| c.secs.total()).sum();
    assert_eq!(in_cells, duration, "period cells cover the session exactly");
    let active: u64 = cells.iter().map(|c| c.secs.active()).sum();
    assert_eq!(active, totals.active, "active time agrees");
}

fn check_closed(session: &ClosedSession, latest: i64) {
    assert!(
        session.end >= session.start(),
        "session {} ends before it starts",
        session.id
    );
    assert!(session.end.unix() <= latest.max(session.start().unix()));
    check_accounted(&session.breakdown, &session.cells, session.duration());
    let days: u64 = session.day_totals().iter().map(|d| d.1.total).sum();
    assert_eq!(days, session.duration());
}

/// One fuzz input of gateway events for the tracker; panics when a property breaks.
#[allow(clippy::too_many_lines)] // one arm per kind of event
pub fn check_tracker(data: &[u8]) {
    let mut b = Bytes2::new(data);
    let mut tracker = Tracker::new(u32::from(b.u16()));
    let mut ledger = Ledger::default();
    let mut now: i64 = 1_795_000_000;
    let max_gap = u64::from(b.u16() % 600);
    let mut waiting: BTreeMap<GuildId, u64> = BTreeMap::new();
    let mut steps = 0;
    while !b.done() && steps < 400 {
        steps += 1;
        // Time moves on mostly; now and then the clock steps back.
        now = match b.below(8) {
            0 => now - i64::from(b.below(90)),
            1 => now,
            2 => now + i64::from(b.u16()) * 3,
            _ => now + i64::from(b.below(200)),
        };
        ledger.latest = ledger.latest.max(now);
        let at = Timestamp::new(now).expect("in range");
        let writes = match b.below(13) {
            0 | 1 => {
                let guild = f_guild(b.byte());
                let afk = (b.byte().is_multiple_of(2)).then(|| f_channel(b.byte()));
                let voice = (0..b.below(5))
                    .map(|_| VoiceMember {
                        user: f_user(b.byte()),
                        channel: f_channel(b.byte()),
                        bot: b.below(6) == 0,
                        flags: Flags::from_bits(b.byte() & 0b1_1111).unwrap_or(Flags::NONE),
                    })
                    .collect();
                match tracker.guild_create(GuildSeed { guild, afk, voice }, at, max_gap) {
                    GuildCreated::Writes(w) => w,
                    GuildCreated::NeedsStore { generation } => {
                        waiting.insert(guild, generation);
                        Vec::new()
                    }
                }
            }
            2 => {
                // The store answers for a waiting guild, with what the writes left open
                // (or, now and then, a stale generation).
                let guild = f_guild(b.byte());
                let generation =
                    waiting.get(&guild).copied().unwrap_or(0) + u64::from(b.below(3) == 0);
                let open: Vec<OpenSession> = ledger
                    .open
                    .values()
                    .filter(|s| s.guild == guild)
                    .cloned()
                    .collect();
                let config = GuildConfig {
                    rule: RankingRule {
                        exclude_deafened: b.byte().is_multiple_of(2),
                        exclude_alone: b.byte().is_multiple_of(2),
                    },
                    timezone: [
                        chrono_tz::UTC,
                        chrono_tz::Asia::Kathmandu,
                        chrono_tz::America::New_York,
                    ][usize::from(b.below(3))],
                };
                let last_seen = (!b.byte().is_multiple_of(4))
                    .then(|| Timestamp::new(now - i64::from(b.u16())).unwrap_or(Timestamp::EPOCH));
                tracker.store_reconciled(guild, generation, open, config, last_seen, max_gap)
            }
            3..=7 => {
                let change = VoiceChange {
                    guild: f_guild(b.byte()),
                    user: f_user(b.byte()),
                    channel: (b.below(5) != 0).then(|| f_channel(b.byte())),
                    bot: b.below(8) == 0,
                    flags: Flags::from_bits(b.byte() & 0b1_1111).unwrap_or(Flags::NONE),
                };
                tracker.voice_update(change, at)
            }
            8 => {
                let guild = f_guild(b.byte());
                let afk = (b.byte().is_multiple_of(2)).then(|| f_channel(b.byte()));
                tracker.afk_changed(guild, afk, at)
            }
            9 => {
                tracker.guild_unavailable(f_guild(b.byte()), at);
                Vec::new()
            }
            10 => match b.below(3) {
                0 => tracker.guild_removed(f_guild(b.byte()), at),
                1 => {
                    tracker.freeze_all(at);
                    Vec::new()
                }
                _ => {
                    let listed: BTreeSet<GuildId> =
                        (0..b.below(4)).map(|_| f_guild(b.byte())).collect();
                    tracker.retain_guilds(&listed, at)
                }
            },
            11 => {
                // A snapshot survives a restart (resumed or not).
                let snapshot = tracker.snapshot();
                let json = serde_json::to_vec(&snapshot).expect("a snapshot serialises");
                let back = serde_json::from_slice(&json).expect("a snapshot reads back");
                let frozen = (b.byte().is_multiple_of(2)).then_some(at);
                tracker = Tracker::restore(back, |_| true, frozen)
                    .expect("a tracker's own snapshot restores");
                waiting.clear();
                Vec::new()
            }
            _ => {
                // A raw voice state through the gateway's conversion.
                let raw = b.take(200);
                if let Ok(state) = serde_json::from_slice::<twilight_model::voice::VoiceState>(raw)
                    && let Some(change) = callstats_sidecar::gateway::change_of(&state)
                {
                    tracker.voice_update(change, at)
                } else {
                    let guild = f_guild(b.byte());
                    tracker.set_config(guild, GuildConfig::default());
                    Vec::new()
                }
            }
        };
        ledger.check(&writes);
        assert!(tracker.open_sessions() <= usize::from(GUILDS) * usize::from(USERS));
    }
}

//! Signed interactions for the endpoint's tests.
//!
//! - a test key (`[7; 32]`) and signing;
//! - [`Interaction`]: recorded Discord payloads (`tests/fixtures/interactions/`) with the
//!   parts a test cares about changed;
//! - [`Endpoint`]: the handler in process on a fresh table with a fixed clock, fed through
//!   a recorded Lambda Function URL event exactly as Lambda would deliver it;
//! - [`Answer`]: a reply, checked against Discord's limits on the way in;
//! - [`FakeDiscord`]: a REST server that records what the endpoint sends Discord;
//! - [`LambdaRuntime`]: an emulated Lambda Runtime API (and asynchronous Invoke), for the
//!   Lambda front end run in a child process;
//! - [`serve_on_port_0`] and [`post`]: the `serve` front end over real HTTP;
//! - seeding helpers over the store's own session writes.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use bytes::Bytes;
use callstats_core::{ClosedSession, Flags, GuildConfig, OpenSession, SessionId, Timestamp};
use callstats_interactions::config::ApiBase;
use callstats_interactions::limits;
use callstats_interactions::{App, Message};
use callstats_store::Store;
use callstats_store::{EndOutcome, StartOutcome, Timeouts};
use chrono_tz::Tz;
use ed25519_dalek::{Signer, SigningKey};
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use twilight_model::http::interaction::InteractionResponse;
use twilight_model::id::Id;

pub const APPLICATION: u64 = 1_180_000_000_000_000_001;
pub const GUILD: u64 = 1_180_000_000_000_000_100;
pub const OTHER_GUILD: u64 = 1_180_000_000_000_000_101;
pub const CHANNEL: u64 = 1_180_000_000_000_000_200;
pub const ADA: u64 = 1_180_000_000_000_000_300;
pub const BOB: u64 = 1_180_000_000_000_000_301;

const EVENT: &str = include_str!("../fixtures/interactions/function-url-event.json");
const PING: &str = include_str!("../fixtures/interactions/ping.json");
const COMMAND: &str = include_str!("../fixtures/interactions/command.json");
const COMPONENT: &str = include_str!("../fixtures/interactions/component.json");

/// The application's key pair in tests.
#[must_use]
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// The public key as `DISCORD_PUBLIC_KEY` takes it.
#[must_use]
pub fn public_key_hex() -> String {
    hex::encode(signing_key().verifying_key().to_bytes())
}

/// The `X-Signature-Ed25519` value for `timestamp` and `body` under `key`.
#[must_use]
pub fn sign_with(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(body);
    hex::encode(key.sign(&message).to_bytes())
}

/// Signature headers for `body` signed at `at` with the test key.
#[must_use]
pub fn signed_headers(at: Timestamp, body: &[u8]) -> Vec<(String, String)> {
    let ts = at.unix().to_string();
    vec![
        (
            "x-signature-ed25519".into(),
            sign_with(&signing_key(), &ts, body),
        ),
        ("x-signature-timestamp".into(), ts),
    ]
}

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("fixtures are JSON")
}

/// An interaction payload, from a recorded fixture.
#[derive(Clone, Debug)]
pub struct Interaction(pub Value);

impl Interaction {
    #[must_use]
    pub fn ping() -> Self {
        Self(fixture(PING))
    }

    /// `/callstats <sub>` with `options` (a JSON array of `{name, type, value}`).
    #[must_use]
    #[allow(clippy::needless_pass_by_value)] // reads better with json!(..) at the call
    pub fn callstats(sub: &str, options: Value) -> Self {
        Self::command(
            "callstats",
            json!([{"name": sub, "type": 1, "options": options}]),
        )
    }

    /// A slash command with top-level `options`.
    #[must_use]
    pub fn command(name: &str, options: Value) -> Self {
        let mut v = fixture(COMMAND);
        v["data"]["name"] = json!(name);
        v["data"]["options"] = options;
        Self(v)
    }

    /// The user context-menu command on `target`.
    #[must_use]
    pub fn user_menu(target: u64, name: &str) -> Self {
        let mut v = fixture(COMMAND);
        v["data"] = json!({
            "id": "1180000000000000901",
            "name": "Call stats",
            "type": 2,
            "target_id": target.to_string(),
        });
        Self(v).resolve(target, name, false)
    }

    /// An autocomplete request for `/callstats <sub>` with the focused option `name`.
    #[must_use]
    pub fn autocomplete(command: &str, sub: Option<&str>, option: &str, typed: &str) -> Self {
        let focused = json!([{"name": option, "type": 3, "value": typed, "focused": true}]);
        let options = match sub {
            Some(sub) => json!([{"name": sub, "type": 1, "options": focused}]),
            None => focused,
        };
        let mut i = Self::command(command, options);
        i.0["type"] = json!(4);
        i
    }

    /// A button press with `custom_id`.
    #[must_use]
    pub fn button(custom_id: &str) -> Self {
        let mut v = fixture(COMPONENT);
        v["data"]["custom_id"] = json!(custom_id);
        Self(v)
    }

    /// Sent by `user` (display name `name`).
    #[must_use]
    pub fn by(mut self, user: u64, name: &str) -> Self {
        self.0["member"]["user"]["id"] = json!(user.to_string());
        self.0["member"]["user"]["global_name"] = json!(name);
        self.0["member"]["user"]["username"] = json!(name.to_lowercase());
        self
    }

    /// Sent from `guild`.
    #[must_use]
    pub fn in_guild(mut self, guild: u64) -> Self {
        let g = json!(guild.to_string());
        self.0["guild_id"] = g.clone();
        self.0["guild"]["id"] = g.clone();
        self.0["channel"]["guild_id"] = g.clone();
        self.0["authorizing_integration_owners"]["0"] = g;
        self
    }

    /// The member's permissions (a decimal bit string).
    #[must_use]
    pub fn with_permissions(mut self, permissions: u64) -> Self {
        self.0["member"]["permissions"] = json!(permissions.to_string());
        self
    }

    /// Adds `user` to the command's resolved data, as Discord does for user options.
    #[must_use]
    pub fn resolve(mut self, user: u64, name: &str, bot: bool) -> Self {
        let id = user.to_string();
        let data = &mut self.0["data"];
        if data.get("resolved").is_none() {
            data["resolved"] = json!({"users": {}, "members": {}});
        }
        data["resolved"]["users"][&id] = json!({
            "avatar": null, "discriminator": "0", "global_name": name, "id": id,
            "public_flags": 0, "username": name.to_lowercase(), "bot": bot,
        });
        data["resolved"]["members"][&id] = json!({
            "avatar": null, "communication_disabled_until": null, "flags": 0,
            "joined_at": "2024-05-05T10:00:00.000000+00:00", "nick": null, "pending": false,
            "permissions": "2248473465835073", "premium_since": null, "roles": [],
        });
        self
    }

    /// The interaction token (to match follow-up edits).
    #[must_use]
    pub fn token(&self) -> String {
        self.0["token"].as_str().unwrap_or_default().to_owned()
    }

    #[must_use]
    pub fn body(&self) -> String {
        self.0.to_string()
    }
}

/// A Function URL event carrying `body` and `headers`, as Lambda delivers it.
#[must_use]
pub fn function_url_event(body: &str, headers: &[(String, String)]) -> String {
    let mut event = fixture(EVENT);
    event["body"] = json!(body);
    event["headers"]["content-length"] = json!(body.len().to_string());
    for (name, value) in headers {
        event["headers"][name.to_lowercase()] = json!(value);
    }
    event.to_string()
}

/// A reply as the endpoint sent it.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// One part of a multipart body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Answer {
    #[must_use]
    pub fn content_type(&self) -> String {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The interaction response JSON (from `payload_json` when the reply is multipart).
    #[must_use]
    pub fn json(&self) -> Value {
        if self.content_type().starts_with("multipart/form-data") {
            let parts = self.parts();
            let payload = parts
                .iter()
                .find(|p| p.name == "payload_json")
                .expect("multipart reply has payload_json");
            return serde_json::from_slice(&payload.body).expect("payload_json is JSON");
        }
        assert_eq!(self.content_type(), "application/json", "{}", self.text());
        serde_json::from_slice(&self.body).expect("reply is JSON")
    }

    /// The parts of a multipart/form-data reply; panics unless it is well-formed.
    #[must_use]
    pub fn parts(&self) -> Vec<Part> {
        parse_multipart(&self.content_type(), &self.body)
    }

    #[must_use]
    pub fn kind(&self) -> u64 {
        self.json()["type"].as_u64().expect("reply has a type")
    }

    #[must_use]
    pub fn data(&self) -> Value {
        self.json()["data"].clone()
    }

    #[must_use]
    pub fn ephemeral(&self) -> bool {
        self.data()["flags"].as_u64().unwrap_or(0) & 64 == 64
    }

    #[must_use]
    pub fn embed(&self) -> Value {
        self.data()["embeds"][0].clone()
    }

    #[must_use]
    pub fn title(&self) -> String {
        self.embed()["title"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    #[must_use]
    pub fn description(&self) -> String {
        self.embed()["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    #[must_use]
    pub fn footer(&self) -> String {
        self.embed()["footer"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The value of the embed field named `name`.
    #[must_use]
    pub fn field(&self, name: &str) -> String {
        self.embed()["fields"]
            .as_array()
            .and_then(|fields| fields.iter().find(|f| f["name"] == name))
            .and_then(|f| f["value"].as_str())
            .unwrap_or_else(|| panic!("no field {name:?} in {}", self.embed()))
            .to_owned()
    }

    /// `(custom_id, disabled)` of every button.
    #[must_use]
    pub fn buttons(&self) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for row in self.data()["components"].as_array().into_iter().flatten() {
            for c in row["components"].as_array().into_iter().flatten() {
                out.push((
                    c["custom_id"].as_str().unwrap_or_default().to_owned(),
                    c["disabled"].as_bool().unwrap_or(false),
                ));
            }
        }
        out
    }

    /// Checks the reply against every Discord limit and the no-mentions rule.
    pub fn assert_valid(&self) {
        let response: InteractionResponse =
            serde_json::from_value(self.json()).expect("reply is an interaction response");
        if let Some(data) = response.data {
            let message = Message {
                content: data.content.clone(),
                embeds: data.embeds.clone().unwrap_or_default(),
                components: data.components.clone().unwrap_or_default(),
                ..Message::default()
            };
            limits::check(&message).unwrap_or_else(|e| panic!("reply breaks a limit: {e}"));
            if data.embeds.is_some() || data.content.is_some() {
                let mentions = data.allowed_mentions.expect("allowed_mentions is set");
                assert!(
                    mentions.parse.is_empty()
                        && mentions.users.is_empty()
                        && mentions.roles.is_empty(),
                    "replies mention no one"
                );
            }
            if let Some(choices) = data.choices {
                assert!(choices.len() <= limits::CHOICES);
            }
        }
    }
}

/// Parses multipart/form-data strictly (CRLF line ends, boundary from the content type).
#[must_use]
pub fn parse_multipart(content_type: &str, body: &[u8]) -> Vec<Part> {
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .expect("multipart content type with a boundary");
    let delimiter = format!("--{boundary}");
    let text = body;
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut parts = Vec::new();
    let mut at = find(text, delimiter.as_bytes(), 0).expect("first boundary");
    assert_eq!(at, 0, "body starts with the boundary");
    loop {
        at += delimiter.len();
        if text[at..].starts_with(b"--") {
            // The closing delimiter ends the body (a final CRLF is optional, RFC 2046).
            assert!(
                matches!(&text[at + 2..], b"" | b"\r\n"),
                "closing boundary ends the body"
            );
            break;
        }
        assert!(text[at..].starts_with(b"\r\n"));
        at += 2;
        let headers_end = find(text, b"\r\n\r\n", at).expect("part headers end");
        let headers = std::str::from_utf8(&text[at..headers_end]).expect("ASCII headers");
        let next = find(text, format!("\r\n{delimiter}").as_bytes(), headers_end)
            .expect("part ends with a boundary");
        let mut part = Part {
            name: String::new(),
            filename: None,
            content_type: None,
            body: text[headers_end + 4..next].to_vec(),
        };
        for line in headers.split("\r\n") {
            let (name, value) = line.split_once(": ").expect("header line");
            match name.to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    assert!(value.starts_with("form-data"));
                    for attr in value.split("; ").skip(1) {
                        let (k, v) = attr.split_once('=').expect("attribute");
                        let v = v.trim_matches('"').to_owned();
                        match k {
                            "name" => part.name = v,
                            "filename" => part.filename = Some(v),
                            _ => {}
                        }
                    }
                }
                "content-type" => part.content_type = Some(value.to_owned()),
                _ => {}
            }
        }
        assert!(!part.name.is_empty(), "every part is named");
        parts.push(part);
        at = next + 2;
    }
    parts
}

/// A decoded PNG: width, height and RGB bytes. Alpha is dropped: the images are opaque cards
/// but for their rounded corners.
#[must_use]
pub fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    buf.truncate(info.buffer_size());
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf,
        png::ColorType::Rgba => buf
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        other => panic!("an RGB or RGBA image, not {other:?}"),
    };
    (info.width, info.height, rgb)
}

/// The endpoint in process, on a fresh table, with a fixed clock.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub app: App,
    pub store: Store,
    pub now: Timestamp,
}

impl Endpoint {
    pub async fn new(now: Timestamp) -> Self {
        Self::with_store(crate::dynamo::fresh_store().await, now)
    }

    #[must_use]
    pub fn with_store(store: Store, now: Timestamp) -> Self {
        Self::build(store, now, None)
    }

    /// On `store`, with follow-up edits going to `rest`.
    #[must_use]
    pub fn with_rest(store: Store, now: Timestamp, rest: &FakeDiscord) -> Self {
        let api = ApiBase::parse(&rest.api_base()).expect("fake API base");
        Self::build(store, now, Some(api))
    }

    #[must_use]
    pub fn build(store: Store, now: Timestamp, api: Option<ApiBase>) -> Self {
        let mut builder = App::builder(store.clone(), signing_key().verifying_key())
            .clock(Arc::new(callstats_runtime::ManualClock::new(now)))
            .job_store(patient(&store))
            // The local server is single-threaded and shared by parallel tests: give it
            // time rather than answer with an apology.
            .deadline(Duration::from_mins(1));
        if let Some(api) = api {
            builder = builder.api_base(api);
        }
        Self {
            app: builder.build(),
            store,
            now,
        }
    }

    /// Sends `interaction` signed at the endpoint's "now"; checks the reply's limits.
    pub async fn send(&self, interaction: &Interaction) -> Answer {
        let body = interaction.body();
        let answer = self
            .send_raw(&body, &signed_headers(self.now, body.as_bytes()))
            .await;
        if answer.status == 200 {
            answer.assert_valid();
        }
        answer
    }

    /// Sends `body` with `headers` through a Function URL event and the Lambda front end.
    pub async fn send_raw(&self, body: &str, headers: &[(String, String)]) -> Answer {
        let event = function_url_event(body, headers);
        let request = lambda_http::request::from_str(&event).expect("the event parses");
        let response = callstats_interactions::lambda::handle(&self.app, request).await;
        let (parts, body) = response.into_parts();
        let body = match body {
            lambda_http::Body::Text(t) => t.into_bytes(),
            lambda_http::Body::Binary(b) => b,
            _ => Vec::new(),
        };
        Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }
}

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
    let mut s = open(user, guild, CHANNEL, start, Flags::NONE);
    assert_eq!(
        store.start_session(&s).await.expect("start"),
        StartOutcome::Started
    );
    for (offset, flags) in changes {
        s.set_flags(start.plus(*offset), *flags, Tz::UTC);
    }
    let closed = s.close(start.plus(secs), Tz::UTC, false);
    assert_eq!(
        store
            .end_session(&closed, &GuildConfig::default(), true)
            .await
            .expect("end"),
        EndOutcome::Ended
    );
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
/// then copies of its session record, an hour apart and a minute long, written 25 at a time.
/// Only the session records are copied (the aggregates count the first session only):
/// enough for tests of export and deletion of a long history, where 40,000 transactional
/// calls to the single-threaded local server would take minutes.
pub async fn seed_many(store: &Store, user: u64, guild: u64, first: Timestamp, count: u64) {
    let store = &patient(store);
    let real = seed(store, user, guild, first, 60, &[]).await;
    let out = store
        .client()
        .get_item()
        .table_name(store.table().as_str())
        .key("pk", AttributeValue::S(format!("U#{user}")))
        .key("sk", AttributeValue::S(format!("S#{guild}#{}", real.id)))
        .send()
        .await
        .expect("read the recorded session");
    let template = out.item.expect("the session record exists");
    let mut requests = Vec::new();
    for i in 1..count {
        let start = first.plus(i * 3600);
        let id = SessionId::new(start, 1);
        let mut item = template.clone();
        item.insert("sk".into(), AttributeValue::S(format!("S#{guild}#{id}")));
        item.insert(
            "end".into(),
            AttributeValue::N(start.plus(60).unix().to_string()),
        );
        requests.push(
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .expect("put"),
                )
                .build(),
        );
    }
    for chunk in requests.chunks(25) {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            let out = store
                .client()
                .batch_write_item()
                .request_items(store.table().as_str(), pending)
                .send()
                .await
                .expect("batch write");
            pending = out
                .unprocessed_items
                .and_then(|mut m| m.remove(store.table().as_str()))
                .unwrap_or_default();
        }
    }
}

/// A request as a fake server received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    #[must_use]
    pub fn json(&self) -> Value {
        let content_type = self
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if content_type.starts_with("multipart/form-data") {
            let parts = parse_multipart(content_type, &self.body);
            let payload = parts
                .iter()
                .find(|p| p.name == "payload_json")
                .expect("payload_json part");
            return serde_json::from_slice(&payload.body).expect("payload_json is JSON");
        }
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

type Responder = Arc<dyn Fn(&Recorded) -> (StatusCode, String) + Send + Sync>;

/// A local stand-in for Discord's REST API that records every request.
#[derive(Clone)]
pub struct FakeDiscord {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    arrived: Arc<Notify>,
}

impl std::fmt::Debug for FakeDiscord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeDiscord")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeDiscord {
    /// Answers 200 with `[]` for command uploads and `{}` otherwise.
    pub async fn start() -> Self {
        Self::start_with(Arc::new(|r: &Recorded| {
            let body = if r.path.ends_with("/commands") {
                "[]"
            } else {
                "{}"
            };
            (StatusCode::OK, body.to_owned())
        }))
        .await
    }

    pub async fn start_with(responder: Responder) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (reqs, notify) = (requests.clone(), arrived.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (reqs, notify, responder) = (reqs.clone(), notify.clone(), responder.clone());
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req: http::Request<Incoming>| {
                            let (reqs, notify, responder) =
                                (reqs.clone(), notify.clone(), responder.clone());
                            async move {
                                let (parts, body) = req.into_parts();
                                let body = body
                                    .collect()
                                    .await
                                    .map(http_body_util::Collected::to_bytes)
                                    .unwrap_or_default();
                                let recorded = Recorded {
                                    method: parts.method.to_string(),
                                    path: parts.uri.path().to_owned(),
                                    headers: parts.headers,
                                    body: body.to_vec(),
                                };
                                let (status, reply) = responder(&recorded);
                                reqs.lock().expect("lock").push(recorded);
                                notify.notify_waiters();
                                let mut response =
                                    http::Response::new(Full::new(Bytes::from(reply)));
                                *response.status_mut() = status;
                                response.headers_mut().insert(
                                    http::header::CONTENT_TYPE,
                                    http::HeaderValue::from_static("application/json"),
                                );
                                Ok::<_, Infallible>(response)
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            requests,
            arrived,
        }
    }

    /// The value for `DISCORD_API_BASE`.
    #[must_use]
    pub fn api_base(&self) -> String {
        format!("http://{}/api/v10", self.addr)
    }

    #[must_use]
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }

    /// Waits (up to a minute) until a request matching `want` has arrived.
    pub async fn wait_for(&self, want: impl Fn(&Recorded) -> bool) -> Recorded {
        self.wait_for_within(Duration::from_mins(1), want).await
    }

    /// Waits up to `limit` until a request matching `want` has arrived.
    pub async fn wait_for_within(
        &self,
        limit: Duration,
        want: impl Fn(&Recorded) -> bool,
    ) -> Recorded {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.arrived.notified();
            if let Some(r) = self.requests().into_iter().find(|r| want(r)) {
                return r;
            }
            assert!(
                tokio::time::timeout_at(deadline, notified).await.is_ok(),
                "no matching request within {limit:?}: {:?}",
                self.requests()
            );
        }
    }
}

#[derive(Default)]
struct RuntimeState {
    next_id: u64,
    queue: VecDeque<(String, String)>,
    responses: HashMap<String, String>,
    errors: Vec<String>,
    /// Payloads of asynchronous `Invoke` calls (the function invoking itself).
    async_invocations: Vec<String>,
}

/// An emulated AWS Lambda Runtime API, plus the Lambda `Invoke` API's asynchronous
/// (`Event`) mode, which queues the payload as a new invocation of the same function.
#[derive(Clone)]
pub struct LambdaRuntime {
    pub addr: SocketAddr,
    state: Arc<Mutex<RuntimeState>>,
    changed: Arc<Notify>,
}

impl std::fmt::Debug for LambdaRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaRuntime")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl LambdaRuntime {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let runtime = Self {
            addr,
            state: Arc::new(Mutex::new(RuntimeState::default())),
            changed: Arc::new(Notify::new()),
        };
        let rt = runtime.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let rt = rt.clone();
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req: http::Request<Incoming>| {
                            let rt = rt.clone();
                            async move { Ok::<_, Infallible>(rt.route(req).await) }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        runtime
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    #[must_use]
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// The value for `AWS_ENDPOINT_URL_LAMBDA`.
    #[must_use]
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn enqueue(&self, event: String) -> String {
        let mut state = self.state.lock().expect("lock");
        state.next_id += 1;
        let id = format!("req-{}", state.next_id);
        state.queue.push_back((id.clone(), event));
        drop(state);
        self.changed.notify_waiters();
        id
    }

    /// Delivers `event` to the function and waits (up to a minute) for its response.
    pub async fn invoke(&self, event: String) -> Value {
        let id = self.enqueue(event);
        let deadline = tokio::time::Instant::now() + Duration::from_mins(1);
        loop {
            let notified = self.changed.notified();
            {
                let state = self.state.lock().expect("lock");
                if let Some(r) = state.responses.get(&id) {
                    return serde_json::from_str(r).expect("response is JSON");
                }
                assert!(
                    state.errors.is_empty(),
                    "function reported errors: {:?}",
                    state.errors
                );
            }
            assert!(
                tokio::time::timeout_at(deadline, notified).await.is_ok(),
                "no response from the function within a minute"
            );
        }
    }

    #[must_use]
    pub fn async_invocations(&self) -> Vec<String> {
        self.state.lock().expect("lock").async_invocations.clone()
    }

    #[must_use]
    pub fn errors(&self) -> Vec<String> {
        self.state.lock().expect("lock").errors.clone()
    }

    async fn route(&self, req: http::Request<Incoming>) -> http::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        let path = parts.uri.path().to_owned();
        let respond = |status: StatusCode, body: String| {
            let mut r = http::Response::new(Full::new(Bytes::from(body)));
            *r.status_mut() = status;
            r
        };
        if path == "/2018-06-01/runtime/invocation/next" {
            loop {
                let notified = self.changed.notified();
                if let Some((id, event)) = self.state.lock().expect("lock").queue.pop_front() {
                    let mut r = respond(StatusCode::OK, event);
                    let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
                    let h = r.headers_mut();
                    h.insert("lambda-runtime-aws-request-id", id.parse().expect("header"));
                    h.insert(
                        "lambda-runtime-deadline-ms",
                        deadline.to_string().parse().expect("header"),
                    );
                    h.insert(
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:eu-central-1:000000000000:function:callstats-interactions"
                            .parse()
                            .expect("header"),
                    );
                    h.insert(
                        "lambda-runtime-trace-id",
                        "Root=1-00000000-000000000000000000000000"
                            .parse()
                            .expect("header"),
                    );
                    h.insert(
                        http::header::CONTENT_TYPE,
                        "application/json".parse().expect("header"),
                    );
                    return r;
                }
                notified.await;
            }
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
            let mut state = self.state.lock().expect("lock");
            if let Some(id) = rest.strip_suffix("/response") {
                state.responses.insert(id.to_owned(), text);
            } else {
                state.errors.push(format!("{rest}: {text}"));
            }
            drop(state);
            self.changed.notify_waiters();
            return respond(StatusCode::ACCEPTED, "{\"status\":\"OK\"}".into());
        }
        if path == "/2018-06-01/runtime/init/error" {
            self.state
                .lock()
                .expect("lock")
                .errors
                .push(format!("init: {text}"));
            self.changed.notify_waiters();
            return respond(StatusCode::ACCEPTED, "{\"status\":\"OK\"}".into());
        }
        if path.starts_with("/2015-03-31/functions/") && path.ends_with("/invocations") {
            let kind = parts
                .headers
                .get("x-amz-invocation-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("RequestResponse")
                .to_owned();
            if kind == "Event" {
                self.state
                    .lock()
                    .expect("lock")
                    .async_invocations
                    .push(text.clone());
                self.enqueue(text);
                return respond(StatusCode::ACCEPTED, String::new());
            }
            return respond(
                StatusCode::BAD_REQUEST,
                "only Event invocations are emulated".into(),
            );
        }
        respond(StatusCode::NOT_FOUND, format!("no route {path}"))
    }
}

/// Runs `serve` with `app` on 127.0.0.1 port 0; returns the address and a stop switch.
pub async fn serve_on_port_0(
    app: App,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(callstats_interactions::serve::serve(listener, app, async {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

/// An HTTP request to a local server.
pub async fn post(
    addr: SocketAddr,
    method: http::Method,
    path: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Answer {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        request = request.header(k, v);
    }
    let request = request
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let response = client.request(request).await.expect("the server answers");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body.to_vec(),
    }
}

//! The one handler both front ends share: a raw HTTP request in, an HTTP response out.
//!
//! Order matters: the method, then the signature over the raw bytes, then the `type`, and
//! only then the full JSON. Refusals: 405 (not POST), 413 (body over 1 MiB, never from
//! Discord), 401 (any signature or timestamp problem), 400 (verified but not an interaction).
//! Everything after that is a 200 with a Discord reply, failures included.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ed25519_dalek::VerifyingKey;
use http::{Method, StatusCode};
use tracing::Instrument;

use callstats_common::{Store, Timestamp};

use crate::commands;
use crate::error::{APOLOGY, Failure, Internal, Notice};
use crate::interaction::{self, Incoming};
use crate::reply::{Reply, json_response, text_response};
use crate::verify::{self, MAX_SKEW_SECS};

/// Largest body accepted. Discord's interactions are a few kilobytes.
pub const MAX_BODY: usize = 1024 * 1024;

/// Where "now" comes from: the system clock in production, a fixed instant in tests.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The system clock, in whole seconds.
#[must_use]
pub fn system_clock() -> Clock {
    Arc::new(|| Timestamp::from_datetime(chrono::Utc::now()))
}

/// How long a command may take before the user gets an apology instead: Discord drops the
/// interaction after 3 s.
pub const DEFAULT_DEADLINE: Duration = Duration::from_millis(2500);

/// Everything a request needs, built once at start-up. Cheap to clone.
#[derive(Clone)]
pub struct App(Arc<Inner>);

struct Inner {
    store: Store,
    public_key: VerifyingKey,
    clock: Clock,
    deadline: Duration,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("table", self.0.store.table())
            .field("deadline", &self.0.deadline)
            .finish_non_exhaustive()
    }
}

/// Builds an [`App`]; the store and key are required, the rest has production defaults.
#[derive(Clone)]
pub struct AppBuilder {
    store: Store,
    public_key: VerifyingKey,
    clock: Clock,
    deadline: Duration,
}

impl std::fmt::Debug for AppBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppBuilder").finish_non_exhaustive()
    }
}

impl AppBuilder {
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// How long a command may run before the user gets an apology.
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    #[must_use]
    pub fn build(self) -> App {
        App(Arc::new(Inner {
            store: self.store,
            public_key: self.public_key,
            clock: self.clock,
            deadline: self.deadline,
        }))
    }
}

impl App {
    #[must_use]
    pub fn builder(store: Store, public_key: VerifyingKey) -> AppBuilder {
        AppBuilder {
            store,
            public_key,
            clock: system_clock(),
            deadline: DEFAULT_DEADLINE,
        }
    }

    #[must_use]
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    #[must_use]
    pub fn now(&self) -> Timestamp {
        (self.0.clock)()
    }

    /// Answers one HTTP request.
    pub async fn handle(&self, request: http::Request<Bytes>) -> http::Response<Bytes> {
        let (parts, body) = request.into_parts();
        if parts.method != Method::POST {
            return text_response(StatusCode::METHOD_NOT_ALLOWED, "only POST is accepted");
        }
        if body.len() > MAX_BODY {
            return text_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        let now = self.now();
        if let Err(reason) = verify::verify(
            &parts.headers,
            &body,
            now,
            MAX_SKEW_SECS,
            &self.0.public_key,
        ) {
            tracing::info!(%reason, "refused a request");
            return text_response(StatusCode::UNAUTHORIZED, "invalid request signature");
        }
        match interaction::peek_type(&body) {
            Ok(1) => return encode(Reply::Pong),
            Ok(_) => {}
            Err(err) => return malformed(&err),
        }
        let incoming = match interaction::parse(&body, now) {
            Ok(incoming) => incoming,
            Err(err) => return malformed(&err),
        };
        let span = tracing::info_span!(
            "interaction",
            id = %incoming.ctx().id,
            guild = incoming.ctx().guild.map(callstats_common::GuildId::get),
            user = incoming.ctx().invoker.id.get(),
        );
        let reply = self.answer(incoming).instrument(span).await;
        encode(reply)
    }

    /// The reply to a parsed interaction, failures included.
    async fn answer(&self, incoming: Incoming) -> Reply {
        let started = std::time::Instant::now();
        let work = async {
            match &incoming {
                Incoming::Command(ctx, data) => {
                    tracing::info!(command = %data.name, "command");
                    commands::command(self, ctx, data).await
                }
                Incoming::Autocomplete(ctx, data) => commands::autocomplete(self, ctx, data).await,
                Incoming::Component(ctx, data) => {
                    tracing::info!("button");
                    commands::component(self, ctx, data).await
                }
                Incoming::Other(_) => Err(Failure::Notice(Notice::Unsupported)),
            }
        };
        let result = match tokio::time::timeout(self.0.deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Internal(Internal::Deadline(self.0.deadline))),
        };
        let reply = result.unwrap_or_else(Failure::into_reply);
        tracing::info!(elapsed_ms = started.elapsed().as_millis(), "answered");
        reply
    }
}

fn malformed(err: &interaction::Malformed) -> http::Response<Bytes> {
    tracing::info!(cause = %err, "refused a malformed interaction");
    text_response(StatusCode::BAD_REQUEST, "malformed interaction")
}

/// The HTTP response for a reply. Encoding cannot really fail; if it ever did, the user
/// still gets the apology rather than a 500.
fn encode(reply: Reply) -> http::Response<Bytes> {
    reply.into_http().unwrap_or_else(|err| {
        tracing::error!(cause = %err, "could not encode a reply");
        let apology = serde_json::json!({
            "type": 4,
            "data": {"content": APOLOGY, "flags": 64, "allowed_mentions": {"parse": []}}
        });
        json_response(StatusCode::OK, Bytes::from(apology.to_string()))
    })
}

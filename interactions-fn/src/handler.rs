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

use callstats_core::Timestamp;
use callstats_runtime::{Clock, SystemClock};
use callstats_store::Store;

use crate::background::{Background, Ticket};
use crate::commands;
use crate::config::ApiBase;
use crate::error::{APOLOGY, Failure, Internal, Notice};
use crate::interaction::{self, Incoming};
use crate::reply::{Reply, json_response, text_response};
use crate::rest;
use crate::verify::{self, MAX_SKEW_SECS};

/// Largest body accepted. Discord's interactions are a few kilobytes.
pub const MAX_BODY: usize = 1024 * 1024;

/// How long a command may take before the user gets an apology instead: Discord drops the
/// interaction after 3 s.
pub const DEFAULT_DEADLINE: Duration = Duration::from_millis(2500);

/// Everything a request needs, built once at start-up. Cheap to clone.
#[derive(Clone)]
pub struct App(Arc<Inner>);

struct Inner {
    store: Store,
    /// The same table with timeouts for long work (exports and deletions of big histories).
    job_store: Store,
    public_key: VerifyingKey,
    clock: Arc<dyn Clock>,
    deadline: Duration,
    /// Discord's REST API, for edits of original responses (no bot token needed).
    rest: twilight_http::Client,
    background: Background,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("table", self.0.store.table())
            .field("deadline", &self.0.deadline)
            .field("background", &self.0.background)
            .finish_non_exhaustive()
    }
}

/// Builds an [`App`]; the store and key are required, the rest has production defaults.
#[derive(Clone)]
pub struct AppBuilder {
    store: Store,
    job_store: Option<Store>,
    public_key: VerifyingKey,
    clock: Arc<dyn Clock>,
    deadline: Duration,
    api_base: ApiBase,
    background: Background,
}

impl std::fmt::Debug for AppBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppBuilder").finish_non_exhaustive()
    }
}

impl AppBuilder {
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long a command may run before the user gets an apology.
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The store background jobs use: the same table, with timeouts fit for long work
    /// (by default the request store).
    #[must_use]
    pub fn job_store(mut self, store: Store) -> Self {
        self.job_store = Some(store);
        self
    }

    /// Where Discord's REST API is (for follow-up edits).
    #[must_use]
    pub fn api_base(mut self, api_base: ApiBase) -> Self {
        self.api_base = api_base;
        self
    }

    /// Where long work runs (tasks in this process by default).
    #[must_use]
    pub fn background(mut self, background: Background) -> Self {
        self.background = background;
        self
    }

    #[must_use]
    pub fn build(self) -> App {
        App(Arc::new(Inner {
            job_store: self.job_store.unwrap_or_else(|| self.store.clone()),
            store: self.store,
            public_key: self.public_key,
            clock: self.clock,
            deadline: self.deadline,
            rest: rest::client(&self.api_base, None),
            background: self.background,
        }))
    }
}

impl App {
    #[must_use]
    pub fn builder(store: Store, public_key: VerifyingKey) -> AppBuilder {
        AppBuilder {
            store,
            job_store: None,
            public_key,
            clock: Arc::new(SystemClock),
            deadline: DEFAULT_DEADLINE,
            api_base: ApiBase::default(),
            background: Background::tasks(),
        }
    }

    #[must_use]
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The store for background jobs (longer timeouts).
    #[must_use]
    pub fn job_store(&self) -> &Store {
        &self.0.job_store
    }

    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.0.clock.now()
    }

    #[must_use]
    pub fn background(&self) -> &Background {
        &self.0.background
    }

    /// Hands `ticket` to the background; the caller answers "deferred".
    pub async fn defer(&self, ticket: Ticket) -> Result<(), Internal> {
        tracing::info!(job = ticket.job.name(), "deferring");
        let app = self.clone();
        let job = ticket.clone();
        Box::pin(
            self.0
                .background
                .start(&ticket, async move { app.run_job(job).await }),
        )
        .await
    }

    /// Runs a job and puts its result (or an apology) in place of the original response.
    pub async fn run_job(&self, ticket: Ticket) {
        let started = std::time::Instant::now();
        let span = tracing::info_span!("job", job = ticket.job.name());
        async {
            let message = commands::privacy::run_job(self, ticket.job)
                .await
                .unwrap_or_else(Failure::into_message);
            match rest::edit_original(&self.0.rest, ticket.application, &ticket.token, &message)
                .await
            {
                Ok(()) => tracing::info!(
                    elapsed_ms = started.elapsed().as_millis(),
                    "job done, response edited"
                ),
                Err(err) => {
                    tracing::error!(cause = %err, "job done, but the response edit failed");
                    // A file Discord refused (too large, say): still tell the user.
                    if !message.files.is_empty() {
                        let apology = Failure::Internal(err).into_message();
                        let _ = rest::edit_original(
                            &self.0.rest,
                            ticket.application,
                            &ticket.token,
                            &apology,
                        )
                        .await;
                    }
                }
            }
        }
        .instrument(span)
        .await;
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
            guild = incoming.ctx().guild.map(callstats_core::GuildId::get),
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

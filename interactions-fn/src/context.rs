//! The application context every command, button and job works in: the store, the clock,
//! the reply deadline, Discord's REST API for follow-up edits, and where long work runs. Built
//! once at start-up; commands depend on it, and it depends on no command.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::VerifyingKey;

use callstats_core::Timestamp;
use callstats_runtime::{Clock, GuildAllowList, SystemClock};
use callstats_store::Store;

use crate::background::Background;
use crate::config::ApiBase;
use crate::rest;

/// How long a command may take before the user gets an apology instead: Discord drops the
/// interaction after 3 s.
pub const DEFAULT_DEADLINE: Duration = Duration::from_millis(2500);

/// When a deletion's partner sweep runs again: longer than any end's read-to-write (a store
/// call gives up after 12 s), shorter than the function's timeout.
pub const SWEEP_AGAIN_AFTER: Duration = Duration::from_secs(20);

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
    /// The servers answered; others get a notice.
    guilds: GuildAllowList,
    sweep_after: Duration,
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
    guilds: GuildAllowList,
    sweep_after: Duration,
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

    /// The servers answered (every server by default).
    #[must_use]
    pub fn guilds(mut self, guilds: GuildAllowList) -> Self {
        self.guilds = guilds;
        self
    }

    /// How long after a deletion its partner sweep runs again ([`SWEEP_AGAIN_AFTER`] by
    /// default).
    #[must_use]
    pub fn sweep_after(mut self, after: Duration) -> Self {
        self.sweep_after = after;
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
            guilds: self.guilds,
            sweep_after: self.sweep_after,
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
            guilds: GuildAllowList::everyone(),
            sweep_after: SWEEP_AGAIN_AFTER,
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

    #[must_use]
    pub fn public_key(&self) -> &VerifyingKey {
        &self.0.public_key
    }

    /// How long a command may run before the user gets an apology.
    #[must_use]
    pub fn deadline(&self) -> Duration {
        self.0.deadline
    }

    /// The servers answered.
    #[must_use]
    pub fn guilds(&self) -> &GuildAllowList {
        &self.0.guilds
    }

    /// How long work may run inline before it is handed to the background: part of the
    /// deadline, so that handing over still fits.
    #[must_use]
    pub fn inline_budget(&self) -> Duration {
        self.0.deadline.mul_f64(0.6)
    }

    /// How long after a deletion its partner sweep runs again.
    #[must_use]
    pub fn sweep_after(&self) -> Duration {
        self.0.sweep_after
    }

    /// Discord's REST API (interaction webhooks need no bot token).
    #[must_use]
    pub fn rest(&self) -> &twilight_http::Client {
        &self.0.rest
    }
}

//! Wiring: start the spool, the writer, the shards and the endpoint; stop them gracefully.
//!
//! Start: lock the state directory and read the spool (its writes are applied before
//! anything else, and reconciliation waits for them); check that the table answers (a
//! missing table ends the process, an unreachable store does not: writes wait); decide the
//! shards; take each shard's saved state; serve `/healthz` and `/metrics`; run the shards.
//!
//! Stop (the `shutdown` future resolves, on SIGTERM or SIGINT in the program): stop reading
//! the gateway, let the writer finish what is queued for up to [`FLUSH_BUDGET`] (the rest
//! stays in the spool), save each complete shard's gateway session and tracker state, close
//! the shards with the resume close code, and return: well within ten seconds.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use callstats_store::ResumeState;
use callstats_store::{Store, StoreError};
use futures_util::StreamExt as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use twilight_gateway::queue::InMemoryQueue;
use twilight_gateway::{
    CloseFrame, ConfigBuilder, Intents, Message, Session, Shard, ShardId, ShardState,
};

use crate::config::{Config, ShardPlan};
use crate::departures::DepartureLog;
use crate::gateway::{GatewayFatal, ShardContext, ShardRunner, Stopped};
use crate::metrics::{Metrics, ShardStatus};
use crate::resume;
use crate::spool::{Spool, SpoolError};
use crate::tracker::Tracker;
use crate::writer::{self, WriterOptions};
use callstats_runtime::Clock;
use callstats_store::Backoff;

/// How long a stop lets queued writes finish.
pub const FLUSH_BUDGET: Duration = Duration::from_secs(5);
/// How long a stop waits for a shard's close handshake.
const CLOSE_BUDGET: Duration = Duration::from_secs(1);
/// Identify permits per day when the gateway is not Discord's (nothing to ask).
const LOCAL_IDENTIFY_PERMITS: u32 = 1000;

/// The seams `run` takes from its caller: the program gives production ones, tests their own.
#[derive(Debug)]
pub struct Seams {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// First session nonce of fresh trackers (random in the program).
    pub first_nonce: u32,
    /// Where to serve `/healthz` and `/metrics`; `None` serves nothing.
    pub http: Option<TcpListener>,
    pub writer: WriterOptions,
}

/// Why the sidecar stopped other than on request.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Discord closed a shard for good.
    #[error(transparent)]
    Gateway(#[from] GatewayFatal),
    /// Discord refused the token when asked for the shard count.
    #[error("discord refused the bot token; check DISCORD_TOKEN")]
    Unauthorized,
    /// The state directory cannot be used.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// A shard's departures journal cannot be opened.
    #[error("cannot open the departures journal in {path}: {source}")]
    StateDir {
        path: String,
        source: std::io::Error,
    },
    /// The store refuses the table (missing, no permission, another schema).
    #[error("cannot use table {table}: {source}")]
    Store { table: String, source: StoreError },
    /// A shard task ended unexpectedly.
    #[error("shard task failed: {0}")]
    Task(String),
}

/// Runs the sidecar until `shutdown` resolves (then stops gracefully and returns `Ok`) or
/// something makes running on pointless.
#[allow(clippy::too_many_lines)] // the wiring, from start to graceful stop, in order
pub async fn run(
    config: Config,
    seams: Seams,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    // twilight builds a rustls configuration for every shard and needs one crypto provider.
    callstats_runtime::install_crypto_provider();
    let Seams {
        store,
        clock,
        metrics,
        first_nonce,
        http,
        writer: writer_options,
    } = seams;

    let opened = Spool::open(&config.state_dir, writer_options.memory_bound)?;
    if opened.skipped_lines > 0 {
        tracing::warn!(
            lines = opened.skipped_lines,
            "skipped unreadable spool lines (a torn write from a crash)"
        );
    }
    match store.ping().await.and(store.check_schema_version().await) {
        Ok(()) => tracing::info!(table = %config.table, "store answers"),
        Err(err) if err.is_retryable() => {
            tracing::warn!(error = %err, "store unreachable at start; writes wait in the spool");
        }
        Err(source) => {
            return Err(RunError::Store {
                table: config.table.to_string(),
                source,
            });
        }
    }
    let started = writer::start(
        store.clone(),
        opened,
        writer_options,
        Arc::clone(&metrics),
        Arc::clone(&clock),
    );
    let writer = started.writer.clone();

    let (ids, queue) = plan_shards(&config, &metrics).await?;
    for id in &ids {
        metrics.set_shard(
            id.number(),
            ShardStatus {
                total: id.total(),
                ..ShardStatus::default()
            },
        );
    }
    let ctx = Arc::new(ShardContext {
        store: store.clone(),
        writer: writer.clone(),
        clock: Arc::clone(&clock),
        metrics: Arc::clone(&metrics),
        max_gap_secs: config.max_gap_secs,
        heartbeat: config.heartbeat,
        backoff: writer_options.backoff,
        replayed: started.replayed.clone(),
        reconcile_reads: tokio::sync::Semaphore::new(crate::gateway::RECONCILE_READS),
        guilds: config.guilds.clone(),
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    if let Some(listener) = http {
        let ops = Arc::new(crate::ops::Ops::new(Arc::clone(&metrics), store.clone()));
        tokio::spawn(crate::ops::serve(listener, ops, stop_rx.clone()));
    }
    // The alarms' counters; its last line comes after the final flush.
    let (emf_stop, emf_stopped) = watch::channel(false);
    let emf = config.cloudwatch.clone().map(|cloudwatch| {
        let publisher = crate::emf::Publisher::new(
            cloudwatch,
            config.task,
            Arc::clone(&metrics),
            Arc::clone(&clock),
        );
        tokio::spawn(publisher.run(emf_stopped))
    });

    let mut shards = JoinSet::new();
    for id in ids {
        let plan = resume::load(&store, &config.state_dir, id, clock.now()).await;
        let resume_url = plan.session.as_ref().map(|(_, url)| url.clone());
        let shard = build_shard(id, &config, queue.clone(), plan.session);
        let tracker = plan.tracker.unwrap_or_else(|| Tracker::new(first_nonce));
        let (journal, held) =
            DepartureLog::open(&config.state_dir, id.number()).map_err(|source| {
                RunError::StateDir {
                    path: config.state_dir.display().to_string(),
                    source,
                }
            })?;
        let runner = ShardRunner::new(shard, tracker, plan.lost_since, Arc::clone(&ctx))
            .with_resume_url(resume_url)
            .with_journal(journal, held)
            // Servers no longer served (CALLSTATS_GUILDS changed): as if the bot had left them.
            .forget_unserved(clock.now());
        let stop = stop_rx.clone();
        shards.spawn(async move { (id, runner.run(stop).await) });
    }
    tracing::info!(shards = shards.len(), "sidecar running");

    let early = tokio::select! {
        () = shutdown => None,
        Some(ended) = shards.join_next() => Some(ended),
    };
    let _ = stop_tx.send(true);
    let (stopped, failure) = collect_shards(early, shards).await;

    tracing::info!("stopping: finishing queued writes");
    let left = writer.flush(FLUSH_BUDGET).await;
    if left > 0 {
        tracing::warn!(
            writes = left,
            "writes still waiting stay in the spool for the next start"
        );
    }
    let save = failure.is_none();
    let flushed = left == 0;
    let mut closing = JoinSet::new();
    for (id, s) in stopped {
        let store = store.clone();
        let dir = config.state_dir.clone();
        let saved_at = clock.now();
        closing.spawn(finish_shard(id, s, store, dir, saved_at, save, flushed));
    }
    while closing.join_next().await.is_some() {}
    writer.stop().await;
    let _ = started.task.await;
    let _ = emf_stop.send(true);
    if let Some(emf) = emf {
        let _ = emf.await;
    }
    if let Some(err) = failure {
        return Err(err);
    }
    tracing::info!("stopped");
    Ok(())
}

type ShardEnd = Result<(ShardId, Result<Stopped, GatewayFatal>), tokio::task::JoinError>;

/// Waits for every shard task: the stopped shards, and the first failure if one ended badly.
async fn collect_shards(
    early: Option<ShardEnd>,
    mut shards: JoinSet<(ShardId, Result<Stopped, GatewayFatal>)>,
) -> (Vec<(ShardId, Stopped)>, Option<RunError>) {
    let mut stopped = Vec::new();
    let mut failure = None;
    let mut next = early;
    loop {
        match next {
            Some(Ok((id, Ok(s)))) => stopped.push((id, s)),
            Some(Ok((_, Err(fatal)))) => {
                failure.get_or_insert(RunError::Gateway(fatal));
            }
            Some(Err(err)) => {
                failure.get_or_insert(RunError::Task(err.to_string()));
            }
            None => {}
        }
        match shards.join_next().await {
            Some(ended) => next = Some(ended),
            None => return (stopped, failure),
        }
    }
}

/// Saves a stopped shard's session and state (when complete) and closes it: with the resume
/// close code when saved, so Discord keeps the session for the next process.
async fn finish_shard(
    id: ShardId,
    stopped: Stopped,
    store: Store,
    dir: std::path::PathBuf,
    saved_at: callstats_core::Timestamp,
    save: bool,
    flushed: bool,
) {
    let Stopped {
        mut shard,
        tracker,
        settled,
        resume_url,
    } = stopped;
    let shard_number = id.number();
    let state = match (save && settled, shard.session(), resume_url.as_deref()) {
        (true, Some(session), Some(url)) => Some(ResumeState {
            session_id: session.id().to_owned(),
            sequence: session.sequence(),
            resume_url: url.to_owned(),
            saved_at,
            snapshot: resume::encode(id, &tracker),
        }),
        _ => None,
    };
    let saved = if let Some(state) = state {
        let sequence = state.sequence;
        match resume::save(&store, &dir, id, state, flushed).await {
            Ok(place) => {
                tracing::info!(
                    shard = shard_number,
                    sequence,
                    place,
                    "gateway session saved for the next start"
                );
                true
            }
            Err(err) => {
                tracing::error!(shard = shard_number, error = %err, "cannot save the gateway session");
                false
            }
        }
    } else {
        tracing::info!(
            shard = shard_number,
            "gateway session not saved: state incomplete"
        );
        false
    };
    // A shard without a connection has nothing to close (and polling it would reconnect).
    if matches!(
        shard.state(),
        ShardState::Disconnected { .. } | ShardState::FatallyClosed
    ) {
        return;
    }
    shard.close(if saved {
        CloseFrame::RESUME
    } else {
        CloseFrame::NORMAL
    });
    let _ = tokio::time::timeout(CLOSE_BUDGET, async {
        while let Some(item) = shard.next().await {
            if matches!(item, Ok(Message::Close(_))) {
                break;
            }
        }
    })
    .await;
}

fn build_shard(
    id: ShardId,
    config: &Config,
    queue: InMemoryQueue,
    resume: Option<(Session, String)>,
) -> Shard {
    let mut builder = ConfigBuilder::new(
        config.token.expose().to_owned(),
        Intents::GUILDS | Intents::GUILD_VOICE_STATES,
    )
    .queue(queue);
    if let Some(url) = &config.gateway_url {
        builder = builder.proxy_url(url.clone());
    }
    if let Some((session, url)) = resume {
        builder = builder.session(session).resume_url(url);
    }
    Shard::with_config(id, builder.build())
}

/// The shards to run and the identify queue they share: Discord's recommendation and
/// identify limits, or (with a gateway URL override) one shard and no limit to ask about.
async fn plan_shards(
    config: &Config,
    metrics: &Metrics,
) -> Result<(Vec<ShardId>, InMemoryQueue), RunError> {
    if config.gateway_url.is_some() {
        let concurrency = config.identify_concurrency.unwrap_or(1);
        let queue = InMemoryQueue::new(
            concurrency,
            LOCAL_IDENTIFY_PERMITS,
            Duration::from_hours(24),
            LOCAL_IDENTIFY_PERMITS,
        );
        return Ok((config.shards.ids(1), queue));
    }
    let http = twilight_http::Client::new(config.token.expose().to_owned());
    let mut attempt = 0u32;
    let info = loop {
        match fetch_gateway_info(&http).await {
            Ok(info) => break info,
            Err(GatewayInfoError::Unauthorized) => return Err(RunError::Unauthorized),
            Err(GatewayInfoError::Other(err)) => {
                crate::metrics::inc(&metrics.gateway_errors);
                let delay = Backoff::default().delay(attempt);
                tracing::warn!(error = %err, ?delay, "cannot ask discord for the shard count; retrying");
                attempt = attempt.saturating_add(1);
                tokio::time::sleep(delay).await;
            }
        }
    };
    let limit = info.session_start_limit;
    let concurrency = config
        .identify_concurrency
        .unwrap_or(limit.max_concurrency)
        .max(1);
    let queue = InMemoryQueue::new(
        concurrency,
        limit.remaining.min(limit.total),
        Duration::from_millis(limit.reset_after),
        limit.total,
    );
    let ids = config.shards.ids(info.shards);
    if config.shards == ShardPlan::Recommended {
        tracing::info!(
            shards = info.shards,
            "running discord's recommended shard count"
        );
    }
    Ok((ids, queue))
}

enum GatewayInfoError {
    Unauthorized,
    Other(String),
}

async fn fetch_gateway_info(
    http: &twilight_http::Client,
) -> Result<twilight_model::gateway::connection_info::BotConnectionInfo, GatewayInfoError> {
    let classify = |err: twilight_http::Error| match err.kind() {
        twilight_http::error::ErrorType::Unauthorized => GatewayInfoError::Unauthorized,
        twilight_http::error::ErrorType::Response { status, .. } if status.get() == 401 => {
            GatewayInfoError::Unauthorized
        }
        _ => GatewayInfoError::Other(err.to_string()),
    };
    let response = http.gateway().authed().await.map_err(classify)?;
    response
        .model()
        .await
        .map_err(|e| GatewayInfoError::Other(e.to_string()))
}

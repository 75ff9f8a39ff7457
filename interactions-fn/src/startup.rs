//! Start-up: configuration, logging, the store (built and warmed once, never per request).

use std::time::Duration;

use callstats_store::Timeouts;
use callstats_store::{Store, StoreError};

use crate::background::Background;
use crate::config::Config;
use crate::context::App;
use callstats_runtime::{ConfigError, Env, LogFormat};

/// Timeouts for the request path: a stalled store must leave time for an apology inside
/// Discord's 3 seconds.
pub const REQUEST_TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(1),
    attempt: Duration::from_millis(1500),
    operation: Duration::from_millis(2300),
};

/// Why the program could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    /// The table does not answer: wrong name, region, endpoint or credentials.
    #[error("cannot reach the table: {0}")]
    Store(#[from] StoreError),
    /// The Lambda runtime loop ended (the Runtime API went away or refused us).
    #[error("lambda runtime stopped: {0}")]
    Runtime(String),
}

/// Which front end the app serves: it decides where long work runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontEnd {
    /// On Lambda: long work goes to an asynchronous invocation of the function itself.
    Lambda,
    /// `serve`: long work runs in tasks of this process.
    Serve,
}

/// Builds the app from `config`: connects the store and warms its connection.
pub async fn build_app(config: &Config, front_end: FrontEnd) -> Result<App, StartError> {
    callstats_runtime::install_crypto_provider();
    let store = Store::connect(config.table.clone(), REQUEST_TIMEOUTS).await;
    store.ping().await?;
    store.check_schema_version().await?;
    tracing::info!(table = %config.table, "store ready");
    let background = match front_end {
        FrontEnd::Serve => Background::tasks(),
        FrontEnd::Lambda => {
            let function = config.function_name.clone().ok_or_else(|| {
                ConfigError::missing(
                    crate::config::FUNCTION_NAME,
                    "Lambda sets it; outside Lambda use `serve`",
                )
            })?;
            Background::self_invoke(function).await
        }
    };
    // Background jobs page through whole partitions: same table, the store's default
    // (longer) timeouts.
    let job_store = Store::connect(config.table.clone(), Timeouts::default()).await;
    Ok(App::builder(store, config.public_key)
        .job_store(job_store)
        .api_base(config.api_base.clone())
        .background(background)
        .guilds(config.guilds.clone())
        .build())
}

/// The Lambda entry point: configuration from the environment, the store built and warmed
/// during init, then the runtime loop.
pub async fn run_lambda() -> Result<(), StartError> {
    let config = Config::from_env(&Env::process())?;
    let app = build_app(&config, FrontEnd::Lambda).await?;
    crate::lambda::run(app)
        .await
        .map_err(|err| StartError::Runtime(err.to_string()))
}

/// Logs to stderr in `format` (see [`crate::config::log_format`]); the level from `RUST_LOG`
/// (default `info`). The HTTP clients' logs stay off whatever `RUST_LOG` says: a webhook
/// path carries the interaction token.
pub fn init_tracing(format: LogFormat) {
    let filter = callstats_runtime::log_filter(std::env::var("RUST_LOG").ok().as_deref(), "info");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == LogFormat::Json {
        builder
            .json()
            .with_current_span(true)
            .flatten_event(true)
            .try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
}

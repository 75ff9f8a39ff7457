//! Start-up: configuration, logging, the store (built and warmed once, never per request).

use std::time::Duration;

use callstats_common::store::Timeouts;
use callstats_common::{Store, StoreError};

use crate::config::{Config, ConfigError};
use crate::handler::App;
use crate::rest;

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

/// Builds the app from `config`: connects the store and warms its connection.
pub async fn build_app(config: &Config) -> Result<App, StartError> {
    rest::install_crypto_provider();
    let store = Store::connect(config.table.clone(), REQUEST_TIMEOUTS).await;
    store.ping().await?;
    tracing::info!(table = %config.table, "store ready");
    Ok(App::builder(store, config.public_key).build())
}

/// The Lambda entry point: configuration from the environment, the store built and warmed
/// during init, then the runtime loop.
pub async fn run_lambda() -> Result<(), StartError> {
    let config = Config::from_env()?;
    let app = build_app(&config).await?;
    crate::lambda::run(app)
        .await
        .map_err(|err| StartError::Runtime(err.to_string()))
}

/// Logs to stderr: JSON when `AWS_LAMBDA_LOG_FORMAT` or `CALLSTATS_LOG_FORMAT` is `json`,
/// text otherwise; the level from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let json = ["AWS_LAMBDA_LOG_FORMAT", "CALLSTATS_LOG_FORMAT"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| v.eq_ignore_ascii_case("json")));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .flatten_event(true)
            .try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
}

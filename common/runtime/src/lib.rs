//! Program plumbing both callstats programs share, said once: reading the environment and
//! naming what is wrong with it ([`env`]), the clock seam ([`clock`]), the bot token
//! ([`token`]), the servers a private deployment serves ([`guilds`]), the log format
//! ([`LogFormat`]), the shutdown signal ([`shutdown_signal`]) and the TLS crypto provider
//! ([`install_crypto_provider`]).
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod clock;
pub mod env;
pub mod guilds;
pub mod token;

pub use clock::{Clock, FileClock, ManualClock, SystemClock};
pub use env::{ConfigError, Env};
pub use guilds::GuildAllowList;
pub use token::Token;

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `CALLSTATS_LOG_FORMAT`: `text` (or unset) or `json`.
pub const LOG_FORMAT: &str = "CALLSTATS_LOG_FORMAT";

/// Targets whose logs can carry a secret (an interaction token in a webhook path or in a
/// raw Lambda event, a bot token in a header): off whatever `RUST_LOG` says.
pub const SECRET_BEARING: [&str; 11] = [
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "twilight_http",
    "twilight_http_ratelimiting",
    "hyper",
    "hyper_util",
    "h2",
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "aws_sigv4",
];

/// The log filter: `RUST_LOG` (or `default` without it, or when it does not parse), with
/// [`SECRET_BEARING`] targets turned off on top.
#[must_use]
pub fn log_filter(rust_log: Option<&str>, default: &str) -> tracing_subscriber::EnvFilter {
    let base = rust_log
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default));
    SECRET_BEARING.iter().fold(base, |filter, target| {
        match format!("{target}=off").parse() {
            Ok(directive) => filter.add_directive(directive),
            Err(_) => filter,
        }
    })
}

impl LogFormat {
    /// `CALLSTATS_LOG_FORMAT` alone: logging starts before the rest of the configuration is
    /// read.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        match env
            .get(LOG_FORMAT)
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some(other) => Err(ConfigError::invalid(
                LOG_FORMAT,
                format!("{other:?} is neither text nor json"),
            )),
        }
    }
}

/// Installs rustls' ring provider as the process default. twilight's gateway and HTTP clients
/// build their TLS configuration from the default provider and panic when none (or more than
/// one) is available; every program calls this first. Calling it again is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C), logging which.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!(signal = "SIGTERM", "stopping"),
                    _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "stopping"),
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; stopping on SIGINT only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Error chains (from the AWS SDK, say) can span lines; an operator reading stderr gets one.
#[must_use]
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod log_tests {
    use super::*;
    use tracing::Level;
    use tracing::subscriber::with_default;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// Counts the events of secret-bearing targets that pass the filter.
    #[derive(Clone, Default)]
    struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Count {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if event.metadata().target() != "callstats" {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn secret_bearing_targets_stay_off_whatever_rust_log_says() {
        for rust_log in [
            Some("trace"),
            Some("twilight_http=trace,hyper=trace"),
            None,
            Some("[["),
        ] {
            let count = Count::default();
            let subscriber = tracing_subscriber::registry()
                .with(log_filter(rust_log, "info"))
                .with(count.clone());
            with_default(subscriber, || {
                tracing::event!(target: "twilight_http::client", Level::ERROR, "path with a token");
                tracing::event!(target: "hyper::proto", Level::ERROR, "headers");
                tracing::event!(target: "callstats", Level::INFO, "ours");
            });
            assert_eq!(
                count.0.load(std::sync::atomic::Ordering::SeqCst),
                0,
                "{rust_log:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_format_is_text_or_json() {
        let format = |v: &str| LogFormat::from_env(&Env::from_pairs(&[(LOG_FORMAT, v)]));
        assert_eq!(
            LogFormat::from_env(&Env::from_pairs(&[])),
            Ok(LogFormat::Text)
        );
        assert_eq!(format("text"), Ok(LogFormat::Text));
        assert_eq!(format(" JSON "), Ok(LogFormat::Json));
        let err = format("yaml").unwrap_err();
        assert_eq!(err.variable, LOG_FORMAT);
        assert!(
            err.to_string()
                .starts_with("CALLSTATS_LOG_FORMAT is invalid")
        );
    }

    #[test]
    fn one_line_joins_lines() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
    }
}

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

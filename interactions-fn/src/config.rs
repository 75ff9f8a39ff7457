//! Configuration from the environment, validated once at start-up.
//!
//! | variable | used by | meaning |
//! |---|---|---|
//! | `DISCORD_PUBLIC_KEY` | Lambda, `serve` | the application's public key, 64 hex digits |
//! | `CALLSTATS_TABLE` | Lambda, `serve` | the DynamoDB table |
//! | `DISCORD_API_BASE` | all | Discord's REST API, default `https://discord.com/api/v10` |
//! | `DISCORD_TOKEN` | `register-commands` | the bot token |
//! | `DISCORD_APPLICATION_ID` | `register-commands` | the application id |
//! | `AWS_LAMBDA_FUNCTION_NAME` | Lambda | set by Lambda; the function invokes itself to finish long work |
//!
//! AWS credentials, region and `AWS_ENDPOINT_URL_DYNAMODB` come from the standard AWS chain.

use std::fmt;

use ed25519_dalek::VerifyingKey;

use callstats_core::ids::{ApplicationId, parse_id};
use callstats_store::TableName;

pub const PUBLIC_KEY: &str = "DISCORD_PUBLIC_KEY";
pub const TABLE: &str = "CALLSTATS_TABLE";
pub const API_BASE: &str = "DISCORD_API_BASE";
pub const TOKEN: &str = "DISCORD_TOKEN";
pub const APPLICATION_ID: &str = "DISCORD_APPLICATION_ID";
pub const FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
pub const DEFAULT_API_BASE: &str = "https://discord.com/api/v10";

/// A configuration value that is missing or unusable. Ends the process with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or empty).
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable is set to something unusable; the text says what is expected.
    #[error("{name} is invalid: {expected}")]
    Invalid {
        name: &'static str,
        expected: &'static str,
    },
}

/// `CALLSTATS_LOG_FORMAT`: `text` (or unset) or `json`.
pub const LOG_FORMAT: &str = "CALLSTATS_LOG_FORMAT";
/// Set by Lambda to `JSON` or `Text` (the function's `LoggingConfig`).
pub const LAMBDA_LOG_FORMAT: &str = "AWS_LAMBDA_LOG_FORMAT";

/// Whether logs are JSON: `CALLSTATS_LOG_FORMAT=json`, or Lambda's own setting says JSON.
/// Read on its own, before the rest, because logging starts first.
pub fn json_logs_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    let value = |name: &str| lookup(name).map(|v| v.trim().to_ascii_lowercase());
    let ours = match value(LOG_FORMAT).as_deref() {
        None | Some("" | "text") => false,
        Some("json") => true,
        Some(_) => {
            return Err(ConfigError::Invalid {
                name: LOG_FORMAT,
                expected: "text or json",
            });
        }
    };
    Ok(ours || value(LAMBDA_LOG_FORMAT).as_deref() == Some("json"))
}

/// Where Discord's REST API lives. Only the scheme and host are free: twilight-http speaks
/// API v10 at `/api/v10`, so the path must be exactly that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiBase {
    /// `host` or `host:port`.
    pub host: String,
    /// Plain HTTP (local fakes); HTTPS otherwise.
    pub use_http: bool,
}

impl ApiBase {
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        const EXPECTED: &str =
            "an http(s) URL ending in /api/v10, like https://discord.com/api/v10";
        let invalid = || ConfigError::Invalid {
            name: API_BASE,
            expected: EXPECTED,
        };
        let uri: http::Uri = value.trim().parse().map_err(|_| invalid())?;
        let use_http = match uri.scheme_str() {
            Some("https") => false,
            Some("http") => true,
            _ => return Err(invalid()),
        };
        let host = uri.authority().ok_or_else(invalid)?.as_str();
        if host.contains('@') || uri.query().is_some() {
            return Err(invalid());
        }
        if uri.path().trim_end_matches('/') != "/api/v10" {
            return Err(invalid());
        }
        Ok(Self {
            host: host.to_owned(),
            use_http,
        })
    }
}

impl Default for ApiBase {
    fn default() -> Self {
        Self {
            host: "discord.com".into(),
            use_http: false,
        }
    }
}

impl fmt::Display for ApiBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.use_http { "http" } else { "https" };
        write!(f, "{scheme}://{}/api/v10", self.host)
    }
}

/// What the endpoint (Lambda or `serve`) needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub public_key: VerifyingKey,
    pub table: TableName,
    pub api_base: ApiBase,
    /// Set on Lambda: the function's own name, for asynchronous self-invocation.
    pub function_name: Option<String>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let public_key =
            parse_public_key(&get(PUBLIC_KEY).ok_or(ConfigError::Missing(PUBLIC_KEY))?)?;
        let table = get(TABLE)
            .ok_or(ConfigError::Missing(TABLE))?
            .parse()
            .map_err(|_| ConfigError::Invalid {
                name: TABLE,
                expected: "3 to 255 characters of a-z, A-Z, 0-9, '_', '-' and '.'",
            })?;
        let api_base = get(API_BASE)
            .map(|v| ApiBase::parse(&v))
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            public_key,
            table,
            api_base,
            function_name: get(FUNCTION_NAME),
        })
    }
}

/// A Discord application's public key: 32 bytes as 64 hex digits.
pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, ConfigError> {
    let invalid = ConfigError::Invalid {
        name: PUBLIC_KEY,
        expected: "the application's public key, 64 hex digits",
    };
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key.trim(), &mut bytes).map_err(|_| invalid.clone())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| invalid)
}

/// What `register-commands` needs.
#[derive(Clone)]
pub struct RegisterConfig {
    pub token: String,
    pub application_id: ApplicationId,
    pub api_base: ApiBase,
}

impl fmt::Debug for RegisterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterConfig")
            .field("token", &"<redacted>")
            .field("application_id", &self.application_id)
            .field("api_base", &self.api_base)
            .finish()
    }
}

impl RegisterConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let token = get(TOKEN).ok_or(ConfigError::Missing(TOKEN))?;
        if token
            .chars()
            .any(|c| c.is_whitespace() && c != ' ' || c.is_control())
        {
            return Err(ConfigError::Invalid {
                name: TOKEN,
                expected: "the bot token from the developer portal",
            });
        }
        let application_id = parse_id(
            &get(APPLICATION_ID).ok_or(ConfigError::Missing(APPLICATION_ID))?,
        )
        .ok_or(ConfigError::Invalid {
            name: APPLICATION_ID,
            expected: "the application id, a positive decimal snowflake",
        })?;
        let api_base = get(API_BASE)
            .map(|v| ApiBase::parse(&v))
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            token,
            application_id,
            api_base,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn key_hex() -> String {
        hex::encode(
            ed25519_dalek::SigningKey::from_bytes(&[7; 32])
                .verifying_key()
                .to_bytes(),
        )
    }

    #[test]
    fn reads_a_complete_configuration() {
        let config = Config::from_lookup(lookup(&[
            (PUBLIC_KEY, &key_hex()),
            (TABLE, "callstats"),
            (API_BASE, "http://127.0.0.1:8080/api/v10/"),
        ]))
        .unwrap();
        assert_eq!(config.table.as_str(), "callstats");
        assert_eq!(
            config.api_base,
            ApiBase {
                host: "127.0.0.1:8080".into(),
                use_http: true
            }
        );
        assert_eq!(config.api_base.to_string(), "http://127.0.0.1:8080/api/v10");
        assert_eq!(config.function_name, None);
    }

    #[test]
    fn names_the_bad_variable() {
        assert_eq!(
            Config::from_lookup(lookup(&[(TABLE, "t12")])).unwrap_err(),
            ConfigError::Missing(PUBLIC_KEY)
        );
        for bad in ["xyz", "00", &"0".repeat(63), &"g".repeat(64)] {
            let err =
                Config::from_lookup(lookup(&[(PUBLIC_KEY, bad), (TABLE, "t12")])).unwrap_err();
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        name: PUBLIC_KEY,
                        ..
                    }
                ),
                "{bad}"
            );
        }
        let err =
            Config::from_lookup(lookup(&[(PUBLIC_KEY, &key_hex()), (TABLE, "a b")])).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { name: TABLE, .. }));
        assert_eq!(
            Config::from_lookup(lookup(&[(PUBLIC_KEY, &key_hex())])).unwrap_err(),
            ConfigError::Missing(TABLE)
        );
        assert!(
            ConfigError::Missing(TABLE)
                .to_string()
                .contains("CALLSTATS_TABLE")
        );
    }

    #[test]
    fn log_format_is_text_or_json() {
        assert_eq!(json_logs_from_lookup(lookup(&[])), Ok(false));
        assert_eq!(
            json_logs_from_lookup(lookup(&[(LOG_FORMAT, "text")])),
            Ok(false)
        );
        assert_eq!(
            json_logs_from_lookup(lookup(&[(LOG_FORMAT, " JSON ")])),
            Ok(true)
        );
        assert_eq!(
            json_logs_from_lookup(lookup(&[(LAMBDA_LOG_FORMAT, "JSON")])),
            Ok(true)
        );
        assert_eq!(
            json_logs_from_lookup(lookup(&[(LAMBDA_LOG_FORMAT, "Text")])),
            Ok(false)
        );
        assert_eq!(
            json_logs_from_lookup(lookup(&[(LOG_FORMAT, "yaml"), (LAMBDA_LOG_FORMAT, "JSON")])),
            Err(ConfigError::Invalid {
                name: LOG_FORMAT,
                expected: "text or json"
            })
        );
    }

    #[test]
    fn api_base_must_be_api_v10() {
        assert_eq!(
            ApiBase::parse(DEFAULT_API_BASE).unwrap(),
            ApiBase::default()
        );
        for bad in [
            "discord.com/api/v10",
            "ftp://discord.com/api/v10",
            "https://discord.com/api/v9",
            "https://discord.com",
            "https://user@discord.com/api/v10",
            "https://discord.com/api/v10?x=1",
        ] {
            assert!(ApiBase::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn register_config_hides_the_token() {
        let config = RegisterConfig::from_lookup(lookup(&[
            (TOKEN, "secret.token"),
            (APPLICATION_ID, "123"),
        ]))
        .unwrap();
        assert!(!format!("{config:?}").contains("secret"));
        assert!(
            RegisterConfig::from_lookup(lookup(&[(TOKEN, "t"), (APPLICATION_ID, "0")])).is_err()
        );
    }
}

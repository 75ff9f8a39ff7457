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
//! | `CALLSTATS_GUILDS` | Lambda, `serve` | server ids separated by commas: a private deployment answers only these servers, others get a notice |
//!
//! AWS credentials, region and `AWS_ENDPOINT_URL_DYNAMODB` come from the standard AWS chain.

use std::fmt;

use callstats_runtime::{ConfigError, Env, GuildAllowList, LogFormat, Token};
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

/// Set by Lambda to `JSON` or `Text` (the function's `LoggingConfig`).
pub const LAMBDA_LOG_FORMAT: &str = "AWS_LAMBDA_LOG_FORMAT";

/// The log format: `CALLSTATS_LOG_FORMAT`, or JSON when Lambda's own setting says so.
/// Read on its own, before the rest, because logging starts first.
pub fn log_format(env: &Env) -> Result<LogFormat, ConfigError> {
    let ours = LogFormat::from_env(env)?;
    let lambda_json = env
        .get(LAMBDA_LOG_FORMAT)
        .is_some_and(|v| v.eq_ignore_ascii_case("json"));
    Ok(if lambda_json { LogFormat::Json } else { ours })
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
        let invalid = || {
            ConfigError::invalid(
                API_BASE,
                "an http(s) URL ending in /api/v10, like https://discord.com/api/v10",
            )
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
    /// The servers answered (`CALLSTATS_GUILDS`).
    pub guilds: GuildAllowList,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let public_key = parse_public_key(&env.required(
            PUBLIC_KEY,
            "give the application's public key (64 hex digits)",
        )?)?;
        let table = env
            .required(TABLE, "give the DynamoDB table name")?
            .parse()
            .map_err(|e: callstats_store::InvalidTableName| ConfigError::invalid(TABLE, e))?;
        Ok(Self {
            public_key,
            table,
            api_base: api_base(env)?,
            function_name: env.get(FUNCTION_NAME),
            guilds: GuildAllowList::from_env(env)?,
        })
    }
}

/// `DISCORD_API_BASE`, Discord's own when unset.
fn api_base(env: &Env) -> Result<ApiBase, ConfigError> {
    Ok(env
        .get(API_BASE)
        .map(|v| ApiBase::parse(&v))
        .transpose()?
        .unwrap_or_default())
}

/// A Discord application's public key: 32 bytes as 64 hex digits.
pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, ConfigError> {
    let invalid = ConfigError::invalid(PUBLIC_KEY, "the application's public key, 64 hex digits");
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key.trim(), &mut bytes).map_err(|_| invalid.clone())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| invalid)
}

/// What `register-commands` needs.
#[derive(Clone, Debug)]
pub struct RegisterConfig {
    pub token: Token,
    pub application_id: ApplicationId,
    pub api_base: ApiBase,
}

impl RegisterConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let token =
            Token::new(&env.required(TOKEN, "give the bot token")?).map_err(|e| ConfigError {
                variable: TOKEN,
                problem: e.to_string(),
            })?;
        let application_id = parse_id(&env.required(APPLICATION_ID, "give the application id")?)
            .ok_or_else(|| {
                ConfigError::invalid(
                    APPLICATION_ID,
                    "the application id, a positive decimal snowflake",
                )
            })?;
        Ok(Self {
            token,
            application_id,
            api_base: api_base(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callstats_runtime::LOG_FORMAT;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs)
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
        let config = Config::from_env(&env(&[
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
        assert!(!config.guilds.is_restricted());
        let config = Config::from_env(&env(&[
            (PUBLIC_KEY, &key_hex()),
            (TABLE, "callstats"),
            (callstats_runtime::guilds::GUILDS, "7, 8"),
        ]))
        .unwrap();
        assert_eq!(config.guilds.count(), Some(2));
    }

    #[test]
    fn names_the_bad_variable() {
        let variable = |pairs: &[(&str, &str)]| Config::from_env(&env(pairs)).unwrap_err();
        let err = variable(&[(TABLE, "t12")]);
        assert_eq!(err.variable, PUBLIC_KEY);
        assert!(err.to_string().starts_with("DISCORD_PUBLIC_KEY is not set"));
        for bad in ["xyz", "00", &"0".repeat(63), &"g".repeat(64)] {
            let err = variable(&[(PUBLIC_KEY, bad), (TABLE, "t12")]);
            assert_eq!(err.variable, PUBLIC_KEY, "{bad}");
            assert!(err.to_string().starts_with("DISCORD_PUBLIC_KEY is invalid"));
        }
        let err = variable(&[(PUBLIC_KEY, &key_hex()), (TABLE, "a b")]);
        assert!(err.to_string().starts_with("CALLSTATS_TABLE is invalid"));
        let err = variable(&[(PUBLIC_KEY, &key_hex())]);
        assert!(err.to_string().starts_with("CALLSTATS_TABLE is not set"));
    }

    #[test]
    fn log_format_follows_lambda_too() {
        let format = |pairs: &[(&str, &str)]| log_format(&env(pairs));
        assert_eq!(format(&[]), Ok(LogFormat::Text));
        assert_eq!(format(&[(LOG_FORMAT, " JSON ")]), Ok(LogFormat::Json));
        assert_eq!(format(&[(LAMBDA_LOG_FORMAT, "JSON")]), Ok(LogFormat::Json));
        assert_eq!(format(&[(LAMBDA_LOG_FORMAT, "Text")]), Ok(LogFormat::Text));
        let err = format(&[(LOG_FORMAT, "yaml"), (LAMBDA_LOG_FORMAT, "JSON")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("CALLSTATS_LOG_FORMAT is invalid")
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
    fn register_config_validates_the_token_as_the_sidecar_does() {
        let config = RegisterConfig::from_env(&env(&[
            (TOKEN, "Bot secret.token"),
            (APPLICATION_ID, "123"),
        ]))
        .unwrap();
        assert_eq!(config.token.expose(), "secret.token");
        assert!(!format!("{config:?}").contains("secret"));
        assert!(RegisterConfig::from_env(&env(&[(TOKEN, "t"), (APPLICATION_ID, "0")])).is_err());
        let err =
            RegisterConfig::from_env(&env(&[(TOKEN, "a b"), (APPLICATION_ID, "1")])).unwrap_err();
        assert_eq!(err.variable, TOKEN);
    }
}

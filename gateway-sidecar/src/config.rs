//! Configuration: every environment variable read once, validated into types.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `DISCORD_TOKEN` | required | the bot token (never logged) |
//! | `CALLSTATS_TABLE` | required | the DynamoDB table |
//! | `CALLSTATS_GATEWAY_URL` | Discord's | a `ws://` or `wss://` gateway to connect to instead (tests, the local simulator); one shard unless `CALLSTATS_SHARDS` says otherwise |
//! | `CALLSTATS_SHARDS` | Discord's recommendation | a count (`4`: shards 0-3 of 4) or a range of a total (`0-3/8`: shards 0 to 3 of 8, for one of several processes) |
//! | `CALLSTATS_IDENTIFY_CONCURRENCY` | Discord's `max_concurrency` (1 with a gateway URL) | how many shards may IDENTIFY in the same 5 s |
//! | `CALLSTATS_STATE_DIR` | `state` (relative to the working directory) | the durable write spool, dead letters and a local copy of the resume state; put it on a persistent volume |
//! | `CALLSTATS_HEARTBEAT_SECS` | 30 | how often each shard records "alive at" |
//! | `CALLSTATS_MAX_GAP_SECS` | 300 | after a crash, a member still in the same channel keeps their session if the sidecar was gone at most this long |
//! | `CALLSTATS_HTTP_LISTEN` | `127.0.0.1:9100` | `/healthz` and `/metrics` |
//! | `CALLSTATS_LOG_FORMAT` | `text` | `json` for one JSON object per line |
//! | `CALLSTATS_CLOCK_FILE` | unset | tests and the simulator only: read "now" (Unix seconds) from this file instead of the system clock |
//!
//! The AWS settings come from the standard chain (`AWS_REGION`, credentials,
//! `AWS_ENDPOINT_URL_DYNAMODB` for a local server).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use callstats_store::TableName;
use twilight_model::gateway::ShardId;

/// Where `CALLSTATS_STATE_DIR` points when unset.
pub const DEFAULT_STATE_DIR: &str = "state";
pub const DEFAULT_HEARTBEAT_SECS: u64 = 30;
pub const DEFAULT_MAX_GAP_SECS: u64 = 300;
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:9100";

/// The bot token. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Validates a token as given (with or without the `Bot ` prefix).
    pub fn new(token: &str) -> Result<Self, String> {
        let token = token.trim();
        let bare = token.strip_prefix("Bot ").unwrap_or(token);
        if bare.is_empty() {
            return Err("is empty".into());
        }
        if bare.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("contains whitespace".into());
        }
        Ok(Self(bare.to_owned()))
    }

    /// The token itself, for the gateway and HTTP clients only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Which shards this process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardPlan {
    /// As many as Discord recommends (one with a gateway URL override).
    Recommended,
    /// Shards `0..count` of `count`.
    Count(u32),
    /// Shards `first..=last` of `total`.
    Range { first: u32, last: u32, total: u32 },
}

impl ShardPlan {
    /// The shard ids, given the recommended total when the plan defers to it.
    #[must_use]
    pub fn ids(self, recommended: u32) -> Vec<ShardId> {
        let (first, last, total) = match self {
            Self::Recommended => (0, recommended.max(1) - 1, recommended.max(1)),
            Self::Count(n) => (0, n - 1, n),
            Self::Range { first, last, total } => (first, last, total),
        };
        (first..=last).map(|n| ShardId::new(n, total)).collect()
    }

    fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is neither a shard count (4) nor a range of a total (0-3/8)");
        if let Some((range, total)) = s.split_once('/') {
            let total: u32 = total.trim().parse().map_err(|_| bad())?;
            let (first, last) = range.split_once('-').unwrap_or((range, range));
            let first = first.trim().parse::<u32>().map_err(|_| bad())?;
            let last = last.trim().parse::<u32>().map_err(|_| bad())?;
            if total == 0 || first > last || last >= total {
                return Err(format!(
                    "{s:?}: the range must be inside 0..{total} and not empty"
                ));
            }
            Ok(Self::Range { first, last, total })
        } else {
            match s.trim().parse::<u32>() {
                Ok(0) => Err("the shard count must be at least 1".into()),
                Ok(n) => Ok(Self::Count(n)),
                Err(_) => Err(bad()),
            }
        }
    }
}

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Everything `run` needs to know, validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub token: Token,
    pub table: TableName,
    /// Base URL of the gateway, without a trailing slash; `None` is Discord's.
    pub gateway_url: Option<String>,
    pub shards: ShardPlan,
    pub identify_concurrency: Option<u16>,
    pub state_dir: PathBuf,
    pub heartbeat: Duration,
    pub max_gap_secs: u64,
    pub http_listen: SocketAddr,
    pub log_format: LogFormat,
    pub clock_file: Option<PathBuf>,
}

/// A variable that is missing or invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{variable} {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `get` (the environment, or a map in tests). An empty
    /// value counts as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let token = get("DISCORD_TOKEN")
            .ok_or_else(|| ConfigError::new("DISCORD_TOKEN", "is not set: give the bot token"))?;
        let token = Token::new(&token).map_err(|p| ConfigError::new("DISCORD_TOKEN", p))?;
        let table = table_from_lookup(&get)?;
        let gateway_url = get("CALLSTATS_GATEWAY_URL")
            .map(|url| {
                let url = url.trim().trim_end_matches('/').to_owned();
                if (url.starts_with("ws://") || url.starts_with("wss://")) && url.len() > 6 {
                    Ok(url)
                } else {
                    Err(ConfigError::new(
                        "CALLSTATS_GATEWAY_URL",
                        format!("{url:?} is not a ws:// or wss:// URL"),
                    ))
                }
            })
            .transpose()?;
        let shards = get("CALLSTATS_SHARDS")
            .map(|s| ShardPlan::parse(&s).map_err(|p| ConfigError::new("CALLSTATS_SHARDS", p)))
            .transpose()?
            .unwrap_or(ShardPlan::Recommended);
        let identify_concurrency = get("CALLSTATS_IDENTIFY_CONCURRENCY")
            .map(|s| match s.trim().parse::<u16>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(ConfigError::new(
                    "CALLSTATS_IDENTIFY_CONCURRENCY",
                    format!("{s:?} is not a whole number from 1 to 65535"),
                )),
            })
            .transpose()?;
        let state_dir = PathBuf::from(
            get("CALLSTATS_STATE_DIR").unwrap_or_else(|| DEFAULT_STATE_DIR.to_owned()),
        );
        let heartbeat = seconds(&get, "CALLSTATS_HEARTBEAT_SECS", DEFAULT_HEARTBEAT_SECS, 1)?;
        let max_gap_secs = seconds(&get, "CALLSTATS_MAX_GAP_SECS", DEFAULT_MAX_GAP_SECS, 0)?;
        let listen = get("CALLSTATS_HTTP_LISTEN").unwrap_or_else(|| DEFAULT_HTTP_LISTEN.to_owned());
        let http_listen = listen.trim().parse::<SocketAddr>().map_err(|_| {
            ConfigError::new(
                "CALLSTATS_HTTP_LISTEN",
                format!("{listen:?} is not an address and port like 127.0.0.1:9100"),
            )
        })?;
        let log_format = log_format_from_lookup(&get)?;
        Ok(Self {
            token,
            table,
            gateway_url,
            shards,
            identify_concurrency,
            state_dir,
            heartbeat: Duration::from_secs(heartbeat),
            max_gap_secs,
            http_listen,
            log_format,
            clock_file: get("CALLSTATS_CLOCK_FILE").map(PathBuf::from),
        })
    }
}

/// `CALLSTATS_TABLE` alone (all `create-table` needs).
pub fn table_from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<TableName, ConfigError> {
    let table = get("CALLSTATS_TABLE")
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            ConfigError::new(
                "CALLSTATS_TABLE",
                "is not set: give the DynamoDB table name",
            )
        })?;
    table
        .trim()
        .parse()
        .map_err(|e| ConfigError::new("CALLSTATS_TABLE", format!("is invalid: {e}")))
}

/// `CALLSTATS_LOG_FORMAT` alone (logging starts before the rest is read).
pub fn log_format_from_lookup(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<LogFormat, ConfigError> {
    match get("CALLSTATS_LOG_FORMAT")
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("" | "text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(ConfigError::new(
            "CALLSTATS_LOG_FORMAT",
            format!("{other:?} is neither text nor json"),
        )),
    }
}

fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    min: u64,
) -> Result<u64, ConfigError> {
    let Some(value) = get(variable) else {
        return Ok(default);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if n >= min && n <= 86_400 => Ok(n),
        _ => Err(ConfigError::new(
            variable,
            format!("{value:?} is not a number of seconds from {min} to 86400"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const BASE: [(&str, &str); 2] = [
        ("DISCORD_TOKEN", "abc.def"),
        ("CALLSTATS_TABLE", "callstats"),
    ];

    #[test]
    fn defaults() {
        let c = parse(&BASE).unwrap();
        assert_eq!(c.token.expose(), "abc.def");
        assert_eq!(c.table.as_str(), "callstats");
        assert_eq!(c.gateway_url, None);
        assert_eq!(c.shards, ShardPlan::Recommended);
        assert_eq!(c.state_dir, PathBuf::from("state"));
        assert_eq!(c.heartbeat, Duration::from_secs(30));
        assert_eq!(c.max_gap_secs, 300);
        assert_eq!(c.http_listen.to_string(), "127.0.0.1:9100");
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.clock_file, None);
    }

    #[test]
    fn missing_required_variables_name_themselves() {
        let e = parse(&[("CALLSTATS_TABLE", "callstats")]).unwrap_err();
        assert_eq!(e.variable, "DISCORD_TOKEN");
        let e = parse(&[("DISCORD_TOKEN", "x"), ("CALLSTATS_TABLE", " ")]).unwrap_err();
        assert_eq!(e.variable, "CALLSTATS_TABLE");
        let e = parse(&[("DISCORD_TOKEN", "x"), ("CALLSTATS_TABLE", "a b")]).unwrap_err();
        assert_eq!(e.variable, "CALLSTATS_TABLE");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn the_token_never_shows() {
        let c = parse(&[("DISCORD_TOKEN", "Bot secret.token"), BASE[1]]).unwrap();
        assert_eq!(c.token.expose(), "secret.token");
        assert!(!format!("{c:?}").contains("secret"));
        assert!(parse(&[("DISCORD_TOKEN", "a b"), BASE[1]]).is_err());
    }

    #[test]
    fn shard_plans() {
        let plan = |s: &str| parse(&[BASE[0], BASE[1], ("CALLSTATS_SHARDS", s)]).map(|c| c.shards);
        assert_eq!(plan("4").unwrap(), ShardPlan::Count(4));
        assert_eq!(
            plan("0-3/8").unwrap(),
            ShardPlan::Range {
                first: 0,
                last: 3,
                total: 8
            }
        );
        assert_eq!(
            plan("5/8").unwrap(),
            ShardPlan::Range {
                first: 5,
                last: 5,
                total: 8
            }
        );
        for bad in ["0", "x", "3-1/8", "0-8/8", "1-2/0", "-1"] {
            assert!(plan(bad).is_err(), "{bad}");
        }
        let ids: Vec<String> = ShardPlan::Range {
            first: 2,
            last: 3,
            total: 8,
        }
        .ids(1)
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(ids, ["[2, 8]", "[3, 8]"]);
        assert_eq!(ShardPlan::Recommended.ids(3).len(), 3);
        assert_eq!(ShardPlan::Count(2).ids(7).len(), 2);
    }

    #[test]
    fn other_variables() {
        let c = parse(&[
            BASE[0],
            BASE[1],
            ("CALLSTATS_GATEWAY_URL", "ws://127.0.0.1:4000/"),
            ("CALLSTATS_HEARTBEAT_SECS", "2"),
            ("CALLSTATS_MAX_GAP_SECS", "0"),
            ("CALLSTATS_HTTP_LISTEN", "0.0.0.0:0"),
            ("CALLSTATS_LOG_FORMAT", "JSON"),
            ("CALLSTATS_STATE_DIR", "/tmp/x"),
            ("CALLSTATS_IDENTIFY_CONCURRENCY", "16"),
        ])
        .unwrap();
        assert_eq!(c.gateway_url.as_deref(), Some("ws://127.0.0.1:4000"));
        assert_eq!(c.heartbeat, Duration::from_secs(2));
        assert_eq!(c.max_gap_secs, 0);
        assert_eq!(c.http_listen.port(), 0);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.identify_concurrency, Some(16));
        for (var, bad) in [
            ("CALLSTATS_GATEWAY_URL", "http://x"),
            ("CALLSTATS_HEARTBEAT_SECS", "0"),
            ("CALLSTATS_HEARTBEAT_SECS", "soon"),
            ("CALLSTATS_MAX_GAP_SECS", "-1"),
            ("CALLSTATS_HTTP_LISTEN", "localhost"),
            ("CALLSTATS_LOG_FORMAT", "xml"),
            ("CALLSTATS_IDENTIFY_CONCURRENCY", "0"),
        ] {
            let e = parse(&[BASE[0], BASE[1], (var, bad)]).unwrap_err();
            assert_eq!(e.variable, var);
        }
    }
}

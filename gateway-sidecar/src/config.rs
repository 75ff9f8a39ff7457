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

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use callstats_runtime::{ConfigError, Env, LogFormat, Token};
use callstats_store::TableName;
use twilight_model::gateway::ShardId;

/// Where `CALLSTATS_STATE_DIR` points when unset.
pub const DEFAULT_STATE_DIR: &str = "state";
pub const DEFAULT_HEARTBEAT_SECS: u64 = 30;
pub const DEFAULT_MAX_GAP_SECS: u64 = 300;
pub const DEFAULT_HTTP_LISTEN: ([u8; 4], u16) = ([127, 0, 0, 1], 9100);

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

impl Config {
    /// Reads the variables (see the module's table).
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let token = env.required("DISCORD_TOKEN", "give the bot token")?;
        let token = Token::new(&token).map_err(|e| ConfigError {
            variable: "DISCORD_TOKEN",
            problem: e.to_string(),
        })?;
        let table = table_from_env(env)?;
        let gateway_url = env.parse("CALLSTATS_GATEWAY_URL", |url| {
            let url = url.trim_end_matches('/');
            if (url.starts_with("ws://") || url.starts_with("wss://")) && url.len() > 6 {
                Ok(url.to_owned())
            } else {
                Err(format!("{url:?} is not a ws:// or wss:// URL"))
            }
        })?;
        let shards = env
            .parse("CALLSTATS_SHARDS", ShardPlan::parse)?
            .unwrap_or(ShardPlan::Recommended);
        let identify_concurrency = env.parse("CALLSTATS_IDENTIFY_CONCURRENCY", |s| {
            match s.parse::<u16>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(format!("{s:?} is not a whole number from 1 to 65535")),
            }
        })?;
        let state_dir = PathBuf::from(
            env.get("CALLSTATS_STATE_DIR")
                .unwrap_or_else(|| DEFAULT_STATE_DIR.to_owned()),
        );
        let heartbeat = env.seconds("CALLSTATS_HEARTBEAT_SECS", DEFAULT_HEARTBEAT_SECS, 1)?;
        let max_gap_secs = env.seconds("CALLSTATS_MAX_GAP_SECS", DEFAULT_MAX_GAP_SECS, 0)?;
        let http_listen = env
            .parse("CALLSTATS_HTTP_LISTEN", |listen| {
                listen.parse::<SocketAddr>().map_err(|_| {
                    format!("{listen:?} is not an address and port like 127.0.0.1:9100")
                })
            })?
            .unwrap_or_else(|| SocketAddr::from(DEFAULT_HTTP_LISTEN));
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
            log_format: LogFormat::from_env(env)?,
            clock_file: env.get("CALLSTATS_CLOCK_FILE").map(PathBuf::from),
        })
    }
}

/// `CALLSTATS_TABLE` alone (all `create-table` needs).
pub fn table_from_env(env: &Env) -> Result<TableName, ConfigError> {
    env.required("CALLSTATS_TABLE", "give the DynamoDB table name")?
        .parse()
        .map_err(|e: callstats_store::InvalidTableName| ConfigError::invalid("CALLSTATS_TABLE", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_env(&Env::from_pairs(vars))
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

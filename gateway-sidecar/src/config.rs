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
//! | `CALLSTATS_TASK` | `0/1` | this process is task `i` of `K` (`1/4`): it runs the `i`-th of `K` equal slices of the `CALLSTATS_SHARDS` count, which `K > 1` requires |
//! | `CALLSTATS_GUILDS` | every server | server ids separated by commas: the only servers tracked; every other server's events are ignored |
//! | `CALLSTATS_HTTP_LISTEN` | `127.0.0.1:7733` | `/healthz` and `/metrics` (outside Prometheus' exporter range 9100-9999, where the 9100 of `node_exporter` is) |
//! | `CALLSTATS_LOG_FORMAT` | `text` | `json` for one JSON object per line |
//! | `CALLSTATS_CLOUDWATCH_NAMESPACE` | unset | when set, the counters the alarms watch are written to stdout every `CALLSTATS_CLOUDWATCH_SECS` (60) seconds in CloudWatch's embedded metric format, under this namespace (see [`crate::emf`]) |
//! | `CALLSTATS_CLOCK_FILE` | unset | tests and the simulator only: read "now" (Unix seconds) from this file instead of the system clock |
//!
//! The AWS settings come from the standard chain (`AWS_REGION`, credentials,
//! `AWS_ENDPOINT_URL_DYNAMODB` for a local server).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use callstats_runtime::{ConfigError, Env, GuildAllowList, LogFormat, Token};
use callstats_store::TableName;
use twilight_model::gateway::ShardId;

/// Where `CALLSTATS_STATE_DIR` points when unset.
pub const DEFAULT_STATE_DIR: &str = "state";
pub const DEFAULT_HEARTBEAT_SECS: u64 = 30;
pub const DEFAULT_MAX_GAP_SECS: u64 = 300;
/// Outside Prometheus' exporter range (9100-9999), where the 9100 of `node_exporter` often is.
pub const DEFAULT_HTTP_LISTEN: ([u8; 4], u16) = ([127, 0, 0, 1], 7733);
pub const DEFAULT_CLOUDWATCH_SECS: u64 = 60;

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

/// Which of several sidecar processes this is (`CALLSTATS_TASK`, `i/K`): each of `K` processes
/// runs its own slice of the shards, so that no two run the same shard and together they run
/// all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task {
    /// 0-based.
    pub index: u32,
    pub count: u32,
}

impl Default for Task {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Task {
    fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a task like 0/2 (the first of two processes)");
        let (index, count) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = index.trim().parse().map_err(|_| bad())?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(format!(
                "{s:?}: the task must be one of 0/{count} to {}/{count}",
                count.max(1) - 1
            ));
        }
        Ok(Self { index, count })
    }

    /// This task's slice of `plan`: the plan itself for a single task; for several, the
    /// `index`-th of `count` contiguous, near-equal ranges of a shard count.
    pub fn slice(self, plan: ShardPlan) -> Result<ShardPlan, String> {
        if self.count == 1 {
            return Ok(plan);
        }
        let ShardPlan::Count(total) = plan else {
            return Err(format!(
                "with {} tasks, CALLSTATS_SHARDS must be the bot's shard count (a number, the same for every task)",
                self.count
            ));
        };
        if total < self.count {
            return Err(format!(
                "{} tasks need at least {} shards, CALLSTATS_SHARDS is {total}",
                self.count, self.count
            ));
        }
        let bound = |i: u32| (u64::from(i) * u64::from(total) / u64::from(self.count)) as u32;
        Ok(ShardPlan::Range {
            first: bound(self.index),
            last: bound(self.index + 1) - 1,
            total,
        })
    }
}

/// Everything `run` needs to know, validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub token: Token,
    pub table: TableName,
    /// Base URL of the gateway, without a trailing slash; `None` is Discord's.
    pub gateway_url: Option<String>,
    /// This process's shards (already sliced for its [`Task`]).
    pub shards: ShardPlan,
    pub task: Task,
    /// The servers tracked; others' events are ignored.
    pub guilds: GuildAllowList,
    pub identify_concurrency: Option<u16>,
    pub state_dir: PathBuf,
    pub heartbeat: Duration,
    pub max_gap_secs: u64,
    pub http_listen: SocketAddr,
    pub log_format: LogFormat,
    /// Where the counters the alarms watch go (CloudWatch's embedded metric format).
    pub cloudwatch: Option<CloudWatch>,
    pub clock_file: Option<PathBuf>,
}

/// `CALLSTATS_CLOUDWATCH_NAMESPACE` and `CALLSTATS_CLOUDWATCH_SECS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudWatch {
    pub namespace: String,
    pub every: Duration,
}

impl CloudWatch {
    fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let namespace = env.parse("CALLSTATS_CLOUDWATCH_NAMESPACE", |ns| {
            let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
            if ns.len() <= 255 && !ns.starts_with(':') && ns.chars().all(allowed) {
                Ok(ns.to_owned())
            } else {
                Err(format!(
                    "{ns:?} is not a CloudWatch namespace (up to 255 letters, digits and . - _ / # : or spaces)"
                ))
            }
        })?;
        let secs = env.seconds("CALLSTATS_CLOUDWATCH_SECS", DEFAULT_CLOUDWATCH_SECS, 1)?;
        Ok(namespace.map(|namespace| Self {
            namespace,
            every: Duration::from_secs(secs),
        }))
    }
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
        let (shards, task) = shards_from_env(env)?;
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
                    format!("{listen:?} is not an address and port like 127.0.0.1:7733")
                })
            })?
            .unwrap_or_else(|| SocketAddr::from(DEFAULT_HTTP_LISTEN));
        Ok(Self {
            token,
            table,
            gateway_url,
            shards,
            task,
            guilds: GuildAllowList::from_env(env)?,
            identify_concurrency,
            state_dir,
            heartbeat: Duration::from_secs(heartbeat),
            max_gap_secs,
            http_listen,
            log_format: LogFormat::from_env(env)?,
            cloudwatch: CloudWatch::from_env(env)?,
            clock_file: env.get("CALLSTATS_CLOCK_FILE").map(PathBuf::from),
        })
    }
}

/// `CALLSTATS_SHARDS` and `CALLSTATS_TASK`: this task's slice of the shards.
fn shards_from_env(env: &Env) -> Result<(ShardPlan, Task), ConfigError> {
    let shards = env
        .parse("CALLSTATS_SHARDS", ShardPlan::parse)?
        .unwrap_or(ShardPlan::Recommended);
    let task = env
        .parse("CALLSTATS_TASK", Task::parse)?
        .unwrap_or_default();
    let shards = task
        .slice(shards)
        .map_err(|problem| ConfigError::invalid("CALLSTATS_TASK", problem))?;
    Ok((shards, task))
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
        assert_eq!(c.http_listen.to_string(), "127.0.0.1:7733");
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.clock_file, None);
        assert_eq!(c.task, Task::default());
        assert_eq!(c.guilds, GuildAllowList::everyone());
        assert_eq!(c.cloudwatch, None);
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

    #[test]
    fn tasks_slice_the_shard_count() {
        let plan = |shards: &str, task: &str| {
            parse(&[
                BASE[0],
                BASE[1],
                ("CALLSTATS_SHARDS", shards),
                ("CALLSTATS_TASK", task),
            ])
            .map(|c| (c.shards, c.task.to_string()))
        };
        let range = |first, last, total| ShardPlan::Range { first, last, total };
        assert_eq!(plan("8", "0/2").unwrap(), (range(0, 3, 8), "0/2".into()));
        assert_eq!(plan("8", "1/2").unwrap(), (range(4, 7, 8), "1/2".into()));
        assert_eq!(plan("0-3/8", "0/1").unwrap().0, range(0, 3, 8));
        // Every shard of the count is run by exactly one task, whatever the split.
        for total in 1..=40u32 {
            for count in 1..=total.min(6) {
                let mut next = 0;
                for index in 0..count {
                    let task = Task { index, count };
                    let ShardPlan::Range {
                        first,
                        last,
                        total: t,
                    } = task.slice(ShardPlan::Count(total)).unwrap()
                    else {
                        assert_eq!(count, 1);
                        next = total;
                        continue;
                    };
                    assert_eq!((first, t), (next, total), "{task} of {total}");
                    assert!(last >= first);
                    next = last + 1;
                }
                assert_eq!(next, total, "{count} tasks over {total} shards");
            }
        }
        for (shards, task) in [
            ("8", "2/2"),
            ("8", "1/0"),
            ("8", "x"),
            ("0-3/8", "0/2"),
            ("1", "0/2"),
        ] {
            let err = plan(shards, task).unwrap_err();
            assert_eq!(err.variable, "CALLSTATS_TASK", "{shards} {task}");
        }
        let err = parse(&[BASE[0], BASE[1], ("CALLSTATS_TASK", "0/2")]).unwrap_err();
        assert!(err.to_string().contains("shard count"), "{err}");
    }

    #[test]
    fn guilds_and_cloudwatch() {
        let c = parse(&[
            BASE[0],
            BASE[1],
            ("CALLSTATS_GUILDS", "5,6"),
            ("CALLSTATS_CLOUDWATCH_NAMESPACE", "Callstats/prod"),
            ("CALLSTATS_CLOUDWATCH_SECS", "5"),
        ])
        .unwrap();
        assert!(c.guilds.allows(twilight_model::id::Id::new(5)));
        assert!(!c.guilds.allows(twilight_model::id::Id::new(7)));
        assert_eq!(
            c.cloudwatch,
            Some(CloudWatch {
                namespace: "Callstats/prod".into(),
                every: Duration::from_secs(5)
            })
        );
        let c = parse(&[BASE[0], BASE[1], ("CALLSTATS_CLOUDWATCH_SECS", "5")]).unwrap();
        assert_eq!(c.cloudwatch, None);
        for (var, bad) in [
            ("CALLSTATS_GUILDS", "everyone"),
            ("CALLSTATS_CLOUDWATCH_NAMESPACE", "a\\b"),
            ("CALLSTATS_CLOUDWATCH_NAMESPACE", ":x"),
            ("CALLSTATS_CLOUDWATCH_SECS", "0"),
        ] {
            let e = parse(&[BASE[0], BASE[1], (var, bad)]).unwrap_err();
            assert_eq!(e.variable, var);
        }
    }
}

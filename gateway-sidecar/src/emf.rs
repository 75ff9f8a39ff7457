//! The counters the data-loss alarms watch, published where CloudWatch sees them without a
//! scraper: one line on stdout every `CALLSTATS_CLOUDWATCH_SECS` seconds in CloudWatch's
//! embedded metric format (EMF), which CloudWatch Logs turns into metrics as it ingests the
//! sidecar's log (ECS's awslogs driver, the CloudWatch agent, or anything that ships stdout to
//! CloudWatch Logs). Nothing is published unless `CALLSTATS_CLOUDWATCH_NAMESPACE` is set.
//!
//! Each line is one JSON object, for example:
//!
//! ```json
//! {"_aws":{"Timestamp":1764150000000,"CloudWatchMetrics":[
//!   {"Namespace":"Callstats/prod","Dimensions":[["Task"]],"Metrics":[{"Name":"HeartbeatAgeSeconds","Unit":"Seconds"}]},
//!   {"Namespace":"Callstats/prod","Dimensions":[[]],"Metrics":[{"Name":"DeadLetters","Unit":"Count"},
//!     {"Name":"SpoolErrors","Unit":"Count"},{"Name":"SpoolOldestAgeSeconds","Unit":"Seconds"}]}]},
//!  "Task":"0/1","HeartbeatAgeSeconds":12,"DeadLetters":0,"SpoolErrors":0,"SpoolOldestAgeSeconds":0,
//!  "SpoolDepth":0,"ShardsConnected":1,"message":"metrics"}
//! ```
//!
//! | metric | dimensions | what | alarm (`infra/template.yaml`) |
//! |---|---|---|---|
//! | `DeadLetters` | none (all tasks) | writes the store refused for good since the last line (kept in `dead-letters.jsonl`) | `SidecarDeadLettersAlarm` |
//! | `SpoolErrors` | none | failures to write the durable spool since the last line | `SidecarSpoolErrorsAlarm` |
//! | `SpoolOldestAgeSeconds` | none | how long the oldest write not yet applied has waited | `SidecarSpoolGrowthAlarm` |
//! | `HeartbeatAgeSeconds` | `Task` (`CALLSTATS_TASK`) | the longest any of this process's shards has gone without recording "alive" (since start when it never has) | `SidecarHeartbeatStaleAlarm` (one per task) |
//!
//! `SpoolDepth` and `ShardsConnected` ride along as plain fields: readable in the log, not
//! metrics (each metric costs money every month). A last line is written when the sidecar
//! stops, after its final flush.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use callstats_core::Timestamp;
use callstats_runtime::Clock;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::config::{CloudWatch, Task};
use crate::metrics::Metrics;

pub const DEAD_LETTERS: &str = "DeadLetters";
pub const SPOOL_ERRORS: &str = "SpoolErrors";
pub const SPOOL_OLDEST_AGE: &str = "SpoolOldestAgeSeconds";
pub const HEARTBEAT_AGE: &str = "HeartbeatAgeSeconds";
/// The dimension of the per-task metric: the value of `CALLSTATS_TASK`.
pub const TASK_DIMENSION: &str = "Task";

/// One line's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    pub dead_letters: u64,
    pub spool_errors: u64,
    pub spool_oldest_age: u64,
    pub spool_depth: u64,
    pub heartbeat_age: u64,
    pub shards_connected: usize,
}

/// The EMF line for `sample`, stamped `at` (milliseconds since the epoch), without newline.
#[must_use]
pub fn line(namespace: &str, task: Task, sample: Sample, at_millis: u64) -> String {
    let count = |name: &str| json!({"Name": name, "Unit": "Count"});
    let seconds = |name: &str| json!({"Name": name, "Unit": "Seconds"});
    json!({
        "_aws": {
            "Timestamp": at_millis,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [[TASK_DIMENSION]],
                    "Metrics": [seconds(HEARTBEAT_AGE)],
                },
                {
                    "Namespace": namespace,
                    "Dimensions": [[]],
                    "Metrics": [count(DEAD_LETTERS), count(SPOOL_ERRORS), seconds(SPOOL_OLDEST_AGE)],
                },
            ],
        },
        TASK_DIMENSION: task.to_string(),
        HEARTBEAT_AGE: sample.heartbeat_age,
        DEAD_LETTERS: sample.dead_letters,
        SPOOL_ERRORS: sample.spool_errors,
        SPOOL_OLDEST_AGE: sample.spool_oldest_age,
        "SpoolDepth": sample.spool_depth,
        "ShardsConnected": sample.shards_connected,
        "message": "metrics",
    })
    .to_string()
}

/// Samples [`Metrics`] and writes a line every interval.
#[derive(Debug)]
pub struct Publisher {
    cloudwatch: CloudWatch,
    task: Task,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    started: Timestamp,
    /// Counter values at the last line: lines carry what happened since.
    reported: (u64, u64),
}

impl Publisher {
    #[must_use]
    pub fn new(
        cloudwatch: CloudWatch,
        task: Task,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let started = clock.now();
        Self {
            cloudwatch,
            task,
            metrics,
            clock,
            started,
            reported: (0, 0),
        }
    }

    /// What happened since the last call, and how things stand.
    pub fn sample(&mut self) -> Sample {
        let m = &self.metrics;
        let dead = m.writes_failed.load(Ordering::Relaxed);
        let errors = m.spool_errors.load(Ordering::Relaxed);
        let (last_dead, last_errors) = std::mem::replace(&mut self.reported, (dead, errors));
        let now = self.clock.now();
        let shards = m.shards();
        let heartbeat_age = shards
            .iter()
            .map(|(_, s)| now.unix() - s.last_heartbeat.unwrap_or(self.started).unix())
            .max()
            .unwrap_or(now.unix() - self.started.unix());
        Sample {
            dead_letters: dead.saturating_sub(last_dead),
            spool_errors: errors.saturating_sub(last_errors),
            spool_oldest_age: m.spool_oldest_age(SystemTime::now()),
            spool_depth: m.spool_depth(),
            heartbeat_age: u64::try_from(heartbeat_age).unwrap_or(0),
            shards_connected: shards.iter().filter(|(_, s)| s.connected).count(),
        }
    }

    fn publish(&mut self) {
        let sample = self.sample();
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut text = line(&self.cloudwatch.namespace, self.task, sample, at);
        text.push('\n');
        // One write under stdout's lock: the line never interleaves with a log line.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }

    /// Writes a line every interval until `stop` turns true, then a last one.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let every = self.cloudwatch.every;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tick.tick() => self.publish(),
            }
        }
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{ShardStatus, inc};
    use callstats_runtime::ManualClock;
    use serde_json::Value;
    use std::time::Duration;

    #[test]
    fn a_line_declares_what_it_carries() {
        let sample = Sample {
            dead_letters: 2,
            heartbeat_age: 31,
            ..Sample::default()
        };
        let task = Task { index: 1, count: 2 };
        let v: Value = serde_json::from_str(&line("Callstats/x", task, sample, 5)).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 5);
        let directives = v["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        for directive in directives {
            assert_eq!(directive["Namespace"], "Callstats/x");
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(v[name].is_u64(), "{name} has no value");
            }
            for dimension in directive["Dimensions"][0].as_array().unwrap() {
                assert!(v[dimension.as_str().unwrap()].is_string());
            }
        }
        assert_eq!(v[TASK_DIMENSION], "1/2");
        assert_eq!(v[DEAD_LETTERS], 2);
        assert_eq!(v[HEARTBEAT_AGE], 31);
    }

    #[test]
    fn counters_are_reported_once_and_ages_from_the_clock() {
        let clock = Arc::new(ManualClock::new(Timestamp::new(1_000).unwrap()));
        let metrics = Arc::new(Metrics::default());
        let cloudwatch = CloudWatch {
            namespace: "n".into(),
            every: Duration::from_mins(1),
        };
        let mut p = Publisher::new(
            cloudwatch,
            Task::default(),
            Arc::clone(&metrics),
            clock.clone(),
        );
        metrics.set_shard(0, ShardStatus::default());
        metrics.set_shard(
            1,
            ShardStatus {
                connected: true,
                last_heartbeat: Some(Timestamp::new(1_090).unwrap()),
                ..ShardStatus::default()
            },
        );
        inc(&metrics.writes_failed);
        inc(&metrics.writes_failed);
        clock.set(Timestamp::new(1_100).unwrap());
        let first = p.sample();
        assert_eq!(first.dead_letters, 2);
        // Shard 0 never recorded a heartbeat: its age counts from the start.
        assert_eq!(first.heartbeat_age, 100);
        assert_eq!(first.shards_connected, 1);
        metrics.update_shard(0, |s| {
            s.last_heartbeat = Some(Timestamp::new(1_095).unwrap());
        });
        let second = p.sample();
        assert_eq!(second.dead_letters, 0);
        assert_eq!(second.heartbeat_age, 10);
    }
}

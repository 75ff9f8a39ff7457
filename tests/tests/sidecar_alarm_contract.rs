//! The sidecar alarms in `infra/template.yaml` watch metrics the sidecar writes into its own log
//! (CloudWatch's embedded metric format, `callstats_sidecar::emf`). This runs the program with
//! the environment a stack of the template gives one of its tasks, makes it dead-letter a
//! write, and checks both ends: every sidecar alarm of the stack watches a metric the program
//! writes, in that namespace and with those dimensions, and the dead letter shows in the
//! metric its alarm watches.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use callstats_fake_gateway::{ChannelSpec, GuildSpec};
use callstats_sidecar::ShardPlan;
use callstats_tests::dynamo::plant_unreadable_open_session;
use callstats_tests::scene::process_scene;
use callstats_tests::sidecar::{Options, Sidecar};
use callstats_tests::template::{Stack, template};
use callstats_tests::time::at;
use serde_json::Value;
use twilight_model::id::Id;

/// A metric as an EMF line declares it: namespace, name, and its dimensions with their values.
type Declared = (String, String, BTreeMap<String, String>);

/// The metrics an EMF line declares, and the line's values.
fn declared(line: &Value) -> Vec<(Declared, u64)> {
    let mut out = Vec::new();
    for directive in line["_aws"]["CloudWatchMetrics"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let namespace = directive["Namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for set in directive["Dimensions"].as_array().into_iter().flatten() {
            let dimensions: BTreeMap<String, String> = set
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|d| {
                    (
                        d.to_owned(),
                        line[d].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            for metric in directive["Metrics"].as_array().into_iter().flatten() {
                let name = metric["Name"].as_str().unwrap_or_default().to_owned();
                let value = line[&name]
                    .as_u64()
                    .expect("a metric has a whole number value");
                out.push(((namespace.clone(), name, dimensions.clone()), value));
            }
        }
    }
    out
}

/// The program's EMF lines, once the dead letter has shown in one.
async fn metrics_until_a_dead_letter(sidecar: &Sidecar) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let lines: Vec<Value> = sidecar
            .log_lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("_aws").is_some())
            .collect();
        let dead: u64 = lines.iter().filter_map(|l| l["DeadLetters"].as_u64()).sum();
        if dead >= 1 {
            return lines;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no dead letter in the metrics: {:?}",
            sidecar.log_lines()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sidecar_alarm_watches_a_metric_the_sidecar_writes() {
    let doc = template().unwrap();
    // Two tasks over two shards; the program runs as the second task (slot 1).
    let mut stack = Stack::new(
        &doc,
        "contract",
        &[
            ("SidecarImageTag", "v1"),
            ("SidecarVpcId", "vpc-1"),
            ("SidecarSubnetIds", "subnet-1"),
            ("SidecarTasks", "2"),
            ("SidecarShards", "2"),
        ],
    )
    .unwrap();
    stack.resources.insert("Table".into(), "t".into());
    let env = stack
        .container_environment("SidecarTaskDefinition1")
        .unwrap();
    let namespace = env["CALLSTATS_CLOUDWATCH_NAMESPACE"].clone();
    assert_eq!(env["CALLSTATS_TASK"], "1/2");

    // A guild on shard 1 of 2, and a member whose start the store refuses for good.
    let guild = Id::new((1 << 22) | 7);
    let lounge = Id::new(801);
    let spec = GuildSpec::new(guild, "alarms").channel(ChannelSpec::voice(lounge, "lounge"));
    let options = Options {
        shards: ShardPlan::Count(2),
        ..Options::default()
    };
    let s = process_scene(vec![spec], at(2026, 11, 26, 10, 0, 0), options).await;
    plant_unreadable_open_session(&s.store, Id::new(3), guild).await;
    let sidecar = s
        .spawn(&[
            ("CALLSTATS_SHARDS", &env["CALLSTATS_SHARDS"]),
            ("CALLSTATS_TASK", &env["CALLSTATS_TASK"]),
            ("CALLSTATS_CLOUDWATCH_NAMESPACE", &namespace),
            ("CALLSTATS_CLOUDWATCH_SECS", "1"),
        ])
        .await;
    sidecar.wait_settled().await;
    sidecar.join(&s.fake, guild, Id::new(3), lounge).await;
    sidecar.wait_idle().await;

    let lines = metrics_until_a_dead_letter(&sidecar).await;
    let emitted: BTreeMap<Declared, u64> =
        lines
            .iter()
            .flat_map(declared)
            .fold(BTreeMap::new(), |mut sums, (metric, value)| {
                *sums.entry(metric).or_default() += value;
                sums
            });

    let alarms: Vec<_> = stack
        .alarms()
        .unwrap()
        .into_iter()
        .filter(|a| a.namespace == namespace)
        .collect();
    let watched: BTreeSet<&str> = alarms.iter().map(|a| a.metric.as_str()).collect();
    assert_eq!(
        watched,
        [
            "DeadLetters",
            "HeartbeatAgeSeconds",
            "SpoolErrors",
            "SpoolOldestAgeSeconds"
        ]
        .into(),
        "the sidecar's alarms"
    );
    // Each task's heartbeat alarm names the Task its task definition gives the program.
    let tasks: BTreeSet<String> = ["SidecarTaskDefinition", "SidecarTaskDefinition1"]
        .iter()
        .map(|id| stack.container_environment(id).unwrap()["CALLSTATS_TASK"].clone())
        .collect();
    for alarm in &alarms {
        let mut expected = alarm.dimensions.clone();
        if let Some(task) = expected.get_mut("Task") {
            assert!(tasks.contains(task.as_str()), "{alarm:?} watches no task");
            // The program runs as one of the tasks: what it writes for itself, it writes for each.
            *task = env["CALLSTATS_TASK"].clone();
        }
        let key = (alarm.namespace.clone(), alarm.metric.clone(), expected);
        assert!(
            emitted.contains_key(&key),
            "{} watches {key:?}, which the sidecar does not write; it writes {:?}",
            alarm.id,
            emitted.keys()
        );
    }
    let dead = (namespace.clone(), "DeadLetters".to_owned(), BTreeMap::new());
    assert_eq!(emitted[&dead], 1, "one write was dead-lettered");
    let spool_errors = (namespace, "SpoolErrors".to_owned(), BTreeMap::new());
    assert_eq!(emitted[&spool_errors], 0);

    let exit = sidecar.stop_within(Duration::from_secs(10)).await;
    assert_eq!(exit.status.code(), Some(0), "{exit:?}");
}

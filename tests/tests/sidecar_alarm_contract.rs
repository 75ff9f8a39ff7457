//! The "heartbeat stale" alarm in `infra/template.yaml` counts the sidecar's
//! `heartbeat recorded` log lines. This checks both ends of that contract: the program logs the
//! line as JSON where the alarm's metric filter looks for it, and the filter looks there.

use std::time::Duration;

use callstats_fake_gateway::{ChannelSpec, GuildSpec};
use callstats_tests::scene::process_scene;
use callstats_tests::sidecar::Options;
use callstats_tests::time::at;
use serde_json::Value;
use twilight_model::id::Id;

const MESSAGE: &str = "heartbeat recorded";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_heartbeat_logs_the_line_the_alarm_counts() {
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../infra/template.yaml"
    ))
    .unwrap();
    assert!(
        template.contains(&format!("($.fields.message = \"{MESSAGE}\")")),
        "the alarm's metric filter no longer looks for the sidecar's heartbeat line"
    );

    let guild = GuildSpec::new(Id::new((1 << 22) | 5), "guild")
        .channel(ChannelSpec::voice(Id::new(801), "lounge"));
    let s = process_scene(vec![guild], at(2026, 11, 26, 10, 0, 0), Options::default()).await;
    let sidecar = s.start().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let heartbeats = loop {
        let found: Vec<Value> = sidecar
            .log_lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.pointer("/fields/message").and_then(Value::as_str) == Some(MESSAGE))
            .collect();
        if found.len() >= 2 {
            break found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no heartbeat lines: {:?}",
            sidecar.log_lines()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        heartbeats[0]
            .pointer("/fields/shard")
            .and_then(Value::as_u64),
        Some(0)
    );
    assert_eq!(
        heartbeats[0].get("level").and_then(Value::as_str),
        Some("INFO")
    );
    let exit = sidecar.stop_within(Duration::from_secs(10)).await;
    assert_eq!(exit.status.code(), Some(0), "{exit:?}");
}

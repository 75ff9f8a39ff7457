//! 10,000 sessions: export and delete answer at once with a deferred reply, finish in the
//! background, and replace the original response through the interaction webhook.
//!
//! Nothing here asserts on time (the local server's speed is not the product's): the reply
//! is deferred by decision, not by a race, and the elapsed time is printed for the record.

use std::time::{Duration, Instant};

use callstats_devkit::parse_multipart;
use callstats_tests::interactions::{
    ADA, APPLICATION, BOB, Endpoint, FakeDiscord, GUILD, Interaction, PrivateDynamo,
    partition_keys, seed, seed_many,
};
use callstats_tests::time::at;
use serde_json::{Value, json};

const SESSIONS: u64 = 10_000;

fn edit_path(interaction: &Interaction) -> String {
    format!(
        "/api/v10/webhooks/{APPLICATION}/{}/messages/@original",
        interaction.token()
    )
}

#[tokio::test]
async fn deleting_10_000_sessions_is_deferred_then_completed() {
    // A server of its own: a 10,000-item partition would hold up the shared one for seconds.
    let dynamo = PrivateDynamo::start().await;
    let rest = FakeDiscord::start().await;
    let endpoint = Endpoint::with_rest(
        dynamo.fresh_store().await,
        at(2026, 11, 26, 12, 0, 0),
        &rest,
    );
    seed_many(
        &endpoint.store,
        ADA,
        GUILD,
        at(2025, 1, 1, 0, 0, 0),
        SESSIONS,
    )
    .await;
    seed(
        &endpoint.store,
        BOB,
        GUILD,
        at(2026, 11, 24, 9, 0, 0),
        600,
        &[],
    )
    .await;
    // One item per day: 10,000 hourly calls fill 417 days, far beyond what is deleted inline.
    let items = partition_keys(&endpoint.store, ADA).await.len();
    assert!(items > 400, "{items} items");

    let press = Interaction::button(&format!("del1:{ADA}:yes")).by(ADA, "Ada");
    let started = Instant::now();
    let answer = endpoint.send(&press).await;
    println!("deferred reply after {:?}", started.elapsed());
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json(), json!({"type": 6}), "deferred update");

    let edit = rest
        .wait_for_within(Duration::from_mins(10), |r| r.path == edit_path(&press))
        .await;
    println!("deletion finished after {:?}", started.elapsed());
    assert_eq!(edit.method, "PATCH");
    assert!(
        edit.headers.get("authorization").is_none(),
        "webhook edits carry no bot token"
    );
    let body = edit.json();
    assert_eq!(body["embeds"][0]["title"], "Your call data was deleted");
    let sessions = body["embeds"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Sessions")
        .unwrap()["value"]
        .clone();
    assert_eq!(sessions, SESSIONS.to_string());
    assert_eq!(body["components"], json!([]), "the buttons are gone");
    assert_eq!(body["allowed_mentions"], json!({"parse": []}));
    assert_eq!(
        partition_keys(&endpoint.store, ADA).await,
        vec!["USER".to_owned()]
    );
    assert!(partition_keys(&endpoint.store, BOB).await.len() > 1);
}

#[tokio::test]
async fn exporting_10_000_sessions_is_deferred_then_completed() {
    // A server of its own: a 10,000-item partition would hold up the shared one for seconds.
    let dynamo = PrivateDynamo::start().await;
    let rest = FakeDiscord::start().await;
    let endpoint = Endpoint::with_rest(
        dynamo.fresh_store().await,
        at(2026, 11, 26, 12, 0, 0),
        &rest,
    );
    seed_many(
        &endpoint.store,
        ADA,
        GUILD,
        at(2025, 1, 1, 0, 0, 0),
        SESSIONS,
    )
    .await;

    let command = Interaction::callstats("export", json!([])).by(ADA, "Ada");
    let started = Instant::now();
    let answer = endpoint.send(&command).await;
    println!("deferred reply after {:?}", started.elapsed());
    assert_eq!(
        answer.json(),
        json!({"type": 5, "data": {"flags": 64}}),
        "deferred, ephemeral"
    );

    let edit = rest
        .wait_for_within(Duration::from_mins(10), |r| r.path == edit_path(&command))
        .await;
    println!("export finished after {:?}", started.elapsed());
    assert_eq!(edit.method, "PATCH");
    let content_type = edit.headers["content-type"].to_str().unwrap().to_owned();
    let parts = parse_multipart(&content_type, &edit.body).unwrap();
    let payload: Value = serde_json::from_slice(&parts[0].body).unwrap();
    assert_eq!(parts[0].name, "payload_json");
    assert_eq!(payload["embeds"][0]["title"], "Your call data");
    assert_eq!(
        payload["attachments"][0]["filename"],
        format!("callstats-export-{ADA}.json")
    );
    assert_eq!(parts[1].name, "files[0]");
    let doc: Value = serde_json::from_slice(&parts[1].body).unwrap();
    let sessions = doc["guilds"][0]["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), SESSIONS as usize);
    assert_eq!(sessions[0]["start"], "2025-01-01T00:00:00Z");
    assert_eq!(sessions[9_999]["start"], "2026-02-21T15:00:00Z");
    assert!(sessions.iter().all(|s| s["duration_secs"] == 60));
}

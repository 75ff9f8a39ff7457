//! The handler in process, fed recorded Function URL events signed with the test key:
//! PING, every refusal, and a polite reply for everything a user can get wrong.

use callstats_devkit::sign::signature;
use callstats_store::Store;
use callstats_store::Timeouts;
use callstats_tests::interactions::{ADA, Endpoint, Interaction, signed_headers, signing_key};
use callstats_tests::time::at;
use ed25519_dalek::SigningKey;
use serde_json::json;

fn now() -> callstats_core::Timestamp {
    at(2026, 11, 26, 12, 0, 0)
}

#[tokio::test]
async fn ping_gets_pong() {
    let endpoint = Endpoint::new(now()).await;
    let answer = endpoint.send(&Interaction::ping()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type(), "application/json");
    assert_eq!(answer.body, br#"{"type":1}"#);
}

/// A refusal case: what differs, the body, the headers.
type Case = (&'static str, String, Vec<(String, String)>);

#[tokio::test]
async fn every_signature_problem_is_a_401() {
    let endpoint = Endpoint::new(now()).await;
    let body = Interaction::ping().body();
    let ts = now().unix().to_string();
    let good_sig = signature(&signing_key(), &ts, body.as_bytes());
    let h = |sig: &str, ts: &str| {
        vec![
            ("x-signature-ed25519".to_owned(), sig.to_owned()),
            ("x-signature-timestamp".to_owned(), ts.to_owned()),
        ]
    };
    // The good request passes, so every refusal below is for its one difference.
    assert_eq!(
        endpoint.send_raw(&body, &h(&good_sig, &ts)).await.status,
        200
    );

    let tampered_body = body.replace("\"type\":1", "\"type\":1 ");
    let old = (now().unix() - 301).to_string();
    let future = (now().unix() + 301).to_string();
    let wrong_key = signature(&SigningKey::from_bytes(&[8; 32]), &ts, body.as_bytes());
    let old_sig = signature(&signing_key(), &old, body.as_bytes());
    let future_sig = signature(&signing_key(), &future, body.as_bytes());
    let cases: Vec<Case> = vec![
        ("tampered body", tampered_body, h(&good_sig, &ts)),
        (
            "tampered timestamp",
            body.clone(),
            h(&good_sig, &(now().unix() + 1).to_string()),
        ),
        ("wrong key", body.clone(), h(&wrong_key, &ts)),
        ("old timestamp", body.clone(), h(&old_sig, &old)),
        ("future timestamp", body.clone(), h(&future_sig, &future)),
        (
            "missing signature",
            body.clone(),
            vec![("x-signature-timestamp".into(), ts.clone())],
        ),
        (
            "missing timestamp",
            body.clone(),
            vec![("x-signature-ed25519".into(), good_sig.clone())],
        ),
        ("no headers", body.clone(), vec![]),
        ("signature not hex", body.clone(), h(&"zz".repeat(64), &ts)),
        (
            "signature too short",
            body.clone(),
            h(&good_sig[..126], &ts),
        ),
        (
            "signature too long",
            body.clone(),
            h(&format!("{good_sig}00"), &ts),
        ),
        (
            "timestamp not a number",
            body.clone(),
            h(&good_sig, "yesterday"),
        ),
        ("timestamp empty", body.clone(), h(&good_sig, "")),
    ];
    for (case, body, headers) in cases {
        let answer = endpoint.send_raw(&body, &headers).await;
        assert_eq!(answer.status, 401, "{case}");
        assert_eq!(answer.text(), "invalid request signature", "{case}");
    }
}

#[tokio::test]
async fn verified_but_malformed_bodies_are_400() {
    let endpoint = Endpoint::new(now()).await;
    for body in [
        "not json",
        "{}",
        r#"{"type":"2"}"#,
        r#"{"type":2}"#,
        // A command without anyone who sent it.
        &{
            let mut i = Interaction::command("calltop", json!([])).0;
            i.as_object_mut().unwrap().remove("member");
            i.to_string()
        },
    ] {
        let answer = endpoint
            .send_raw(body, &signed_headers(now(), body.as_bytes()))
            .await;
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.text(), "malformed interaction");
    }
}

#[tokio::test]
async fn only_post_is_accepted() {
    let endpoint = Endpoint::new(now()).await;
    let body = Interaction::ping().body();
    let mut event: serde_json::Value =
        serde_json::from_str(&callstats_tests::interactions::function_url_event(
            &body,
            &signed_headers(now(), body.as_bytes()),
        ))
        .unwrap();
    event["requestContext"]["http"]["method"] = json!("GET");
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = callstats_interactions::lambda::handle(&endpoint.app, request).await;
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn unknown_commands_and_stale_buttons_get_polite_ephemeral_replies() {
    let endpoint = Endpoint::new(now()).await;
    for (interaction, title) in [
        (Interaction::command("nosuch", json!([])), "Unknown command"),
        (
            Interaction::callstats("nosuch", json!([])),
            "Unknown command",
        ),
        (
            Interaction::callstats(
                "show",
                json!([{"name": "period", "type": 3, "value": "5y"}]),
            ),
            "Unknown command",
        ),
        (
            Interaction::button("top0:1:all:t:1"),
            "This button has expired",
        ),
        (
            Interaction::button(&format!("top1:{ADA}:all:t:0")),
            "This button has expired",
        ),
        (
            Interaction::button(&"x".repeat(101)),
            "This button has expired",
        ),
    ] {
        let answer = endpoint.send(&interaction).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.kind(), 4);
        assert!(answer.ephemeral());
        assert_eq!(answer.title(), title, "{}", interaction.0["data"]);
    }
}

#[tokio::test]
async fn commands_outside_a_server_and_modals_are_declined() {
    let endpoint = Endpoint::new(now()).await;
    let mut dm = Interaction::command("calltop", json!([])).0;
    let user = dm["member"]["user"].clone();
    for k in ["member", "guild", "guild_id"] {
        dm.as_object_mut().unwrap().remove(k);
    }
    dm["user"] = user;
    dm["context"] = json!(1);
    let answer = endpoint.send(&Interaction(dm)).await;
    assert_eq!(answer.title(), "Servers only");
    assert!(answer.ephemeral());

    let mut modal = Interaction::command("calltop", json!([])).0;
    modal["type"] = json!(5);
    modal["data"] = json!({"custom_id": "m", "components": []});
    let answer = endpoint.send(&Interaction(modal)).await;
    assert_eq!(answer.title(), "Not supported");
}

#[tokio::test]
async fn each_command_answers_on_an_empty_table() {
    let endpoint = Endpoint::new(now()).await;
    let show = endpoint
        .send(&Interaction::callstats("show", json!([])))
        .await;
    assert_eq!(show.kind(), 4);
    assert!(!show.ephemeral());
    assert!(show.description().contains("No calls recorded here yet."));
    let history = endpoint
        .send(&Interaction::callstats("history", json!([])))
        .await;
    assert!(history.ephemeral());
    assert!(history.description().contains("No calls recorded"));
    let top = endpoint
        .send(&Interaction::command("calltop", json!([])))
        .await;
    assert_eq!(top.kind(), 4);
    assert!(top.description().contains("Nobody has call time"));
    let menu = endpoint
        .send(&Interaction::user_menu(ADA + 1, "Grace"))
        .await;
    assert!(menu.ephemeral());
    assert_eq!(menu.title(), "Call stats · Grace");
}

#[tokio::test]
async fn a_store_failure_is_an_apology_not_a_500() {
    let _ = callstats_tests::dynamo::endpoint();
    let missing = Store::connect(
        callstats_tests::dynamo::unique_table_name("missing"),
        Timeouts::default(),
    )
    .await;
    let endpoint = Endpoint::with_store(missing, now());
    let answer = endpoint
        .send(&Interaction::callstats("show", json!([])))
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.kind(), 4);
    assert!(answer.ephemeral());
    assert_eq!(answer.title(), "Something went wrong");
    assert!(!answer.text().contains("dynamodb"), "no internals leak");
    // PING never needs the store.
    assert_eq!(endpoint.send(&Interaction::ping()).await.status, 200);
}

//! Security review: each claim of `docs/reliability.md` that no other test backs.
//!
//! - the bot token never reaches the sidecar's logs, at any log level, in either format,
//!   through identify, resume, reconnects and a stop;
//! - the interactions endpoint logs no request body, no interaction token and no signature,
//!   whatever it is sent;
//! - the infrastructure template grants least privilege: no wildcard action, no table
//!   administration or scans, `Resource: "*"` only where AWS allows nothing else, the secret
//!   and the self-invocation scoped to exactly their resource.

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use callstats_core::{ChannelId, GuildId, UserId};
use callstats_fake_gateway::{ChannelSpec, GuildSpec, ShardId, VoiceFlags};
use callstats_tests::interactions::{ADA, BOB, Endpoint, Interaction, signed_headers};
use callstats_tests::scene::process_scene;
use callstats_tests::sidecar::{Options, sample_of};
use callstats_tests::time::at;
use saphyr::{LoadableYamlNode, Yaml};
use serde_json::json;
use twilight_model::id::Id;

const TEMPLATE: &str = include_str!("../../infra/template.yaml");

fn guild() -> GuildId {
    Id::new((2 << 22) | 0xb)
}

fn user(n: u64) -> UserId {
    Id::new(61_000 + n)
}

fn chan(n: u64) -> ChannelId {
    Id::new(710 + n)
}

const TOKEN: &str = "MTE4MDAwMDAwMDAwMDAwMDAwMQ.Gq3x9Z.secret-part-never-logged-7f3a";

fn assert_no_token(lines: &[String], what: &str) {
    assert!(
        lines.len() > 5,
        "{what}: the trace level logs a lot: {lines:?}"
    );
    for secret in [TOKEN, "secret-part-never-logged", "Gq3x9Z"] {
        let leaked: Vec<&String> = lines.iter().filter(|l| l.contains(secret)).collect();
        assert!(leaked.is_empty(), "{what} show the token: {leaked:?}");
    }
}

/// JSON logs at trace level (every crate, the gateway library's payload traces included)
/// through identify, a voice event, a reconnect that resumes (the token goes out again) and a
/// stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_token_never_appears_in_the_sidecar_logs() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let spec = GuildSpec::new(guild(), "secrets").channel(ChannelSpec::voice(chan(1), "a"));
    let options = Options {
        token: TOKEN.to_owned(),
        ..Options::default()
    };
    let s = process_scene(vec![spec], t0, options).await;
    let sidecar = s.spawn(&[("RUST_LOG", "trace")]).await;
    sidecar.wait_settled().await;
    sidecar
        .voice(
            &s.fake,
            guild(),
            user(1),
            Some(chan(1)),
            VoiceFlags::default(),
        )
        .await;
    s.fake.drop_connection(ShardId::new(0, 1)).unwrap();
    s.fake.wait_for_resumes(1).await.unwrap();
    sidecar
        .wait_metrics("the shard back", |text| {
            sample_of(text, "callstats_shard_connected{shard=\"0\"}") == Some(1.0)
        })
        .await;
    let exit = sidecar.stop().await;
    assert_eq!(exit.status.code(), Some(0), "{exit:?}");
    let lines: Vec<String> = exit.stdout.into_iter().chain(exit.stderr).collect();
    assert_no_token(&lines, "json logs");
}

/// Readable logs at trace level when Discord refuses the token: the program ends with one
/// clear line, which does not repeat the token either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_not_repeated_in_readable_logs() {
    let fake = callstats_fake_gateway::FakeGateway::builder()
        .accept_tokens(["another-token"])
        .start()
        .await
        .unwrap();
    let store = callstats_tests::dynamo::fresh_store().await;
    let dir = callstats_tests::sidecar::StateDir::new();
    let url = fake.url();
    let exit = callstats_tests::sidecar::run_program(
        &[
            ("DISCORD_TOKEN", TOKEN),
            ("CALLSTATS_TABLE", store.table().as_str()),
            ("CALLSTATS_GATEWAY_URL", url.as_str()),
            ("CALLSTATS_STATE_DIR", dir.path().to_str().unwrap()),
            ("CALLSTATS_HTTP_LISTEN", "127.0.0.1:0"),
            ("CALLSTATS_LOG_FORMAT", "text"),
            ("RUST_LOG", "trace"),
        ],
        &[],
    )
    .await;
    assert_eq!(exit.status.code(), Some(1), "{exit:?}");
    assert!(
        exit.stderr.iter().any(|l| l.contains("4004")),
        "{:?}",
        exit.stderr
    );
    let lines: Vec<String> = exit.stdout.into_iter().chain(exit.stderr).collect();
    assert_no_token(&lines, "readable logs");
}

/// Collects everything `tracing` writes on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn the_endpoint_logs_no_bodies_tokens_or_signatures() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let endpoint = Endpoint::new(at(2026, 11, 26, 10, 0, 0)).await;
    let marker = "BODYMARKER-5d1c";
    let mut requests = vec![
        Interaction::callstats("show", json!([])).by(ADA, "Ada"),
        Interaction::callstats("history", json!([])).by(ADA, "Ada"),
        Interaction::callstats(
            "show",
            json!([{"name": "user", "type": 6, "value": BOB.to_string()}]),
        )
        .resolve(BOB, "Bob", false)
        .by(ADA, "Ada"),
        Interaction::command("calltop", json!([])).by(ADA, "Ada"),
        Interaction::autocomplete("callstats", Some("timezone"), "zone", marker).by(ADA, "Ada"),
        Interaction::callstats(
            "timezone",
            json!([{"name": "zone", "type": 3, "value": marker}]),
        )
        .by(ADA, "Ada"),
        Interaction::button(&format!("{marker}:1:2")).by(ADA, "Ada"),
    ];
    for (i, r) in requests.iter_mut().enumerate() {
        r.0["token"] = json!(format!("interaction-token-{marker}-{i}"));
        r.0["member"]["user"]["global_name"] = json!(format!("{marker} name"));
    }
    let mut signatures = Vec::new();
    for r in &requests {
        let body = r.body();
        let headers = signed_headers(endpoint.now, body.as_bytes());
        signatures.push(headers[0].1.clone());
        let answer = endpoint.send_raw(&body, &headers).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    // Refused ones: a bad signature, and a signed body that is not an interaction.
    let body = json!({"type": 2, "data": marker}).to_string();
    let mut headers = signed_headers(endpoint.now, b"something else");
    signatures.push(headers[0].1.clone());
    assert_eq!(endpoint.send_raw(&body, &headers).await.status, 401);
    headers = signed_headers(endpoint.now, body.as_bytes());
    signatures.push(headers[0].1.clone());
    assert_eq!(endpoint.send_raw(&body, &headers).await.status, 400);

    captured.clone().flush().unwrap();
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(logs.contains("answered"), "the endpoint logs: {logs}");
    assert!(
        !logs.contains(marker),
        "a request body reached the logs:\n{logs}"
    );
    assert!(
        !logs.contains("interaction-token"),
        "an interaction token reached the logs"
    );
    for signature in &signatures {
        assert!(
            !logs.contains(signature.as_str()),
            "a signature reached the logs"
        );
    }
}

// ---- IAM ----------------------------------------------------------------------------------

/// Every `Statement` of every policy document in the template, with where it is.
fn statements<'a, 'y>(node: &'a Yaml<'y>, at: &str, out: &mut Vec<(String, &'a Yaml<'y>)>) {
    match node {
        Yaml::Mapping(map) => {
            for (k, v) in map {
                let key = k.as_str().unwrap_or("?");
                let here = format!("{at}/{key}");
                if key == "Statement" {
                    for s in v.as_sequence().into_iter().flatten() {
                        out.push((here.clone(), s));
                    }
                } else {
                    statements(v, &here, out);
                }
            }
        }
        Yaml::Sequence(items) => {
            for (i, v) in items.iter().enumerate() {
                statements(v, &format!("{at}[{i}]"), out);
            }
        }
        Yaml::Tagged(_, inner) => statements(inner, at, out),
        _ => {}
    }
}

/// A string, a list of strings, or a tagged value (`!Ref X` shown as `!Ref X`).
fn words(node: Option<&Yaml<'_>>) -> Vec<String> {
    match node {
        None => Vec::new(),
        Some(Yaml::Sequence(items)) => items.iter().flat_map(|i| words(Some(i))).collect(),
        Some(Yaml::Tagged(tag, inner)) => words(Some(inner))
            .into_iter()
            .map(|w| format!("!{} {w}", tag.suffix))
            .collect(),
        Some(other) => vec![
            other
                .as_str()
                .map_or_else(|| format!("{other:?}"), str::to_owned),
        ],
    }
}

#[test]
fn the_template_grants_least_privilege() {
    let mut docs = Yaml::load_from_str(TEMPLATE).expect("the template is YAML");
    let doc = docs.remove(0);
    let mut found = Vec::new();
    statements(&doc, "", &mut found);
    assert!(found.len() >= 8, "policy statements found: {}", found.len());
    let table_actions = [
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:Query",
        "dynamodb:BatchWriteItem",
    ];
    let mut dynamo_grants = 0;
    for (at, statement) in found {
        let effect = words(statement.as_mapping_get("Effect"));
        assert_eq!(effect, ["Allow"], "{at}: only Allow statements");
        let actions = words(statement.as_mapping_get("Action"));
        let resources = words(statement.as_mapping_get("Resource"));
        assert!(!actions.is_empty(), "{at}: names its actions");
        for action in &actions {
            assert!(!action.contains('*'), "{at}: wildcard action {action}");
            assert!(!action.starts_with("iam:"), "{at}: grants IAM {action}");
            if action.starts_with("dynamodb:") {
                dynamo_grants += 1;
                assert!(
                    table_actions.contains(&action.as_str()),
                    "{at}: {action} is more than the programs use (no scans, no table administration)"
                );
                assert!(
                    resources.iter().all(|r| r.contains("Table.Arn")),
                    "{at}: {action} only on the table and its indexes, not {resources:?}"
                );
            }
        }
        if statement.as_mapping_get("Principal").is_some() {
            // A trust policy: who may assume the role.
            assert_eq!(actions, ["sts:AssumeRole"], "{at}");
            continue;
        }
        assert!(!resources.is_empty(), "{at}: names its resources");
        if resources.iter().any(|r| r == "*") {
            assert_eq!(
                actions,
                ["ecr:GetAuthorizationToken"],
                "{at}: \"*\" only where AWS has no resource-level permission"
            );
        }
        if actions.iter().any(|a| a.starts_with("secretsmanager:")) {
            assert_eq!(actions, ["secretsmanager:GetSecretValue"], "{at}");
            assert_eq!(
                resources,
                ["!Ref DiscordTokenSecretArn"],
                "{at}: only the token secret"
            );
        }
        if actions.iter().any(|a| a.starts_with("lambda:")) {
            assert_eq!(actions, ["lambda:InvokeFunction"], "{at}");
            // SAM's function, or the one `cargo lambda deploy` makes under the stack's name.
            assert_eq!(
                resources,
                [
                    "!If FunctionBySam",
                    "!If !GetAtt InteractionsFunction.Arn",
                    "!If !Sub arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-interactions"
                ],
                "{at}: the function invokes only itself"
            );
        }
    }
    assert!(
        dynamo_grants >= 10,
        "both programs' table grants were checked"
    );
}

//! The front ends: `serve` over real HTTP on port 0, the Lambda runtime path through an
//! emulated Runtime API (the function runs in a child process, as on Lambda), and
//! `register-commands` against a fake Discord REST server.

use std::process::Stdio;

use callstats_core::Timestamp;
use callstats_core::ids::parse_id;
use callstats_devkit::parse_multipart;
use callstats_interactions::RegisterConfig;
use callstats_interactions::config::ApiBase;
use callstats_interactions::register::register_commands;
use callstats_tests::interactions::{
    ADA, APPLICATION, Endpoint, FakeDiscord, GUILD, Interaction, LambdaRuntime, function_url_event,
    post, public_key_hex, seed_many, serve_on_port_0, signed_headers,
};
use callstats_tests::time::at;
use http::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn serve_answers_signed_requests_over_http() {
    let endpoint = Endpoint::new(at(2026, 11, 26, 12, 0, 0)).await;
    let (addr, stop, task) = serve_on_port_0(endpoint.app.clone()).await;
    let ping = Interaction::ping().body();
    let headers = signed_headers(endpoint.now, ping.as_bytes());

    let first = post(addr, Method::POST, "/", &headers, ping.clone().into_bytes()).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.content_type(), "application/json");
    assert_eq!(first.body, br#"{"type":1}"#);

    let show = Interaction::callstats("show", json!([])).body();
    let answer = post(
        addr,
        Method::POST,
        "/interactions",
        &signed_headers(endpoint.now, show.as_bytes()),
        show.into_bytes(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.kind(), 4);
    answer.assert_valid();

    let unsigned = post(addr, Method::POST, "/", &[], ping.clone().into_bytes()).await;
    assert_eq!(unsigned.status, 401);
    let tampered = post(
        addr,
        Method::POST,
        "/",
        &headers,
        ping.replace('1', "2").into_bytes(),
    )
    .await;
    assert_eq!(tampered.status, 401);
    let health = post(addr, Method::GET, "/health", &[], Vec::new()).await;
    assert_eq!((health.status, health.text().as_str()), (200, "ok"));
    let too_big = post(
        addr,
        Method::POST,
        "/",
        &headers,
        vec![b' '; 2 * 1024 * 1024],
    )
    .await;
    assert_eq!(too_big.status, 413);

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// The Lambda function itself, run by [`lambda_runtime_path`] in a child process with the
/// Lambda environment set (the runtime reads it from the process environment).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "runs only as the child process of lambda_runtime_path"]
async fn lambda_child() {
    if std::env::var_os("CALLSTATS_TEST_LAMBDA_CHILD").is_none() {
        return;
    }
    callstats_interactions::startup::init_tracing(
        callstats_interactions::config::log_format(&callstats_runtime::Env::process())
            .expect("a valid log format"),
    );
    callstats_interactions::startup::run_lambda()
        .await
        .expect("the lambda function runs until killed");
}

fn lambda_body(response: &Value) -> Value {
    assert_eq!(response["isBase64Encoded"], false);
    serde_json::from_str(response["body"].as_str().expect("a body")).expect("a JSON body")
}

/// Starts the function in a child process against `runtime`, `store`'s table and `rest`.
fn spawn_function(
    store: &callstats_store::Store,
    runtime: &LambdaRuntime,
    rest: &FakeDiscord,
) -> tokio::process::Child {
    function_command(store, runtime, rest)
        .spawn()
        .expect("the test binary starts again as the function")
}

fn function_command(
    store: &callstats_store::Store,
    runtime: &LambdaRuntime,
    rest: &FakeDiscord,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
    command
        .args(["lambda_child", "--exact", "--ignored", "--nocapture"])
        .env("CALLSTATS_TEST_LAMBDA_CHILD", "1")
        .env("AWS_LAMBDA_RUNTIME_API", runtime.runtime_api())
        .env("AWS_LAMBDA_FUNCTION_NAME", "callstats-interactions")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_ENDPOINT_URL_LAMBDA", runtime.endpoint_url())
        .env("DISCORD_PUBLIC_KEY", public_key_hex())
        .env("DISCORD_API_BASE", rest.api_base())
        .env("CALLSTATS_TABLE", store.table().as_str())
        .env("AWS_LAMBDA_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    command
}

/// The function uses the system clock: requests are signed with it.
fn wall_clock() -> Timestamp {
    Timestamp::from_datetime(chrono::Utc::now())
}

fn signed_event(interaction: &Interaction) -> String {
    let body = interaction.body();
    function_url_event(&body, &signed_headers(wall_clock(), body.as_bytes()))
}

#[tokio::test]
async fn lambda_runtime_path() {
    let store = callstats_tests::dynamo::fresh_store().await;
    let runtime = LambdaRuntime::start().await;
    let rest = FakeDiscord::start().await;
    let mut child = spawn_function(&store, &runtime, &rest);

    let ping = Interaction::ping();
    let response = runtime.invoke(signed_event(&ping)).await;
    assert_eq!(response["statusCode"], 200);
    assert_eq!(response["headers"]["content-type"], "application/json");
    assert_eq!(lambda_body(&response), json!({"type": 1}));

    let response = runtime
        .invoke(signed_event(&Interaction::command("calltop", json!([]))))
        .await;
    assert_eq!(response["statusCode"], 200);
    let body = lambda_body(&response);
    assert_eq!(body["type"], 4);
    assert_eq!(
        body["data"]["embeds"][0]["title"],
        format!(
            "Voice leaderboard · week {}",
            callstats_core::period::WeekKey::of(wall_clock(), chrono_tz::Tz::UTC)
        )
    );

    let response = runtime.invoke(function_url_event(&ping.body(), &[])).await;
    assert_eq!(response["statusCode"], 401);
    assert!(runtime.errors().is_empty());
    assert!(runtime.async_invocations().is_empty());

    child.kill().await.unwrap();
}

#[tokio::test]
async fn lambda_defers_long_work_to_an_asynchronous_self_invocation() {
    let store = callstats_tests::dynamo::fresh_store().await;
    // More items than an export answered at once may read: a call an hour, one item a day.
    let days = callstats_interactions::commands::privacy::INLINE_ITEMS as u64 + 10;
    let sessions = days * 24;
    seed_many(&store, ADA, GUILD, at(2026, 1, 1, 0, 0, 0), sessions).await;
    let runtime = LambdaRuntime::start().await;
    let rest = FakeDiscord::start().await;
    // Every log on: the interaction token must still appear nowhere in them.
    let mut child = function_command(&store, &runtime, &rest)
        .env("RUST_LOG", "trace")
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test binary starts again as the function");

    let export = Interaction::callstats("export", json!([])).by(ADA, "Ada");
    let response = runtime.invoke(signed_event(&export)).await;
    assert_eq!(response["statusCode"], 200);
    assert_eq!(
        lambda_body(&response),
        json!({"type": 5, "data": {"flags": 64}})
    );

    // The function invoked itself with a job event that no Function URL request can forge.
    let invocations = runtime.async_invocations();
    assert_eq!(invocations.len(), 1);
    let job: Value = serde_json::from_str(&invocations[0]).unwrap();
    assert_eq!(job["routeKey"], "callstats-job");
    assert_eq!(job["requestContext"]["routeKey"], "callstats-job");

    // ...which exported everything and replaced the deferred reply.
    let path = format!(
        "/api/v10/webhooks/{APPLICATION}/{}/messages/@original",
        export.token()
    );
    let edit = rest.wait_for(|r| r.path == path).await;
    assert_eq!(edit.method, "PATCH");
    let content_type = edit.headers["content-type"].to_str().unwrap().to_owned();
    let parts = parse_multipart(&content_type, &edit.body).unwrap();
    let doc: Value = serde_json::from_slice(&parts[1].body).unwrap();
    assert_eq!(
        doc["guilds"][0]["sessions"].as_array().unwrap().len() as u64,
        sessions
    );
    assert!(runtime.errors().is_empty());

    // A job event sent through the Function URL would carry routeKey "$default": it is an
    // ordinary, unsigned request and is refused.
    let forged = function_url_event(job["body"].as_str().unwrap(), &[]);
    assert_eq!(runtime.invoke(forged).await["statusCode"], 401);

    child.kill().await.unwrap();
    let mut logs = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut logs)
        .await
        .unwrap();
    assert!(logs.contains("\"level\":\"TRACE\"") || logs.contains("\"level\":\"DEBUG\""));
    assert!(logs.contains("job done, response edited"), "{logs}");
    let leaks: Vec<String> = logs
        .match_indices(&export.token())
        .map(|(i, _)| logs[i.saturating_sub(300)..(i + 100).min(logs.len())].to_owned())
        .collect();
    assert!(
        leaks.is_empty(),
        "the interaction token is in the logs: {leaks:#?}"
    );
}

fn register_config(rest: &FakeDiscord) -> RegisterConfig {
    RegisterConfig {
        token: callstats_runtime::Token::new("test.bot.token").expect("a valid token"),
        application_id: parse_id(&APPLICATION.to_string()).unwrap(),
        api_base: ApiBase::parse(&rest.api_base()).unwrap(),
    }
}

/// Discord's rules for a chat-input name: 1-32 lowercase letters, digits, `-` or `_`.
fn valid_slash_name(name: &str) -> bool {
    (1..=32).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn check_options(options: &[Value], path: &str) {
    assert!(options.len() <= 25, "{path}: at most 25 options");
    let mut seen_optional = false;
    for o in options {
        let name = o["name"].as_str().unwrap();
        let at = format!("{path} {name}");
        assert!(valid_slash_name(name), "{at}: option name");
        let description = o["description"].as_str().unwrap();
        assert!(
            (1..=100).contains(&description.chars().count()),
            "{at}: description"
        );
        let kind = o["type"].as_u64().unwrap();
        assert!((1..=11).contains(&kind), "{at}: option type");
        if kind == 1 || kind == 2 {
            check_options(o["options"].as_array().map_or(&[][..], Vec::as_slice), &at);
            continue;
        }
        let required = o["required"].as_bool().unwrap_or(false);
        assert!(
            !(required && seen_optional),
            "{at}: required options come first"
        );
        seen_optional |= !required;
        if let Some(choices) = o["choices"].as_array() {
            assert!(choices.len() <= 25, "{at}: choices");
            for c in choices {
                assert!((1..=100).contains(&c["name"].as_str().unwrap().chars().count()));
                assert!(c["value"].as_str().unwrap().chars().count() <= 100);
            }
        }
    }
}

fn check_command_set(commands: &[Value]) {
    let mut names = Vec::new();
    for c in commands {
        let name = c["name"].as_str().unwrap();
        names.push(name.to_owned());
        assert_eq!(c["contexts"], json!([0]), "{name}: servers only");
        assert_eq!(c["integration_types"], json!([0]), "{name}: guild install");
        match c["type"].as_u64().unwrap() {
            1 => {
                assert!(valid_slash_name(name), "{name}");
                let d = c["description"].as_str().unwrap();
                assert!(
                    (1..=100).contains(&d.chars().count()),
                    "{name}: description"
                );
                check_options(c["options"].as_array().unwrap(), name);
            }
            2 => {
                assert!((1..=32).contains(&name.chars().count()), "{name}");
                assert_eq!(c["description"], "", "{name}: menus have no description");
                assert!(c["options"].as_array().is_none_or(Vec::is_empty));
            }
            other => panic!("{name}: unexpected command type {other}"),
        }
    }
    names.sort();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names, unique, "names are unique");
}

/// `/callstats`: its subcommands and their options.
fn check_callstats(callstats: &Value) {
    let subs: Vec<&str> = callstats["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        subs,
        vec![
            "show", "history", "server", "partners", "timezone", "optout", "optin", "export",
            "delete"
        ]
    );
    let sub = |name: &str| {
        callstats["options"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap()
            .clone()
    };
    let zone = &sub("timezone")["options"][0];
    assert_eq!(
        (
            &zone["name"],
            &zone["type"],
            &zone["required"],
            &zone["autocomplete"]
        ),
        (&json!("zone"), &json!(3), &json!(true), &json!(true))
    );
    for private in ["optout", "optin", "export", "delete"] {
        assert!(sub(private)["options"].as_array().is_none_or(Vec::is_empty));
    }
    let periods = |name: &str, option: usize| -> Vec<String> {
        sub(name)["options"][option]["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(periods("server", 0), ["7d", "30d", "week", "month", "all"]);
    assert_eq!(sub("server")["options"][1]["name"], "private");
    assert_eq!(periods("partners", 0), ["7d", "30d", "all"]);
    let show = &callstats["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "show")
        .unwrap()["options"];
    let types: Vec<(String, u64)> = show
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_owned(),
                o["type"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        types,
        vec![
            ("user".into(), 6),
            ("period".into(), 3),
            ("private".into(), 5)
        ]
    );
}

/// `/callconfig`: Manage Server by default, two switches and an autocompleted timezone.
fn check_callconfig(callconfig: &Value) {
    assert_eq!(
        callconfig["default_member_permissions"], "32",
        "Manage Server"
    );
    let config_options: Vec<(String, u64)> = callconfig["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_owned(),
                o["type"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        config_options,
        vec![
            ("exclude_deafened".into(), 5),
            ("exclude_alone".into(), 5),
            ("timezone".into(), 3)
        ]
    );
    assert_eq!(callconfig["options"][2]["autocomplete"], true);
}

#[tokio::test]
async fn register_commands_uploads_the_whole_set() {
    let rest = FakeDiscord::start().await;
    let config = register_config(&rest);
    let count = register_commands(&config, None).await.unwrap();

    let requests = rest.requests();
    assert_eq!(requests.len(), 1);
    let global = &requests[0];
    assert_eq!(global.method, "PUT");
    assert_eq!(
        global.path,
        format!("/api/v10/applications/{APPLICATION}/commands")
    );
    assert_eq!(global.headers["authorization"], "Bot test.bot.token");
    let commands = global.json();
    let commands = commands.as_array().unwrap();
    assert_eq!(commands.len(), count);
    check_command_set(commands);

    let find = |name: &str| commands.iter().find(|c| c["name"] == name).unwrap().clone();
    check_callstats(&find("callstats"));
    let top = find("calltop");
    assert_eq!(top["options"][0]["choices"].as_array().unwrap().len(), 3);
    check_callconfig(&find("callconfig"));
    let menu = find("Call stats");
    assert_eq!(menu["type"], 2, "the user context-menu entry");

    // Per guild, for testing: the same set, at the guild route.
    register_commands(&config, Some(parse_id(&GUILD.to_string()).unwrap()))
        .await
        .unwrap();
    let guild = &rest.requests()[1];
    assert_eq!(
        guild.path,
        format!("/api/v10/applications/{APPLICATION}/guilds/{GUILD}/commands")
    );
    assert_eq!(guild.json(), global.json());
}

#[tokio::test]
async fn register_commands_reports_a_refusal() {
    let rest = FakeDiscord::start_with(std::sync::Arc::new(|_: &_| {
        (
            http::StatusCode::UNAUTHORIZED,
            r#"{"message": "401: Unauthorized", "code": 0}"#.to_owned(),
        )
    }))
    .await;
    let err = register_commands(&register_config(&rest), None)
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("test.bot.token"), "{err}");
}

/// Arguments, environment, and what the one line says.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

/// Missing or invalid configuration: exit status 2 and one line naming the variable, in
/// every mode that serves requests.
#[tokio::test]
async fn bad_configuration_ends_the_program_with_one_clear_line() {
    let key = public_key_hex();
    let cases: Vec<Case> = vec![
        (
            vec!["serve", "--listen", "127.0.0.1:0"],
            vec![("CALLSTATS_TABLE", "t-config")],
            "DISCORD_PUBLIC_KEY is not set",
        ),
        (
            vec!["serve", "--listen", "127.0.0.1:0"],
            vec![
                ("DISCORD_PUBLIC_KEY", "not hex"),
                ("CALLSTATS_TABLE", "t-config"),
            ],
            "DISCORD_PUBLIC_KEY is invalid",
        ),
        (
            vec!["serve", "--listen", "127.0.0.1:0"],
            vec![("DISCORD_PUBLIC_KEY", &key)],
            "CALLSTATS_TABLE is not set",
        ),
        (
            vec!["serve", "--listen", "127.0.0.1:0"],
            vec![
                ("DISCORD_PUBLIC_KEY", &key),
                ("CALLSTATS_TABLE", "t-config"),
                ("CALLSTATS_LOG_FORMAT", "yaml"),
            ],
            "CALLSTATS_LOG_FORMAT is invalid",
        ),
        (
            vec![],
            vec![
                ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"),
                ("DISCORD_PUBLIC_KEY", &key),
                ("CALLSTATS_TABLE", "t-config"),
                ("CALLSTATS_LOG_FORMAT", "yaml"),
            ],
            "CALLSTATS_LOG_FORMAT is invalid",
        ),
    ];
    for (args, vars, expected) in cases {
        let output =
            tokio::process::Command::new(callstats_tests::program("callstats-interactions"))
                .args(&args)
                .env_remove("DISCORD_PUBLIC_KEY")
                .env_remove("CALLSTATS_TABLE")
                .env_remove("CALLSTATS_LOG_FORMAT")
                .env_remove("AWS_LAMBDA_RUNTIME_API")
                .envs(vars.iter().copied())
                .stdin(Stdio::null())
                .output()
                .await
                .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(output.status.code(), Some(2), "{args:?} {vars:?}: {stderr}");
        assert_eq!(lines.len(), 1, "{args:?} {vars:?}: {stderr}");
        assert!(
            lines[0].starts_with("callstats-interactions: configuration error: ")
                && lines[0].contains(expected),
            "{args:?} {vars:?}: {stderr}"
        );
    }
}

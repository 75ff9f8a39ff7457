//! What the operator's two tools and the template must agree on, checked without deploying:
//! the function SAM builds and the one `cargo lambda deploy` makes have the same settings; the
//! template's sidecar task slots differ only in their slot, and a stack of K tasks runs each
//! shard slice once; the list of tests that need a local server names tests that exist.

use std::collections::BTreeSet;

use callstats_sidecar::ShardPlan;
use callstats_sidecar::config::Task;
use callstats_tests::lambda_deploy::{lambda_metadata, root};
use callstats_tests::template::{Stack, TEMPLATE, get, literal, resource, sequence, template};

/// `[package.metadata.lambda]` (read by `cargo lambda build` and `deploy`) says what the
/// template says of SAM's function: memory, timeout, architecture, a public Function URL, JSON
/// logs; and the environment the stack gives `cargo lambda deploy` (the
/// `InteractionsEnvironment` output) is the environment SAM's function gets.
#[test]
fn both_tools_configure_the_function_alike() {
    let doc = template().unwrap();
    let function = resource(&doc, "InteractionsFunction").unwrap();
    let props = get(function, "Properties", "function").unwrap();
    let lambda = lambda_metadata();
    let deploy = &lambda["deploy"];
    assert_eq!(
        deploy["memory"].as_i64(),
        get(props, "MemorySize", "f").unwrap().as_integer()
    );
    assert_eq!(
        deploy["timeout"].as_i64(),
        get(props, "Timeout", "f").unwrap().as_integer()
    );
    let arch = sequence(get(props, "Architectures", "f").unwrap(), "f").unwrap();
    assert_eq!(literal(&arch[0], "f").unwrap(), "arm64");
    assert_eq!(lambda["build"]["arm64"], true, "cargo lambda build --arm64");
    // cargo-lambda's runtime and handler are provided.al2023 and bootstrap, as here.
    assert_eq!(
        literal(get(props, "Runtime", "f").unwrap(), "f").unwrap(),
        "provided.al2023"
    );
    assert_eq!(
        literal(get(props, "Handler", "f").unwrap(), "f").unwrap(),
        "bootstrap"
    );
    // enable_function_url makes an unauthenticated URL, as FunctionUrlConfig does.
    assert_eq!(deploy["enable_function_url"], true);
    let url = get(props, "FunctionUrlConfig", "f").unwrap();
    assert_eq!(
        literal(get(url, "AuthType", "f").unwrap(), "f").unwrap(),
        "NONE"
    );
    // JSON logs: LoggingConfig on SAM's function, CALLSTATS_LOG_FORMAT on cargo-lambda's.
    let logging = get(props, "LoggingConfig", "f").unwrap();
    assert_eq!(
        literal(get(logging, "LogFormat", "f").unwrap(), "f").unwrap(),
        "JSON"
    );
    assert_eq!(
        deploy["env"],
        serde_json::json!({"CALLSTATS_LOG_FORMAT": "json"}),
        "the metadata adds only what LoggingConfig does for SAM's function"
    );

    for guilds in ["", "123456789012345678,223456789012345678"] {
        let mut stack = Stack::new(
            &doc,
            "s",
            &[
                ("AllowedGuilds", guilds),
                ("DiscordApplicationId", "1180000000000000001"),
                ("DiscordPublicKey", "ab"),
            ],
        )
        .unwrap();
        stack.resources.insert("Table".into(), "s-Table-1".into());
        let variables = get(get(props, "Environment", "f").unwrap(), "Variables", "f").unwrap();
        let mut sam = Vec::new();
        for (name, value) in variables.as_mapping().unwrap() {
            if let Some(value) = stack.eval(value).unwrap() {
                sam.push(format!("{}={value}", literal(name, "f").unwrap()));
            }
        }
        let mut given: Vec<String> = stack
            .output("InteractionsEnvironment")
            .unwrap()
            .split(' ')
            .map(str::to_owned)
            .collect();
        sam.sort();
        given.sort();
        assert_eq!(given, sam, "AllowedGuilds={guilds:?}");
    }
}

/// The sidecar's task slots are copies: only the condition, family, `CALLSTATS_TASK` and the
/// references between a slot's own resources differ.
#[test]
fn sidecar_task_slots_differ_only_in_their_slot() {
    // A resource's text: from its id to the next line at the resources' indentation.
    let block = |id: &str| {
        let start = TEMPLATE
            .find(&format!("\n  {id}:\n"))
            .unwrap_or_else(|| panic!("no {id}"))
            + 1;
        let lines: Vec<&str> = TEMPLATE[start..]
            .lines()
            .enumerate()
            .take_while(|(i, l)| *i == 0 || l.is_empty() || l.starts_with("   "))
            .map(|(_, l)| l)
            .collect();
        lines.join("\n").trim_end().to_owned()
    };
    for (kind, base) in [
        ("task definition", "SidecarTaskDefinition"),
        ("service", "SidecarService"),
        ("heartbeat alarm", "SidecarHeartbeatStaleAlarm"),
    ] {
        let slot0 = block(base);
        for i in 1..=3 {
            let normalised = block(&format!("{base}{i}"))
                .replace(&format!("{base}{i}:"), &format!("{base}:"))
                .replace(&format!("RunSidecarTask{i}\n"), "RunSidecarOnEcs\n")
                .replace(
                    &format!("SidecarTaskDefinition{i}\n"),
                    "SidecarTaskDefinition\n",
                )
                .replace(&format!("-sidecar-{i}\""), "-sidecar\"")
                .replace(
                    &format!("\"{i}/${{SidecarTasks}}\""),
                    "\"0/${SidecarTasks}\"",
                )
                .replace(
                    &format!("Sidecar task {i} (CALLSTATS_TASK {i}/SidecarTasks)"),
                    "Sidecar task 0 (CALLSTATS_TASK 0/SidecarTasks)",
                );
            assert_eq!(normalised, slot0, "{kind} slot {i} drifted from slot 0");
        }
    }
}

/// With K tasks, exactly K slots run, each with its own `CALLSTATS_TASK` and a heartbeat alarm
/// on it; their slices of the shards cover every shard once.
#[test]
fn k_tasks_run_every_shard_once() {
    let doc = template().unwrap();
    for k in 1..=4u32 {
        let k_text = k.to_string();
        let mut stack = Stack::new(
            &doc,
            "s",
            &[
                ("SidecarImageTag", "v1"),
                ("SidecarTasks", &k_text),
                ("SidecarShards", "10"),
            ],
        )
        .unwrap();
        stack.resources.insert("Table".into(), "t".into());
        let mut tasks = BTreeSet::new();
        let mut shards = Vec::new();
        for id in [
            "SidecarTaskDefinition",
            "SidecarTaskDefinition1",
            "SidecarTaskDefinition2",
            "SidecarTaskDefinition3",
        ] {
            if !stack.creates(id).unwrap() {
                continue;
            }
            let env = stack.container_environment(id).unwrap();
            let (index, count) = env["CALLSTATS_TASK"].split_once('/').unwrap();
            let task = Task {
                index: index.parse().unwrap(),
                count: count.parse().unwrap(),
            };
            assert_eq!(task.count, k);
            let total: u32 = env["CALLSTATS_SHARDS"].parse().unwrap();
            match task.slice(ShardPlan::Count(total)).unwrap() {
                ShardPlan::Range { first, last, .. } => shards.extend(first..=last),
                ShardPlan::Count(n) => shards.extend(0..n),
                ShardPlan::Recommended => unreachable!(),
            }
            tasks.insert(env["CALLSTATS_TASK"].clone());
        }
        assert_eq!(tasks.len(), k as usize, "{k} tasks");
        assert_eq!(shards, (0..10).collect::<Vec<_>>(), "{k} tasks");
        let watched: BTreeSet<String> = stack
            .alarms()
            .unwrap()
            .into_iter()
            .filter_map(|a| a.dimensions.get("Task").cloned())
            .collect();
        assert_eq!(watched, tasks, "one heartbeat alarm per task");
        for service in [
            "SidecarService",
            "SidecarService1",
            "SidecarService2",
            "SidecarService3",
        ] {
            let slot = service.trim_start_matches("SidecarService");
            let slot: u32 = if slot.is_empty() {
                0
            } else {
                slot.parse().unwrap()
            };
            assert_eq!(
                stack.creates(service).unwrap(),
                slot < k,
                "{service} with {k}"
            );
        }
    }
}

/// tests/moto-only.txt names tests that exist, with an assumption it explains.
#[test]
fn the_local_server_only_list_names_real_tests() {
    let list = std::fs::read_to_string(root().join("tests/moto-only.txt")).unwrap();
    let mut names = 0;
    for line in list
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap();
        let assumption = words.next().unwrap_or_default();
        assert!(
            ["proxy", "index"].contains(&assumption),
            "{line}: proxy or index"
        );
        let (binary, test) = name.split_once("::").unwrap();
        let source = std::fs::read_to_string(root().join(format!("tests/tests/{binary}.rs")))
            .unwrap_or_else(|_| panic!("{line}: no test binary {binary}"));
        assert!(
            source.contains(&format!("async fn {test}()"))
                || source.contains(&format!("fn {test}()")),
            "{line}: no test {test} in {binary}"
        );
        names += 1;
    }
    assert!(names > 0);
}

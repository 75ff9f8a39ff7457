//! The function deployed the cargo-lambda way, end to end against a local AWS API emulation
//! (moto): the guide's own commands (docs/deploy.md, "cargo lambda deploy"), run from the
//! repository root with the outputs of a stack of the template, create the function with the
//! configuration the template gives SAM's function; an upgrade changes the code and what the
//! stack changed, nothing else; a rollback puts the earlier code back; and on a stack whose
//! function SAM deploys, the same commands refuse and create nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::types::Architecture;
use callstats_tests::interactions::PrivateDynamo;
use callstats_tests::lambda_deploy::{
    aarch64_exit, bash, bootstrap, cargo_lambda, create_role, guide_block, lambda_client,
    lambda_metadata,
};
use callstats_tests::sidecar::StateDir;
use callstats_tests::template::{Stack, get, literal, resource, template, to_json};
use saphyr::Yaml;

const APPLICATION: &str = "1180000000000000001";
const KEY: &str = "2a7f5c0e6d0b4e8b9a1c3d5e7f9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b";
const SERVER: &str = "1180000000000000100";

/// The outputs of `stack` as the guide's `out` function gives them (the AWS CLI prints `None`
/// for an output the stack does not have).
fn out_function(stack: &Stack<'_, '_>, doc: &Yaml<'_>) -> String {
    let mut script = String::from("out() {\n  case \"$1\" in\n");
    for (name, _) in get(doc, "Outputs", "template")
        .unwrap()
        .as_mapping()
        .unwrap()
    {
        let name = literal(name, "output").unwrap();
        let value = stack.output(name).unwrap_or_else(|_| "None".to_owned());
        let _ = writeln!(script, "    {name}) printf '%s\\n' '{value}' ;;");
    }
    script.push_str("    *) echo None ;;\n  esac\n}\n");
    script
}

/// What a stack of the template says the function is: SAM's function's settings, and the
/// stack's environment with the one variable the metadata adds for JSON logs.
struct Expected {
    memory: i32,
    timeout: i32,
    runtime: String,
    handler: String,
    role: String,
    environment: BTreeMap<String, String>,
}

fn expected(doc: &Yaml<'_>, stack: &Stack<'_, '_>) -> Expected {
    let props = get(
        resource(doc, "InteractionsFunction").unwrap(),
        "Properties",
        "f",
    )
    .unwrap();
    let number =
        |key: &str| i32::try_from(get(props, key, "f").unwrap().as_integer().unwrap()).unwrap();
    let mut environment: BTreeMap<String, String> = stack
        .output("InteractionsEnvironment")
        .unwrap()
        .split(' ')
        .map(|word| {
            let (k, v) = word.split_once('=').expect("NAME=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let metadata_env = lambda_metadata()["deploy"]["env"].clone();
    for (k, v) in metadata_env
        .as_object()
        .expect("[package.metadata.lambda.deploy] env")
    {
        environment.insert(k.clone(), v.as_str().unwrap().to_owned());
    }
    Expected {
        memory: number("MemorySize"),
        timeout: number("Timeout"),
        runtime: literal(get(props, "Runtime", "f").unwrap(), "f")
            .unwrap()
            .to_owned(),
        handler: literal(get(props, "Handler", "f").unwrap(), "f")
            .unwrap()
            .to_owned(),
        role: stack.output("InteractionsRoleArn").unwrap(),
        environment,
    }
}

fn assert_configured(got: &GetFunctionConfigurationOutput, want: &Expected) {
    assert_eq!(got.memory_size, Some(want.memory));
    assert_eq!(got.timeout, Some(want.timeout));
    assert_eq!(
        got.runtime().map(aws_sdk_lambda::types::Runtime::as_str),
        Some(want.runtime.as_str())
    );
    assert_eq!(got.handler(), Some(want.handler.as_str()));
    assert_eq!(got.role(), Some(want.role.as_str()));
    assert_eq!(got.architectures(), [Architecture::Arm64]);
    let environment: BTreeMap<String, String> = got
        .environment()
        .and_then(|e| e.variables())
        .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    assert_eq!(environment, want.environment);
}

/// The operator: a shell in the repository root whose `cargo lambda` finds its build under a
/// target directory of its own and whose AWS is the emulation.
struct Operator {
    tools: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
    target: std::path::PathBuf,
    _dir: StateDir,
}

impl Operator {
    fn new(tools: std::path::PathBuf, endpoint: &str) -> Self {
        let dir = StateDir::new();
        let target = dir.path().join("target");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        // cargo and rustup where the test's are; the emulation as AWS.
        let user_home = std::env::var("HOME").unwrap_or_default();
        let mut env: Vec<(&'static str, String)> = vec![
            ("HOME", home.display().to_string()),
            (
                "CARGO_HOME",
                std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{user_home}/.cargo")),
            ),
            (
                "RUSTUP_HOME",
                std::env::var("RUSTUP_HOME").unwrap_or_else(|_| format!("{user_home}/.rustup")),
            ),
            ("CARGO_TARGET_DIR", target.display().to_string()),
            ("CARGO_NET_OFFLINE", "true".to_owned()),
            ("CARGO_LAMBDA_COLOR", "never".to_owned()),
            ("AWS_ENDPOINT_URL", endpoint.to_owned()),
            ("AWS_ACCESS_KEY_ID", "local".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "local".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ];
        if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
            env.push(("RUSTUP_TOOLCHAIN", toolchain));
        }
        Self {
            tools,
            env,
            target,
            _dir: dir,
        }
    }

    /// Builds (stands in for `cargo lambda build`: the binary where it would leave it).
    fn build(&self, binary: &[u8]) {
        bootstrap(&self.target, binary);
    }

    /// Runs the guide's deploy step with `stack`'s outputs; its output.
    async fn deploy(&self, stack: &Stack<'_, '_>, doc: &Yaml<'_>) -> String {
        let script = format!(
            "{}{}",
            out_function(stack, doc),
            guide_block("cargo lambda deploy")
        );
        let ran = bash(&script, &self.tools, &self.env).await;
        assert!(ran.success, "{}", ran.output);
        ran.output
    }
}

/// A stack of the template named `name` with `params`, and the resources it made before the
/// function: the table and the function's role.
fn stack<'a, 'y>(
    doc: &'a Yaml<'y>,
    name: &str,
    role_arn: &str,
    params: &[(&str, &str)],
) -> Stack<'a, 'y> {
    let mut all = vec![
        ("DiscordApplicationId", APPLICATION),
        ("DiscordPublicKey", KEY),
        (
            "DiscordTokenSecretArn",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:callstats/discord-token-AbCdEf",
        ),
    ];
    all.extend_from_slice(params);
    let mut stack = Stack::new(doc, name, &all).unwrap();
    for (id, value) in [
        ("Table", format!("{name}-Table-1A2B3C")),
        ("InteractionsRole.Arn", role_arn.to_owned()),
        (
            "InteractionsFunction",
            format!("{name}-InteractionsFunction-4D5E6F"),
        ),
        (
            "InteractionsFunctionUrl.FunctionUrl",
            "https://example.lambda-url.on.aws/".to_owned(),
        ),
    ] {
        stack.resources.insert(id.to_owned(), value);
    }
    stack
}

/// The role the stack makes for the function, made in the emulation; its ARN.
async fn stack_role(doc: &Yaml<'_>, endpoint: &str, name: &str) -> String {
    let role = get(
        resource(doc, "InteractionsRole").unwrap(),
        "Properties",
        "role",
    )
    .unwrap();
    let trust = to_json(get(role, "AssumeRolePolicyDocument", "role").unwrap()).unwrap();
    create_role(
        endpoint,
        &format!("{name}-InteractionsRole"),
        &trust.to_string(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_cargo_lambda_deploy_makes_the_function_the_stack_describes() {
    let aws = PrivateDynamo::start().await;
    let operator = Operator::new(cargo_lambda().await, &aws.endpoint);
    let lambda = lambda_client(&aws.endpoint).await;
    let doc = template().unwrap();
    let name = format!("deploy{}", std::process::id());
    let role = stack_role(&doc, &aws.endpoint, &name).await;
    let function = format!("{name}-interactions");
    let configuration = || async {
        lambda
            .get_function_configuration()
            .function_name(&function)
            .send()
            .await
            .unwrap()
    };
    let url = || async {
        lambda
            .get_function_url_config()
            .function_name(&function)
            .send()
            .await
            .unwrap()
    };

    // A stack whose function SAM deploys: the guide's step refuses and makes nothing.
    operator.build(&aarch64_exit(0));
    let output = operator.deploy(&stack(&doc, &name, &role, &[]), &doc).await;
    assert!(output.contains("deployed by SAM"), "{output}");
    assert!(
        lambda
            .get_function()
            .function_name(&function)
            .send()
            .await
            .is_err()
    );

    // The first deploy, on a stack whose function cargo-lambda deploys, for one server.
    let first_stack = stack(
        &doc,
        &name,
        &role,
        &[
            ("InteractionsDeployedBy", "cargo-lambda"),
            ("AllowedGuilds", SERVER),
        ],
    );
    assert_eq!(
        first_stack.output("InteractionsFunctionName").unwrap(),
        function
    );
    let output = operator.deploy(&first_stack, &doc).await;
    let first = configuration().await;
    let want = expected(&doc, &first_stack);
    assert_eq!(want.environment["CALLSTATS_GUILDS"], SERVER);
    assert_configured(&first, &want);
    let first_url = url().await;
    assert_eq!(
        first_url.auth_type().as_str(),
        "NONE",
        "Discord signs; the function checks"
    );
    assert!(output.contains(first_url.function_url()), "{output}");

    // An upgrade: a new build, and the stack changed (its allow-list removed).
    operator.build(&aarch64_exit(1));
    let second_stack = stack(
        &doc,
        &name,
        &role,
        &[("InteractionsDeployedBy", "cargo-lambda")],
    );
    operator.deploy(&second_stack, &doc).await;
    let second = configuration().await;
    assert_ne!(second.code_sha256(), first.code_sha256(), "the new code");
    let want = expected(&doc, &second_stack);
    assert!(!want.environment.contains_key("CALLSTATS_GUILDS"));
    assert_configured(&second, &want);
    assert_eq!(
        url().await.function_url(),
        first_url.function_url(),
        "Discord's URL stays"
    );

    // A rollback: the earlier build, deployed the same way.
    operator.build(&aarch64_exit(0));
    operator.deploy(&second_stack, &doc).await;
    let third = configuration().await;
    assert_eq!(
        third.code_sha256(),
        first.code_sha256(),
        "the earlier code is back"
    );
    assert_configured(&third, &want);
}

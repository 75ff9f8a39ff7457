//! The operator's `cargo lambda deploy` (docs/deploy.md) against a local AWS API emulation:
//! moto serves Lambda's and IAM's control plane on one endpoint (creating, updating and
//! reading a function and its URL; nothing runs it), which cargo-lambda reaches through
//! `AWS_ENDPOINT_URL`.
//!
//! - [`cargo_lambda`]: the pinned cargo-lambda, installed into `.local/lambda-venv` on first
//!   use (`scripts/ensure-venv lambda`);
//! - [`create_role`]: the role a stack of the template would have made;
//! - [`bootstrap`]: the function's binary as cargo-lambda finds it after a build;
//! - [`guide_block`]: the guide's own commands, run as an operator would;
//! - [`lambda_client`]: reading back what was deployed.
//!
//! The binary deployed is a stand-in: a 132-byte aarch64 Linux executable that exits with a
//! given status. The emulation never runs code, and cargo-lambda needs a real ELF file only to
//! read its architecture; the real function's arm64 build is exercised by `scripts/sam-build`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use callstats_devkit::send::HttpClient;

/// The workspace root.
#[must_use]
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_owned()
}

/// The directory holding the pinned `cargo-lambda`, installed on first use.
///
/// # Panics
/// When it cannot be installed (the Python package index is unreachable, say).
pub async fn cargo_lambda() -> PathBuf {
    let status = tokio::process::Command::new(root().join("scripts/ensure-venv"))
        .arg("lambda")
        .status()
        .await
        .expect("scripts/ensure-venv runs");
    assert!(status.success(), "scripts/ensure-venv lambda failed");
    let bin = root().join(".local/lambda-venv/bin");
    assert!(
        bin.join("cargo-lambda").exists(),
        "no cargo-lambda in {}",
        bin.display()
    );
    bin
}

/// Percent-encodes `s` for a form body.
fn form(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Creates IAM role `name` with `trust` (a JSON policy document) on the emulation at
/// `endpoint`; returns its ARN. IAM's query protocol by hand: the emulation reads the service
/// from the credential scope and checks no signature.
pub async fn create_role(endpoint: &str, name: &str, trust: &str) -> String {
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={}&AssumeRolePolicyDocument={}",
        form(name),
        form(trust)
    );
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("{}/", endpoint.trim_end_matches('/')))
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .header(
            http::header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/iam/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .body(Bytes::from(body))
        .expect("a request");
    let answer = HttpClient::default()
        .send(request)
        .await
        .expect("the emulation answers");
    let text = String::from_utf8_lossy(&answer.body).into_owned();
    assert_eq!(answer.status, 200, "CreateRole: {text}");
    let start = text.find("<Arn>").expect("an ARN in the answer") + "<Arn>".len();
    let end = text[start..].find("</Arn>").expect("the ARN ends") + start;
    text[start..end].to_owned()
}

/// A minimal static aarch64 Linux executable: `exit(status)`. Its header names the arm64 machine, which
/// is all cargo-lambda reads (to set the function's architecture).
#[must_use]
pub fn aarch64_exit(status: u8) -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let code: [u32; 3] = [
        0xd280_0000 | (u32::from(status) << 5), // mov x0, #status
        0xd280_0ba8,                            // mov x8, #93 (exit)
        0xd400_0001,                            // svc #0
    ];
    let size = HEADERS + 12;
    let mut elf = Vec::new();
    elf.extend_from_slice(b"\x7fELF\x02\x01\x01\x00");
    elf.extend_from_slice(&[0; 8]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // executable
    elf.extend_from_slice(&183u16.to_le_bytes()); // AArch64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&(BASE + HEADERS).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // program headers
    elf.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    elf.extend_from_slice(&0u32.to_le_bytes());
    for half in [64u16, 56, 1, 0, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // read + execute
    for word in [0, BASE, BASE, size, size, 0x1000] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    for insn in code {
        elf.extend_from_slice(&insn.to_le_bytes());
    }
    elf
}

/// Puts `binary` where `cargo lambda build` leaves the function's binary under `target`
/// (`CARGO_TARGET_DIR`), with a fixed modification time so that the same binary zips the
/// same way twice.
pub fn bootstrap(target: &Path, binary: &[u8]) {
    let dir = target.join("lambda/callstats-interactions");
    std::fs::create_dir_all(&dir).expect("the lambda directory");
    let path = dir.join("bootstrap");
    std::fs::write(&path, binary).expect("write the binary");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("make it executable");
    }
    let file = std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open the binary");
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000))
        .expect("set its modification time");
}

/// The first fenced `sh` block of `docs/deploy.md` that contains `marker`.
///
/// # Panics
/// When there is none.
#[must_use]
pub fn guide_block(marker: &str) -> String {
    let guide = std::fs::read_to_string(root().join("docs/deploy.md")).expect("docs/deploy.md");
    guide
        .split("```sh\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("\n```").map(|(block, _)| block))
        .find(|block| block.contains(marker))
        .unwrap_or_else(|| panic!("docs/deploy.md has no sh block with {marker:?}"))
        .to_owned()
}

/// What a shell script printed, and how it ended.
#[derive(Debug)]
pub struct Ran {
    pub success: bool,
    pub output: String,
}

/// Runs `script` with bash (`-euo pipefail`) from the workspace root, with `env` set and
/// nothing else of the test's environment but `PATH` (with `path_first` before it).
pub async fn bash(script: &str, path_first: &Path, env: &[(&str, String)]) -> Ran {
    let path = format!(
        "{}:{}",
        path_first.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(root())
        .env_clear()
        .env("PATH", path)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("bash runs");
    Ran {
        success: output.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// A Lambda client of the emulation at `endpoint`.
pub async fn lambda_client(endpoint: &str) -> aws_sdk_lambda::Client {
    callstats_runtime::install_crypto_provider();
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client)
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            "local", "local", None, None, "test",
        ))
        .load()
        .await;
    aws_sdk_lambda::Client::new(&config)
}

/// `[package.metadata.lambda]` of the interactions package, as cargo (and so cargo-lambda)
/// reads it.
#[must_use]
pub fn lambda_metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata: {output:?}");
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == "callstats-interactions")
        .expect("the interactions package")["metadata"]["lambda"]
        .clone()
}

//! `callstats-dev`: the local client. `call` sends a signed interaction to a local endpoint
//! and prints the reply; `local-key` prints the public key of the local signing key.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use callstats_devkit::Reply;
use callstats_devkit::client::{self, Caller};
use callstats_devkit::send::Signer;
use callstats_devkit::sign::{load_or_create_key, public_key_hex};

#[derive(Parser, Debug)]
#[command(version, about = "Local client of the callstats interactions endpoint")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send a signed interaction to a local endpoint and print the reply (local development;
    /// `scripts/run-local` writes the defaults to .local/stack/client.env).
    Call {
        /// The command as typed in Discord, e.g. "/callstats show user:123 period:7d".
        line: String,
        /// The endpoint URL [default: from the env file, else port 8080 on 127.0.0.1].
        #[arg(long, env = "CALLSTATS_CALL_URL")]
        url: Option<String>,
        /// The signing key (hex) [default: from the env file, else .local/stack/signing.key].
        #[arg(long, env = "CALLSTATS_CALL_KEY")]
        key_file: Option<PathBuf>,
        /// The guild to ask in [default: from the env file].
        #[arg(long, env = "CALLSTATS_CALL_GUILD")]
        guild: Option<u64>,
        /// The member who asks [default: from the env file].
        #[arg(long = "as", env = "CALLSTATS_CALL_USER")]
        user: Option<u64>,
        /// Then press the reply's button with this label ("NEXT", "previous"); repeatable.
        #[arg(long)]
        press: Vec<String>,
        /// Where attachments are saved.
        #[arg(long, default_value = ".local/replies")]
        save_dir: PathBuf,
        /// Defaults written by scripts/run-local.
        #[arg(long, default_value = ".local/stack/client.env")]
        env_file: PathBuf,
    },
    /// Print the public key (hex) of a local signing key, creating the key if needed; for
    /// the public key setting of a local endpoint.
    LocalKey {
        #[arg(long, default_value = ".local/stack/signing.key")]
        file: PathBuf,
    },
}

/// `KEY=VALUE` lines of a defaults file; a missing file is no defaults.
fn env_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[allow(clippy::too_many_arguments)] // the `call` subcommand's flags, one each
async fn call(
    line: &str,
    url: Option<String>,
    key_file: Option<PathBuf>,
    guild: Option<u64>,
    user: Option<u64>,
    press: &[String],
    save_dir: &Path,
    env_path: &Path,
) -> anyhow::Result<()> {
    let defaults = env_file(env_path);
    let default = |key: &str| {
        defaults
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let url = url
        .or_else(|| default("CALLSTATS_CALL_URL"))
        .unwrap_or_else(|| "http://127.0.0.1:8080/".into());
    let key_file = key_file
        .or_else(|| default("CALLSTATS_CALL_KEY").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".local/stack/signing.key"));
    let id_from = |given: Option<u64>, key: &str, what: &str| {
        given
            .or_else(|| default(key).and_then(|v| v.parse().ok()))
            .filter(|id| *id > 0)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no {what}: pass --{} or run scripts/run-local first",
                    if what == "guild" { "guild" } else { "as" }
                )
            })
    };
    let caller = Caller {
        guild: id_from(guild, "CALLSTATS_CALL_GUILD", "guild")?,
        user: id_from(user, "CALLSTATS_CALL_USER", "member")?,
    };
    let signer = Signer::new(load_or_create_key(&key_file)?);
    // Interaction ids are snowflakes; any increasing number does for a local endpoint.
    let mut id = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(1) << 22;
    let interaction = client::build_command(line, &caller, id)?;
    let mut reply = client::ask(&signer, &url, &interaction).await?;
    show(&reply, save_dir)?;
    for label in press {
        id += 1;
        let press = client::build_press(&reply, label, &caller, id)?;
        out(&format!("\n(pressing {label})\n"));
        reply = client::ask(&signer, &url, &press).await?;
        show(&reply, save_dir)?;
    }
    Ok(())
}

fn show(reply: &Reply, save_dir: &Path) -> anyhow::Result<()> {
    out(&client::describe(reply));
    for line in client::save_files(reply, save_dir)? {
        out(&format!("{line}\n"));
    }
    Ok(())
}

/// Prints to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn out(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("callstats-dev: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("callstats-dev: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Call {
            line,
            url,
            key_file,
            guild,
            user,
            press,
            save_dir,
            env_file,
        } => {
            call(
                &line, url, key_file, guild, user, &press, &save_dir, &env_file,
            )
            .await
        }
        Command::LocalKey { file } => {
            let key = load_or_create_key(&file)?;
            out(&format!("{}\n", public_key_hex(&key)));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_command_line() {
        let cli =
            Cli::try_parse_from(["x", "call", "/calltop", "--press", "NEXT", "--as", "5"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Call { line, user: Some(5), press, .. } if line == "/calltop" && press == ["NEXT"]
        ));
        let cli = Cli::try_parse_from(["x", "local-key", "--file", "k"]).unwrap();
        assert!(matches!(cli.command, Command::LocalKey { file } if file == Path::new("k")));
        assert!(Cli::try_parse_from(["x"]).is_err());
    }
}

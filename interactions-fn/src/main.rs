//! `callstats-interactions`: on Lambda when started by its runtime, else `serve` or
//! `register-commands`. Configuration errors end the process with status 2 and one line.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use callstats_core::GuildId;
use callstats_core::ids::parse_id;
use callstats_interactions::client::{self, Caller};
use callstats_interactions::config::log_format;
use callstats_interactions::startup::{FrontEnd, StartError, build_app, init_tracing, run_lambda};
use callstats_interactions::{Config, RegisterConfig, register, serve};
use callstats_runtime::{Env, shutdown_signal};

/// How long shutdown waits for background work (interaction tokens last 15 minutes).
const DRAIN: std::time::Duration = std::time::Duration::from_mins(2);

#[derive(Parser, Debug)]
#[command(version, about = "Discord interactions endpoint for callstats")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the interactions endpoint over plain HTTP.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Replace the application's slash commands (needs the bot token and application id).
    RegisterCommands {
        /// Register in this guild only (instant; for testing) instead of globally.
        #[arg(long, value_parser = parse_guild)]
        guild: Option<GuildId>,
    },
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
    let key = client::load_or_create_key(&key_file)?;
    let now = chrono::Utc::now().timestamp();
    // Interaction ids are snowflakes; any increasing number does for a local endpoint.
    let mut id = u64::try_from(now).unwrap_or(1) << 22;
    let interaction = client::build_command(line, &caller, id)?;
    let mut answer = client::send(&url, &key, &interaction, now).await?;
    show(&answer, save_dir)?;
    for label in press {
        id += 1;
        let press = client::build_press(&answer.response, label, &caller, id)?;
        out(&format!("\n(pressing {label})\n"));
        answer = client::send(&url, &key, &press, chrono::Utc::now().timestamp()).await?;
        show(&answer, save_dir)?;
    }
    Ok(())
}

fn show(answer: &client::Answer, save_dir: &Path) -> anyhow::Result<()> {
    out(&client::describe(answer));
    for line in client::save_files(answer, save_dir)? {
        out(&format!("{line}\n"));
    }
    Ok(())
}

/// Prints to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn out(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn parse_guild(s: &str) -> Result<GuildId, String> {
    parse_id(s).ok_or_else(|| format!("{s:?} is not a guild id"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    callstats_runtime::install_crypto_provider();
    if !matches!(
        cli.command,
        Some(Command::Call { .. } | Command::LocalKey { .. })
    ) {
        match log_format(&Env::process()) {
            Ok(format) => init_tracing(format),
            Err(err) => {
                eprintln!("callstats-interactions: configuration error: {err}");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("callstats-interactions: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // 2 for configuration the operator must fix; 1 for everything else.
            let status = match err.downcast_ref::<StartError>() {
                Some(StartError::Config(_)) => 2,
                _ => 1,
            };
            eprintln!("callstats-interactions: {err:#}");
            ExitCode::from(status)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => Ok(run_lambda().await?),
        None => Err(anyhow::anyhow!(
            "not started by the Lambda runtime (AWS_LAMBDA_RUNTIME_API is not set); \
             use `serve` or `register-commands`, see --help"
        )),
        Some(Command::Serve { listen }) => {
            let config = Config::from_env(&Env::process()).map_err(StartError::from)?;
            let app = build_app(&config, FrontEnd::Serve).await?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            tracing::info!(addr = %listener.local_addr()?, "serving interactions");
            serve::serve(listener, app.clone(), shutdown_signal()).await?;
            // Exports and deletions in progress finish before the process ends.
            app.background().drain(DRAIN).await;
            tracing::info!("stopped");
            Ok(())
        }
        Some(Command::Call {
            line,
            url,
            key_file,
            guild,
            user,
            press,
            save_dir,
            env_file,
        }) => {
            call(
                &line, url, key_file, guild, user, &press, &save_dir, &env_file,
            )
            .await
        }
        Some(Command::LocalKey { file }) => {
            let key = client::load_or_create_key(&file)?;
            out(&format!(
                "{}\n",
                hex::encode(key.verifying_key().to_bytes())
            ));
            Ok(())
        }
        Some(Command::RegisterCommands { guild }) => {
            let config = RegisterConfig::from_env(&Env::process()).map_err(StartError::from)?;
            let count = register::register_commands(&config, guild).await?;
            println!("registered {count} commands");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_command_line() {
        let cli = Cli::try_parse_from(["x", "serve", "--listen", "0.0.0.0:9000"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Serve { listen }) if listen.port() == 9000));
        let cli = Cli::try_parse_from(["x", "register-commands", "--guild", "42"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::RegisterCommands { guild: Some(g) }) if g.get() == 42
        ));
        assert!(Cli::try_parse_from(["x", "register-commands", "--guild", "0"]).is_err());
        assert!(Cli::try_parse_from(["x"]).unwrap().command.is_none());
    }
}

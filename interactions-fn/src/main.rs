//! `callstats-interactions`: on Lambda when started by its runtime, else `serve` or
//! `register-commands`. Configuration errors end the process with status 2 and one line.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use callstats_core::GuildId;
use callstats_core::ids::parse_id;
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
}

fn parse_guild(s: &str) -> Result<GuildId, String> {
    parse_id(s).ok_or_else(|| format!("{s:?} is not a guild id"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    callstats_runtime::install_crypto_provider();
    match log_format(&Env::process()) {
        Ok(format) => init_tracing(format),
        Err(err) => {
            eprintln!("callstats-interactions: configuration error: {err}");
            return ExitCode::from(2);
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

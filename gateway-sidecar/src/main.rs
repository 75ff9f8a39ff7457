//! `callstats-sidecar`: the always-on gateway sidecar. `run` (the default) tracks voice
//! sessions; `create-table` creates the DynamoDB table. Configuration comes from the
//! environment (see the `config` module); a missing or invalid variable ends the process with
//! one clear line and exit status 2; a fatal runtime error with exit status 1.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use std::process::ExitCode;
use std::sync::Arc;

use callstats_runtime::{Env, one_line, shutdown_signal};
use callstats_sidecar::config::table_from_env;
use callstats_sidecar::{
    Clock, Config, FileClock, LogFormat, Metrics, Seams, SystemClock, WriterOptions,
};
use callstats_store::Store;
use callstats_store::{TableStatusReport, Timeouts};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(
    name = "callstats-sidecar",
    version,
    about = "Discord voice-call statistics: the gateway sidecar"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Track voice sessions (the default).
    Run,
    #[command(
        about = "Create the DynamoDB table named by CALLSTATS_TABLE, or check an existing one"
    )]
    CreateTable,
}

/// Exit status for configuration errors (as for usage errors).
const CONFIG_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Env::process();
    let format = match LogFormat::from_env(&env) {
        Ok(format) => format,
        Err(err) => return config_error(&err),
    };
    init_logging(format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("callstats-sidecar: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => runtime.block_on(run(&env)),
        Command::CreateTable => runtime.block_on(create_table(&env)),
    }
}

fn config_error(err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("callstats-sidecar: configuration error: {err}");
    ExitCode::from(CONFIG_ERROR)
}

fn init_logging(format: LogFormat) {
    // The HTTP clients' logs stay off whatever RUST_LOG says: requests carry the bot token.
    let filter = callstats_runtime::log_filter(std::env::var("RUST_LOG").ok().as_deref(), "info");
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().with_current_span(false).init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init(),
    }
}

async fn run(env: &Env) -> ExitCode {
    let config = match Config::from_env(env) {
        Ok(config) => config,
        Err(err) => return config_error(&err),
    };
    let clock: Arc<dyn Clock> = match &config.clock_file {
        Some(path) => match FileClock::open(path) {
            Ok(clock) => Arc::new(clock),
            Err(err) => return config_error(&format_args!("CALLSTATS_CLOCK_FILE {err}")),
        },
        None => Arc::new(SystemClock),
    };
    let http = match TcpListener::bind(config.http_listen).await {
        Ok(listener) => {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "serving /healthz and /metrics");
            }
            listener
        }
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {
            return config_error(&format_args!(
                "CALLSTATS_HTTP_LISTEN: {} is already in use by another program; \
                 set CALLSTATS_HTTP_LISTEN to a free address (127.0.0.1:0 picks a free port)",
                config.http_listen
            ));
        }
        Err(err) => {
            return config_error(&format_args!(
                "CALLSTATS_HTTP_LISTEN cannot listen on {}: {err}",
                config.http_listen
            ));
        }
    };
    let store = Store::connect(config.table.clone(), Timeouts::default()).await;
    let seams = Seams {
        store,
        clock,
        metrics: Arc::new(Metrics::default()),
        first_nonce: callstats_sidecar::random_nonce(),
        http: Some(http),
        writer: WriterOptions::default(),
    };
    tracing::info!(
        table = %config.table,
        gateway = config.gateway_url.as_deref().unwrap_or("discord"),
        state_dir = %config.state_dir.display(),
        "starting"
    );
    match callstats_sidecar::run(config, seams, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "sidecar stopped");
            eprintln!("callstats-sidecar: {}", one_line(&err.to_string()));
            ExitCode::FAILURE
        }
    }
}

async fn create_table(env: &Env) -> ExitCode {
    let table = match table_from_env(env) {
        Ok(table) => table,
        Err(err) => return config_error(&err),
    };
    let store = Store::connect(table.clone(), Timeouts::default()).await;
    match store.create_table().await {
        Ok(TableStatusReport::Created) => {
            println!("created table {table}");
            ExitCode::SUCCESS
        }
        Ok(TableStatusReport::AlreadyMatches) => {
            println!("table {table} already exists with the expected keys and indexes");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!(
                "callstats-sidecar: cannot create table {table}: {}",
                one_line(&err.to_string())
            );
            ExitCode::FAILURE
        }
    }
}

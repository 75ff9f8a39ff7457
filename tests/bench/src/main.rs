//! `callstats-bench [--quick] [--doc PATH] [NAME ...]`: runs the benchmarks (all, or the
//! named ones) and rewrites the results in `BENCHMARKS.md`. Needs `AWS_ENDPOINT_URL_DYNAMODB`
//! (a local server: `scripts/bench` starts one) and the release programs beside it.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use callstats_bench::harness::Bench;
use callstats_bench::machine::Machine;
use callstats_bench::report::{ORDER, Outcome, rewrite};
use callstats_bench::{cold_start, cost, load, memory, scaling, show, throughput};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "callstats-bench",
    about = "Benchmarks of callstats, each next to its baseline"
)]
struct Cli {
    /// Tiny sizes: checks that every benchmark runs; writes nothing.
    #[arg(long)]
    quick: bool,
    /// The file whose results table is rewritten.
    #[arg(long, default_value = "BENCHMARKS.md")]
    doc: PathBuf,
    /// Benchmarks to run (default: all): show, throughput, memory, cold-start, cost, scaling, load.
    names: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("callstats-bench: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("callstats-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let names: Vec<&str> = if cli.names.is_empty() {
        ORDER.to_vec()
    } else {
        let mut names = Vec::new();
        for name in &cli.names {
            let known = ORDER.iter().find(|n| **n == name.as_str()).ok_or_else(|| {
                anyhow!("unknown benchmark {name:?}; known: {}", ORDER.join(", "))
            })?;
            names.push(*known);
        }
        names
    };
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .context("AWS_ENDPOINT_URL_DYNAMODB is not set: run through scripts/bench (or scripts/with-dynamodb)")?;
    let exe = std::env::current_exe()?;
    let bin_dir = exe
        .parent()
        .ok_or_else(|| anyhow!("no directory for {}", exe.display()))?
        .to_owned();
    let repo = std::env::current_dir()?;
    let bench = Bench {
        quick: cli.quick,
        bin_dir,
        repo: repo.clone(),
        endpoint,
    };
    for program in ["callstats-sidecar", "callstats-interactions"] {
        if !bench.program(program).exists() {
            bail!(
                "{} is missing: build it first (scripts/bench does)",
                bench.program(program).display()
            );
        }
    }
    let machine = Machine::read(&repo);
    eprintln!(
        "callstats-bench: {} build, {} ({} cores), commit {}",
        machine.profile, machine.cpu, machine.cores, machine.commit
    );
    let run_started = std::time::Instant::now();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut failed = Vec::new();
    for name in names {
        eprintln!("callstats-bench: running {name} ...");
        let started = std::time::Instant::now();
        let result = run_one(name, &bench).await;
        match result {
            Ok(mut outcome) => {
                eprintln!(
                    "callstats-bench: {name} done in {:.0} s",
                    started.elapsed().as_secs_f64()
                );
                for row in &outcome.rows {
                    eprintln!(
                        "  {}: {} {} {}",
                        row.measure, row.result, row.ratio, row.target
                    );
                }
                if cli.quick {
                    eprintln!("{}\n", outcome.detail);
                }
                let _ = write!(
                    outcome.detail,
                    "\n\nThis benchmark took {:.0} s (`scripts/bench {name}`).",
                    started.elapsed().as_secs_f64()
                );
                outcomes.push(outcome);
                // Written after each benchmark: a long run that fails later keeps what it
                // measured.
                if !cli.quick {
                    write_doc(&cli.doc, &machine, &outcomes, run_started.elapsed())?;
                }
            }
            Err(err) => {
                eprintln!("callstats-bench: {name} failed: {err:#}");
                failed.push(name);
            }
        }
    }
    if cli.quick {
        eprintln!(
            "callstats-bench: quick run, {} benchmarks ran; nothing written",
            outcomes.len()
        );
    } else if !outcomes.is_empty() {
        eprintln!("callstats-bench: results written to {}", cli.doc.display());
    }
    if failed.is_empty() {
        Ok(())
    } else {
        bail!("failed: {}", failed.join(", "))
    }
}

/// Runs the benchmark called `name`.
async fn run_one(name: &str, bench: &Bench) -> anyhow::Result<Outcome> {
    match name {
        "show" => show::run(bench).await,
        "throughput" => throughput::run(bench).await,
        "memory" => memory::run(bench).await,
        "cold-start" => cold_start::run(bench).await,
        "cost" => cost::run(bench).await,
        "scaling" => scaling::run(bench).await,
        "load" => load::run(bench).await,
        other => Err(anyhow!("unknown benchmark {other}")),
    }
}

/// Rewrites the results of `outcomes` in the document at `path`.
fn write_doc(
    path: &std::path::Path,
    machine: &Machine,
    outcomes: &[Outcome],
    took: std::time::Duration,
) -> anyhow::Result<()> {
    let doc = std::fs::read_to_string(path).unwrap_or_default();
    std::fs::write(path, rewrite(&doc, machine, outcomes, took))
        .with_context(|| format!("write {}", path.display()))
}

//! `callstats-gateway-sim`: a local Discord gateway that plays realistic voice traffic.
//!
//! Point the sidecar at it (`CALLSTATS_GATEWAY_URL=ws://127.0.0.1:PORT`) to try the product
//! without a Discord account. See the crate docs of `callstats-fake-gateway` (section "Local
//! simulator") for the flags and what it plays.

// Outside input never panics the process: program code has no unwrap or expect.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use anyhow::Context as _;
use callstats_fake_gateway::{
    Delivery, FakeGateway,
    simulator::{self, Config, Event, SimulatedClock, Simulation, Speed},
};
use clap::Parser;
use std::{
    fmt::Write as _,
    future::Future,
    io::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio::time::{Instant, sleep_until};

/// Guilds the start-up summary describes; the rest are counted.
const SUMMARY_GUILDS: usize = 10;

/// Shortest real time between two writes of the clock file, so that high speeds do not spin.
const CLOCK_WRITE_INTERVAL: Duration = Duration::from_millis(50);

/// A local Discord gateway that plays realistic voice traffic for a few guilds.
///
/// Simulated time starts when the first client identifies. Ctrl-C or SIGTERM stops it.
#[derive(Debug, Parser)]
#[command(name = "callstats-gateway-sim", version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Once listening, write `ws://127.0.0.1:PORT` to this file (atomically); removed on exit.
    #[arg(long, value_name = "PATH")]
    port_file: Option<PathBuf>,
    /// Seed of the scenario: the same seed plays the same traffic. Default: from the clock.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Simulated seconds per real second: 1 is real time, 60 plays an hour in a minute.
    #[arg(long, value_name = "F", default_value_t = Speed::REAL_TIME)]
    speed: Speed,
    /// Number of guilds.
    #[arg(
        long,
        value_name = "N",
        default_value_t = Config::DEFAULT_GUILDS,
        value_parser = clap::value_parser!(u32)
            .range(i64::from(Config::MIN_GUILDS)..=i64::from(Config::MAX_GUILDS)),
    )]
    guilds: u32,
    /// Human members of its own per guild (bots come on top).
    #[arg(
        long,
        value_name = "N",
        default_value_t = Config::DEFAULT_MEMBERS,
        value_parser = clap::value_parser!(u32)
            .range(i64::from(Config::MIN_MEMBERS)..=i64::from(Config::MAX_MEMBERS)),
    )]
    members: u32,
    /// Keep the simulated time (Unix seconds) in this file, for the sidecar's
    /// `CALLSTATS_CLOCK_FILE`: it starts at the real time and runs --speed times as fast, so
    /// durations look real at any speed (and run ahead of the real clock above speed 1).
    /// Written before the port file.
    #[arg(long, value_name = "PATH")]
    clock_file: Option<PathBuf>,
    /// Before the live traffic, replay this many days of calls that end now, on a fast clock
    /// that the client reads from --clock-file (required): the client records each call at
    /// its own time, then the live traffic starts at the real time.
    #[arg(
        long,
        value_name = "DAYS",
        default_value_t = 0,
        value_parser = clap::value_parser!(u32).range(0..=i64::from(simulator::MAX_PAST_DAYS)),
        requires = "clock_file",
    )]
    past_days: u32,
    /// Accept only this bot token (with or without `Bot `). Default: any token.
    #[arg(long, value_name = "T")]
    token: Option<String>,
    /// Print one line per voice event.
    #[arg(long, short)]
    verbose: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("callstats-gateway-sim: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let seed = cli.seed.unwrap_or_else(seed_from_clock);
    let config = Config::new(seed, cli.guilds, cli.members)?;
    let mut shutdown = std::pin::pin!(shutdown_signal()?);

    let mut builder = FakeGateway::builder().listen(cli.listen);
    if let Some(token) = &cli.token {
        builder = builder.accept_tokens([token.clone()]);
    }
    let fake = builder
        .start()
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    let mut sim = Simulation::new(&config);
    let started = unix_now()?;
    let past_from = started - i64::from(cli.past_days) * DAY;
    let mut clock_task = None;
    if cli.past_days > 0 {
        // Nobody is in voice when the past begins; the live cast arrives after it.
        simulator::install_without_voice(&fake, &sim)?;
    } else {
        simulator::install(&fake, &sim)?;
    }
    if let Some(path) = &cli.clock_file {
        if cli.past_days > 0 {
            write_clock(path, past_from)?;
        } else {
            clock_task = Some(start_clock(path, started, cli.speed)?);
        }
    }
    if let Some(path) = &cli.port_file {
        write_atomically(path, &format!("{}\n", fake.url()))
            .with_context(|| format!("cannot write the port file {}", path.display()))?;
    }
    print_summary(&fake, &sim, cli.speed, cli.past_days);

    let verbose = cli.verbose;
    let played = async {
        tokio::select! {
            waited = simulator::wait_for_client(&fake) => waited?,
            () = &mut shutdown => return Ok(()),
        }
        if let (Some(path), true) = (&cli.clock_file, cli.past_days > 0) {
            tokio::select! {
                replayed = replay(&fake, &sim, path, started, cli.past_days) => replayed?,
                () = &mut shutdown => return Ok(()),
            }
            clock_task = Some(start_clock(path, unix_now()?, cli.speed)?);
            simulator::arrive(&fake, &sim)?;
        }
        tracing::info!("client identified, playing traffic");
        if cli.past_days > 0 {
            println!("live traffic starts now");
        } else {
            println!("a client identified: traffic starts now");
        }
        let print = |sim: &Simulation, event: &Event, delivery: &Delivery| {
            if verbose {
                print_event(sim, event, delivery);
            }
        };
        simulator::play(&fake, &mut sim, cli.speed, &mut shutdown, print).await?;
        anyhow::Ok(())
    }
    .await;

    fake.shutdown().await;
    if let Some(task) = clock_task {
        task.abort();
    }
    if let Some(path) = &cli.port_file
        && let Err(error) = std::fs::remove_file(path)
    {
        tracing::warn!(path = %path.display(), %error, "could not remove the port file");
    }
    println!("stopped");
    played
}

const DAY: i64 = 86_400;

fn unix_now() -> anyhow::Result<i64> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?;
    Ok(now.as_secs() as i64)
}

fn write_clock(path: &Path, unix: i64) -> anyhow::Result<()> {
    write_atomically(path, &format!("{unix}\n"))
        .with_context(|| format!("cannot write the clock file {}", path.display()))
}

/// Writes the clock file at `from` and keeps it running at `speed` from now on.
fn start_clock(
    path: &Path,
    from: i64,
    speed: Speed,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let clock = SimulatedClock::new(from, speed);
    write_clock(path, clock.unix_after(Duration::ZERO))?;
    Ok(tokio::spawn(keep_clock_file(
        path.to_owned(),
        clock,
        Instant::now(),
    )))
}

/// Replays `days` days of calls that end at `until`, moving the clock file along.
async fn replay(
    fake: &FakeGateway,
    sim: &Simulation,
    clock_file: &Path,
    until: i64,
    days: u32,
) -> anyhow::Result<()> {
    let past = simulator::past(sim.world(), sim.seed(), until, days);
    let calls = past
        .iter()
        .filter(|e| e.channel.is_none() && !e.bot)
        .count();
    println!(
        "a client identified: replaying {days} days of calls first ({calls} calls, {} voice \
         events) on a fast clock",
        past.len()
    );
    let _ = std::io::stdout().flush();
    let began = Instant::now();
    simulator::replay_past(fake, &past, |at| write_clock(clock_file, at)).await?;
    // run-local waits for this line.
    println!(
        "the past is replayed: {calls} calls in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A seed for a run that asked for none: short enough to type back in.
fn seed_from_clock() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
    u64::from(nanos ^ std::process::id()) % 1_000_000
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// Writes `contents` beside `path`, then renames it into place: a reader sees all or nothing.
fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map_or_else(|| "port".into(), |n| n.to_string_lossy().into_owned());
    let aside = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    // No fsync: readers need all or nothing, not durability across a power cut.
    let written = std::fs::write(&aside, contents).and_then(|()| std::fs::rename(&aside, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&aside);
    }
    written
}

/// Rewrites the clock file whenever the simulated second changes (at most every
/// [`CLOCK_WRITE_INTERVAL`]), until aborted. The file is left in place on exit: a sidecar still
/// reading it keeps the last time.
async fn keep_clock_file(path: PathBuf, clock: SimulatedClock, origin: Instant) {
    let mut shown = clock.unix_after(Duration::ZERO);
    let mut failing = false;
    loop {
        let earliest = Instant::now() + CLOCK_WRITE_INTERVAL;
        match origin.checked_add(clock.real_until(shown.saturating_add(1))) {
            Some(next) => sleep_until(next.max(earliest)).await,
            None => std::future::pending().await,
        }
        let now = clock.unix_after(origin.elapsed());
        if now == shown {
            continue;
        }
        shown = now;
        match write_atomically(&path, &format!("{now}\n")) {
            Ok(()) => failing = false,
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(path = %path.display(), %error, "cannot write the clock file");
            }
            Err(_) => {}
        }
    }
}

fn print_summary(fake: &FakeGateway, sim: &Simulation, speed: Speed, past_days: u32) {
    let world = sim.world();
    let specs = sim.guild_specs();
    let url = fake.url();
    let mut out = format!("callstats gateway simulator on {url}\n");
    let _ = writeln!(
        out,
        "seed {seed} (--seed {seed} plays the same traffic again), speed {speed}x, {} guilds",
        world.guilds().len(),
        seed = sim.seed(),
    );
    for (guild, spec) in world.guilds().iter().zip(&specs).take(SUMMARY_GUILDS) {
        let channels: Vec<String> = guild
            .channels
            .iter()
            .map(|c| match c.role {
                simulator::ChannelRole::Stage => format!("{} (stage)", c.name),
                simulator::ChannelRole::Afk => format!("{} (afk)", c.name),
                simulator::ChannelRole::Private => format!("{} (private)", c.name),
                _ => c.name.clone(),
            })
            .collect();
        let _ = writeln!(
            out,
            "  guild {} {}: {} members, {} bots, {} in voice; {}",
            guild.id,
            guild.name,
            guild.members.len(),
            guild.bots.len(),
            spec.voice.len(),
            channels.join(", ")
        );
        let named = |id| {
            world
                .person(id)
                .map_or_else(|| id.to_string(), |p| format!("{} {}", p.name, p.id))
        };
        let first: Vec<String> = guild.early_leavers.iter().map(|id| named(*id)).collect();
        let _ = writeln!(
            out,
            "    first calls to end: {}; alone in the focus room: {}",
            first.join(", "),
            named(guild.loner),
        );
    }
    if let Some(more) = world.guilds().len().checked_sub(SUMMARY_GUILDS)
        && more > 0
    {
        let _ = writeln!(out, "  and {more} more guilds like these");
    }
    if past_days > 0 {
        let _ = writeln!(
            out,
            "when a client identifies, the last {past_days} days of calls of the first {} \
             guilds are replayed first, on the clock file",
            world.guilds().len().min(simulator::PAST_GUILDS)
        );
    }
    let _ = writeln!(
        out,
        "waiting for a client (CALLSTATS_GATEWAY_URL={url}); simulated time starts when it \
         identifies; ctrl-c stops"
    );
    print!("{out}");
    let _ = std::io::stdout().flush();
}

fn print_event(sim: &Simulation, event: &Event, delivery: &Delivery) {
    let note = match delivery {
        Delivery::NotDispatched => " (no client connected)",
        _ => "",
    };
    println!("[{}] {}{note}", clock(event.at), sim.describe(event));
}

/// `m:ss`, or `h:mm:ss` from the first hour on.
fn clock(at: Duration) -> String {
    let secs = at.as_secs();
    let (h, m, s) = (secs / 3_600, secs / 60 % 60, secs % 60);
    if h == 0 {
        format!("{m:>2}:{s:02}")
    } else {
        format!("{h}:{m:02}:{s:02}")
    }
}

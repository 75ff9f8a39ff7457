//! The model-based randomized test: random voice scenarios for many members in
//! several guilds, played against the real sidecar program while faults are injected, then
//! the store compared with a pure oracle.
//!
//! - [`oracle`]: what the store must hold for what the sidecar observed, with its own
//!   arithmetic for every figure;
//! - [`driver`]: one scenario, from a seed: the world, the events, the faults, the waits;
//! - [`compare`]: the store read through `Store` (an export per member, the leaderboards),
//!   and every difference listed;
//! - [`run`]: scenarios one after another, bounded by a count or a duration, with the figures
//!   a run reports.
//!
//! Faults: SIGTERM restarts (back within two minutes, so the gateway session resumes, or
//! later, so it does not), SIGKILL crashes (with the heartbeat just written or some time
//! before), duplicated dispatches, dispatches replayed on RESUME after a dropped connection or
//! a RECONNECT, invalidated gateway sessions (`INVALID_SESSION` false), guild outages
//! (`GUILD_DELETE` unavailable, then `GUILD_CREATE`), store outages (the proxy refusing or
//! stalling connections), also across restarts, and a store answering a share of requests with
//! DynamoDB's error answers, or slowly. Half the crashes come at moments the driver does not
//! wait for (`CALLSTATS_MODEL_KILL_ANYTIME=0` turns those off; `docs/reliability.md`).
//!
//! Privacy actions (deletions, opt-outs, opt-ins, run on the store as the interactions
//! endpoint runs them) come at random steps and while the program is down, racing its writes;
//! what the oracle checks exactly and what only within bounds is in `docs/reliability.md`.
//!
//! The comparison is exact on every graceful path. After a crash, a session whose member left
//! unseen ends at the shard's last heartbeat, which the test knows only within a range (the
//! last heartbeat it saw in the store, and the crash); such an end must lie in the range and be
//! marked estimated, and everything else about the session must be exact.
//!
//! Environment: `CALLSTATS_MODEL_SEED` plays one scenario with that seed (every run prints the
//! seed of each scenario); `CALLSTATS_MODEL_SCENARIOS` (default 2) bounds how many,
//! `CALLSTATS_MODEL_MINUTES` bounds the run's duration instead (`scripts/model-test`),
//! `CALLSTATS_MODEL_STEPS` the steps per scenario (default 60).

pub mod compare;
pub mod driver;
pub mod oracle;
pub mod rng;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use driver::{FAULT_KINDS, PRIVACY_RATE, ScenarioReport, run_scenario, run_scenario_with};

/// How long a run goes on.
#[derive(Clone, Copy, Debug)]
pub enum Bound {
    Scenarios(usize),
    Duration(Duration),
}

/// What a run is asked to do.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Seed of the first scenario; the next ones count up from it.
    pub first_seed: u64,
    pub bound: Bound,
    pub steps: usize,
}

impl RunOptions {
    /// From the environment (see the module docs); a seed from the clock when none is given.
    #[must_use]
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let seed = var("CALLSTATS_MODEL_SEED").map(|s| {
            s.trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("CALLSTATS_MODEL_SEED must be a number, not {s:?}"))
        });
        let steps = var("CALLSTATS_MODEL_STEPS").map_or(60, |s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("CALLSTATS_MODEL_STEPS must be a number, not {s:?}"))
        });
        let minutes = var("CALLSTATS_MODEL_MINUTES").map(|s| {
            s.trim()
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("CALLSTATS_MODEL_MINUTES must be a number, not {s:?}"))
        });
        let scenarios = var("CALLSTATS_MODEL_SCENARIOS").map(|s| {
            s.trim()
                .parse::<usize>()
                .unwrap_or_else(|_| panic!("CALLSTATS_MODEL_SCENARIOS must be a number, not {s:?}"))
        });
        let bound = match (seed, minutes, scenarios) {
            (Some(_), None, None) => Bound::Scenarios(1),
            (_, Some(m), _) => Bound::Duration(Duration::from_secs_f64(m * 60.0)),
            (_, None, Some(n)) => Bound::Scenarios(n),
            (None, None, None) => Bound::Scenarios(2),
        };
        let first_seed = seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs() * 1000 + u64::from(d.subsec_millis()))
        });
        Self {
            first_seed,
            bound,
            steps,
        }
    }
}

/// The figures of a run.
#[derive(Debug, Default)]
pub struct RunFigures {
    pub scenarios: u64,
    pub steps: u64,
    pub events: u64,
    pub faults: BTreeMap<&'static str, u64>,
    pub sessions_checked: u64,
    pub estimated_checked: u64,
    pub partner_entries: u64,
    pub partner_secs: u64,
    pub opted_out_partner_entries: u64,
    pub bounded_partner_entries: u64,
    pub privacy: BTreeMap<&'static str, u64>,
    pub mismatches: Vec<String>,
    pub first_seed: u64,
    pub last_seed: u64,
    pub took: Duration,
}

impl RunFigures {
    #[must_use]
    pub fn faults_total(&self) -> u64 {
        self.faults.values().sum()
    }

    /// One block of text for the log and the docs.
    #[must_use]
    pub fn summary(&self) -> String {
        let faults: Vec<String> = FAULT_KINDS
            .iter()
            .map(|k| format!("{k}={}", self.faults.get(k).copied().unwrap_or(0)))
            .collect();
        format!(
            "model run: scenarios={} steps={} events={} faults={} ({}) sessions_checked={} \
             estimated_ends_checked={} partner_entries_checked={} partner_hours={} \
             opted_out_partner_entries={} bounded_partner_entries={} privacy_actions=({}) \
             mismatches={} seeds={}..={} duration={}s",
            self.scenarios,
            self.steps,
            self.events,
            self.faults_total(),
            faults.join(" "),
            self.sessions_checked,
            self.estimated_checked,
            self.partner_entries,
            self.partner_secs / 3600,
            self.opted_out_partner_entries,
            self.bounded_partner_entries,
            self.privacy
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            self.mismatches.len(),
            self.first_seed,
            self.last_seed,
            self.took.as_secs()
        )
    }
}

/// Plays scenarios until the bound, printing each scenario's seed before it starts and its
/// figures after.
pub async fn run(options: RunOptions) -> RunFigures {
    let began = Instant::now();
    let mut figures = RunFigures {
        first_seed: options.first_seed,
        last_seed: options.first_seed,
        ..RunFigures::default()
    };
    let mut seed = options.first_seed;
    loop {
        let done = match options.bound {
            Bound::Scenarios(n) => figures.scenarios >= n as u64,
            Bound::Duration(d) => began.elapsed() >= d,
        };
        if done {
            break;
        }
        eprintln!(
            "model: scenario {} seed {seed} (replay: CALLSTATS_MODEL_SEED={seed} CALLSTATS_MODEL_STEPS={})",
            figures.scenarios + 1,
            options.steps
        );
        let report = run_scenario(seed, options.steps).await;
        eprintln!(
            "model: seed {seed}: {} events, faults {:?}, privacy {:?}, {} sessions checked ({} estimated ends), {} partner entries ({} s; {} bounded, {} naming an opted-out member), {} mismatches, {:.1}s",
            report.events,
            report.faults,
            report.privacy,
            report.sessions_checked,
            report.estimated_checked,
            report.partner_entries,
            report.partner_secs,
            report.bounded_partner_entries,
            report.opted_out_partner_entries,
            report.mismatches.len(),
            report.took.as_secs_f64()
        );
        for m in &report.mismatches {
            eprintln!("model: seed {seed}: MISMATCH {m}");
        }
        figures.scenarios += 1;
        figures.steps += report.steps as u64;
        figures.events += report.events;
        for (k, v) in report.faults {
            *figures.faults.entry(k).or_default() += v;
        }
        figures.sessions_checked += report.sessions_checked;
        figures.estimated_checked += report.estimated_checked;
        figures.partner_entries += report.partner_entries;
        figures.partner_secs += report.partner_secs;
        figures.opted_out_partner_entries += report.opted_out_partner_entries;
        figures.bounded_partner_entries += report.bounded_partner_entries;
        for (k, v) in report.privacy {
            *figures.privacy.entry(k).or_default() += v;
        }
        figures.mismatches.extend(
            report
                .mismatches
                .into_iter()
                .map(|m| format!("seed {seed}: {m}")),
        );
        figures.last_seed = seed;
        seed = seed.wrapping_add(1);
    }
    figures.took = began.elapsed();
    figures
}

//! The writer: applies session writes to the store, in order per user, concurrently across
//! users (bounded), journaling each in the [spool](crate::spool) first.
//!
//! Handing writes over never waits: [`Writer::submit`] puts them on a channel, and the gateway
//! loop goes on (heartbeats keep flowing while the store is slow). One task owns the queues:
//! it journals what arrives (one disk flush per batch), keeps up to a bound of waiting writes
//! in memory (the rest stays in the spool file and is read back in order), and runs at most
//! one write per user at a time.
//!
//! A write that fails with a transient error ([`StoreError::is_retryable`]: unreachable,
//! throttled, timed out) is retried with capped exponential backoff and jitter, for as long as
//! it takes: nothing is dropped while the store is down. A write refused for good is logged,
//! counted and kept in `dead-letters.jsonl`, and the user's next write goes on.
//!
//! Outcomes that mean "already applied" (a replay after a restart, a duplicate) are success.
//! A start that finds another session of the user open in that guild (left over from before)
//! ends that one at its last accounted instant, marked estimated, then starts; if the open
//! one is newer than the start, the start is stale and dropped.
//!
//! The leaderboards are written behind the ends: an end's new figures wait, per server, for
//! the server's next flush (at most every [`FLUSH_EVERY`] for a small board, longer for a big
//! one), and the end stays in the spool until its flush is done, so a crash only delays it: the
//! replayed end finds its session already ended, reads the stored figures and flushes those.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use callstats_core::member::MemberTotals;
use callstats_core::{GuildId, SessionId, Timestamp, UserId};
use callstats_runtime::Clock;
use callstats_store::{Backoff, BoardUpdate, Store, StoreError, retrying};
use callstats_store::{EndOutcome, StartOutcome, UpdateOutcome};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::metrics::{Metrics, inc};
use crate::spool::{Entry, Opened, Spilled, Spool};
use crate::tracker::SessionWrite;

/// Emptied once nothing waits and it has grown past this.
const RESET_LOG_AT: u64 = 1 << 20;
/// Rewritten with only what waits once it has grown past this.
const COMPACT_LOG_AT: u64 = 64 << 20;
/// How long a small server's new leaderboard figures wait for more before they are flushed.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);
/// The longest a big server's figures wait: every flush rewrites the whole board.
const FLUSH_AT_MOST_EVERY: Duration = Duration::from_mins(1);
/// Leaderboard flushes at once.
const FLUSHES_AT_ONCE: usize = 4;
/// Tries of a start that keeps finding another session open.
const START_ATTEMPTS: usize = 3;
/// Start outcomes a slow shard may lag behind before it misses some (it then only learns of
/// an opt-out at the member's next start or the next configuration refresh).
const STARTS_KEPT: usize = 4096;

/// How the writer works.
#[derive(Clone, Copy, Debug)]
pub struct WriterOptions {
    /// Waiting writes kept in memory; the rest stays in the spool file. A waiting write holds
    /// about 0.5 KB; 5,000 of them keep a 50,000-member reconnect burst well inside the memory
    /// budget (`BENCHMARKS.md`, memory), and the writer never drains more than a few hundred a
    /// second anyway.
    pub memory_bound: usize,
    /// Users whose writes are applied at the same time.
    pub concurrency: usize,
    pub backoff: Backoff,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            memory_bound: 5_000,
            concurrency: 16,
            backoff: Backoff::default(),
        }
    }
}

/// What a write came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// A session ended; the member's leaderboard figures are now these (`None`: the member is
    /// off the boards: opted out, or their data was deleted).
    Ended(Option<MemberTotals>),
    /// A session started after ending one left open from before (estimated); the member's
    /// leaderboard figures after that end.
    Replaced(Option<MemberTotals>),
    /// The store already had it (replay or duplicate).
    AlreadyApplied,
    /// A start for a user who opted out: nothing to track.
    OptedOut,
    /// A start older than the session the store holds open: dropped.
    Superseded,
}

enum Command {
    Submit(Vec<SessionWrite>),
    /// Members in voice at once in a server.
    Peak {
        guild: GuildId,
        members: u32,
        at: Timestamp,
    },
    /// The shard that serves a server.
    Shard {
        guild: GuildId,
        shard: u32,
    },
    Flush {
        until: Instant,
        reply: oneshot::Sender<u64>,
    },
    Stop {
        reply: oneshot::Sender<()>,
    },
}

/// What the store did with a start: recorded, or refused because the member opted out. The
/// shards' trackers need it: a member whose time is not recorded is no one's partner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartRecorded {
    pub guild: GuildId,
    pub user: UserId,
    pub session: SessionId,
    pub recorded: bool,
}

/// The handle: hands writes to the writer task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Command>,
    metrics: Arc<Metrics>,
    starts: broadcast::Sender<StartRecorded>,
}

impl Writer {
    /// Hands writes over; never waits.
    pub fn submit(&self, writes: Vec<SessionWrite>) {
        if writes.is_empty() {
            return;
        }
        self.metrics
            .writes_handed
            .fetch_add(writes.len() as u64, Ordering::SeqCst);
        if self.tx.send(Command::Submit(writes)).is_err() {
            tracing::error!("writer is gone; writes not journaled");
        }
    }

    /// What the store does with each start from now on.
    #[must_use]
    pub fn starts(&self) -> broadcast::Receiver<StartRecorded> {
        self.starts.subscribe()
    }

    /// Notes `members` in voice at once in `guild` at `at`, for the server's peaks.
    pub fn peak(&self, guild: GuildId, members: u32, at: Timestamp) {
        let _ = self.tx.send(Command::Peak { guild, members, at });
    }

    /// Notes which shard serves `guild` (the endpoint caps calls in progress by its
    /// heartbeat).
    pub fn shard_of(&self, guild: GuildId, shard: u32) {
        let _ = self.tx.send(Command::Shard { guild, shard });
    }

    /// Waits until every write handed over so far is applied (and its leaderboard flushed), or
    /// until `timeout`; returns how many still wait (they stay in the spool for the next
    /// start).
    pub async fn flush(&self, timeout: Duration) -> u64 {
        let (reply, rx) = oneshot::channel();
        let until = Instant::now() + timeout;
        if self.tx.send(Command::Flush { until, reply }).is_err() {
            return 0;
        }
        rx.await.unwrap_or(0)
    }

    /// Stops the writer: writes in progress are abandoned (they are in the spool).
    pub async fn stop(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Stop { reply }).is_ok() {
            let _ = rx.await;
        }
    }
}

/// A started writer.
#[derive(Debug)]
pub struct Started {
    pub writer: Writer,
    /// Turns true once every write found in the spool at start is applied: reads that
    /// reconcile against the store wait for it.
    pub replayed: watch::Receiver<bool>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the writer task with what the spool held.
#[must_use]
pub fn start(
    store: Store,
    opened: Opened,
    options: WriterOptions,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
) -> Started {
    let (tx, rx) = mpsc::unbounded_channel();
    let (starts, _) = broadcast::channel(STARTS_KEPT);
    let handle_metrics = Arc::clone(&metrics);
    let replay_left = opened.pending.len() as u64 + opened.spilled.map_or(0, |s| s.count);
    let (replayed_tx, replayed) = watch::channel(replay_left == 0);
    if replay_left > 0 {
        tracing::info!(
            writes = replay_left,
            "applying the spool left by the last run"
        );
    }
    let mut task = Task {
        store,
        spool: opened.spool,
        options: WriterOptions {
            memory_bound: options.memory_bound.max(2),
            concurrency: options.concurrency.max(1),
            ..options
        },
        metrics,
        next_seq: opened.next_seq,
        queues: HashMap::new(),
        ready: VecDeque::new(),
        busy: HashSet::new(),
        in_memory: 0,
        queued_at: BTreeMap::new(),
        spilled: opened.spilled,
        inflight: JoinSet::new(),
        inflight_writes: HashMap::new(),
        replay_below: opened.next_seq,
        replay_left,
        replayed_tx,
        flushes: Vec::new(),
        boards: HashMap::new(),
        board_flushes: JoinSet::new(),
        clock,
        starts: starts.clone(),
    };
    for entry in opened.pending {
        task.enqueue(entry);
    }
    task.publish();
    let handle = tokio::spawn(task.run(rx));
    Started {
        writer: Writer {
            tx,
            metrics: handle_metrics,
            starts,
        },
        replayed,
        task: handle,
    }
}

struct Done {
    user: UserId,
    entry: Entry,
    result: Result<Outcome, StoreError>,
}

/// A server's leaderboard figures waiting for a flush.
#[derive(Default)]
struct PendingBoard {
    /// Ends whose figures wait (spool sequence, update), acknowledged once flushed.
    ends: Vec<(u64, BoardUpdate)>,
    peaks: Vec<(u32, Timestamp)>,
    shard: Option<u32>,
    /// When the first of these started waiting.
    since: Option<Instant>,
    /// How long figures wait for more (grows with the board).
    every: Duration,
    flushing: bool,
}

struct Flushed {
    guild: GuildId,
    seqs: Vec<u64>,
    result: Result<usize, StoreError>,
}

struct Task {
    store: Store,
    spool: Spool,
    options: WriterOptions,
    metrics: Arc<Metrics>,
    next_seq: u64,
    queues: HashMap<UserId, VecDeque<Entry>>,
    /// Users with queued writes and none in flight, in turn.
    ready: VecDeque<UserId>,
    busy: HashSet<UserId>,
    /// Waiting writes in memory, in flight included.
    in_memory: usize,
    /// Waiting writes in memory and when they were queued.
    queued_at: BTreeMap<u64, i64>,
    spilled: Option<Spilled>,
    inflight: JoinSet<Done>,
    /// What each task in flight applies, to account for it should the task fail.
    inflight_writes: HashMap<tokio::task::Id, (UserId, Entry)>,
    /// Writes numbered below this came from the spool at start.
    replay_below: u64,
    replay_left: u64,
    replayed_tx: watch::Sender<bool>,
    flushes: Vec<(Instant, oneshot::Sender<u64>)>,
    boards: HashMap<GuildId, PendingBoard>,
    board_flushes: JoinSet<Flushed>,
    /// The program's clock (the one that stamps voice events), to stamp figures read now and
    /// the boards' flushes: a privacy action's instant is compared with it.
    clock: Arc<dyn Clock>,
    starts: broadcast::Sender<StartRecorded>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        loop {
            self.schedule();
            self.schedule_boards();
            self.answer_flushes();
            // With every flush slot taken, only a flush's end frees one: waking for a board
            // already due would spin this loop until then.
            let boards_due = if self.board_flushes.len() < FLUSHES_AT_ONCE {
                self.next_board_due()
            } else {
                None
            };
            let next_deadline = self
                .flushes
                .iter()
                .map(|(until, _)| *until)
                .chain(boards_due)
                .min();
            tokio::select! {
                command = rx.recv() => {
                    let Some(command) = command else { break };
                    // Take every command already waiting: one disk flush for the batch.
                    let mut commands = vec![command];
                    while let Ok(more) = rx.try_recv() {
                        commands.push(more);
                    }
                    let mut writes = Vec::new();
                    for command in commands {
                        match command {
                            Command::Submit(w) => writes.extend(w),
                            Command::Peak { guild, members, at } => {
                                self.board(guild).peaks.push((members, at));
                            }
                            Command::Shard { guild, shard } => self.board(guild).shard = Some(shard),
                            Command::Flush { until, reply } => self.flushes.push((until, reply)),
                            Command::Stop { reply } => {
                                self.accept(writes);
                                self.inflight.abort_all();
                                let _ = reply.send(());
                                return;
                            }
                        }
                    }
                    self.accept(writes);
                }
                Some(done) = self.inflight.join_next_with_id(), if !self.inflight.is_empty() => {
                    match done {
                        Ok((id, done)) => {
                            self.inflight_writes.remove(&id);
                            self.finished(done);
                        }
                        Err(err) => {
                            if let Some((user, entry)) = self.inflight_writes.remove(&err.id()) {
                                let result = Err(StoreError::Rejected {
                                    op: "apply write",
                                    message: format!("the write task failed: {err}"),
                                });
                                self.finished(Done { user, entry, result });
                            }
                        }
                    }
                }
                Some(flushed) = self.board_flushes.join_next(), if !self.board_flushes.is_empty() => {
                    if let Ok(flushed) = flushed {
                        self.board_flushed(flushed);
                    }
                }
                () = sleep_until_opt(next_deadline), if next_deadline.is_some() => {}
            }
            self.publish();
        }
        self.inflight.abort_all();
    }

    /// Writes not yet done: waiting, in flight, or ended and waiting for their leaderboard
    /// flush.
    fn waiting(&self) -> u64 {
        self.in_memory as u64
            + self.spilled.map_or(0, |s| s.count)
            + self
                .boards
                .values()
                .map(|b| b.ends.len() as u64)
                .sum::<u64>()
    }

    fn board(&mut self, guild: GuildId) -> &mut PendingBoard {
        let board = self.boards.entry(guild).or_insert_with(|| PendingBoard {
            every: FLUSH_EVERY,
            ..PendingBoard::default()
        });
        board.since.get_or_insert_with(Instant::now);
        board
    }

    /// When the next server's figures are due (now, when a flush of the writer waits).
    fn next_board_due(&self) -> Option<Instant> {
        self.boards
            .values()
            .filter(|b| !b.flushing)
            .filter_map(|b| b.since.map(|since| since + b.every))
            .min()
    }

    /// Starts the flushes that are due.
    fn schedule_boards(&mut self) {
        let now = Instant::now();
        let hurry = !self.flushes.is_empty();
        let due: Vec<GuildId> = self
            .boards
            .iter()
            .filter(|(_, b)| !b.flushing && b.since.is_some_and(|s| hurry || s + b.every <= now))
            .map(|(g, _)| *g)
            .collect();
        for guild in due {
            if self.board_flushes.len() >= FLUSHES_AT_ONCE {
                return;
            }
            let Some(board) = self.boards.get_mut(&guild) else {
                continue;
            };
            board.flushing = true;
            let ends = std::mem::take(&mut board.ends);
            let peaks = std::mem::take(&mut board.peaks);
            let shard = board.shard.take();
            let store = self.store.clone();
            let backoff = self.options.backoff;
            let metrics = Arc::clone(&self.metrics);
            let now = self.clock.now();
            self.board_flushes.spawn(async move {
                let updates: Vec<BoardUpdate> = ends.iter().map(|(_, u)| *u).collect();
                let result = retrying(
                    "flush leaderboard",
                    backoff,
                    || inc(&metrics.writes_retried),
                    || store.flush_board(guild, &updates, &peaks, shard, now),
                )
                .await;
                Flushed {
                    guild,
                    seqs: ends.iter().map(|(seq, _)| *seq).collect(),
                    result,
                }
            });
        }
    }

    fn board_flushed(&mut self, flushed: Flushed) {
        let Flushed {
            guild,
            seqs,
            result,
        } = flushed;
        match result {
            Ok(entries) => {
                if let Some(board) = self.boards.get_mut(&guild) {
                    board.every = (FLUSH_EVERY + Duration::from_millis(entries as u64 * 10))
                        .min(FLUSH_AT_MOST_EVERY);
                }
                inc(&self.metrics.board_flushes);
            }
            Err(err) => {
                inc(&self.metrics.writes_failed);
                tracing::error!(guild = %guild, error = %err, "leaderboard flush refused; the figures come back with the members' next ends");
            }
        }
        if let Err(err) = self.spool.ack(&seqs) {
            inc(&self.metrics.spool_errors);
            tracing::warn!(error = %err, "cannot acknowledge writes in the spool");
        }
        if let Some(board) = self.boards.get_mut(&guild) {
            board.flushing = false;
            if board.ends.is_empty() && board.peaks.is_empty() && board.shard.is_none() {
                self.boards.remove(&guild);
            }
        }
        self.publish();
    }

    fn answer_flushes(&mut self) {
        let waiting = self.waiting();
        let now = Instant::now();
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.flushes)
            .into_iter()
            .partition(|(until, _)| waiting == 0 || *until <= now);
        self.flushes = keep;
        for (_, reply) in due {
            let _ = reply.send(waiting);
        }
    }

    fn accept(&mut self, writes: Vec<SessionWrite>) {
        if writes.is_empty() {
            return;
        }
        let queued_at = unix_now();
        let entries: Vec<Entry> = writes
            .into_iter()
            .map(|write| {
                let seq = self.next_seq;
                self.next_seq += 1;
                Entry {
                    seq,
                    queued_at,
                    write,
                }
            })
            .collect();
        let offsets = match self.spool.append(&entries) {
            Ok(offsets) => Some(offsets),
            Err(err) => {
                inc(&self.metrics.spool_errors);
                tracing::error!(error = %err, writes = entries.len(), "cannot journal writes; keeping them in memory only");
                None
            }
        };
        let count = entries.len() as u64;
        for (i, entry) in entries.into_iter().enumerate() {
            let offset = offsets.as_ref().and_then(|o| o.get(i).copied());
            match offset {
                Some(offset)
                    if self.spilled.is_some() || self.in_memory >= self.options.memory_bound =>
                {
                    self.spilled
                        .get_or_insert(Spilled { offset, count: 0 })
                        .count += 1;
                }
                _ => self.enqueue(entry),
            }
        }
        // The depth first, then the count: whoever sees the count sees the depth with it.
        self.publish();
        self.metrics
            .writes_submitted
            .fetch_add(count, Ordering::SeqCst);
    }

    fn enqueue(&mut self, entry: Entry) {
        let user = entry.write.user();
        self.in_memory += 1;
        self.queued_at.insert(entry.seq, entry.queued_at);
        let queue = self.queues.entry(user).or_default();
        queue.push_back(entry);
        if queue.len() == 1 && !self.busy.contains(&user) {
            self.ready.push_back(user);
        }
    }

    fn schedule(&mut self) {
        while self.inflight.len() < self.options.concurrency {
            let Some(user) = self.ready.pop_front() else {
                return;
            };
            let Some(entry) = self.queues.get_mut(&user).and_then(VecDeque::pop_front) else {
                continue;
            };
            self.busy.insert(user);
            let store = self.store.clone();
            let metrics = Arc::clone(&self.metrics);
            let backoff = self.options.backoff;
            let kept = entry.clone();
            let task = self.inflight.spawn(async move {
                let result = apply(&store, &entry.write, backoff, &metrics).await;
                Done {
                    user,
                    entry,
                    result,
                }
            });
            self.inflight_writes.insert(task.id(), (user, kept));
        }
    }

    fn finished(&mut self, done: Done) {
        let Done {
            user,
            entry,
            result,
        } = done;
        self.busy.remove(&user);
        self.in_memory -= 1;
        self.queued_at.remove(&entry.seq);
        let write = &entry.write;
        let mut ack_now = true;
        match result {
            Ok(outcome) => {
                // An end (or a start that ended a session left open) changes the member's
                // figures: the board gets them before the write is acknowledged.
                if let Outcome::Ended(totals) | Outcome::Replaced(totals) = outcome {
                    let update = BoardUpdate {
                        user,
                        totals: totals.unwrap_or_default(),
                        as_of: self.clock.now(),
                    };
                    self.board(write.guild()).ends.push((entry.seq, update));
                    ack_now = false;
                }
                if let SessionWrite::Start { session, .. } = write {
                    let recorded = match outcome {
                        Outcome::Applied | Outcome::Replaced(_) => Some(true),
                        Outcome::OptedOut => Some(false),
                        _ => None,
                    };
                    if let Some(recorded) = recorded {
                        // No shard listening (tests of the writer alone) is fine.
                        let _ = self.starts.send(StartRecorded {
                            guild: session.guild,
                            user: session.user,
                            session: session.id,
                            recorded,
                        });
                    }
                }
                let counter = match (outcome, write) {
                    (Outcome::Applied | Outcome::Replaced(_), SessionWrite::Start { .. }) => {
                        &self.metrics.writes_started
                    }
                    (Outcome::Applied, SessionWrite::Update { .. }) => &self.metrics.writes_updated,
                    (Outcome::Applied, SessionWrite::End { .. })
                    | (Outcome::Ended(_) | Outcome::Replaced(_), _) => &self.metrics.writes_ended,
                    (Outcome::AlreadyApplied, _) => &self.metrics.writes_already_applied,
                    (Outcome::OptedOut, _) => &self.metrics.writes_opted_out,
                    (Outcome::Superseded, _) => &self.metrics.writes_superseded,
                };
                inc(counter);
                tracing::debug!(
                    kind = write.kind(),
                    user = %user,
                    guild = %write.guild(),
                    session = %write.session_id(),
                    ?outcome,
                    "write applied"
                );
            }
            Err(err) => {
                inc(&self.metrics.writes_failed);
                tracing::error!(
                    kind = write.kind(),
                    user = %user,
                    guild = %write.guild(),
                    session = %write.session_id(),
                    error = %err,
                    "store refused a write for good; kept in the dead-letter file"
                );
                if let Err(e) = self.spool.dead_letter(&entry, &err.to_string(), unix_now()) {
                    inc(&self.metrics.spool_errors);
                    tracing::error!(error = %e, "cannot keep a dead letter");
                }
            }
        }
        if ack_now && let Err(err) = self.spool.ack(&[entry.seq]) {
            inc(&self.metrics.spool_errors);
            tracing::warn!(error = %err, "cannot acknowledge a write in the spool");
        }
        if entry.seq < self.replay_below && self.replay_left > 0 {
            self.replay_left -= 1;
            if self.replay_left == 0 {
                tracing::info!("spool of the last run applied");
                let _ = self.replayed_tx.send(true);
            }
        }
        if self.queues.get(&user).is_some_and(|q| !q.is_empty()) {
            self.ready.push_back(user);
        } else {
            self.queues.remove(&user);
        }
        self.refill();
        self.tidy_log();
    }

    /// Reads spilled writes back once memory has room for half a bound.
    fn refill(&mut self) {
        let Some(spilled) = self.spilled else {
            return;
        };
        let room = self.options.memory_bound / 2;
        if self.in_memory > room {
            return;
        }
        match self.spool.read_spilled(spilled.offset, room.max(1)) {
            Ok((entries, offset, end)) => {
                let read = entries.len() as u64;
                for entry in entries {
                    self.enqueue(entry);
                }
                self.spilled = if end || read >= spilled.count {
                    None
                } else {
                    Some(Spilled {
                        offset,
                        count: spilled.count - read,
                    })
                };
            }
            Err(err) => {
                inc(&self.metrics.spool_errors);
                tracing::error!(error = %err, "cannot read spilled writes back; will try again");
            }
        }
    }

    fn tidy_log(&mut self) {
        if self.spilled.is_some() {
            return;
        }
        let boards_wait = self
            .boards
            .values()
            .any(|b| !b.ends.is_empty() || b.flushing);
        let result = if self.in_memory == 0 && !boards_wait && self.spool.len() > RESET_LOG_AT {
            self.spool.reset()
        } else if self.spool.len() > COMPACT_LOG_AT {
            let mut waiting: Vec<&Entry> = self.queues.values().flatten().collect();
            waiting.sort_by_key(|e| e.seq);
            // Writes in flight are not in the queues, nor ends waiting for their leaderboard:
            // keep the log until they are done.
            if self.inflight.is_empty() && !boards_wait {
                self.spool.rewrite(waiting.into_iter())
            } else {
                Ok(())
            }
        } else {
            Ok(())
        };
        if let Err(err) = result {
            inc(&self.metrics.spool_errors);
            tracing::warn!(error = %err, "cannot tidy the spool");
        }
    }

    fn publish(&self) {
        self.metrics
            .spool_depth
            .store(self.waiting(), Ordering::SeqCst);
        self.metrics
            .spool_spilled
            .store(self.spilled.map_or(0, |s| s.count), Ordering::Relaxed);
        let oldest = self.queued_at.values().next().copied().unwrap_or(0);
        self.metrics
            .spool_oldest_queued_at
            .store(oldest, Ordering::Relaxed);
    }
}

async fn sleep_until_opt(until: Option<Instant>) {
    if let Some(until) = until {
        tokio::time::sleep_until(until).await;
    }
}

/// The system's time, for what operators read in real time (how long a write has waited, when
/// a dead letter was kept).
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Applies one write, retrying transient failures for as long as it takes.
pub async fn apply(
    store: &Store,
    write: &SessionWrite,
    backoff: Backoff,
    metrics: &Metrics,
) -> Result<Outcome, StoreError> {
    let retried = || inc(&metrics.writes_retried);
    match write {
        SessionWrite::Update { session, config } => {
            match retrying("update session", backoff, retried, || {
                store.update_session(session, config.rule)
            })
            .await?
            {
                UpdateOutcome::Updated => Ok(Outcome::Applied),
                UpdateOutcome::Stale => Ok(Outcome::AlreadyApplied),
            }
        }
        SessionWrite::End { session, config } => {
            match retrying("end session", backoff, retried, || {
                store.end_session(session, config)
            })
            .await?
            {
                EndOutcome::Ended(totals) => Ok(Outcome::Ended(Some(totals))),
                // A replay, or an end someone else made: the board gets the stored figures.
                EndOutcome::AlreadyEnded => {
                    let totals = retrying("read figures", backoff, retried, || {
                        store.member_totals(session.user, session.guild)
                    })
                    .await?;
                    Ok(Outcome::Ended(totals))
                }
            }
        }
        SessionWrite::Start { session, config } => {
            let mut replaced = None;
            for _ in 0..START_ATTEMPTS {
                let outcome = retrying("start session", backoff, retried, || {
                    store.start_session(session, config.rule)
                })
                .await?;
                let other = match outcome {
                    StartOutcome::Started => {
                        return Ok(replaced.map_or(Outcome::Applied, Outcome::Replaced));
                    }
                    StartOutcome::AlreadyStarted | StartOutcome::AlreadyEnded => {
                        return Ok(Outcome::AlreadyApplied);
                    }
                    StartOutcome::OptedOut => return Ok(Outcome::OptedOut),
                    StartOutcome::Conflict(other) => other,
                };
                if other.id > session.id {
                    tracing::warn!(
                        user = %session.user,
                        guild = %session.guild,
                        session = %session.id,
                        open = %other.id,
                        "a newer session is open; dropping an older start"
                    );
                    return Ok(Outcome::Superseded);
                }
                let end = other.seg_start;
                let stale = other.close(end, config.timezone, true);
                tracing::warn!(
                    user = %session.user,
                    guild = %session.guild,
                    stale = %stale.id,
                    ended_at = %end,
                    "ending a session left open from before, estimated, to start a new one"
                );
                if let EndOutcome::Ended(totals) = retrying("end session", backoff, retried, || {
                    store.end_session(&stale, config)
                })
                .await?
                {
                    replaced = Some(Some(totals));
                }
                inc(&metrics.conflicts_resolved);
            }
            Err(StoreError::Rejected {
                op: "start session",
                message: "another session kept appearing for this user and guild".into(),
            })
        }
    }
}

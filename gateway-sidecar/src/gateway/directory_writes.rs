//! Applying the directory's writes (display names, public channels) off the shard loop.
//!
//! The loop only puts writes in a map and wakes one task per shard; the map keeps the latest
//! value per key, so a burst (a `GUILD_CREATE` with thousands of members in voice, a channel
//! edited twice) is coalesced into one write per member and server, and never becomes a task
//! per write. The task takes everything waiting, writes it through the reconciliation reads'
//! permits (so the process's store connections stay bounded) with the store's retries, then
//! takes what came meanwhile. Names still waiting when the shard stops are written again the
//! next time the member is seen.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use callstats_core::{ChannelId, GuildId, UserId};
use callstats_store::retrying;
use futures_util::StreamExt as _;
use tokio::sync::Notify;

use super::{RECONCILE_READS, ShardContext};
use crate::directory::DirectoryWrite;
use crate::metrics::inc;

/// Writes waiting, the latest per key.
#[derive(Debug, Default)]
struct Waiting {
    names: BTreeMap<(GuildId, UserId), String>,
    channels: BTreeMap<GuildId, Vec<ChannelId>>,
}

#[derive(Debug, Default)]
struct Shared {
    waiting: Mutex<Waiting>,
    wake: Notify,
    closed: AtomicBool,
}

/// A shard's outbox for directory writes; its task ends when the outbox is dropped.
#[derive(Debug)]
pub(super) struct DirectoryOutbox {
    shared: Arc<Shared>,
}

impl DirectoryOutbox {
    /// Starts the shard's writing task.
    pub(super) fn start(ctx: Arc<ShardContext>, shard: u32) -> Self {
        let state = Arc::new(Shared::default());
        tokio::spawn(write_loop(ctx, Arc::clone(&state), shard));
        Self { shared: state }
    }

    /// Hands writes over; never waits for the store.
    pub(super) fn send(&self, writes: Vec<DirectoryWrite>) {
        if writes.is_empty() {
            return;
        }
        if let Ok(mut waiting) = self.shared.waiting.lock() {
            for write in writes {
                match write {
                    DirectoryWrite::Name { guild, user, name } => {
                        waiting.names.insert((guild, user), name);
                    }
                    DirectoryWrite::PublicChannels { guild, channels } => {
                        waiting.channels.insert(guild, channels);
                    }
                }
            }
        }
        self.shared.wake.notify_one();
    }
}

impl Drop for DirectoryOutbox {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }
}

async fn write_loop(ctx: Arc<ShardContext>, state: Arc<Shared>, shard: u32) {
    loop {
        state.wake.notified().await;
        if state.closed.load(Ordering::SeqCst) {
            return;
        }
        let batch = match state.waiting.lock() {
            Ok(mut waiting) => std::mem::take(&mut *waiting),
            Err(_) => return,
        };
        write_batch(&ctx, batch, shard).await;
    }
}

enum Job {
    Name(GuildId, UserId, String),
    Channels(GuildId, Vec<ChannelId>),
}

async fn write_batch(ctx: &ShardContext, batch: Waiting, shard: u32) {
    let channels = batch
        .channels
        .into_iter()
        .map(|(guild, list)| Job::Channels(guild, list));
    let names = batch
        .names
        .into_iter()
        .map(|((guild, user), name)| Job::Name(guild, user, name));
    futures_util::stream::iter(channels.chain(names))
        .for_each_concurrent(RECONCILE_READS, |job| write_one(ctx, job, shard))
        .await;
}

async fn write_one(ctx: &ShardContext, job: Job, shard: u32) {
    let metrics = &ctx.metrics;
    match job {
        Job::Name(guild, user, name) => {
            let written = retrying(
                "write name",
                ctx.backoff,
                || {},
                || ctx.bounded(|| ctx.store.set_name(guild, user, &name)),
            )
            .await;
            match written {
                Ok(()) => inc(&metrics.names_written),
                // The name itself is member data: not logged.
                Err(err) => {
                    tracing::error!(shard, guild = %guild, user = %user, error = %err, "display name not written");
                }
            }
        }
        Job::Channels(guild, channels) => {
            let written = retrying(
                "write public channels",
                ctx.backoff,
                || {},
                || ctx.bounded(|| ctx.store.set_public_channels(guild, &channels)),
            )
            .await;
            match written {
                Ok(()) => {
                    tracing::debug!(shard, guild = %guild, channels = channels.len(), "public channels written");
                }
                Err(err) => {
                    tracing::error!(shard, guild = %guild, error = %err, "public channels not written");
                }
            }
        }
    }
}

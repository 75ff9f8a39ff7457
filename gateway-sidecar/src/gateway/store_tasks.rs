//! What a shard asks the store, in tasks of their own so the shard loop never waits: the
//! store's view of a guild to reconcile, the heartbeat, guild configurations.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use callstats_core::reconcile::OpenRef;
use callstats_core::{GuildId, Timestamp, UserId};
use callstats_store::retrying;
use tokio::sync::OnceCell;

use super::{AWAIT_GUILDS, Inbox, ShardContext, ShardRunner};
use crate::metrics::inc;

impl ShardRunner {
    /// Reads what the store holds for a guild the tracker does not know, then reports back.
    /// Waits for the spool of the last run first: its writes are part of the truth.
    pub(super) fn spawn_reconcile(&self, guild: GuildId, generation: u64, present: Vec<UserId>) {
        let ctx = Arc::clone(&self.ctx);
        let tx = self.inbox_tx.clone();
        let cell = Arc::clone(&self.last_seen_at_start);
        let shard = self.number();
        tokio::spawn(async move {
            let mut replayed = ctx.replayed.clone();
            let _ = replayed.wait_for(|done| *done).await;
            // Boxed: read once for the shard, its future need not sit in every guild's task.
            let last_seen = Box::pin(last_seen_at_start(&ctx, &cell, shard)).await;
            let backoff = ctx.backoff;
            let metrics = &ctx.metrics;
            let refs: Vec<OpenRef> = retrying(
                "query open sessions",
                backoff,
                || inc(&metrics.reads_retried),
                || ctx.bounded(|| ctx.store.open_sessions_of_guild(guild)),
            )
            .await
            .unwrap_or_else(|err| {
                tracing::error!(shard, guild = %guild, error = %err, "cannot list open sessions");
                Vec::new()
            });
            // The index may lag: read every listed and present member's state directly, with
            // the server item, in one strongly consistent batch.
            let users: Vec<UserId> = refs
                .iter()
                .map(|r| r.user)
                .chain(present)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let view = retrying(
                "read for reconcile",
                backoff,
                || inc(&metrics.reads_retried),
                || ctx.bounded(|| ctx.store.reconcile_view(guild, &users)),
            )
            .await
            .unwrap_or_else(|err| {
                tracing::error!(shard, guild = %guild, error = %err, "cannot read the server's open sessions; using defaults");
                callstats_store::ReconcileView::default()
            });
            if view.server.shard != Some(shard) {
                ctx.writer.shard_of(guild, shard);
            }
            let _ = tx.send(Inbox::Reconciled {
                guild,
                generation,
                open: view.open,
                opted_out: view.opted_out,
                config: view.server.config,
                last_seen,
            });
        });
    }

    /// Records "alive at now" when the shard's state is complete; skipped while the last
    /// heartbeat is still on its way.
    pub(super) fn beat(&mut self) {
        if !self.awaiting.is_empty() && self.ready_at.is_some_and(|at| at.elapsed() >= AWAIT_GUILDS)
        {
            tracing::warn!(
                shard = self.number(),
                guilds = self.awaiting.len(),
                "guilds listed in READY did not arrive; taking them as unavailable"
            );
            self.awaiting.clear();
        }
        if !self.settled() || self.heartbeat_busy.swap(true, Ordering::SeqCst) {
            return;
        }
        let ctx = Arc::clone(&self.ctx);
        let busy = Arc::clone(&self.heartbeat_busy);
        let cell = Arc::clone(&self.last_seen_at_start);
        let shard = self.number();
        tokio::spawn(async move {
            // The heartbeat from before this process must be read before it is overwritten.
            let _ = last_seen_at_start(&ctx, &cell, shard).await;
            let at = ctx.clock.now();
            match tokio::time::timeout(
                ctx.heartbeat,
                ctx.store.heartbeat(shard, at, ctx.heartbeat.as_secs()),
            )
            .await
            {
                Ok(Ok(())) => {
                    inc(&ctx.metrics.heartbeats_written);
                    // The "heartbeat stale" alarms watch this (crate::emf).
                    ctx.metrics
                        .update_shard(shard, |s| s.last_heartbeat = Some(at));
                    tracing::info!(shard, "heartbeat recorded");
                }
                Ok(Err(err)) => {
                    inc(&ctx.metrics.heartbeat_failures);
                    tracing::warn!(shard, error = %err, "heartbeat not recorded");
                }
                Err(_) => {
                    inc(&ctx.metrics.heartbeat_failures);
                    tracing::warn!(shard, "heartbeat timed out");
                }
            }
            busy.store(false, Ordering::SeqCst);
        });
    }

    pub(super) fn refresh_configs(&self) {
        let guilds: Vec<GuildId> = self.tracker.guilds().collect();
        let ctx = Arc::clone(&self.ctx);
        let tx = self.inbox_tx.clone();
        tokio::spawn(async move {
            for guild in guilds {
                match ctx.store.guild(guild).await {
                    Ok(server) => {
                        let _ = tx.send(Inbox::Config {
                            guild,
                            config: server.config,
                            gone: server.board.gone.into_iter().collect(),
                        });
                    }
                    Err(err) => {
                        tracing::debug!(guild = %guild, error = %err, "guild configuration not refreshed");
                    }
                }
            }
        });
    }
}

/// The shard's last heartbeat from before this process started, read once.
async fn last_seen_at_start(
    ctx: &ShardContext,
    cell: &OnceCell<Option<Timestamp>>,
    shard: u32,
) -> Option<Timestamp> {
    let read = cell
        .get_or_try_init(|| {
            retrying(
                "read heartbeat",
                ctx.backoff,
                || inc(&ctx.metrics.reads_retried),
                || ctx.store.last_heartbeat(shard),
            )
        })
        .await;
    match read {
        Ok(at) => *at,
        Err(err) => {
            tracing::error!(shard, error = %err, "cannot read the last heartbeat");
            None
        }
    }
}

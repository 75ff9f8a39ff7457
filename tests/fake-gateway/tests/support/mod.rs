//! Drives a real twilight-gateway `Shard` against the fake from a background task.

#![allow(dead_code)] // each test binary uses part of the harness

use anyhow::{Context as _, bail};
use callstats_fake_gateway::{FakeGateway, ShardId};
use std::time::Duration;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use twilight_gateway::{
    ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardState, StreamExt as _,
    error::ReceiveMessageErrorType, queue::Queue,
};

/// Generous bound on any single wait; the fake answers in milliseconds.
pub const WAIT: Duration = Duration::from_secs(10);

/// Lets every IDENTIFY through at once. twilight's default queue spaces identifies 5 s apart,
/// which would make re-identify tests slow without testing anything about the fake.
#[derive(Debug)]
pub struct InstantQueue;

impl Queue for InstantQueue {
    fn enqueue(&self, _shard: u32) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(());
        rx
    }
}

/// What the driving task saw.
#[derive(Debug)]
pub enum Seen {
    /// An event (gateway events included: close, reconnect, invalid session, ...).
    Event(Box<Event>),
    /// A failed connection attempt; twilight retries with backoff.
    ReconnectFailed(String),
    /// Any other error twilight reported while receiving (a payload it could not parse...).
    Error(String),
    /// The shard's stream ended, in this state.
    Ended(ShardState),
}

/// A shard running in the background; dropping it stops the shard.
#[derive(Debug)]
pub struct RunningShard {
    rx: mpsc::UnboundedReceiver<Seen>,
    task: JoinHandle<()>,
}

impl Drop for RunningShard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a shard identifying with `token` against `fake`, with the guild and voice intents.
pub fn spawn_shard(fake: &FakeGateway, token: &str, id: ShardId) -> RunningShard {
    spawn_shard_at(&fake.url(), token, id)
}

/// Starts a shard identifying with `token` against the gateway at `url`, with the guild and
/// voice intents.
pub fn spawn_shard_at(url: &str, token: &str, id: ShardId) -> RunningShard {
    // twilight builds a rustls client config even for ws:// and needs exactly one provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = ConfigBuilder::new(
        token.to_owned(),
        Intents::GUILDS | Intents::GUILD_VOICE_STATES,
    )
    .proxy_url(url.to_owned())
    .queue(InstantQueue)
    .build();
    let mut shard = Shard::with_config(id, config);
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Some(item) = shard.next_event(EventTypeFlags::all()).await {
            let seen = match item {
                Ok(event) => Seen::Event(Box::new(event)),
                Err(error) if matches!(error.kind(), ReceiveMessageErrorType::Reconnect) => {
                    Seen::ReconnectFailed(format!("{error:?}"))
                }
                Err(error) => Seen::Error(format!("{error:?}")),
            };
            if tx.send(seen).is_err() {
                return;
            }
        }
        let _ = tx.send(Seen::Ended(shard.state()));
    });
    RunningShard { rx, task }
}

impl RunningShard {
    /// Next thing seen, within [`WAIT`].
    pub async fn next(&mut self) -> anyhow::Result<Seen> {
        tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .context("timed out waiting for the shard")?
            .context("shard task ended")
    }

    /// Skips to the first event `pick` accepts and returns what it extracts; fails on
    /// receive errors or when the stream ends.
    pub async fn expect<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&Event) -> Option<T>,
    ) -> anyhow::Result<T> {
        loop {
            match self
                .next()
                .await
                .with_context(|| format!("waiting for {what}"))?
            {
                Seen::Event(event) => {
                    if let Some(found) = pick(&event) {
                        return Ok(found);
                    }
                }
                Seen::ReconnectFailed(_) => {}
                Seen::Error(error) => bail!("shard error while waiting for {what}: {error}"),
                Seen::Ended(state) => bail!("shard ended ({state:?}) while waiting for {what}"),
            }
        }
    }

    /// Everything seen until the stream ends.
    pub async fn until_end(&mut self) -> anyhow::Result<(Vec<Seen>, ShardState)> {
        let mut seen = Vec::new();
        loop {
            match self.next().await? {
                Seen::Ended(state) => return Ok((seen, state)),
                other => seen.push(other),
            }
        }
    }
}

//! The handle tests hold: start, script, inject faults, observe, shut down.

use crate::{
    error::Error,
    payload::BotIdentity,
    record::{Counters, Recorded},
    server::{self, Shared},
    spec::{ChannelSpec, GuildSpec, UserSpec, VoiceFlags},
    state::{Delivery, Options, Outgoing, SessionInfo, State},
};
use std::{
    collections::HashSet,
    net::{Ipv4Addr, SocketAddr},
    sync::{Arc, atomic::Ordering},
    time::Duration,
};
use tokio::{net::TcpListener, time::Instant};
use twilight_model::{
    gateway::ShardId,
    id::{
        Id,
        marker::{ApplicationMarker, ChannelMarker, GuildMarker, UserMarker},
    },
};

/// Discord's usual heartbeat interval.
const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(41_250);
/// User id of the bot the fake identifies clients as, unless configured.
const DEFAULT_BOT_ID: u64 = 1_100_000_000_000_000_001;
/// How long shutdown waits for clients to answer the close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Settings of a fake gateway; [`FakeGateway::builder`] starts from Discord-like defaults.
#[derive(Clone, Debug)]
#[must_use]
pub struct FakeGatewayBuilder {
    heartbeat_interval: Duration,
    tokens: Option<HashSet<String>>,
    bot_id: Id<UserMarker>,
    bot_name: String,
    application_id: Option<Id<ApplicationMarker>>,
    replay_limit: usize,
    wait_timeout: Duration,
    allow_privileged_intents: bool,
    listen: SocketAddr,
}

impl Default for FakeGatewayBuilder {
    fn default() -> Self {
        Self {
            heartbeat_interval: DEFAULT_HEARTBEAT,
            tokens: None,
            bot_id: Id::new(DEFAULT_BOT_ID),
            bot_name: "callstats".to_owned(),
            application_id: None,
            replay_limit: 50_000,
            wait_timeout: Duration::from_secs(10),
            allow_privileged_intents: true,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }
}

impl FakeGatewayBuilder {
    /// Interval announced in HELLO (default 41 250 ms); tests use about a second.
    pub const fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Accepts only these tokens (with or without the `Bot ` prefix); IDENTIFY with another
    /// is closed with 4004. By default any token is accepted.
    pub fn accept_tokens<T: Into<String>>(mut self, tokens: impl IntoIterator<Item = T>) -> Self {
        let tokens = tokens
            .into_iter()
            .map(|t| {
                let t: String = t.into();
                t.strip_prefix("Bot ").map(str::to_owned).unwrap_or(t)
            })
            .collect();
        self.tokens = Some(tokens);
        self
    }

    /// The bot user READY announces (default id 1100000000000000001, name `callstats`).
    pub fn bot_user(mut self, id: Id<UserMarker>, name: impl Into<String>) -> Self {
        self.bot_id = id;
        self.bot_name = name.into();
        self
    }

    /// Application id in READY; by default the bot user's id, as on Discord.
    pub const fn application_id(mut self, id: Id<ApplicationMarker>) -> Self {
        self.application_id = Some(id);
        self
    }

    /// Dispatches each session keeps for RESUME (default 50 000); a resume from further back
    /// gets `INVALID_SESSION`, as on Discord.
    pub const fn replay_limit(mut self, limit: usize) -> Self {
        self.replay_limit = limit;
        self
    }

    /// Timeout of the `wait_for_*` helpers (default 10 s).
    pub const fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// When false, IDENTIFY asking for a privileged intent (`GUILD_MEMBERS`,
    /// `GUILD_PRESENCES`, `MESSAGE_CONTENT`) is closed with 4014. Default true.
    pub const fn allow_privileged_intents(mut self, allow: bool) -> Self {
        self.allow_privileged_intents = allow;
        self
    }

    /// Address to listen on (default `127.0.0.1:0`, a free port on the loopback interface).
    ///
    /// The fake accepts any client that can reach it, so anything but a loopback address
    /// exposes it to the network. When the address is unspecified (`0.0.0.0`, `[::]`), the URLs
    /// it announces use the loopback address of the same family.
    pub const fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Binds the listen address (by default 127.0.0.1 on a free port) and starts serving.
    pub async fn start(self) -> Result<FakeGateway, Error> {
        let listener = TcpListener::bind(self.listen).await.map_err(Error::Bind)?;
        let mut addr = listener.local_addr().map_err(Error::Bind)?;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let url = format!("ws://{addr}");
        let options = Options {
            heartbeat_interval_ms: u64::try_from(self.heartbeat_interval.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
            tokens: self.tokens,
            bot: BotIdentity {
                user_id: self.bot_id,
                name: self.bot_name,
                application_id: self.application_id.unwrap_or(self.bot_id.cast()),
            },
            replay_limit: self.replay_limit.max(1),
            allow_privileged_intents: self.allow_privileged_intents,
        };
        let shared = Arc::new(Shared::new(State::new(options, format!("{url}/resume"))));
        tokio::spawn(server::accept_loop(listener, Arc::clone(&shared)));
        tracing::debug!(%url, "fake gateway listening");
        Ok(FakeGateway {
            inner: Arc::new(Inner { shared }),
            url,
            addr,
            wait_timeout: self.wait_timeout,
        })
    }
}

/// Stops the server when the last handle goes away.
#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.accepting.store(false, Ordering::SeqCst);
        self.shared.shutdown.send_replace(true);
    }
}

/// A running fake Discord gateway. Cheap to clone; the server stops when the last clone is
/// dropped or [`shutdown`](Self::shutdown) is called.
#[derive(Clone, Debug)]
pub struct FakeGateway {
    inner: Arc<Inner>,
    url: String,
    addr: SocketAddr,
    wait_timeout: Duration,
}

impl FakeGateway {
    /// Settings to start a fake gateway with.
    pub fn builder() -> FakeGatewayBuilder {
        FakeGatewayBuilder::default()
    }

    /// Starts a fake gateway with the default settings.
    pub async fn start() -> Result<Self, Error> {
        Self::builder().start().await
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// `ws://127.0.0.1:PORT`: give it to twilight's `ConfigBuilder::proxy_url`.
    #[must_use]
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The address the fake listens on (a loopback address when it listens on all interfaces).
    #[must_use]
    pub const fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `resume_gateway_url` READY announces: this server, path `/resume`.
    #[must_use]
    pub fn resume_url(&self) -> String {
        format!("{}/resume", self.url)
    }

    // ---- model -------------------------------------------------------------------------------

    /// Adds a guild. If a session owns its shard, it gets a `GUILD_CREATE` (the bot joined).
    pub fn add_guild(&self, spec: GuildSpec) -> Result<Delivery, Error> {
        self.shared().with(|state| state.add_guild(spec))
    }

    /// Puts a user in a voice channel, moves them, changes their flags, or (channel `None`)
    /// disconnects them, and dispatches `VOICE_STATE_UPDATE` to the session owning the guild.
    pub fn voice_update(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
        channel: Option<Id<ChannelMarker>>,
        flags: VoiceFlags,
    ) -> Result<Delivery, Error> {
        self.shared()
            .with(|state| state.voice_update(guild, user, channel, flags))
    }

    /// Where a user is in voice now, with their flags.
    #[must_use]
    pub fn voice_state(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
    ) -> Option<(Id<ChannelMarker>, VoiceFlags)> {
        self.shared().read(|state| state.voice_of(guild, user))
    }

    /// Marks a user as a bot account, or not, for every later event about them.
    pub fn set_user_bot(&self, user: Id<UserMarker>, bot: bool) {
        self.shared().with(|state| state.set_user_bot(user, bot));
    }

    /// Sets a user's name and bot-ness.
    pub fn set_user(&self, user: Id<UserMarker>, spec: UserSpec) {
        self.shared().with(|state| state.set_user(user, spec));
    }

    /// Creates a channel (`CHANNEL_CREATE`) or replaces the one with its id, say with new
    /// permission overwrites (`CHANNEL_UPDATE`). A channel's kind cannot change.
    pub fn put_channel(
        &self,
        guild: Id<GuildMarker>,
        channel: ChannelSpec,
    ) -> Result<Delivery, Error> {
        self.shared()
            .with(|state| state.put_channel(guild, channel))
    }

    /// Deletes a channel (`CHANNEL_DELETE`), disconnecting whoever is in it first (one
    /// `VOICE_STATE_UPDATE` each). The AFK channel cannot be deleted.
    pub fn delete_channel(
        &self,
        guild: Id<GuildMarker>,
        channel: Id<ChannelMarker>,
    ) -> Result<Delivery, Error> {
        self.shared()
            .with(|state| state.delete_channel(guild, channel))
    }

    /// Sets the permission bits of the guild's `@everyone` role (`GUILD_ROLE_UPDATE`).
    pub fn set_everyone_permissions(
        &self,
        guild: Id<GuildMarker>,
        permissions: u64,
    ) -> Result<Delivery, Error> {
        self.shared()
            .with(|state| state.set_everyone_permissions(guild, permissions))
    }

    /// Sets (or with `None` clears) a member's nickname in a guild. Nothing is dispatched:
    /// the member's next `VOICE_STATE_UPDATE` and the guild's next `GUILD_CREATE` carry it.
    pub fn set_nickname(
        &self,
        guild: Id<GuildMarker>,
        user: Id<UserMarker>,
        nick: Option<&str>,
    ) -> Result<(), Error> {
        self.shared()
            .with(|state| state.set_nickname(guild, user, nick.map(str::to_owned)))
    }

    /// Sends `GUILD_DELETE`: `unavailable` is an outage (the guild keeps its state and comes back
    /// with [`guild_create_again`](Self::guild_create_again); voice changes meanwhile are not
    /// dispatched), otherwise the bot was removed and the guild is forgotten.
    pub fn guild_delete(
        &self,
        guild: Id<GuildMarker>,
        unavailable: bool,
    ) -> Result<Delivery, Error> {
        self.shared()
            .with(|state| state.guild_delete(guild, unavailable))
    }

    /// Ends an outage: `GUILD_CREATE` with the guild's current state.
    pub fn guild_create_again(&self, guild: Id<GuildMarker>) -> Result<Delivery, Error> {
        self.shared().with(|state| state.guild_create_again(guild))
    }

    /// Dispatches any event to the newest session of exactly this shard.
    pub fn dispatch_raw(
        &self,
        shard: ShardId,
        event: &str,
        data: &serde_json::Value,
    ) -> Result<Delivery, Error> {
        self.shared()
            .with(|state| state.dispatch_raw(shard, event, data))
    }

    /// The newest resumable session of exactly this shard.
    #[must_use]
    pub fn session(&self, shard: ShardId) -> Option<SessionInfo> {
        self.shared().read(|state| state.session_info(shard))
    }

    // ---- faults ------------------------------------------------------------------------------

    /// Sends op 7 RECONNECT on the shard's connection.
    pub fn reconnect(&self, shard: ShardId) -> Result<(), Error> {
        let frame = crate::payload::reconnect().into();
        self.shared()
            .with(|state| state.send_to_shard(shard, Outgoing::Frame(frame)))
    }

    /// Sends op 1 HEARTBEAT: asks the shard to heartbeat now.
    pub fn request_heartbeat(&self, shard: ShardId) -> Result<(), Error> {
        let frame = crate::payload::heartbeat_request().into();
        self.shared()
            .with(|state| state.send_to_shard(shard, Outgoing::Frame(frame)))
    }

    /// Sends op 9 `INVALID_SESSION`. With `resumable` false the session ends at once, even if it
    /// has no connection (then nothing is sent and its next RESUME is refused).
    pub fn invalidate_session(&self, shard: ShardId, resumable: bool) -> Result<(), Error> {
        self.shared()
            .with(|state| state.invalidate_session(shard, resumable))
    }

    /// Closes the shard's connection with a close code. 4004, 4007 and 4009-4014 also end the
    /// session, as on Discord; with other codes it stays resumable.
    pub fn close(&self, shard: ShardId, code: u16) -> Result<(), Error> {
        check_close_code(code)?;
        self.shared()
            .with(|state| state.send_to_shard(shard, Outgoing::Close(code)))
    }

    /// Closes every open connection with a close code.
    pub fn close_all(&self, code: u16) -> Result<(), Error> {
        check_close_code(code)?;
        self.shared()
            .with(|state| state.broadcast(|| Outgoing::Close(code)));
        Ok(())
    }

    /// Drops the shard's TCP connection without a close frame (reset), like a crashed gateway
    /// node. The session stays resumable.
    pub fn drop_connection(&self, shard: ShardId) -> Result<(), Error> {
        self.shared()
            .with(|state| state.send_to_shard(shard, Outgoing::Drop))
    }

    /// Drops every open TCP connection without a close frame.
    pub fn drop_all(&self) {
        self.shared()
            .with(|state| state.broadcast(|| Outgoing::Drop));
    }

    /// While false, new TCP connections are reset right away, as if the gateway were
    /// unreachable; open connections are not touched.
    pub fn set_accepting(&self, accepting: bool) {
        self.shared().accepting.store(accepting, Ordering::SeqCst);
    }

    /// While false, heartbeats get no ACK, so the client finds its connection zombied (twilight
    /// notices only if nothing else arrives for an interval).
    pub fn set_heartbeat_ack(&self, ack: bool) {
        self.shared().ack_heartbeats.store(ack, Ordering::SeqCst);
    }

    // ---- observation -------------------------------------------------------------------------

    /// Everything recorded so far.
    #[must_use]
    pub fn records(&self) -> Vec<Recorded> {
        self.shared().read(|state| state.records.clone())
    }

    /// Records from `index` on.
    #[must_use]
    pub fn records_since(&self, index: usize) -> Vec<Recorded> {
        self.shared()
            .read(|state| state.records.get(index..).unwrap_or_default().to_vec())
    }

    /// Number of records so far: a mark for [`records_since`](Self::records_since).
    #[must_use]
    pub fn record_count(&self) -> usize {
        self.shared().read(|state| state.records.len())
    }

    /// The running totals.
    #[must_use]
    pub fn counters(&self) -> Counters {
        self.shared().read(|state| state.counters)
    }

    /// Code of the last close frame sent by either side on any connection.
    #[must_use]
    pub fn last_close_code(&self) -> Option<u16> {
        self.shared().read(|state| state.last_close_code)
    }

    /// Number of open websocket connections.
    #[must_use]
    pub fn open_connections(&self) -> usize {
        self.shared().read(State::connection_count)
    }

    /// Waits for the first record, from the start, that `matches`, and returns it.
    pub async fn wait_for(
        &self,
        mut matches: impl FnMut(&Recorded) -> bool,
        timeout: Duration,
    ) -> Result<Recorded, Error> {
        let mut seen = 0;
        self.wait("a matching record", timeout, |state| {
            let found = state.records[seen..].iter().find(|r| matches(r)).cloned();
            seen = state.records.len();
            found
        })
        .await
    }

    /// Waits until the counters satisfy `done`, and returns them.
    pub async fn wait_counters(
        &self,
        mut done: impl FnMut(&Counters) -> bool,
        timeout: Duration,
    ) -> Result<Counters, Error> {
        self.wait("counters", timeout, |state| {
            done(&state.counters).then_some(state.counters)
        })
        .await
    }

    /// Waits until `n` IDENTIFYs were accepted (READY sent) in total.
    pub async fn wait_for_identifies(&self, n: u64) -> Result<Counters, Error> {
        self.wait_counters(|c| c.ready >= n, self.wait_timeout)
            .await
    }

    /// Waits until `n` RESUMEs succeeded (RESUMED sent) in total.
    pub async fn wait_for_resumes(&self, n: u64) -> Result<Counters, Error> {
        self.wait_counters(|c| c.resumed >= n, self.wait_timeout)
            .await
    }

    /// Waits until `n` heartbeats were received in total.
    pub async fn wait_for_heartbeats(&self, n: u64) -> Result<Counters, Error> {
        self.wait_counters(|c| c.heartbeats >= n, self.wait_timeout)
            .await
    }

    /// Waits until `n` websocket connections were accepted in total.
    pub async fn wait_for_connections(&self, n: u64) -> Result<Counters, Error> {
        self.wait_counters(|c| c.connections >= n, self.wait_timeout)
            .await
    }

    /// Waits until the client owning `guild` has handled every dispatch sent to it so far.
    ///
    /// Asks the owning session's connection to heartbeat now (op 1) and waits for a heartbeat
    /// that carries the session's latest sequence number. A twilight shard sends the heartbeat
    /// an op 1 asks for when it is next polled, that is once its owner has taken every
    /// dispatch before it; a client that handles each event before it polls for the next has
    /// then handled them all. Fails with [`Error::NoOwner`] or [`Error::NotConnected`] when no
    /// client is there to ask, and [`Error::Timeout`] after the wait timeout.
    pub async fn wait_handled(&self, guild: Id<GuildMarker>) -> Result<(), Error> {
        let mark = self.record_count();
        let (connection, seq) = self
            .shared()
            .with(|state| state.request_heartbeat_for(guild))?;
        let mut seen = mark;
        self.wait(
            "the client to handle its dispatches",
            self.wait_timeout,
            |state| {
                let found = state.records[seen..].iter().any(|r| {
                    r.connection == connection
                        && r.op() == Some(1)
                        && r.json()
                            .and_then(|j| j["d"].as_u64())
                            .is_some_and(|d| d >= seq)
                });
                seen = state.records.len();
                found.then_some(())
            },
        )
        .await
    }

    /// Waits until the shard has a session with an open connection.
    pub async fn wait_for_session(&self, shard: ShardId) -> Result<SessionInfo, Error> {
        self.wait("a connected session", self.wait_timeout, |state| {
            state.session_info(shard).filter(|s| s.connected)
        })
        .await
    }

    async fn wait<T>(
        &self,
        what: &'static str,
        timeout: Duration,
        mut check: impl FnMut(&State) -> Option<T>,
    ) -> Result<T, Error> {
        let deadline = Instant::now() + timeout;
        let mut changed = self.shared().subscribe();
        loop {
            changed.mark_unchanged();
            if let Some(found) = self.shared().read(&mut check) {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Error::Shutdown),
                Err(_) => {
                    return Err(Error::Timeout {
                        what,
                        waited: timeout,
                    });
                }
            }
        }
    }

    /// Stops accepting, closes every connection with 1001 (going away), waits up to two
    /// seconds for the clients to answer, then drops what is left.
    pub async fn shutdown(&self) {
        let shared = self.shared();
        shared.accepting.store(false, Ordering::SeqCst);
        shared.shutdown.send_replace(true);
        let _ = self
            .wait("connections to close", SHUTDOWN_GRACE, |state| {
                (state.connection_count() == 0).then_some(())
            })
            .await;
        shared.with(|state| state.broadcast(|| Outgoing::Drop));
        let _ = self
            .wait("connections to drop", SHUTDOWN_GRACE, |state| {
                (state.connection_count() == 0).then_some(())
            })
            .await;
    }
}

fn check_close_code(code: u16) -> Result<(), Error> {
    match code {
        1000..=1003 | 1007..=1014 | 3000..=4999 => Ok(()),
        _ => Err(Error::InvalidCloseCode(code)),
    }
}

#[cfg(test)]
mod tests {
    use super::FakeGateway;

    #[tokio::test]
    async fn listening_on_all_interfaces_announces_the_loopback_address() {
        use std::net::{Ipv4Addr, SocketAddr};
        let fake = FakeGateway::builder()
            .listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
            .start()
            .await
            .unwrap();
        assert!(fake.url().starts_with("ws://127.0.0.1:"), "{}", fake.url());
        assert_ne!(fake.addr().port(), 0);
        assert_eq!(fake.resume_url(), format!("{}/resume", fake.url()));
        tokio::net::TcpStream::connect(fake.addr()).await.unwrap();
        fake.shutdown().await;
    }

    #[test]
    fn handle_is_send_sync_and_cheap_to_clone() {
        fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
        assert_send_sync_clone::<FakeGateway>();
    }
}

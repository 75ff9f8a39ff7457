//! A fake Discord gateway for tests, fault injection, load benchmarks and the local simulator.
//!
//! [`FakeGateway`] listens on `127.0.0.1` (a free port) and speaks gateway v10 JSON well enough
//! that an unmodified twilight-gateway 0.18 `Shard`, pointed at it with
//! `ConfigBuilder::proxy_url`, connects, identifies, heartbeats, receives events, resumes and
//! reconnects.
//!
//! # What it models
//!
//! - **Transport.** `?compress=zstd-stream` gets binary frames that are the pieces of one zstd
//!   stream per connection, each message flushed so it decodes on arrival; no `compress` gets
//!   text frames of plain JSON. Any path and extra query are accepted.
//! - **Handshake and liveness.** HELLO with a configurable interval; every op 1 HEARTBEAT gets
//!   op 11 (switch ACKs off to make the connection look zombied).
//! - **Sessions.** IDENTIFY (token checked against an optional allow-list, close 4004 when
//!   refused) creates a session with a random id and sequence numbers from 1, then READY (bot
//!   user, every guild of the shard as unavailable, `resume_gateway_url` pointing back at this
//!   server) and one `GUILD_CREATE` per guild of the shard, `shard = (guild_id >> 22) % count`.
//!   Every dispatch gets the session's next sequence number and is kept for replay, whether or
//!   not a connection is attached; RESUME replays what the client missed, in order, then
//!   RESUMED, or answers `INVALID_SESSION` `false` for an unknown or ended session. A client close
//!   with 1000 or 1001 ends its session, like on Discord.
//! - **Guilds and voice.** Guilds with channels (text, voice, stage) and their permission
//!   overwrites, an AFK channel, the `@everyone` role's permissions, users' global names and
//!   members' nicknames, and who is in voice with which flags. Scripted changes update the
//!   model and dispatch to the newest session whose shard covers the guild, so a later
//!   IDENTIFY sees the current state in its `GUILD_CREATE`. Outages (`GUILD_DELETE`
//!   `unavailable`) hold back voice events until the guild comes back with a fresh
//!   `GUILD_CREATE`. Channels created, edited (say, made private) and
//!   deleted, and the `@everyone` role's permissions changed, dispatch `CHANNEL_CREATE`,
//!   `CHANNEL_UPDATE`, `CHANNEL_DELETE` and `GUILD_ROLE_UPDATE` to sessions with `GUILDS`.
//! - **Faults.** RECONNECT, `INVALID_SESSION` (resumable or not), close with any code, abrupt TCP
//!   drops, refusing new connections for a while, withholding heartbeat ACKs.
//! - **Observation.** Every frame a client sent, the life of every connection, counters, and
//!   `wait_for*` helpers that fail with [`Error::Timeout`] instead of hanging.
//! - **Client mistakes** never panic: bad JSON or binary frames close with 4002, unknown
//!   opcodes 4001, payloads before IDENTIFY 4003, a second IDENTIFY 4005, a bad shard 4010,
//!   privileged intents (when disallowed) 4014; each is recorded.
//!
//! # What it does not model
//!
//! Rate limits (no 4008, no identify concurrency or daily limit), session expiry by time (a
//! session stays resumable until it is ended; only the 8 newest disconnected sessions of a shard
//! and the last `replay_limit` dispatches of each are kept), ETF
//! and `zlib-stream` (refused with 4002), presences and members beyond those in voice,
//! `GUILD_MEMBER_UPDATE` (a nickname change shows in the member's next voice state), roles
//! other than `@everyone`, any other event unless sent with
//! [`FakeGateway::dispatch_raw`], and the voice servers themselves. `VOICE_STATE_UPDATE` is
//! only sent to sessions that asked for `GUILD_VOICE_STATES`; `GUILD_CREATE` is always sent.
//!
//! # Local simulator
//!
//! [`simulator`] plays realistic voice traffic (joins, moves, mutes, deafens, streams, video,
//! the stage, the AFK channel, bots, someone alone, people in several guilds) for a few named
//! guilds with dozens of members each, so the whole product can be tried without Discord. The
//! binary `callstats-gateway-sim` serves it:
//!
//! ```text
//! callstats-gateway-sim [--listen 127.0.0.1:0] [--port-file PATH] [--seed N] [--speed F]
//!                       [--guilds N] [--members N] [--clock-file PATH] [--past-days N]
//!                       [--token T] [--verbose]
//! ```
//!
//! - `--listen ADDR`: where to listen (default `127.0.0.1:0`, a free port);
//! - `--port-file PATH`: once listening, write `ws://127.0.0.1:PORT` and a newline there
//!   (written beside it, then renamed, so a reader never sees half a URL); removed on a clean
//!   exit;
//! - `--seed N`: the scenario's seed (default from the clock; printed, so a run can be played
//!   again);
//! - `--speed F`: simulated seconds per real second (default 1; 0.01 to 10000);
//! - `--guilds N` (default 3, 1 to 1000) and `--members N` human members of its own per guild
//!   (default 24, 8 to 1000; bots come on top, one per 16 members plus one);
//! - `--clock-file PATH`: keep the simulated time (Unix seconds and a newline) in this file,
//!   for the sidecar's `CALLSTATS_CLOCK_FILE`: it starts at the real time and runs `--speed`
//!   times as fast, so the sidecar records a simulated ten-minute call as ten minutes at any
//!   speed (written, like the port file, beside it and renamed; created before the port file;
//!   left in place on exit). Above speed 1 that time runs ahead of the real clock, so whatever
//!   else reads "now" (the interactions endpoint) must read the same file;
//! - `--past-days N` (0 to 90, default 0; needs `--clock-file`): when the first client
//!   identifies, replay the last `N` days of calls of the first three guilds first (gatherings
//!   of friends, mostly in the evening; see [`simulator::past`]). The clock file starts `N`
//!   days back and follows the replay, which waits for the client to handle each instant's
//!   events before moving it on ([`FakeGateway::wait_handled`]), so a sidecar reading it
//!   records every call at its own time; then the clock file goes on from the real time and
//!   the live traffic starts, with its starting cast joining. The first `GUILD_CREATE`s carry
//!   nobody in voice. It prints `the past is replayed` when done;
//! - `--token T`: accept only this bot token (default: any);
//! - `--verbose`: print one line per voice event.
//!
//! It prints where it listens, the seed and the guilds (ids, names, channels, who ends a call
//! first), then waits: simulated time starts when the first client identifies. Ctrl-C or
//! SIGTERM closes every connection (1001) and exits 0. Logs go to stderr through `tracing`,
//! quiet unless `RUST_LOG` asks.
//!
//! # Layout
//!
//! `spec` holds what tests describe (guilds, channels, voice members), `payload` turns the model
//! into Discord-shaped JSON, `state` is the model and the gateway rules (pure, under one lock),
//! `server` is the network edge, `compress` the zstd stream, `record` what was observed,
//! `gateway` the handle, and [`simulator`] the local simulator on top of the handle.
//!
//! # Example
//!
//! ```no_run
//! use callstats_fake_gateway::{ChannelSpec, FakeGateway, GuildSpec, VoiceFlags, VoiceMember};
//! use twilight_model::id::Id;
//!
//! # async fn example() -> Result<(), callstats_fake_gateway::Error> {
//! let fake = FakeGateway::builder()
//!     .heartbeat_interval(std::time::Duration::from_secs(1))
//!     .start()
//!     .await?;
//! let (guild, lounge, alice) = (Id::new(1 << 22), Id::new(10), Id::new(100));
//! fake.add_guild(
//!     GuildSpec::new(guild, "guild")
//!         .channel(ChannelSpec::voice(lounge, "lounge"))
//!         .voice_member(VoiceMember::new(alice, lounge)),
//! )?;
//! // Point a twilight shard at `fake.url()`, then:
//! fake.wait_for_identifies(1).await?;
//! fake.voice_update(guild, alice, None, VoiceFlags::default())?; // alice leaves
//! fake.shutdown().await;
//! # Ok(()) }
//! ```

// Outside input never panics the process: program code has no unwrap or expect.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod compress;
mod error;
mod gateway;
mod payload;
mod record;
mod server;
pub mod simulator;
mod spec;
mod state;

pub use self::{
    error::Error,
    gateway::{FakeGateway, FakeGatewayBuilder},
    record::{Activity, ConnectionId, Counters, Recorded},
    spec::{
        ChannelKind, ChannelSpec, DEFAULT_EVERYONE_PERMISSIONS, GuildSpec, Overwrite,
        OverwriteTarget, UserSpec, VIEW_CHANNEL, VoiceFlags, VoiceMember,
    },
    state::{Delivery, SessionInfo, shard_of},
};
pub use twilight_model::gateway::ShardId;

//! A test's world around the sidecar, and the steps tests take in it.
//!
//! A [`Scene`] is a fresh table, a fake gateway serving the test's guilds, a manual clock and
//! the sidecar running in-process; a [`ProcessScene`] is the same for the real program, which
//! the test starts, stops and kills itself (its clock a file). In both, a voice step is scripted
//! on the fake and waited for until the sidecar has handled it ([`Scene::join`],
//! [`Sidecar::join`](crate::sidecar::Sidecar::join), ...), so the next step happens after it.
//! What the store holds afterwards is read back with the helpers in [`dynamo`](crate::dynamo).

use std::time::Duration;

use callstats_core::{ChannelId, GuildId, Timestamp, UserId};
use callstats_fake_gateway::{FakeGateway, GuildSpec, VoiceFlags};
use callstats_sidecar::ManualClock;
use callstats_store::Store;

use crate::sidecar::{
    Options, ProcessClock, Sidecar, StateDir, WAIT, spawn_in_process, spawn_process,
};

/// A fake gateway with a short heartbeat interval serving `guilds`.
pub async fn fake_gateway(guilds: Vec<GuildSpec>) -> FakeGateway {
    let fake = FakeGateway::builder()
        .heartbeat_interval(Duration::from_millis(500))
        .start()
        .await
        .expect("start the fake gateway");
    for guild in guilds {
        fake.add_guild(guild).expect("add a guild");
    }
    fake
}

/// Everything an in-process test needs: a fresh table, a fake gateway with `guilds`, a manual
/// clock at `t0`, and the sidecar running and settled.
#[derive(Debug)]
pub struct Scene {
    pub store: Store,
    pub fake: FakeGateway,
    pub clock: ManualClock,
    pub sidecar: Sidecar,
    pub dir: StateDir,
}

/// A [`Scene`] with the default [`Options`].
pub async fn scene(guilds: Vec<GuildSpec>, t0: Timestamp) -> Scene {
    scene_with(guilds, t0, &Options::default()).await
}

/// A [`Scene`] with `options`.
pub async fn scene_with(guilds: Vec<GuildSpec>, t0: Timestamp, options: &Options) -> Scene {
    scene_on(crate::dynamo::fresh_store().await, guilds, t0, options).await
}

/// A [`Scene`] on a store the test prepared (guild configurations, opt-outs, ...).
pub async fn scene_on(
    store: Store,
    guilds: Vec<GuildSpec>,
    t0: Timestamp,
    options: &Options,
) -> Scene {
    let fake = fake_gateway(guilds).await;
    let clock = ManualClock::new(t0);
    let dir = StateDir::new();
    let sidecar = spawn_in_process(&store, &fake.url(), &clock, dir.path(), options).await;
    sidecar.wait_settled().await;
    Scene {
        store,
        fake,
        clock,
        sidecar,
        dir,
    }
}

impl Scene {
    /// Scripts a voice change on the fake gateway and waits until the sidecar has handled it.
    pub async fn voice(
        &self,
        guild: GuildId,
        user: UserId,
        channel: Option<ChannelId>,
        flags: VoiceFlags,
    ) {
        self.sidecar
            .voice(&self.fake, guild, user, channel, flags)
            .await;
    }

    /// `user` joins (or moves to) `channel` with no voice flag set.
    pub async fn join(&self, guild: GuildId, user: UserId, channel: ChannelId) {
        self.sidecar.join(&self.fake, guild, user, channel).await;
    }

    /// `user` leaves voice in `guild`.
    pub async fn leave(&self, guild: GuildId, user: UserId) {
        self.sidecar.leave(&self.fake, guild, user).await;
    }
}

/// Voice flags with only the named ones set (`flags(&[])`: none).
#[must_use]
pub fn flags(names: &[&str]) -> VoiceFlags {
    let mut f = VoiceFlags::default();
    for name in names {
        match *name {
            "self_mute" => f.self_mute = true,
            "self_deaf" => f.self_deaf = true,
            "mute" => f.mute = true,
            "deaf" => f.deaf = true,
            "self_stream" => f.self_stream = true,
            "self_video" => f.self_video = true,
            "suppress" => f.suppress = true,
            other => panic!("unknown voice flag {other}"),
        }
    }
    f
}

/// Everything a test of the sidecar program needs: a fresh table, a fake gateway with
/// `guilds`, a state directory, and the program's clock file at `t0`. The program itself is
/// started (and restarted) with [`ProcessScene::start`].
#[derive(Debug)]
pub struct ProcessScene {
    pub store: Store,
    pub fake: FakeGateway,
    pub dir: StateDir,
    pub clock: ProcessClock,
    pub options: Options,
}

/// A [`ProcessScene`]; nothing runs yet.
pub async fn process_scene(
    guilds: Vec<GuildSpec>,
    t0: Timestamp,
    options: Options,
) -> ProcessScene {
    let store = crate::dynamo::fresh_store().await;
    let fake = fake_gateway(guilds).await;
    let dir = StateDir::new();
    let clock = ProcessClock::new(dir.path(), t0);
    ProcessScene {
        store,
        fake,
        dir,
        clock,
        options,
    }
}

impl ProcessScene {
    /// Starts the program and waits until every shard is in sync.
    pub async fn start(&self) -> Sidecar {
        let sidecar = self.spawn(&[]).await;
        sidecar.wait_settled().await;
        sidecar
    }

    /// Starts the program with extra environment variables, without waiting for the shards.
    pub async fn spawn(&self, extra: &[(&str, &str)]) -> Sidecar {
        spawn_process(
            self.store.table().as_str(),
            &self.fake.url(),
            &self.clock,
            self.dir.path(),
            &self.options,
            extra,
        )
        .await
    }

    /// Waits until the store holds `at` as shard `shard`'s last heartbeat.
    pub async fn wait_heartbeat(&self, shard: u32, at: Timestamp) {
        self.wait_heartbeat_where(shard, &format!("at {at}"), |beat| beat == Some(at))
            .await;
    }

    /// Waits until shard `shard`'s last heartbeat in the store satisfies `done`.
    pub async fn wait_heartbeat_where(
        &self,
        shard: u32,
        what: &str,
        done: impl Fn(Option<Timestamp>) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if done(self.store.last_heartbeat(shard).await.ok().flatten()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no heartbeat {what} from shard {shard}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `d` of a `VOICE_STATE_UPDATE` as Discord sends it, for dispatching by hand.
#[must_use]
pub fn voice_state_json(
    guild: GuildId,
    user: UserId,
    channel: Option<ChannelId>,
    flags: VoiceFlags,
) -> serde_json::Value {
    serde_json::json!({
        "guild_id": guild.to_string(),
        "channel_id": channel.map(|c| c.to_string()),
        "user_id": user.to_string(),
        "member": {
            "user": {
                "id": user.to_string(),
                "username": format!("user{user}"),
                "discriminator": "0",
                "global_name": null,
                "avatar": null,
                "public_flags": 0
            },
            "nick": null,
            "avatar": null,
            "roles": [],
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "premium_since": null,
            "deaf": flags.deaf,
            "mute": flags.mute,
            "flags": 0,
            "pending": false,
            "communication_disabled_until": null
        },
        "session_id": "0f4b5a3c2d1e",
        "deaf": flags.deaf,
        "mute": flags.mute,
        "self_deaf": flags.self_deaf,
        "self_mute": flags.self_mute,
        "self_stream": flags.self_stream,
        "self_video": flags.self_video,
        "suppress": flags.suppress,
        "request_to_speak_timestamp": null
    })
}

//! A real twilight-gateway 0.18 `Shard` against the fake: identify, events, heartbeats,
//! resume, re-identify, fatal closes and sharding.

mod support;

use anyhow::{Context as _, ensure};
use callstats_fake_gateway::{
    Activity, ChannelSpec, Delivery, FakeGateway, GuildSpec, ShardId, VoiceFlags, VoiceMember,
    shard_of,
};
use std::time::Duration;
use support::{Seen, WAIT, spawn_shard};
use twilight_gateway::{Event, ShardState};
use twilight_model::{
    gateway::payload::incoming::GuildCreate,
    guild::Guild,
    id::{
        Id,
        marker::{ChannelMarker, GuildMarker, UserMarker},
    },
};

const GUILD: Id<GuildMarker> = Id::new(81_384_788_765_712_384);
const TEXT: Id<ChannelMarker> = Id::new(10);
const LOUNGE: Id<ChannelMarker> = Id::new(11);
const STAGE: Id<ChannelMarker> = Id::new(12);
const AFK: Id<ChannelMarker> = Id::new(13);
const ALICE: Id<UserMarker> = Id::new(100);
const MUSIC_BOT: Id<UserMarker> = Id::new(101);
const BOB: Id<UserMarker> = Id::new(102);

fn lounge_guild() -> GuildSpec {
    GuildSpec::new(GUILD, "study hall")
        .channel(ChannelSpec::text(TEXT, "general"))
        .channel(ChannelSpec::voice(LOUNGE, "lounge"))
        .channel(ChannelSpec::stage(STAGE, "stage"))
        .channel(ChannelSpec::voice(AFK, "afk"))
        .afk(AFK, 300)
        .voice_member(VoiceMember::new(ALICE, LOUNGE).flags(VoiceFlags {
            self_mute: true,
            ..VoiceFlags::default()
        }))
        .voice_member(VoiceMember::new(MUSIC_BOT, LOUNGE).bot())
}

async fn fake_with_guild(heartbeat: Duration) -> anyhow::Result<FakeGateway> {
    let fake = FakeGateway::builder()
        .heartbeat_interval(heartbeat)
        .start()
        .await?;
    fake.add_guild(lounge_guild())?;
    Ok(fake)
}

fn available(event: &Event) -> Option<Guild> {
    match event {
        Event::GuildCreate(create) => match create.as_ref() {
            GuildCreate::Available(guild) => Some(guild.clone()),
            GuildCreate::Unavailable(_) => None,
        },
        _ => None,
    }
}

#[tokio::test]
async fn identify_gets_ready_and_guild_create_with_voice_states_over_zstd() -> anyhow::Result<()> {
    let fake = fake_with_guild(Duration::from_secs(1)).await?;
    let mut shard = spawn_shard(&fake, "token", ShardId::ONE);

    let ready = shard
        .expect("READY", |e| match e {
            Event::Ready(ready) => Some(ready.clone()),
            _ => None,
        })
        .await?;
    ensure!(ready.resume_gateway_url == fake.resume_url());
    ensure!(ready.guilds.len() == 1 && ready.guilds[0].id == GUILD);
    ensure!(ready.user.bot && ready.shard == Some(ShardId::ONE));

    let guild = shard.expect("GUILD_CREATE", available).await?;
    ensure!(guild.afk_channel_id == Some(AFK));
    ensure!(guild.channels.len() == 4);
    ensure!(guild.voice_states.len() == 2);
    let alice = guild
        .voice_states
        .iter()
        .find(|v| v.user_id == ALICE)
        .context("alice's voice state")?;
    ensure!(alice.channel_id == Some(LOUNGE) && alice.self_mute);
    ensure!(alice.guild_id == Some(GUILD));
    let bot = guild
        .members
        .iter()
        .find(|m| m.user.id == MUSIC_BOT)
        .context("the music bot's member")?;
    ensure!(bot.user.bot);

    let connected = fake
        .records()
        .into_iter()
        .find_map(|r| match r.activity {
            Activity::Connected {
                query, compressed, ..
            } => Some((query, compressed)),
            _ => None,
        })
        .context("a connection record")?;
    ensure!(connected.1, "twilight asked for {:?}", connected.0);
    ensure!(connected.0.contains("compress=zstd-stream"));
    let identify = fake
        .records()
        .into_iter()
        .find(|r| r.op() == Some(2))
        .context("the IDENTIFY record")?;
    ensure!(identify.shard == Some(ShardId::ONE));
    ensure!(identify.json().and_then(|j| j["d"]["intents"].as_u64()) == Some(1 | 1 << 7));
    fake.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn scripted_voice_changes_arrive_as_voice_state_updates() -> anyhow::Result<()> {
    let fake = fake_with_guild(Duration::from_secs(1)).await?;
    let mut shard = spawn_shard(&fake, "token", ShardId::ONE);
    shard.expect("GUILD_CREATE", available).await?;

    let flags = VoiceFlags {
        self_deaf: true,
        self_stream: true,
        ..VoiceFlags::default()
    };
    let delivery = fake.voice_update(GUILD, BOB, Some(STAGE), flags)?;
    ensure!(
        matches!(delivery, Delivery::Sent { seq: 3, .. }),
        "{delivery:?}"
    );
    fake.set_user_bot(BOB, true);
    fake.voice_update(GUILD, BOB, None, VoiceFlags::default())?;

    let joined = shard
        .expect("VOICE_STATE_UPDATE", |e| match e {
            Event::VoiceStateUpdate(update) => Some(update.0.clone()),
            _ => None,
        })
        .await?;
    ensure!(joined.guild_id == Some(GUILD) && joined.user_id == BOB);
    ensure!(joined.channel_id == Some(STAGE) && joined.self_deaf && joined.self_stream);
    let member = joined.member.context("member in the update")?;
    ensure!(!member.user.bot);
    let left = shard
        .expect("VOICE_STATE_UPDATE", |e| match e {
            Event::VoiceStateUpdate(update) => Some(update.0.clone()),
            _ => None,
        })
        .await?;
    ensure!(left.channel_id.is_none() && left.session_id == joined.session_id);
    ensure!(left.member.is_some_and(|m| m.user.bot));
    ensure!(fake.voice_state(GUILD, BOB).is_none());
    Ok(())
}

#[tokio::test]
async fn heartbeat_acks_keep_the_shard_on_one_connection() -> anyhow::Result<()> {
    let fake = fake_with_guild(Duration::from_millis(250)).await?;
    let mut shard = spawn_shard(&fake, "token", ShardId::ONE);
    shard.expect("GUILD_CREATE", available).await?;
    let counters = fake.wait_for_heartbeats(6).await?;
    ensure!(counters.heartbeat_acks >= 6);
    ensure!(
        counters.connections == 1 && counters.ready == 1,
        "{counters:?}"
    );
    ensure!(counters.resumes == 0);
    let acks = shard
        .expect("a heartbeat ACK", |e| {
            matches!(e, Event::GatewayHeartbeatAck).then_some(())
        })
        .await;
    ensure!(acks.is_ok());
    Ok(())
}

#[tokio::test]
async fn withheld_heartbeat_acks_make_twilight_reconnect_and_resume() -> anyhow::Result<()> {
    let fake = fake_with_guild(Duration::from_millis(250)).await?;
    let mut shard = spawn_shard(&fake, "token", ShardId::ONE);
    shard.expect("GUILD_CREATE", available).await?;
    fake.set_heartbeat_ack(false);
    fake.wait_for_resumes(1).await?;
    fake.set_heartbeat_ack(true);
    let counters = fake.counters();
    ensure!(
        counters.connections >= 2 && counters.ready == 1,
        "{counters:?}"
    );
    let lost = fake.records().into_iter().any(|r| {
        matches!(
            r.activity,
            Activity::Disconnected {
                dropped_by_server: false
            }
        )
    });
    ensure!(
        lost,
        "the zombied connection should have been closed by the client"
    );
    shard
        .expect("RESUMED", |e| matches!(e, Event::Resumed).then_some(()))
        .await?;
    Ok(())
}

#[tokio::test]
async fn reconnect_resumes_and_replays_what_was_sent_while_disconnected() -> anyhow::Result<()> {
    let fake = fake_with_guild(Duration::from_secs(1)).await?;
    let mut shard = spawn_shard(&fake, "token", ShardId::ONE);
    shard.expect("GUILD_CREATE", available).await?;
    let session = fake.wait_for_session(ShardId::ONE).await?;

    // Keep the gateway unreachable so the shard stays disconnected after op 7.
    fake.set_accepting(false);
    fake.reconnect(ShardId::ONE)?;
    fake.wait_for(
        |r| matches!(r.activity, Activity::Disconnected { .. }),
        WAIT,
    )
    .await?;
    let first = fake.voice_update(GUILD, BOB, Some(LOUNGE), VoiceFlags::default())?;
    let second = fake.voice_update(GUILD, ALICE, None, VoiceFlags::default())?;
    ensure!(
        matches!(first, Delivery::Buffered { seq: 3, .. }),
        "{first:?}"
    );
    ensure!(
        matches!(second, Delivery::Buffered { seq: 4, .. }),
        "{second:?}"
    );
    fake.wait_counters(|c| c.refused >= 1, WAIT).await?;
    fake.set_accepting(true);

    let mut replayed = Vec::new();
    shard
        .expect("RESUMED", |e| match e {
            Event::VoiceStateUpdate(update) => {
                replayed.push((update.user_id, update.channel_id));
                None
            }
            Event::Resumed => Some(()),
            _ => None,
        })
        .await?;
    ensure!(
        replayed == [(BOB, Some(LOUNGE)), (ALICE, None)],
        "{replayed:?}"
    );

    let close = fake
        .records()
        .into_iter()
        .find_map(|r| match r.activity {
            Activity::Closed {
                code,
                by_server: false,
            } => Some(code),
            _ => None,
        })
        .context("the client's close frame")?;
    ensure!(
        close == Some(4000),
        "twilight closes with 4000 to resume, got {close:?}"
    );
    let resume = fake
        .records()
        .into_iter()
        .find(|r| r.op() == Some(6))
        .context("the RESUME record")?;
    let d = &resume.json().context("payload")?["d"];
    ensure!(
        d["session_id"] == session.id.as_str() && d["seq"] == 2,
        "{d}"
    );
    ensure!(fake.counters().ready == 1);
    Ok(())
}

#[tokio::test]
async fn dropped_connection_and_close_4000_resume() -> anyhow::Result<()> {
    let fake = fake_with_guild(Duration::from_secs(1)).await?;
    let mut shard = spawn_shard(&fake, "token", ShardId::ONE);
    shard.expect("GUILD_CREATE", available).await?;
    fake.wait_for_session(ShardId::ONE).await?;

    fake.drop_connection(ShardId::ONE)?;
    shard
        .expect("RESUMED after a drop", |e| {
            matches!(e, Event::Resumed).then_some(())
        })
        .await?;
    fake.close(ShardId::ONE, 4000)?;
    shard
        .expect("RESUMED after 4000", |e| {
            matches!(e, Event::Resumed).then_some(())
        })
        .await?;
    let counters = fake.counters();
    ensure!(counters.resumed == 2 && counters.ready == 1, "{counters:?}");
    let resumed_via = fake
        .records()
        .into_iter()
        .filter_map(|r| match r.activity {
            Activity::Connected { path, .. } => Some(path),
            _ => None,
        })
        .collect::<Vec<_>>();
    ensure!(
        resumed_via == ["/", "/resume/", "/resume/"],
        "{resumed_via:?}"
    );
    Ok(())
}

#[tokio::test]
async fn invalid_session_false_leads_to_a_fresh_identify_with_current_state() -> anyhow::Result<()>
{
    let fake = fake_with_guild(Duration::from_secs(1)).await?;
    let mut shard = spawn_shard(&fake, "token", ShardId::ONE);
    shard.expect("GUILD_CREATE", available).await?;
    fake.wait_for_session(ShardId::ONE).await?;

    fake.invalidate_session(ShardId::ONE, false)?;
    // Nobody owns the guild until the shard identifies again: the leave is only in the model.
    let leave = fake.voice_update(GUILD, ALICE, None, VoiceFlags::default())?;
    ensure!(leave == Delivery::NotDispatched, "{leave:?}");

    shard
        .expect("INVALID_SESSION", |e| {
            matches!(e, Event::GatewayInvalidateSession(false)).then_some(())
        })
        .await?;
    let guild = shard.expect("a fresh GUILD_CREATE", available).await?;
    ensure!(guild.voice_states.len() == 1);
    ensure!(guild.voice_states.iter().all(|v| v.user_id == MUSIC_BOT));
    let counters = fake.counters();
    ensure!(counters.ready == 2 && counters.resumes == 0, "{counters:?}");
    Ok(())
}

#[tokio::test]
async fn invalid_session_true_resumes() -> anyhow::Result<()> {
    let fake = fake_with_guild(Duration::from_secs(1)).await?;
    let mut shard = spawn_shard(&fake, "token", ShardId::ONE);
    shard.expect("GUILD_CREATE", available).await?;
    fake.wait_for_session(ShardId::ONE).await?;
    fake.invalidate_session(ShardId::ONE, true)?;
    shard
        .expect("RESUMED", |e| matches!(e, Event::Resumed).then_some(()))
        .await?;
    ensure!(fake.counters().ready == 1);
    Ok(())
}

#[tokio::test]
async fn a_refused_token_gets_4004_and_twilight_gives_up() -> anyhow::Result<()> {
    let fake = FakeGateway::builder()
        .heartbeat_interval(Duration::from_secs(1))
        .accept_tokens(["good"])
        .start()
        .await?;
    let mut shard = spawn_shard(&fake, "bad", ShardId::ONE);
    let (seen, state) = shard.until_end().await?;
    ensure!(state == ShardState::FatallyClosed, "{state:?}");
    let close = seen.iter().find_map(|s| match s {
        Seen::Event(event) => match event.as_ref() {
            Event::GatewayClose(frame) => Some(frame.as_ref().map(|f| f.code)),
            _ => None,
        },
        _ => None,
    });
    ensure!(close == Some(Some(4004)), "{seen:?}");
    ensure!(fake.last_close_code() == Some(4004));
    ensure!(fake.counters().ready == 0 && fake.counters().connections == 1);

    let mut good = spawn_shard(&fake, "Bot good", ShardId::ONE);
    good.expect("READY", |e| matches!(e, Event::Ready(_)).then_some(()))
        .await?;
    Ok(())
}

#[tokio::test]
async fn two_shards_each_get_only_their_guilds() -> anyhow::Result<()> {
    let fake = FakeGateway::builder()
        .heartbeat_interval(Duration::from_secs(1))
        .start()
        .await?;
    for index in 0..6 {
        fake.add_guild(GuildSpec::synthetic(index, 2, 4))?;
    }
    let shards = [ShardId::new(0, 2), ShardId::new(1, 2)];
    let mut running: Vec<_> = shards
        .iter()
        .map(|&id| spawn_shard(&fake, "token", id))
        .collect();
    for (shard, runner) in shards.iter().zip(&mut running) {
        let ready = runner
            .expect("READY", |e| match e {
                Event::Ready(ready) => Some(ready.clone()),
                _ => None,
            })
            .await?;
        ensure!(ready.shard == Some(*shard));
        ensure!(ready.guilds.len() == 3, "{:?}", ready.guilds);
        for _ in 0..3 {
            let guild = runner.expect("GUILD_CREATE", available).await?;
            ensure!(shard_of(guild.id, 2) == shard.number());
            ensure!(guild.voice_states.len() == 4);
        }
    }

    // A voice change goes to the shard owning the guild, and only there.
    let guild = GuildSpec::synthetic(1, 2, 4);
    let owner = shard_of(guild.id, 2) as usize;
    fake.voice_update(
        guild.id,
        Id::new(5),
        Some(guild.channels[1].id),
        VoiceFlags::default(),
    )?;
    let update = running[owner]
        .expect("VOICE_STATE_UPDATE", |e| match e {
            Event::VoiceStateUpdate(update) => Some(update.guild_id),
            _ => None,
        })
        .await?;
    ensure!(update == Some(guild.id));
    let other = &mut running[1 - owner];
    let stray = tokio::time::timeout(Duration::from_millis(300), other.next()).await;
    ensure!(
        !matches!(&stray, Ok(Ok(Seen::Event(e))) if matches!(e.as_ref(), Event::VoiceStateUpdate(_))),
        "{stray:?}"
    );
    Ok(())
}

#[tokio::test]
async fn guild_outage_and_recovery_reach_the_shard() -> anyhow::Result<()> {
    let fake = fake_with_guild(Duration::from_secs(1)).await?;
    let mut shard = spawn_shard(&fake, "token", ShardId::ONE);
    shard.expect("GUILD_CREATE", available).await?;

    fake.guild_delete(GUILD, true)?;
    fake.voice_update(GUILD, ALICE, None, VoiceFlags::default())?;
    fake.guild_create_again(GUILD)?;
    let outage = shard
        .expect("GUILD_DELETE", |e| match e {
            Event::GuildDelete(delete) => Some(delete.unavailable),
            Event::VoiceStateUpdate(_) => Some(None),
            _ => None,
        })
        .await?;
    ensure!(outage == Some(true), "no voice event during an outage");
    let guild = shard.expect("GUILD_CREATE", available).await?;
    ensure!(guild.voice_states.len() == 1);

    // Bot joins another guild while connected.
    fake.add_guild(GuildSpec::synthetic(7, 1, 2))?;
    let joined = shard.expect("GUILD_CREATE", available).await?;
    ensure!(joined.voice_states.len() == 2);
    Ok(())
}

#[tokio::test]
async fn shutdown_closes_every_connection() -> anyhow::Result<()> {
    let fake = fake_with_guild(Duration::from_secs(1)).await?;
    let mut shard = spawn_shard(&fake, "token", ShardId::ONE);
    shard.expect("GUILD_CREATE", available).await?;
    fake.shutdown().await;
    ensure!(fake.open_connections() == 0);
    let close = shard
        .expect("the close frame", |e| match e {
            Event::GatewayClose(frame) => Some(frame.as_ref().map(|f| f.code)),
            _ => None,
        })
        .await?;
    ensure!(close == Some(1001), "{close:?}");
    Ok(())
}

#[tokio::test]
async fn raw_dispatches_heartbeat_requests_and_fleet_wide_faults() -> anyhow::Result<()> {
    // A long interval, so a heartbeat within a second almost surely answers our request
    // (twilight's first heartbeat comes after a random part of the interval).
    let fake = fake_with_guild(Duration::from_mins(1)).await?;
    let mut shard = spawn_shard(&fake, "token", ShardId::ONE);
    shard.expect("GUILD_CREATE", available).await?;

    let channel = serde_json::json!({
        "id": "20", "type": 2, "guild_id": GUILD.to_string(), "name": "new room",
        "position": 5, "permission_overwrites": [], "bitrate": 64000, "user_limit": 0,
    });
    fake.dispatch_raw(ShardId::ONE, "CHANNEL_CREATE", &channel)?;
    let created = shard
        .expect("CHANNEL_CREATE", |e| match e {
            Event::ChannelCreate(c) => Some(c.id),
            _ => None,
        })
        .await?;
    ensure!(created == Id::new(20));
    ensure!(
        fake.dispatch_raw(ShardId::ONE, "bad name", &channel)
            .is_err()
    );
    ensure!(
        fake.dispatch_raw(ShardId::new(1, 2), "CHANNEL_CREATE", &channel)
            .is_err()
    );

    let before = fake.counters().heartbeats;
    fake.request_heartbeat(ShardId::ONE)?;
    fake.wait_counters(|c| c.heartbeats > before, Duration::from_secs(1))
        .await?;

    fake.drop_all();
    shard
        .expect("RESUMED after dropping everyone", |e| {
            matches!(e, Event::Resumed).then_some(())
        })
        .await?;
    fake.close_all(4000)?;
    shard
        .expect("RESUMED after closing everyone", |e| {
            matches!(e, Event::Resumed).then_some(())
        })
        .await?;
    ensure!(fake.close_all(1005).is_err(), "1005 is reserved");
    ensure!(fake.counters().ready == 1);
    Ok(())
}

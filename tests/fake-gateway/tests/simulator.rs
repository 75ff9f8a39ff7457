//! The simulator's driver against a real twilight-gateway 0.18 `Shard`: the first
//! `GUILD_CREATE`s carry the simulated voice states, then every simulated event arrives as a
//! `VOICE_STATE_UPDATE`, in order.

mod support;

use anyhow::{Context as _, ensure};
use callstats_fake_gateway::{
    Delivery, FakeGateway, ShardId,
    simulator::{self, Config, Event, Simulation, Speed},
};
use std::{collections::BTreeMap, time::Duration};
use support::{RunningShard, spawn_shard};
use tokio::sync::{mpsc, oneshot};
use twilight_gateway::Event as GatewayEvent;
use twilight_model::gateway::payload::incoming::GuildCreate;

/// Events to follow through the shard.
const EVENTS: usize = 40;

#[tokio::test]
async fn simulated_traffic_reaches_a_twilight_shard() -> anyhow::Result<()> {
    let fake = FakeGateway::builder()
        .heartbeat_interval(Duration::from_secs(1))
        .start()
        .await?;
    let mut sim = Simulation::new(&Config::new(77, 2, 12)?);
    simulator::install(&fake, &sim)?;
    let mut shard = spawn_shard(&fake, "token", ShardId::ONE);
    simulator::wait_for_client(&fake).await?;

    // Every guild arrives with who is in voice, bots flagged.
    check_guild_creates(&mut shard, &sim).await?;

    // Play fast; each event the driver sends must come out of the shard, in order.
    let (sent_tx, mut sent_rx) = mpsc::unbounded_channel::<(Event, Delivery)>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let speed = Speed::new(200.0)?;
    let driver = {
        let fake = fake.clone();
        tokio::spawn(async move {
            let stop = async {
                let _ = stop_rx.await;
            };
            simulator::play(&fake, &mut sim, speed, stop, |_, e, d| {
                let _ = sent_tx.send((e.clone(), d.clone()));
            })
            .await
            .map(|()| sim)
        })
    };
    let mut left = 0;
    for _ in 0..EVENTS {
        let (event, delivery) = tokio::time::timeout(support::WAIT, sent_rx.recv())
            .await
            .context("the driver sending")?
            .context("the driver stopped")?;
        ensure!(matches!(delivery, Delivery::Sent { .. }), "{delivery:?}");
        let update = shard
            .expect("VOICE_STATE_UPDATE", |e| match e {
                GatewayEvent::VoiceStateUpdate(update) => Some(update.clone()),
                _ => None,
            })
            .await?;
        ensure!(
            update.guild_id == Some(event.guild),
            "{update:?} for {event:?}"
        );
        ensure!(update.user_id == event.user, "{update:?} for {event:?}");
        ensure!(
            update.channel_id == event.channel,
            "{update:?} for {event:?}"
        );
        ensure!(update.self_mute == event.flags.self_mute);
        ensure!(update.self_deaf == event.flags.self_deaf);
        ensure!(update.self_stream == event.flags.self_stream);
        ensure!(update.self_video == event.flags.self_video);
        ensure!(update.suppress == event.flags.suppress);
        let bot = update.member.as_ref().is_some_and(|m| m.user.bot);
        ensure!(bot == event.bot, "{update:?} for {event:?}");
        left += usize::from(event.channel.is_none());
    }
    ensure!(left >= 2, "the opening act ends calls early");

    // Stopping the driver leaves the fake and the simulation agreeing on who is where.
    let _ = stop_tx.send(());
    let sim = driver.await??;
    for person in sim.world().people() {
        let fake_state = sim
            .world()
            .guilds()
            .iter()
            .find_map(|g| fake.voice_state(g.id, person.id).map(|(c, f)| (g.id, c, f)));
        ensure!(
            fake_state == sim.voice_state(person.id),
            "{}: fake {fake_state:?}, sim {:?}",
            person.name,
            sim.voice_state(person.id)
        );
    }
    ensure!(sim.now() > Duration::ZERO);
    fake.shutdown().await;
    Ok(())
}

/// The `GUILD_CREATE` of every simulated guild carries the simulation's voice states.
async fn check_guild_creates(shard: &mut RunningShard, sim: &Simulation) -> anyhow::Result<()> {
    let world = sim.world();
    let expected: BTreeMap<_, _> = sim.guild_specs().into_iter().map(|s| (s.id, s)).collect();
    for _ in 0..expected.len() {
        let guild = shard
            .expect("GUILD_CREATE", |e| match e {
                GatewayEvent::GuildCreate(create) => match create.as_ref() {
                    GuildCreate::Available(guild) => Some(guild.clone()),
                    GuildCreate::Unavailable(_) => None,
                },
                _ => None,
            })
            .await?;
        let spec = expected.get(&guild.id).context("a simulated guild")?;
        ensure!(guild.name == spec.name);
        ensure!(guild.afk_channel_id == spec.afk_channel);
        ensure!(guild.voice_states.len() == spec.voice.len() && spec.voice.len() >= 5);
        for member in &spec.voice {
            let state = guild
                .voice_states
                .iter()
                .find(|v| v.user_id == member.user)
                .context("a voice state per simulated member")?;
            ensure!(state.channel_id == Some(member.channel));
            ensure!(state.self_mute == member.flags.self_mute);
            let account = guild
                .members
                .iter()
                .find(|m| m.user.id == member.user)
                .context("a member per voice state")?;
            ensure!(account.user.bot == member.bot);
            let person = world.person(member.user).context("a simulated person")?;
            ensure!(account.user.name == person.name);
        }
        ensure!(
            spec.voice.iter().any(|m| m.bot),
            "a bot in voice at the start"
        );
    }
    Ok(())
}

/// A past replayed to a real twilight shard whose owner stamps each event with a shared clock
/// when it handles it, as the sidecar does with its clock file: every event is stamped with
/// its own instant, because the replay waits for the shard before the clock moves on.
#[tokio::test]
async fn a_replayed_past_reaches_a_client_at_its_own_instants() -> anyhow::Result<()> {
    use std::sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    };
    use twilight_gateway::{ConfigBuilder, EventTypeFlags, Intents, Shard, StreamExt as _};

    // Heartbeats of their own every 200 ms as well, to be told apart from the asked ones.
    let fake = FakeGateway::builder()
        .heartbeat_interval(Duration::from_millis(200))
        .start()
        .await?;
    let sim = Simulation::new(&Config::new(5, 2, 10)?);
    simulator::install_without_voice(&fake, &sim)?;
    let until = 1_795_618_800;
    let past = simulator::past(sim.world(), 5, until, 3);
    ensure!(past.len() > 100, "{} events", past.len());

    let clock = Arc::new(AtomicI64::new(until - 4 * 86_400));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = ConfigBuilder::new(
        "token".to_owned(),
        Intents::GUILDS | Intents::GUILD_VOICE_STATES,
    )
    .proxy_url(fake.url())
    .queue(support::InstantQueue)
    .build();
    let mut shard = Shard::with_config(ShardId::ONE, config);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stamper = {
        let clock = Arc::clone(&clock);
        tokio::spawn(async move {
            let mut handled = 0_u32;
            while let Some(item) = shard.next_event(EventTypeFlags::all()).await {
                match item {
                    Ok(GatewayEvent::GuildCreate(create)) => {
                        if let GuildCreate::Available(guild) = create.as_ref() {
                            let _ = tx.send(Err(guild.voice_states.len()));
                        }
                    }
                    Ok(GatewayEvent::VoiceStateUpdate(update)) => {
                        // A slow owner now and then: the clock must still wait for it.
                        handled += 1;
                        if handled.is_multiple_of(7) {
                            tokio::time::sleep(Duration::from_millis(3)).await;
                        }
                        let _ = tx.send(Ok((update.0, clock.load(Ordering::SeqCst))));
                    }
                    _ => {}
                }
            }
        })
    };
    simulator::wait_for_client(&fake).await?;
    let replay = {
        let clock = Arc::clone(&clock);
        simulator::replay_past(&fake, &past, move |at| {
            clock.store(at, Ordering::SeqCst);
            Ok::<(), callstats_fake_gateway::Error>(())
        })
    };
    tokio::time::timeout(Duration::from_mins(2), replay)
        .await
        .context("the replay")??;

    let mut got = Vec::new();
    let mut empty_guilds = 0;
    while got.len() < past.len() {
        match tokio::time::timeout(support::WAIT, rx.recv())
            .await
            .context("the shard's events")?
            .context("the shard stopped")?
        {
            Ok(event) => got.push(event),
            Err(in_voice) => {
                ensure!(in_voice == 0, "{in_voice} in voice before the past");
                empty_guilds += 1;
            }
        }
    }
    ensure!(empty_guilds == 2, "{empty_guilds} GUILD_CREATEs");
    for (event, (update, stamp)) in past.iter().zip(&got) {
        ensure!(
            (update.user_id, update.channel_id, update.guild_id)
                == (event.user, event.channel, Some(event.guild)),
            "{update:?} for {event:?}"
        );
        ensure!(update.self_mute == event.flags.self_mute);
        ensure!(*stamp == event.at, "stamped {stamp} for {event:?}");
    }

    // Then the live cast arrives.
    let arrivals = simulator::arrive(&fake, &sim)?;
    ensure!(arrivals.len() >= 10, "{} arrived", arrivals.len());
    stamper.abort();
    fake.shutdown().await;
    Ok(())
}

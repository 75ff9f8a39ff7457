//! The load benchmark's sizes: 2,500 guilds with 50,000 users in voice as one GUILD_CREATE
//! burst, then 1,000 users changing voice state at once, through a real twilight shard.

mod support;

use anyhow::ensure;
use callstats_fake_gateway::{FakeGateway, GuildSpec, ShardId, VoiceFlags};
use std::time::{Duration, Instant};
use support::spawn_shard;
use twilight_gateway::Event;
use twilight_model::gateway::payload::incoming::GuildCreate;

const GUILDS: u64 = 2_500;
const IN_VOICE_PER_GUILD: u64 = 20;
const BURST: u64 = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_2500_guilds_and_1000_voice_updates() -> anyhow::Result<()> {
    let fake = FakeGateway::builder()
        .heartbeat_interval(Duration::from_secs(5))
        .start()
        .await?;
    let specs: Vec<GuildSpec> = (0..GUILDS)
        .map(|index| GuildSpec::synthetic(index, 4, IN_VOICE_PER_GUILD))
        .collect();
    for spec in specs.iter().cloned() {
        fake.add_guild(spec)?;
    }

    let started = Instant::now();
    let mut shard = spawn_shard(&fake, "token", ShardId::ONE);
    let mut guilds = 0;
    let mut voice_states = 0;
    while guilds < GUILDS {
        let count = shard
            .expect("GUILD_CREATE", |e| match e {
                Event::GuildCreate(create) => match create.as_ref() {
                    GuildCreate::Available(guild) => Some(guild.voice_states.len()),
                    GuildCreate::Unavailable(_) => None,
                },
                _ => None,
            })
            .await?;
        guilds += 1;
        voice_states += count as u64;
    }
    let identify_burst = started.elapsed();
    ensure!(voice_states == GUILDS * IN_VOICE_PER_GUILD);

    // 1,000 users in 50 guilds leave at once.
    let started = Instant::now();
    let leaving = specs
        .iter()
        .take(50)
        .flat_map(|spec| spec.voice.iter().map(move |member| (spec.id, member.user)));
    for (guild, user) in leaving.take(BURST as usize) {
        fake.voice_update(guild, user, None, VoiceFlags::default())?;
    }
    let mut updates = 0;
    while updates < BURST {
        shard
            .expect("VOICE_STATE_UPDATE", |e| {
                matches!(e, Event::VoiceStateUpdate(u) if u.channel_id.is_none()).then_some(())
            })
            .await?;
        updates += 1;
    }
    let update_burst = started.elapsed();
    println!("identify burst {identify_burst:?}, {BURST} updates {update_burst:?}");
    ensure!(fake.counters().dispatches == 1 + GUILDS + BURST);
    Ok(())
}

//! The model's rules, driven through client payloads and scripted changes, with every frame
//! read back through twilight-model.

use super::{Delivery, Options, Outgoing, Reply, State};
use crate::{
    payload::BotIdentity,
    spec::{ChannelSpec, GuildSpec, VoiceFlags, VoiceMember},
};
use serde::de::DeserializeSeed;
use std::collections::HashSet;
use tokio::sync::mpsc::{self, UnboundedReceiver};
use twilight_model::{
    channel::ChannelType,
    gateway::{
        ShardId,
        event::{DispatchEvent, GatewayEvent, GatewayEventDeserializer},
        payload::incoming::GuildCreate,
    },
    id::Id,
};

fn options(tokens: Option<&[&str]>) -> Options {
    Options {
        heartbeat_interval_ms: 1_000,
        tokens: tokens.map(|t| t.iter().map(|s| (*s).to_owned()).collect::<HashSet<_>>()),
        bot: BotIdentity {
            user_id: Id::new(7),
            name: "bot".to_owned(),
            application_id: Id::new(7),
        },
        replay_limit: 100,
        allow_privileged_intents: true,
    }
}

fn parse(frame: &str) -> GatewayEvent {
    let deserializer = GatewayEventDeserializer::from_json(frame).unwrap();
    let mut json = serde_json::Deserializer::from_str(frame);
    deserializer.deserialize(&mut json).unwrap()
}

fn drain(rx: &mut UnboundedReceiver<Outgoing>) -> Vec<(u64, DispatchEvent)> {
    let mut events = Vec::new();
    while let Ok(outgoing) = rx.try_recv() {
        let Outgoing::Frame(frame) = outgoing else {
            panic!("expected a frame, got {outgoing:?}");
        };
        match parse(&frame) {
            GatewayEvent::Dispatch(seq, event) => events.push((seq, event)),
            other => panic!("expected a dispatch, got {other:?}"),
        }
    }
    events
}

fn identify(token: &str, shard: [u32; 2], intents: u64) -> String {
    serde_json::json!({
        "op": 2,
        "d": {
            "token": token,
            "intents": intents,
            "shard": shard,
            "properties": {"os": "linux", "browser": "test", "device": "test"},
        }
    })
    .to_string()
}

fn lounge_guild() -> GuildSpec {
    GuildSpec::new(Id::new(1 << 22), "guild")
        .channel(ChannelSpec::text(Id::new(10), "general"))
        .channel(ChannelSpec::voice(Id::new(11), "lounge"))
        .channel(ChannelSpec::stage(Id::new(12), "stage"))
        .afk(Id::new(11), 900)
        .voice_member(VoiceMember::new(Id::new(100), Id::new(11)))
        .voice_member(
            VoiceMember::new(Id::new(101), Id::new(12))
                .bot()
                .flags(VoiceFlags {
                    suppress: true,
                    self_mute: true,
                    ..VoiceFlags::default()
                }),
        )
}

#[test]
fn every_payload_deserializes_with_twilight_model() {
    let mut state = State::new(options(None), "ws://127.0.0.1:1/resume".to_owned());
    state.add_guild(lounge_guild()).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn = state.open_connection(tx);

    let reply = state.client_text(conn, &identify("Bot token", [0, 1], 1 | 1 << 7), true);
    assert_eq!(reply, Reply::None);
    let events = drain(&mut rx);
    assert_eq!(events.len(), 2);
    let (seq, DispatchEvent::Ready(ready)) = &events[0] else {
        panic!("expected READY first");
    };
    assert_eq!(*seq, 1);
    assert_eq!(ready.resume_gateway_url, "ws://127.0.0.1:1/resume");
    assert_eq!(ready.shard, Some(ShardId::ONE));
    assert_eq!(ready.guilds.len(), 1);
    assert!(ready.user.bot);
    let (2, DispatchEvent::GuildCreate(create)) = &events[1] else {
        panic!("expected GUILD_CREATE second");
    };
    let GuildCreate::Available(guild) = create.as_ref() else {
        panic!("guild should be available");
    };
    assert_eq!(guild.afk_channel_id, Some(Id::new(11)));
    assert_eq!(guild.afk_timeout.get(), 900);
    assert_eq!(guild.channels.len(), 3);
    assert_eq!(guild.channels[1].kind, ChannelType::GuildVoice);
    assert_eq!(guild.channels[2].kind, ChannelType::GuildStageVoice);
    assert_eq!(guild.voice_states.len(), 2);
    assert!(
        guild
            .voice_states
            .iter()
            .all(|v| v.guild_id == Some(guild.id))
    );
    let on_stage = guild
        .voice_states
        .iter()
        .find(|v| v.user_id == Id::new(101))
        .unwrap();
    assert!(on_stage.suppress && on_stage.self_mute);
    let bot_member = guild
        .members
        .iter()
        .find(|m| m.user.id == Id::new(101))
        .unwrap();
    assert!(bot_member.user.bot);
    let human = guild
        .members
        .iter()
        .find(|m| m.user.id == Id::new(100))
        .unwrap();
    assert!(!human.user.bot);

    // Join, move, flag change, leave.
    let g = Id::new(1 << 22);
    let deliveries = [
        state.voice_update(g, Id::new(200), Some(Id::new(11)), VoiceFlags::default()),
        state.voice_update(g, Id::new(200), Some(Id::new(12)), VoiceFlags::default()),
        state.voice_update(
            g,
            Id::new(200),
            Some(Id::new(12)),
            VoiceFlags {
                self_deaf: true,
                self_stream: true,
                self_video: true,
                mute: true,
                deaf: true,
                ..VoiceFlags::default()
            },
        ),
        state.voice_update(g, Id::new(200), None, VoiceFlags::default()),
    ];
    assert!(
        deliveries
            .iter()
            .all(|d| matches!(d, Ok(Delivery::Sent { .. })))
    );
    let events = drain(&mut rx);
    let updates: Vec<_> = events
        .iter()
        .map(|(seq, event)| match event {
            DispatchEvent::VoiceStateUpdate(update) => (*seq, &update.0),
            other => panic!("expected VOICE_STATE_UPDATE, got {other:?}"),
        })
        .collect();
    assert_eq!(
        updates.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [3, 4, 5, 6]
    );
    assert_eq!(updates[0].1.channel_id, Some(Id::new(11)));
    assert_eq!(updates[0].1.guild_id, Some(g));
    assert_eq!(updates[0].1.member.as_ref().unwrap().user.id, Id::new(200));
    assert_eq!(updates[1].1.channel_id, Some(Id::new(12)));
    assert!(updates[2].1.self_deaf && updates[2].1.self_stream && updates[2].1.self_video);
    assert_eq!(updates[3].1.channel_id, None);
    assert_eq!(updates[0].1.session_id, updates[3].1.session_id);

    // Outage, voice change during it (not dispatched), recovery with current state.
    state.guild_delete(g, true).unwrap();
    assert_eq!(
        state
            .voice_update(g, Id::new(100), None, VoiceFlags::default())
            .unwrap(),
        Delivery::NotDispatched
    );
    state.guild_create_again(g).unwrap();
    let events = drain(&mut rx);
    assert!(matches!(
        &events[0].1,
        DispatchEvent::GuildDelete(d) if d.unavailable == Some(true)
    ));
    let DispatchEvent::GuildCreate(create) = &events[1].1 else {
        panic!("expected GUILD_CREATE after the outage");
    };
    let GuildCreate::Available(guild) = create.as_ref() else {
        panic!("guild should be available again");
    };
    assert_eq!(guild.voice_states.len(), 1);

    // Removal.
    state.guild_delete(g, false).unwrap();
    let events = drain(&mut rx);
    assert!(matches!(
        &events[0].1,
        DispatchEvent::GuildDelete(d) if d.unavailable.is_none()
    ));

    // A guild in an outage at IDENTIFY time comes as an unavailable GUILD_CREATE.
    state.add_guild(lounge_guild()).unwrap();
    state.guild_delete(g, true).unwrap();
    let (tx, mut rx2) = mpsc::unbounded_channel();
    let second = state.open_connection(tx);
    state.client_text(second, &identify("t", [0, 1], 1), true);
    let events = drain(&mut rx2);
    assert!(matches!(
        &events[1].1,
        DispatchEvent::GuildCreate(c) if matches!(c.as_ref(), GuildCreate::Unavailable(_))
    ));
    // The newest session owns the guild now; the first one gets nothing more.
    drain(&mut rx);
    state.guild_create_again(g).unwrap();
    assert!(drain(&mut rx).is_empty());
    assert_eq!(drain(&mut rx2).len(), 1);
}

#[test]
fn resume_replays_what_was_missed_then_resumed() {
    let mut state = State::new(options(None), "ws://x/resume".to_owned());
    state.add_guild(lounge_guild()).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let first = state.open_connection(tx);
    state.client_text(first, &identify("t", [0, 1], 1 << 7), true);
    let session = state.session_info(ShardId::ONE).unwrap();
    assert_eq!(drain(&mut rx).len(), 2);
    state.close_connection(first, false);

    let g = Id::new(1 << 22);
    let buffered = state
        .voice_update(g, Id::new(100), None, VoiceFlags::default())
        .unwrap();
    assert!(matches!(buffered, Delivery::Buffered { seq: 3, .. }));

    let (tx, mut rx) = mpsc::unbounded_channel();
    let second = state.open_connection(tx);
    let resume = serde_json::json!({
        "op": 6, "d": {"token": "Bot t", "session_id": session.id, "seq": 2}
    });
    assert_eq!(
        state.client_text(second, &resume.to_string(), true),
        Reply::None
    );
    let events = drain(&mut rx);
    assert_eq!(events.len(), 2);
    assert!(matches!(events[0], (3, DispatchEvent::VoiceStateUpdate(_))));
    assert!(matches!(events[1], (4, DispatchEvent::Resumed)));

    // A resume of an ended session is refused.
    state.client_closed(second, Some(1000), false);
    let (tx, _rx) = mpsc::unbounded_channel();
    let third = state.open_connection(tx);
    let reply = state.client_text(third, &resume.to_string(), true);
    let Reply::Send(frame) = reply else {
        panic!("expected INVALID_SESSION");
    };
    assert!(matches!(
        parse(&frame),
        GatewayEvent::InvalidateSession(false)
    ));
}

#[test]
fn client_mistakes_close_with_discord_codes() {
    let mut state = State::new(options(Some(&["good"])), "ws://x/resume".to_owned());
    let (tx, _rx) = mpsc::unbounded_channel();
    let conn = state.open_connection(tx);
    assert_eq!(
        state.client_text(conn, "not json", true),
        Reply::Close(4002)
    );
    assert_eq!(
        state.client_text(conn, r#"{"op":99}"#, true),
        Reply::Close(4001)
    );
    assert_eq!(
        state.client_text(conn, r#"{"op":3,"d":{}}"#, true),
        Reply::Close(4003)
    );
    assert_eq!(
        state.client_text(conn, &identify("Bot bad", [0, 1], 1), true),
        Reply::Close(4004)
    );
    assert_eq!(
        state.client_text(conn, &identify("good", [2, 2], 1), true),
        Reply::Close(4010)
    );
    let Reply::Send(ack) = state.client_text(conn, r#"{"op":1,"d":null}"#, true) else {
        panic!("expected an ACK");
    };
    assert!(matches!(parse(&ack), GatewayEvent::HeartbeatAck));
    assert_eq!(
        state.client_text(conn, r#"{"op":1,"d":null}"#, false),
        Reply::None
    );
    assert_eq!(
        state.client_text(conn, &identify("Bot good", [0, 1], 1), true),
        Reply::None
    );
    assert_eq!(
        state.client_text(conn, &identify("Bot good", [0, 1], 1), true),
        Reply::Close(4005)
    );
    assert_eq!(state.counters.rejected, 6);
    assert_eq!(state.counters.heartbeats, 2);
}

#[test]
fn sharding_sends_each_guild_to_its_shard_only() {
    let mut state = State::new(options(None), "ws://x/resume".to_owned());
    for index in 0..10 {
        state.add_guild(GuildSpec::synthetic(index, 2, 3)).unwrap();
    }
    let mut seen = Vec::new();
    for number in 0..2 {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let conn = state.open_connection(tx);
        state.client_text(conn, &identify("t", [number, 2], 1), true);
        let guilds: Vec<_> = drain(&mut rx)
            .into_iter()
            .filter_map(|(_, event)| match event {
                DispatchEvent::GuildCreate(create) => Some(create.id()),
                _ => None,
            })
            .collect();
        assert_eq!(guilds.len(), 5);
        assert!(guilds.iter().all(|g| super::shard_of(*g, 2) == number));
        seen.extend(guilds);
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 10);
}

#[test]
fn only_the_newest_disconnected_sessions_of_a_shard_stay_resumable() {
    let mut state = State::new(options(None), "ws://x/resume".to_owned());
    let mut ids = Vec::new();
    for _ in 0..12 {
        let (tx, _rx) = mpsc::unbounded_channel();
        let conn = state.open_connection(tx);
        state.client_text(conn, &identify("t", [0, 1], 1), true);
        ids.push(state.session_info(ShardId::ONE).unwrap().id);
        state.close_connection(conn, true);
    }
    let (tx, _rx) = mpsc::unbounded_channel();
    let conn = state.open_connection(tx);
    state.client_text(conn, &identify("t", [0, 1], 1), true);
    let kept: Vec<bool> = ids
        .iter()
        .map(|id| state.sessions.contains_key(id))
        .collect();
    assert_eq!(
        kept.iter().filter(|k| **k).count(),
        super::client::SESSIONS_KEPT_PER_SHARD
    );
    assert!(
        kept[12 - super::client::SESSIONS_KEPT_PER_SHARD..]
            .iter()
            .all(|k| *k)
    );
}

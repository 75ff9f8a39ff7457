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

#[test]
fn names_permissions_and_channel_events_deserialize_with_twilight_model() {
    use crate::spec::{DEFAULT_EVERYONE_PERMISSIONS, UserSpec, VIEW_CHANNEL};
    use twilight_model::{
        channel::permission_overwrite::PermissionOverwriteType, guild::Permissions,
    };
    let g = Id::new(1 << 22);
    let mut state = State::new(options(None), "ws://127.0.0.1:1/resume".to_owned());
    state.set_user(Id::new(100), UserSpec::new("ada").global_name("Ada"));
    state.set_user(Id::new(102), UserSpec::new("bruno"));
    state
        .add_guild(
            lounge_guild()
                .channel(ChannelSpec::voice(Id::new(13), "staff").private(Id::new(55)))
                .nickname(Id::new(102), "Bru")
                .voice_member(VoiceMember::new(Id::new(102), Id::new(13))),
        )
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn = state.open_connection(tx);
    state.client_text(conn, &identify("Bot token", [0, 1], 1 | 1 << 7), true);
    let events = drain(&mut rx);
    let DispatchEvent::GuildCreate(create) = &events[1].1 else {
        panic!("expected GUILD_CREATE");
    };
    let GuildCreate::Available(guild) = create.as_ref() else {
        panic!("guild should be available");
    };
    let everyone = &guild.roles[0];
    assert_eq!(everyone.id.get(), g.get());
    assert_eq!(
        everyone.permissions,
        Permissions::from_bits_truncate(DEFAULT_EVERYONE_PERMISSIONS)
    );
    assert!(everyone.permissions.contains(Permissions::VIEW_CHANNEL));
    let staff = guild.channels.iter().find(|c| c.id == Id::new(13)).unwrap();
    let overwrites = staff.permission_overwrites.as_ref().unwrap();
    assert_eq!(overwrites.len(), 2);
    assert_eq!(overwrites[0].id.get(), g.get());
    assert_eq!(overwrites[0].kind, PermissionOverwriteType::Role);
    assert_eq!(overwrites[0].deny, Permissions::VIEW_CHANNEL);
    assert_eq!(overwrites[1].id.get(), 55);
    assert_eq!(overwrites[1].allow, Permissions::VIEW_CHANNEL);
    let member = |id: u64| {
        guild
            .members
            .iter()
            .find(|m| m.user.id == Id::new(id))
            .unwrap()
    };
    assert_eq!(member(100).user.global_name.as_deref(), Some("Ada"));
    assert_eq!(member(100).nick, None);
    assert_eq!(member(102).nick.as_deref(), Some("Bru"));

    // A nickname change shows in the next voice state; the channel and role events follow.
    state
        .set_nickname(g, Id::new(100), Some("Countess".to_owned()))
        .unwrap();
    state
        .voice_update(
            g,
            Id::new(100),
            Some(Id::new(11)),
            VoiceFlags {
                self_mute: true,
                ..VoiceFlags::default()
            },
        )
        .unwrap();
    let lounge = ChannelSpec::voice(Id::new(11), "lounge").private(Id::new(55));
    assert!(matches!(
        state.put_channel(g, lounge),
        Ok(Delivery::Sent { .. })
    ));
    state
        .put_channel(g, ChannelSpec::stage(Id::new(14), "town hall"))
        .unwrap();
    // Deleting the staff room disconnects Bruno first.
    state.delete_channel(g, Id::new(13)).unwrap();
    state
        .set_everyone_permissions(g, DEFAULT_EVERYONE_PERMISSIONS & !VIEW_CHANNEL)
        .unwrap();
    let events: Vec<DispatchEvent> = drain(&mut rx).into_iter().map(|(_, e)| e).collect();
    assert_eq!(events.len(), 6, "{events:#?}");
    let DispatchEvent::VoiceStateUpdate(update) = &events[0] else {
        panic!("expected VOICE_STATE_UPDATE, got {:?}", events[0]);
    };
    assert_eq!(
        update.0.member.as_ref().unwrap().nick.as_deref(),
        Some("Countess")
    );
    let DispatchEvent::ChannelUpdate(updated) = &events[1] else {
        panic!("expected CHANNEL_UPDATE, got {:?}", events[1]);
    };
    assert_eq!(updated.guild_id, Some(g));
    assert_eq!(
        updated.permission_overwrites.as_ref().unwrap()[0].deny,
        Permissions::VIEW_CHANNEL
    );
    let DispatchEvent::ChannelCreate(created) = &events[2] else {
        panic!("expected CHANNEL_CREATE, got {:?}", events[2]);
    };
    assert_eq!(
        (created.id, created.kind),
        (Id::new(14), ChannelType::GuildStageVoice)
    );
    let DispatchEvent::VoiceStateUpdate(left) = &events[3] else {
        panic!("expected VOICE_STATE_UPDATE, got {:?}", events[3]);
    };
    assert_eq!((left.0.user_id, left.0.channel_id), (Id::new(102), None));
    assert_eq!(left.0.member.as_ref().unwrap().nick.as_deref(), Some("Bru"));
    let DispatchEvent::ChannelDelete(deleted) = &events[4] else {
        panic!("expected CHANNEL_DELETE, got {:?}", events[4]);
    };
    assert_eq!(deleted.id, Id::new(13));
    let DispatchEvent::RoleUpdate(role) = &events[5] else {
        panic!("expected GUILD_ROLE_UPDATE, got {:?}", events[5]);
    };
    assert_eq!((role.guild_id, role.role.id.get()), (g, g.get()));
    assert!(!role.role.permissions.contains(Permissions::VIEW_CHANNEL));

    // What cannot happen on Discord is refused; the next GUILD_CREATE shows the changes.
    assert!(
        state
            .put_channel(g, ChannelSpec::text(Id::new(14), "x"))
            .is_err()
    );
    assert!(state.delete_channel(g, Id::new(13)).is_err());
    assert!(
        state.delete_channel(g, Id::new(11)).is_err(),
        "the AFK channel"
    );
    let again = state.guild_create_data(g, 50);
    let guild: twilight_model::guild::Guild = serde_json::from_str(&again).unwrap();
    assert_eq!(guild.channels.len(), 4);
    assert!(
        !guild.roles[0]
            .permissions
            .contains(Permissions::VIEW_CHANNEL)
    );
}

#[test]
fn channel_and_role_events_need_the_guilds_intent() {
    let g = Id::new(1 << 22);
    let mut state = State::new(options(None), "ws://127.0.0.1:1/resume".to_owned());
    state.add_guild(lounge_guild()).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn = state.open_connection(tx);
    state.client_text(conn, &identify("Bot token", [0, 1], 1 << 7), true);
    drain(&mut rx);
    assert_eq!(
        state
            .put_channel(g, ChannelSpec::voice(Id::new(20), "new"))
            .unwrap(),
        Delivery::NotDispatched
    );
    assert_eq!(
        state.set_everyone_permissions(g, 0).unwrap(),
        Delivery::NotDispatched
    );
    assert!(drain(&mut rx).is_empty());
}

//! What the sidecar program learns about a server besides voice (`docs/behaviour.md`, "Names
//! and public channels"): members' display names as last seen in voice, and the voice and
//! stage channels everyone can view, from the fake gateway's `GUILD_CREATE`, voice states,
//! channel events and `@everyone` role updates, read back from the store.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use callstats_core::{ChannelId, GuildId, UserId};
use callstats_fake_gateway::{
    ChannelSpec, DEFAULT_EVERYONE_PERMISSIONS, GuildSpec, Overwrite, OverwriteTarget, ShardId,
    UserSpec, VIEW_CHANNEL, VoiceMember,
};
use callstats_tests::scene::{flags, process_scene};
use callstats_tests::sidecar::{Options, WAIT};
use callstats_tests::time::at;
use twilight_model::id::Id;

fn guild() -> GuildId {
    Id::new((7 << 22) | 3)
}

fn chan(n: u64) -> ChannelId {
    Id::new(900 + n)
}

const ADA: u64 = 41_001;
const BRUNO: u64 = 41_002;
const CLARA: u64 = 41_003;
const OLGA: u64 = 41_004;
const DAVE: u64 = 41_005;
const JUKEBOX: u64 = 41_006;
const TEMPO: u64 = 41_007;

fn user(id: u64) -> UserId {
    Id::new(id)
}

/// Lounge, games, a private staff room (moderators only), a stage, the AFK channel and a
/// text channel.
fn spec() -> GuildSpec {
    GuildSpec::new(guild(), "directory")
        .channel(ChannelSpec::text(chan(0), "general"))
        .channel(ChannelSpec::voice(chan(1), "lounge"))
        .channel(ChannelSpec::voice(chan(2), "games"))
        .channel(ChannelSpec::voice(chan(3), "staff").private(Id::new(77)))
        .channel(ChannelSpec::stage(chan(4), "town hall"))
        .channel(ChannelSpec::voice(chan(5), "afk"))
        .afk(chan(5), 300)
}

/// Polls `read` until it gives `want`, or fails after [`WAIT`].
async fn wait_for<T, F, Fut>(what: &str, want: &T, mut read: F)
where
    T: PartialEq + std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = read().await;
        if &got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn names(pairs: &[(u64, &str)]) -> BTreeMap<UserId, String> {
    pairs
        .iter()
        .map(|(u, n)| (user(*u), (*n).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_come_from_guild_create_and_voice_updates_never_for_bots_or_opted_out_members() {
    let t0 = at(2026, 11, 26, 20, 0, 0);
    let spec = spec()
        .nickname(user(ADA), "Countess")
        .voice_member(VoiceMember::new(user(ADA), chan(1)))
        .voice_member(VoiceMember::new(user(BRUNO), chan(1)))
        .voice_member(VoiceMember::new(user(OLGA), chan(2)))
        .voice_member(VoiceMember::new(user(JUKEBOX), chan(1)).bot());
    let s = process_scene(vec![spec], t0, Options::default()).await;
    s.fake
        .set_user(user(ADA), UserSpec::new("ada").global_name("Ada"));
    s.fake.set_user(user(BRUNO), UserSpec::new("bruno"));
    s.fake
        .set_user(user(CLARA), UserSpec::new("clara").global_name("Clara"));
    s.fake
        .set_user(user(OLGA), UserSpec::new("olga").global_name("Olga"));
    s.fake
        .set_user(user(DAVE), UserSpec::new("dave").global_name("Dave"));
    s.fake
        .set_user(user(JUKEBOX), UserSpec::new("jukebox").bot());
    s.fake.set_user(
        user(TEMPO),
        UserSpec::new("tempo").global_name("Tempo").bot(),
    );
    for opted_out in [OLGA, DAVE] {
        s.store
            .set_opted_out(user(opted_out), true, t0.minus(3_600))
            .await
            .unwrap();
    }
    let everyone = [ADA, BRUNO, CLARA, OLGA, DAVE, JUKEBOX, TEMPO].map(user);
    let stored = || async { s.store.names(guild(), &everyone).await.unwrap() };

    // GUILD_CREATE: the nickname, else the global name, else the username; no bot, and not
    // the member who opted out.
    let sidecar = s.start().await;
    let first = names(&[(ADA, "Countess"), (BRUNO, "bruno")]);
    wait_for("names from GUILD_CREATE", &first, stored).await;

    // A member who joins is named by her voice state; a nickname seen in a voice update
    // replaces the name.
    sidecar.join(&s.fake, guild(), user(CLARA), chan(2)).await;
    let joined = names(&[(ADA, "Countess"), (BRUNO, "bruno"), (CLARA, "Clara")]);
    wait_for("the name of a member who joined", &joined, stored).await;
    s.fake
        .set_nickname(guild(), user(ADA), Some("Ada L."))
        .unwrap();
    let muted = flags(&["self_mute"]);
    sidecar
        .voice(&s.fake, guild(), user(ADA), Some(chan(1)), muted)
        .await;
    let renamed = names(&[(ADA, "Ada L."), (BRUNO, "bruno"), (CLARA, "Clara")]);
    wait_for("a nickname change seen in voice", &renamed, stored).await;

    // What must never be named: a bot joining and renamed, the opted-out member renamed, and
    // an opted-out member joining (the store refuses his start).
    sidecar.join(&s.fake, guild(), user(TEMPO), chan(2)).await;
    s.fake
        .set_nickname(guild(), user(JUKEBOX), Some("DJ"))
        .unwrap();
    sidecar
        .voice(&s.fake, guild(), user(JUKEBOX), Some(chan(1)), muted)
        .await;
    s.fake
        .set_nickname(guild(), user(OLGA), Some("O."))
        .unwrap();
    sidecar
        .voice(&s.fake, guild(), user(OLGA), Some(chan(2)), muted)
        .await;
    sidecar.join(&s.fake, guild(), user(DAVE), chan(2)).await;
    sidecar.wait_idle().await;
    // Two more names, one after the other has been written: names are written in batches, a
    // batch only after the one before ended, so anything handed over before the first of
    // these is in the store (or never will be) once the second is.
    s.fake
        .set_nickname(guild(), user(BRUNO), Some("Bru"))
        .unwrap();
    sidecar
        .voice(&s.fake, guild(), user(BRUNO), Some(chan(1)), muted)
        .await;
    let bru = names(&[(ADA, "Ada L."), (BRUNO, "Bru"), (CLARA, "Clara")]);
    wait_for("Bruno's nickname", &bru, stored).await;
    s.fake
        .set_nickname(guild(), user(CLARA), Some("Clarissa"))
        .unwrap();
    sidecar
        .voice(&s.fake, guild(), user(CLARA), Some(chan(2)), muted)
        .await;
    let last = names(&[(ADA, "Ada L."), (BRUNO, "Bru"), (CLARA, "Clarissa")]);
    wait_for("Clara's nickname", &last, stored).await;

    // A voice update that changes no name writes nothing: six names written in all.
    sidecar
        .voice(&s.fake, guild(), user(ADA), Some(chan(2)), muted)
        .await;
    sidecar.wait_idle().await;
    assert_eq!(stored().await, last);
    assert_eq!(
        sidecar.metric("callstats_names_written_total").await,
        Some(6.0)
    );
    let exit = sidecar.stop().await;
    assert_eq!(exit.status.code(), Some(0), "{exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_channels_follow_overwrites_channel_events_and_the_everyone_role() {
    let t0 = at(2026, 11, 26, 20, 0, 0);
    // The lobby lets @everyone view it even when the role itself may not.
    let lobby = ChannelSpec::voice(chan(6), "lobby").overwrite(Overwrite {
        target: OverwriteTarget::Everyone,
        allow: VIEW_CHANNEL,
        deny: 0,
    });
    let s = process_scene(vec![spec().channel(lobby)], t0, Options::default()).await;
    let public = || async { s.store.public_channels(guild()).await.unwrap() };
    let ids = |list: &[u64]| -> Vec<ChannelId> { list.iter().map(|n| chan(*n)).collect() };

    // GUILD_CREATE: every voice and stage channel but the private staff room (and no text
    // channel).
    let sidecar = s.start().await;
    wait_for("from GUILD_CREATE", &ids(&[1, 2, 4, 5, 6]), public).await;

    // CHANNEL_UPDATE making games private; CHANNEL_CREATE of a music room; CHANNEL_DELETE
    // of the lounge.
    let delivery = s
        .fake
        .put_channel(
            guild(),
            ChannelSpec::voice(chan(2), "games").private(Id::new(77)),
        )
        .unwrap();
    sidecar.wait_delivered(guild(), &delivery).await;
    wait_for("games made private", &ids(&[1, 4, 5, 6]), public).await;
    let delivery = s
        .fake
        .put_channel(guild(), ChannelSpec::voice(chan(7), "music"))
        .unwrap();
    sidecar.wait_delivered(guild(), &delivery).await;
    wait_for("a new channel", &ids(&[1, 4, 5, 6, 7]), public).await;
    let delivery = s.fake.delete_channel(guild(), chan(1)).unwrap();
    sidecar.wait_delivered(guild(), &delivery).await;
    wait_for("a deleted channel", &ids(&[4, 5, 6, 7]), public).await;

    // A malformed channel event is skipped with a log line, and the next one still counts.
    s.fake
        .dispatch_raw(
            ShardId::ONE,
            "CHANNEL_UPDATE",
            &serde_json::json!({
                "id": chan(4).to_string(), "guild_id": guild().to_string(), "type": 13,
                "permission_overwrites": [{ "id": guild().to_string(), "type": 0,
                    "allow": "0", "deny": "not a number" }]
            }),
        )
        .unwrap();
    // @everyone loses VIEW_CHANNEL: only the lobby, which allows it, is left.
    let delivery = s
        .fake
        .set_everyone_permissions(guild(), DEFAULT_EVERYONE_PERMISSIONS & !VIEW_CHANNEL)
        .unwrap();
    sidecar.wait_delivered(guild(), &delivery).await;
    wait_for("@everyone without VIEW_CHANNEL", &ids(&[6]), public).await;
    let exit = sidecar.stop().await;
    assert_eq!(exit.status.code(), Some(0), "{exit:?}");
    assert!(
        exit.stdout
            .iter()
            .any(|l| l.contains("gateway event could not be read; skipped")),
        "the malformed event is reported"
    );
}

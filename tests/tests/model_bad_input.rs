//! Bad input: the kinds `docs/reliability.md` lists that no other test tried.
//!
//! - gateway dispatches twilight cannot read, or that name what the sidecar does not know, are
//!   skipped; tracking goes on and stays exact;
//! - a state directory with garbage in it (a torn spool, an unreadable resume file) does not
//!   stop the program, and loses nothing it could read;
//! - malformed items in the table get the user an apology, never a 500 or a made-up zero.

use aws_sdk_dynamodb::types::AttributeValue;
use callstats_core::{ChannelId, GuildId, UserId};
use callstats_fake_gateway::{ChannelSpec, GuildSpec, ShardId, VoiceFlags};
use callstats_tests::dynamo::{assert_nothing_stored, sessions};
use callstats_tests::interactions::{ADA, Endpoint, GUILD, Interaction};
use callstats_tests::scene::{process_scene, scene, voice_state_json};
use callstats_tests::sidecar::{Options, sample_of};
use callstats_tests::time::at;
use serde_json::json;
use twilight_model::id::Id;

fn guild() -> GuildId {
    Id::new((4 << 22) | 0xd)
}

fn user(n: u64) -> UserId {
    Id::new(62_000 + n)
}

fn chan(n: u64) -> ChannelId {
    Id::new(720 + n)
}

fn spec() -> GuildSpec {
    GuildSpec::new(guild(), "bad input")
        .channel(ChannelSpec::voice(chan(1), "lounge"))
        .channel(ChannelSpec::text(chan(2), "general"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_or_unexpected_dispatches_are_skipped_and_tracking_goes_on() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let s = scene(vec![spec()], t0).await;
    let shard = ShardId::new(0, 1);
    let none = VoiceFlags::default();
    s.sidecar
        .voice(&s.fake, guild(), user(1), Some(chan(1)), none)
        .await;
    s.clock.set(t0.plus(30));
    let mut other_guild = voice_state_json(Id::new(999 << 22), user(2), Some(chan(1)), none);
    other_guild["channel_id"] = json!("720001");
    let mut no_guild = voice_state_json(guild(), user(3), Some(chan(1)), none);
    no_guild.as_object_mut().unwrap().remove("guild_id");
    let mut bad_user = voice_state_json(guild(), user(4), Some(chan(1)), none);
    bad_user["user_id"] = json!("not a snowflake");
    let mut huge = voice_state_json(guild(), user(5), Some(chan(1)), none);
    huge["user_id"] = json!("99999999999999999999999");
    let mut zero = voice_state_json(guild(), user(6), Some(chan(1)), none);
    zero["user_id"] = json!("0");
    let mut flags = voice_state_json(guild(), user(7), Some(chan(1)), none);
    flags["self_mute"] = json!("yes");
    let cases = [
        // twilight reads READY itself; an unreadable one is its error, counted, then skipped.
        ("READY", json!({"v": "ten"})),
        ("VOICE_STATE_UPDATE", json!({"garbage": true})),
        ("VOICE_STATE_UPDATE", json!(null)),
        ("VOICE_STATE_UPDATE", json!([1, 2, 3])),
        ("VOICE_STATE_UPDATE", bad_user),
        ("VOICE_STATE_UPDATE", huge),
        ("VOICE_STATE_UPDATE", zero),
        ("VOICE_STATE_UPDATE", flags),
        // Readable, but about a guild the sidecar does not know, or no guild at all.
        ("VOICE_STATE_UPDATE", other_guild),
        ("VOICE_STATE_UPDATE", no_guild),
        (
            "GUILD_CREATE",
            json!({"id": guild().to_string(), "name": 7}),
        ),
        ("GUILD_CREATE", json!({"id": "x"})),
        ("GUILD_DELETE", json!({"id": []})),
        ("GUILD_UPDATE", json!({"id": guild().to_string()})),
    ];
    let mut last = None;
    for (event, data) in &cases {
        last = Some(s.fake.dispatch_raw(shard, event, data).unwrap());
    }
    s.sidecar.wait_delivered(guild(), &last.unwrap()).await;
    let text = s.sidecar.metrics_text().await;
    assert!(
        sample_of(&text, "callstats_gateway_errors_total").is_some_and(|n| n >= 5.0),
        "unreadable dispatches are counted:\n{text}"
    );
    // Still tracking, to the second.
    s.sidecar
        .voice(&s.fake, guild(), user(8), Some(chan(1)), none)
        .await;
    s.clock.set(t0.plus(100));
    s.sidecar.voice(&s.fake, guild(), user(1), None, none).await;
    s.sidecar.voice(&s.fake, guild(), user(8), None, none).await;
    s.sidecar.wait_idle().await;
    let one = sessions(&s.store, user(1), guild()).await;
    assert_eq!(one.len(), 1);
    assert_eq!((one[0].duration(), one[0].breakdown.alone), (100, 30));
    let eight = sessions(&s.store, user(8), guild()).await;
    assert_eq!(eight[0].duration(), 70);
    for n in 2..=7 {
        assert_nothing_stored(&s.store, user(n)).await;
    }
    let exit = s.sidecar.stop().await;
    assert_eq!(exit.status.code(), Some(0), "{exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_in_the_state_directory_does_not_stop_the_program() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let s = process_scene(vec![spec()], t0, Options::default()).await;
    // A spool whose last line was torn by a crash, lines of another format, and a resume
    // file that is not JSON.
    std::fs::write(
        s.dir.path().join("spool.log"),
        "{\"not\":\"an entry\"}\nhalf a li",
    )
    .unwrap();
    std::fs::write(s.dir.path().join("resume-0.json"), b"\x00\xffnot json").unwrap();
    let sidecar = s.start().await;
    let none = VoiceFlags::default();
    sidecar
        .voice(&s.fake, guild(), user(1), Some(chan(1)), none)
        .await;
    s.clock.set(t0.plus(45));
    sidecar.voice(&s.fake, guild(), user(1), None, none).await;
    sidecar.wait_idle().await;
    let one = sessions(&s.store, user(1), guild()).await;
    assert_eq!(
        one.iter()
            .map(|r| (r.duration(), r.estimated))
            .collect::<Vec<_>>(),
        [(45, false)]
    );
    let exit = sidecar.stop().await;
    assert_eq!(exit.status.code(), Some(0), "{exit:?}");
    assert!(
        exit.stdout
            .iter()
            .any(|l| l.contains("skipped unreadable spool lines")),
        "the torn spool is reported: {:?}",
        exit.stdout
    );
    assert!(
        exit.stdout
            .iter()
            .any(|l| l.contains("local resume state unreadable")),
        "the unreadable resume file is reported"
    );
}

#[tokio::test]
async fn malformed_items_get_an_apology_not_a_500_or_a_zero() {
    let endpoint = Endpoint::new(at(2026, 11, 26, 10, 0, 0)).await;
    let table = endpoint.store.table().as_str().to_owned();
    let put = |sk: String, attrs: Vec<(&'static str, AttributeValue)>| {
        let mut request = endpoint
            .store
            .client()
            .put_item()
            .table_name(table.clone())
            .item("pk", AttributeValue::S(format!("U#{ADA}")))
            .item("sk", AttributeValue::S(sk));
        for (name, value) in attrs {
            request = request.item(name, value);
        }
        request.send()
    };
    // An all-time item whose total is not a number, and a session that ends before it starts.
    put(
        format!("A#{GUILD}"),
        vec![
            ("total", AttributeValue::S("lots".into())),
            ("sessions", AttributeValue::N("1".into())),
        ],
    )
    .await
    .unwrap();
    put(
        format!("S#{GUILD}#001795000000-00000001"),
        vec![
            ("ch", AttributeValue::S("1".into())),
            ("end", AttributeValue::N("5".into())),
            ("est", AttributeValue::Bool(false)),
        ],
    )
    .await
    .unwrap();
    for interaction in [
        Interaction::callstats("show", json!([])).by(ADA, "Ada"),
        Interaction::callstats("history", json!([])).by(ADA, "Ada"),
        Interaction::callstats("export", json!([])).by(ADA, "Ada"),
    ] {
        let answer = endpoint.send(&interaction).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.title(), "Something went wrong", "{}", answer.text());
        assert!(!answer.text().contains("lots"), "no item content leaks");
    }
}

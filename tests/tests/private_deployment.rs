//! A private deployment (`CALLSTATS_GUILDS`): the sidecar tracks only the servers listed and
//! the endpoint answers other servers with a notice, nothing else.

use std::process::Stdio;
use std::time::Duration;

use callstats_core::{ChannelId, GuildId, Timestamp, UserId};
use callstats_fake_gateway::{ChannelSpec, GuildSpec};
use callstats_runtime::GuildAllowList;
use callstats_tests::dynamo::{assert_nothing_stored, fresh_store, sessions};
use callstats_tests::interactions::{
    GUILD, Interaction, OTHER_GUILD, post, public_key_hex, signed_headers,
};
use callstats_tests::scene::{process_scene, scene_with};
use callstats_tests::sidecar::Options;
use callstats_tests::time::at;
use http::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use twilight_model::id::Id;

fn guild(n: u64) -> GuildId {
    Id::new((n << 22) | 3)
}

fn user(n: u64) -> UserId {
    Id::new(20_000 + n)
}

fn lounge() -> ChannelId {
    Id::new(701)
}

fn spec(n: u64) -> GuildSpec {
    GuildSpec::new(guild(n), format!("server {n}")).channel(ChannelSpec::voice(lounge(), "lounge"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidecar_tracks_only_the_servers_listed() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let options = Options {
        guilds: GuildAllowList::only([guild(1)]),
        ..Options::default()
    };
    let s = scene_with(vec![spec(1), spec(2)], t0, &options).await;
    s.join(guild(1), user(1), lounge()).await;
    s.join(guild(2), user(2), lounge()).await;
    s.clock.advance(60);
    s.leave(guild(1), user(1)).await;
    s.leave(guild(2), user(2)).await;
    s.sidecar.wait_idle().await;

    let served = sessions(&s.store, user(1), guild(1)).await;
    assert_eq!(
        served
            .iter()
            .map(|x| (x.start(), x.duration()))
            .collect::<Vec<_>>(),
        [(t0, 60)]
    );
    assert_nothing_stored(&s.store, user(2)).await;
    s.sidecar.stop().await;
}

/// A server taken off the list while the sidecar was stopped: the resumed state's calls there
/// end when the sidecar starts again, as if the bot had left the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_taken_off_the_list_ends_its_calls_at_the_next_start() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let s = process_scene(vec![spec(1), spec(2)], t0, Options::default()).await;
    let sidecar = s.start().await;
    sidecar.join(&s.fake, guild(2), user(2), lounge()).await;
    sidecar.wait_idle().await;
    s.clock.set(t0.plus(100));
    let exit = sidecar.stop().await;
    assert_eq!(exit.status.code(), Some(0), "{exit:?}");

    s.clock.set(t0.plus(130));
    let only_one = guild(1).to_string();
    let sidecar = s.spawn(&[("CALLSTATS_GUILDS", &only_one)]).await;
    sidecar.wait_settled().await;
    sidecar.wait_idle().await;
    let ended = sessions(&s.store, user(2), guild(2)).await;
    assert_eq!(
        ended
            .iter()
            .map(|x| (x.start(), x.duration()))
            .collect::<Vec<_>>(),
        [(t0, 130)]
    );
    sidecar.stop().await;
}

/// The endpoint program (`serve`) with `CALLSTATS_GUILDS`, on a fresh table; its address.
async fn serve_only(guilds: &str, table: &str) -> (tokio::process::Child, std::net::SocketAddr) {
    let mut child =
        tokio::process::Command::new(callstats_tests::program("callstats-interactions"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("DISCORD_PUBLIC_KEY", public_key_hex())
            .env("CALLSTATS_TABLE", table)
            .env("CALLSTATS_GUILDS", guilds)
            .env("CALLSTATS_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the endpoint starts");
    let mut lines = BufReader::new(child.stderr.take().expect("its log")).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read the log") {
            let v: Value = serde_json::from_str(&line).unwrap_or_default();
            if v["message"] == "serving interactions" {
                return v["addr"]
                    .as_str()
                    .expect("an address")
                    .parse()
                    .expect("addr");
            }
        }
        panic!("the endpoint ended before serving")
    })
    .await
    .expect("the endpoint serves within 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

#[tokio::test]
async fn the_endpoint_answers_other_servers_with_a_notice() {
    let store = fresh_store().await;
    let (_child, addr) = serve_only(&GUILD.to_string(), store.table().as_str()).await;
    let now = Timestamp::from_datetime(chrono::Utc::now());
    let ask = |guild: u64| {
        let body = Interaction::command("calltop", json!([]))
            .in_guild(guild)
            .body();
        let headers = signed_headers(now, body.as_bytes());
        async move { post(addr, Method::POST, "/", &headers, body.into_bytes()).await }
    };

    let served = ask(GUILD).await;
    assert_eq!(served.status, 200);
    assert!(
        served.json()["data"]["embeds"][0]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Voice leaderboard")),
        "{:?}",
        served.json()
    );

    let other = ask(OTHER_GUILD).await;
    assert_eq!(other.status, 200);
    let reply = other.json();
    assert_eq!(reply["type"], 4);
    assert_eq!(
        reply["data"]["flags"], 64,
        "only the member who asked sees it"
    );
    assert_eq!(reply["data"]["embeds"][0]["title"], "Not available here");

    let autocomplete = Interaction::autocomplete("callstats", Some("timezone"), "zone", "Eur")
        .in_guild(OTHER_GUILD)
        .body();
    let answer = post(
        addr,
        Method::POST,
        "/",
        &signed_headers(now, autocomplete.as_bytes()),
        autocomplete.into_bytes(),
    )
    .await;
    let choices = answer.json();
    assert_eq!(choices["type"], 8);
    assert_eq!(choices["data"]["choices"], json!([]));
}

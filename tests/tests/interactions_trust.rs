//! Numbers a member can trust, against the local DynamoDB server with signed requests: a call
//! in progress never counts past the tracker's last report, windows are the viewer's own
//! days (daylight-saving changes included), and only the member sees their channels.

use callstats_core::{Flags, GuildId, Timestamp, UserId};
use callstats_tests::interactions::{
    ADA, BOB, CHANNEL, Endpoint, GUILD, Interaction, seed, seed_open,
};
use callstats_tests::time::at;
use serde_json::json;

fn now() -> Timestamp {
    // Thursday 26 November 2026, 12:00 UTC.
    at(2026, 11, 26, 12, 0, 0)
}

fn show(user: u64, name: &str, period: Option<&str>) -> Interaction {
    let options = period.map_or_else(
        || json!([]),
        |p| json!([{"name": "period", "type": 3, "value": p}]),
    );
    Interaction::callstats("show", options).by(user, name)
}

/// The server is served by shard 0, as the sidecar records with its first flush.
async fn served_by_shard_0(endpoint: &Endpoint) {
    endpoint
        .store
        .flush_board(GuildId::new(GUILD), &[], &[], Some(0), now())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_call_in_progress_stops_counting_when_the_tracker_stops_reporting() {
    let endpoint = Endpoint::new(now()).await;
    let store = &endpoint.store;
    served_by_shard_0(&endpoint).await;
    seed_open(store, ADA, GUILD, at(2026, 11, 26, 11, 25, 0), Flags::NONE).await;
    // The tracker last reported at 11:30, every 30 seconds, then went quiet.
    store
        .heartbeat(0, at(2026, 11, 26, 11, 30, 0), 30)
        .await
        .unwrap();
    let stale = endpoint.send(&show(ADA, "Ada", None)).await;
    assert_eq!(
        stale.field("Last active"),
        format!("in a call now, 5 min 30 s (<#{CHANNEL}>)")
    );
    assert!(
        stale.description().contains(&format!(
            "counted as of <t:{}:t>: the tracker has not reported since",
            at(2026, 11, 26, 11, 30, 30).unix()
        )),
        "{}",
        stale.description()
    );
    // The board and the history agree.
    let top = endpoint
        .send(
            &Interaction::command(
                "calltop",
                json!([{"name": "metric", "type": 3, "value": "total"}]),
            )
            .by(BOB, "Bob"),
        )
        .await;
    assert!(
        top.description().contains("**5 min 30 s**"),
        "{}",
        top.description()
    );
    let history = endpoint
        .send(&Interaction::callstats("history", json!([])).by(ADA, "Ada"))
        .await;
    assert!(history.description().contains("**5 min 30 s**"));
    // The tracker reports again: the whole call counts.
    store.heartbeat(0, now(), 30).await.unwrap();
    let live = endpoint.send(&show(ADA, "Ada", None)).await;
    assert_eq!(
        live.field("Last active"),
        format!("in a call now, 35 min 00 s (<#{CHANNEL}>)")
    );
    assert!(!live.description().contains("has not reported"));
}

#[tokio::test]
async fn windows_are_the_members_own_days() {
    let endpoint = Endpoint::new(now()).await;
    let store = &endpoint.store;
    // In Tokyo (UTC+9) it is Thursday 26 November, 21:00.
    store
        .set_user_timezone(UserId::new(ADA), Some(chrono_tz::Asia::Tokyo))
        .await
        .unwrap();
    // 28 October 15:30 UTC is 29 October 00:30 in Tokyo: inside the last 30 Tokyo days
    // (28 October to 26 November), outside the last 30 UTC days.
    seed(store, ADA, GUILD, at(2026, 10, 28, 15, 30, 0), 1800, &[]).await;
    // 19 November 14:30 UTC is 23:30 on the 19th in Tokyo: before the 7 days.
    seed(store, ADA, GUILD, at(2026, 11, 19, 14, 30, 0), 60, &[]).await;
    // 19 November 15:30 UTC is 20 November 00:30 in Tokyo: the first of the last 7 days.
    seed(store, ADA, GUILD, at(2026, 11, 19, 15, 30, 0), 600, &[]).await;
    let week = endpoint.send(&show(ADA, "Ada", Some("7d"))).await;
    assert_eq!(
        week.description(),
        "Last 7 days in this server: 2026-11-20 to 2026-11-26 (days in Asia/Tokyo)."
    );
    assert_eq!(week.field("Total time"), "10 min 00 s");
    let month = endpoint.send(&show(ADA, "Ada", Some("30d"))).await;
    assert_eq!(
        month.description(),
        "Last 30 days in this server: 2026-10-28 to 2026-11-26 (days in Asia/Tokyo)."
    );
    assert_eq!(month.field("Total time"), "41 min 00 s");
    assert_eq!(month.field("Sessions"), "3");
    // Bob, without a timezone, sees Ada's last 7 days as UTC days.
    let by_bob = endpoint
        .send(
            &Interaction::callstats(
                "show",
                json!([{"name": "user", "type": 6, "value": ADA.to_string()},
                       {"name": "period", "type": 3, "value": "7d"}]),
            )
            .by(BOB, "Bob")
            .resolve(ADA, "Ada", false),
        )
        .await;
    assert!(
        by_bob
            .description()
            .ends_with("(days in UTC).\nNo calls recorded here yet."),
        "{}",
        by_bob.description()
    );
}

#[tokio::test]
async fn a_window_across_a_daylight_saving_change_is_exact() {
    // Friday 20 November 2026; in Berlin the clocks went back on Sunday 25 October, 03:00
    // CEST to 02:00 CET.
    let endpoint = Endpoint::new(at(2026, 11, 20, 12, 0, 0)).await;
    let store = &endpoint.store;
    store
        .set_user_timezone(UserId::new(ADA), Some(chrono_tz::Europe::Berlin))
        .await
        .unwrap();
    // Saturday 24 October 22:30-23:30 UTC is Sunday 00:30-01:30 CEST.
    seed(store, ADA, GUILD, at(2026, 10, 24, 22, 30, 0), 3600, &[]).await;
    let month = endpoint.send(&show(ADA, "Ada", Some("30d"))).await;
    let days = month.field("Days of the week (Europe/Berlin)");
    assert!(days.contains("Sun ████████████ 1 h 00 min"), "{days}");
    assert!(days.contains("Sat ░░░░░░░░░░░░ 0 s"), "{days}");
    let hours = month.field("Hours of the day (Europe/Berlin)");
    let line: Vec<char> = hours.lines().nth(1).unwrap().chars().collect();
    // 00:30-01:30: half in hour 0, half in hour 1, nothing at 23.
    assert_ne!(line[0], '·');
    assert_ne!(line[1], '·');
    assert_eq!(line[23], '·');
    // All time places the same call with today's offset (CET): the footer says so.
    let all = endpoint.send(&show(ADA, "Ada", None)).await;
    assert!(
        all.footer()
            .contains("all-time hours at today's UTC offset")
    );
    assert!(!month.footer().contains("today's UTC offset"));
}

#[tokio::test]
async fn only_the_member_sees_their_channels() {
    let endpoint = Endpoint::new(now()).await;
    let store = &endpoint.store;
    served_by_shard_0(&endpoint).await;
    store.heartbeat(0, now(), 30).await.unwrap();
    seed(store, ADA, GUILD, at(2026, 11, 24, 21, 0, 0), 3600, &[]).await;
    seed_open(store, ADA, GUILD, at(2026, 11, 26, 11, 25, 0), Flags::NONE).await;
    let own = endpoint.send(&show(ADA, "Ada", None)).await;
    assert!(own.field("Last active").contains(&format!("<#{CHANNEL}>")));
    assert!(
        own.field("Top channels (only you see these)")
            .contains(&format!("<#{CHANNEL}>"))
    );
    let lookup = |sub: &str| {
        Interaction::callstats(
            sub,
            json!([{"name": "user", "type": 6, "value": ADA.to_string()}]),
        )
        .by(BOB, "Bob")
        .resolve(ADA, "Ada", false)
    };
    for answer in [
        endpoint.send(&lookup("show")).await,
        endpoint.send(&lookup("history")).await,
        endpoint
            .send(&Interaction::user_menu(ADA, "Ada").by(BOB, "Bob"))
            .await,
    ] {
        let text = answer.data().to_string();
        assert!(!text.contains(&CHANNEL.to_string()), "{text}");
        assert!(text.contains("in a call now"));
    }
    // A board of members shows no channel either.
    let top = endpoint
        .send(&Interaction::command("calltop", json!([])).by(BOB, "Bob"))
        .await;
    assert!(!top.data().to_string().contains(&CHANNEL.to_string()));
}

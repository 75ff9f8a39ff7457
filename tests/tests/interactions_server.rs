//! `/callstats server` and `/callstats partners` against the local DynamoDB server, with
//! signed requests: every figure of the server view exactly, in the server's timezone, and
//! each member's partners.

use callstats_core::period::Day;
use callstats_core::session::PartnerSecs;
use callstats_core::{ClosedSession, Flags, GuildConfig, GuildId, RankingRule, Timestamp, UserId};
use callstats_interactions::render::chart_png;
use callstats_store::{BoardUpdate, EndOutcome, Store};
use callstats_tests::interactions::{
    ADA, BOB, Endpoint, GUILD, Interaction, decode_png, open, seed_end,
};
use callstats_tests::time::at;
use serde_json::json;
use twilight_model::id::Id;

const CARL: u64 = ADA + 10;
const DORA: u64 = ADA + 11;
/// Two channels everyone can view, and one only some can.
const LOUNGE: u64 = 1_180_000_000_000_000_210;
const GAMES: u64 = 1_180_000_000_000_000_211;
const STAFF: u64 = 1_180_000_000_000_000_212;

fn now() -> Timestamp {
    // Thursday 26 November 2026, 12:00 UTC (13:00 in Berlin).
    at(2026, 11, 26, 12, 0, 0)
}

fn berlin() -> GuildConfig {
    GuildConfig {
        rule: RankingRule::default(),
        timezone: chrono_tz::Europe::Berlin,
    }
}

/// A call of `user` in `channel` from `start` for `secs`, with `partners` (member, seconds on
/// the call's first UTC day), recorded through the store's own writes.
async fn call(
    store: &Store,
    user: u64,
    channel: u64,
    start: Timestamp,
    secs: u64,
    partners: &[(u64, u64)],
) -> ClosedSession {
    let s = open(user, GUILD, channel, start, Flags::NONE);
    store
        .start_session(&s, RankingRule::default())
        .await
        .unwrap();
    let mut closed = s.close(start.plus(secs), chrono_tz::Europe::Berlin, false);
    closed.partners = partners
        .iter()
        .map(|(p, secs)| PartnerSecs {
            day: Day::of(start),
            user: UserId::new(*p),
            secs: *secs,
        })
        .collect();
    assert!(matches!(
        seed_end(store, &closed, &berlin()).await,
        EndOutcome::Ended(_)
    ));
    closed
}

/// A server in Berlin: Ada and Bob in the lounge together on Tuesday evening, Carl in the
/// staff channel on Wednesday, Dora (who then opted out) for five hours, Ada once the week
/// before, Bob in a call now, and a peak of three members on Tuesday.
async fn seed_server(endpoint: &Endpoint) {
    let store = &endpoint.store;
    let guild = GuildId::new(GUILD);
    store.set_guild_config(guild, &berlin()).await.unwrap();
    store
        .set_public_channels(guild, &[Id::new(LOUNGE), Id::new(GAMES)])
        .await
        .unwrap();
    store
        .set_name(guild, UserId::new(BOB), "Bob *the* builder")
        .await
        .unwrap();
    // The week before: Tuesday 17 November, 10:00-11:00 UTC.
    call(store, ADA, LOUNGE, at(2026, 11, 17, 10, 0, 0), 3600, &[]).await;
    // Tuesday 24 November: Ada 19:00-21:00 UTC, Bob 20:00-21:00 UTC, both in the lounge.
    call(
        store,
        ADA,
        LOUNGE,
        at(2026, 11, 24, 19, 0, 0),
        7200,
        &[(BOB, 3600), (DORA, 600)],
    )
    .await;
    call(
        store,
        BOB,
        LOUNGE,
        at(2026, 11, 24, 20, 0, 0),
        3600,
        &[(ADA, 3600)],
    )
    .await;
    // Wednesday 25 November, 10:00-10:30 UTC, in the staff channel.
    call(store, CARL, STAFF, at(2026, 11, 25, 10, 0, 0), 1800, &[]).await;
    // Dora called five hours, then opted out: she counts nowhere.
    call(store, DORA, GAMES, at(2026, 11, 25, 12, 0, 0), 18_000, &[]).await;
    store
        .set_opted_out(UserId::new(DORA), true, at(2026, 11, 25, 20, 0, 0))
        .await
        .unwrap();
    store
        .set_listed(UserId::new(DORA), false, at(2026, 11, 25, 20, 0, 0))
        .await
        .unwrap();
    store
        .leave_board(guild, UserId::new(DORA), at(2026, 11, 25, 20, 0, 0))
        .await
        .unwrap();
    // Three members in voice at once on Tuesday at 20:30 UTC.
    store
        .flush_board(guild, &[], &[(3, at(2026, 11, 24, 20, 30, 0))], None, now())
        .await
        .unwrap();
    // Bob in the games channel since 11:00 UTC.
    let live = open(BOB, GUILD, GAMES, at(2026, 11, 26, 11, 0, 0), Flags::NONE);
    store
        .start_session(&live, RankingRule::default())
        .await
        .unwrap();
}

fn server(period: &str) -> Interaction {
    Interaction::callstats(
        "server",
        json!([{"name": "period", "type": 3, "value": period}]),
    )
    .by(CARL, "Carl")
}

#[tokio::test]
async fn the_server_view_counts_every_figure_exactly() {
    let endpoint = Endpoint::new(now()).await;
    seed_server(&endpoint).await;
    let week = endpoint.send(&server("7d")).await;
    assert!(!week.ephemeral());
    assert_eq!(
        week.title(),
        "Voice activity in this server · the last 7 days"
    );
    assert!(
        week.description()
            .starts_with("From 2026-11-20 to 2026-11-26 (days in Europe/Berlin)."),
        "{}",
        week.description()
    );
    // 2 h + 1 h + 30 min, and Bob's hour in progress; Dora counts nowhere.
    assert_eq!(week.field("Total time"), "4 h 30 min");
    assert_eq!(week.field("Sessions"), "4");
    assert_eq!(week.field("Members who called"), "3");
    assert_eq!(week.field("Average call"), "1 h 07 min");
    assert!(week.field("Most in voice at once").starts_with(&format!(
        "3 members · <t:{}:f>",
        at(2026, 11, 24, 20, 30, 0).unix()
    )));
    // The week before had Ada's hour: 16,200 s on 3,600 s.
    assert_eq!(week.field("Change"), "+350 % on the previous 7 days");
    assert_eq!(
        week.field("Top channels"),
        format!(
            "<#{LOUNGE}> · 3 h 00 min (66 %)\n<#{GAMES}> · 1 h 00 min (22 %)\n\
             other channels · 30 min 00 s (11 %)"
        )
    );
    assert!(!week.field("Top channels").contains(&STAFF.to_string()));
    // Ada's 19:00 UTC is 20:00 in Berlin, on a Tuesday.
    assert!(
        week.field("Days of the week (Europe/Berlin)")
            .contains("Tue ████████████ 3 h 00 min"),
        "{}",
        week.field("Days of the week (Europe/Berlin)")
    );
    let hours = week.field("Hours of the day (Europe/Berlin)");
    let line = hours.lines().nth(1).unwrap().chars().collect::<Vec<_>>();
    assert_ne!(line[20], '·');
    assert_eq!(line[19], '·');

    // Both images: the heatmap in the embed, the chart of the 7 days under it.
    let parts = week.parts();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[2].filename.as_deref(), Some(chart_png::FILE_NAME));
    let (width, _, chart) = decode_png(&parts[2].body);
    let pixel = |x: f32, y: f32| {
        let i = ((y as u32 * width + x as u32) * 3) as usize;
        [chart[i], chart[i + 1], chart[i + 2]]
    };
    let low = chart_png::BASELINE - 3.0;
    // Days 20..26 November: Tuesday the 24th (index 4) is the busiest, Saturday empty.
    assert_eq!(
        pixel(chart_png::bar_center(7, 4).unwrap(), low),
        chart_png::BAR
    );
    assert_eq!(
        pixel(
            chart_png::bar_center(7, 4).unwrap(),
            chart_png::PLOT_TOP + 40.0
        ),
        chart_png::BAR
    );
    assert_ne!(
        pixel(chart_png::bar_center(7, 1).unwrap(), low),
        chart_png::BAR
    );
}

#[tokio::test]
async fn all_time_and_private_answers() {
    let endpoint = Endpoint::new(now()).await;
    seed_server(&endpoint).await;
    let all = endpoint
        .send(
            &Interaction::callstats(
                "server",
                json!([{"name": "period", "type": 3, "value": "all"},
                       {"name": "private", "type": 5, "value": true}]),
            )
            .by(CARL, "Carl"),
        )
        .await;
    assert!(all.ephemeral());
    assert_eq!(all.title(), "Voice activity in this server · all time");
    assert_eq!(all.field("Total time"), "5 h 30 min");
    assert_eq!(all.field("Sessions"), "5");
    assert_eq!(all.field("Members who called"), "3");
    assert!(
        all.field("Most in voice at once (the last 31 days)")
            .starts_with("3 members")
    );
    assert!(
        all.data()["embeds"][0]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["name"] != "Change")
    );
}

#[tokio::test]
async fn partners_are_your_own_and_leave_out_members_who_opted_out() {
    let endpoint = Endpoint::new(now()).await;
    seed_server(&endpoint).await;
    let partners = |user: u64, name: &str, period: &str| {
        Interaction::callstats(
            "partners",
            json!([{"name": "period", "type": 3, "value": period}]),
        )
        .by(user, name)
    };
    let ada = endpoint.send(&partners(ADA, "Ada", "7d")).await;
    assert!(ada.ephemeral());
    assert_eq!(ada.title(), "Your call partners · the last 7 days");
    // Bob by his name (escaped, never a ping); Dora opted out and is left out.
    assert_eq!(
        ada.description(),
        "`1.` **Bob \\*the\\* builder** · 1 h 00 min · 50 % of your call time"
    );
    let bob = endpoint.send(&partners(BOB, "Bob", "all")).await;
    assert_eq!(
        bob.description(),
        format!("`1.` <@{ADA}> · 1 h 00 min · 100 % of your call time")
    );
    let carl = endpoint.send(&partners(CARL, "Carl", "30d")).await;
    assert!(
        carl.description()
            .starts_with("Nobody shared a call with you")
    );
    // Dora opts back in: she is in Ada's list again.
    endpoint
        .store
        .set_opted_out(UserId::new(DORA), false, now())
        .await
        .unwrap();
    let again = endpoint.send(&partners(ADA, "Ada", "all")).await;
    assert!(
        again
            .description()
            .contains(&format!("`2.` <@{DORA}> · 10 min 00 s"))
    );
}

#[tokio::test]
async fn a_big_server_is_answered_in_the_background() {
    use callstats_tests::interactions::{FakeDiscord, PrivateDynamo};
    let dynamo = PrivateDynamo::start().await;
    let rest = FakeDiscord::start().await;
    let endpoint = Endpoint::with_rest(dynamo.fresh_store().await, now(), &rest);
    seed_server(&endpoint).await;
    // A board of 1,200 ranked members: more than is read while Discord waits.
    let updates: Vec<BoardUpdate> = (0..1200u64)
        .map(|i| BoardUpdate {
            user: UserId::new(5_000 + i),
            totals: callstats_core::member::MemberTotals {
                all_total: 100 + i,
                all_ranked: 100 + i,
                ..Default::default()
            },
            as_of: now(),
        })
        .collect();
    endpoint
        .store
        .flush_board(GuildId::new(GUILD), &updates, &[], None, now())
        .await
        .unwrap();
    let command = server("30d");
    let answer = endpoint.send(&command).await;
    assert_eq!(answer.json(), json!({"type": 5, "data": {}}));
    let path = format!(
        "/api/v10/webhooks/{}/{}/messages/@original",
        callstats_tests::interactions::APPLICATION,
        command.token()
    );
    let edit = rest.wait_for(|r| r.path == path).await;
    let content_type = edit.headers["content-type"].to_str().unwrap().to_owned();
    let parts = callstats_devkit::parse_multipart(&content_type, &edit.body).unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&parts[0].body).unwrap();
    let embed = &payload["embeds"][0];
    assert_eq!(
        embed["title"],
        "Voice activity in this server · the last 30 days"
    );
    let total = embed["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Total time")
        .unwrap();
    assert_eq!(total["value"], "5 h 30 min");
}

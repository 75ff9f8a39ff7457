//! Opt-out and opt-in, delete, export, timezone, the context menu, `/callconfig` and the
//! heatmap image, against the local DynamoDB server with signed requests.

use callstats_core::board::{Column, Metric};
use callstats_core::period::PeriodKind;
use callstats_core::{ClosedSession, Flags, GuildConfig, GuildId, RankingRule, Timestamp, UserId};
use callstats_interactions::render::chart_png;
use callstats_interactions::render::heatmap_png::{EMPTY, HEIGHT, STRONGEST, WIDTH, cell_center};
use callstats_store::{StartOutcome, Store};
use callstats_tests::interactions::{
    ADA, BOB, CHANNEL, Endpoint, GUILD, Interaction, OTHER_GUILD, decode_png, open, partition_keys,
    seed, seed_open,
};
use callstats_tests::time::at;
use serde_json::{Value, json};

fn now() -> Timestamp {
    at(2026, 11, 26, 12, 0, 0)
}

fn id(user: u64) -> UserId {
    UserId::new(user)
}

fn gid(guild: u64) -> GuildId {
    GuildId::new(guild)
}

/// `/callstats <sub>` without options, asked by `user`.
fn callstats(sub: &str, user: u64, name: &str) -> Interaction {
    Interaction::callstats(sub, json!([])).by(user, name)
}

/// `/calltop` without options, asked by `user`.
fn calltop(user: u64, name: &str) -> Interaction {
    Interaction::command("calltop", json!([])).by(user, name)
}

/// `/callstats show user:<target>`, asked by `viewer`.
fn lookup(viewer: u64, viewer_name: &str, target: u64, target_name: &str) -> Interaction {
    Interaction::callstats(
        "show",
        json!([{"name": "user", "type": 6, "value": target.to_string()}]),
    )
    .by(viewer, viewer_name)
    .resolve(target, target_name, false)
}

/// `/callstats timezone zone:<zone>`, asked by Ada.
fn set_timezone(zone: &str) -> Interaction {
    Interaction::callstats(
        "timezone",
        json!([{"name": "zone", "type": 3, "value": zone}]),
    )
    .by(ADA, "Ada")
}

/// Ada's hour in a call on Tuesday 2026-11-24 from 21:00 UTC.
async fn seed_tuesday_evening(endpoint: &Endpoint) {
    seed(
        &endpoint.store,
        ADA,
        GUILD,
        at(2026, 11, 24, 21, 0, 0),
        3600,
        &[],
    )
    .await;
}

/// `guild`'s leaderboard of `period` by `metric` does not list `user`.
async fn assert_off_the_board(
    store: &Store,
    guild: u64,
    period: PeriodKind,
    metric: Metric,
    user: u64,
) {
    let board =
        callstats_tests::dynamo::board(store, gid(guild), Column::new(period, metric)).await;
    assert!(
        board.iter().all(|(u, _)| *u != id(user)),
        "{period:?} {metric:?}"
    );
}

/// Nobody sees `user` any more: not on leaderboards, not by lookup.
async fn assert_hidden(endpoint: &Endpoint, user: u64) {
    let without = endpoint.send(&calltop(ADA, "Ada")).await;
    assert!(
        !without.description().contains(&format!("<@{user}>")),
        "{}",
        without.description()
    );
    for period in [PeriodKind::All, PeriodKind::Week, PeriodKind::Month] {
        assert_off_the_board(&endpoint.store, GUILD, period, Metric::Total, user).await;
    }
    let looked_up = endpoint.send(&lookup(ADA, "Ada", user, "Someone")).await;
    assert_eq!(looked_up.title(), "Not available");
    let own_top = endpoint.send(&calltop(user, "Someone")).await;
    assert!(
        own_top
            .description()
            .ends_with("you opted out, so you are not listed.")
    );
}

#[tokio::test]
async fn opting_out_mid_session_ends_it_hides_the_user_and_blocks_new_sessions() {
    let endpoint = Endpoint::new(now()).await;
    let store = &endpoint.store;
    seed(store, ADA, GUILD, at(2026, 11, 24, 10, 0, 0), 3600, &[]).await;
    seed(store, BOB, GUILD, at(2026, 11, 24, 12, 0, 0), 7200, &[]).await;
    let live = seed_open(store, BOB, GUILD, at(2026, 11, 26, 11, 40, 0), Flags::NONE).await;
    assert!(
        endpoint
            .send(&calltop(ADA, "Ada"))
            .await
            .description()
            .contains(&format!("<@{BOB}>"))
    );

    let answer = endpoint.send(&callstats("optout", BOB, "Bob")).await;
    assert!(answer.ephemeral());
    assert_eq!(answer.title(), "You opted out");
    assert!(
        answer
            .description()
            .starts_with("Your call in progress was ended now")
    );

    // The session in progress ended at that moment, recorded without leaderboard entries.
    assert_eq!(store.open_session(id(BOB), gid(GUILD)).await.unwrap(), None);
    let last = &store.recent_sessions(id(BOB), gid(GUILD), 1).await.unwrap()[0];
    assert_eq!(
        (last.start(), last.end, last.duration()),
        (live.start(), now(), 1200)
    );
    assert!(!last.estimated);

    // Leaderboards and lookups by others no longer show Bob.
    assert_hidden(&endpoint, BOB).await;

    // A new join is not stored.
    let rejoin = open(BOB, GUILD, CHANNEL, now().plus(60), Flags::NONE);
    assert_eq!(
        store
            .start_session(&rejoin, RankingRule::default())
            .await
            .unwrap(),
        StartOutcome::OptedOut
    );
    assert_eq!(store.open_session(id(BOB), gid(GUILD)).await.unwrap(), None);

    // Opting in resumes tracking and brings the past back onto the leaderboards.
    let answer = endpoint.send(&callstats("optin", BOB, "Bob")).await;
    assert_eq!(answer.title(), "Tracking resumed");
    assert!(answer.ephemeral());
    seed_open(store, BOB, GUILD, now().plus(120), Flags::NONE).await;
    let back = endpoint.send(&calltop(ADA, "Ada")).await;
    assert!(
        back.description()
            .starts_with(&format!("`#1` 🥇 <@{BOB}> · **2 h 20 min**"))
    );
}

/// Ada's data in two servers: sessions, a call in progress and a timezone.
async fn seed_everything(endpoint: &Endpoint, user: u64) -> Vec<ClosedSession> {
    let store = &endpoint.store;
    let sessions = vec![
        seed(
            store,
            user,
            GUILD,
            at(2026, 11, 2, 20, 0, 0),
            5400,
            &[(1800, Flags::MUTED)],
        )
        .await,
        seed(
            store,
            user,
            GUILD,
            at(2026, 11, 24, 21, 0, 0),
            3600,
            &[(2700, Flags::DEAFENED)],
        )
        .await,
        seed(
            store,
            user,
            OTHER_GUILD,
            at(2026, 11, 25, 23, 30, 0),
            3600,
            &[(0, Flags::ALONE), (600, Flags::STREAMING)],
        )
        .await,
    ];
    seed_open(
        store,
        user,
        GUILD,
        at(2026, 11, 26, 11, 25, 0),
        Flags::VIDEO,
    )
    .await;
    store
        .set_user_timezone(id(user), Some(chrono_tz::Europe::Berlin))
        .await
        .unwrap();
    sessions
}

#[tokio::test]
async fn delete_needs_the_users_own_confirmation_then_removes_everything() {
    let endpoint = Endpoint::new(now()).await;
    seed_everything(&endpoint, ADA).await;
    seed(
        &endpoint.store,
        BOB,
        GUILD,
        at(2026, 11, 24, 9, 0, 0),
        600,
        &[],
    )
    .await;
    let before = partition_keys(&endpoint.store, ADA).await;
    assert!(before.len() > 6, "{before:?}");

    let question = endpoint.send(&callstats("delete", ADA, "Ada")).await;
    assert!(question.ephemeral());
    assert_eq!(question.title(), "Delete all your call data?");
    let buttons = question.buttons();
    assert_eq!(
        buttons,
        vec![
            (format!("del1:{ADA}:yes"), false),
            (format!("del1:{ADA}:no"), false)
        ]
    );
    assert_eq!(
        partition_keys(&endpoint.store, ADA).await,
        before,
        "nothing deleted yet"
    );

    let stranger = endpoint
        .send(&Interaction::button(&buttons[0].0).by(BOB, "Bob"))
        .await;
    assert_eq!(stranger.title(), "Not your buttons");
    assert!(stranger.ephemeral());
    assert_eq!(partition_keys(&endpoint.store, ADA).await, before);

    let cancel = endpoint
        .send(&Interaction::button(&buttons[1].0).by(ADA, "Ada"))
        .await;
    assert_eq!(cancel.kind(), 7);
    assert_eq!(cancel.title(), "Nothing was deleted");
    assert!(cancel.buttons().is_empty());
    assert_eq!(partition_keys(&endpoint.store, ADA).await, before);

    let done = endpoint
        .send(&Interaction::button(&buttons[0].0).by(ADA, "Ada"))
        .await;
    assert_eq!(done.kind(), 7, "the question is replaced by the report");
    assert_eq!(done.title(), "Your call data was deleted");
    assert!(done.buttons().is_empty());
    assert_eq!(done.field("Sessions"), "3");
    assert_eq!(done.field("Calls in progress"), "1");
    assert_eq!(done.field("Server totals"), "2");
    assert_eq!(done.field("Settings"), "removed");
    assert!(done.description().contains("Tracking continues"));
    // Only the instant of the deletion is left (it refuses replays of older starts).
    assert_eq!(
        partition_keys(&endpoint.store, ADA).await,
        vec!["USER".to_owned()]
    );
    for guild in [GUILD, OTHER_GUILD] {
        for metric in [Metric::Total, Metric::Ranked] {
            assert_off_the_board(&endpoint.store, guild, PeriodKind::All, metric, ADA).await;
        }
    }
    // Others' data is untouched.
    assert!(!partition_keys(&endpoint.store, BOB).await.is_empty());
}

#[tokio::test]
async fn delete_keeps_only_the_opt_out_flag_of_a_user_who_opted_out() {
    let endpoint = Endpoint::new(now()).await;
    seed_everything(&endpoint, BOB).await;
    endpoint.send(&callstats("optout", BOB, "Bob")).await;
    let done = endpoint
        .send(&Interaction::button(&format!("del1:{BOB}:yes")).by(BOB, "Bob"))
        .await;
    assert!(done.description().contains("You stay opted out"));
    assert_eq!(
        partition_keys(&endpoint.store, BOB).await,
        vec!["USER".to_owned()]
    );
    let settings = endpoint.store.user_settings(id(BOB)).await.unwrap();
    assert!(settings.opted_out);
    assert_eq!(settings.timezone, None);
}

fn breakdown_json(c: &ClosedSession) -> Value {
    json!({
        "muted_secs": c.breakdown.muted,
        "deafened_secs": c.breakdown.deafened,
        "streaming_secs": c.breakdown.streaming,
        "video_secs": c.breakdown.video,
        "alone_secs": c.breakdown.alone,
        "active_secs": c.breakdown.active,
    })
}

/// The exported aggregates of each server equal what the store holds.
async fn assert_aggregates(endpoint: &Endpoint, guilds: &[Value]) {
    let stored = endpoint.store.export_user(id(ADA)).await.unwrap();
    for g in guilds {
        let guild: u64 = g["guild_id"].as_str().unwrap().parse().unwrap();
        let held = &stored.guilds[&gid(guild)];
        let all = held.all_time.as_ref().unwrap();
        assert_eq!(g["all_time"]["total_secs"], all.stats.total);
        assert_eq!(g["all_time"]["active_secs"], all.stats.active);
        assert_eq!(g["all_time"]["ranked_secs"], all.ranked);
        assert_eq!(g["all_time"]["sessions"], all.stats.sessions);
        assert_eq!(g["all_time"]["longest_secs"], all.stats.longest);
        assert_eq!(
            g["all_time"]["heatmap_utc_half_hours"],
            json!(all.heatmap.buckets().to_vec())
        );
        assert_eq!(g["days"].as_array().unwrap().len(), held.days.len());
        for (day, record) in &held.days {
            let d = g["days"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["day"] == day.to_string())
                .unwrap();
            assert_eq!(d["total_secs"], record.total);
            assert_eq!(d["active_secs"], record.active);
            assert_eq!(d["sessions"], record.sessions);
            // Every half hour of the day, by channel, adds up to the day.
            let half_hours = d["half_hours"].as_array().unwrap();
            assert_eq!(half_hours.len(), record.slots.len());
            let sum: u64 = half_hours
                .iter()
                .map(|h| h["total_secs"].as_u64().unwrap())
                .sum();
            assert_eq!(sum, record.total);
        }
        // This week and month, as the leaderboards rank them.
        let week = all.week.unwrap();
        assert_eq!(
            g["all_time"]["this_week"],
            json!({
                "period": week.key.to_string(),
                "total_secs": week.total,
                "active_secs": week.active,
                "ranked_secs": week.ranked,
            })
        );
        assert_eq!(
            g["all_time"]["this_month"]["total_secs"],
            all.month.unwrap().total
        );
        let day_total: u64 = g["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["total_secs"].as_u64().unwrap())
            .sum();
        assert_eq!(g["all_time"]["total_secs"], day_total);
    }
}

#[tokio::test]
async fn export_round_trips_every_session_and_aggregate() {
    let endpoint = Endpoint::new(now()).await;
    let sessions = seed_everything(&endpoint, ADA).await;
    let answer = endpoint.send(&callstats("export", ADA, "Ada")).await;
    assert_eq!(answer.kind(), 4);
    assert!(answer.ephemeral());
    let parts = answer.parts();
    let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["payload_json", "files[0]"]);
    let file = &parts[1];
    assert_eq!(
        file.filename.as_deref(),
        Some(format!("callstats-export-{ADA}.json").as_str())
    );
    assert_eq!(file.content_type.as_deref(), Some("application/json"));
    assert_eq!(answer.data()["attachments"][0]["id"], 0);
    assert_eq!(
        answer.data()["attachments"][0]["filename"],
        file.filename.clone().unwrap()
    );

    let doc: Value = serde_json::from_slice(&file.body).unwrap();
    assert_eq!(doc["format"], "callstats-export");
    assert_eq!(doc["version"], 2);
    assert_eq!(doc["user_id"], ADA.to_string());
    assert_eq!(doc["exported_at"], "2026-11-26T12:00:00Z");
    assert_eq!(
        doc["settings"],
        json!({"opted_out": false, "timezone": "Europe/Berlin"})
    );
    let guilds = doc["guilds"].as_array().unwrap();
    let ids: Vec<&str> = guilds
        .iter()
        .map(|g| g["guild_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![GUILD.to_string(), OTHER_GUILD.to_string()]);

    // Every session, exactly.
    let all_sessions: Vec<&Value> = guilds
        .iter()
        .flat_map(|g| g["sessions"].as_array().unwrap())
        .collect();
    assert_eq!(all_sessions.len(), sessions.len());
    for s in &sessions {
        let exported = all_sessions
            .iter()
            .find(|e| e["session_id"] == s.id.to_string())
            .unwrap_or_else(|| panic!("session {} missing", s.id));
        assert_eq!(
            **exported,
            json!({
                "session_id": s.id.to_string(),
                "channel_id": CHANNEL.to_string(),
                "start": s.start().to_string(),
                "end": s.end.to_string(),
                "duration_secs": s.duration(),
                "estimated_end": false,
                "breakdown": breakdown_json(s),
            })
        );
    }
    // Every aggregate, as the store holds it.
    assert_aggregates(&endpoint, guilds).await;
    assert_eq!(guilds[0]["open_session"]["start"], "2026-11-26T11:25:00Z");
    assert_eq!(guilds[0]["open_session"]["state"]["video"], true);
    assert_eq!(guilds[1]["open_session"], Value::Null);
}

/// The colour of a heatmap cell in a decoded image.
fn cell(rgb: &[u8], day: usize, hour: usize) -> [u8; 3] {
    let (x, y) = cell_center(day, hour);
    let i = ((y * WIDTH + x) * 3) as usize;
    [rgb[i], rgb[i + 1], rgb[i + 2]]
}

#[tokio::test]
async fn timezone_autocomplete_offers_at_most_25_zones() {
    let endpoint = Endpoint::new(now()).await;
    let suggest = endpoint
        .send(
            &Interaction::autocomplete("callstats", Some("timezone"), "zone", "kol").by(ADA, "Ada"),
        )
        .await;
    assert_eq!(suggest.kind(), 8);
    let choices = suggest.data()["choices"].as_array().unwrap().clone();
    assert!(!choices.is_empty() && choices.len() <= 25);
    assert_eq!(
        choices[0],
        json!({"name": "Asia/Kolkata (UTC+05:30)", "value": "Asia/Kolkata"})
    );
    for typed in ["", "a", "america"] {
        let many = endpoint
            .send(&Interaction::autocomplete(
                "callstats",
                Some("timezone"),
                "zone",
                typed,
            ))
            .await;
        assert_eq!(
            many.data()["choices"].as_array().unwrap().len(),
            25,
            "{typed:?}"
        );
    }
    let config = endpoint
        .send(&Interaction::autocomplete(
            "callconfig",
            None,
            "timezone",
            "berl",
        ))
        .await;
    assert_eq!(config.data()["choices"][0]["value"], "Europe/Berlin");
}

#[tokio::test]
async fn a_kolkata_heatmap_is_shifted_from_utc() {
    let endpoint = Endpoint::new(now()).await;
    // Tuesday 21:00-22:00 UTC is Wednesday 02:30-03:30 in Asia/Kolkata.
    seed_tuesday_evening(&endpoint).await;
    let wrong = endpoint.send(&set_timezone("Mars/Olympus")).await;
    assert_eq!(wrong.title(), "Unknown timezone");
    assert!(wrong.ephemeral());
    assert_eq!(
        endpoint
            .store
            .user_settings(id(ADA))
            .await
            .unwrap()
            .timezone,
        None
    );

    let set = endpoint.send(&set_timezone("asia/kolkata")).await;
    assert_eq!(set.title(), "Timezone saved");
    assert!(
        set.description()
            .contains("**Asia/Kolkata** (UTC+05:30 right now)")
    );

    let shown = endpoint.send(&callstats("show", ADA, "Ada")).await;
    assert_eq!(
        shown.field("Hours of the day (Asia/Kolkata)"),
        "```\n··██····················\n0     6     12    18   23\n```"
    );
    assert!(
        shown
            .field("Days of the week (Asia/Kolkata)")
            .contains("Wed ████████████ 1 h 00 min")
    );
    assert!(shown.footer().ends_with("times in Asia/Kolkata"));
    // Bob has no timezone: he sees the same call in UTC.
    let in_utc = endpoint.send(&lookup(BOB, "Bob", ADA, "Ada")).await;
    assert_eq!(
        in_utc.field("Hours of the day (UTC)"),
        "```\n·····················█··\n0     6     12    18   23\n```"
    );
    assert!(
        in_utc
            .field("Days of the week (UTC)")
            .contains("Tue ████████████ 1 h 00 min")
    );

    // The images say the same: Wednesday 02:00 and 03:00 in Kolkata, Tuesday 21:00 in UTC.
    let (_, _, ist) = decode_png(&shown.parts()[1].body);
    assert_eq!(cell(&ist, 2, 2), STRONGEST);
    assert_eq!(cell(&ist, 2, 3), STRONGEST);
    assert_eq!(cell(&ist, 1, 21), EMPTY);
    let (_, _, utc) = decode_png(&in_utc.parts()[1].body);
    assert_eq!(cell(&utc, 1, 21), STRONGEST);
    assert_eq!(cell(&utc, 2, 2), EMPTY);
}

#[tokio::test]
async fn show_attaches_a_png_heatmap_in_valid_multipart() {
    let endpoint = Endpoint::new(now()).await;
    seed_tuesday_evening(&endpoint).await;
    let answer = endpoint.send(&callstats("show", ADA, "Ada")).await;
    assert!(
        answer
            .content_type()
            .starts_with("multipart/form-data; boundary=")
    );
    let parts = answer.parts();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0].name, "payload_json");
    assert_eq!(parts[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(parts[1].name, "files[0]");
    assert_eq!(parts[1].filename.as_deref(), Some("heatmap.png"));
    assert_eq!(parts[1].content_type.as_deref(), Some("image/png"));
    assert_eq!(answer.embed()["image"]["url"], "attachment://heatmap.png");
    assert_eq!(answer.data()["attachments"][0]["filename"], "heatmap.png");
    let (width, height, _) = decode_png(&parts[1].body);
    assert_eq!((width, height), (WIDTH, HEIGHT));
    // Discord takes files of up to 8 MiB; the heatmap is tens of kilobytes.
    assert!(
        parts[1].body.len() < 100 * 1024,
        "{} bytes",
        parts[1].body.len()
    );

    // The activity chart, in a second embed: the last 30 days, Tuesday's hour the only bar.
    assert_eq!(parts[2].name, "files[1]");
    assert_eq!(parts[2].filename.as_deref(), Some(chart_png::FILE_NAME));
    assert_eq!(
        answer.data()["embeds"][1]["image"]["url"],
        format!("attachment://{}", chart_png::FILE_NAME)
    );
    assert!(parts[2].body.len() < 100 * 1024);
    let (width, height, chart) = decode_png(&parts[2].body);
    assert_eq!((width, height), (chart_png::WIDTH, chart_png::HEIGHT));
    let pixel = |x: f32, y: f32| {
        let i = ((y as u32 * width + x as u32) * 3) as usize;
        [chart[i], chart[i + 1], chart[i + 2]]
    };
    // 24 November is the 27th of the 30 days (index 27, today the 26th is index 29).
    let tuesday = chart_png::bar_center(30, 27).unwrap();
    let monday = chart_png::bar_center(30, 26).unwrap();
    let low = chart_png::BASELINE - 3.0;
    assert_eq!(
        pixel(tuesday, low),
        chart_png::BAR,
        "the busiest day has a bar"
    );
    assert_ne!(pixel(monday, low), chart_png::BAR, "an empty day has none");
    // The busiest day is the tallest bar: it reaches the top of the plot's scale.
    assert_eq!(pixel(tuesday, chart_png::PLOT_TOP + 40.0), chart_png::BAR);

    // The context menu shows the same, for the invoker only, image included.
    let menu = endpoint
        .send(&Interaction::user_menu(ADA, "Ada").by(BOB, "Bob"))
        .await;
    assert!(menu.ephemeral());
    assert_eq!(menu.title(), "Call stats · Ada");
    assert_eq!(menu.field("Total time"), answer.field("Total time"));
    assert_eq!(menu.parts()[1].body, parts[1].body);
}

#[tokio::test]
async fn callconfig_shows_to_all_and_changes_only_with_manage_server() {
    let endpoint = Endpoint::new(now()).await;
    let config = |options: Value| Interaction::command("callconfig", options).by(ADA, "Ada");
    let member = 0x0000_0000_0000_0400; // view channel only
    let manager = 0x0000_0000_0000_0020; // manage server

    let view = endpoint
        .send(&config(json!([])).with_permissions(member))
        .await;
    assert!(view.ephemeral());
    assert_eq!(view.title(), "Server settings");
    assert_eq!(view.field("Deafened time"), "excluded in the ranking");
    assert_eq!(view.field("Time alone"), "excluded in the ranking");
    assert!(view.field("Timezone").starts_with("UTC"));

    let change = json!([
        {"name": "exclude_alone", "type": 5, "value": false},
        {"name": "timezone", "type": 3, "value": "Europe/Berlin"}
    ]);
    let refused = endpoint
        .send(&config(change.clone()).with_permissions(member))
        .await;
    assert_eq!(refused.title(), "Manage Server needed");
    assert_eq!(
        endpoint.store.guild_config(gid(GUILD)).await.unwrap(),
        GuildConfig::default()
    );

    let bad = endpoint
        .send(
            &config(json!([{"name": "timezone", "type": 3, "value": "Berlin/Europe"}]))
                .with_permissions(manager),
        )
        .await;
    assert_eq!(bad.title(), "Unknown timezone");

    let saved = endpoint
        .send(&config(change).with_permissions(manager))
        .await;
    assert_eq!(saved.title(), "Server settings saved");
    assert_eq!(saved.field("Time alone"), "counted in the ranking");
    let stored = endpoint.store.guild_config(gid(GUILD)).await.unwrap();
    assert_eq!(
        stored,
        GuildConfig {
            rule: RankingRule {
                exclude_deafened: true,
                exclude_alone: false
            },
            timezone: chrono_tz::Europe::Berlin,
        }
    );

    // Leaderboards follow: the rule in the footer, weeks in the guild's timezone.
    let top = endpoint.send(&calltop(ADA, "Ada")).await;
    assert!(
        top.footer()
            .contains("by active time (excluding deafened time)"),
        "{}",
        top.footer()
    );
    assert!(top.footer().contains("weeks start Monday in Europe/Berlin"));
    // Sunday 23:30 UTC is already Monday in Berlin: the next week's board.
    let late = Endpoint::with_store(endpoint.store.clone(), at(2026, 11, 29, 23, 30, 0));
    let next_week = late.send(&calltop(ADA, "Ada")).await;
    assert_eq!(next_week.title(), "Voice leaderboard · week 2026-W49");
}

/// A store slow enough that an opt-out cannot finish within the reply deadline: the flag is
/// set at once, the rest finishes in the background, and the reply says so when it is done.
#[tokio::test]
async fn an_opt_out_cut_by_the_deadline_finishes_in_the_background() {
    use callstats_tests::interactions::{APPLICATION, FakeDiscord};
    use std::sync::Arc;
    use std::time::Duration;

    let fast = callstats_tests::dynamo::fresh_store().await;
    // Bob in a call, and on the board with an earlier hour.
    seed(&fast, BOB, GUILD, at(2026, 11, 24, 12, 0, 0), 3600, &[]).await;
    let live = seed_open(&fast, BOB, GUILD, at(2026, 11, 26, 11, 40, 0), Flags::NONE).await;
    let proxy = callstats_tests::proxy::FaultProxy::in_front_of_dynamodb().await;
    proxy.latency(Duration::from_millis(150));
    let slow = Store::connect_with_endpoint(
        fast.table().clone(),
        callstats_store::Timeouts::default(),
        &proxy.url(),
    )
    .await;
    let rest = FakeDiscord::start().await;
    let app = callstats_interactions::context::App::builder(
        slow.clone(),
        callstats_tests::interactions::signing_key().verifying_key(),
    )
    .clock(Arc::new(callstats_runtime::ManualClock::new(now())))
    .deadline(Duration::from_secs(1))
    .api_base(callstats_interactions::config::ApiBase::parse(&rest.api_base()).unwrap())
    .build();
    let endpoint = Endpoint {
        app,
        store: fast.clone(),
        now: now(),
    };

    let optout = callstats("optout", BOB, "Bob");
    let answer = endpoint.send(&optout).await;
    assert_eq!(answer.json(), json!({"type": 5, "data": {"flags": 64}}));
    // The flag is set already: no new call is recorded.
    assert!(fast.user_settings(id(BOB)).await.unwrap().opted_out);

    let path = format!(
        "/api/v10/webhooks/{APPLICATION}/{}/messages/@original",
        optout.token()
    );
    let edit = rest.wait_for(|r| r.path == path).await;
    let body = edit.json();
    assert_eq!(body["embeds"][0]["title"], "You opted out");
    assert!(
        body["embeds"][0]["description"]
            .as_str()
            .unwrap()
            .starts_with("Your call in progress was ended now")
    );
    // All of it happened: the call ended at the opt-out, Bob is off the board and out of the
    // server figures.
    let last = &fast.recent_sessions(id(BOB), gid(GUILD), 1).await.unwrap()[0];
    assert_eq!((last.id, last.end), (live.id, now()));
    assert_off_the_board(&fast, GUILD, PeriodKind::All, Metric::Total, BOB).await;
    assert!(fast.guild_members(gid(GUILD)).await.unwrap().is_empty());
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// An export always fits the attachment limit the interaction names (compressed, or in
/// parts), and a member may export once per quarter of an hour.
#[tokio::test]
async fn exports_fit_the_attachment_limit_and_wait_their_turn() {
    let endpoint = Endpoint::new(now()).await;
    seed_everything(&endpoint, ADA).await;
    let export = |limit: u64| callstats("export", ADA, "Ada").with_attachment_limit(limit);
    let plain = endpoint.send(&export(10_485_760)).await;
    let json = plain.parts()[1].body.clone();
    assert_eq!(
        plain.parts()[1].filename.as_deref(),
        Some(format!("callstats-export-{ADA}.json").as_str())
    );

    // Again at once: refused, with when it is allowed again.
    let again = endpoint.send(&export(10_485_760)).await;
    assert!(again.ephemeral());
    assert_eq!(again.title(), "You exported your data a moment ago");
    assert!(again.description().ends_with(&format!(
        "You can export again <t:{}:R>.",
        now().plus(900).unix()
    )));
    assert!(again.content_type().starts_with("application/json"));

    // A quarter of an hour later, in a server whose limit is smaller than the JSON.
    let later = Endpoint::with_store(endpoint.store.clone(), now().plus(901));
    let small = later.send(&export(json.len() as u64 - 1)).await;
    let parts = small.parts();
    assert_eq!(parts.len(), 2);
    assert_eq!(
        parts[1].filename.as_deref(),
        Some(format!("callstats-export-{ADA}.json.gz").as_str())
    );
    assert!(small.description().contains("compressed with gzip"));
    let gz = parts[1].body.clone();
    let doc: Value = serde_json::from_slice(&gunzip(&gz)).unwrap();
    let first: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc["guilds"], first["guilds"]);

    // Smaller still: compressed and cut into parts, each within the limit.
    let tiny = Endpoint::with_store(endpoint.store.clone(), now().plus(1802));
    let limit = gz.len() as u64 / 3 + 1;
    let cut = tiny.send(&export(limit)).await;
    let parts = cut.parts();
    assert_eq!(parts.len(), 4, "the payload and three parts");
    let mut joined = Vec::new();
    for (i, part) in parts[1..].iter().enumerate() {
        assert_eq!(
            part.filename.as_deref(),
            Some(format!("callstats-export-{ADA}.json.gz.{:03}", i + 1).as_str())
        );
        assert!(part.body.len() as u64 <= limit);
        joined.extend_from_slice(&part.body);
    }
    let doc: Value = serde_json::from_slice(&gunzip(&joined)).unwrap();
    assert_eq!(doc["guilds"], first["guilds"]);
    assert!(cut.description().contains("cut into 3 parts"));
}

#[tokio::test]
async fn a_second_delete_within_five_minutes_is_refused_with_when() {
    let endpoint = Endpoint::new(now()).await;
    seed(
        &endpoint.store,
        ADA,
        GUILD,
        at(2026, 11, 24, 9, 0, 0),
        600,
        &[],
    )
    .await;
    let press = || Interaction::button(&format!("del1:{ADA}:yes")).by(ADA, "Ada");
    let done = endpoint.send(&press()).await;
    assert_eq!(done.title(), "Your call data was deleted");
    let again = endpoint.send(&press()).await;
    assert_eq!(again.kind(), 7);
    assert_eq!(again.title(), "You deleted your data a moment ago");
    assert!(again.description().ends_with(&format!(
        "You can delete again <t:{}:R>.",
        now().plus(300).unix()
    )));
    let later = Endpoint::with_store(endpoint.store.clone(), now().plus(301));
    assert_eq!(
        later.send(&press()).await.title(),
        "Your call data was deleted"
    );
}

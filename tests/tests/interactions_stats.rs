//! `/callstats show`, `/callstats history` and `/calltop` against the local DynamoDB server
//! with seeded sessions: exact figures, order, pages, ranks, and who may see what.

use callstats_core::{Flags, GuildConfig, RankingRule, Timestamp, UserId};
use callstats_store::{EndOutcome, StartOutcome};
use callstats_tests::interactions::{
    ADA, BOB, CHANNEL, Endpoint, GUILD, Interaction, OTHER_GUILD, open, seed,
};
use callstats_tests::time::at;
use chrono_tz::Tz;
use serde_json::json;

fn now() -> Timestamp {
    // A Thursday.
    at(2026, 11, 26, 12, 0, 0)
}

/// Ada's calls: one long ago, two this week (one deafened at the end, one alone at the
/// start and across midnight), one in another server, and one in progress.
async fn seed_ada(endpoint: &Endpoint) {
    seed_ada_long_ago(endpoint).await;
    seed_ada_this_week(endpoint).await;
}

async fn seed_ada_long_ago(endpoint: &Endpoint) {
    seed(
        &endpoint.store,
        ADA,
        GUILD,
        at(2026, 11, 10, 20, 0, 0),
        7200,
        &[],
    )
    .await;
}

/// The store takes a member's calls in a server in the order they happened (an older start
/// after a later end is a replay), so seeds go in time order too.
async fn seed_ada_this_week(endpoint: &Endpoint) {
    let store = &endpoint.store;
    seed(
        store,
        ADA,
        GUILD,
        at(2026, 11, 24, 21, 0, 0),
        3600,
        &[(2700, Flags::DEAFENED)],
    )
    .await;
    seed(
        store,
        ADA,
        GUILD,
        at(2026, 11, 25, 23, 30, 0),
        3600,
        &[(0, Flags::ALONE), (600, Flags::NONE)],
    )
    .await;
    seed(
        store,
        ADA,
        OTHER_GUILD,
        at(2026, 11, 25, 10, 0, 0),
        5 * 3600,
        &[],
    )
    .await;
    let live = open(
        ADA,
        GUILD,
        CHANNEL,
        at(2026, 11, 26, 11, 25, 0),
        Flags::MUTED,
    );
    assert_eq!(
        store
            .start_session(&live, RankingRule::default())
            .await
            .unwrap(),
        StartOutcome::Started
    );
}

#[tokio::test]
async fn show_all_time_and_last_7_days_exactly() {
    let endpoint = Endpoint::new(now()).await;
    seed_ada(&endpoint).await;

    let all = endpoint
        .send(&Interaction::callstats("show", json!([])).by(ADA, "Ada"))
        .await;
    assert_eq!(all.kind(), 4);
    assert!(!all.ephemeral());
    assert_eq!(all.title(), "Call stats · Ada");
    assert_eq!(all.description(), "All time in this server.");
    assert_eq!(all.field("Total time"), "4 h 35 min"); // 7200 + 3600 + 3600 + 2100 live
    assert_eq!(all.field("Active time"), "4 h 10 min (90 %)"); // 15000 of 16500
    assert_eq!(all.field("Sessions"), "4");
    assert_eq!(all.field("Average session"), "1 h 08 min"); // 4125 s
    assert_eq!(all.field("Longest session"), "2 h 00 min");
    assert_eq!(
        all.field("Last active"),
        format!("in a call now, 35 min 00 s (<#{CHANNEL}>)")
    );
    // Hours (UTC): 0 and 23 from the midnight call, 11 live, 20 and 21 (twice) in the evening.
    assert_eq!(
        all.field("Hours of the day (UTC)"),
        "```\n▂··········▃········▄█·▂\n0     6     12    18   23\n```"
    );
    let days = all.field("Days of the week (UTC)");
    assert!(days.contains("Tue ████████████ 3 h 00 min"), "{days}");
    assert!(days.contains("Wed ██░░░░░░░░░░ 30 min 00 s"), "{days}");
    assert!(days.contains("Thu █████░░░░░░░ 1 h 05 min"), "{days}");
    assert_eq!(
        all.footer(),
        "AFK channel excluded · active = neither deafened nor alone · ranking excluding \
         deafened and alone time · days and times in UTC"
    );

    let week = endpoint
        .send(
            &Interaction::callstats(
                "show",
                json!([{"name": "period", "type": 3, "value": "7d"},
                       {"name": "private", "type": 5, "value": true}]),
            )
            .by(ADA, "Ada"),
        )
        .await;
    assert!(week.ephemeral());
    assert_eq!(
        week.description(),
        "Last 7 days in this server: 2026-11-20 to 2026-11-26 (days in UTC)."
    );
    assert_eq!(week.field("Total time"), "2 h 35 min"); // 3600 + 3600 + 2100
    assert_eq!(week.field("Active time"), "2 h 10 min (83 %)"); // 7800 of 9300
    assert_eq!(week.field("Sessions"), "3");
    assert_eq!(week.field("Average session"), "51 min 40 s");
    assert_eq!(week.field("Longest session"), "1 h 00 min");
    // The heatmaps cover the window too: 20:00 had a call on 10 November only.
    let hour = |field: String, h: usize| field.lines().nth(1).unwrap().chars().nth(h).unwrap();
    assert_eq!(hour(week.field("Hours of the day (UTC)"), 20), '·');
    assert_ne!(hour(all.field("Hours of the day (UTC)"), 20), '·');
    for h in [0, 11, 21, 23] {
        assert_ne!(hour(week.field("Hours of the day (UTC)"), h), '·', "{h}");
    }
}

#[tokio::test]
async fn stats_are_per_server() {
    let endpoint = Endpoint::new(now()).await;
    seed(
        &endpoint.store,
        ADA,
        OTHER_GUILD,
        at(2026, 11, 25, 10, 0, 0),
        3600,
        &[],
    )
    .await;
    let here = endpoint
        .send(&Interaction::callstats("show", json!([])).by(ADA, "Ada"))
        .await;
    assert!(here.description().contains("No calls recorded here yet."));
    let there = endpoint
        .send(
            &Interaction::callstats("show", json!([]))
                .by(ADA, "Ada")
                .in_guild(OTHER_GUILD),
        )
        .await;
    assert_eq!(there.field("Total time"), "1 h 00 min");
    let history = endpoint
        .send(&Interaction::callstats("history", json!([])).by(ADA, "Ada"))
        .await;
    assert_eq!(
        history.description(),
        "No calls recorded in this server yet."
    );
    let top = endpoint
        .send(&Interaction::command("calltop", json!([])).by(BOB, "Bob"))
        .await;
    assert!(top.description().starts_with("Nobody has call time"));
}

#[tokio::test]
async fn looking_up_others_respects_opt_out_and_bots() {
    let endpoint = Endpoint::new(now()).await;
    seed(
        &endpoint.store,
        BOB,
        GUILD,
        at(2026, 11, 25, 10, 0, 0),
        600,
        &[],
    )
    .await;
    let bob_by_ada = || {
        Interaction::callstats(
            "show",
            json!([{"name": "user", "type": 6, "value": BOB.to_string()}]),
        )
        .by(ADA, "Ada")
        .resolve(BOB, "Bob", false)
    };
    let answer = endpoint.send(&bob_by_ada()).await;
    assert_eq!(answer.title(), "Call stats · Bob");
    assert_eq!(answer.field("Total time"), "10 min 00 s");

    endpoint
        .store
        .set_opted_out(callstats_core::UserId::new(BOB), true, now())
        .await
        .unwrap();
    let refused = endpoint.send(&bob_by_ada()).await;
    assert_eq!(refused.title(), "Not available");
    assert!(refused.ephemeral());
    let history = endpoint
        .send(
            &Interaction::callstats(
                "history",
                json!([{"name": "user", "type": 6, "value": BOB.to_string()}]),
            )
            .by(ADA, "Ada")
            .resolve(BOB, "Bob", false),
        )
        .await;
    assert_eq!(history.title(), "Not available");
    let menu = endpoint
        .send(&Interaction::user_menu(BOB, "Bob").by(ADA, "Ada"))
        .await;
    assert_eq!(menu.title(), "Not available");
    // Bob still sees his own figures, with a note.
    let own = endpoint
        .send(&Interaction::callstats("show", json!([])).by(BOB, "Bob"))
        .await;
    assert_eq!(own.field("Total time"), "10 min 00 s");
    assert!(own.description().contains("You opted out"));

    let bot = endpoint
        .send(
            &Interaction::callstats("show", json!([{"name": "user", "type": 6, "value": "42"}]))
                .by(ADA, "Ada")
                .resolve(42, "Some Bot", true),
        )
        .await;
    assert_eq!(bot.title(), "Not tracked");
}

#[tokio::test]
async fn history_lists_newest_first_with_estimated_ends_marked() {
    let endpoint = Endpoint::new(now()).await;
    seed_ada_long_ago(&endpoint).await;
    // A session whose end was inferred after an outage.
    let estimated = open(
        ADA,
        GUILD,
        CHANNEL + 1,
        at(2026, 11, 20, 8, 0, 0),
        Flags::NONE,
    );
    assert_eq!(
        endpoint
            .store
            .start_session(&estimated, RankingRule::default())
            .await
            .unwrap(),
        StartOutcome::Started
    );
    let closed = estimated.close(at(2026, 11, 20, 8, 45, 0), Tz::UTC, true);
    assert!(matches!(
        endpoint
            .store
            .end_session(&closed, &GuildConfig::default())
            .await
            .unwrap(),
        EndOutcome::Ended(_)
    ));
    seed_ada_this_week(&endpoint).await;

    let answer = endpoint
        .send(&Interaction::callstats("history", json!([])).by(ADA, "Ada"))
        .await;
    assert!(answer.ephemeral());
    assert_eq!(answer.title(), "Recent calls · Ada");
    let u = |y, mo, d, h, mi| at(y, mo, d, h, mi, 0).unix();
    let expected = [
        format!(
            "🔴 <t:{}:f> → now · **35 min 00 s** · <#{CHANNEL}> · in a call now",
            u(2026, 11, 26, 11, 25)
        ),
        format!(
            "<t:{}:f> → <t:{}:t> · **1 h 00 min** · <#{CHANNEL}>",
            u(2026, 11, 25, 23, 30),
            u(2026, 11, 26, 0, 30)
        ),
        format!(
            "<t:{}:f> → <t:{}:t> · **1 h 00 min** · <#{CHANNEL}>",
            u(2026, 11, 24, 21, 0),
            u(2026, 11, 24, 22, 0)
        ),
        format!(
            "<t:{}:f> → ≈ <t:{}:t> · **45 min 00 s** · <#{}>",
            u(2026, 11, 20, 8, 0),
            u(2026, 11, 20, 8, 45),
            CHANNEL + 1
        ),
        format!(
            "<t:{}:f> → <t:{}:t> · **2 h 00 min** · <#{CHANNEL}>",
            u(2026, 11, 10, 20, 0),
            u(2026, 11, 10, 22, 0)
        ),
    ];
    assert_eq!(answer.description(), expected.join("\n"));
}

fn member(i: u64) -> u64 {
    2_000 + i
}

/// 25 members this week, member i with (100 - i) minutes (member 13 will ask), and one
/// mostly deafened: first by total time, last by active time.
async fn seed_leaderboard(endpoint: &Endpoint) {
    for i in 0..25 {
        seed(
            &endpoint.store,
            member(i),
            GUILD,
            at(2026, 11, 24, 10, 0, 0),
            (100 - i) * 60,
            &[],
        )
        .await;
    }
    seed(
        &endpoint.store,
        member(99),
        GUILD,
        at(2026, 11, 23, 10, 0, 0),
        5 * 3600,
        &[(60, Flags::DEAFENED)],
    )
    .await;
}

#[tokio::test]
async fn calltop_pages_ranks_and_refuses_other_members() {
    let endpoint = Endpoint::new(now()).await;
    seed_leaderboard(&endpoint).await;
    let me = member(13);
    let first = endpoint
        .send(&Interaction::command("calltop", json!([])).by(me, "Me"))
        .await;
    assert_eq!(first.kind(), 4);
    assert!(!first.ephemeral());
    assert_eq!(first.title(), "Voice leaderboard · week 2026-W48");
    let lines: Vec<String> = first.description().lines().map(str::to_owned).collect();
    assert_eq!(
        lines[0],
        format!("`#1` 🥇 <@{}> · **1 h 40 min**", member(0))
    );
    assert_eq!(lines[9], format!("`#10` <@{}> · **1 h 31 min**", member(9)));
    assert_eq!(lines[11], "**Your rank:** #14 · 1 h 27 min");
    assert!(
        first
            .footer()
            .starts_with("Page 1 of 3 · by active time (excluding deafened and alone time)")
    );
    let buttons = first.buttons();
    assert_eq!(
        buttons,
        vec![
            (format!("top1:{me}:W2026-W48:r:1"), true),
            (format!("top1:{me}:W2026-W48:r:2"), false)
        ]
    );

    let second = endpoint
        .send(&Interaction::button(&buttons[1].0).by(me, "Me"))
        .await;
    assert_eq!(second.kind(), 7, "a page turn replaces the message");
    let lines: Vec<String> = second.description().lines().map(str::to_owned).collect();
    assert_eq!(
        lines[0],
        format!("`#11` <@{}> · **1 h 30 min**", member(10))
    );
    assert_eq!(lines[3], format!("`#14` <@{me}> · **1 h 27 min** ← you"));
    assert!(second.footer().starts_with("Page 2 of 3"));

    let third = endpoint
        .send(&Interaction::button(&second.buttons()[1].0).by(me, "Me"))
        .await;
    let lines: Vec<String> = third.description().lines().map(str::to_owned).collect();
    // 25 members with active time, and the deafened one with 60 s of it.
    assert_eq!(
        lines[0],
        format!("`#21` <@{}> · **1 h 20 min**", member(20))
    );
    assert_eq!(
        lines[5],
        format!("`#26` <@{}> · **1 min 00 s**", member(99))
    );
    assert!(third.buttons()[1].1, "no page after the last");
    assert!(third.footer().starts_with("Page 3 of 3"));

    // Someone else pressing the invoker's button is turned away, and nothing changes.
    let refused = endpoint
        .send(&Interaction::button(&buttons[1].0).by(ADA, "Ada"))
        .await;
    assert_eq!(refused.kind(), 4);
    assert!(refused.ephemeral());
    assert_eq!(refused.title(), "Not your buttons");
}

#[tokio::test]
async fn calltop_by_total_time_and_for_other_periods() {
    let endpoint = Endpoint::new(now()).await;
    seed_leaderboard(&endpoint).await;
    let me = member(13);
    // By total time the deafened member leads.
    let total = endpoint
        .send(
            &Interaction::command(
                "calltop",
                json!([{"name": "metric", "type": 3, "value": "total"}]),
            )
            .by(me, "Me"),
        )
        .await;
    assert!(
        total
            .description()
            .starts_with(&format!("`#1` 🥇 <@{}> · **5 h 00 min**", member(99)))
    );
    assert!(
        total
            .description()
            .ends_with("**Your rank:** #15 · 1 h 27 min")
    );
    assert!(total.footer().contains("by total time in calls"));

    // Someone with no time this month is told so.
    let month = endpoint
        .send(
            &Interaction::command(
                "calltop",
                json!([{"name": "period", "type": 3, "value": "month"}]),
            )
            .by(ADA, "Ada"),
        )
        .await;
    assert_eq!(month.title(), "Voice leaderboard · month 2026-11");
    assert!(
        month
            .description()
            .ends_with("**Your rank:** no call time in this period yet.")
    );
}

#[tokio::test]
async fn the_board_names_members_as_the_tracker_saw_them_and_deleted_members_not_at_all() {
    let endpoint = Endpoint::new(now()).await;
    let store = &endpoint.store;
    let guild = callstats_core::GuildId::new(GUILD);
    for (i, secs) in [(1, 3600), (2, 1800), (3, 900)] {
        seed(
            store,
            member(i),
            GUILD,
            at(2026, 11, 24, 10, 0, 0),
            secs,
            &[],
        )
        .await;
    }
    // Member 1 named with markup and a mention in their nickname; member 2 has left the
    // server (the reader's client knows nothing of them, the board still names them);
    // member 3 never named.
    store
        .set_name(guild, UserId::new(member(1)), "**Ada** @everyone", now())
        .await
        .unwrap();
    store
        .set_name(guild, UserId::new(member(2)), "Bob (gone)", now())
        .await
        .unwrap();
    let top = endpoint
        .send(&Interaction::command("calltop", json!([])).by(member(3), "Cleo"))
        .await;
    let text = top.description();
    assert!(
        text.contains("`#1` 🥇 \\*\\*Ada\\*\\* \\@everyone · **1 h 00 min**"),
        "{text}"
    );
    assert!(
        text.contains("`#2` 🥈 Bob \\(gone\\) · **30 min 00 s**"),
        "{text}"
    );
    assert!(
        text.contains(&format!("`#3` 🥉 <@{}> · **15 min 00 s**", member(3))),
        "{text}"
    );
    // Member 1 deletes their data: off the board, and their name is gone.
    store
        .delete_user(UserId::new(member(1)), now())
        .await
        .unwrap();
    assert!(
        store
            .names(guild, &[UserId::new(member(1))])
            .await
            .unwrap()
            .is_empty()
    );
    let after = endpoint
        .send(&Interaction::command("calltop", json!([])).by(member(3), "Cleo"))
        .await;
    let text = after.description();
    assert!(
        !text.contains("Ada") && !text.contains(&member(1).to_string()),
        "{text}"
    );
    assert!(text.contains("`#1` 🥇 Bob \\(gone\\)"), "{text}");
}

//! The sidecar turns voice state changes into exact sessions. The sidecar runs
//! in-process with a manual clock against the fake gateway and the local DynamoDB server;
//! every figure is checked to the second.

use callstats_core::RankingRule;
use callstats_core::breakdown::Breakdown;
use callstats_core::period::{Day, MonthKey, PeriodKey, WeekKey};
use callstats_core::{ChannelId, GuildConfig, GuildId, Timestamp, UserId};
use callstats_fake_gateway::{ChannelSpec, GuildSpec, VoiceMember};
use callstats_tests::dynamo::{
    all_time, assert_nothing_stored, fresh_store, period_totals, sessions,
};
use callstats_tests::scene::{flags, scene, scene_on};
use callstats_tests::sidecar::Options;
use callstats_tests::time::at;
use chrono_tz::Tz;
use twilight_model::id::Id;

fn guild(n: u64) -> GuildId {
    Id::new((n << 22) | 1)
}

fn user(n: u64) -> UserId {
    Id::new(10_000 + n)
}

fn chan(n: u64) -> ChannelId {
    Id::new(500 + n)
}

const AFK: u64 = 99;

/// Total, active, deafened, alone, sessions.
type DayFigures = (u64, u64, u64, u64, u64);

/// A guild with voice channels 1 to 3 and an AFK channel.
fn spec(n: u64) -> GuildSpec {
    GuildSpec::new(guild(n), format!("guild {n}"))
        .channel(ChannelSpec::text(chan(0), "general"))
        .channel(ChannelSpec::voice(chan(1), "lounge"))
        .channel(ChannelSpec::voice(chan(2), "games"))
        .channel(ChannelSpec::stage(chan(3), "stage"))
        .channel(ChannelSpec::voice(chan(AFK), "afk"))
        .afk(chan(AFK), 300)
}

fn breakdown(
    muted: u64,
    deafened: u64,
    streaming: u64,
    video: u64,
    alone: u64,
    active: u64,
) -> Breakdown {
    Breakdown {
        muted,
        deafened,
        streaming,
        video,
        alone,
        active,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_and_leave() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let s = scene(vec![spec(1)], t0).await;
    s.join(guild(1), user(1), chan(1)).await;
    s.clock.advance(600);
    s.leave(guild(1), user(1)).await;
    s.sidecar.wait_idle().await;

    let got = sessions(&s.store, user(1), guild(1)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].start(), got[0].end, got[0].channel),
        (t0, t0.plus(600), chan(1))
    );
    assert!(!got[0].estimated);
    assert_eq!(got[0].breakdown, breakdown(0, 0, 0, 0, 600, 0));
    let all = all_time(&s.store, user(1), guild(1)).await;
    assert_eq!(
        (all.stats.total, all.stats.sessions, all.stats.longest),
        (600, 1, 600)
    );
    assert_eq!(all.stats.last_active, Some(t0.plus(600)));
    assert!(
        s.store
            .open_session(user(1), guild(1))
            .await
            .unwrap()
            .is_none()
    );
    s.sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_between_channels_ends_one_session_and_starts_another() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let s = scene(vec![spec(1)], t0).await;
    s.join(guild(1), user(1), chan(1)).await;
    s.clock.advance(120);
    s.join(guild(1), user(1), chan(2)).await;
    s.clock.advance(30);
    s.join(guild(1), user(1), chan(3)).await;
    s.clock.advance(50);
    s.leave(guild(1), user(1)).await;
    s.sidecar.wait_idle().await;

    let got: Vec<(Timestamp, u64, ChannelId)> = sessions(&s.store, user(1), guild(1))
        .await
        .iter()
        .map(|r| (r.start(), r.duration(), r.channel))
        .collect();
    assert_eq!(
        got,
        [
            (t0, 120, chan(1)),
            (t0.plus(120), 30, chan(2)),
            (t0.plus(150), 50, chan(3))
        ]
    );
    let all = all_time(&s.store, user(1), guild(1)).await;
    assert_eq!(
        (all.stats.total, all.stats.sessions, all.stats.longest),
        (200, 3, 120)
    );
    s.sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_guilds_at_once() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let s = scene(vec![spec(1), spec(2)], t0).await;
    s.join(guild(1), user(1), chan(1)).await;
    s.join(guild(2), user(1), chan(1)).await;
    s.join(guild(2), user(2), chan(1)).await;
    s.clock.advance(100);
    s.leave(guild(1), user(1)).await;
    s.clock.advance(200);
    s.leave(guild(2), user(1)).await;
    s.leave(guild(2), user(2)).await;
    s.sidecar.wait_idle().await;

    let one = sessions(&s.store, user(1), guild(1)).await;
    let two = sessions(&s.store, user(1), guild(2)).await;
    assert_eq!(
        (one.len(), one[0].duration(), one[0].breakdown.alone),
        (1, 100, 100)
    );
    assert_eq!(
        (two.len(), two[0].duration(), two[0].breakdown.active),
        (1, 300, 300)
    );
    let other = sessions(&s.store, user(2), guild(2)).await;
    assert_eq!((other.len(), other[0].duration()), (1, 300));
    assert!(sessions(&s.store, user(2), guild(1)).await.is_empty());
    s.sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_users_at_once() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    // 100 already in voice when the sidecar starts, 100 joining at once after.
    let mut g = spec(1);
    for n in 0..100 {
        g = g.voice_member(VoiceMember::new(user(n), chan(1 + n % 3)));
    }
    let s = scene(vec![g], t0).await;
    s.sidecar.wait_idle().await;
    let mut last = None;
    for n in 100..200 {
        let delivery = s
            .fake
            .voice_update(guild(1), user(n), Some(chan(1 + n % 3)), flags(&[]))
            .unwrap();
        last = Some(delivery);
    }
    s.sidecar
        .wait_delivered(guild(1), last.as_ref().unwrap())
        .await;
    s.clock.advance(3600);
    for n in 0..200 {
        last = Some(
            s.fake
                .voice_update(guild(1), user(n), None, flags(&[]))
                .unwrap(),
        );
    }
    s.sidecar
        .wait_delivered(guild(1), last.as_ref().unwrap())
        .await;
    s.sidecar.wait_idle().await;

    for n in 0..200 {
        let got = sessions(&s.store, user(n), guild(1)).await;
        assert_eq!(got.len(), 1, "user {n}");
        assert_eq!((got[0].start(), got[0].duration()), (t0, 3600), "user {n}");
        // Nobody is ever alone with 66 others around, except the very last leaver of each
        // channel, who is alone for zero seconds.
        assert_eq!(got[0].breakdown.active, 3600, "user {n}");
    }
    assert_eq!(
        s.sidecar.metric("callstats_writes_failed_total").await,
        Some(0.0)
    );
    s.sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_is_never_tracked_and_keeps_nobody_company() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let s = scene(vec![spec(1)], t0).await;
    let bot = user(50);
    s.fake.set_user_bot(bot, true);
    s.join(guild(1), bot, chan(1)).await;
    s.join(guild(1), user(1), chan(1)).await;
    s.clock.advance(300);
    s.voice(guild(1), bot, Some(chan(2)), flags(&["self_mute"]))
        .await;
    s.clock.advance(300);
    s.leave(guild(1), bot).await;
    s.leave(guild(1), user(1)).await;
    s.sidecar.wait_idle().await;

    assert_nothing_stored(&s.store, bot).await;
    let got = sessions(&s.store, user(1), guild(1)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].breakdown, breakdown(0, 0, 0, 0, 600, 0));
    s.sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_afk_channel_is_not_a_call() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    // user 1 is in the AFK channel from the start; user 2 is with user 3 in the lounge.
    let g = spec(1)
        .voice_member(VoiceMember::new(user(1), chan(AFK)))
        .voice_member(VoiceMember::new(user(2), chan(1)))
        .voice_member(VoiceMember::new(user(3), chan(1)));
    let s = scene(vec![g], t0).await;
    s.clock.advance(100);
    // Out of the AFK channel into a call, then user 2 into the AFK channel and back out.
    s.join(guild(1), user(1), chan(2)).await;
    s.clock.advance(100);
    s.join(guild(1), user(2), chan(AFK)).await;
    s.clock.advance(100);
    s.leave(guild(1), user(2)).await;
    s.join(guild(1), user(1), chan(AFK)).await;
    s.leave(guild(1), user(3)).await;
    s.sidecar.wait_idle().await;

    let one: Vec<(Timestamp, u64)> = sessions(&s.store, user(1), guild(1))
        .await
        .iter()
        .map(|r| (r.start(), r.duration()))
        .collect();
    assert_eq!(one, [(t0.plus(100), 200)]);
    let two: Vec<(Timestamp, u64)> = sessions(&s.store, user(2), guild(1))
        .await
        .iter()
        .map(|r| (r.start(), r.duration()))
        .collect();
    assert_eq!(two, [(t0, 200)]);
    // User 3 was left alone when user 2 went AFK.
    let three = sessions(&s.store, user(3), guild(1)).await;
    assert_eq!(three[0].breakdown, breakdown(0, 0, 0, 0, 100, 200));
    s.sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_deafen_stream_and_video_are_accounted() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let s = scene(vec![spec(1)], t0).await;
    let g = guild(1);
    // Company, so nobody is alone.
    s.join(g, user(2), chan(1)).await;
    s.join(g, user(1), chan(1)).await;
    let steps: [(u64, &[&str]); 8] = [
        (60, &["self_mute"]),
        (30, &["mute"]),
        (20, &["self_deaf", "self_mute"]),
        (40, &["deaf"]),
        (50, &["self_stream"]),
        (70, &["self_stream", "self_video"]),
        (10, &["self_video"]),
        (25, &[]),
    ];
    for (secs, set) in steps {
        s.clock.advance(secs);
        s.voice(g, user(1), Some(chan(1)), flags(set)).await;
    }
    // A duplicate of the last state changes nothing.
    s.voice(g, user(1), Some(chan(1)), flags(&[])).await;
    s.clock.advance(15);
    s.leave(g, user(1)).await;
    s.leave(g, user(2)).await;
    s.sidecar.wait_idle().await;

    let got = sessions(&s.store, user(1), g).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].duration(), 320);
    // muted: self_mute 30 + mute 20 + self_deaf+self_mute 40 = 90; deafened: 40 + 50 = 90;
    // streaming: 70 + 10 = 80; video: 10 + 25 = 35; active = 320 - 90 deafened = 230.
    assert_eq!(got[0].breakdown, breakdown(90, 90, 80, 35, 0, 230));
    let all = all_time(&s.store, user(1), g).await;
    assert_eq!(all.breakdown, got[0].breakdown);
    assert_eq!(
        (all.stats.total, all.stats.active, all.ranked),
        (320, 230, 230)
    );
    s.sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suppressed_stage_audience_member_is_muted() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let s = scene(vec![spec(1)], t0).await;
    s.voice(guild(1), user(1), Some(chan(3)), flags(&["suppress"]))
        .await;
    s.clock.advance(90);
    s.leave(guild(1), user(1)).await;
    s.sidecar.wait_idle().await;
    let got = sessions(&s.store, user(1), guild(1)).await;
    assert_eq!(got[0].breakdown, breakdown(90, 0, 0, 0, 90, 0));
    s.sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alone_changes_as_a_second_user_joins_and_leaves() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let s = scene(vec![spec(1)], t0).await;
    let g = guild(1);
    s.join(g, user(1), chan(1)).await;
    s.clock.advance(100);
    s.join(g, user(2), chan(1)).await;
    s.clock.advance(250);
    s.leave(g, user(2)).await;
    s.clock.advance(50);
    s.voice(g, user(2), Some(chan(1)), flags(&["self_deaf"]))
        .await;
    s.clock.advance(40);
    s.leave(g, user(1)).await;
    s.clock.advance(10);
    s.leave(g, user(2)).await;
    s.sidecar.wait_idle().await;

    let one = sessions(&s.store, user(1), g).await;
    assert_eq!(one.len(), 1);
    // alone 100 + 50, in company 250 + 40 (a deafened member is company all the same).
    assert_eq!(one[0].breakdown, breakdown(0, 0, 0, 0, 150, 290));
    let all = all_time(&s.store, user(1), g).await;
    assert_eq!((all.stats.total, all.stats.active), (440, 290));
    let two = sessions(&s.store, user(2), g).await;
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].breakdown, breakdown(0, 0, 0, 0, 0, 250));
    assert_eq!(two[1].breakdown, breakdown(0, 50, 0, 0, 10, 0));
    s.sidecar.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opted_out_user_leaves_nothing_but_still_keeps_company() {
    let t0 = at(2026, 11, 26, 10, 0, 0);
    let s = scene(vec![spec(1)], t0).await;
    s.store.set_opted_out(user(9), true, t0).await.unwrap();
    let g = guild(1);
    s.join(g, user(1), chan(1)).await;
    s.join(g, user(9), chan(1)).await;
    s.clock.advance(60);
    s.voice(g, user(9), Some(chan(1)), flags(&["self_mute"]))
        .await;
    s.clock.advance(60);
    s.join(g, user(9), chan(2)).await;
    s.clock.advance(60);
    s.leave(g, user(9)).await;
    s.leave(g, user(1)).await;
    s.sidecar.wait_idle().await;

    let export = s.store.export_user(user(9)).await.unwrap();
    assert!(export.guilds.is_empty(), "{:?}", export.guilds);
    assert!(export.settings.opted_out);
    let one = sessions(&s.store, user(1), g).await;
    assert_eq!(one[0].breakdown, breakdown(0, 0, 0, 0, 60, 120));
    assert!(s.sidecar.metric("callstats_writes_opted_out_total").await >= Some(1.0));
    s.sidecar.stop().await;
}

/// An hour of mixed activity from Sunday 2026-05-31 23:30 UTC: across midnight, an ISO week
/// boundary and a month boundary at once (June 2026 starts on a Monday).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines, clippy::many_single_char_names)] // one script, one table of expectations
async fn a_scripted_hour_gives_exact_totals_heatmaps_and_periods() {
    let t0 = at(2026, 5, 31, 23, 30, 0);
    let s = scene(vec![spec(1)], t0).await;
    let g = guild(1);
    let (a, b) = (Some(chan(1)), Some(chan(2)));
    let script: Vec<(u64, u64, Option<ChannelId>, &[&str])> = vec![
        (0, 1, a, &[]),
        (300, 2, a, &[]),
        (600, 1, a, &["self_mute"]),
        (900, 2, a, &["self_deaf"]),
        (1200, 3, b, &[]),
        (1500, 1, b, &["self_mute"]),
        (1800, 3, b, &["self_stream", "self_video"]),
        (2100, 2, None, &[]),
        (2400, 3, Some(chan(AFK)), &[]),
        (2700, 1, b, &[]),
        (3000, 3, None, &[]),
        (3600, 1, None, &[]),
    ];
    for (offset, u, channel, set) in script {
        s.clock.set(t0.plus(offset));
        s.voice(g, user(u), channel, flags(set)).await;
    }
    s.sidecar.wait_idle().await;

    // Sessions and their breakdowns.
    let expect = [
        (
            1,
            vec![
                (0, 1500, breakdown(900, 0, 0, 0, 300, 1200)),
                (1500, 2100, breakdown(1200, 0, 0, 0, 1200, 900)),
            ],
        ),
        (2, vec![(300, 1800, breakdown(0, 1200, 0, 0, 600, 600))]),
        (3, vec![(1200, 1200, breakdown(0, 0, 600, 600, 300, 900))]),
    ];
    for (u, want) in &expect {
        let got: Vec<(u64, u64, Breakdown)> = sessions(&s.store, user(*u), g)
            .await
            .iter()
            .map(|r| {
                (
                    r.start().unix() as u64 - t0.unix() as u64,
                    r.duration(),
                    r.breakdown,
                )
            })
            .collect();
        assert_eq!(&got, want, "user {u}");
    }

    // All-time figures and UTC half-hour heatmap buckets (Monday 00:00 is bucket 0, Sunday
    // 23:30 bucket 335).
    let heat = [(1, 1800, 1800), (2, 1500, 300), (3, 600, 600)];
    let totals = [(1, 3600, 2100), (2, 1800, 600), (3, 1200, 900)];
    for ((u, sunday, monday), (_, total, active)) in heat.iter().zip(totals) {
        let all = all_time(&s.store, user(*u), g).await;
        assert_eq!(
            (all.stats.total, all.stats.active, all.ranked),
            (total, active, active),
            "user {u}"
        );
        assert_eq!(all.heatmap.get(335), *sunday, "user {u}");
        assert_eq!(all.heatmap.get(0), *monday, "user {u}");
        assert_eq!(all.heatmap.total(), total, "user {u}");
    }

    // Day items: (total, active, deafened, alone, sessions) on Sunday and on Monday.
    let sunday = Day::of(t0);
    let monday = Day::of(t0.plus(1800));
    let days = [
        (1, (1800, 1500, 0, 300, 2), (1800, 600, 0, 1200, 0)),
        (2, (1500, 600, 900, 300, 1), (300, 0, 300, 300, 0)),
        (3, (600, 300, 0, 300, 1), (600, 600, 0, 0, 0)),
    ];
    for (u, sun, mon) in days {
        let got = s.store.days(user(u), g, sunday, monday).await.unwrap();
        let got: Vec<(Day, DayFigures)> = got
            .iter()
            .map(|(d, t)| {
                let t = &t.record;
                (*d, (t.total, t.active, t.deafened, t.alone, t.sessions))
            })
            .collect();
        assert_eq!(got, [(sunday, sun), (monday, mon)], "user {u}");
    }

    // Weeks and months (UTC, the guild's default): (total, active, ranked, sessions). The
    // ranked seconds are kept for the current week and month only (what the boards rank).
    let w22 = PeriodKey::Week(WeekKey::of(t0, Tz::UTC));
    let w23 = PeriodKey::Week(WeekKey::of(t0.plus(1800), Tz::UTC));
    let may = PeriodKey::Month(MonthKey::of(t0, Tz::UTC));
    let june = PeriodKey::Month(MonthKey::of(t0.plus(1800), Tz::UTC));
    assert_eq!(
        (w22.to_string(), w23.to_string()),
        ("W2026-W22".to_owned(), "W2026-W23".to_owned())
    );
    let periods = [
        (1, (1800, 1500, 1500, 2), (1800, 600, 600, 0)),
        (2, (1500, 600, 600, 1), (300, 0, 0, 0)),
        (3, (600, 300, 300, 1), (600, 600, 600, 0)),
    ];
    for (u, before, after) in periods {
        for (key, want, current) in [
            (w22, before, false),
            (may, before, false),
            (w23, after, true),
            (june, after, true),
        ] {
            let t = period_totals(&s.store, user(u), g, key).await;
            assert_eq!(
                (t.total, t.active, t.sessions),
                (want.0, want.1, want.3),
                "user {u} {key}"
            );
            assert_eq!(t.ranked, current.then_some(want.2), "user {u} {key}");
            assert!(t.listed);
        }
    }
    assert_eq!(GuildConfig::default().timezone, Tz::UTC);
    s.sidecar.stop().await;
}

/// The guild's configuration comes from the store: its timezone draws week and month lines,
/// its rule decides the ranked time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guild_timezone_and_ranking_rule_apply() {
    let store = fresh_store().await;
    let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
    let config = GuildConfig {
        rule: RankingRule {
            exclude_deafened: false,
            exclude_alone: true,
        },
        timezone: kolkata,
    };
    store.set_guild_config(guild(1), &config).await.unwrap();
    // 18:00 UTC on 30 November is 23:30 in Kolkata; December starts there at 18:30 UTC.
    let t0 = at(2026, 11, 30, 18, 0, 0);
    let s = scene_on(store, vec![spec(1)], t0, &Options::default()).await;
    let g = guild(1);
    s.join(g, user(2), chan(1)).await;
    s.join(g, user(1), chan(1)).await;
    s.clock.advance(600);
    s.voice(g, user(1), Some(chan(1)), flags(&["self_deaf"]))
        .await;
    s.clock.advance(600);
    s.voice(g, user(1), Some(chan(1)), flags(&[])).await;
    s.clock.advance(2400);
    s.leave(g, user(1)).await;
    s.leave(g, user(2)).await;
    s.sidecar.wait_idle().await;

    let november = PeriodKey::Month(MonthKey::of(t0, kolkata));
    let december = PeriodKey::Month(MonthKey::of(t0.plus(1800), kolkata));
    assert_eq!(
        (november.to_string(), december.to_string()),
        ("M2026-11".to_owned(), "M2026-12".to_owned())
    );
    let week = PeriodKey::Week(WeekKey::of(t0, kolkata));
    // (total, active, ranked, sessions): deafened time counts for the ranking here.
    // November is over: only the current month's ranked seconds are kept.
    for (key, want) in [
        (november, (1800, 1200, None, 1)),
        (december, (1800, 1800, Some(1800), 0)),
        (week, (3600, 3000, Some(3600), 1)),
    ] {
        let t = period_totals(&s.store, user(1), g, key).await;
        assert_eq!((t.total, t.active, t.ranked, t.sessions), want, "{key}");
    }
    let all = all_time(&s.store, user(1), g).await;
    assert_eq!(
        (all.stats.total, all.stats.active, all.ranked),
        (3600, 3000, 3600)
    );
    s.sidecar.stop().await;
}

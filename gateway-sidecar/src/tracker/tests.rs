use std::collections::{BTreeMap, BTreeSet};

use callstats_core::{Breakdown, Flags, GuildConfig, OpenSession, SessionId, Timestamp};
use chrono_tz::Tz;
use proptest::prelude::*;
use twilight_model::id::Id;

use super::{GuildCreated, GuildSeed, SessionWrite, Tracker, VoiceChange, VoiceMember};
use callstats_core::{ChannelId, GuildId, UserId};

const T0: i64 = 1_795_000_000;
const MAX_GAP: u64 = 300;

fn t(secs: i64) -> Timestamp {
    Timestamp::new(T0 + secs).unwrap()
}

fn guild(n: u64) -> GuildId {
    Id::new(n)
}

fn user(n: u64) -> UserId {
    Id::new(100 + n)
}

fn chan(n: u64) -> ChannelId {
    Id::new(1000 + n)
}

const AFK: u64 = 9;

fn member(u: u64, c: u64) -> VoiceMember {
    VoiceMember {
        user: user(u),
        channel: chan(c),
        bot: false,
        flags: Flags::NONE,
    }
}

fn seed(g: u64, voice: Vec<VoiceMember>) -> GuildSeed {
    GuildSeed {
        guild: guild(g),
        afk: Some(chan(AFK)),
        voice,
    }
}

fn change(g: u64, u: u64, c: Option<u64>, flags: Flags) -> VoiceChange {
    VoiceChange {
        guild: guild(g),
        user: user(u),
        channel: c.map(chan),
        bot: false,
        flags,
    }
}

/// A tracker following guild 1 (and `more` others), nobody in voice, nothing in the store.
fn tracker_with(guilds: &[u64]) -> Tracker {
    let mut tracker = Tracker::new(0);
    for g in guilds {
        let GuildCreated::NeedsStore { generation } =
            tracker.guild_create(seed(*g, vec![]), t(0), MAX_GAP)
        else {
            panic!("an unknown guild asks the store");
        };
        let writes = tracker.store_reconciled(
            guild(*g),
            generation,
            vec![],
            GuildConfig::default(),
            None,
            MAX_GAP,
        );
        assert!(writes.is_empty());
    }
    tracker
}

fn tracker() -> Tracker {
    tracker_with(&[1])
}

/// Writes in a compact form: `start u1 c2 [flags]`, `update u1 [flags]`, `end u1 60s`.
fn describe(writes: &[SessionWrite]) -> Vec<String> {
    writes
        .iter()
        .map(|w| match w {
            SessionWrite::Start { session, .. } => format!(
                "start u{} c{} {}",
                session.user.get() - 100,
                session.channel.get() - 1000,
                flags(session.flags)
            ),
            SessionWrite::Update { session, .. } => {
                format!(
                    "update u{} {}",
                    session.user.get() - 100,
                    flags(session.flags)
                )
            }
            SessionWrite::End { session, .. } => format!(
                "end u{} {}s{}",
                session.user.get() - 100,
                session.duration(),
                if session.estimated { " est" } else { "" }
            ),
        })
        .collect()
}

fn flags(f: Flags) -> String {
    let names = [
        (Flags::MUTED, "m"),
        (Flags::DEAFENED, "d"),
        (Flags::STREAMING, "s"),
        (Flags::VIDEO, "v"),
        (Flags::ALONE, "a"),
    ];
    let s: String = names
        .iter()
        .filter(|(flag, _)| f.contains(*flag))
        .map(|(_, n)| *n)
        .collect();
    format!("[{s}]")
}

fn ended(writes: &[SessionWrite]) -> Vec<&callstats_core::ClosedSession> {
    writes
        .iter()
        .filter_map(|w| match w {
            SessionWrite::End { session, .. } => Some(session),
            _ => None,
        })
        .collect()
}

#[test]
fn join_starts_and_leave_ends() {
    let mut tr = tracker();
    let w = tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(10));
    assert_eq!(describe(&w), ["start u1 c1 [a]"]);
    assert_eq!(tr.open_sessions(), 1);
    let w = tr.voice_update(change(1, 1, None, Flags::NONE), t(70));
    assert_eq!(describe(&w), ["end u1 60s"]);
    let s = ended(&w)[0];
    assert_eq!((s.start(), s.end), (t(10), t(70)));
    assert_eq!(s.breakdown.alone, 60);
    assert_eq!(s.breakdown.active, 0);
    assert_eq!(tr.open_sessions(), 0);
}

#[test]
fn a_move_ends_one_session_and_starts_another() {
    let mut tr = tracker();
    tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(0));
    let w = tr.voice_update(change(1, 1, Some(2), Flags::NONE), t(30));
    assert_eq!(describe(&w), ["end u1 30s", "start u1 c2 [a]"]);
    assert_ne!(w[0].session_id(), w[1].session_id());
}

#[test]
fn leave_and_rejoin_in_the_same_second_get_distinct_ids() {
    let mut tr = tracker();
    let a = tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(0));
    tr.voice_update(change(1, 1, None, Flags::NONE), t(5));
    let b = tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(5));
    let c = tr.voice_update(change(1, 1, Some(2), Flags::NONE), t(5));
    let ids: BTreeSet<SessionId> = [&a[0], &b[0], &c[1]]
        .iter()
        .map(|w| w.session_id())
        .collect();
    assert_eq!(ids.len(), 3);
}

#[test]
fn duplicates_write_nothing() {
    let mut tr = tracker();
    tr.voice_update(change(1, 1, Some(1), Flags::MUTED), t(0));
    assert!(
        tr.voice_update(change(1, 1, Some(1), Flags::MUTED), t(5))
            .is_empty()
    );
    tr.voice_update(change(1, 1, None, Flags::NONE), t(9));
    assert!(
        tr.voice_update(change(1, 1, None, Flags::NONE), t(10))
            .is_empty()
    );
    // ALONE is the tracker's to decide: a member claiming it changes nothing.
    tr.voice_update(change(1, 2, Some(1), Flags::NONE), t(11));
    assert!(
        tr.voice_update(change(1, 2, Some(1), Flags::ALONE), t(12))
            .is_empty()
    );
}

#[test]
fn the_afk_channel_is_not_a_call() {
    let mut tr = tracker();
    assert!(
        tr.voice_update(change(1, 1, Some(AFK), Flags::NONE), t(0))
            .is_empty()
    );
    let w = tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(10));
    assert_eq!(describe(&w), ["start u1 c1 [a]"]);
    let w = tr.voice_update(change(1, 1, Some(AFK), Flags::NONE), t(40));
    assert_eq!(describe(&w), ["end u1 30s"]);
    // Two members in the AFK channel keep nobody company.
    tr.voice_update(change(1, 2, Some(AFK), Flags::NONE), t(41));
    let w = tr.voice_update(change(1, 3, Some(1), Flags::NONE), t(42));
    assert_eq!(describe(&w), ["start u3 c1 [a]"]);
}

#[test]
fn a_new_afk_channel_ends_and_starts_sessions() {
    let mut tr = tracker();
    tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(0));
    tr.voice_update(change(1, 2, Some(AFK), Flags::NONE), t(0));
    let w = tr.afk_changed(guild(1), Some(chan(1)), t(50));
    assert_eq!(describe(&w), ["end u1 50s", "start u2 c9 [a]"]);
    assert!(tr.afk_changed(guild(1), Some(chan(1)), t(60)).is_empty());
}

#[test]
fn bots_are_ignored_and_keep_nobody_company() {
    let mut tr = tracker();
    let bot = VoiceChange {
        bot: true,
        ..change(1, 5, Some(1), Flags::NONE)
    };
    assert!(tr.voice_update(bot, t(0)).is_empty());
    let w = tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(1));
    assert_eq!(describe(&w), ["start u1 c1 [a]"]);
    let bot_leaves = VoiceChange {
        channel: None,
        ..bot
    };
    assert!(tr.voice_update(bot_leaves, t(2)).is_empty());
}

#[test]
fn flag_changes_update_the_breakdown() {
    let mut tr = tracker_with(&[1]);
    tr.voice_update(change(1, 2, Some(1), Flags::NONE), t(0));
    tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(0));
    let w = tr.voice_update(change(1, 1, Some(1), Flags::MUTED), t(100));
    assert_eq!(describe(&w), ["update u1 [m]"]);
    let w = tr.voice_update(
        change(1, 1, Some(1), Flags::MUTED.with(Flags::DEAFENED, true)),
        t(160),
    );
    assert_eq!(describe(&w), ["update u1 [md]"]);
    tr.voice_update(change(1, 1, Some(1), Flags::STREAMING), t(200));
    tr.voice_update(change(1, 1, Some(1), Flags::VIDEO), t(230));
    let w = tr.voice_update(change(1, 1, None, Flags::NONE), t(300));
    let s = ended(&w)[0];
    assert_eq!(
        s.breakdown,
        Breakdown {
            muted: 100,
            deafened: 40,
            streaming: 30,
            video: 70,
            alone: 0,
            active: 260,
        }
    );
}

#[test]
fn company_changes_alone_for_the_others() {
    let mut tr = tracker();
    tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(0));
    let w = tr.voice_update(change(1, 2, Some(1), Flags::NONE), t(60));
    assert_eq!(describe(&w), ["update u1 []", "start u2 c1 []"]);
    // A third member changes nobody's flags.
    let w = tr.voice_update(change(1, 3, Some(1), Flags::NONE), t(70));
    assert_eq!(describe(&w), ["start u3 c1 []"]);
    tr.voice_update(change(1, 3, None, Flags::NONE), t(80));
    let w = tr.voice_update(change(1, 2, Some(2), Flags::NONE), t(100));
    assert_eq!(
        describe(&w),
        ["update u1 [a]", "end u2 40s", "start u2 c2 [a]"]
    );
    let w = tr.voice_update(change(1, 1, None, Flags::NONE), t(130));
    let s = ended(&w)[0];
    assert_eq!(s.duration(), 130);
    assert_eq!((s.breakdown.alone, s.breakdown.active), (90, 40));
}

/// A closed session's partner time per partner (summed over days), by test user number.
fn partners(s: &callstats_core::ClosedSession) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    for p in &s.partners {
        *out.entry(p.user.get() - 100).or_default() += p.secs;
    }
    out
}

/// The ended session of test user `u` among `writes`.
fn end_of(writes: &[SessionWrite], u: u64) -> &callstats_core::ClosedSession {
    ended(writes)
        .into_iter()
        .find(|s| s.user == user(u))
        .unwrap_or_else(|| panic!("no end of u{u} in {:?}", describe(writes)))
}

#[test]
fn partner_time_is_the_overlap_in_the_same_channel_on_both_sides() {
    let mut tr = tracker();
    // u1 from 0 to 300 in c1; u2 from 60 to 120 in c1, then c2 until 200; u3 from 100 to 250
    // in c1 and in the AFK channel after; u4 in c2 from 150 to 400.
    tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(0));
    tr.voice_update(change(1, 2, Some(1), Flags::MUTED), t(60));
    tr.voice_update(change(1, 3, Some(1), Flags::NONE), t(100));
    let moved = tr.voice_update(change(1, 2, Some(2), Flags::NONE), t(120));
    assert_eq!(
        partners(end_of(&moved, 2)),
        BTreeMap::from([(1, 60), (3, 20)])
    );
    tr.voice_update(change(1, 4, Some(2), Flags::NONE), t(150));
    let left = tr.voice_update(change(1, 2, None, Flags::NONE), t(200));
    assert_eq!(partners(end_of(&left, 2)), BTreeMap::from([(4, 50)]));
    let afk = tr.voice_update(change(1, 3, Some(AFK), Flags::NONE), t(250));
    assert_eq!(
        partners(end_of(&afk, 3)),
        BTreeMap::from([(1, 150), (2, 20)])
    );
    let one = tr.voice_update(change(1, 1, None, Flags::NONE), t(300));
    // u2's and u3's departures were kept for u1: the same seconds on both sides.
    assert_eq!(
        partners(end_of(&one, 1)),
        BTreeMap::from([(2, 60), (3, 150)])
    );
    let four = tr.voice_update(change(1, 4, None, Flags::NONE), t(400));
    assert_eq!(partners(end_of(&four, 4)), BTreeMap::from([(2, 50)]));
    // Nothing is kept once no session is open.
    assert!(tr.departures().is_empty());
}

#[test]
fn members_whose_time_is_not_recorded_are_no_ones_partner() {
    let mut tr = tracker();
    tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(0));
    let w = tr.voice_update(change(1, 2, Some(1), Flags::NONE), t(0));
    let refused = w[1].session_id();
    // The store refused u2's start: u2 opted out.
    tr.start_outcome(guild(1), refused, user(2), false);
    tr.voice_update(change(1, 3, Some(1), Flags::NONE), t(10));
    // u3 opts out at 60 (seen at the next configuration refresh): from then on, no partner.
    tr.privacy_actions(guild(1), [(user(3), t(60))]);
    let one = tr.voice_update(change(1, 1, None, Flags::NONE), t(100));
    assert_eq!(partners(end_of(&one, 1)), BTreeMap::from([(3, 50)]));
    let two = tr.voice_update(change(1, 2, None, Flags::NONE), t(110));
    assert!(end_of(&two, 2).partners.is_empty());
    // u2 opts back in: their next start is recorded and they count again.
    let back = tr.voice_update(change(1, 2, Some(1), Flags::NONE), t(120));
    tr.start_outcome(guild(1), back[0].session_id(), user(2), true);
    tr.voice_update(change(1, 5, Some(1), Flags::NONE), t(120));
    let five = tr.voice_update(change(1, 5, None, Flags::NONE), t(150));
    assert_eq!(partners(end_of(&five, 5)), BTreeMap::from([(2, 30)]));
}

#[test]
fn a_start_refused_after_its_session_ended_takes_the_stay_out_of_partner_time() {
    let mut tr = tracker();
    tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(0));
    tr.voice_update(change(1, 3, Some(1), Flags::NONE), t(0));
    // u2 joins and leaves before the store answers its start (slow, or away).
    let w = tr.voice_update(change(1, 2, Some(1), Flags::NONE), t(10));
    let refused = w[0].session_id();
    tr.voice_update(change(1, 2, None, Flags::NONE), t(50));
    let mut journal = tr.take_departures();
    assert_eq!(journal.len(), 1, "u2's stay is kept for u1 and u3");
    // The store refuses it: u2 opted out. u1's time with u2 is not recorded.
    tr.start_outcome(guild(1), refused, user(2), false);
    let one = tr.voice_update(change(1, 1, None, Flags::NONE), t(100));
    assert_eq!(partners(end_of(&one, 1)), BTreeMap::from([(3, 100)]));
    journal.extend(tr.take_departures());

    // After a crash, the journal still holds u2's stay; the store reports u2 opted out when
    // it reconciles (u2 is back in the channel), and u3's time with u2 is not recorded either.
    let open = vec![tr.session(guild(1), user(3)).unwrap().clone()];
    let mut after = Tracker::new(50);
    after.restore_departures(journal);
    let GuildCreated::NeedsStore { generation } =
        after.guild_create(seed(1, vec![member(3, 1), member(2, 1)]), t(120), MAX_GAP)
    else {
        panic!("unknown guild");
    };
    after.not_recorded(guild(1), user(2), Timestamp::EPOCH);
    after.store_reconciled(
        guild(1),
        generation,
        open,
        GuildConfig::default(),
        Some(t(110)),
        MAX_GAP,
    );
    let three = after.voice_update(change(1, 3, None, Flags::NONE), t(200));
    assert_eq!(partners(end_of(&three, 3)), BTreeMap::from([(1, 100)]));
}

#[test]
fn a_privacy_action_cuts_the_stays_kept_for_others() {
    let mut tr = tracker();
    for u in 1..=3 {
        tr.voice_update(change(1, u, Some(1), Flags::NONE), t(0));
    }
    // u3 opts out at 60 and leaves at 100; the configuration refresh says so at 150. u2 left
    // at 120, before it, with u3's stay whole.
    tr.voice_update(change(1, 3, None, Flags::NONE), t(100));
    let two = tr.voice_update(change(1, 2, None, Flags::NONE), t(120));
    assert_eq!(
        partners(end_of(&two, 2)),
        BTreeMap::from([(1, 120), (3, 100)])
    );
    tr.privacy_actions(guild(1), [(user(3), t(60))]);
    let one = tr.voice_update(change(1, 1, None, Flags::NONE), t(200));
    assert_eq!(
        partners(end_of(&one, 1)),
        BTreeMap::from([(2, 120), (3, 60)])
    );
}

#[test]
fn after_a_crash_the_journal_keeps_partner_time_whole() {
    // Before the crash: u1, u2 and u3 in c1 from 0; u2 leaves at 200 (u1 and u3 stay).
    let mut before = tracker();
    for u in 1..=3 {
        before.voice_update(change(1, u, Some(1), Flags::NONE), t(0));
    }
    let open: Vec<OpenSession> = [1, 3]
        .iter()
        .map(|u| before.session(guild(1), user(*u)).unwrap().clone())
        .collect();
    let left = before.voice_update(change(1, 2, None, Flags::NONE), t(200));
    assert_eq!(
        partners(end_of(&left, 2)),
        BTreeMap::from([(1, 200), (3, 200)])
    );
    let journal = before.take_departures();
    assert_eq!(journal.len(), 1);
    assert!(before.take_departures().is_empty());

    // The process dies; the last heartbeat was at 150. A new one reads the journal back and
    // the store's open sessions; u1 is gone, u3 is still there.
    let mut after = Tracker::new(50);
    after.restore_departures(journal);
    let GuildCreated::NeedsStore { generation } =
        after.guild_create(seed(1, vec![member(3, 1)]), t(400), MAX_GAP)
    else {
        panic!("unknown guild");
    };
    let w = after.store_reconciled(
        guild(1),
        generation,
        open,
        GuildConfig::default(),
        Some(t(150)),
        MAX_GAP,
    );
    // u1 was there when u2 left at 200, after the heartbeat: the estimate is not earlier.
    let one = end_of(&w, 1);
    assert!(one.estimated);
    assert_eq!(one.end, t(200));
    assert_eq!(partners(one), BTreeMap::from([(2, 200), (3, 200)]));
    // u3 stays (a short gap); at its end it has both departures.
    let three = after.voice_update(change(1, 3, None, Flags::NONE), t(500));
    assert_eq!(
        partners(end_of(&three, 3)),
        BTreeMap::from([(1, 200), (2, 200)])
    );
}

#[test]
fn mutes_change_no_partner_time_and_the_afk_channel_is_no_ones_company() {
    let mut tr = tracker();
    tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(0));
    tr.voice_update(change(1, 2, Some(1), Flags::NONE), t(0));
    // Muting, deafening and streaming are flag changes: the sessions go on.
    for (at, f) in [
        (10, Flags::MUTED),
        (20, Flags::DEAFENED),
        (30, Flags::STREAMING),
    ] {
        let w = tr.voice_update(change(1, 2, Some(1), f), t(at));
        assert!(ended(&w).is_empty(), "{:?}", describe(&w));
    }
    // Both in the AFK channel from 100 to 200 (u1 first, u2 later): no company there.
    let w = tr.voice_update(change(1, 1, Some(AFK), Flags::NONE), t(100));
    assert_eq!(partners(end_of(&w, 1)), BTreeMap::from([(2, 100)]));
    let w = tr.voice_update(change(1, 2, Some(AFK), Flags::MUTED), t(120));
    assert_eq!(partners(end_of(&w, 2)), BTreeMap::from([(1, 100)]));
    tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(200));
    tr.voice_update(change(1, 2, Some(1), Flags::NONE), t(200));
    // The lounge becomes the AFK channel at 300 (GUILD_UPDATE): both sessions end there,
    // with the 100 s since 200 together; nothing counts while it is the AFK channel.
    let w = tr.afk_changed(guild(1), Some(chan(1)), t(300));
    assert_eq!(partners(end_of(&w, 1)), BTreeMap::from([(2, 100)]));
    assert_eq!(partners(end_of(&w, 2)), BTreeMap::from([(1, 100)]));
    let w = tr.afk_changed(guild(1), Some(chan(AFK)), t(400));
    assert_eq!(describe(&w), ["start u1 c1 []", "start u2 c1 []"]);
    let w = tr.voice_update(change(1, 1, None, Flags::NONE), t(450));
    assert_eq!(partners(end_of(&w, 1)), BTreeMap::from([(2, 50)]));
    assert_eq!(tr.departures().len(), 1);
}

#[test]
fn unknown_guilds_wait_for_the_store_and_replay_their_events() {
    let mut tr = Tracker::new(0);
    let present = vec![member(1, 1), member(2, 1), member(3, 2)];
    let GuildCreated::NeedsStore { generation } =
        tr.guild_create(seed(1, present), t(100), MAX_GAP)
    else {
        panic!("unknown guild");
    };
    assert!(!tr.is_settled());
    // Events meanwhile wait, stamped with their own instants.
    assert!(
        tr.voice_update(change(1, 3, None, Flags::NONE), t(110))
            .is_empty()
    );
    // The store holds: u1 in c1 (stays), u4 in c1 (gone), u2 in c2 (moved since).
    let stored = |u: u64, c: u64, start: i64| {
        OpenSession::new(
            SessionId::new(t(start), 7),
            user(u),
            guild(1),
            chan(c),
            Flags::NONE,
        )
    };
    let open = vec![stored(1, 1, 0), stored(4, 1, 10), stored(2, 2, 20)];
    // A stale answer for an older generation changes nothing.
    assert!(
        tr.store_reconciled(
            guild(1),
            generation + 1,
            open.clone(),
            GuildConfig::default(),
            Some(t(90)),
            MAX_GAP
        )
        .is_empty()
    );
    let w = tr.store_reconciled(
        guild(1),
        generation,
        open,
        GuildConfig::default(),
        Some(t(90)),
        MAX_GAP,
    );
    assert_eq!(
        describe(&w),
        [
            "end u2 70s est",
            "end u4 80s est",
            "start u2 c1 []",
            "start u3 c2 [a]",
            "end u3 10s",
        ]
    );
    assert!(tr.is_settled());
    assert_eq!(tr.session(guild(1), user(1)).unwrap().start(), t(0));
    // The kept session goes on and ends normally.
    let w = tr.voice_update(change(1, 1, None, Flags::NONE), t(200));
    assert_eq!(describe(&w), ["end u1 200s", "update u2 [a]"]);
}

#[test]
fn no_heartbeat_means_no_short_gap() {
    let mut tr = Tracker::new(0);
    let GuildCreated::NeedsStore { generation } =
        tr.guild_create(seed(1, vec![member(1, 1)]), t(100), MAX_GAP)
    else {
        panic!("unknown guild");
    };
    let mut s = OpenSession::new(
        SessionId::new(t(0), 7),
        user(1),
        guild(1),
        chan(1),
        Flags::NONE,
    );
    s.set_flags(t(40), Flags::MUTED, Tz::UTC);
    let w = tr.store_reconciled(
        guild(1),
        generation,
        vec![s],
        GuildConfig::default(),
        None,
        MAX_GAP,
    );
    // Ends at its last accounted instant, and starts anew.
    assert_eq!(describe(&w), ["end u1 40s est", "start u1 c1 [a]"]);
}

#[test]
fn an_outage_freezes_the_guild_and_its_return_reconciles() {
    let mut tr = tracker();
    tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(0));
    tr.voice_update(change(1, 2, Some(1), Flags::NONE), t(0));
    tr.voice_update(change(1, 3, Some(2), Flags::NONE), t(0));
    tr.guild_unavailable(guild(1), t(100));
    assert!(
        tr.voice_update(change(1, 1, None, Flags::NONE), t(150))
            .is_empty()
    );
    // Back after 200 s: u1 stays, u2 is gone, u3 moved, u4 is new.
    let back = seed(1, vec![member(1, 1), member(3, 1), member(4, 2)]);
    let GuildCreated::Writes(w) = tr.guild_create(back, t(300), MAX_GAP) else {
        panic!("a known guild reconciles in memory");
    };
    assert_eq!(
        describe(&w),
        [
            "end u2 100s est",
            "end u3 100s est",
            "start u3 c1 []",
            "start u4 c2 [a]",
        ]
    );
    assert_eq!(tr.session(guild(1), user(1)).unwrap().start(), t(0));
}

#[test]
fn a_long_outage_splits_the_stayers_sessions() {
    let mut tr = tracker();
    tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(0));
    tr.guild_unavailable(guild(1), t(100));
    let GuildCreated::Writes(w) = tr.guild_create(seed(1, vec![member(1, 1)]), t(401), MAX_GAP)
    else {
        panic!("known guild");
    };
    assert_eq!(describe(&w), ["end u1 100s est", "start u1 c1 [a]"]);
}

#[test]
fn removal_ends_every_session_at_that_moment() {
    let mut tr = tracker_with(&[1, 2]);
    tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(0));
    tr.voice_update(change(1, 2, Some(1), Flags::NONE), t(10));
    tr.voice_update(change(2, 1, Some(1), Flags::NONE), t(10));
    let w = tr.guild_removed(guild(1), t(60));
    assert_eq!(describe(&w), ["end u1 60s", "end u2 50s"]);
    assert_eq!(tr.open_sessions(), 1);
    // Gone for good: its events change nothing.
    assert!(
        tr.voice_update(change(1, 3, Some(1), Flags::NONE), t(70))
            .is_empty()
    );
    // A guild removed during an outage ends where it was last seen.
    tr.guild_unavailable(guild(2), t(20));
    let w = tr.guild_removed(guild(2), t(500));
    assert_eq!(describe(&w), ["end u1 10s est"]);
}

#[test]
fn a_fresh_identify_freezes_everything_and_drops_unlisted_guilds() {
    let mut tr = tracker_with(&[1, 2]);
    tr.voice_update(change(1, 1, Some(1), Flags::NONE), t(0));
    tr.voice_update(change(2, 1, Some(1), Flags::NONE), t(0));
    tr.freeze_all(t(50));
    let w = tr.retain_guilds(&BTreeSet::from([guild(1)]), t(80));
    assert_eq!(describe(&w), ["end u1 50s est"]);
    let GuildCreated::Writes(w) = tr.guild_create(seed(1, vec![member(1, 1)]), t(90), MAX_GAP)
    else {
        panic!("known guild");
    };
    assert!(w.is_empty(), "{:?}", describe(&w));
}

#[test]
fn snapshots_round_trip() {
    let mut tr = tracker_with(&[1, 2]);
    tr.voice_update(change(1, 1, Some(1), Flags::MUTED), t(0));
    tr.voice_update(change(1, 2, Some(1), Flags::NONE), t(5));
    tr.voice_update(change(2, 3, Some(AFK), Flags::NONE), t(5));
    tr.guild_unavailable(guild(2), t(6));
    let json = serde_json::to_string(&tr.snapshot()).unwrap();
    let snapshot = serde_json::from_str(&json).unwrap();
    let mut back = Tracker::restore(snapshot, |_| true, None).unwrap();
    assert_eq!(back.snapshot(), tr.snapshot());
    // It goes on where it left off.
    let w = back.voice_update(change(1, 2, None, Flags::NONE), t(65));
    assert_eq!(describe(&w), ["update u1 [ma]", "end u2 60s"]);
    // Restored as frozen, and only the guilds asked for.
    let snapshot = serde_json::from_str(&json).unwrap();
    let frozen = Tracker::restore(snapshot, |g| g == guild(1), Some(t(10))).unwrap();
    assert_eq!(frozen.guilds().collect::<Vec<_>>(), [guild(1)]);
    assert!(
        frozen
            .clone()
            .voice_update(change(1, 2, None, Flags::NONE), t(20))
            .is_empty()
    );
    // A snapshot of another version is refused.
    let mut other: super::TrackerSnapshot = serde_json::from_str(&json).unwrap();
    other.version = 99;
    assert!(Tracker::restore(other, |_| true, None).is_err());
}

#[test]
fn the_guild_timezone_decides_period_cells() {
    let mut tr = tracker();
    let berlin = GuildConfig {
        timezone: chrono_tz::Europe::Berlin,
        ..GuildConfig::default()
    };
    tr.set_config(guild(1), berlin);
    // 2026-11-29 22:30 UTC is already Monday in Berlin: a new ISO week there.
    let sunday = Timestamp::new(1_795_991_400).unwrap();
    assert_eq!(sunday.to_string(), "2026-11-29T22:30:00Z");
    tr.voice_update(change(1, 1, Some(1), Flags::NONE), sunday);
    let w = tr.voice_update(change(1, 1, None, Flags::NONE), sunday.plus(3600));
    let SessionWrite::End { session, config } = &w[0] else {
        panic!("an end");
    };
    assert_eq!(config.timezone, chrono_tz::Europe::Berlin);
    let weeks: BTreeSet<String> = session
        .cells
        .iter()
        .map(|c| c.cell.week.to_string())
        .collect();
    assert_eq!(weeks.len(), 2);
}

// ---- property: random event sequences -------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Voice {
        g: u64,
        u: u64,
        c: Option<u64>,
        bot: bool,
        flags: u8,
    },
    Create {
        g: u64,
        members: Vec<(u64, u64, u8)>,
    },
    StoreAnswer {
        g: u64,
        leftover: Option<(u64, u64)>,
        heartbeat_back: u64,
    },
    Unavailable {
        g: u64,
    },
    Removed {
        g: u64,
    },
    Afk {
        g: u64,
        c: Option<u64>,
    },
    FreezeAll,
}

fn op() -> impl Strategy<Value = Op> {
    let g = 1u64..3;
    prop_oneof![
        8 => (g.clone(), 1u64..6, proptest::option::of(1u64..5), proptest::bool::weighted(0.1), 0u8..32)
            .prop_map(|(g, u, c, bot, flags)| Op::Voice { g, u, c, bot, flags }),
        2 => (g.clone(), proptest::collection::vec((1u64..6, 1u64..5, 0u8..16), 0..5))
            .prop_map(|(g, members)| Op::Create { g, members }),
        2 => (g.clone(), proptest::option::of((1u64..6, 1u64..5)), 0u64..1000)
            .prop_map(|(g, leftover, heartbeat_back)| Op::StoreAnswer { g, leftover, heartbeat_back }),
        1 => g.clone().prop_map(|g| Op::Unavailable { g }),
        1 => g.clone().prop_map(|g| Op::Removed { g }),
        1 => (g, proptest::option::of(1u64..5)).prop_map(|(g, c)| Op::Afk { g, c }),
        1 => Just(Op::FreezeAll),
    ]
}

/// What the store would hold if it applied every write: checks that writes make sense.
#[derive(Default)]
struct Model {
    open: BTreeMap<(GuildId, UserId), OpenSession>,
    /// Session records are keyed by guild and id in the user's partition: an id must be
    /// unique per user and guild.
    started: BTreeSet<(GuildId, UserId, SessionId)>,
    ended: BTreeSet<(GuildId, UserId, SessionId)>,
    /// Partner seconds each ended session recorded: (guild, member, partner, day).
    partners: BTreeMap<(GuildId, UserId, UserId, callstats_core::period::Day), u64>,
}

impl Model {
    fn apply(&mut self, writes: &[SessionWrite]) -> Result<(), TestCaseError> {
        for w in writes {
            match w {
                SessionWrite::Start { session, .. } => {
                    prop_assert!(
                        !self.open.contains_key(&(session.guild, session.user)),
                        "start while a session is open"
                    );
                    prop_assert!(
                        self.started
                            .insert((session.guild, session.user, session.id)),
                        "id reused"
                    );
                    prop_assert_eq!(session.seg_start, session.start());
                    self.open
                        .insert((session.guild, session.user), session.clone());
                }
                SessionWrite::Update { session, .. } => {
                    let open = self.open.get_mut(&(session.guild, session.user));
                    prop_assert!(open.is_some(), "update of a session that is not open");
                    let open = open.unwrap();
                    prop_assert_eq!(open.id, session.id);
                    prop_assert!(session.seg_start >= open.seg_start);
                    check_accounting(
                        session.start(),
                        session.seg_start,
                        &session.breakdown,
                        &session.cells,
                    )?;
                    *open = session.clone();
                }
                SessionWrite::End { session, .. } => {
                    let open = self.open.remove(&(session.guild, session.user));
                    prop_assert!(open.is_some(), "end of a session that is not open");
                    let open = open.unwrap();
                    prop_assert_eq!(open.id, session.id);
                    prop_assert!(
                        self.ended.insert((session.guild, session.user, session.id)),
                        "ended twice"
                    );
                    prop_assert!(session.end >= session.start());
                    prop_assert!(session.end >= open.seg_start);
                    check_accounting(
                        session.start(),
                        session.end,
                        &session.breakdown,
                        &session.cells,
                    )?;
                    // Time with any one partner is time in company: at most the session's
                    // time not alone.
                    let mut with: BTreeMap<UserId, u64> = BTreeMap::new();
                    for p in &session.partners {
                        prop_assert!(p.user != session.user, "partner of oneself");
                        *with.entry(p.user).or_default() += p.secs;
                        *self
                            .partners
                            .entry((session.guild, session.user, p.user, p.day))
                            .or_default() += p.secs;
                    }
                    let company = session.duration() - session.breakdown.alone;
                    for (partner, secs) in with {
                        prop_assert!(
                            secs <= company,
                            "{secs} s with {partner}, {company} s in company"
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

fn check_accounting(
    start: Timestamp,
    until: Timestamp,
    totals: &Breakdown,
    cells: &[callstats_core::session::CellSecs],
) -> Result<(), TestCaseError> {
    let duration = start.secs_until(until);
    let in_cells: u64 = cells.iter().map(|c| c.secs.total()).sum();
    prop_assert_eq!(in_cells, duration);
    for part in [
        totals.muted,
        totals.deafened,
        totals.streaming,
        totals.video,
        totals.alone,
        totals.active,
    ] {
        prop_assert!(part <= duration);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_event_sequences_keep_sessions_sound(
        ops in proptest::collection::vec((op(), 0i64..120, proptest::bool::weighted(0.05)), 0..60),
    ) {
        let mut tr = Tracker::new(0);
        let mut model = Model::default();
        let mut pending: BTreeMap<u64, u64> = BTreeMap::new();
        let mut now = 0i64;
        for (op, step, back) in ops {
            // Mostly forward, sometimes a clock step back.
            now = if back { (now - step).max(0) } else { now + step };
            let at = t(now);
            let writes = match op {
                Op::Voice { g, u, c, bot, flags } => tr.voice_update(
                    VoiceChange { bot, ..change(g, u, c, Flags::from_bits(flags).unwrap()) },
                    at,
                ),
                Op::Create { g, members } => {
                    let voice = members
                        .into_iter()
                        .map(|(u, c, f)| VoiceMember { flags: Flags::from_bits(f).unwrap(), ..member(u, c) })
                        .collect();
                    match tr.guild_create(seed(g, voice), at, MAX_GAP) {
                        GuildCreated::Writes(w) => w,
                        GuildCreated::NeedsStore { generation } => {
                            pending.insert(g, generation);
                            vec![]
                        }
                    }
                }
                Op::StoreAnswer { g, leftover, heartbeat_back } => {
                    let Some(generation) = pending.remove(&g) else { continue };
                    let mut open: Vec<OpenSession> = model
                        .open
                        .iter()
                        .filter(|((guild_id, _), _)| *guild_id == guild(g))
                        .map(|(_, s)| s.clone())
                        .collect();
                    if let Some((u, c)) = leftover
                        && !model.open.contains_key(&(guild(g), user(u)))
                    {
                        let old = OpenSession::new(
                            SessionId::new(t(now).minus(5000), 0xdead),
                            user(u),
                            guild(g),
                            chan(c),
                            Flags::NONE,
                        );
                        model.apply(&[SessionWrite::Start { session: old.clone(), config: GuildConfig::default() }])?;
                        open.push(old);
                    }
                    let last_seen = (heartbeat_back % 2 == 0).then(|| t(now).minus(heartbeat_back));
                    tr.store_reconciled(guild(g), generation, open, GuildConfig::default(), last_seen, MAX_GAP)
                }
                Op::Unavailable { g } => {
                    // A guild still waiting for the store is forgotten: its answer is moot.
                    pending.remove(&g);
                    tr.guild_unavailable(guild(g), at);
                    vec![]
                }
                Op::Removed { g } => {
                    pending.remove(&g);
                    tr.guild_removed(guild(g), at)
                }
                Op::Afk { g, c } => tr.afk_changed(guild(g), c.map(chan), at),
                Op::FreezeAll => {
                    tr.freeze_all(at);
                    vec![]
                }
            };
            model.apply(&writes)?;
            // Snapshots always restore to the same state.
            if tr.is_settled() {
                let snap = tr.snapshot();
                prop_assert_eq!(Tracker::restore(snap.clone(), |_| true, None).unwrap().snapshot(), snap);
            }
        }
        // The tracker accounts exactly what the model holds open (guilds waiting for the store
        // hold theirs in the store).
        prop_assert_eq!(tr.open_sessions(), model.open.iter().filter(|((g, u), _)| tr.session(*g, *u).is_some()).count());
        // Removing every guild closes every session exactly once.
        let guilds: Vec<GuildId> = tr.guilds().collect();
        for g in guilds {
            let w = tr.guild_removed(g, t(now + 1));
            model.apply(&w)?;
        }
        prop_assert_eq!(tr.open_sessions(), 0);
        prop_assert!(model.open.is_empty(), "left open: {:?}", model.open.keys().collect::<Vec<_>>());
        // Partner time is symmetric: A with B on a day equals B with A.
        for ((g, a, b, day), secs) in &model.partners {
            prop_assert_eq!(
                model.partners.get(&(*g, *b, *a, *day)).copied(),
                Some(*secs),
                "{} with {} on {}", a, b, day
            );
        }
        prop_assert!(tr.departures().is_empty());
    }
}

// ---- property: partner time is the overlap of the stays -------------------------------------

/// A live guild's events: members 1 to 5 join, move (the AFK channel among the channels), mute
/// and the like, and leave; member 6 is a bot; the AFK channel itself changes now and then.
#[derive(Clone, Debug)]
enum LiveOp {
    Voice { u: u64, c: Option<u64>, flags: u8 },
    Afk { c: Option<u64> },
}

fn live_op() -> impl Strategy<Value = LiveOp> {
    let channel = || prop_oneof![3 => 1u64..4, 1 => Just(AFK)];
    prop_oneof![
        12 => (1u64..7, proptest::option::weighted(0.8, channel()), 0u8..32)
            .prop_map(|(u, c, flags)| LiveOp::Voice { u, c, flags }),
        1 => proptest::option::weighted(0.9, channel()).prop_map(|c| LiveOp::Afk { c }),
    ]
}

/// Who is in a call where, by the rules alone (a human in a channel that is not the AFK
/// channel; flags do not matter), and the stays that makes.
#[derive(Default)]
struct Stays {
    afk: Option<u64>,
    place: BTreeMap<u64, u64>,
    open: BTreeMap<u64, (u64, i64)>,
    /// (member, channel, start, end).
    closed: Vec<(u64, u64, i64, i64)>,
}

impl Stays {
    fn sync(&mut self, now: i64) {
        for u in 1..=5 {
            let want = self.place.get(&u).copied().filter(|c| Some(*c) != self.afk);
            match (self.open.get(&u).copied(), want) {
                (Some((c, _)), Some(w)) if c == w => {}
                (open, want) => {
                    if let Some((c, start)) = open {
                        self.closed.push((u, c, start, now));
                        self.open.remove(&u);
                    }
                    if let Some(w) = want {
                        self.open.insert(u, (w, now));
                    }
                }
            }
        }
    }

    /// Seconds each member spent with each other one per UTC day: the overlaps of their stays
    /// in the same channel, split at midnight.
    fn partners(&self) -> BTreeMap<(u64, u64, callstats_core::period::Day), u64> {
        let mut out = BTreeMap::new();
        for &(a, ca, sa, ea) in &self.closed {
            for &(b, cb, sb, eb) in &self.closed {
                if a == b || ca != cb {
                    continue;
                }
                let (mut from, to) = (sa.max(sb), ea.min(eb));
                while from < to {
                    let midnight = (T0 + from).div_euclid(86_400) * 86_400 + 86_400 - T0;
                    let next = midnight.min(to);
                    let day = callstats_core::period::Day::of(t(from));
                    *out.entry((a, b, day)).or_default() += (next - from) as u64;
                    from = next;
                }
            }
        }
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Through joins, moves (into and out of the AFK channel too), mutes and other flags,
    /// bots and a changing AFK channel, the tracker's sessions are the stays the rules make
    /// and its partner time is exactly their overlap, per UTC day, on both sides.
    #[test]
    fn partner_time_is_the_overlap_of_the_stays(
        ops in proptest::collection::vec((live_op(), 0i64..5000), 1..80),
    ) {
        let mut tr = tracker();
        let mut stays = Stays { afk: Some(AFK), ..Stays::default() };
        let mut sessions = Vec::new();
        let mut got: BTreeMap<(u64, u64, callstats_core::period::Day), u64> = BTreeMap::new();
        let mut now = 0i64;
        let mut record = |writes: Vec<SessionWrite>| {
            for s in ended(&writes) {
                let u = s.user.get() - 100;
                sessions.push((u, s.channel.get() - 1000, s.start().unix() - T0, s.end.unix() - T0));
                for p in &s.partners {
                    *got.entry((u, p.user.get() - 100, p.day)).or_default() += p.secs;
                }
            }
        };
        for (op, step) in ops {
            now += step;
            let writes = match op {
                LiveOp::Voice { u, c, flags } => {
                    let bot = u == 6;
                    if !bot {
                        match c {
                            Some(c) => stays.place.insert(u, c),
                            None => stays.place.remove(&u),
                        };
                    }
                    let flags = Flags::from_bits(flags).unwrap();
                    tr.voice_update(VoiceChange { bot, ..change(1, u, c, flags) }, t(now))
                }
                LiveOp::Afk { c } => {
                    stays.afk = c;
                    tr.afk_changed(guild(1), c.map(chan), t(now))
                }
            };
            stays.sync(now);
            record(writes);
        }
        // Everyone leaves.
        now += 1;
        for u in 1..=5 {
            record(tr.voice_update(change(1, u, None, Flags::NONE), t(now)));
        }
        stays.place.clear();
        stays.sync(now);
        sessions.sort_unstable();
        let mut want_sessions = stays.closed.clone();
        want_sessions.sort_unstable();
        prop_assert_eq!(sessions, want_sessions);
        prop_assert_eq!(got, stays.partners());
        prop_assert!(tr.departures().is_empty());
    }
}

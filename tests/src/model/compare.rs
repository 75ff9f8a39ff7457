//! Reads the store through [`Store`] and lists every difference from the oracle.
//!
//! Per user: one export (every item of the user's partition: open sessions, all-time and day
//! items with the sessions they hold, in every guild), compared item by item, so an item the
//! oracle does not expect is a difference too. Per guild: the all-time leaderboards (total and
//! ranked), which also show that opted-out members are on none.

use std::collections::{BTreeMap, BTreeSet};

use callstats_core::board::{Column, Metric};
use callstats_core::member::SlotSecs;
use callstats_core::period::{Day, PeriodKind};
use callstats_core::server::MemberAllTime;
use callstats_core::{ChannelId, Flags, GuildId, Timestamp, UserId};
use callstats_store::GuildExport;
use callstats_store::Store;

use super::oracle::{
    Figures, OpenExpected, Oracle, PartnerDays, Secs, Settled, accounted, figures, partner_time,
};

/// What a comparison found.
#[derive(Debug, Default)]
pub struct Comparison {
    pub mismatches: Vec<String>,
    pub sessions_checked: u64,
    pub estimated_checked: u64,
    /// Partner entries (member, guild, UTC day, partner) the oracle expected, and their seconds.
    pub partner_entries: u64,
    pub partner_secs: u64,
    /// Entries naming a member opted out at the end: the partners command leaves them out,
    /// so they are only checked against the bound (see [`compare_partners`]).
    pub opted_out_partner_entries: u64,
    /// Entries owned by or naming a member a privacy action touched, checked against the
    /// bound.
    pub bounded_partner_entries: u64,
}

impl Comparison {
    fn differ(&mut self, what: String) {
        self.mismatches.push(what);
    }

    fn check<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, store: &T, oracle: &T) {
        if store != oracle {
            self.differ(format!("{what}: store {store:?}, oracle {oracle:?}"));
        }
    }
}

/// Compares everything the store holds about `users` (and the leaderboards of the oracle's
/// guilds) with the oracle; `days`: the UTC days the scenario covered.
pub async fn compare(
    store: &Store,
    oracle: &Oracle,
    users: &[UserId],
    days: (Timestamp, Timestamp),
) -> Comparison {
    let mut c = Comparison::default();
    let mut ranked_of: BTreeMap<GuildId, Vec<(UserId, Figures)>> = BTreeMap::new();
    // Closed sessions with the ends the store chose, and the partners the day items hold.
    let mut settled_of: BTreeMap<(UserId, GuildId), Vec<Settled>> = BTreeMap::new();
    let mut partners_of: BTreeMap<(UserId, GuildId), PartnerDays> = BTreeMap::new();
    let mut exported = Vec::new();
    let mut listed = Listed::default();
    for &user in users {
        let export = match store.export_user(user).await {
            Ok(export) => export,
            Err(err) => {
                c.differ(format!("user {user}: the store cannot export: {err}"));
                continue;
            }
        };
        exported.push(user);
        if !oracle.opted_out(user) {
            listed.add(user, &export);
        }
        let guilds: BTreeSet<GuildId> = export
            .guilds
            .keys()
            .copied()
            .chain(
                oracle
                    .pairs()
                    .into_iter()
                    .filter(|(u, _)| *u == user)
                    .map(|(_, g)| g),
            )
            .collect();
        for guild in guilds {
            let empty = GuildExport::default();
            let got = export.guilds.get(&guild).unwrap_or(&empty);
            if oracle.uncertain.contains(&user) {
                let settled = check_uncertain(&mut c, oracle, user, guild, got);
                settled_of.insert((user, guild), settled);
                let stored: PartnerDays = got
                    .days
                    .iter()
                    .filter(|(_, d)| !d.partners.is_empty())
                    .map(|(day, d)| (day.date(), d.partners.clone()))
                    .collect();
                if !stored.is_empty() {
                    partners_of.insert((user, guild), stored);
                }
                continue;
            }
            let settled = compare_pair(&mut c, oracle, user, guild, got);
            let stored: PartnerDays = got
                .days
                .iter()
                .filter(|(_, d)| !d.partners.is_empty())
                .map(|(day, d)| (day.date(), d.partners.clone()))
                .collect();
            if !stored.is_empty() {
                partners_of.insert((user, guild), stored);
            }
            settled_of.insert((user, guild), settled.clone());
            let Some(model) = oracle.guilds.get(&guild) else {
                c.differ(format!("user {user}: data in unknown guild {guild}"));
                continue;
            };
            let f = figures(&settled, model.tz, model.rule);
            compare_figures(&mut c, user, guild, got, &f);
            if f.all_time.is_some() {
                ranked_of.entry(guild).or_default().push((user, f));
            }
        }
    }
    compare_partners(&mut c, oracle, &exported, &settled_of, &partners_of);
    compare_privacy(&mut c, store, oracle, days).await;
    compare_indexes(&mut c, store, oracle, &listed, days).await;
    compare_boards(&mut c, store, oracle, &ranked_of).await;
    c
}

/// What the server indexes should list, from the members' own items as exported: every
/// member not opted out, with their all-time figures and their days.
#[derive(Debug, Default)]
struct Listed {
    members: BTreeMap<GuildId, Vec<MemberAllTime>>,
    days: BTreeMap<GuildId, DaysListed>,
}

/// Per member and UTC day: the slots and partners a server's `guild-days` index shows.
type DaysListed = BTreeMap<(UserId, Day), (Vec<SlotSecs>, BTreeMap<UserId, u64>)>;

impl Listed {
    fn add(&mut self, user: UserId, export: &callstats_store::UserExport) {
        for (guild, got) in &export.guilds {
            if let Some(a) = &got.all_time {
                self.members.entry(*guild).or_default().push(MemberAllTime {
                    user,
                    total: a.stats.total,
                    active: a.breakdown.active,
                    sessions: a.stats.sessions,
                    channels: a.channels.clone(),
                });
            }
            let days = self.days.entry(*guild).or_default();
            for (day, record) in &got.days {
                days.insert(
                    (user, *day),
                    (record.slots.clone(), record.partners.clone()),
                );
            }
        }
    }
}

/// The server view's sources, the `guild-members` and `guild-days` indexes, against the
/// members' own items (compared with the oracle above): the same members, each with the same
/// figures, channels, slots and partners, and no member opted out at the end.
async fn compare_indexes(
    c: &mut Comparison,
    store: &Store,
    oracle: &Oracle,
    listed: &Listed,
    (first, last): (Timestamp, Timestamp),
) {
    let (first, last) = (Day::of(first).minus_days(1), Day::of(last.plus(86_400)));
    for guild in oracle.guilds.keys() {
        match store.guild_members(*guild).await {
            Ok(mut got) => {
                got.sort_by_key(|m| m.user);
                let mut want = listed.members.get(guild).cloned().unwrap_or_default();
                want.sort_by_key(|m| m.user);
                c.check(
                    &format!("guild {guild}: the guild-members index (t, a, s, chn)"),
                    &got,
                    &want,
                );
            }
            Err(err) => c.differ(format!("guild {guild}: guild-members unreadable: {err}")),
        }
        match store.guild_days(*guild, first, last).await {
            Ok(days) => {
                let got: DaysListed = days
                    .into_iter()
                    .map(|d| ((d.user, d.day), (d.slots, d.partners)))
                    .collect();
                let want = listed.days.get(guild).cloned().unwrap_or_default();
                c.check(
                    &format!("guild {guild}: the guild-days index (hb, pt)"),
                    &got,
                    &want,
                );
            }
            Err(err) => c.differ(format!("guild {guild}: guild-days unreadable: {err}")),
        }
    }
}

/// The leaderboards (this week, this month, all time; by total and by ranked time): members
/// with time on them, as the oracle's figures say for the week and month the board is at;
/// members opted out at the end on none. A member whose figures are bounded
/// ([`Oracle::uncertain`]) and not opted out is left out.
async fn compare_boards(
    c: &mut Comparison,
    store: &Store,
    oracle: &Oracle,
    ranked_of: &BTreeMap<GuildId, Vec<(UserId, Figures)>>,
) {
    for guild in oracle.guilds.keys() {
        let server = match store.guild(*guild).await {
            Ok(server) => server,
            Err(err) => {
                c.differ(format!("guild {guild}: leaderboards unreadable: {err}"));
                continue;
            }
        };
        let board = &server.board;
        let week = board.week.map(|k| (k.year(), k.week()));
        let month = board.month.map(|k| (k.year(), k.month()));
        let expected = ranked_of.get(guild).map_or(&[][..], Vec::as_slice);
        for kind in [PeriodKind::Week, PeriodKind::Month, PeriodKind::All] {
            for metric in [Metric::Total, Metric::Ranked] {
                // A board lists members with time on it.
                let mut want: Vec<(UserId, u64)> = expected
                    .iter()
                    .filter(|(user, _)| !oracle.opted_out(*user))
                    .map(|(user, f)| {
                        let period = match kind {
                            PeriodKind::Week => week.and_then(|k| f.weeks.get(&k)),
                            PeriodKind::Month => month.and_then(|k| f.months.get(&k)),
                            PeriodKind::All => None,
                        };
                        let secs = match (kind, period, &f.all_time) {
                            (PeriodKind::All, _, Some(all)) => match metric {
                                Metric::Total => all.secs.total,
                                Metric::Ranked => all.secs.ranked,
                            },
                            (_, Some(p), _) => match metric {
                                Metric::Total => p.total,
                                Metric::Ranked => p.ranked,
                            },
                            _ => 0,
                        };
                        (*user, secs)
                    })
                    .filter(|e| e.1 > 0)
                    .collect();
                want.sort_unstable();
                let mut got: Vec<(UserId, u64)> = board
                    .standings(Column::new(kind, metric), &BTreeMap::new())
                    .lines
                    .iter()
                    .filter(|e| oracle.opted_out(e.user) || !oracle.uncertain.contains(&e.user))
                    .map(|e| (e.user, e.secs))
                    .collect();
                got.sort_unstable();
                c.check(
                    &format!(
                        "guild {guild}: {kind:?} leaderboard {metric:?} ({week:?}, {month:?})"
                    ),
                    &got,
                    &want,
                );
            }
        }
    }
}

/// A member whose figures an opt-out racing the sidecar left bounded: their session records
/// (returned, as the store has them, for the partner bounds) must not have begun before their
/// last deletion, and while they are opted out none may have begun or ended after the opt-out
/// and none may be open.
fn check_uncertain(
    c: &mut Comparison,
    oracle: &Oracle,
    user: UserId,
    guild: GuildId,
    got: &GuildExport,
) -> Vec<Settled> {
    let what = |s: &str| format!("user {user} guild {guild} (bounded): {s}");
    let deleted = oracle.deleted_at.get(&user).copied();
    let opted_out_at = oracle.opted_out(user).then(|| oracle.privacy_at(user));
    let mut settled = Vec::new();
    for (_, day) in &got.days {
        for r in &day.ended {
            c.sessions_checked += 1;
            if deleted.is_some_and(|d| r.start() < d) {
                c.differ(what(&format!(
                    "a session from {} begun before the deletion at {:?} survives",
                    r.start(),
                    deleted
                )));
            }
            if let Some(Some(at)) = opted_out_at
                && r.end > at
            {
                c.differ(what(&format!(
                    "a session from {} to {} goes past the opt-out at {at}",
                    r.start(),
                    r.end
                )));
            }
            settled.push(Settled {
                channel: r.channel,
                start: r.start(),
                end: r.end,
                estimated: r.estimated,
                segments: vec![(r.start(), Flags::NONE)],
            });
        }
    }
    if opted_out_at.is_some() && got.open.is_some() {
        c.differ(what("a call in progress is open while opted out"));
    }
    settled
}

/// The rules of the privacy actions that no other comparison shows: a member opted out at the
/// end has no day in the `guild-days` index; a deleted member has no display name in a server
/// where nothing of theirs was recorded since the deletion.
async fn compare_privacy(
    c: &mut Comparison,
    store: &Store,
    oracle: &Oracle,
    (first, last): (Timestamp, Timestamp),
) {
    let (first, last) = (Day::of(first).minus_days(1), Day::of(last.plus(86_400)));
    for guild in oracle.guilds.keys() {
        match store.guild_days(*guild, first, last).await {
            Ok(days) => {
                for d in days {
                    if oracle.opted_out(d.user) {
                        c.differ(format!(
                            "guild {guild}: the opted-out member {} is in the guild-days index ({})",
                            d.user, d.day
                        ));
                    }
                }
            }
            Err(err) => c.differ(format!("guild {guild}: guild-days unreadable: {err}")),
        }
        let deleted: Vec<UserId> = oracle
            .deleted_at
            .keys()
            .copied()
            .filter(|u| !oracle.recorded_in(*u, *guild))
            .collect();
        match store.names(*guild, &deleted).await {
            Ok(names) => {
                for user in names.keys() {
                    c.differ(format!(
                        "guild {guild}: the deleted member {user} has a name, and nothing recorded since"
                    ));
                }
            }
            Err(err) => c.differ(format!("guild {guild}: names unreadable: {err}")),
        }
    }
}

/// Partner time: every exported member's day items against the oracle's overlaps, computed
/// with the ends the store chose for sessions the oracle knows only within a range.
///
/// Exact for every entry whose member and partner no privacy action touched and who are not
/// opted out. An entry owned by or naming a touched member is bounded: at most the overlap
/// counting ghosts (calls the sidecar tracks but the store does not hold) as company, since
/// whether the sidecar names a ghost depends on when it learns of the privacy action (its
/// next read of the server item) or of the store's refusal; a deleted member's stays count
/// only from the deletion on, so nothing from before it may remain. Entries naming a member
/// opted out at the end are counted too (the partners command leaves them out).
fn compare_partners(
    c: &mut Comparison,
    oracle: &Oracle,
    users: &[UserId],
    settled: &BTreeMap<(UserId, GuildId), Vec<Settled>>,
    stored: &BTreeMap<(UserId, GuildId), PartnerDays>,
) {
    let open: BTreeMap<(UserId, GuildId), OpenExpected> = oracle
        .guilds
        .iter()
        .flat_map(|(guild, g)| g.open.iter().map(|(u, s)| ((*u, *guild), s.clone())))
        .filter(|(_, s)| s.recorded)
        .collect();
    let expected = partner_time(settled, &open);
    let upper = partner_bound(oracle, settled);
    let keys: BTreeSet<(UserId, GuildId)> = expected
        .keys()
        .chain(stored.keys())
        .copied()
        .filter(|(u, _)| users.contains(u))
        .collect();
    let none = PartnerDays::new();
    let exact = |u: UserId| !oracle.touched.contains(&u) && !oracle.opted_out(u);
    for (user, guild) in keys {
        let mut want = expected.get(&(user, guild)).cloned().unwrap_or_default();
        for partners in want.values_mut() {
            partners.retain(|p, _| exact(user) && exact(*p));
            c.partner_entries += partners.len() as u64;
            c.partner_secs += partners.values().sum::<u64>();
        }
        want.retain(|_, partners| !partners.is_empty());
        let mut got = stored.get(&(user, guild)).cloned().unwrap_or_default();
        let bound = upper.get(&(user, guild)).unwrap_or(&none);
        for (day, partners) in &mut got {
            for (partner, secs) in &*partners {
                if exact(user) && exact(*partner) {
                    continue;
                }
                c.bounded_partner_entries += 1;
                if oracle.opted_out(*partner) {
                    c.opted_out_partner_entries += 1;
                }
                let most = bound
                    .get(day)
                    .and_then(|p| p.get(partner))
                    .copied()
                    .unwrap_or(0);
                if *secs > most {
                    c.differ(format!(
                        "user {user} guild {guild} day {day}: {secs} s with {partner}, at most {most} s (ghosts as company, nothing from before a deletion)"
                    ));
                }
            }
            partners.retain(|partner, _| exact(user) && exact(*partner));
        }
        got.retain(|_, partners| !partners.is_empty());
        c.check(
            &format!("user {user} guild {guild}: partners (UTC day -> partner -> seconds)"),
            &got,
            &want,
        );
    }
}

/// The most partner time each entry may hold: the overlaps with every stay the sidecar
/// tracked, ghosts included (still open, or ended at the latest their end may be), a deleted
/// member's stays cut to begin at their deletion.
fn partner_bound(
    oracle: &Oracle,
    settled: &BTreeMap<(UserId, GuildId), Vec<Settled>>,
) -> BTreeMap<(UserId, GuildId), PartnerDays> {
    let from = |user: UserId, start: Timestamp| {
        oracle
            .deleted_at
            .get(&user)
            .map_or(start, |d| start.max(*d))
    };
    let mut closed: BTreeMap<(UserId, GuildId), Vec<Settled>> = BTreeMap::new();
    for ((user, guild), sessions) in settled {
        for s in sessions {
            let start = from(*user, s.start);
            if start < s.end {
                closed.entry((*user, *guild)).or_default().push(Settled {
                    start,
                    segments: vec![(start, Flags::NONE)],
                    ..s.clone()
                });
            }
        }
    }
    for (user, guild, ghost, _) in &oracle.ghosts {
        let start = from(*user, ghost.start());
        if start < ghost.end.hi {
            closed.entry((*user, *guild)).or_default().push(Settled {
                channel: ghost.channel,
                start,
                end: ghost.end.hi,
                estimated: ghost.estimated,
                segments: vec![(start, Flags::NONE)],
            });
        }
    }
    let open: BTreeMap<(UserId, GuildId), OpenExpected> = oracle
        .guilds
        .iter()
        .flat_map(|(guild, g)| {
            g.open.iter().map(|(u, s)| {
                let start = from(*u, s.start());
                (
                    (*u, *guild),
                    OpenExpected {
                        channel: s.channel,
                        segments: vec![(start, Flags::NONE)],
                        recorded: s.recorded,
                    },
                )
            })
        })
        .collect();
    partner_time(&closed, &open)
}

/// Session records and the open session of one user in one guild; returns the closed
/// sessions with their ends as the store has them (when inside the expected range).
#[allow(clippy::too_many_lines, clippy::many_single_char_names)] // one check after another
fn compare_pair(
    c: &mut Comparison,
    oracle: &Oracle,
    user: UserId,
    guild: GuildId,
    got: &GuildExport,
) -> Vec<Settled> {
    let what = |s: &str| format!("user {user} guild {guild}: {s}");
    let rule = oracle
        .guilds
        .get(&guild)
        .map(|g| g.rule)
        .unwrap_or_default();
    let mut records: Vec<_> = got
        .days
        .iter()
        .flat_map(|(_, d)| d.ended.iter().cloned())
        .collect();
    records.sort_by_key(|r| (r.start(), r.end));
    let mut expected = oracle
        .closed
        .get(&(user, guild))
        .cloned()
        .unwrap_or_default();
    expected.sort_by_key(|e| (e.start(), e.end.lo));
    if records.len() != expected.len() {
        c.differ(what(&format!(
            "{} sessions in the store, {} expected; store {:?}; oracle {:?}",
            records.len(),
            expected.len(),
            records
                .iter()
                .map(|r| (r.start().unix(), r.end.unix(), r.estimated))
                .collect::<Vec<_>>(),
            expected
                .iter()
                .map(|e| (
                    e.start().unix(),
                    e.end.lo.unix(),
                    e.end.hi.unix(),
                    e.estimated
                ))
                .collect::<Vec<_>>()
        )));
    }
    let mut settled = Vec::new();
    for (i, e) in expected.iter().enumerate() {
        let Some(r) = records.get(i) else { break };
        c.sessions_checked += 1;
        let label = format!("session {i} from {}", e.start());
        if r.start() != e.start() || r.channel != e.channel || r.estimated != e.estimated {
            c.differ(what(&format!(
                "{label}: store starts {} in {} estimated {}, oracle starts {} in {} estimated {}",
                r.start(),
                r.channel,
                r.estimated,
                e.start(),
                e.channel,
                e.estimated
            )));
        }
        let end = if e.end.contains(r.end) {
            r.end
        } else {
            c.differ(what(&format!(
                "{label}: store ends {}, oracle between {} and {}",
                r.end, e.end.lo, e.end.hi
            )));
            e.end.lo
        };
        if e.end.lo != e.end.hi {
            c.estimated_checked += 1;
        }
        let s = Settled {
            channel: e.channel,
            start: e.start(),
            end,
            estimated: e.estimated,
            segments: e.segments.clone(),
        };
        let secs = s.secs(rule);
        let b = &r.breakdown;
        c.check(
            &what(&format!(
                "{label} breakdown (muted, deafened, streaming, video, alone, active)"
            )),
            &(b.muted, b.deafened, b.streaming, b.video, b.alone, b.active),
            &(
                secs.muted,
                secs.deafened,
                secs.streaming,
                secs.video,
                secs.alone,
                secs.active,
            ),
        );
        settled.push(s);
    }
    let open = oracle
        .guilds
        .get(&guild)
        .and_then(|g| g.open.get(&user))
        .filter(|s| s.recorded);
    match (&got.open, open) {
        (None, None) => {}
        (Some(s), Some(e)) => {
            let acc: Secs = accounted(e);
            c.check(
                &what("open session (start, channel, segment start, flags)"),
                &(s.start(), s.channel, s.seg_start, s.flags),
                &(e.start(), e.channel, e.accounted_until(), e.flags()),
            );
            let t = &s.breakdown;
            c.check(
                &what("open session accounted (muted, deafened, streaming, video, alone, active)"),
                &(t.muted, t.deafened, t.streaming, t.video, t.alone, t.active),
                &(
                    acc.muted,
                    acc.deafened,
                    acc.streaming,
                    acc.video,
                    acc.alone,
                    acc.active,
                ),
            );
        }
        (s, e) => c.differ(what(&format!(
            "open session: store {:?}, oracle {:?}",
            s.as_ref().map(|s| (s.start(), s.channel)),
            e.map(|e| (e.start(), e.channel))
        ))),
    }
    settled
}

#[allow(clippy::too_many_lines, clippy::many_single_char_names)] // one check after another
fn compare_figures(
    c: &mut Comparison,
    user: UserId,
    guild: GuildId,
    got: &GuildExport,
    f: &Figures,
) {
    let what = |s: &str| format!("user {user} guild {guild}: {s}");
    match (&got.all_time, &f.all_time) {
        (None, None) => {}
        (Some(a), Some(e)) => {
            c.check(
                &what("all-time (total, active, sessions, longest, last)"),
                &(
                    a.stats.total,
                    a.stats.active,
                    a.stats.sessions,
                    a.stats.longest,
                    a.stats.last_active,
                ),
                &(e.secs.total, e.secs.active, e.sessions, e.longest, e.last),
            );
            let b = &a.breakdown;
            c.check(
                &what("all-time (muted, deafened, streaming, video, alone, active, ranked)"),
                &(
                    b.muted,
                    b.deafened,
                    b.streaming,
                    b.video,
                    b.alone,
                    b.active,
                    a.ranked,
                ),
                &(
                    e.secs.muted,
                    e.secs.deafened,
                    e.secs.streaming,
                    e.secs.video,
                    e.secs.alone,
                    e.secs.active,
                    e.secs.ranked,
                ),
            );
            let heat: BTreeMap<usize, u64> = a
                .heatmap
                .buckets()
                .iter()
                .enumerate()
                .filter(|(_, s)| **s > 0)
                .map(|(i, s)| (i, *s))
                .collect();
            let want: BTreeMap<usize, u64> = e
                .heatmap
                .iter()
                .filter(|(_, s)| **s > 0)
                .map(|(i, s)| (*i, *s))
                .collect();
            c.check(&what("all-time heatmap"), &heat, &want);
        }
        (a, e) => c.differ(what(&format!(
            "all-time item: store {}, oracle {}",
            if a.is_some() { "has one" } else { "has none" },
            if e.is_some() {
                "expects one"
            } else {
                "expects none"
            }
        ))),
    }
    let days: BTreeMap<_, _> = got
        .days
        .iter()
        .map(|(d, t)| {
            (
                d.date(),
                (
                    t.total,
                    t.active,
                    t.deafened,
                    t.alone,
                    t.sessions,
                    t.longest,
                    t.last_active,
                ),
            )
        })
        .collect();
    let want: BTreeMap<_, _> = f
        .days
        .iter()
        .map(|(d, t)| {
            (
                *d,
                (
                    t.total, t.active, t.deafened, t.alone, t.sessions, t.longest, t.last,
                ),
            )
        })
        .collect();
    c.check(
        &what("days (total, active, deafened, alone, sessions, longest, last)"),
        &days,
        &want,
    );
    // The store keeps this week's and this month's figures (the latest with time), for the
    // leaderboards.
    let week = got
        .all_time
        .as_ref()
        .and_then(|a| a.week)
        .map(|w| ((w.key.year(), w.key.week()), (w.total, w.active, w.ranked)));
    let want = f
        .weeks
        .iter()
        .next_back()
        .map(|(k, t)| (*k, (t.total, t.active, t.ranked)));
    c.check(&what("this week (total, active, ranked)"), &week, &want);
    let month = got
        .all_time
        .as_ref()
        .and_then(|a| a.month)
        .map(|m| ((m.key.year(), m.key.month()), (m.total, m.active, m.ranked)));
    let want = f
        .months
        .iter()
        .next_back()
        .map(|(k, t)| (*k, (t.total, t.active, t.ranked)));
    c.check(&what("this month (total, active, ranked)"), &month, &want);
    // A session of no length (ended, estimated, at its own start) leaves its channel at 0.
    let channels: BTreeMap<ChannelId, u64> = got
        .all_time
        .iter()
        .flat_map(|a| a.channels.iter())
        .filter(|(_, secs)| **secs > 0)
        .map(|(c, secs)| (*c, *secs))
        .collect();
    c.check(
        &what("all-time seconds per channel"),
        &channels,
        &f.channels,
    );
    let mut day_channels: BTreeMap<(chrono::NaiveDate, ChannelId), u64> = BTreeMap::new();
    for (day, record) in &got.days {
        for slot in &record.slots {
            *day_channels.entry((day.date(), slot.channel)).or_default() += slot.total;
        }
    }
    day_channels.retain(|_, secs| *secs > 0);
    c.check(
        &what("seconds per UTC day and channel (the day items' slots)"),
        &day_channels,
        &f.day_channels,
    );
}

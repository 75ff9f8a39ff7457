//! How each domain type is laid out as an item, both ways (`docs/storage.md`, Items).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use callstats_core::aggregate::Stats;
use callstats_core::board::Board;
use callstats_core::breakdown::{Breakdown, Flags, RankingRule};
use callstats_core::ids::{ChannelId, GuildId, UserId, parse_id};
use callstats_core::member::{AllTime, DayRecord, PeriodFigures, Streak};
use callstats_core::period::{Day, MonthKey, WeekKey};
use callstats_core::server::MemberAllTime;
use callstats_core::session::{LiveSummary, OpenSession, SessionId};
use callstats_core::settings::{GuildConfig, UserSettings, parse_timezone};
use callstats_core::time::Timestamp;

use crate::bin;
use crate::codec::{Item, Reader, key, n, s};
use crate::error::StoreError;
use crate::schema::keys;

pub(crate) fn b(bytes: Vec<u8>) -> AttributeValue {
    AttributeValue::B(Blob::new(bytes))
}

/// Breakdown attribute names, shared by open sessions and all-time items (`ac` / `a` hold the
/// active seconds).
const BREAKDOWN_ATTRS: [&str; 5] = ["mu", "de", "st", "vi", "al"];

fn breakdown_values(bd: &Breakdown) -> [u64; 5] {
    [bd.muted, bd.deafened, bd.streaming, bd.video, bd.alone]
}

fn put_breakdown(item: &mut Item, bd: &Breakdown, active_attr: &str) {
    for (attr, value) in BREAKDOWN_ATTRS.iter().zip(breakdown_values(bd)) {
        item.insert((*attr).into(), n(value));
    }
    item.insert(active_attr.into(), n(bd.active));
}

fn read_breakdown(r: &Reader<'_>, active_attr: &str) -> Result<Breakdown, StoreError> {
    Ok(Breakdown {
        muted: r.u64("mu")?,
        deafened: r.u64("de")?,
        streaming: r.u64("st")?,
        video: r.u64("vi")?,
        alone: r.u64("al")?,
        active: r.u64(active_attr)?,
    })
}

/// A binary attribute decoded by `decode`, the item named in the error.
fn binary<T>(
    r: &Reader<'_>,
    name: &str,
    decode: impl FnOnce(&[u8]) -> Result<T, String>,
) -> Result<T, StoreError> {
    decode(r.bytes(name)?).map_err(|e| r.error(format!("{name}: {e}")))
}

/// The item's version, 0 when it has none (it is new).
pub(crate) fn version(r: &Reader<'_>) -> Result<u64, StoreError> {
    if r.has("v") { r.u64("v") } else { Ok(0) }
}

/// The user a `U#<id>` partition key names.
pub(crate) fn user_of(r: &Reader<'_>) -> Result<UserId, StoreError> {
    let pk = r.string("pk")?;
    pk.strip_prefix("U#")
        .and_then(parse_id)
        .ok_or_else(|| r.error("partition key is not a user"))
}

// ---------------------------------------------------------------- open sessions

/// The attributes of an open session, without its keys (a secondary item's top level, or the
/// member state's `o` map), and the index summary beside them.
pub(crate) fn open_attrs(session: &OpenSession) -> Item {
    let mut item = Item::new();
    item.insert("ch".into(), s(session.channel.to_string()));
    item.insert("sid".into(), s(session.id.to_string()));
    item.insert("seg".into(), n(session.seg_start.unix()));
    item.insert("fl".into(), n(session.flags.bits()));
    item.insert("rs".into(), n(session.run_start.unix()));
    put_breakdown(&mut item, &session.breakdown, "ac");
    item.insert("cells".into(), b(bin::cells(&session.cells)));
    item
}

/// The `open-by-guild` index's copy of a session: its server, channel, id and live summary.
pub(crate) fn summary_attrs(session: &OpenSession, rule: RankingRule) -> Item {
    let summary = session.summary(rule);
    let mut item = Item::new();
    item.insert("og".into(), s(session.guild.to_string()));
    item.insert("oc".into(), s(session.channel.to_string()));
    item.insert("os".into(), s(session.id.to_string()));
    item.insert("oa".into(), n(summary.active));
    item.insert("or".into(), n(summary.ranked));
    item.insert("ox".into(), n(summary.since.unix()));
    item.insert(
        "of".into(),
        n(u8::from(summary.active_grows) | u8::from(summary.ranked_grows) << 1),
    );
    item
}

fn read_open_fields(
    r: &Reader<'_>,
    user: UserId,
    guild: GuildId,
) -> Result<OpenSession, StoreError> {
    let channel: ChannelId =
        parse_id(r.string("ch")?).ok_or_else(|| r.error("ch is not a channel id"))?;
    let id: SessionId = r.parse("sid")?;
    let seg_start = r.timestamp("seg")?;
    let run_start = r.timestamp("rs")?;
    let flags = u8::try_from(r.u64("fl")?)
        .ok()
        .and_then(Flags::from_bits)
        .ok_or_else(|| r.error("fl has unknown bits"))?;
    if seg_start < id.start() || run_start < id.start() || run_start > seg_start {
        return Err(r.error("segment times out of order"));
    }
    Ok(OpenSession {
        id,
        user,
        guild,
        channel,
        seg_start,
        flags,
        run_start,
        breakdown: read_breakdown(r, "ac")?,
        cells: binary(r, "cells", bin::read_cells)?,
    })
}

/// A secondary open session item (`O#<guild>`).
pub(crate) fn read_secondary(item: &Item) -> Result<OpenSession, StoreError> {
    let r = Reader::new(item);
    let user = user_of(&r)?;
    let guild = r
        .sk_suffix(keys::OPEN_PREFIX)
        .ok()
        .and_then(parse_id)
        .ok_or_else(|| r.error("sort key does not name a server"))?;
    read_open_fields(&r, user, guild)
}

/// A call in progress as the `open-by-guild` index holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveCall {
    pub user: UserId,
    pub channel: ChannelId,
    pub session: SessionId,
    pub summary: LiveSummary,
}

impl LiveCall {
    /// Total, active and ranked seconds so far at `at`.
    #[must_use]
    pub fn at(&self, at: Timestamp) -> (u64, u64, u64) {
        let (active, ranked) = self.summary.at(at);
        (self.session.start().secs_until(at), active, ranked)
    }
}

pub(crate) fn read_live_call(item: &Item) -> Result<LiveCall, StoreError> {
    let r = Reader::new(item);
    let grows = r.u64("of")?;
    Ok(LiveCall {
        user: user_of(&r)?,
        channel: parse_id(r.string("oc")?).ok_or_else(|| r.error("oc is not a channel id"))?,
        session: r.parse("os")?,
        summary: LiveSummary {
            since: r.timestamp("ox")?,
            active: r.u64("oa")?,
            ranked: r.u64("or")?,
            active_grows: grows & 1 != 0,
            ranked_grows: grows & 2 != 0,
        },
    })
}

// ---------------------------------------------------------------- member state

/// The last session a member ended in one server (kept a week, to refuse a replayed start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastEnded {
    pub id: SessionId,
    pub end: Timestamp,
}

/// A member's state item (`USER`): settings, the primary open session, recent ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberState {
    pub settings: UserSettings,
    /// When the member last opted out, opted in or deleted their data.
    pub privacy_at: Option<Timestamp>,
    /// When the member last deleted their data: no session that began before is recorded,
    /// and they are in no partner list of such a session.
    pub deleted_at: Option<Timestamp>,
    /// When the member last exported their data.
    pub last_export: Option<Timestamp>,
    pub primary: Option<OpenSession>,
    /// Servers where a secondary open session (`O#<guild>`) exists.
    pub secondaries: std::collections::BTreeSet<GuildId>,
    pub last_ended: BTreeMap<GuildId, LastEnded>,
    pub version: u64,
}

impl MemberState {
    /// Whether a secondary open session exists in `guild`.
    #[must_use]
    pub fn has_secondary(&self, guild: GuildId) -> bool {
        self.secondaries.contains(&guild)
    }
}

pub(crate) fn read_member_state(item: &Item) -> Result<MemberState, StoreError> {
    let r = Reader::new(item);
    let user = user_of(&r)?;
    let timezone = match r.opt_parse::<String>("tz")? {
        Some(name) => Some(
            parse_timezone(&name).ok_or_else(|| r.error(format!("unknown timezone {name:?}")))?,
        ),
        None => None,
    };
    let primary = match item.get("o") {
        None => None,
        Some(value) => {
            let map = value.as_m().map_err(|_| r.error("o is not a map"))?;
            let guild = parse_id(r.string("og")?).ok_or_else(|| r.error("og is not a server"))?;
            let inner: Item = map.clone();
            let mut inner = inner;
            inner.insert("pk".into(), s(r.string("pk")?));
            inner.insert("sk".into(), s(format!("{}.o", r.string("sk")?)));
            Some(read_open_fields(&Reader::new(&inner), user, guild)?)
        }
    };
    let mut last_ended = BTreeMap::new();
    let secondaries = item
        .keys()
        .filter_map(|name| name.strip_prefix('x').and_then(parse_id))
        .collect();
    for (name, value) in item {
        let Some(guild) = name.strip_prefix('e').and_then(parse_id) else {
            continue;
        };
        let raw = value
            .as_s()
            .map_err(|_| r.error(format!("{name} is not a string")))?;
        let parsed = raw.split_once('|').and_then(|(id, end)| {
            Some(LastEnded {
                id: id.parse().ok()?,
                end: end.parse::<i64>().ok().and_then(Timestamp::new)?,
            })
        });
        last_ended.insert(
            guild,
            parsed.ok_or_else(|| r.error(format!("{name} is not <session>|<end>")))?,
        );
    }
    Ok(MemberState {
        settings: UserSettings {
            opted_out: r.opt_bool("optout")?.unwrap_or(false),
            timezone,
        },
        privacy_at: if r.has("priv") {
            Some(r.timestamp("priv")?)
        } else {
            None
        },
        deleted_at: if r.has("del") {
            Some(r.timestamp("del")?)
        } else {
            None
        },
        last_export: if r.has("cx") {
            Some(r.timestamp("cx")?)
        } else {
            None
        },
        primary,
        secondaries,
        last_ended,
        version: version(&r)?,
    })
}

pub(crate) fn last_ended_value(last: LastEnded) -> AttributeValue {
    s(format!("{}|{}", last.id, last.end.unix()))
}

// ---------------------------------------------------------------- all-time

/// An all-time item's contents with its version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllTimeItem {
    pub all: AllTime,
    pub version: u64,
    /// On the server's indexes (not opted out).
    pub listed: bool,
}

fn put_period<K: std::fmt::Display>(
    item: &mut Item,
    prefix: char,
    figures: Option<&PeriodFigures<K>>,
) {
    if let Some(f) = figures {
        item.insert(format!("{prefix}k"), s(f.key.to_string()));
        item.insert(format!("{prefix}t"), n(f.total));
        item.insert(format!("{prefix}a"), n(f.active));
        item.insert(format!("{prefix}r"), n(f.ranked));
    }
}

fn read_period<K: std::str::FromStr>(
    r: &Reader<'_>,
    prefix: char,
) -> Result<Option<PeriodFigures<K>>, StoreError> {
    let key_attr = format!("{prefix}k");
    if !r.has(&key_attr) {
        return Ok(None);
    }
    Ok(Some(PeriodFigures {
        key: r.parse(&key_attr)?,
        total: r.u64(&format!("{prefix}t"))?,
        active: r.u64(&format!("{prefix}a"))?,
        ranked: r.u64(&format!("{prefix}r"))?,
    }))
}

pub(crate) fn all_time_item(user: UserId, guild: GuildId, item: &AllTimeItem) -> Item {
    let a = &item.all;
    let mut out = key(keys::user(user), keys::all_time(guild));
    out.insert("t".into(), n(a.stats.total));
    out.insert("s".into(), n(a.stats.sessions));
    out.insert("lg".into(), n(a.stats.longest));
    out.insert(
        "l".into(),
        n(a.stats.last_active.map_or(0, Timestamp::unix)),
    );
    out.insert("r".into(), n(a.ranked));
    put_breakdown(&mut out, &a.breakdown, "a");
    out.insert("hm".into(), b(bin::heatmap(&a.heatmap)));
    put_period(&mut out, 'w', a.week.as_ref());
    put_period(&mut out, 'm', a.month.as_ref());
    let z = &a.streak;
    if let Some(d) = z.last_day {
        out.insert("zd".into(), s(d.to_string()));
        out.insert("zs".into(), n(z.last_day_secs));
    }
    if let Some(d) = z.last_counted {
        out.insert("zq".into(), s(d.to_string()));
        out.insert("zc".into(), n(z.run));
    }
    out.insert("zb".into(), n(z.best));
    out.insert("rd".into(), b(bin::recent(&a.recent)));
    out.insert("chn".into(), b(bin::secs_by_id(&a.channels)));
    if item.listed {
        out.insert("ga".into(), s(guild.to_string()));
    }
    out.insert("v".into(), n(item.version));
    out
}

pub(crate) fn read_all_time(item: &Item) -> Result<AllTimeItem, StoreError> {
    let r = Reader::new(item);
    let last = r.timestamp("l")?;
    let date = |name: &str| -> Result<Option<chrono::NaiveDate>, StoreError> {
        r.opt_parse::<chrono::NaiveDate>(name)
    };
    let breakdown = read_breakdown(&r, "a")?;
    Ok(AllTimeItem {
        all: AllTime {
            stats: Stats {
                total: r.u64("t")?,
                active: breakdown.active,
                sessions: r.u64("s")?,
                longest: r.u64("lg")?,
                last_active: (last != Timestamp::EPOCH).then_some(last),
            },
            breakdown,
            ranked: r.u64("r")?,
            heatmap: binary(&r, "hm", bin::read_heatmap)?,
            week: read_period::<WeekKey>(&r, 'w')?,
            month: read_period::<MonthKey>(&r, 'm')?,
            streak: Streak {
                last_day: date("zd")?,
                last_day_secs: if r.has("zs") { r.u64("zs")? } else { 0 },
                last_counted: date("zq")?,
                run: if r.has("zc") {
                    u32::try_from(r.u64("zc")?).map_err(|_| r.error("zc too large"))?
                } else {
                    0
                },
                best: u32::try_from(r.u64("zb")?).map_err(|_| r.error("zb too large"))?,
            },
            recent: binary(&r, "rd", bin::read_recent)?,
            channels: binary(&r, "chn", bin::read_secs_by_id)?,
        },
        version: version(&r)?,
        listed: r.has("ga"),
    })
}

/// What the `guild-members` index holds of an all-time item.
pub(crate) fn read_member_summary(item: &Item) -> Result<MemberAllTime, StoreError> {
    let r = Reader::new(item);
    Ok(MemberAllTime {
        user: user_of(&r)?,
        total: r.u64("t")?,
        active: r.u64("a")?,
        sessions: r.u64("s")?,
        channels: binary(&r, "chn", bin::read_secs_by_id)?,
    })
}

// ---------------------------------------------------------------- days

/// A day item's contents with its version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayItem {
    pub record: DayRecord,
    pub version: u64,
    pub listed: bool,
}

pub(crate) fn day_item(user: UserId, guild: GuildId, day: Day, item: &DayItem) -> Item {
    let d = &item.record;
    let mut out = key(keys::user(user), keys::day(guild, day));
    out.insert("t".into(), n(d.total));
    out.insert("a".into(), n(d.active));
    out.insert("de".into(), n(d.deafened));
    out.insert("al".into(), n(d.alone));
    out.insert("s".into(), n(d.sessions));
    out.insert("lg".into(), n(d.longest));
    out.insert("l".into(), n(d.last_active.map_or(0, Timestamp::unix)));
    out.insert("hb".into(), b(bin::slots(&d.slots)));
    out.insert("pt".into(), b(bin::secs_by_id(&d.partners)));
    out.insert("ss".into(), b(bin::sessions(&d.ended)));
    if item.listed {
        out.insert("gm".into(), s(keys::guild_month(guild, day)));
        out.insert("gd".into(), s(day.to_string()));
    }
    out.insert("v".into(), n(item.version));
    out
}

/// The server and day a `D#<guild>#<day>` sort key names.
pub(crate) fn day_key(r: &Reader<'_>) -> Result<(GuildId, Day), StoreError> {
    let rest = r.sk_suffix(keys::DAY_PREFIX)?;
    rest.split_once('#')
        .and_then(|(g, d)| Some((parse_id(g)?, d.parse().ok()?)))
        .ok_or_else(|| r.error("sort key is not D#<server>#<day>"))
}

pub(crate) fn read_day(item: &Item) -> Result<(Day, DayItem), StoreError> {
    let r = Reader::new(item);
    let user = user_of(&r)?;
    let (guild, day) = day_key(&r)?;
    let last = r.timestamp("l")?;
    Ok((
        day,
        DayItem {
            record: DayRecord {
                total: r.u64("t")?,
                active: r.u64("a")?,
                deafened: r.u64("de")?,
                alone: r.u64("al")?,
                sessions: r.u64("s")?,
                longest: r.u64("lg")?,
                last_active: (last != Timestamp::EPOCH).then_some(last),
                slots: binary(&r, "hb", bin::read_slots)?,
                partners: binary(&r, "pt", bin::read_secs_by_id)?,
                ended: binary(&r, "ss", |b| bin::read_sessions(b, user, guild))?,
            },
            version: version(&r)?,
            listed: r.has("gm"),
        },
    ))
}

// ---------------------------------------------------------------- server

/// The server item: configuration, shard, leaderboards and peaks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuildItem {
    pub config: GuildConfig,
    /// The gateway shard that serves the server (its heartbeat caps calls in progress).
    pub shard: Option<u32>,
    pub board: Board,
    pub version: u64,
}

pub(crate) fn read_guild(item: &Item) -> Result<GuildItem, StoreError> {
    let r = Reader::new(item);
    let config = if r.has("tz") {
        let tz_name: String = r.parse("tz")?;
        GuildConfig {
            rule: RankingRule {
                exclude_deafened: r.bool("xdeaf")?,
                exclude_alone: r.bool("xalone")?,
            },
            timezone: parse_timezone(&tz_name)
                .ok_or_else(|| r.error(format!("unknown timezone {tz_name:?}")))?,
        }
    } else {
        GuildConfig::default()
    };
    let board = Board {
        week: r.opt_parse("wk")?,
        month: r.opt_parse("mk")?,
        entries: if r.has("lbe") {
            binary(&r, "lbe", bin::read_board_entries)?
        } else {
            BTreeMap::new()
        },
        floors: if r.has("lbf") {
            binary(&r, "lbf", bin::read_figures)?
        } else {
            [0; 6]
        },
        gone: if r.has("gone") {
            binary(&r, "gone", bin::read_instants)?
        } else {
            BTreeMap::new()
        },
        peaks: if r.has("pks") {
            binary(&r, "pks", bin::read_peaks)?
        } else {
            BTreeMap::new()
        },
    };
    Ok(GuildItem {
        config,
        shard: if r.has("sh") {
            Some(u32::try_from(r.u64("sh")?).map_err(|_| r.error("sh too large"))?)
        } else {
            None
        },
        board,
        version: version(&r)?,
    })
}

/// The board's attributes, for an update that leaves the configuration alone.
pub(crate) fn board_attrs(board: &Board) -> HashMap<&'static str, Option<AttributeValue>> {
    HashMap::from([
        ("wk", board.week.map(|w| s(w.to_string()))),
        ("mk", board.month.map(|m| s(m.to_string()))),
        ("lbe", Some(b(bin::board_entries(&board.entries)))),
        ("lbf", Some(b(bin::figures(&board.floors)))),
        ("gone", Some(b(bin::instants(&board.gone)))),
        ("pks", Some(b(bin::peaks(&board.peaks)))),
    ])
}

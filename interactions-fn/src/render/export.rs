//! `/callstats export`: everything stored about one user, as the JSON document described in
//! `docs/export-format.md` (format `callstats-export`, version 1).
//!
//! The document is its own stable shape, not the store's items: ids are strings (snowflakes
//! exceed JavaScript's safe integers), instants are RFC 3339 UTC, durations whole seconds.

use serde::Serialize;

use callstats_core::aggregate::Aggregate;
use callstats_core::period::{Day, MonthKey, WeekKey};
use callstats_core::session::{DayTotals, PeriodTotals};
use callstats_core::{Breakdown, Flags, GuildId, OpenSession, Timestamp, UserId};
use callstats_store::{GuildExport, SessionRecord, UserExport};

pub const FORMAT: &str = "callstats-export";
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Document {
    pub format: &'static str,
    pub version: u32,
    pub exported_at: String,
    pub user_id: String,
    pub settings: Settings,
    pub guilds: Vec<Guild>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Settings {
    pub opted_out: bool,
    pub timezone: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Guild {
    pub guild_id: String,
    pub all_time: Option<AllTime>,
    pub open_session: Option<Open>,
    pub sessions: Vec<Session>,
    pub days: Vec<DayItem>,
    pub weeks: Vec<PeriodItem>,
    pub months: Vec<PeriodItem>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Seconds {
    pub muted_secs: u64,
    pub deafened_secs: u64,
    pub streaming_secs: u64,
    pub video_secs: u64,
    pub alone_secs: u64,
    pub active_secs: u64,
}

impl From<&Breakdown> for Seconds {
    fn from(b: &Breakdown) -> Self {
        Self {
            muted_secs: b.muted,
            deafened_secs: b.deafened,
            streaming_secs: b.streaming,
            video_secs: b.video,
            alone_secs: b.alone,
            active_secs: b.active,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AllTime {
    pub total_secs: u64,
    pub active_secs: u64,
    pub ranked_secs: u64,
    pub sessions: u64,
    pub longest_secs: u64,
    pub last_active: Option<String>,
    pub breakdown: Seconds,
    /// 336 values: seconds per UTC half hour of the week, Monday 00:00 first.
    pub heatmap_utc_half_hours: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Session {
    pub session_id: String,
    pub channel_id: String,
    pub start: String,
    pub end: String,
    pub duration_secs: u64,
    pub estimated_end: bool,
    pub breakdown: Seconds,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Open {
    pub session_id: String,
    pub channel_id: String,
    pub start: String,
    /// Everything before this instant is in `breakdown`.
    pub accounted_until: String,
    pub state: State,
    pub breakdown: Seconds,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[allow(clippy::struct_excessive_bools)] // the documented shape of the export
pub struct State {
    pub muted: bool,
    pub deafened: bool,
    pub streaming: bool,
    pub video: bool,
    pub alone: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DayItem {
    pub day: String,
    pub total_secs: u64,
    pub active_secs: u64,
    pub deafened_secs: u64,
    pub alone_secs: u64,
    pub sessions: u64,
    pub longest_secs: u64,
    pub last_active: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeriodItem {
    pub period: String,
    pub total_secs: u64,
    pub active_secs: u64,
    pub ranked_secs: u64,
    pub sessions: u64,
}

fn time(t: Timestamp) -> String {
    t.to_string()
}

fn all_time(a: &Aggregate) -> AllTime {
    AllTime {
        total_secs: a.stats.total,
        active_secs: a.stats.active,
        ranked_secs: a.ranked,
        sessions: a.stats.sessions,
        longest_secs: a.stats.longest,
        last_active: a.stats.last_active.map(time),
        breakdown: (&a.breakdown).into(),
        heatmap_utc_half_hours: a.heatmap.buckets().to_vec(),
    }
}

fn session(s: &SessionRecord) -> Session {
    Session {
        session_id: s.id.to_string(),
        channel_id: s.channel.to_string(),
        start: time(s.start()),
        end: time(s.end),
        duration_secs: s.duration(),
        estimated_end: s.estimated,
        breakdown: (&s.breakdown).into(),
    }
}

fn open(o: &OpenSession) -> Open {
    Open {
        session_id: o.id.to_string(),
        channel_id: o.channel.to_string(),
        start: time(o.start()),
        accounted_until: time(o.seg_start),
        state: State {
            muted: o.flags.contains(Flags::MUTED),
            deafened: o.flags.contains(Flags::DEAFENED),
            streaming: o.flags.contains(Flags::STREAMING),
            video: o.flags.contains(Flags::VIDEO),
            alone: o.flags.contains(Flags::ALONE),
        },
        breakdown: (&o.breakdown).into(),
    }
}

fn day((d, t): &(Day, DayTotals)) -> DayItem {
    DayItem {
        day: d.to_string(),
        total_secs: t.total,
        active_secs: t.active,
        deafened_secs: t.deafened,
        alone_secs: t.alone,
        sessions: t.sessions,
        longest_secs: t.longest,
        last_active: t.last_active.map(time),
    }
}

fn period(key: String, t: &PeriodTotals) -> PeriodItem {
    PeriodItem {
        period: key,
        total_secs: t.total,
        active_secs: t.active,
        ranked_secs: t.ranked,
        sessions: t.sessions,
    }
}

fn guild(id: GuildId, g: &GuildExport) -> Guild {
    let mut sessions: Vec<&SessionRecord> = g.sessions.iter().collect();
    sessions.sort_by_key(|s| s.id);
    let mut days = g.days.clone();
    days.sort_by_key(|(d, _)| *d);
    let mut weeks: Vec<&(WeekKey, PeriodTotals)> = g.weeks.iter().collect();
    weeks.sort_by_key(|(w, _)| *w);
    let mut months: Vec<&(MonthKey, PeriodTotals)> = g.months.iter().collect();
    months.sort_by_key(|(m, _)| *m);
    Guild {
        guild_id: id.to_string(),
        all_time: g.all_time.as_ref().map(all_time),
        open_session: g.open.as_ref().map(open),
        sessions: sessions.into_iter().map(session).collect(),
        days: days.iter().map(day).collect(),
        weeks: weeks
            .iter()
            .map(|(w, t)| period(w.to_string(), t))
            .collect(),
        months: months
            .iter()
            .map(|(m, t)| period(m.to_string(), t))
            .collect(),
    }
}

/// The export document of `export`, made at `now`.
#[must_use]
pub fn document(user: UserId, export: &UserExport, now: Timestamp) -> Document {
    Document {
        format: FORMAT,
        version: VERSION,
        exported_at: time(now),
        user_id: user.to_string(),
        settings: Settings {
            opted_out: export.settings.opted_out,
            timezone: export.settings.timezone.map(|tz| tz.name().to_owned()),
        },
        guilds: export.guilds.iter().map(|(id, g)| guild(*id, g)).collect(),
    }
}

/// The document as compact JSON bytes.
pub fn to_json(document: &Document) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(document)
}

/// The attachment's file name.
#[must_use]
pub fn file_name(user: UserId) -> String {
    format!("callstats-export-{user}.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use callstats_core::settings::UserSettings;
    use callstats_core::{SessionId, Stats};
    use std::collections::BTreeMap;
    use twilight_model::id::Id;

    #[test]
    fn documents_every_part_with_string_ids_and_iso_times() {
        let start = Timestamp::new(1_795_000_000).unwrap();
        let record = SessionRecord {
            id: SessionId::new(start, 7),
            user: Id::new(1),
            guild: Id::new(2),
            channel: Id::new(3),
            end: start.plus(60),
            estimated: true,
            breakdown: Breakdown {
                active: 60,
                ..Breakdown::default()
            },
        };
        let aggregate = Aggregate {
            stats: Stats {
                total: 60,
                active: 60,
                sessions: 1,
                longest: 60,
                last_active: Some(start.plus(60)),
            },
            ..Aggregate::default()
        };
        let export = UserExport {
            user: Some(Id::new(1)),
            settings: UserSettings {
                opted_out: false,
                timezone: Some(chrono_tz::Asia::Kolkata),
            },
            guilds: BTreeMap::from([(
                Id::new(2),
                GuildExport {
                    all_time: Some(aggregate),
                    sessions: vec![record],
                    ..GuildExport::default()
                },
            )]),
        };
        let json: serde_json::Value =
            serde_json::from_slice(&to_json(&document(Id::new(1), &export, start)).unwrap())
                .unwrap();
        assert_eq!(json["format"], "callstats-export");
        assert_eq!(json["version"], 1);
        assert_eq!(json["user_id"], "1");
        assert_eq!(json["settings"]["timezone"], "Asia/Kolkata");
        let g = &json["guilds"][0];
        assert_eq!(g["guild_id"], "2");
        assert_eq!(g["sessions"][0]["session_id"], "001795000000-00000007");
        assert_eq!(g["sessions"][0]["start"], "2026-11-18T11:06:40Z");
        assert_eq!(g["sessions"][0]["estimated_end"], true);
        assert_eq!(
            g["all_time"]["heatmap_utc_half_hours"]
                .as_array()
                .unwrap()
                .len(),
            336
        );
        assert_eq!(g["open_session"], serde_json::Value::Null);
    }
}

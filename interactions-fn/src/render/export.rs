//! `/callstats export`: everything stored about one user, as the JSON document described in
//! `docs/export-format.md` (format `callstats-export`, version 2).
//!
//! The document is its own stable shape, not the store's items: ids are strings (snowflakes
//! exceed JavaScript's safe integers), instants are RFC 3339 UTC, durations whole seconds.

use serde::Serialize;

use chrono_tz::Tz;

use callstats_core::member::{DayRecord, STREAK_SECS};
use callstats_core::period::Day;
use callstats_core::session::SessionRecord;
use callstats_core::window::{LocalWindow, window_figures};
use callstats_core::{Breakdown, Flags, GuildId, OpenSession, Timestamp, UserId};
use callstats_store::{GuildExport, UserExport};

pub const FORMAT: &str = "callstats-export";
pub const VERSION: u32 = 2;

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
    /// Local days (in the member's timezone) with at least ten minutes of calls.
    pub streak_days: Vec<String>,
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
    pub channels: Vec<ChannelSecs>,
    pub this_week: Option<PeriodItem>,
    pub this_month: Option<PeriodItem>,
    pub streak_best_days: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChannelSecs {
    pub channel_id: String,
    pub secs: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartnerSecs {
    pub user_id: String,
    pub secs: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HalfHour {
    /// `0` is 00:00-00:30 UTC.
    pub half_hour: u8,
    pub channel_id: String,
    pub total_secs: u64,
    pub active_secs: u64,
    /// Sessions that started in this half hour.
    pub sessions_started: u64,
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
    pub half_hours: Vec<HalfHour>,
    /// Seconds in the same channel as each other member, by their id.
    pub partners: Vec<PartnerSecs>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeriodItem {
    pub period: String,
    pub total_secs: u64,
    pub active_secs: u64,
    pub ranked_secs: u64,
}

fn time(t: Timestamp) -> String {
    t.to_string()
}

fn all_time(a: &callstats_core::member::AllTime) -> AllTime {
    AllTime {
        total_secs: a.stats.total,
        active_secs: a.stats.active,
        ranked_secs: a.ranked,
        sessions: a.stats.sessions,
        longest_secs: a.stats.longest,
        last_active: a.stats.last_active.map(time),
        breakdown: (&a.breakdown).into(),
        heatmap_utc_half_hours: a.heatmap.buckets().to_vec(),
        channels: a
            .channels
            .iter()
            .map(|(c, secs)| ChannelSecs {
                channel_id: c.to_string(),
                secs: *secs,
            })
            .collect(),
        this_week: a.week.map(|w| PeriodItem {
            period: w.key.to_string(),
            total_secs: w.total,
            active_secs: w.active,
            ranked_secs: w.ranked,
        }),
        this_month: a.month.map(|m| PeriodItem {
            period: m.key.to_string(),
            total_secs: m.total,
            active_secs: m.active,
            ranked_secs: m.ranked,
        }),
        streak_best_days: a.streak.best,
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

fn day((d, r): &(Day, DayRecord)) -> DayItem {
    DayItem {
        day: d.to_string(),
        total_secs: r.total,
        active_secs: r.active,
        deafened_secs: r.deafened,
        alone_secs: r.alone,
        sessions: r.sessions,
        longest_secs: r.longest,
        last_active: r.last_active.map(time),
        half_hours: r
            .slots
            .iter()
            .map(|s| HalfHour {
                half_hour: s.half_hour,
                channel_id: s.channel.to_string(),
                total_secs: s.total,
                active_secs: s.active,
                sessions_started: s.starts,
            })
            .collect(),
        partners: r
            .partners
            .iter()
            .map(|(u, secs)| PartnerSecs {
                user_id: u.to_string(),
                secs: *secs,
            })
            .collect(),
    }
}

/// Local days of `tz` with at least ten minutes of calls.
fn streak_days(days: &[(Day, DayRecord)], tz: Tz) -> Vec<String> {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Vec::new();
    };
    let window = LocalWindow {
        first: first.0.date().pred_opt().unwrap_or(first.0.date()),
        last: last.0.date().succ_opt().unwrap_or(last.0.date()),
        tz,
    };
    window_figures(&window, days, None)
        .daily
        .into_iter()
        .filter(|(_, secs)| *secs >= STREAK_SECS)
        .map(|(d, _)| d.to_string())
        .collect()
}

fn guild(id: GuildId, g: &GuildExport, tz: Tz) -> Guild {
    let mut days = g.days.clone();
    days.sort_by_key(|(d, _)| *d);
    let mut sessions: Vec<&SessionRecord> = days.iter().flat_map(|(_, r)| &r.ended).collect();
    sessions.sort_by_key(|s| s.id);
    Guild {
        guild_id: id.to_string(),
        all_time: g.all_time.as_ref().map(all_time),
        open_session: g.open.as_ref().map(open),
        sessions: sessions.into_iter().map(session).collect(),
        days: days.iter().map(day).collect(),
        streak_days: streak_days(&days, tz),
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
        guilds: export
            .guilds
            .iter()
            .map(|(id, g)| guild(*id, g, export.settings.timezone_or_utc()))
            .collect(),
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

/// Attachments a message may carry.
pub const MAX_FILES: usize = 10;

/// How an export is packed into attachments that each fit `limit` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packed {
    /// The JSON as it is.
    Plain(Vec<u8>),
    /// Compressed with gzip.
    Gzip(Vec<u8>),
    /// Compressed with gzip, then cut into parts to join in order.
    Parts(Vec<Vec<u8>>),
}

/// The export is too large for [`MAX_FILES`] attachments even compressed.
#[derive(Debug, thiserror::Error)]
#[error(
    "the export is {compressed} bytes compressed, more than {MAX_FILES} attachments of {limit} bytes"
)]
pub struct TooLarge {
    pub compressed: usize,
    pub limit: usize,
}

/// Packs `json` so each attachment fits `limit` bytes: as it is, gzip-compressed, or
/// compressed and cut into parts.
pub fn pack(json: Vec<u8>, limit: usize) -> Result<Packed, TooLarge> {
    use std::io::Write as _;
    if json.len() <= limit {
        return Ok(Packed::Plain(json));
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let gz = encoder
        .write_all(&json)
        .and_then(|()| encoder.finish())
        .unwrap_or_default();
    if gz.len() <= limit {
        return Ok(Packed::Gzip(gz));
    }
    let parts: Vec<Vec<u8>> = gz.chunks(limit.max(1)).map(<[u8]>::to_vec).collect();
    if parts.len() > MAX_FILES {
        return Err(TooLarge {
            compressed: gz.len(),
            limit,
        });
    }
    Ok(Packed::Parts(parts))
}

#[cfg(test)]
mod pack_tests {
    use super::*;
    use std::io::Read as _;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn exports_are_packed_to_fit_the_attachment_limit() {
        let json: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{{\"n\":{i}}},").into_bytes())
            .collect();
        assert_eq!(
            pack(json.clone(), json.len()).unwrap(),
            Packed::Plain(json.clone())
        );
        let Packed::Gzip(gz) = pack(json.clone(), json.len() / 2).unwrap() else {
            panic!("compressed");
        };
        assert_eq!(gunzip(&gz), json);
        let limit = gz.len() / 3 + 1;
        let Packed::Parts(parts) = pack(json.clone(), limit).unwrap() else {
            panic!("in parts");
        };
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.len() <= limit));
        assert_eq!(gunzip(&parts.concat()), json);
        assert!(pack(json, gz.len() / 20).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callstats_core::breakdown::RankingRule;
    use callstats_core::member::{AllTime as Record, apply_end, days_touched};
    use callstats_core::session::PartnerSecs as Partner;
    use callstats_core::settings::UserSettings;
    use callstats_core::{Flags as F, SessionId};
    use std::collections::BTreeMap;
    use twilight_model::id::Id;

    #[test]
    fn documents_every_part_with_string_ids_and_iso_times() {
        let start = Timestamp::new(1_795_000_000).unwrap();
        let mut closed = OpenSession::new(
            SessionId::new(start, 7),
            Id::new(1),
            Id::new(2),
            Id::new(3),
            F::NONE,
        )
        .close(start.plus(900), chrono_tz::UTC, true);
        closed.partners = vec![Partner {
            day: Day::of(start),
            user: Id::new(9),
            secs: 300,
        }];
        let mut all = Record::default();
        let mut days = BTreeMap::new();
        for d in days_touched(&closed) {
            days.entry(d).or_default();
        }
        apply_end(
            &mut all,
            &mut days,
            &closed,
            RankingRule::default(),
            chrono_tz::UTC,
            chrono_tz::UTC,
        );
        let export = UserExport {
            user: Some(Id::new(1)),
            settings: UserSettings {
                opted_out: false,
                timezone: Some(chrono_tz::Asia::Kolkata),
            },
            guilds: BTreeMap::from([(
                Id::new(2),
                GuildExport {
                    all_time: Some(all),
                    days: days.into_iter().collect(),
                    open: None,
                },
            )]),
        };
        let json: serde_json::Value =
            serde_json::from_slice(&to_json(&document(Id::new(1), &export, start)).unwrap())
                .unwrap();
        assert_eq!(json["format"], "callstats-export");
        assert_eq!(json["version"], 2);
        assert_eq!(json["user_id"], "1");
        assert_eq!(json["settings"]["timezone"], "Asia/Kolkata");
        let g = &json["guilds"][0];
        assert_eq!(g["guild_id"], "2");
        assert_eq!(g["sessions"][0]["session_id"], "001795000000-00000007");
        assert_eq!(g["sessions"][0]["start"], "2026-11-18T11:06:40Z");
        assert_eq!(g["sessions"][0]["estimated_end"], true);
        assert_eq!(g["days"][0]["partners"][0]["user_id"], "9");
        assert_eq!(g["days"][0]["half_hours"][0]["channel_id"], "3");
        assert_eq!(g["all_time"]["channels"][0]["secs"], 900);
        assert_eq!(g["streak_days"][0], "2026-11-18");
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

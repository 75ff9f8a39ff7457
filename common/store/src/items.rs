//! How each domain type is laid out as an item, both ways.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::codec::{Item, Reader, key, n, s};
use crate::error::StoreError;
use crate::schema::keys;
use callstats_core::aggregate::{Aggregate, Stats};
use callstats_core::breakdown::{Breakdown, Flags};
use callstats_core::heatmap::{BUCKETS, Heatmap};
use callstats_core::ids::{ChannelId, GuildId, UserId, parse_id};
use callstats_core::session::{
    CellSecs, DayTotals, OpenSession, PeriodTotals, SessionId, SessionRecord,
};
use callstats_core::time::Timestamp;

/// Breakdown attribute names, shared by open sessions, session records and all-time items.
pub(crate) const BREAKDOWN_ATTRS: [&str; 5] = ["mu", "de", "st", "vi", "al"];

pub(crate) fn breakdown_values(b: &Breakdown) -> [u64; 5] {
    [b.muted, b.deafened, b.streaming, b.video, b.alone]
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

/// The heatmap as one compact string, `bucket:seconds` pairs for the buckets in use, in bucket
/// order (`"20:1500,21:300"`). One attribute keeps the update expression short whatever the
/// session touched (DynamoDB caps an expression at 4 KB; 336 `ADD`s would not fit).
pub(crate) fn heatmap_value(heatmap: &Heatmap) -> AttributeValue {
    let pairs: Vec<String> = heatmap
        .buckets()
        .iter()
        .enumerate()
        .filter(|(_, secs)| **secs > 0)
        .map(|(i, secs)| format!("{i}:{secs}"))
        .collect();
    s(pairs.join(","))
}

pub(crate) fn read_heatmap(r: &Reader<'_>) -> Result<Heatmap, StoreError> {
    let raw = r.string("hm")?;
    let mut buckets = [0u64; BUCKETS];
    let mut previous: Option<usize> = None;
    for pair in raw.split(',').filter(|p| !p.is_empty()) {
        let parsed = pair
            .split_once(':')
            .and_then(|(i, secs)| Some((i.parse::<usize>().ok()?, secs.parse::<u64>().ok()?)))
            .filter(|(i, _)| *i < BUCKETS && previous.is_none_or(|p| p < *i));
        let Some((i, secs)) = parsed else {
            return Err(r.error(format!(
                "hm has a malformed or out-of-order bucket {pair:?}"
            )));
        };
        buckets[i] = secs;
        previous = Some(i);
    }
    Ok(Heatmap::from_buckets(buckets))
}

/// The user a `U#<id>` partition key names.
pub(crate) fn user_of(r: &Reader<'_>) -> Result<UserId, StoreError> {
    let pk = r.string("pk")?;
    pk.strip_prefix("U#")
        .and_then(parse_id)
        .ok_or_else(|| r.error("partition key is not a user"))
}

pub(crate) fn open_session_item(session: &OpenSession) -> Result<Item, StoreError> {
    let mut item = key(keys::user(session.user), keys::open(session.guild));
    item.insert("og".into(), s(session.guild.to_string()));
    item.insert("ch".into(), s(session.channel.to_string()));
    item.extend(open_session_state(session)?);
    Ok(item)
}

/// The attributes that change while a session is open.
pub(crate) fn open_session_state(session: &OpenSession) -> Result<Item, StoreError> {
    let cells = serde_json::to_string(&session.cells)
        .map_err(|e| StoreError::rejected("encode session", e.to_string()))?;
    let mut item = Item::new();
    item.insert("sid".into(), s(session.id.to_string()));
    item.insert("seg".into(), n(session.seg_start.unix()));
    item.insert("flags".into(), n(session.flags.bits()));
    for (attr, value) in BREAKDOWN_ATTRS
        .iter()
        .zip(breakdown_values(&session.breakdown))
    {
        item.insert((*attr).into(), n(value));
    }
    item.insert("ac".into(), n(session.breakdown.active));
    item.insert("cells".into(), s(cells));
    Ok(item)
}

pub(crate) fn read_open_session(item: &Item) -> Result<OpenSession, StoreError> {
    let r = Reader::new(item);
    let user = user_of(&r)?;
    let guild: GuildId = r
        .sk_suffix(keys::OPEN_PREFIX)
        .ok()
        .and_then(parse_id)
        .ok_or_else(|| r.error("sort key does not name a guild"))?;
    let channel: ChannelId =
        parse_id(r.string("ch")?).ok_or_else(|| r.error("ch is not a channel id"))?;
    let id: SessionId = r.parse("sid")?;
    let seg_start = r.timestamp("seg")?;
    let flags = u8::try_from(r.u64("flags")?)
        .ok()
        .and_then(Flags::from_bits)
        .ok_or_else(|| r.error("flags has unknown bits"))?;
    let cells: Vec<CellSecs> =
        serde_json::from_str(r.string("cells")?).map_err(|e| r.error(format!("cells: {e}")))?;
    if seg_start < id.start() {
        return Err(r.error("segment starts before the session"));
    }
    Ok(OpenSession {
        id,
        user,
        guild,
        channel,
        seg_start,
        flags,
        breakdown: read_breakdown(&r, "ac")?,
        cells,
    })
}

pub(crate) fn session_record_item(record: &SessionRecord) -> Item {
    let mut item = key(
        keys::user(record.user),
        keys::session(record.guild, record.id),
    );
    item.insert("ch".into(), s(record.channel.to_string()));
    item.insert("end".into(), n(record.end.unix()));
    item.insert("est".into(), AttributeValue::Bool(record.estimated));
    for (attr, value) in BREAKDOWN_ATTRS
        .iter()
        .zip(breakdown_values(&record.breakdown))
    {
        item.insert((*attr).into(), n(value));
    }
    item.insert("ac".into(), n(record.breakdown.active));
    item
}

pub(crate) fn read_session_record(item: &Item) -> Result<SessionRecord, StoreError> {
    let r = Reader::new(item);
    let user = user_of(&r)?;
    let rest = r.sk_suffix(keys::SESSION_PREFIX)?;
    let (guild, id) = rest
        .split_once('#')
        .ok_or_else(|| r.error("sort key is not S#<guild>#<session>"))?;
    let guild: GuildId =
        parse_id(guild).ok_or_else(|| r.error("sort key does not name a guild"))?;
    let id: SessionId = id
        .parse()
        .map_err(|_| r.error("sort key does not name a session"))?;
    let end = r.timestamp("end")?;
    if end < id.start() {
        return Err(r.error("session ends before it starts"));
    }
    Ok(SessionRecord {
        id,
        user,
        guild,
        channel: parse_id(r.string("ch")?).ok_or_else(|| r.error("ch is not a channel id"))?,
        end,
        estimated: r.bool("est")?,
        breakdown: read_breakdown(&r, "ac")?,
    })
}

/// `last` holds 0 until a session has ended in the item's scope.
fn read_last(r: &Reader<'_>) -> Result<Option<Timestamp>, StoreError> {
    let last = r.timestamp("last")?;
    Ok((last != Timestamp::EPOCH).then_some(last))
}

pub(crate) fn read_all_time(item: &Item) -> Result<Aggregate, StoreError> {
    let r = Reader::new(item);
    Ok(Aggregate {
        stats: Stats {
            total: r.u64("total")?,
            active: r.u64("active")?,
            sessions: r.u64("sessions")?,
            longest: r.u64("longest")?,
            last_active: read_last(&r)?,
        },
        breakdown: read_breakdown(&r, "active")?,
        ranked: r.u64("ranked")?,
        heatmap: read_heatmap(&r)?,
    })
}

pub(crate) fn read_day(item: &Item) -> Result<DayTotals, StoreError> {
    let r = Reader::new(item);
    Ok(DayTotals {
        total: r.u64("total")?,
        active: r.u64("active")?,
        deafened: r.u64("de")?,
        alone: r.u64("al")?,
        sessions: r.u64("sessions")?,
        longest: r.u64("longest")?,
        last_active: read_last(&r)?,
    })
}

pub(crate) fn read_period(item: &Item) -> Result<PeriodTotals, StoreError> {
    let r = Reader::new(item);
    Ok(PeriodTotals {
        total: r.u64("total")?,
        active: r.u64("active")?,
        ranked: r.u64("ranked")?,
        sessions: r.u64("sessions")?,
    })
}

/// What a leaderboard sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// All time in calls.
    Total,
    /// The guild's ranking rule (active time by default).
    Ranked,
}

impl Metric {
    pub(crate) const fn attr(self) -> &'static str {
        match self {
            Self::Total => "total",
            Self::Ranked => "ranked",
        }
    }

    pub(crate) const fn index(self) -> &'static str {
        match self {
            Self::Total => crate::schema::LB_TOTAL,
            Self::Ranked => crate::schema::LB_RANKED,
        }
    }
}

/// One line of a leaderboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderboardEntry {
    pub user: UserId,
    pub secs: u64,
}

pub(crate) fn read_leaderboard_entry(
    item: &Item,
    metric: Metric,
) -> Result<LeaderboardEntry, StoreError> {
    let r = Reader::new(item);
    Ok(LeaderboardEntry {
        user: user_of(&r)?,
        secs: r.u64(metric.attr())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::key;

    #[test]
    fn heatmap_round_trips_and_rejects_garbage() {
        let mut h = Heatmap::default();
        h.add(0, 5);
        h.add(20, 1500);
        h.add(BUCKETS - 1, 7);
        let mut item = key("U#1", "A#2");
        item.insert("hm".into(), heatmap_value(&h));
        assert_eq!(item["hm"], s("0:5,20:1500,335:7"));
        assert_eq!(read_heatmap(&Reader::new(&item)).unwrap(), h);
        item.insert("hm".into(), s(""));
        assert_eq!(
            read_heatmap(&Reader::new(&item)).unwrap(),
            Heatmap::default()
        );
        for bad in ["336:1", "1:-5", "x", "3:1,2:1", "3:1,3:1", "1:", ":1"] {
            item.insert("hm".into(), s(bad));
            assert!(read_heatmap(&Reader::new(&item)).is_err(), "{bad}");
        }
        item.remove("hm");
        assert!(read_heatmap(&Reader::new(&item)).is_err());
    }
}

//! Compact binary attributes: what an item holds many of (heatmap buckets, half hours,
//! channels, partners, sessions, leaderboard entries) in a few bytes each, because DynamoDB
//! charges writes by the kilobyte.
//!
//! Numbers are unsigned LEB128 varints; Discord ids are 8 bytes little-endian. Every attribute
//! starts with a format byte, so a later format can be told apart. Decoding checks everything
//! and says what is wrong; it never trusts a length or reads past the end.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use twilight_model::id::Id;

use callstats_core::board::{Figures, Peak};
use callstats_core::breakdown::{Breakdown, ClassSecs};
use callstats_core::heatmap::{BUCKETS, Heatmap};
use callstats_core::ids::{GuildId, UserId};
use callstats_core::member::{DaySecs, SlotSecs};
use callstats_core::period::{Day, HALF_HOURS, MonthKey, PeriodCell, WeekKey};
use callstats_core::session::{CellSecs, SessionId, SessionRecord};
use callstats_core::time::Timestamp;

/// Why a binary attribute could not be read.
pub(crate) type BinError = String;

pub(crate) struct Writer(Vec<u8>);

impl Writer {
    pub(crate) fn new(format: u8) -> Self {
        Self(vec![format])
    }

    pub(crate) fn uint(&mut self, mut v: u64) -> &mut Self {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(byte);
                return self;
            }
            self.0.push(byte | 0x80);
        }
    }

    pub(crate) fn id<T>(&mut self, id: Id<T>) -> &mut Self {
        self.0.extend_from_slice(&id.get().to_le_bytes());
        self
    }

    pub(crate) fn byte(&mut self, b: u8) -> &mut Self {
        self.0.push(b);
        self
    }

    pub(crate) fn date(&mut self, d: NaiveDate) -> &mut Self {
        self.uint(days_since_epoch(d))
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.0
    }
}

pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Opens `bytes`, checking its format byte.
    pub(crate) fn open(bytes: &'a [u8], format: u8) -> Result<Self, BinError> {
        match bytes.first() {
            Some(f) if *f == format => Ok(Self { bytes, at: 1 }),
            Some(f) => Err(format!("unknown format {f}")),
            None => Err("empty".into()),
        }
    }

    pub(crate) fn uint(&mut self) -> Result<u64, BinError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or_else(|| format!("ends inside a number at byte {}", self.at))?;
            self.at += 1;
            let part = u64::from(byte & 0x7f);
            if shift == 63 && part > 1 {
                return Err("number too large".into());
            }
            v |= part << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("number too long".into())
    }

    pub(crate) fn count(&mut self, max: usize) -> Result<usize, BinError> {
        let n = self.uint()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= max && *n <= self.bytes.len())
            .ok_or_else(|| format!("count {n} is out of range"))
    }

    pub(crate) fn id<T>(&mut self) -> Result<Id<T>, BinError> {
        let raw: [u8; 8] = self
            .bytes
            .get(self.at..self.at + 8)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| "ends inside an id".to_owned())?;
        self.at += 8;
        Id::new_checked(u64::from_le_bytes(raw)).ok_or_else(|| "an id is zero".to_owned())
    }

    pub(crate) fn byte(&mut self) -> Result<u8, BinError> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| "ends early".to_owned())?;
        self.at += 1;
        Ok(b)
    }

    pub(crate) fn timestamp(&mut self) -> Result<Timestamp, BinError> {
        let v = self.uint()?;
        i64::try_from(v)
            .ok()
            .and_then(Timestamp::new)
            .ok_or_else(|| format!("{v} is not a time"))
    }

    pub(crate) fn date(&mut self) -> Result<NaiveDate, BinError> {
        let days = self.uint()?;
        date_from_days(days).ok_or_else(|| format!("{days} is not a date"))
    }

    pub(crate) fn end(self) -> Result<(), BinError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(format!("{} bytes left over", self.bytes.len() - self.at))
        }
    }
}

fn days_since_epoch(d: NaiveDate) -> u64 {
    u64::try_from(d.signed_duration_since(NaiveDate::default()).num_days()).unwrap_or(0)
}

fn date_from_days(days: u64) -> Option<NaiveDate> {
    NaiveDate::default().checked_add_days(chrono::Days::new(days))
}

/// Largest count of anything an item can hold (400 KB of one-byte elements).
const MAX: usize = 400 * 1024;

const SPARSE: u8 = 1;
const DENSE: u8 = 2;

/// The heatmap: sparse (bucket gaps and seconds) when few buckets are used, dense otherwise.
pub(crate) fn heatmap(h: &Heatmap) -> Vec<u8> {
    let used = h.buckets().iter().filter(|s| **s > 0).count();
    if used * 2 < BUCKETS {
        let mut w = Writer::new(SPARSE);
        w.uint(used as u64);
        let mut previous = 0;
        for (i, secs) in h.buckets().iter().enumerate().filter(|(_, s)| **s > 0) {
            w.uint((i - previous) as u64).uint(*secs);
            previous = i;
        }
        w.finish()
    } else {
        let mut w = Writer::new(DENSE);
        for secs in h.buckets() {
            w.uint(*secs);
        }
        w.finish()
    }
}

pub(crate) fn read_heatmap(bytes: &[u8]) -> Result<Heatmap, BinError> {
    let mut buckets = [0u64; BUCKETS];
    if bytes.first() == Some(&DENSE) {
        let mut c = Cursor::open(bytes, DENSE)?;
        for b in &mut buckets {
            *b = c.uint()?;
        }
        c.end()?;
    } else {
        let mut c = Cursor::open(bytes, SPARSE)?;
        let n = c.count(BUCKETS)?;
        let mut at = 0usize;
        for k in 0..n {
            let gap = usize::try_from(c.uint()?).map_err(|_| "gap too large".to_owned())?;
            if k > 0 && gap == 0 {
                return Err("buckets out of order".into());
            }
            at = at
                .checked_add(gap)
                .filter(|i| *i < BUCKETS)
                .ok_or_else(|| "bucket out of range".to_owned())?;
            buckets[at] = c.uint()?;
        }
        c.end()?;
    }
    Ok(Heatmap::from_buckets(buckets))
}

/// Seconds per id (channels, partners), in id order.
pub(crate) fn secs_by_id<T>(map: &BTreeMap<Id<T>, u64>) -> Vec<u8> {
    let mut w = Writer::new(1);
    w.uint(map.len() as u64);
    for (id, secs) in map {
        w.id(*id).uint(*secs);
    }
    w.finish()
}

pub(crate) fn read_secs_by_id<T>(bytes: &[u8]) -> Result<BTreeMap<Id<T>, u64>, BinError> {
    let mut c = Cursor::open(bytes, 1)?;
    let n = c.count(MAX / 9)?;
    let mut map = BTreeMap::new();
    for _ in 0..n {
        let id = c.id()?;
        if map.insert(id, c.uint()?).is_some() {
            return Err("an id appears twice".into());
        }
    }
    c.end()?;
    Ok(map)
}

/// Ids (public channels).
pub(crate) fn ids<T>(ids: &[Id<T>]) -> Vec<u8> {
    let mut w = Writer::new(1);
    w.uint(ids.len() as u64);
    for id in ids {
        w.id(*id);
    }
    w.finish()
}

pub(crate) fn read_ids<T>(bytes: &[u8]) -> Result<Vec<Id<T>>, BinError> {
    let mut c = Cursor::open(bytes, 1)?;
    let n = c.count(MAX / 8)?;
    let ids = (0..n).map(|_| c.id()).collect::<Result<Vec<_>, _>>()?;
    c.end()?;
    Ok(ids)
}

/// A day's half hours per channel.
pub(crate) fn slots(slots: &[SlotSecs]) -> Vec<u8> {
    let mut w = Writer::new(1);
    w.uint(slots.len() as u64);
    for s in slots {
        w.byte(s.half_hour)
            .id(s.channel)
            .uint(s.total)
            .uint(s.active)
            .uint(s.starts);
    }
    w.finish()
}

pub(crate) fn read_slots(bytes: &[u8]) -> Result<Vec<SlotSecs>, BinError> {
    let mut c = Cursor::open(bytes, 1)?;
    let n = c.count(MAX / 12)?;
    let mut out: Vec<SlotSecs> = Vec::with_capacity(n);
    for _ in 0..n {
        let half_hour = c.byte()?;
        if half_hour >= HALF_HOURS {
            return Err(format!("half hour {half_hour} is out of range"));
        }
        let slot = SlotSecs {
            half_hour,
            channel: c.id()?,
            total: c.uint()?,
            active: c.uint()?,
            starts: c.uint()?,
        };
        if slot.active > slot.total || slot.total > 1800 {
            return Err("a half hour holds impossible seconds".into());
        }
        if out
            .last()
            .is_some_and(|p| (p.half_hour, p.channel) >= (slot.half_hour, slot.channel))
        {
            return Err("half hours out of order".into());
        }
        out.push(slot);
    }
    c.end()?;
    Ok(out)
}

fn write_breakdown(w: &mut Writer, b: &Breakdown) {
    w.uint(b.muted)
        .uint(b.deafened)
        .uint(b.streaming)
        .uint(b.video)
        .uint(b.alone)
        .uint(b.active);
}

fn read_breakdown(c: &mut Cursor<'_>) -> Result<Breakdown, BinError> {
    Ok(Breakdown {
        muted: c.uint()?,
        deafened: c.uint()?,
        streaming: c.uint()?,
        video: c.uint()?,
        alone: c.uint()?,
        active: c.uint()?,
    })
}

/// Sessions that ended on a day (of one member in one server).
pub(crate) fn sessions(records: &[SessionRecord]) -> Vec<u8> {
    let mut w = Writer::new(1);
    w.uint(records.len() as u64);
    for r in records {
        w.uint(r.start().unix() as u64)
            .uint(u64::from(r.id.nonce()))
            .uint(r.duration())
            .id(r.channel)
            .byte(u8::from(r.estimated));
        write_breakdown(&mut w, &r.breakdown);
    }
    w.finish()
}

pub(crate) fn read_sessions(
    bytes: &[u8],
    user: UserId,
    guild: GuildId,
) -> Result<Vec<SessionRecord>, BinError> {
    let mut c = Cursor::open(bytes, 1)?;
    let n = c.count(MAX / 16)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = c.timestamp()?;
        let nonce = u32::try_from(c.uint()?).map_err(|_| "nonce too large".to_owned())?;
        let end = start.plus(c.uint()?);
        let channel = c.id()?;
        let estimated = match c.byte()? {
            0 => false,
            1 => true,
            b => return Err(format!("estimated flag {b}")),
        };
        out.push(SessionRecord {
            id: SessionId::new(start, nonce),
            user,
            guild,
            channel,
            end,
            estimated,
            breakdown: read_breakdown(&mut c)?,
        });
    }
    c.end()?;
    Ok(out)
}

/// The last local days with call time.
pub(crate) fn recent(days: &BTreeMap<NaiveDate, DaySecs>) -> Vec<u8> {
    let mut w = Writer::new(1);
    w.uint(days.len() as u64);
    for (d, s) in days {
        w.date(*d).uint(s.total).uint(s.active);
    }
    w.finish()
}

pub(crate) fn read_recent(bytes: &[u8]) -> Result<BTreeMap<NaiveDate, DaySecs>, BinError> {
    let mut c = Cursor::open(bytes, 1)?;
    let n = c.count(400)?;
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let d = c.date()?;
        let s = DaySecs {
            total: c.uint()?,
            active: c.uint()?,
        };
        if s.active > s.total || out.insert(d, s).is_some() {
            return Err("an impossible day".into());
        }
    }
    c.end()?;
    Ok(out)
}

/// An open session's period cells.
pub(crate) fn cells(cells: &[CellSecs]) -> Vec<u8> {
    let mut w = Writer::new(1);
    w.uint(cells.len() as u64);
    for c in cells {
        w.date(c.cell.day.date())
            .byte(c.cell.half_hour)
            .uint(u64::try_from(c.cell.week.year()).unwrap_or(0))
            .byte(c.cell.week.week() as u8)
            .uint(u64::try_from(c.cell.month.year()).unwrap_or(0))
            .byte(c.cell.month.month() as u8)
            .uint(c.secs.plain)
            .uint(c.secs.deafened)
            .uint(c.secs.alone)
            .uint(c.secs.both);
    }
    w.finish()
}

pub(crate) fn read_cells(bytes: &[u8]) -> Result<Vec<CellSecs>, BinError> {
    let mut c = Cursor::open(bytes, 1)?;
    let n = c.count(MAX / 8)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let day = Day::from_date(c.date()?);
        let half_hour = c.byte()?;
        if half_hour >= HALF_HOURS {
            return Err("half hour out of range".into());
        }
        let week_year = i32::try_from(c.uint()?).map_err(|_| "bad year".to_owned())?;
        let week = WeekKey::new(week_year, u32::from(c.byte()?))
            .ok_or_else(|| "not an ISO week".to_owned())?;
        let month_year = i32::try_from(c.uint()?).map_err(|_| "bad year".to_owned())?;
        let month = MonthKey::new(month_year, u32::from(c.byte()?))
            .ok_or_else(|| "not a month".to_owned())?;
        out.push(CellSecs {
            cell: PeriodCell {
                day,
                half_hour,
                week,
                month,
            },
            secs: ClassSecs {
                plain: c.uint()?,
                deafened: c.uint()?,
                alone: c.uint()?,
                both: c.uint()?,
            },
        });
    }
    c.end()?;
    Ok(out)
}

/// Leaderboard entries: per member, the six figures.
pub(crate) fn board_entries(entries: &BTreeMap<UserId, Figures>) -> Vec<u8> {
    let mut w = Writer::new(1);
    w.uint(entries.len() as u64);
    for (user, figures) in entries {
        w.id(*user);
        for v in figures {
            w.uint(*v);
        }
    }
    w.finish()
}

pub(crate) fn read_board_entries(bytes: &[u8]) -> Result<BTreeMap<UserId, Figures>, BinError> {
    let mut c = Cursor::open(bytes, 1)?;
    let n = c.count(MAX / 14)?;
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let user = c.id()?;
        let mut figures = [0u64; 6];
        for v in &mut figures {
            *v = c.uint()?;
        }
        if out.insert(user, figures).is_some() {
            return Err("a member appears twice".into());
        }
    }
    c.end()?;
    Ok(out)
}

pub(crate) fn figures(f: &Figures) -> Vec<u8> {
    let mut w = Writer::new(1);
    for v in f {
        w.uint(*v);
    }
    w.finish()
}

pub(crate) fn read_figures(bytes: &[u8]) -> Result<Figures, BinError> {
    let mut c = Cursor::open(bytes, 1)?;
    let mut f = [0u64; 6];
    for v in &mut f {
        *v = c.uint()?;
    }
    c.end()?;
    Ok(f)
}

/// Instants per member (privacy actions on the board).
pub(crate) fn instants(map: &BTreeMap<UserId, Timestamp>) -> Vec<u8> {
    let mut w = Writer::new(1);
    w.uint(map.len() as u64);
    for (user, at) in map {
        w.id(*user).uint(at.unix() as u64);
    }
    w.finish()
}

pub(crate) fn read_instants(bytes: &[u8]) -> Result<BTreeMap<UserId, Timestamp>, BinError> {
    let mut c = Cursor::open(bytes, 1)?;
    let n = c.count(MAX / 9)?;
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let user = c.id()?;
        out.insert(user, c.timestamp()?);
    }
    c.end()?;
    Ok(out)
}

pub(crate) fn peaks(peaks: &BTreeMap<NaiveDate, Peak>) -> Vec<u8> {
    let mut w = Writer::new(1);
    w.uint(peaks.len() as u64);
    for (d, p) in peaks {
        w.date(*d)
            .uint(u64::from(p.members))
            .uint(p.at.unix() as u64);
    }
    w.finish()
}

pub(crate) fn read_peaks(bytes: &[u8]) -> Result<BTreeMap<NaiveDate, Peak>, BinError> {
    let mut c = Cursor::open(bytes, 1)?;
    let n = c.count(400)?;
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let d = c.date()?;
        let members = u32::try_from(c.uint()?).map_err(|_| "too many members".to_owned())?;
        out.insert(
            d,
            Peak {
                members,
                at: c.timestamp()?,
            },
        );
    }
    c.end()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varints_round_trip_and_refuse_garbage() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut w = Writer::new(9);
            w.uint(v);
            let bytes = w.finish();
            let mut c = Cursor::open(&bytes, 9).unwrap();
            assert_eq!(c.uint().unwrap(), v);
            c.end().unwrap();
        }
        assert!(Cursor::open(&[9, 0x80], 9).unwrap().uint().is_err());
        assert!(Cursor::open(&[], 9).is_err());
        assert!(Cursor::open(&[8], 9).is_err());
        let eleven = [
            9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert!(Cursor::open(&eleven, 9).unwrap().uint().is_err());
    }

    #[test]
    fn heatmaps_pick_the_smaller_form() {
        let mut h = Heatmap::default();
        h.add(0, 5);
        h.add(335, 1800);
        let sparse = heatmap(&h);
        assert_eq!(sparse[0], SPARSE);
        assert!(sparse.len() < 10);
        assert_eq!(read_heatmap(&sparse).unwrap(), h);
        let full = Heatmap::from_buckets([3000; BUCKETS]);
        let dense = heatmap(&full);
        assert_eq!((dense[0], dense.len()), (DENSE, 1 + 2 * BUCKETS));
        assert_eq!(read_heatmap(&dense).unwrap(), full);
        for bad in [
            &[SPARSE, 2, 0, 1, 0, 1][..],
            &[SPARSE, 1, 0xff, 0x03, 1],
            &[DENSE, 1],
        ] {
            assert!(read_heatmap(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = read_heatmap(&bytes);
            let _ = read_slots(&bytes);
            let _ = read_cells(&bytes);
            let _ = read_board_entries(&bytes);
            let _ = read_recent(&bytes);
            let _ = read_peaks(&bytes);
            let _ = read_secs_by_id::<callstats_core::ids::marker::UserMarker>(&bytes);
            let _ = read_sessions(&bytes, Id::new(1), Id::new(2));
        }

        #[test]
        fn heatmaps_round_trip(cells in proptest::collection::vec((0usize..BUCKETS, 0u64..10_000_000), 0..400)) {
            let mut h = Heatmap::default();
            for (i, s) in cells {
                h.add(i, s);
            }
            prop_assert_eq!(read_heatmap(&heatmap(&h)).unwrap(), h);
        }
    }
}

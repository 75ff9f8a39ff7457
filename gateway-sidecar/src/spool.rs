//! The durable spool: every write is journaled here before it is applied and acknowledged
//! after, so a crash, a restart or a long store outage loses nothing.
//!
//! `<state dir>/spool.log` is a log of JSON lines: `{"n":7,"t":1795000000,"w":{...}}` journals
//! write number 7 (queued at Unix second `t`), `{"a":7}` acknowledges it (applied, or refused
//! for good and kept in `dead-letters.jsonl`). Journal lines are flushed to disk
//! (`fdatasync`) before the writes they hold are attempted; acknowledgements are not (a lost
//! acknowledgement only means a harmless replay, since every write is conditional).
//!
//! On open, the log is read, the writes without acknowledgement are kept in order (a torn last
//! line from a crash is skipped), and the log is rewritten with only those. When nothing waits
//! any more, the log is emptied. Writes beyond what the writer keeps in memory stay only in
//! the log ("spilled") and are read back, in order, as memory frees up.
//!
//! `<state dir>/lock` is held (an advisory lock) while the spool is open: two processes must
//! never share a state directory.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::tracker::SessionWrite;

const LOG: &str = "spool.log";
const DEAD_LETTERS: &str = "dead-letters.jsonl";
const LOCK: &str = "lock";

/// One journaled write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(rename = "n")]
    pub seq: u64,
    /// When it was queued, Unix seconds (wall clock; for the age metric only).
    #[serde(rename = "t")]
    pub queued_at: i64,
    #[serde(rename = "w")]
    pub write: SessionWrite,
}

#[derive(Serialize, Deserialize)]
struct Ack {
    #[serde(rename = "a")]
    seq: u64,
}

/// A line of the log.
enum Line {
    Entry(Entry),
    Ack(u64),
}

/// A line as read from disk: a torn one (cut by a crash, even inside a character) is none.
fn parse_bytes(line: &[u8]) -> Option<Line> {
    std::str::from_utf8(line).ok().and_then(parse_line)
}

fn parse_line(line: &str) -> Option<Line> {
    if let Ok(entry) = serde_json::from_str::<Entry>(line) {
        return Some(Line::Entry(entry));
    }
    serde_json::from_str::<Ack>(line)
        .ok()
        .map(|a| Line::Ack(a.seq))
}

/// Writes that are only in the log: `count` of them, from byte `offset` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spilled {
    pub offset: u64,
    pub count: u64,
}

/// The spool cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// Reading or writing a file of the state directory failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },
    /// Another process holds the state directory.
    #[error("state directory {0} is in use by another callstats-sidecar")]
    Locked(String),
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SpoolError + 'a {
    move |source| SpoolError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// An open spool.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    log: File,
    len: u64,
    _lock: File,
}

/// What a spool held when it was opened.
#[derive(Debug)]
pub struct Opened {
    pub spool: Spool,
    /// The oldest waiting writes, at most the memory bound, in order.
    pub pending: Vec<Entry>,
    /// The rest, on disk only.
    pub spilled: Option<Spilled>,
    /// The number for the next write.
    pub next_seq: u64,
    /// Lines that could not be read (a torn last line after a crash).
    pub skipped_lines: usize,
}

impl Spool {
    /// Locks `dir` (creating it), reads what the last process left, and rewrites the log with
    /// only the writes still waiting; the first `memory_bound` come back in memory.
    pub fn open(dir: &Path, memory_bound: usize) -> Result<Opened, SpoolError> {
        fs::create_dir_all(dir).map_err(io("create", dir))?;
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(SpoolError::Locked(dir.display().to_string()));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io("lock", &lock_path)(e)),
        }
        let path = dir.join(LOG);
        let mut acked = HashSet::new();
        let mut max_seq = 0;
        let mut skipped_lines = 0;
        let existing = match File::open(&path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io("open", &path)(e)),
        };
        if let Some(file) = existing {
            for line in BufReader::new(file).split(b'\n') {
                let line = line.map_err(io("read", &path))?;
                match parse_bytes(&line) {
                    Some(Line::Ack(seq)) => {
                        acked.insert(seq);
                    }
                    Some(Line::Entry(e)) => max_seq = max_seq.max(e.seq),
                    None => skipped_lines += 1,
                }
            }
        }
        // Rewrite: waiting entries only, the first `memory_bound` also kept in memory.
        let tmp = dir.join(format!("{LOG}.tmp"));
        let mut out = File::create(&tmp).map_err(io("create", &tmp))?;
        let mut pending = Vec::new();
        let mut spilled: Option<Spilled> = None;
        let mut offset = 0u64;
        let mut seen = HashSet::new();
        if let Ok(file) = File::open(&path) {
            for line in BufReader::new(file).split(b'\n') {
                let line = line.map_err(io("read", &path))?;
                let Some(Line::Entry(entry)) = parse_bytes(&line) else {
                    continue;
                };
                if acked.contains(&entry.seq) || !seen.insert(entry.seq) {
                    continue;
                }
                let text = entry_line(&entry);
                out.write_all(text.as_bytes()).map_err(io("write", &tmp))?;
                if spilled.is_none() && pending.len() < memory_bound {
                    pending.push(entry);
                } else {
                    spilled.get_or_insert(Spilled { offset, count: 0 }).count += 1;
                }
                offset += text.len() as u64;
            }
        }
        out.sync_all().map_err(io("sync", &tmp))?;
        drop(out);
        fs::rename(&tmp, &path).map_err(io("rename", &tmp))?;
        sync_dir(dir);
        let log = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io("open", &path))?;
        Ok(Opened {
            spool: Self {
                dir: dir.to_owned(),
                log,
                len: offset,
                _lock: lock,
            },
            pending,
            spilled,
            next_seq: max_seq + 1,
            skipped_lines,
        })
    }

    fn path(&self) -> PathBuf {
        self.dir.join(LOG)
    }

    /// Size of the log in bytes.
    #[must_use]
    pub const fn len(&self) -> u64 {
        self.len
    }

    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Journals entries and flushes them to disk; returns each one's byte offset.
    pub fn append(&mut self, entries: &[Entry]) -> Result<Vec<u64>, SpoolError> {
        let path = self.path();
        let mut text = String::new();
        let mut offsets = Vec::with_capacity(entries.len());
        for entry in entries {
            offsets.push(self.len + text.len() as u64);
            text.push_str(&entry_line(entry));
        }
        self.log
            .write_all(text.as_bytes())
            .map_err(io("write", &path))?;
        self.log.sync_data().map_err(io("sync", &path))?;
        self.len += text.len() as u64;
        Ok(offsets)
    }

    /// Acknowledges entries (not flushed: losing one only replays a conditional write).
    pub fn ack(&mut self, seqs: &[u64]) -> Result<(), SpoolError> {
        let path = self.path();
        let mut text = String::new();
        for seq in seqs {
            let _ = writeln!(text, "{{\"a\":{seq}}}");
        }
        self.log
            .write_all(text.as_bytes())
            .map_err(io("write", &path))?;
        self.len += text.len() as u64;
        Ok(())
    }

    /// Reads up to `max` spilled entries from `offset`; returns them, the offset after them,
    /// and whether the log ended there.
    pub fn read_spilled(
        &self,
        offset: u64,
        max: usize,
    ) -> Result<(Vec<Entry>, u64, bool), SpoolError> {
        let path = self.path();
        let mut file = File::open(&path).map_err(io("open", &path))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(io("seek", &path))?;
        let mut reader = BufReader::new(file);
        let mut entries = Vec::new();
        let mut at = offset;
        let mut line = String::new();
        while entries.len() < max {
            line.clear();
            let read = reader.read_line(&mut line).map_err(io("read", &path))?;
            if read == 0 {
                return Ok((entries, at, true));
            }
            at += read as u64;
            if let Some(Line::Entry(entry)) = parse_line(line.trim_end()) {
                entries.push(entry);
            }
        }
        // Whether anything but acknowledgements follows.
        loop {
            line.clear();
            let read = reader.read_line(&mut line).map_err(io("read", &path))?;
            if read == 0 {
                return Ok((entries, at, true));
            }
            if let Some(Line::Entry(_)) = parse_line(line.trim_end()) {
                return Ok((entries, at, false));
            }
        }
    }

    /// Empties the log: call only when no write waits.
    pub fn reset(&mut self) -> Result<(), SpoolError> {
        let path = self.path();
        self.log.set_len(0).map_err(io("truncate", &path))?;
        self.len = 0;
        Ok(())
    }

    /// Rewrites the log with only `waiting` (every write still waiting, none spilled), to keep
    /// it from growing without end while the store is slow.
    pub fn rewrite<'a>(
        &mut self,
        waiting: impl Iterator<Item = &'a Entry>,
    ) -> Result<(), SpoolError> {
        let path = self.path();
        let tmp = self.dir.join(format!("{LOG}.tmp"));
        let mut out = File::create(&tmp).map_err(io("create", &tmp))?;
        let mut len = 0u64;
        for entry in waiting {
            let text = entry_line(entry);
            out.write_all(text.as_bytes()).map_err(io("write", &tmp))?;
            len += text.len() as u64;
        }
        out.sync_all().map_err(io("sync", &tmp))?;
        drop(out);
        fs::rename(&tmp, &path).map_err(io("rename", &tmp))?;
        sync_dir(&self.dir);
        self.log = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io("open", &path))?;
        self.len = len;
        Ok(())
    }

    /// Keeps a write the store refused for good, with why, in `dead-letters.jsonl`.
    pub fn dead_letter(&self, entry: &Entry, error: &str, at: i64) -> Result<(), SpoolError> {
        let path = self.dir.join(DEAD_LETTERS);
        let line = serde_json::json!({ "at": at, "error": error, "entry": entry });
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io("open", &path))?;
        file.write_all(format!("{line}\n").as_bytes())
            .map_err(io("write", &path))?;
        file.sync_data().map_err(io("sync", &path))?;
        Ok(())
    }
}

fn entry_line(entry: &Entry) -> String {
    // Writes are plain data (ids, numbers, strings): serialising them cannot fail.
    let mut line = serde_json::to_string(entry).unwrap_or_default();
    line.push('\n');
    line
}

/// Makes a rename durable. Best effort: some filesystems refuse to sync a directory.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callstats_core::{Flags, GuildConfig, OpenSession, SessionId, Timestamp};
    use twilight_model::id::Id;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "callstats-spool-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn entry(seq: u64) -> Entry {
        let session = OpenSession::new(
            SessionId::new(Timestamp::new(1_795_000_000).unwrap(), 1),
            Id::new(seq),
            Id::new(2),
            Id::new(3),
            Flags::NONE,
        );
        Entry {
            seq,
            queued_at: 5,
            write: SessionWrite::Start {
                session,
                config: GuildConfig::default(),
            },
        }
    }

    #[test]
    fn keeps_what_was_not_acknowledged_in_order() {
        let d = dir("order");
        let opened = Spool::open(&d, 10).unwrap();
        assert!(opened.pending.is_empty());
        assert_eq!(opened.next_seq, 1);
        let mut spool = opened.spool;
        spool.append(&[entry(1), entry(2), entry(3)]).unwrap();
        spool.ack(&[2]).unwrap();
        spool.append(&[entry(4)]).unwrap();
        let mut f = OpenOptions::new().append(true).open(d.join(LOG)).unwrap();
        // A crash tore the last line, inside a character of a display name.
        let torn = "{\"n\":5,\"t\":5,\"w\":{\"op\":\"name\",\"name\":\"Zoë".as_bytes();
        f.write_all(&torn[..torn.len() - 1]).unwrap();
        drop(spool);
        let opened = Spool::open(&d, 10).unwrap();
        let seqs: Vec<u64> = opened.pending.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 3, 4]);
        assert_eq!(opened.pending[0], entry(1));
        assert_eq!(opened.next_seq, 5);
        assert_eq!(opened.skipped_lines, 1);
        assert!(opened.spilled.is_none());
        // The rewritten log holds just those.
        drop(opened);
        let opened = Spool::open(&d, 10).unwrap();
        assert_eq!(opened.pending.len(), 3);
        assert_eq!(opened.skipped_lines, 0);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_second_process_is_refused() {
        let d = dir("lock");
        let first = Spool::open(&d, 10).unwrap();
        assert!(matches!(Spool::open(&d, 10), Err(SpoolError::Locked(_))));
        drop(first);
        assert!(Spool::open(&d, 10).is_ok());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn writes_beyond_memory_stay_on_disk_and_come_back_in_order() {
        let d = dir("spill");
        let mut spool = Spool::open(&d, 2).unwrap().spool;
        let offsets = spool
            .append(&(1..=5).map(entry).collect::<Vec<_>>())
            .unwrap();
        spool.ack(&[1]).unwrap();
        let (got, next, end) = spool.read_spilled(offsets[2], 2).unwrap();
        assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
        assert!(!end);
        let (got, _, end) = spool.read_spilled(next, 2).unwrap();
        assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), [5]);
        assert!(end);
        drop(spool);
        let opened = Spool::open(&d, 2).unwrap();
        assert_eq!(
            opened.pending.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [2, 3]
        );
        let spilled = opened.spilled.unwrap();
        assert_eq!(spilled.count, 2);
        let (got, _, end) = opened.spool.read_spilled(spilled.offset, 10).unwrap();
        assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
        assert!(end);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn reset_rewrite_and_dead_letters() {
        let d = dir("reset");
        let mut spool = Spool::open(&d, 10).unwrap().spool;
        spool.append(&[entry(1), entry(2)]).unwrap();
        spool.ack(&[1, 2]).unwrap();
        spool.reset().unwrap();
        assert!(spool.is_empty());
        spool.append(&[entry(3), entry(4)]).unwrap();
        spool.rewrite([entry(4)].iter()).unwrap();
        spool.append(&[entry(5)]).unwrap();
        spool.dead_letter(&entry(9), "rejected", 7).unwrap();
        drop(spool);
        let opened = Spool::open(&d, 10).unwrap();
        assert_eq!(
            opened.pending.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [4, 5]
        );
        let dead = fs::read_to_string(d.join(DEAD_LETTERS)).unwrap();
        assert!(dead.contains("\"error\":\"rejected\""), "{dead}");
        fs::remove_dir_all(&d).unwrap();
    }
}

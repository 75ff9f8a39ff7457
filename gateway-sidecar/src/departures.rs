//! The departures journal: stays that ended while others stayed in their channel, kept on disk
//! so partner time stays exact through a crash.
//!
//! When a member leaves a channel where others stay, the others' partner time will need that
//! stay when their own sessions end (`callstats_core::partners`). The tracker keeps such stays
//! in memory, and a graceful restart carries them in its snapshot; a crash would lose them, so
//! each shard also appends them to `<state dir>/departures-<shard>.log` (JSON lines, flushed to
//! disk with `fdatasync` before the writes that follow them are handed to the writer). After
//! a crash the shard reads them back; the tracker keeps those its guilds' open sessions still
//! overlap. The log is rewritten with only the stays still kept when it has grown well past
//! them.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use callstats_core::partners::Stay;
use callstats_core::{ChannelId, GuildId};
use serde::{Deserialize, Serialize};

/// One stay of a guild's channel.
pub type Departure = (GuildId, ChannelId, Stay);

#[derive(Serialize, Deserialize)]
struct Line {
    #[serde(rename = "g")]
    guild: GuildId,
    #[serde(rename = "c")]
    channel: ChannelId,
    #[serde(rename = "s")]
    stay: Stay,
}

/// Lines the log may hold beyond the stays still kept before it is rewritten.
const REWRITE_SLACK: usize = 1000;

/// A shard's departures journal.
#[derive(Debug)]
pub struct DepartureLog {
    path: PathBuf,
    file: File,
    lines: usize,
}

impl DepartureLog {
    /// Opens (or creates) the journal of `shard` and returns what it holds. Unreadable lines
    /// are skipped, and a torn last line from a crash (no newline after it, perhaps cut inside
    /// a character) is cut off, so that the next line appended starts a line of its own.
    pub fn open(dir: &Path, shard: u32) -> std::io::Result<(Self, Vec<Departure>)> {
        let path = dir.join(format!("departures-{shard}.log"));
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let mut found = Vec::new();
        let mut lines = 0;
        for line in bytes[..complete]
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
        {
            lines += 1;
            if let Ok(l) = serde_json::from_slice::<Line>(line) {
                found.push((l.guild, l.channel, l.stay));
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        if complete < bytes.len() {
            file.set_len(complete as u64)?;
            file.sync_data()?;
        }
        Ok((Self { path, file, lines }, found))
    }

    /// Appends `departures` and flushes them to disk.
    pub fn append(&mut self, departures: &[Departure]) -> std::io::Result<()> {
        if departures.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for (guild, channel, stay) in departures {
            let line = Line {
                guild: *guild,
                channel: *channel,
                stay: *stay,
            };
            text.push_str(&serde_json::to_string(&line).map_err(std::io::Error::other)?);
            text.push('\n');
        }
        self.file.write_all(text.as_bytes())?;
        self.file.sync_data()?;
        self.lines += departures.len();
        Ok(())
    }

    /// Rewrites the log with only `kept` when it holds many more lines than that.
    pub fn compact(&mut self, kept: &[Departure]) -> std::io::Result<()> {
        if self.lines <= kept.len() + REWRITE_SLACK {
            return Ok(());
        }
        let tmp = self.path.with_extension("log.tmp");
        {
            let mut file = File::create(&tmp)?;
            let mut text = String::new();
            for (guild, channel, stay) in kept {
                let line = Line {
                    guild: *guild,
                    channel: *channel,
                    stay: *stay,
                };
                text.push_str(&serde_json::to_string(&line).map_err(std::io::Error::other)?);
                text.push('\n');
            }
            file.write_all(text.as_bytes())?;
            file.sync_data()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.lines = kept.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callstats_core::Timestamp;
    use twilight_model::id::Id;

    fn departure(user: u64, end: i64) -> Departure {
        (
            Id::new(1),
            Id::new(2),
            Stay {
                user: Id::new(user),
                start: Timestamp::new(1_795_000_000).unwrap(),
                end: Timestamp::new(1_795_000_000 + end).unwrap(),
            },
        )
    }

    #[test]
    fn what_is_appended_is_read_back_and_compaction_keeps_only_the_kept() {
        let dir = std::env::temp_dir().join(format!(
            "callstats-departures-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (mut log, found) = DepartureLog::open(&dir, 0).unwrap();
        assert!(found.is_empty());
        log.append(&[departure(3, 10), departure(4, 20)]).unwrap();
        drop(log);
        // A torn last line from a crash is skipped.
        let path = dir.as_path().join("departures-0.log");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"g\":\"1\",\"c\"");
        std::fs::write(&path, text).unwrap();
        let (mut log, found) = DepartureLog::open(dir.as_path(), 0).unwrap();
        assert_eq!(found, vec![departure(3, 10), departure(4, 20)]);
        // What is appended after a torn line is read back whole.
        log.append(&[departure(6, 30)]).unwrap();
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice("{\"g\":\"1\",\"x\":\"é".as_bytes().split_last().unwrap().1);
        std::fs::write(&path, bytes).unwrap();
        let (mut log, found) = DepartureLog::open(dir.as_path(), 0).unwrap();
        assert_eq!(
            found,
            vec![departure(3, 10), departure(4, 20), departure(6, 30)]
        );
        log.append(&[departure(7, 40)]).unwrap();
        drop(log);
        let (mut log, found) = DepartureLog::open(dir.as_path(), 0).unwrap();
        assert_eq!(found.last(), Some(&departure(7, 40)));
        assert_eq!(found.len(), 4);
        let many: Vec<Departure> = (0..REWRITE_SLACK as i64 + 5)
            .map(|i| departure(5, i + 1))
            .collect();
        log.append(&many).unwrap();
        log.compact(&[departure(4, 20)]).unwrap();
        drop(log);
        let (_, found) = DepartureLog::open(dir.as_path(), 0).unwrap();
        assert_eq!(found, vec![departure(4, 20)]);
        // Another shard has its own journal.
        let (_, other) = DepartureLog::open(dir.as_path(), 1).unwrap();
        assert!(other.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

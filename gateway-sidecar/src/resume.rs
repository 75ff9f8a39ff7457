//! Carrying a shard over a restart: its gateway session and its tracker state.
//!
//! A graceful stop saves, per shard whose state is complete, the gateway session (id,
//! sequence, resume URL) and a snapshot of the tracker in the table ([`Store::save_resume`]),
//! so a replacement on any host can pick it up. When the store cannot take it (an outage),
//! it goes to `<state dir>/resume-<shard>.json` instead, for a restart on the same host.
//!
//! A start takes the saved state (it can be used once), preferring the local file, which only
//! exists when it is newer than anything in the table. A state saved in the table is stale,
//! and ignored, when a heartbeat was recorded after it (another process ran the shard since).
//! A state at most [`RESUME_MAX_AGE`] old, for the same shard of the same total, resumes the
//! gateway session: Discord replays what was missed, so no session is split by a deploy.
//! An older one (or one of another shard layout) still restores the tracker, with its guilds
//! out of sight since the save: a fresh IDENTIFY follows, and each `GUILD_CREATE` reconciles
//! in memory with the save as last seen.

use std::path::{Path, PathBuf};
use std::time::Duration;

use callstats_core::Timestamp;
use callstats_store::ResumeState;
use callstats_store::Store;
use serde::{Deserialize, Serialize};
use twilight_gateway::{Session, ShardId};

use crate::tracker::{Tracker, TrackerSnapshot};

/// A saved gateway session older than this is not resumed (Discord keeps sessions for a short
/// while only; a resume it refuses costs a round trip and nothing else).
pub const RESUME_MAX_AGE: Duration = Duration::from_mins(2);
/// How long a start waits for the store to hand over a saved state.
const TAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a stop waits for the store to take a saved state.
pub const SAVE_TIMEOUT: Duration = Duration::from_secs(2);

/// The sidecar's part of a saved state: the opaque snapshot blob of [`ResumeState`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    /// `[number, total]` of the shard that saved it.
    pub shard: [u32; 2],
    pub tracker: TrackerSnapshot,
}

/// The whole saved state as the local file holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct LocalState {
    session_id: String,
    sequence: u64,
    resume_url: String,
    saved_at: Timestamp,
    blob: Blob,
}

/// How a shard starts.
#[derive(Debug, Default)]
pub struct Plan {
    /// The gateway session to resume, and where.
    pub session: Option<(Session, String)>,
    /// The tracker to start from (restored from the snapshot).
    pub tracker: Option<Tracker>,
    /// When the restored state was saved: its guilds are out of sight since then unless the
    /// session resumes.
    pub lost_since: Option<Timestamp>,
}

fn local_path(dir: &Path, shard: u32) -> PathBuf {
    dir.join(format!("resume-{shard}.json"))
}

/// The first bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// A snapshot larger than this once decompressed is refused (a corrupt size field).
const MAX_SNAPSHOT: u64 = 512 << 20;

/// Encodes a shard's state for [`ResumeState::snapshot`]: JSON, zstd-compressed (a shard's
/// voice state compresses about tenfold, and the table stores it in 300 KB items).
#[must_use]
pub fn encode(id: ShardId, tracker: &Tracker) -> Vec<u8> {
    let blob = Blob {
        shard: [id.number(), id.total()],
        tracker: tracker.snapshot(),
    };
    // Plain data: serialising cannot fail.
    let json = serde_json::to_vec(&blob).unwrap_or_default();
    let mut out = Vec::with_capacity(zstd_safe::compress_bound(json.len()));
    match zstd_safe::compress(&mut out, &json, 3) {
        Ok(_) => out,
        Err(_) => json,
    }
}

/// Decodes what [`encode`] made (compressed or not).
pub fn decode(bytes: &[u8]) -> Result<Blob, String> {
    if !bytes.starts_with(&ZSTD_MAGIC) {
        return serde_json::from_slice(bytes).map_err(|e| e.to_string());
    }
    let size = match zstd_safe::get_frame_content_size(bytes) {
        Ok(Some(size)) if size <= MAX_SNAPSHOT => size,
        _ => return Err("compressed snapshot without a usable size".into()),
    };
    let mut json = Vec::with_capacity(usize::try_from(size).map_err(|e| e.to_string())?);
    zstd_safe::decompress(&mut json, bytes).map_err(|code| {
        format!(
            "cannot decompress the snapshot: {}",
            zstd_safe::get_error_name(code)
        )
    })?;
    serde_json::from_slice(&json).map_err(|e| e.to_string())
}

/// Saves a stopped shard's state: in the table, or in the state directory when the table
/// cannot take it, or when writes are still waiting in the spool (`flushed` false): a
/// replacement on another host would start from state the table does not hold yet, while a
/// restart here applies the spool first. Returns where it went.
pub async fn save(
    store: &Store,
    dir: &Path,
    id: ShardId,
    state: ResumeState,
    flushed: bool,
) -> Result<&'static str, String> {
    let shard = id.number();
    if flushed {
        match tokio::time::timeout(SAVE_TIMEOUT, store.save_resume(shard, &state)).await {
            Ok(Ok(())) => {
                let _ = std::fs::remove_file(local_path(dir, shard));
                return Ok("table");
            }
            outcome => {
                let why = match outcome {
                    Ok(Err(err)) => err.to_string(),
                    _ => "timed out".to_owned(),
                };
                tracing::warn!(shard, error = %why, "cannot save the gateway session in the table; saving it locally");
            }
        }
    } else {
        tracing::warn!(
            shard,
            "writes still wait in the spool; saving the gateway session locally"
        );
    }
    let blob = decode(&state.snapshot)?;
    let local = LocalState {
        session_id: state.session_id,
        sequence: state.sequence,
        resume_url: state.resume_url,
        saved_at: state.saved_at,
        blob,
    };
    let path = local_path(dir, shard);
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec(&local).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok("state directory")
}

/// Takes the saved state of shard `id`, if any, and decides how the shard starts.
pub async fn load(store: &Store, dir: &Path, id: ShardId, now: Timestamp) -> Plan {
    let shard = id.number();
    let saved = match take_local(dir, shard) {
        Some(local) => Some(local),
        None => take_from_store(store, shard).await,
    };
    let Some((state, blob)) = saved else {
        return Plan::default();
    };
    let same_layout = blob.shard == [id.number(), id.total()];
    let fresh = state.saved_at.secs_until(now) <= RESUME_MAX_AGE.as_secs();
    let resume = same_layout && fresh;
    let total = id.total();
    let keep = |guild: callstats_core::GuildId| {
        ((guild.get() >> 22) % u64::from(total.max(1))) == u64::from(shard)
    };
    let frozen = (!resume).then_some(state.saved_at);
    let tracker = match Tracker::restore(blob.tracker, keep, frozen) {
        Ok(tracker) => tracker,
        Err(err) => {
            tracing::warn!(shard, error = %err, "saved tracker state unusable; starting afresh");
            return Plan::default();
        }
    };
    tracing::info!(
        shard,
        saved_at = %state.saved_at,
        resume,
        guilds = tracker.guilds().count(),
        "restored the state saved by the last run"
    );
    Plan {
        session: resume.then(|| {
            (
                Session::new(state.sequence, state.session_id.clone()),
                state.resume_url.clone(),
            )
        }),
        tracker: Some(tracker),
        lost_since: Some(state.saved_at),
    }
}

fn take_local(dir: &Path, shard: u32) -> Option<(ResumeState, Blob)> {
    let path = local_path(dir, shard);
    let text = std::fs::read(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    match serde_json::from_slice::<LocalState>(&text) {
        Ok(local) => Some((
            ResumeState {
                session_id: local.session_id,
                sequence: local.sequence,
                resume_url: local.resume_url,
                saved_at: local.saved_at,
                snapshot: Vec::new(),
            },
            local.blob,
        )),
        Err(err) => {
            tracing::warn!(shard, error = %err, "local resume state unreadable; ignored");
            None
        }
    }
}

async fn take_from_store(store: &Store, shard: u32) -> Option<(ResumeState, Blob)> {
    let state = match tokio::time::timeout(TAKE_TIMEOUT, store.take_resume(shard)).await {
        Ok(Ok(Some(state))) => state,
        Ok(Ok(None)) => return None,
        Ok(Err(err)) => {
            tracing::warn!(shard, error = %err, "cannot read a saved gateway session; identifying afresh");
            return None;
        }
        Err(_) => {
            tracing::warn!(
                shard,
                "store did not hand over a saved gateway session in time; identifying afresh"
            );
            return None;
        }
    };
    match tokio::time::timeout(TAKE_TIMEOUT, store.last_heartbeat(shard)).await {
        Ok(Ok(Some(beat))) if beat > state.saved_at => {
            tracing::info!(shard, saved_at = %state.saved_at, heartbeat = %beat, "saved state is older than the last heartbeat; ignored");
            return None;
        }
        _ => {}
    }
    match decode(&state.snapshot) {
        Ok(blob) => Some((state, blob)),
        Err(err) => {
            tracing::warn!(shard, error = %err, "saved tracker state unreadable; ignored");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::{GuildCreated, GuildSeed, VoiceMember};
    use callstats_core::{Flags, GuildConfig};
    use twilight_model::id::Id;

    #[test]
    fn snapshots_compress_and_come_back() {
        let t0 = Timestamp::new(1_795_000_000).unwrap();
        let mut tracker = Tracker::new(7);
        let guild = Id::new(1 << 22);
        let voice: Vec<VoiceMember> = (1..=300)
            .map(|n| VoiceMember {
                user: Id::new(n),
                channel: Id::new(10 + n % 5),
                bot: false,
                flags: Flags::NONE,
            })
            .collect();
        let GuildCreated::NeedsStore { generation } = tracker.guild_create(
            GuildSeed {
                guild,
                afk: None,
                voice,
            },
            t0,
            300,
        ) else {
            panic!("unknown guild");
        };
        let writes =
            tracker.store_reconciled(guild, generation, vec![], GuildConfig::default(), None, 300);
        assert_eq!(writes.len(), 300);
        let id = ShardId::new(1, 4);
        let bytes = encode(id, &tracker);
        assert!(bytes.starts_with(&ZSTD_MAGIC));
        let json = serde_json::to_vec(&tracker.snapshot()).unwrap();
        assert!(
            bytes.len() * 4 < json.len(),
            "{} vs {}",
            bytes.len(),
            json.len()
        );
        let blob = decode(&bytes).unwrap();
        assert_eq!(blob.shard, [1, 4]);
        assert_eq!(blob.tracker, tracker.snapshot());
        // Plain JSON still reads, garbage does not.
        assert_eq!(decode(&serde_json::to_vec(&blob).unwrap()).unwrap(), blob);
        assert!(decode(&bytes[..bytes.len() / 2]).is_err());
        assert!(decode(b"nonsense").is_err());
    }
}

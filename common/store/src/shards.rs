//! Per-shard items: the heartbeat ("alive at") and the saved gateway session for a resume.

use crate::table::Consistency;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};

use crate::Store;
use crate::codec::{Reader, key, n, s};
use crate::error::{StoreError, classify};
use crate::schema::keys;
use callstats_core::time::Timestamp;

/// Items hold at most 400 KB; snapshots are cut well below that.
const SNAPSHOT_CHUNK: usize = 300 * 1024;

/// A shard's gateway session saved at shutdown, so the next process (on any host) resumes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeState {
    pub session_id: String,
    pub sequence: u64,
    pub resume_url: String,
    pub saved_at: Timestamp,
    /// The sidecar's own state at that sequence, opaque to the store.
    pub snapshot: Vec<u8>,
}

impl Store {
    /// Records that `shard` was alive and tracking at `at`, and that it records this every
    /// `every` seconds (readers count calls in progress no further than `at + every`).
    pub async fn heartbeat(&self, shard: u32, at: Timestamp, every: u64) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(self.table.as_str())
            .set_item(Some({
                let mut item = key(keys::shard(shard), keys::ALIVE);
                item.insert("at".into(), n(at.unix()));
                item.insert("every".into(), n(every));
                item
            }))
            .send()
            .await
            .map_err(|e| classify("heartbeat", e))?;
        Ok(())
    }

    /// When `shard` was last known alive.
    pub async fn last_heartbeat(&self, shard: u32) -> Result<Option<Timestamp>, StoreError> {
        let item = self
            .get_one(
                "read heartbeat",
                key(keys::shard(shard), keys::ALIVE),
                Consistency::Strong,
            )
            .await?;
        item.as_ref()
            .map(|item| Reader::new(item).timestamp("at"))
            .transpose()
    }

    /// When `shard` was last known alive and how often it records that; `None` when it never
    /// did. Eventually consistent: for readers that cap calls in progress.
    pub async fn shard_alive(&self, shard: u32) -> Result<Option<(Timestamp, u64)>, StoreError> {
        let item = self
            .get_one(
                "read heartbeat",
                key(keys::shard(shard), keys::ALIVE),
                Consistency::Eventual,
            )
            .await?;
        item.as_ref()
            .map(|item| {
                let r = Reader::new(item);
                Ok((
                    r.timestamp("at")?,
                    if r.has("every") { r.u64("every")? } else { 30 },
                ))
            })
            .transpose()
    }

    /// Saves a shard's gateway session: snapshot chunks first, then the item that names them,
    /// so a reader that finds the session finds its whole snapshot.
    pub async fn save_resume(&self, shard: u32, state: &ResumeState) -> Result<(), StoreError> {
        let chunks: Vec<&[u8]> = state.snapshot.chunks(SNAPSHOT_CHUNK).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut item = key(
                keys::shard(shard),
                format!("{}{i:04}", keys::SNAPSHOT_PREFIX),
            );
            item.insert("data".into(), AttributeValue::B(Blob::new(chunk.to_vec())));
            self.client
                .put_item()
                .table_name(self.table.as_str())
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| classify("save snapshot", e))?;
        }
        let mut item = key(keys::shard(shard), keys::RESUME);
        item.insert("session".into(), s(&state.session_id));
        item.insert("seq".into(), n(state.sequence));
        item.insert("url".into(), s(&state.resume_url));
        item.insert("at".into(), n(state.saved_at.unix()));
        item.insert("chunks".into(), n(chunks.len()));
        self.client
            .put_item()
            .table_name(self.table.as_str())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| classify("save resume", e))?;
        Ok(())
    }

    /// Reads and removes a shard's saved session: it can be used once.
    pub async fn take_resume(&self, shard: u32) -> Result<Option<ResumeState>, StoreError> {
        let pk = keys::shard(shard);
        let item = self
            .get_one("read resume", key(&pk, keys::RESUME), Consistency::Strong)
            .await?;
        let Some(item) = item else {
            return Ok(None);
        };
        let chunk_items = self
            .query_prefix(&pk, keys::SNAPSHOT_PREFIX, Consistency::Strong)
            .await?;
        let r = Reader::new(&item);
        let chunks =
            usize::try_from(r.u64("chunks")?).map_err(|_| r.error("chunks out of range"))?;
        if chunk_items.len() < chunks {
            return Err(r.error(format!(
                "snapshot has {} of {chunks} chunks",
                chunk_items.len()
            )));
        }
        let mut snapshot = Vec::new();
        for chunk in chunk_items.iter().take(chunks) {
            snapshot.extend_from_slice(Reader::new(chunk).bytes("data")?);
        }
        let state = ResumeState {
            session_id: r.string("session")?.to_owned(),
            sequence: r.u64("seq")?,
            resume_url: r.string("url")?.to_owned(),
            saved_at: r.timestamp("at")?,
            snapshot,
        };
        let mut deletes: Vec<WriteRequest> = Vec::new();
        for item in chunk_items.iter().chain(std::iter::once(&item)) {
            let r = Reader::new(item);
            let delete = DeleteRequest::builder()
                .set_key(Some(key(&pk, r.string("sk")?)))
                .build()
                .map_err(|e| StoreError::rejected("take resume", e.to_string()))?;
            deletes.push(WriteRequest::builder().delete_request(delete).build());
        }
        self.batch_write(deletes).await?;
        Ok(Some(state))
    }
}

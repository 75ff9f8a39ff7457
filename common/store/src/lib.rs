//! The DynamoDB store: one table, a partition per user (see `docs/storage.md`).
//!
//! Every read is validated into domain types; every write that ends or changes a session is
//! conditional, so replays and duplicates change nothing. Operations say whether a failure is
//! worth retrying ([`StoreError::is_retryable`]); a failed condition that means "already
//! applied" is an outcome, not an error.

mod bin;
mod codec;
mod error;
mod expr;
mod guilds;
mod items;
mod privacy;
mod reads;
pub mod retry;
mod schema;
mod sessions;
mod settings;
mod shards;
mod table;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType as DdbKeyType, Projection as DdbProjection, ProjectionType, ScalarAttributeType,
    TableDescription, TableStatus,
};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

pub use error::StoreError;
pub use guilds::BoardUpdate;
pub use items::{AllTimeItem, DayItem, GuildItem, LastEnded, LiveCall, MemberState};
pub use privacy::{DeleteReport, GuildExport, PartnerSweep, UserExport};
pub use reads::{MemberDay, MemberView};
pub use retry::{Backoff, retrying};
pub use schema::{
    GUILD_DAYS, GUILD_MEMBERS, IndexDefinition, InvalidTableName, KeyType, OPEN_BY_GUILD,
    Projection, SCHEMA_VERSION, TableDefinition, TableName, table_definition,
};
pub use sessions::{EndOutcome, ReconcileView, StartOutcome, UpdateOutcome};
pub use shards::ResumeState;

/// Timeouts for every call: a store that stalls must not stall its caller for long.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    /// One attempt (the SDK retries throttling and transient errors itself).
    pub attempt: Duration,
    /// All attempts of one call.
    pub operation: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(2),
            attempt: Duration::from_secs(5),
            operation: Duration::from_secs(12),
        }
    }
}

/// A handle on the table. Cheap to clone; build it once per process.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: TableName,
}

/// What `create-table` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableStatusReport {
    Created,
    AlreadyMatches,
}

impl Store {
    #[must_use]
    pub fn new(client: Client, table: TableName) -> Self {
        Self { client, table }
    }

    /// Builds a client from the standard AWS settings (environment, profile, container or
    /// instance role; `AWS_ENDPOINT_URL_DYNAMODB` for a local server), with rustls on ring.
    pub async fn connect(table: TableName, timeouts: Timeouts) -> Self {
        Self::connect_inner(table, timeouts, None).await
    }

    /// Like [`Store::connect`], but talks to `endpoint` (a local server, or a fault-injecting
    /// proxy in front of one) whatever the environment says.
    pub async fn connect_with_endpoint(
        table: TableName,
        timeouts: Timeouts,
        endpoint: &str,
    ) -> Self {
        Self::connect_inner(table, timeouts, Some(endpoint)).await
    }

    async fn connect_inner(table: TableName, timeouts: Timeouts, endpoint: Option<&str>) -> Self {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let timeout_config = TimeoutConfig::builder()
            .connect_timeout(timeouts.connect)
            .operation_attempt_timeout(timeouts.attempt)
            .operation_timeout(timeouts.operation)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .timeout_config(timeout_config);
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let config = loader.load().await;
        Self::new(Client::new(&config), table)
    }

    #[must_use]
    pub fn table(&self) -> &TableName {
        &self.table
    }

    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Checks that the table answers (and warms the connection).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .describe_table()
            .table_name(self.table.as_str())
            .send()
            .await
            .map_err(|e| error::classify("describe table", e))?;
        Ok(())
    }

    /// Creates the table as [`table_definition`] says, or checks that an existing table has
    /// the same keys and indexes.
    pub async fn create_table(&self) -> Result<TableStatusReport, StoreError> {
        let def = table_definition();
        let request = self
            .client
            .create_table()
            .table_name(self.table.as_str())
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(
                def.attributes
                    .iter()
                    .map(|(name, kind)| {
                        AttributeDefinition::builder()
                            .attribute_name(*name)
                            .attribute_type(match kind {
                                KeyType::String => ScalarAttributeType::S,
                                KeyType::Number => ScalarAttributeType::N,
                            })
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| StoreError::rejected("create table", e.to_string()))?,
            ))
            .set_key_schema(Some(key_schema(def.hash, Some(def.range))?))
            .set_global_secondary_indexes(Some(
                def.indexes
                    .iter()
                    .map(|index| {
                        let projection = match &index.projection {
                            Projection::KeysOnly => DdbProjection::builder()
                                .projection_type(ProjectionType::KeysOnly)
                                .build(),
                            Projection::Include(attrs) => DdbProjection::builder()
                                .projection_type(ProjectionType::Include)
                                .set_non_key_attributes(Some(
                                    attrs.iter().map(|a| (*a).to_owned()).collect(),
                                ))
                                .build(),
                        };
                        GlobalSecondaryIndex::builder()
                            .index_name(index.name)
                            .set_key_schema(Some(key_schema(index.hash, index.range)?))
                            .projection(projection)
                            .build()
                            .map_err(|e| StoreError::rejected("create table", e.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ));
        match request.send().await {
            Ok(_) => {
                self.wait_until_active().await?;
                self.write_schema_version().await?;
                Ok(TableStatusReport::Created)
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(aws_sdk_dynamodb::operation::create_table::CreateTableError::is_resource_in_use_exception) =>
            {
                let described = self.describe().await?;
                match schema_difference(&def, &described) {
                    None => {
                        self.check_schema_version().await?;
                        Ok(TableStatusReport::AlreadyMatches)
                    }
                    Some(difference) => Err(StoreError::SchemaMismatch {
                        table: self.table.to_string(),
                        difference,
                    }),
                }
            }
            Err(err) => Err(error::classify("create table", err)),
        }
    }

    async fn describe(&self) -> Result<TableDescription, StoreError> {
        self.client
            .describe_table()
            .table_name(self.table.as_str())
            .send()
            .await
            .map_err(|e| error::classify("describe table", e))?
            .table
            .ok_or_else(|| {
                StoreError::rejected("describe table", "no table description in the answer")
            })
    }

    async fn wait_until_active(&self) -> Result<(), StoreError> {
        for _ in 0..120 {
            if self.describe().await?.table_status == Some(TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(StoreError::Unavailable {
            op: "create table",
            message: "table did not become active within 60 s".into(),
        })
    }
}

impl Store {
    /// Writes the schema version of a table this program just created.
    async fn write_schema_version(&self) -> Result<(), StoreError> {
        let mut item = codec::key(schema::keys::META, schema::keys::SCHEMA);
        item.insert("v".into(), codec::n(SCHEMA_VERSION));
        self.client
            .put_item()
            .table_name(self.table.as_str())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| error::classify("write schema version", e))?;
        Ok(())
    }

    /// Checks that the table holds this program's schema version; both programs call it at
    /// start. A table without one (made by an older callstats) or with another one is refused
    /// with what to do.
    pub async fn check_schema_version(&self) -> Result<(), StoreError> {
        let item = self
            .get_one(
                "read schema version",
                codec::key(schema::keys::META, schema::keys::SCHEMA),
                table::Consistency::Strong,
            )
            .await?;
        let found = item
            .as_ref()
            .map(|i| codec::Reader::new(i).u64("v"))
            .transpose()?;
        match found {
            Some(SCHEMA_VERSION) => Ok(()),
            Some(v) if v > SCHEMA_VERSION => Err(StoreError::SchemaMismatch {
                table: self.table.to_string(),
                difference: format!(
                    "it holds schema version {v}, newer than this program's {SCHEMA_VERSION}: \
                     run the callstats release that made it"
                ),
            }),
            other => Err(StoreError::SchemaMismatch {
                table: self.table.to_string(),
                difference: format!(
                    "it holds schema version {}, this program needs {SCHEMA_VERSION}: \
                     create a new table with `callstats-sidecar create-table` and point \
                     CALLSTATS_TABLE at it",
                    other.map_or_else(|| "1 (none recorded)".to_owned(), |v| v.to_string())
                ),
            }),
        }
    }
}

fn key_schema(hash: &str, range: Option<&str>) -> Result<Vec<KeySchemaElement>, StoreError> {
    std::iter::once((hash, DdbKeyType::Hash))
        .chain(range.map(|r| (r, DdbKeyType::Range)))
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::rejected("create table", e.to_string()))
}

/// What differs between the expected definition and a described table, if anything.
fn schema_difference(def: &TableDefinition, table: &TableDescription) -> Option<String> {
    let keys = |schema: &[KeySchemaElement]| -> (String, String) {
        let find = |kind: DdbKeyType| {
            schema
                .iter()
                .find(|k| *k.key_type() == kind)
                .map(|k| k.attribute_name().to_owned())
                .unwrap_or_default()
        };
        (find(DdbKeyType::Hash), find(DdbKeyType::Range))
    };
    if keys(table.key_schema()) != (def.hash.to_owned(), def.range.to_owned()) {
        return Some(format!(
            "table keys are {:?}, expected ({}, {})",
            keys(table.key_schema()),
            def.hash,
            def.range
        ));
    }
    for (name, kind) in &def.attributes {
        let expected = match kind {
            KeyType::String => ScalarAttributeType::S,
            KeyType::Number => ScalarAttributeType::N,
        };
        let found = table
            .attribute_definitions()
            .iter()
            .find(|a| a.attribute_name() == *name);
        if found.map(AttributeDefinition::attribute_type) != Some(&expected) {
            return Some(format!("attribute {name} should be of type {expected:?}"));
        }
    }
    for index in &def.indexes {
        let Some(found) = table
            .global_secondary_indexes()
            .iter()
            .find(|g| g.index_name() == Some(index.name))
        else {
            return Some(format!("index {} is missing", index.name));
        };
        if keys(found.key_schema())
            != (
                index.hash.to_owned(),
                index.range.unwrap_or_default().to_owned(),
            )
        {
            return Some(format!(
                "index {} has keys {:?}",
                index.name,
                keys(found.key_schema())
            ));
        }
        let projection = found.projection();
        let matches = match &index.projection {
            Projection::KeysOnly => {
                projection.and_then(|p| p.projection_type()) == Some(&ProjectionType::KeysOnly)
            }
            Projection::Include(attrs) => {
                let mut have: Vec<&str> = projection
                    .map(|p| p.non_key_attributes().iter().map(String::as_str).collect())
                    .unwrap_or_default();
                let mut want = attrs.clone();
                have.sort_unstable();
                want.sort_unstable();
                projection.and_then(|p| p.projection_type()) == Some(&ProjectionType::Include)
                    && have == want
            }
        };
        if !matches {
            return Some(format!(
                "index {} projects {:?}, expected {:?}",
                index.name, projection, index.projection
            ));
        }
    }
    None
}

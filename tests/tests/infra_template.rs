//! The infrastructure template (`infra/template.yaml`) against the code: the table it declares
//! must be exactly the table `create-table` makes (`table_definition()`), the index names its
//! IAM policies grant must exist, and the function it builds must be the interactions binary.
//!
//! The template carries `!Ref`/`!GetAtt`/`!Sub` tags; saphyr keeps them as tagged nodes,
//! and the table's keys and indexes must be literals (a tag there is a failure, not a guess)
//! (`callstats_tests::template`).

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail, ensure};
use callstats_store::{KeyType, Projection, table_definition};
use callstats_tests::template::{
    TEMPLATE, get, literal, resources, resources_of_type, sequence, template,
};
use saphyr::Yaml;

const INTERACTIONS_MANIFEST: &str = include_str!("../../interactions-fn/Cargo.toml");

/// A table's keys and indexes in one comparable shape: sorted, owned, DynamoDB's spelling.
#[derive(Debug, PartialEq, Eq)]
struct TableShape {
    keys: (String, String),
    attributes: Vec<(String, String)>,
    indexes: Vec<IndexShape>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct IndexShape {
    name: String,
    keys: (String, Option<String>),
    projection: ProjectionShape,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ProjectionShape {
    KeysOnly,
    Include(Vec<String>),
    All,
}

fn expected() -> TableShape {
    let def = table_definition();
    let mut attributes: Vec<_> = def
        .attributes
        .iter()
        .map(|(name, kind)| {
            let kind = match kind {
                KeyType::String => "S",
                KeyType::Number => "N",
            };
            ((*name).to_owned(), kind.to_owned())
        })
        .collect();
    attributes.sort();
    let mut indexes: Vec<_> = def
        .indexes
        .iter()
        .map(|index| IndexShape {
            name: index.name.to_owned(),
            keys: (index.hash.to_owned(), index.range.map(str::to_owned)),
            projection: match &index.projection {
                Projection::KeysOnly => ProjectionShape::KeysOnly,
                Projection::Include(attrs) => {
                    let mut attrs: Vec<String> = attrs.iter().map(|a| (*a).to_owned()).collect();
                    attrs.sort();
                    ProjectionShape::Include(attrs)
                }
            },
        })
        .collect();
    indexes.sort();
    TableShape {
        keys: (def.hash.to_owned(), def.range.to_owned()),
        attributes,
        indexes,
    }
}

/// The one table of the template.
fn the_table<'a, 'y>(doc: &'a Yaml<'y>) -> Result<(&'a str, &'a Yaml<'y>)> {
    let mut tables = resources_of_type(doc, "AWS::DynamoDB::Table")?;
    ensure!(
        tables.len() == 1,
        "expected one table, found {}",
        tables.len()
    );
    Ok(tables.remove(0))
}

/// `[{AttributeName: a, KeyType: HASH}, {AttributeName: b, KeyType: RANGE}]` as `(a, Some(b))`;
/// without a RANGE key, `(a, None)`.
fn key_schema(node: &Yaml<'_>, at: &str) -> Result<(String, Option<String>)> {
    let elements = sequence(node, at)?;
    let mut hash = None;
    let mut range = None;
    for element in elements {
        let name = literal(get(element, "AttributeName", at)?, at)?.to_owned();
        let slot = match literal(get(element, "KeyType", at)?, at)? {
            "HASH" => &mut hash,
            "RANGE" => &mut range,
            other => bail!("{at}: unknown KeyType {other}"),
        };
        ensure!(slot.is_none(), "{at}: two keys of the same type");
        *slot = Some(name);
    }
    ensure!(
        (1..=2).contains(&elements.len()),
        "{at}: expected a hash key and at most one range key"
    );
    Ok((hash.with_context(|| format!("{at}: no HASH key"))?, range))
}

fn projection(node: &Yaml<'_>, at: &str) -> Result<ProjectionShape> {
    let kind = literal(get(node, "ProjectionType", at)?, at)?;
    let non_key = node.as_mapping_get("NonKeyAttributes");
    match (kind, non_key) {
        ("KEYS_ONLY", None) => Ok(ProjectionShape::KeysOnly),
        ("ALL", None) => Ok(ProjectionShape::All),
        ("INCLUDE", Some(attrs)) => {
            let mut names = sequence(attrs, at)?
                .iter()
                .map(|a| literal(a, at).map(str::to_owned))
                .collect::<Result<Vec<_>>>()?;
            names.sort();
            Ok(ProjectionShape::Include(names))
        }
        (kind, non_key) => bail!("{at}: projection {kind} with NonKeyAttributes {non_key:?}"),
    }
}

fn table_shape(table: &Yaml<'_>) -> Result<TableShape> {
    let props = get(table, "Properties", "table")?;
    let (hash, range) = key_schema(get(props, "KeySchema", "table")?, "table KeySchema")?;
    let keys = (hash, range.context("the table has no RANGE key")?);
    let mut attributes = sequence(get(props, "AttributeDefinitions", "table")?, "attributes")?
        .iter()
        .map(|a| {
            Ok((
                literal(get(a, "AttributeName", "attribute")?, "AttributeName")?.to_owned(),
                literal(get(a, "AttributeType", "attribute")?, "AttributeType")?.to_owned(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    attributes.sort();
    let mut indexes = match props.as_mapping_get("GlobalSecondaryIndexes") {
        None => Vec::new(),
        Some(list) => sequence(list, "GlobalSecondaryIndexes")?
            .iter()
            .map(|index| {
                let name = literal(get(index, "IndexName", "index")?, "IndexName")?.to_owned();
                let at = format!("index {name}");
                Ok(IndexShape {
                    keys: key_schema(get(index, "KeySchema", &at)?, &at)?,
                    projection: projection(get(index, "Projection", &at)?, &at)?,
                    name,
                })
            })
            .collect::<Result<Vec<_>>>()?,
    };
    indexes.sort();
    ensure!(
        props.as_mapping_get("LocalSecondaryIndexes").is_none(),
        "the template declares local secondary indexes; create-table makes none"
    );
    Ok(TableShape {
        keys,
        attributes,
        indexes,
    })
}

#[test]
fn template_table_equals_create_table() -> Result<()> {
    let doc = template()?;
    let (_, table) = the_table(&doc)?;
    assert_eq!(table_shape(table)?, expected());
    Ok(())
}

/// The same comparison catches each kind of drift (so a passing test means something).
#[test]
fn drift_is_detected() -> Result<()> {
    let mutations = [
        (
            "AttributeName: gd\n          AttributeType: S",
            "AttributeName: gd\n          AttributeType: N",
        ),
        (
            "NonKeyAttributes: [oc, os, oa, or, ox, of]",
            "NonKeyAttributes: [oc, os, oa, or, ox]",
        ),
        ("- IndexName: guild-days", "- IndexName: guild-day"),
        (
            "            - AttributeName: gd\n              KeyType: RANGE",
            "            - AttributeName: gm\n              KeyType: RANGE",
        ),
        (
            "            - AttributeName: ga\n              KeyType: HASH\n",
            "            - AttributeName: ga\n              KeyType: HASH\n            - AttributeName: gd\n              KeyType: RANGE\n",
        ),
    ];
    for (from, to) in mutations {
        ensure!(
            TEMPLATE.contains(from),
            "mutation anchor not in the template: {from}"
        );
        let changed = TEMPLATE.replacen(from, to, 1);
        let doc = callstats_tests::template::parse(&changed)?;
        let (_, table) = the_table(&doc)?;
        assert_ne!(table_shape(table)?, expected(), "not detected: {to}");
    }
    Ok(())
}

/// The table keeps its data: on demand like create-table, point-in-time recovery, deletion
/// protection, retained when the stack goes.
#[test]
fn template_table_is_protected() -> Result<()> {
    let doc = template()?;
    let (id, table) = the_table(&doc)?;
    let props = get(table, "Properties", id)?;
    assert_eq!(
        literal(get(props, "BillingMode", id)?, id)?,
        "PAY_PER_REQUEST"
    );
    let pitr = get(props, "PointInTimeRecoverySpecification", id)?;
    assert_eq!(
        get(pitr, "PointInTimeRecoveryEnabled", id)?.as_bool(),
        Some(true)
    );
    assert_eq!(
        get(props, "DeletionProtectionEnabled", id)?.as_bool(),
        Some(true)
    );
    assert!(get(props, "SSESpecification", id)?.is_mapping());
    assert_eq!(literal(get(table, "DeletionPolicy", id)?, id)?, "Retain");
    assert_eq!(
        literal(get(table, "UpdateReplacePolicy", id)?, id)?,
        "Retain"
    );
    Ok(())
}

/// Every `.../index/<name>` an IAM policy grants names an index the table has, and every index
/// a program queries is granted to someone.
#[test]
fn granted_indexes_exist() -> Result<()> {
    let doc = template()?;
    let mut granted = BTreeSet::new();
    collect_index_grants(&doc, &mut granted);
    let existing: BTreeSet<String> = table_definition()
        .indexes
        .iter()
        .map(|i| i.name.to_owned())
        .collect();
    assert_eq!(granted, existing);
    Ok(())
}

fn collect_index_grants(node: &Yaml<'_>, out: &mut BTreeSet<String>) {
    match node {
        Yaml::Tagged(_, inner) => collect_index_grants(inner, out),
        Yaml::Sequence(items) => items.iter().for_each(|i| collect_index_grants(i, out)),
        Yaml::Mapping(map) => map.values().for_each(|v| collect_index_grants(v, out)),
        _ => {
            if let Some(s) = node.as_str()
                && let Some((_, name)) = s.split_once("/index/")
            {
                out.insert(name.to_owned());
            }
        }
    }
}

/// The function SAM builds is the interactions package's binary, from that package's folder.
#[test]
fn function_builds_the_interactions_binary() -> Result<()> {
    let doc = template()?;
    let functions = resources_of_type(&doc, "AWS::Serverless::Function")?;
    ensure!(
        functions.len() == 1,
        "expected one function, found {}",
        functions.len()
    );
    let (id, function) = functions[0];
    let metadata = get(function, "Metadata", id)?;
    assert_eq!(
        literal(get(metadata, "BuildMethod", id)?, id)?,
        "rust-cargolambda"
    );
    let binary = literal(
        get(get(metadata, "BuildProperties", id)?, "Binary", id)?,
        id,
    )?;
    assert!(
        INTERACTIONS_MANIFEST.contains(&format!("[[bin]]\nname = \"{binary}\"")),
        "interactions-fn/Cargo.toml has no binary named {binary}"
    );
    let props = get(function, "Properties", id)?;
    assert_eq!(
        literal(get(props, "CodeUri", id)?, id)?,
        "../interactions-fn"
    );
    assert_eq!(literal(get(props, "Runtime", id)?, id)?, "provided.al2023");
    let architectures = sequence(get(props, "Architectures", id)?, id)?;
    assert_eq!(architectures.len(), 1);
    assert_eq!(literal(&architectures[0], id)?, "arm64");
    Ok(())
}

/// The IAM actions a DynamoDB call needs. A transaction is authorised through the actions of
/// the writes it contains.
fn actions_of(call: &str) -> &'static [&'static str] {
    match call {
        "get_item" => &["dynamodb:GetItem"],
        "batch_get_item" => &["dynamodb:BatchGetItem"],
        "query" => &["dynamodb:Query"],
        "put_item" => &["dynamodb:PutItem"],
        "update_item" => &["dynamodb:UpdateItem"],
        "delete_item" => &["dynamodb:DeleteItem"],
        "batch_write_item" => &["dynamodb:BatchWriteItem"],
        "describe_table" => &["dynamodb:DescribeTable"],
        "transact_write_items" => &[
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
        ],
        _ => &[],
    }
}

/// Every DynamoDB call the store makes (`.<call>()` on its client), read from its source.
fn store_calls() -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../common/store/src");
    let mut calls = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("the store's sources") {
        let text = std::fs::read_to_string(entry.expect("a file").path()).expect("a source");
        for call in [
            "get_item",
            "batch_get_item",
            "query",
            "put_item",
            "update_item",
            "delete_item",
            "batch_write_item",
            "transact_write_items",
            "describe_table",
            "create_table",
            "scan",
        ] {
            if text.contains(&format!(".{call}()")) {
                calls.insert(call.to_owned());
            }
        }
    }
    calls
}

/// The actions granted on the table itself (not its indexes) by the statements under `node`.
fn table_actions(node: &Yaml<'_>, out: &mut BTreeSet<String>) {
    let Some(statements) = node.as_mapping_get("Statement") else {
        return;
    };
    for statement in statements.as_sequence().into_iter().flatten() {
        let on_table = statement.as_mapping_get("Resource").is_some_and(|r| {
            format!("{r:?}").contains("Table.Arn") && !format!("{r:?}").contains("/index/")
        });
        if !on_table {
            continue;
        }
        match statement.as_mapping_get("Action") {
            Some(Yaml::Sequence(list)) => {
                out.extend(list.iter().filter_map(|a| a.as_str().map(str::to_owned)));
            }
            Some(single) => out.extend(single.as_str().map(str::to_owned)),
            None => {}
        }
    }
}

/// Both programs run every store operation but table creation (the operator's step), so both
/// policies grant every action those need: a call added to the store without its grant fails
/// here, not in production with `AccessDenied`.
#[test]
fn both_programs_may_make_every_call_of_the_store() -> Result<()> {
    let doc = template()?;
    let calls = store_calls();
    assert!(calls.contains("batch_get_item") && calls.contains("transact_write_items"));
    let needed: BTreeSet<String> = calls
        .iter()
        .flat_map(|c| actions_of(c).iter().map(|a| (*a).to_owned()))
        .collect();

    let resources = resources(&doc)?;
    let find = |id: &str| {
        resources
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, r)| *r)
            .with_context(|| format!("no resource {id}"))
    };
    let mut sidecar = BTreeSet::new();
    table_actions(
        get(
            get(find("SidecarPolicy")?, "Properties", "SidecarPolicy")?,
            "PolicyDocument",
            "SidecarPolicy",
        )?,
        &mut sidecar,
    );
    let mut interactions = BTreeSet::new();
    let role = get(find("InteractionsRole")?, "Properties", "InteractionsRole")?;
    for policy in sequence(get(role, "Policies", "InteractionsRole")?, "Policies")? {
        table_actions(get(policy, "PolicyDocument", "policy")?, &mut interactions);
    }
    for (program, granted) in [("sidecar", &sidecar), ("interactions", &interactions)] {
        let missing: Vec<_> = needed.difference(granted).collect();
        assert!(missing.is_empty(), "the {program} lacks {missing:?}");
    }
    Ok(())
}

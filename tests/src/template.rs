//! The infrastructure template (`infra/template.yaml`) as tests read it, and a small evaluator
//! of its intrinsic functions: tests compare the template with the code, and stand in for a
//! deployed stack (its conditions and outputs) with it.
//!
//! The template carries `!Ref`/`!GetAtt`/`!Sub`/`!If` tags; saphyr keeps them as tagged nodes.
//! Where a test compares with the code, values must be literals (a tag there is a failure, not
//! a guess); where it stands in for a stack, [`Stack`] evaluates them with given parameters.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail, ensure};
use saphyr::{LoadableYamlNode, Yaml};

/// The template's text.
pub const TEMPLATE: &str = include_str!("../../infra/template.yaml");

/// The template, parsed.
pub fn template() -> Result<Yaml<'static>> {
    parse(TEMPLATE)
}

/// A template text, parsed (tests mutate the text to show a check catches drift).
pub fn parse(text: &str) -> Result<Yaml<'_>> {
    let mut docs = Yaml::load_from_str(text).context("infra/template.yaml is not YAML")?;
    ensure!(
        docs.len() == 1,
        "expected one YAML document, found {}",
        docs.len()
    );
    Ok(docs.remove(0))
}

pub fn get<'a, 'y>(node: &'a Yaml<'y>, key: &str, at: &str) -> Result<&'a Yaml<'y>> {
    node.as_mapping_get(key)
        .with_context(|| format!("{at}: no {key}"))
}

/// A literal string: a tagged value (`!Ref` ...) is computed at deploy time and cannot be
/// compared with the code.
pub fn literal<'a>(node: &'a Yaml<'_>, at: &str) -> Result<&'a str> {
    match node {
        Yaml::Tagged(tag, _) => bail!(
            "{at}: must be a literal, found {}{}",
            tag.handle,
            tag.suffix
        ),
        _ => node
            .as_str()
            .with_context(|| format!("{at}: expected a string, found {node:?}")),
    }
}

pub fn sequence<'a, 'y>(node: &'a Yaml<'y>, at: &str) -> Result<&'a [Yaml<'y>]> {
    node.as_sequence()
        .map(Vec::as_slice)
        .with_context(|| format!("{at}: expected a list"))
}

/// The resources of the template with their logical ids, in document order.
pub fn resources<'a, 'y>(doc: &'a Yaml<'y>) -> Result<Vec<(&'a str, &'a Yaml<'y>)>> {
    let resources = get(doc, "Resources", "template")?
        .as_mapping()
        .context("Resources is not a mapping")?;
    resources
        .iter()
        .map(|(id, resource)| Ok((literal(id, "resource id")?, resource)))
        .collect()
}

pub fn resources_of_type<'a, 'y>(
    doc: &'a Yaml<'y>,
    kind: &str,
) -> Result<Vec<(&'a str, &'a Yaml<'y>)>> {
    let mut found = Vec::new();
    for (id, resource) in resources(doc)? {
        if literal(get(resource, "Type", id)?, id)? == kind {
            found.push((id, resource));
        }
    }
    Ok(found)
}

/// A string or number, as a string.
fn scalar(node: &Yaml<'_>) -> Result<String> {
    node.as_str()
        .map(str::to_owned)
        .or_else(|| node.as_integer().map(|i| i.to_string()))
        .with_context(|| format!("not a string: {node:?}"))
}

/// The resource `id`.
pub fn resource<'a, 'y>(doc: &'a Yaml<'y>, id: &str) -> Result<&'a Yaml<'y>> {
    resources(doc)?
        .into_iter()
        .find(|(i, _)| *i == id)
        .map(|(_, r)| r)
        .with_context(|| format!("no resource {id}"))
}

/// A CloudWatch alarm on one metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alarm {
    pub id: String,
    pub namespace: String,
    pub metric: String,
    pub dimensions: BTreeMap<String, String>,
}

/// A stack of the template: its parameters (defaults, overridden by the test's), the
/// conditions they make true, and the physical values of the resources a test created itself
/// (`"Table"`, `"InteractionsRole.Arn"`, ...); other resources stand in as `<stack>-<id>`.
#[derive(Debug)]
pub struct Stack<'a, 'y> {
    doc: &'a Yaml<'y>,
    pub name: String,
    pub params: BTreeMap<String, String>,
    pub resources: BTreeMap<String, String>,
}

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

impl<'a, 'y> Stack<'a, 'y> {
    /// A stack named `name` with `params` over the template's defaults.
    pub fn new(doc: &'a Yaml<'y>, name: &str, params: &[(&str, &str)]) -> Result<Self> {
        let mut values = BTreeMap::new();
        let declared = get(doc, "Parameters", "template")?
            .as_mapping()
            .context("Parameters is not a mapping")?;
        for (key, param) in declared {
            let key = literal(key, "parameter")?;
            if let Some(default) = param.as_mapping_get("Default") {
                let default =
                    scalar(default).with_context(|| format!("{key}: unexpected default"))?;
                values.insert(key.to_owned(), default);
            }
        }
        for (key, value) in params {
            ensure!(
                declared.keys().any(|k| k.as_str() == Some(key)),
                "the template has no parameter {key}"
            );
            values.insert((*key).to_owned(), (*value).to_owned());
        }
        Ok(Self {
            doc,
            name: name.to_owned(),
            params: values,
            resources: BTreeMap::new(),
        })
    }

    /// What `name` refers to: a parameter, a pseudo parameter, or a resource the test made.
    fn reference(&self, name: &str) -> Result<String> {
        Ok(match name {
            "AWS::StackName" => self.name.clone(),
            "AWS::Region" => REGION.to_owned(),
            "AWS::AccountId" => ACCOUNT.to_owned(),
            "AWS::Partition" => "aws".to_owned(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            other => {
                if let Some(value) = self.params.get(other).or_else(|| self.resources.get(other)) {
                    value.clone()
                } else {
                    // A resource the test did not make: a stand-in physical id or attribute.
                    let id = other.split_once('.').map_or(other, |(id, _)| id);
                    ensure!(
                        resource(self.doc, id).is_ok(),
                        "nothing to refer to as {other}"
                    );
                    format!("{}-{}", self.name, other.replace('.', "-"))
                }
            }
        })
    }

    /// Whether condition `name` holds.
    pub fn condition(&self, name: &str) -> Result<bool> {
        let node = get(get(self.doc, "Conditions", "template")?, name, "Conditions")?;
        self.truth(node)
    }

    fn truth(&self, node: &Yaml<'_>) -> Result<bool> {
        let Yaml::Tagged(tag, inner) = node else {
            bail!("not a condition: {node:?}")
        };
        let args = || sequence(inner, &tag.suffix);
        Ok(match tag.suffix.as_str() {
            "Equals" => {
                let [a, b] = args()? else {
                    bail!("Equals takes two values")
                };
                self.eval(a)? == self.eval(b)?
            }
            "Not" => !self.truth(&args()?[0])?,
            "And" => args()?
                .iter()
                .map(|c| self.truth(c))
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .all(|b| b),
            "Or" => args()?
                .iter()
                .map(|c| self.truth(c))
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .any(|b| b),
            "Condition" => self.condition(literal(inner, "Condition")?)?,
            other => bail!("unknown condition function {other}"),
        })
    }

    /// The string `node` evaluates to; `None` for `AWS::NoValue`.
    pub fn eval(&self, node: &Yaml<'_>) -> Result<Option<String>> {
        let Yaml::Tagged(tag, inner) = node else {
            return scalar(node).map(Some);
        };
        match tag.suffix.as_str() {
            "Ref" => {
                let name = literal(inner, "Ref")?;
                if name == "AWS::NoValue" {
                    return Ok(None);
                }
                self.reference(name).map(Some)
            }
            "GetAtt" => self.reference(literal(inner, "GetAtt")?).map(Some),
            "Sub" => self.substitute(literal(inner, "Sub")?).map(Some),
            "If" => {
                let [condition, yes, no] = sequence(inner, "If")? else {
                    bail!("If takes three values")
                };
                if self.condition(literal(condition, "If")?)? {
                    self.eval(yes)
                } else {
                    self.eval(no)
                }
            }
            other => bail!("cannot evaluate !{other}"),
        }
    }

    fn substitute(&self, text: &str) -> Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .with_context(|| format!("unclosed ${{ in {text}"))?;
            out.push_str(&self.reference(&rest[start + 2..start + end])?);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `node` with `!If`s decided; `None` for `AWS::NoValue`.
    pub fn resolve<'n>(&self, node: &'n Yaml<'y>) -> Result<Option<&'n Yaml<'y>>> {
        match node {
            Yaml::Tagged(tag, inner) if tag.suffix == "If" => {
                let [condition, yes, no] = sequence(inner, "If")? else {
                    bail!("If takes three values")
                };
                if self.condition(literal(condition, "If")?)? {
                    self.resolve(yes)
                } else {
                    self.resolve(no)
                }
            }
            Yaml::Tagged(tag, inner)
                if tag.suffix == "Ref" && inner.as_str() == Some("AWS::NoValue") =>
            {
                Ok(None)
            }
            other => Ok(Some(other)),
        }
    }

    /// Whether resource `id` exists in this stack (it has no condition, or its condition holds).
    pub fn creates(&self, id: &str) -> Result<bool> {
        match resource(self.doc, id)?.as_mapping_get("Condition") {
            None => Ok(true),
            Some(condition) => self.condition(literal(condition, id)?),
        }
    }

    /// The environment of task definition `id`'s first container.
    pub fn container_environment(&self, id: &str) -> Result<BTreeMap<String, String>> {
        let props = get(resource(self.doc, id)?, "Properties", id)?;
        let container = &sequence(get(props, "ContainerDefinitions", id)?, id)?[0];
        let mut env = BTreeMap::new();
        for entry in sequence(get(container, "Environment", id)?, id)? {
            if let Some(entry) = self.resolve(entry)? {
                let name = literal(get(entry, "Name", id)?, id)?.to_owned();
                if let Some(value) = self.eval(get(entry, "Value", id)?)? {
                    env.insert(name, value);
                }
            }
        }
        Ok(env)
    }

    /// The single-metric alarms of this stack: id, namespace, metric name and dimensions.
    pub fn alarms(&self) -> Result<Vec<Alarm>> {
        let mut alarms = Vec::new();
        for (id, alarm) in resources_of_type(self.doc, "AWS::CloudWatch::Alarm")? {
            let props = get(alarm, "Properties", id)?;
            if !self.creates(id)? || props.as_mapping_get("Metrics").is_some() {
                continue;
            }
            let mut dimensions = BTreeMap::new();
            if let Some(list) = props.as_mapping_get("Dimensions") {
                for d in sequence(list, id)? {
                    let name = literal(get(d, "Name", id)?, id)?.to_owned();
                    let value = self.eval(get(d, "Value", id)?)?.unwrap_or_default();
                    dimensions.insert(name, value);
                }
            }
            alarms.push(Alarm {
                id: id.to_owned(),
                namespace: self.eval(get(props, "Namespace", id)?)?.unwrap_or_default(),
                metric: literal(get(props, "MetricName", id)?, id)?.to_owned(),
                dimensions,
            });
        }
        Ok(alarms)
    }

    /// The value of output `name`.
    pub fn output(&self, name: &str) -> Result<String> {
        let output = get(get(self.doc, "Outputs", "template")?, name, "Outputs")?;
        if let Some(condition) = output.as_mapping_get("Condition") {
            ensure!(
                self.condition(literal(condition, name)?)?,
                "output {name} is not created in this stack"
            );
        }
        self.eval(get(output, "Value", name)?)?
            .with_context(|| format!("output {name} has no value"))
    }
}

/// A literal part of the template (a policy document, say) as JSON; tags are refused.
pub fn to_json(node: &Yaml<'_>) -> Result<serde_json::Value> {
    use serde_json::Value;
    Ok(match node {
        Yaml::Tagged(tag, _) => bail!("not a literal: !{}", tag.suffix),
        Yaml::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((literal(k, "key")?.to_owned(), to_json(v)?)))
                .collect::<Result<_>>()?,
        ),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect::<Result<_>>()?),
        other => {
            if let Some(b) = other.as_bool() {
                Value::Bool(b)
            } else if let Some(i) = other.as_integer() {
                Value::from(i)
            } else {
                Value::String(scalar(other)?)
            }
        }
    })
}

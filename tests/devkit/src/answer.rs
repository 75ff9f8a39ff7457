//! What the endpoint answers: the HTTP reply ([`Answer`]) and the interaction response in it
//! ([`Reply`]: the JSON, from the body or from `payload_json` when files are attached, and
//! the files).
//!
//! [`Answer::reply`] and [`Reply::parse`] report a malformed answer as an error, for the local
//! client and the benchmarks. The shortcuts in the second `impl Answer` block are for tests:
//! they panic, naming what is wrong, when the answer is not what they read.

use http::HeaderMap;
use serde_json::Value;
use twilight_model::http::interaction::InteractionResponse;

use callstats_interactions::Message;
use callstats_interactions::limits;

use crate::multipart::{MultipartError, Part, parse_multipart};

/// An HTTP reply as the endpoint sent it.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Why an answer is not an interaction response.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error(transparent)]
    Multipart(#[from] MultipartError),
    #[error("multipart answer without payload_json")]
    NoPayload,
    #[error("{0}")]
    NotJson(#[from] serde_json::Error),
}

/// An interaction response and its attachments.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    pub response: Value,
    /// Every part of a multipart answer but `payload_json`.
    pub files: Vec<Part>,
}

/// A component of a reply's action rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    /// Discord's component type (2: a button).
    pub kind: u64,
    pub label: String,
    pub custom_id: String,
    pub disabled: bool,
}

impl Component {
    #[must_use]
    pub fn is_button(&self) -> bool {
        self.kind == 2
    }
}

impl Reply {
    /// Reads a JSON answer, or a multipart/form-data one (`payload_json` and files).
    pub fn parse(content_type: &str, body: &[u8]) -> Result<Self, AnswerError> {
        if !content_type.starts_with("multipart/form-data") {
            return Ok(Self {
                response: serde_json::from_slice(body)?,
                files: Vec::new(),
            });
        }
        let mut response = None;
        let mut files = Vec::new();
        for part in parse_multipart(content_type, body)? {
            if part.name == "payload_json" {
                response = Some(serde_json::from_slice(&part.body)?);
            } else {
                files.push(part);
            }
        }
        Ok(Self {
            response: response.ok_or(AnswerError::NoPayload)?,
            files,
        })
    }

    /// The response's `data` (`null` when it has none).
    #[must_use]
    pub fn data(&self) -> &Value {
        &self.response["data"]
    }

    /// The components of the response's action rows, buttons and any other.
    #[must_use]
    pub fn components(&self) -> Vec<Component> {
        let rows = self.data()["components"].as_array().into_iter().flatten();
        rows.flat_map(|row| row["components"].as_array().into_iter().flatten())
            .map(|c| Component {
                kind: c["type"].as_u64().unwrap_or_default(),
                label: c["label"].as_str().unwrap_or_default().to_owned(),
                custom_id: c["custom_id"].as_str().unwrap_or_default().to_owned(),
                disabled: c["disabled"].as_bool().unwrap_or(false),
            })
            .collect()
    }
}

impl Answer {
    /// The answer `handle` gave, as it would arrive over HTTP.
    #[must_use]
    pub fn from_response(response: http::Response<impl AsRef<[u8]>>) -> Self {
        let (parts, body) = response.into_parts();
        Self {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: body.as_ref().to_vec(),
        }
    }

    #[must_use]
    pub fn content_type(&self) -> String {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The interaction response and its files.
    pub fn reply(&self) -> Result<Reply, AnswerError> {
        Reply::parse(&self.content_type(), &self.body)
    }
}

/// Shortcuts for tests: each panics when the answer is not what it reads.
#[allow(clippy::expect_used, clippy::missing_panics_doc)] // a malformed answer fails the test
impl Answer {
    /// The interaction response JSON (from `payload_json` when the reply is multipart; a
    /// reply without files must say `application/json`).
    #[must_use]
    pub fn json(&self) -> Value {
        let content_type = self.content_type();
        if !content_type.starts_with("multipart/form-data") {
            assert_eq!(content_type, "application/json", "{}", self.text());
        }
        self.reply()
            .unwrap_or_else(|e| panic!("not an interaction response: {e}: {}", self.text()))
            .response
    }

    /// The parts of a multipart/form-data reply, strictly read.
    #[must_use]
    pub fn parts(&self) -> Vec<Part> {
        parse_multipart(&self.content_type(), &self.body).unwrap_or_else(|e| panic!("{e}"))
    }

    #[must_use]
    pub fn kind(&self) -> u64 {
        self.json()["type"].as_u64().expect("reply has a type")
    }

    #[must_use]
    pub fn data(&self) -> Value {
        self.json()["data"].clone()
    }

    #[must_use]
    pub fn ephemeral(&self) -> bool {
        self.data()["flags"].as_u64().unwrap_or(0) & 64 == 64
    }

    #[must_use]
    pub fn embed(&self) -> Value {
        self.data()["embeds"][0].clone()
    }

    #[must_use]
    pub fn title(&self) -> String {
        self.embed()["title"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    #[must_use]
    pub fn description(&self) -> String {
        self.embed()["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    #[must_use]
    pub fn footer(&self) -> String {
        self.embed()["footer"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The value of the embed field named `name`.
    #[must_use]
    pub fn field(&self, name: &str) -> String {
        self.embed()["fields"]
            .as_array()
            .and_then(|fields| fields.iter().find(|f| f["name"] == name))
            .and_then(|f| f["value"].as_str())
            .unwrap_or_else(|| panic!("no field {name:?} in {}", self.embed()))
            .to_owned()
    }

    /// `(custom_id, disabled)` of every component of the action rows.
    #[must_use]
    pub fn buttons(&self) -> Vec<(String, bool)> {
        let reply = Reply {
            response: self.json(),
            files: Vec::new(),
        };
        reply
            .components()
            .into_iter()
            .map(|c| (c.custom_id, c.disabled))
            .collect()
    }

    /// Checks the reply against every Discord limit and the no-mentions rule.
    pub fn assert_valid(&self) {
        let response: InteractionResponse =
            serde_json::from_value(self.json()).expect("reply is an interaction response");
        if let Some(data) = response.data {
            let message = Message {
                content: data.content.clone(),
                embeds: data.embeds.clone().unwrap_or_default(),
                components: data.components.clone().unwrap_or_default(),
                ..Message::default()
            };
            limits::check(&message).unwrap_or_else(|e| panic!("reply breaks a limit: {e}"));
            if data.embeds.is_some() || data.content.is_some() {
                let mentions = data.allowed_mentions.expect("allowed_mentions is set");
                assert!(
                    mentions.parse.is_empty()
                        && mentions.users.is_empty()
                        && mentions.roles.is_empty(),
                    "replies mention no one"
                );
            }
            if let Some(choices) = data.choices {
                assert!(choices.len() <= limits::CHOICES);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callstats_interactions::reply::{File, multipart};
    use serde_json::json;

    #[test]
    fn reads_json_and_multipart_answers() {
        let (content_type, body) = multipart(
            br#"{"type":4,"data":{"content":"x"}}"#,
            &[File {
                name: "heatmap.png".into(),
                content_type: "image/png",
                description: None,
                bytes: vec![1, 2, 3],
            }],
        );
        let reply = Reply::parse(&content_type, &body).unwrap();
        assert_eq!(reply.data()["content"], "x");
        assert_eq!(reply.files.len(), 1);
        assert_eq!(reply.files[0].filename.as_deref(), Some("heatmap.png"));
        assert_eq!(reply.files[0].body, vec![1, 2, 3]);
        assert!(Reply::parse("multipart/form-data; boundary=zz", b"--zz--").is_err());
        let pong = Reply::parse("application/json", br#"{"type":1}"#).unwrap();
        assert_eq!(pong.response, json!({"type": 1}));
        assert!(pong.files.is_empty());
        assert!(Reply::parse("application/json", b"<html>").is_err());
    }

    #[test]
    fn lists_the_components_of_every_row() {
        let reply = Reply {
            response: json!({"type": 4, "data": {"components": [{"type": 1, "components": [
                {"type": 2, "label": "◀ Previous", "custom_id": "prev", "disabled": true},
                {"type": 2, "label": "Next ▶", "custom_id": "next"}
            ]}]}}),
            files: Vec::new(),
        };
        let components = reply.components();
        assert_eq!(components.len(), 2);
        assert!(components.iter().all(Component::is_button));
        assert_eq!(
            (components[0].custom_id.as_str(), components[0].disabled),
            ("prev", true)
        );
        assert_eq!(
            (components[1].label.as_str(), components[1].disabled),
            ("Next ▶", false)
        );
    }
}

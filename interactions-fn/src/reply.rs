//! What the endpoint answers, and its HTTP encoding: JSON, or multipart/form-data when files
//! are attached (a `payload_json` part and one `files[n]` part per file).
//!
//! Every message allows no mentions at all: a leaderboard full of `<@id>` must never ping.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header::CONTENT_TYPE};
use twilight_model::application::command::CommandOptionChoice;
use twilight_model::channel::message::{AllowedMentions, Component, Embed, MessageFlags};
use twilight_model::http::attachment::Attachment;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};

/// A file sent with a message, referenced from embeds as `attachment://{name}`.
#[derive(Clone, PartialEq, Eq)]
pub struct File {
    pub name: String,
    pub content_type: &'static str,
    pub description: Option<String>,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File")
            .field("name", &self.name)
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// A message as this endpoint sends it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    pub content: Option<String>,
    pub embeds: Vec<Embed>,
    pub components: Vec<Component>,
    pub files: Vec<File>,
    /// Only the invoker sees it (flag 64). Ignored on updates: a message keeps its flags.
    pub ephemeral: bool,
}

impl Message {
    #[must_use]
    pub fn embed(embed: Embed) -> Self {
        Self {
            embeds: vec![embed],
            ..Self::default()
        }
    }

    #[must_use]
    pub fn ephemeral(mut self) -> Self {
        self.ephemeral = true;
        self
    }

    #[must_use]
    pub fn with_ephemeral(mut self, ephemeral: bool) -> Self {
        self.ephemeral = ephemeral;
        self
    }

    /// The `data` of an interaction response (or the body of a webhook edit).
    #[must_use]
    pub fn data(&self) -> InteractionResponseData {
        InteractionResponseData {
            allowed_mentions: Some(no_mentions()),
            attachments: (!self.files.is_empty()).then(|| self.attachments()),
            components: Some(self.components.clone()),
            content: self.content.clone(),
            embeds: Some(self.embeds.clone()),
            flags: self.ephemeral.then_some(MessageFlags::EPHEMERAL),
            ..InteractionResponseData::default()
        }
    }

    /// The body of an edit of an existing message: the same, but without flags (a message
    /// keeps the flags it was sent with).
    #[must_use]
    pub fn edit_data(&self) -> InteractionResponseData {
        InteractionResponseData {
            flags: None,
            ..self.data()
        }
    }

    /// Attachment metadata for the files, ids matching `files[n]`.
    #[must_use]
    pub fn attachments(&self) -> Vec<Attachment> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| Attachment {
                description: f.description.clone(),
                duration_secs: None,
                file: Vec::new(),
                filename: f.name.clone(),
                id: i as u64,
                is_spoiler: None,
                title: None,
                waveform: None,
            })
            .collect()
    }
}

/// Mention no one: no users, no roles, no `@everyone`, no reply ping.
#[must_use]
pub fn no_mentions() -> AllowedMentions {
    AllowedMentions::default()
}

/// One answer to one interaction.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// To a PING.
    Pong,
    /// A new message (type 4).
    Message(Message),
    /// Replace the message a component is on (type 7).
    Update(Message),
    /// "Thinking…"; the message follows as an edit of the original response (type 5).
    Deferred { ephemeral: bool },
    /// Acknowledge a component; the message is edited later (type 6).
    DeferredUpdate,
    /// Autocomplete suggestions (type 8), at most 25.
    Choices(Vec<CommandOptionChoice>),
}

impl Reply {
    /// The interaction response as Discord's JSON model.
    #[must_use]
    pub fn response(&self) -> InteractionResponse {
        let (kind, data) = match self {
            Self::Pong => (InteractionResponseType::Pong, None),
            Self::Message(m) => (
                InteractionResponseType::ChannelMessageWithSource,
                Some(m.data()),
            ),
            Self::Update(m) => (InteractionResponseType::UpdateMessage, Some(m.data())),
            Self::Deferred { ephemeral } => (
                InteractionResponseType::DeferredChannelMessageWithSource,
                Some(InteractionResponseData {
                    flags: ephemeral.then_some(MessageFlags::EPHEMERAL),
                    ..InteractionResponseData::default()
                }),
            ),
            Self::DeferredUpdate => (InteractionResponseType::DeferredUpdateMessage, None),
            Self::Choices(choices) => (
                InteractionResponseType::ApplicationCommandAutocompleteResult,
                Some(InteractionResponseData {
                    choices: Some(choices.clone()),
                    ..InteractionResponseData::default()
                }),
            ),
        };
        InteractionResponse { kind, data }
    }

    /// The files the reply carries.
    #[must_use]
    pub fn files(&self) -> &[File] {
        match self {
            Self::Message(m) | Self::Update(m) => &m.files,
            _ => &[],
        }
    }

    /// The HTTP response: 200 with JSON, or with multipart/form-data when files are attached.
    pub fn into_http(self) -> Result<http::Response<Bytes>, serde_json::Error> {
        let json = serde_json::to_vec(&self.response())?;
        let files = self.files();
        if files.is_empty() {
            return Ok(json_response(StatusCode::OK, Bytes::from(json)));
        }
        let (content_type, body) = multipart(&json, files);
        let mut response = http::Response::new(Bytes::from(body));
        if let Ok(value) = HeaderValue::from_str(&content_type) {
            response.headers_mut().insert(CONTENT_TYPE, value);
        }
        Ok(response)
    }
}

/// An HTTP response with a JSON body.
#[must_use]
pub fn json_response(status: StatusCode, body: Bytes) -> http::Response<Bytes> {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// An HTTP response with a short plain-text body (for refusals).
#[must_use]
pub fn text_response(status: StatusCode, body: &'static str) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::from_static(body.as_bytes()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Encodes `payload_json` and the files as multipart/form-data; returns the content type
/// (with its boundary) and the body.
#[must_use]
pub fn multipart(payload_json: &[u8], files: &[File]) -> (String, Vec<u8>) {
    let boundary = boundary_for(payload_json, files);
    let mut body = Vec::with_capacity(
        payload_json.len() + files.iter().map(|f| f.bytes.len() + 200).sum::<usize>() + 200,
    );
    let mut part = |headers: &str, content: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    part(
        "Content-Disposition: form-data; name=\"payload_json\"\r\nContent-Type: application/json",
        payload_json,
    );
    for (i, file) in files.iter().enumerate() {
        let name = file.name.replace(['"', '\r', '\n', '\\'], "_");
        part(
            &format!(
                "Content-Disposition: form-data; name=\"files[{i}]\"; filename=\"{name}\"\r\nContent-Type: {}",
                file.content_type
            ),
            &file.bytes,
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A boundary that occurs in none of the parts.
fn boundary_for(payload_json: &[u8], files: &[File]) -> String {
    let occurs = |b: &str| {
        let needle = b.as_bytes();
        std::iter::once(payload_json)
            .chain(files.iter().map(|f| f.bytes.as_slice()))
            .any(|hay| hay.windows(needle.len()).any(|w| w == needle))
    };
    let mut n: u64 = 0x5ca1_ab1e;
    loop {
        let candidate = format!("callstats-boundary-{n:016x}");
        if !occurs(&candidate) {
            return candidate;
        }
        n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_mention_anyone() {
        let reply = Reply::Message(Message {
            content: Some("<@1> @everyone".into()),
            ..Message::default()
        });
        let json = serde_json::to_value(reply.response()).unwrap();
        assert_eq!(json["type"], 4);
        assert_eq!(
            json["data"]["allowed_mentions"],
            serde_json::json!({"parse": []})
        );
        assert!(json["data"].get("flags").is_none());
    }

    #[test]
    fn pong_and_deferred_shapes() {
        let pong = Reply::Pong.into_http().unwrap();
        assert_eq!(pong.body().as_ref(), br#"{"type":1}"#);
        assert_eq!(pong.headers()[CONTENT_TYPE], "application/json");
        let deferred =
            serde_json::to_value(Reply::Deferred { ephemeral: true }.response()).unwrap();
        assert_eq!(
            deferred,
            serde_json::json!({"type": 5, "data": {"flags": 64}})
        );
        let update = serde_json::to_value(Reply::DeferredUpdate.response()).unwrap();
        assert_eq!(update, serde_json::json!({"type": 6}));
    }

    #[test]
    fn files_make_a_multipart_body() {
        let message = Message {
            files: vec![File {
                name: "a.json".into(),
                content_type: "application/json",
                description: None,
                bytes: b"{\"x\":1}".to_vec(),
            }],
            ..Message::default()
        }
        .ephemeral();
        let response = Reply::Message(message).into_http().unwrap();
        let content_type = response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let boundary = content_type
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap();
        let body = String::from_utf8(response.body().to_vec()).unwrap();
        assert!(body.starts_with(&format!("--{boundary}\r\n")));
        assert!(body.ends_with(&format!("--{boundary}--\r\n")));
        assert!(body.contains("name=\"payload_json\""));
        assert!(body.contains("name=\"files[0]\"; filename=\"a.json\""));
        assert!(body.contains("\"attachments\":[{\"filename\":\"a.json\",\"id\":0}]"));
    }

    #[test]
    fn boundary_avoids_the_content() {
        let first = boundary_for(b"", &[]);
        let second = boundary_for(first.as_bytes(), &[]);
        assert_ne!(first, second);
    }
}

//! The local client: builds an interaction as Discord would, signs it with the local key,
//! sends it to an endpoint, and prints the reply as a person would read it.
//!
//! `callstats-interactions call "/callstats show user:123 period:7d"` — the command line is
//! the command's name, its subcommand, and `option:value` pairs, typed as in Discord. Option
//! types come from the command definitions `register-commands` uploads, so the interaction
//! carries what Discord would send (user options with their resolved user, booleans, strings).
//! `--press NEXT` then presses the reply's button whose label says "next" (any button by a
//! word of its label), as the same member.
//!
//! Parsing and printing are pure ([`build_command`], [`build_press`], [`describe`]); only
//! [`send`] does I/O.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use chrono::DateTime;
use ed25519_dalek::{Signer, SigningKey};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use twilight_model::application::command::{
    Command, CommandOption, CommandOptionChoiceValue, CommandOptionType, CommandType,
};

use crate::commands::definitions::definitions;

/// Discord's permission bits for a member who may do everything, `/callconfig` included.
const ALL_PERMISSIONS: &str = "2251799813685247";
/// The application id local interactions carry.
const LOCAL_APPLICATION: &str = "1000000000000000001";
/// The channel local commands are run in.
const LOCAL_CHANNEL: &str = "1000000000000000002";

/// Who asks, where, and where the endpoint is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user: u64,
    pub guild: u64,
}

/// What went wrong on the client side: all of it is the person's to fix.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Usage(String),
    #[error("signing key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("cannot reach {url}: {reason} (is scripts/run-local running?)")]
    Unreachable { url: String, reason: String },
    #[error("the endpoint answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("the endpoint's answer is not a Discord reply: {0}")]
    BadReply(String),
    #[error("cannot save {path}: {reason}")]
    Save { path: PathBuf, reason: String },
}

fn usage(message: impl Into<String>) -> ClientError {
    ClientError::Usage(message.into())
}

/// Reads the 32-byte signing key (hex) from `path`, creating it from the system's random
/// source when it does not exist yet.
pub fn load_or_create_key(path: &Path) -> Result<SigningKey, ClientError> {
    let key_error = |reason: String| ClientError::Key {
        path: path.to_owned(),
        reason,
    };
    if path.exists() {
        let text = std::fs::read_to_string(path).map_err(|e| key_error(e.to_string()))?;
        let bytes = hex::decode(text.trim()).map_err(|e| key_error(format!("not hex: {e}")))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| key_error("not 32 bytes".into()))?;
        return Ok(SigningKey::from_bytes(&seed));
    }
    let mut seed = [0u8; 32];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom")
            .map_err(|e| key_error(format!("no random source: {e}")))?,
        &mut seed,
    )
    .map_err(|e| key_error(format!("no random source: {e}")))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| key_error(e.to_string()))?;
    }
    std::fs::write(path, hex::encode(seed)).map_err(|e| key_error(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Builds the `APPLICATION_COMMAND` interaction Discord would send for `line`.
pub fn build_command(line: &str, caller: &Caller, id: u64) -> Result<Value, ClientError> {
    let mut words = line.split_whitespace();
    let first = words.next().ok_or_else(|| usage("empty command line"))?;
    let name = first.strip_prefix('/').ok_or_else(|| {
        usage(format!(
            "a command starts with '/', as in \"/callstats show\": {line:?} (the \"Call stats\" \
                 user menu is the same as `/callstats show user:ID private:true`)"
        ))
    })?;
    let definitions = definitions();
    let command = definitions
        .iter()
        .find(|c| c.name == name && c.kind == CommandType::ChatInput)
        .ok_or_else(|| {
            let known: Vec<String> = definitions
                .iter()
                .filter(|c| c.kind == CommandType::ChatInput)
                .map(|c| format!("/{}", c.name))
                .collect();
            usage(format!(
                "unknown command /{name}; known: {}",
                known.join(", ")
            ))
        })?;
    let mut resolved_users = serde_json::Map::new();
    let mut resolved_members = serde_json::Map::new();
    let rest: Vec<&str> = words.collect();
    let options = match (rest.first(), subcommands(command)) {
        (Some(word), subs) if !word.contains(':') && !subs.is_empty() => {
            let sub = subs
                .iter()
                .find(|s| s.name == *word)
                .ok_or_else(|| usage(format!("/{name} has no subcommand {word:?}")))?;
            let values = option_values(
                &rest[1..],
                sub.options.as_deref().unwrap_or_default(),
                &mut resolved_users,
                &mut resolved_members,
            )?;
            vec![json!({"type": 1, "name": sub.name, "options": values})]
        }
        (_, subs) if !subs.is_empty() => {
            let names: Vec<&str> = subs.iter().map(|s| s.name.as_str()).collect();
            return Err(usage(format!(
                "/{name} needs a subcommand: {}",
                names.join(", ")
            )));
        }
        _ => option_values(
            &rest,
            command.options.as_slice(),
            &mut resolved_users,
            &mut resolved_members,
        )?,
    };
    let mut data = json!({
        "id": "1000000000000000010",
        "name": command.name,
        "type": 1,
        "options": options,
    });
    if !resolved_users.is_empty() {
        data["resolved"] = json!({"users": resolved_users, "members": resolved_members});
    }
    Ok(envelope(2, &data, caller, id))
}

/// Builds the `MESSAGE_COMPONENT` interaction for pressing the button `label` of `reply`.
pub fn build_press(
    reply: &Value,
    label: &str,
    caller: &Caller,
    id: u64,
) -> Result<Value, ClientError> {
    let data = reply.get("data").cloned().unwrap_or(Value::Null);
    let wanted = label.to_lowercase();
    let buttons = buttons(&data);
    let (_, custom_id, disabled) = buttons
        .iter()
        .find(|(l, _, _)| {
            let l = l.to_lowercase();
            l == wanted || l.split(|c: char| !c.is_alphanumeric()).any(|w| w == wanted)
        })
        .ok_or_else(|| {
            let labels: Vec<&str> = buttons.iter().map(|b| b.0.as_str()).collect();
            usage(format!(
                "no button {label:?} in the reply; buttons: {}",
                labels.join(", ")
            ))
        })?;
    if *disabled {
        return Err(usage(format!("the button {label:?} is disabled")));
    }
    let message = json!({
        "id": format!("{}", id.saturating_sub(1)),
        "channel_id": LOCAL_CHANNEL,
        "application_id": LOCAL_APPLICATION,
        "author": {"id": LOCAL_APPLICATION, "username": "callstats", "discriminator": "0", "avatar": null, "bot": true, "public_flags": 0, "global_name": null},
        "attachments": [],
        "components": data.get("components").cloned().unwrap_or_else(|| json!([])),
        "content": data.get("content").cloned().unwrap_or_else(|| json!("")),
        "edited_timestamp": null,
        "embeds": data.get("embeds").cloned().unwrap_or_else(|| json!([])),
        "flags": data.get("flags").cloned().unwrap_or_else(|| json!(0)),
        "mention_everyone": false,
        "mention_roles": [],
        "mentions": [],
        "pinned": false,
        "timestamp": "2026-01-01T00:00:00.000000+00:00",
        "tts": false,
        "type": 20,
    });
    let mut interaction = envelope(
        3,
        &json!({"component_type": 2, "custom_id": custom_id}),
        caller,
        id,
    );
    interaction["message"] = message;
    Ok(interaction)
}

fn subcommands(command: &Command) -> Vec<&CommandOption> {
    command
        .options
        .iter()
        .filter(|o| o.kind == CommandOptionType::SubCommand)
        .collect()
}

fn option_values(
    words: &[&str],
    known: &[CommandOption],
    users: &mut serde_json::Map<String, Value>,
    members: &mut serde_json::Map<String, Value>,
) -> Result<Vec<Value>, ClientError> {
    let mut values = Vec::new();
    for word in words {
        let (name, raw) = word
            .split_once(':')
            .ok_or_else(|| usage(format!("options are name:value, not {word:?}")))?;
        let option = known.iter().find(|o| o.name == name).ok_or_else(|| {
            let names: Vec<&str> = known.iter().map(|o| o.name.as_str()).collect();
            usage(format!("no option {name:?}; options: {}", names.join(", ")))
        })?;
        let value = match option.kind {
            CommandOptionType::Boolean => Value::Bool(match raw {
                "true" | "yes" => true,
                "false" | "no" => false,
                _ => return Err(usage(format!("{name} is true or false, not {raw:?}"))),
            }),
            CommandOptionType::Integer => Value::from(
                raw.parse::<i64>()
                    .map_err(|_| usage(format!("{name} is a whole number, not {raw:?}")))?,
            ),
            CommandOptionType::User => {
                let id = raw.trim_start_matches("<@").trim_end_matches('>');
                let id = id
                    .parse::<u64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or_else(|| usage(format!("{name} is a user id, not {raw:?}")))?;
                users.insert(id.to_string(), user_json(id));
                members.insert(
                    id.to_string(),
                    json!({"roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00", "flags": 0, "permissions": "0", "nick": null, "avatar": null, "premium_since": null, "pending": false, "communication_disabled_until": null}),
                );
                Value::String(id.to_string())
            }
            _ => {
                let choices: Vec<&str> = option
                    .choices
                    .iter()
                    .flatten()
                    .filter_map(|choice| match &choice.value {
                        CommandOptionChoiceValue::String(value) => Some(value.as_str()),
                        _ => None,
                    })
                    .collect();
                if !choices.is_empty() && !choices.contains(&raw) {
                    return Err(usage(format!(
                        "{name} is one of {}, not {raw:?}",
                        choices.join(", ")
                    )));
                }
                Value::String(raw.to_owned())
            }
        };
        values.push(json!({"name": name, "type": option.kind as u8, "value": value}));
    }
    Ok(values)
}

/// The name local members go by: their id, as nothing else is known about them.
fn local_name(id: u64) -> String {
    format!("member{id}")
}

fn user_json(id: u64) -> Value {
    json!({
        "id": id.to_string(),
        "username": local_name(id),
        "global_name": null,
        "discriminator": "0",
        "avatar": null,
        "public_flags": 0,
    })
}

/// The fields every interaction carries, as Discord sends them.
fn envelope(kind: u8, data: &Value, caller: &Caller, id: u64) -> Value {
    let guild = caller.guild.to_string();
    json!({
        "app_permissions": ALL_PERMISSIONS,
        "application_id": LOCAL_APPLICATION,
        "attachment_size_limit": 10_485_760,
        "authorizing_integration_owners": {"0": guild},
        "channel": {"id": LOCAL_CHANNEL, "guild_id": guild, "name": "general", "type": 0, "flags": 0, "nsfw": false, "parent_id": null, "permissions": ALL_PERMISSIONS, "position": 0, "rate_limit_per_user": 0, "topic": null, "last_message_id": null},
        "channel_id": LOCAL_CHANNEL,
        "context": 0,
        "data": data,
        "entitlement_sku_ids": [],
        "entitlements": [],
        "guild": {"id": guild, "features": [], "locale": "en-US"},
        "guild_id": guild,
        "guild_locale": "en-US",
        "id": id.to_string(),
        "locale": "en-US",
        "member": {
            "avatar": null,
            "communication_disabled_until": null,
            "deaf": false,
            "flags": 0,
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "mute": false,
            "nick": null,
            "pending": false,
            "permissions": ALL_PERMISSIONS,
            "premium_since": null,
            "roles": [],
            "user": user_json(caller.user),
        },
        "token": format!("local-interaction-token-{id}"),
        "type": kind,
        "version": 1,
    })
}

/// A reply: the interaction response and its attachments (from a multipart answer).
#[derive(Debug, Default)]
pub struct Answer {
    pub response: Value,
    pub files: Vec<(String, Vec<u8>)>,
}

/// Signs `interaction` with `key` at `timestamp` and POSTs it to `url`.
pub async fn send(
    url: &str,
    key: &SigningKey,
    interaction: &Value,
    timestamp: i64,
) -> Result<Answer, ClientError> {
    let body = serde_json::to_vec(interaction).map_err(|e| ClientError::BadReply(e.to_string()))?;
    let stamp = timestamp.to_string();
    let mut message = stamp.as_bytes().to_vec();
    message.extend_from_slice(&body);
    let signature = hex::encode(key.sign(&message).to_bytes());
    let unreachable = |reason: String| ClientError::Unreachable {
        url: url.to_owned(),
        reason,
    };
    let request = http::Request::post(url)
        .header("content-type", "application/json")
        .header("x-signature-ed25519", signature)
        .header("x-signature-timestamp", stamp)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| usage(format!("bad endpoint URL {url:?}: {e}")))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let response = client
        .request(request)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        return Err(ClientError::Refused {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        });
    }
    parse_answer(&content_type, &bytes)
}

/// Reads a JSON or multipart/form-data answer.
pub fn parse_answer(content_type: &str, body: &[u8]) -> Result<Answer, ClientError> {
    let bad = |m: &str| ClientError::BadReply(m.to_owned());
    if !content_type.starts_with("multipart/form-data") {
        let response =
            serde_json::from_slice(body).map_err(|e| ClientError::BadReply(e.to_string()))?;
        return Ok(Answer {
            response,
            files: Vec::new(),
        });
    }
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .ok_or_else(|| bad("multipart answer without a boundary"))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let mut answer = Answer::default();
    let mut saw_payload = false;
    for part in split_bytes(body, delimiter.as_bytes()).into_iter().skip(1) {
        if part.starts_with(b"--") {
            break;
        }
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let split = find(part, b"\r\n\r\n").ok_or_else(|| bad("multipart part without headers"))?;
        let headers = String::from_utf8_lossy(&part[..split]).to_string();
        let content = &part[split + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let disposition = headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .unwrap_or_default();
        let field = |name: &str| {
            disposition.split(';').find_map(|p| {
                p.trim()
                    .strip_prefix(&format!("{name}="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        if field("name").as_deref() == Some("payload_json") {
            answer.response = serde_json::from_slice(content)
                .map_err(|e| ClientError::BadReply(e.to_string()))?;
            saw_payload = true;
        } else {
            let filename = field("filename").unwrap_or_else(|| "attachment".into());
            answer.files.push((filename, content.to_vec()));
        }
    }
    if saw_payload {
        Ok(answer)
    } else {
        Err(bad("multipart answer without payload_json"))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split_bytes<'a>(mut hay: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(at) = find(hay, delimiter) {
        parts.push(&hay[..at]);
        hay = &hay[at + delimiter.len()..];
    }
    parts.push(hay);
    parts
}

/// `(label, custom_id, disabled)` of every button in a reply's data.
fn buttons(data: &Value) -> Vec<(String, String, bool)> {
    let mut found = Vec::new();
    for row in data
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for component in row
            .get("components")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if component.get("type").and_then(Value::as_u64) == Some(2) {
                found.push((
                    component
                        .get("label")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    component
                        .get("custom_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    component
                        .get("disabled")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                ));
            }
        }
    }
    found
}

/// The reply as a person would read it.
#[must_use]
pub fn describe(answer: &Answer) -> String {
    let response = &answer.response;
    let data = response.get("data").cloned().unwrap_or(Value::Null);
    let mut out = String::new();
    let ephemeral = data
        .get("flags")
        .and_then(Value::as_u64)
        .is_some_and(|f| f & 64 != 0);
    let kind = response.get("type").and_then(Value::as_u64).unwrap_or(0);
    let what = match kind {
        1 => "pong",
        4 => "reply",
        5 => "deferred reply (the answer is edited in later)",
        6 => "deferred update",
        7 => "updated message",
        8 => "autocomplete choices",
        _ => "unknown response",
    };
    let _ = writeln!(
        out,
        "── {what}{} ──",
        if ephemeral {
            " (only you can see it)"
        } else {
            ""
        }
    );
    if let Some(content) = data
        .get("content")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
    {
        let _ = writeln!(out, "{}", plain(content));
    }
    for embed in data
        .get("embeds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(title) = embed.get("title").and_then(Value::as_str) {
            let _ = writeln!(out, "# {}", plain(title));
        }
        if let Some(description) = embed.get("description").and_then(Value::as_str) {
            let _ = writeln!(out, "{}", plain(description));
        }
        for field in embed
            .get("fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = field
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let value = field
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let _ = writeln!(out, "\n{}:\n{}", plain(name), indent(&plain(value)));
        }
        if let Some(image) = embed.pointer("/image/url").and_then(Value::as_str) {
            let _ = writeln!(out, "[image {image}]");
        }
        if let Some(footer) = embed.pointer("/footer/text").and_then(Value::as_str) {
            let _ = writeln!(out, "\n— {}", plain(footer));
        }
    }
    for choice in data
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = choice
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let _ = writeln!(out, "• {name}");
    }
    let buttons = buttons(&data);
    if !buttons.is_empty() {
        let shown: Vec<String> = buttons
            .iter()
            .map(|(label, _, disabled)| {
                if *disabled {
                    format!("[{label}] (disabled)")
                } else {
                    format!("[{label}]")
                }
            })
            .collect();
        let _ = writeln!(out, "buttons: {}", shown.join(" "));
    }
    out
}

/// Discord's markup a terminal cannot render, as text: `<t:UNIX:STYLE>` as a UTC time,
/// `<@ID>` as the member's local name, `<#ID>` as `#ID`; anything else stays as it is.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        let Some(close) = tail.find('>') else {
            out.push_str(tail);
            return out;
        };
        let inner = &tail[1..close];
        if inner.contains('<') {
            out.push('<');
            rest = &tail[1..];
            continue;
        }
        let replaced = if let Some(time) = inner.strip_prefix("t:") {
            let unix = time.split(':').next().unwrap_or_default();
            unix.parse::<i64>()
                .ok()
                .and_then(|unix| DateTime::from_timestamp(unix, 0))
                .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
        } else if let Some(user) = inner.strip_prefix("@!").or_else(|| inner.strip_prefix('@')) {
            user.parse::<u64>()
                .ok()
                .map(|id| format!("@{}", local_name(id)))
        } else if let Some(channel) = inner.strip_prefix('#') {
            channel.parse::<u64>().ok().map(|id| format!("#{id}"))
        } else {
            None
        };
        match replaced {
            Some(text) => out.push_str(&text),
            None => out.push_str(&tail[..=close]),
        }
        rest = &tail[close + 1..];
    }
    out.push_str(rest);
    out
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Saves the answer's attachments under `dir`; returns a line per file.
pub fn save_files(answer: &Answer, dir: &Path) -> Result<Vec<String>, ClientError> {
    let mut lines = Vec::new();
    for (name, bytes) in &answer.files {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(if safe.is_empty() {
            "attachment".to_owned()
        } else {
            safe
        });
        let save_error = |e: std::io::Error| ClientError::Save {
            path: path.clone(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(save_error)?;
        std::fs::write(&path, bytes).map_err(save_error)?;
        lines.push(format!(
            "attachment {name}: saved to {} ({} bytes)",
            path.display(),
            bytes.len()
        ));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLER: Caller = Caller {
        user: 11,
        guild: 22,
    };

    #[test]
    fn builds_subcommands_with_typed_options() {
        let i = build_command(
            "/callstats show user:<@33> period:7d private:true",
            &CALLER,
            5,
        )
        .unwrap();
        assert_eq!(i["type"], 2);
        assert_eq!(i["guild_id"], "22");
        assert_eq!(i["member"]["user"]["id"], "11");
        let sub = &i["data"]["options"][0];
        assert_eq!(
            (sub["type"].as_u64(), sub["name"].as_str()),
            (Some(1), Some("show"))
        );
        assert_eq!(
            sub["options"][0],
            json!({"name": "user", "type": 6, "value": "33"})
        );
        assert_eq!(
            sub["options"][1],
            json!({"name": "period", "type": 3, "value": "7d"})
        );
        assert_eq!(
            sub["options"][2],
            json!({"name": "private", "type": 5, "value": true})
        );
        assert_eq!(i["data"]["resolved"]["users"]["33"]["id"], "33");
        let top = build_command("/calltop period:week metric:total", &CALLER, 6).unwrap();
        assert_eq!(top["data"]["options"][0]["name"], "period");
    }

    #[test]
    fn refuses_what_discord_would_not_send() {
        for line in [
            "",
            "callstats show",
            "/nope",
            "/callstats",
            "/callstats nope",
            "/callstats show color:red",
            "/callstats show private:maybe",
            "/callstats show user:abc",
            "/calltop week",
        ] {
            assert!(
                matches!(build_command(line, &CALLER, 1), Err(ClientError::Usage(_))),
                "{line}"
            );
        }
    }

    #[test]
    fn presses_a_button_by_a_word_of_its_label() {
        let reply = json!({"type": 4, "data": {"components": [{"type": 1, "components": [
            {"type": 2, "label": "◀ Previous", "custom_id": "prev", "disabled": true, "style": 2},
            {"type": 2, "label": "Next ▶", "custom_id": "next-id", "style": 2}
        ]}]}});
        let press = build_press(&reply, "NEXT", &CALLER, 9).unwrap();
        assert_eq!(press["type"], 3);
        assert_eq!(press["data"]["custom_id"], "next-id");
        assert!(matches!(
            build_press(&reply, "previous", &CALLER, 9),
            Err(ClientError::Usage(_))
        ));
        assert!(matches!(
            build_press(&reply, "delete", &CALLER, 9),
            Err(ClientError::Usage(_))
        ));
    }

    #[test]
    fn renders_discord_markup_as_text() {
        assert_eq!(
            plain("Last active <t:1795668245:R>, by <@42> in <#7>; <b> and <t:x:R> stay; a < b"),
            "Last active 2026-11-26 04:44 UTC, by @member42 in #7; <b> and <t:x:R> stay; a < b"
        );
        assert_eq!(plain("<@!5> <t:0:F>"), "@member5 1970-01-01 00:00 UTC");
        assert_eq!(plain("open <@1"), "open <@1");
        assert_eq!(plain("1 < 2 <@3>"), "1 < 2 @member3");
    }

    #[test]
    fn refuses_a_choice_the_command_does_not_offer() {
        let caller = Caller { user: 1, guild: 2 };
        let err = build_command("/calltop period:year", &caller, 3).unwrap_err();
        assert!(err.to_string().contains("week, month, all"), "{err}");
        assert!(build_command("/calltop period:month metric:active", &caller, 3).is_ok());
    }

    #[test]
    fn describes_embeds_fields_footer_and_buttons() {
        let answer = Answer {
            response: json!({"type": 4, "data": {"flags": 64, "embeds": [{"title": "Call stats", "description": "d", "fields": [{"name": "Total", "value": "3 h 05 min"}], "footer": {"text": "AFK channel excluded"}}], "components": [{"type": 1, "components": [{"type": 2, "label": "Next ▶", "custom_id": "n"}]}]}}),
            files: Vec::new(),
        };
        let text = describe(&answer);
        assert!(text.contains("only you can see it"));
        assert!(text.contains("# Call stats"));
        assert!(text.contains("Total:\n  3 h 05 min"));
        assert!(text.contains("— AFK channel excluded"));
        assert!(text.contains("buttons: [Next ▶]"));
    }

    #[test]
    fn reads_multipart_answers() {
        let (content_type, body) = crate::reply::multipart(
            br#"{"type":4,"data":{"content":"x"}}"#,
            &[crate::reply::File {
                name: "heatmap.png".into(),
                content_type: "image/png",
                description: None,
                bytes: vec![1, 2, 3],
            }],
        );
        let answer = parse_answer(&content_type, &body).unwrap();
        assert_eq!(answer.response["data"]["content"], "x");
        assert_eq!(
            answer.files,
            vec![("heatmap.png".to_owned(), vec![1, 2, 3])]
        );
        assert!(parse_answer("multipart/form-data; boundary=zz", b"--zz--").is_err());
    }

    #[test]
    fn keeps_one_key_per_file() {
        let dir = std::env::temp_dir().join(format!("callstats-key-{}", std::process::id()));
        let path = dir.join("signing.key");
        let first = load_or_create_key(&path).unwrap();
        let second = load_or_create_key(&path).unwrap();
        assert_eq!(first.to_bytes(), second.to_bytes());
        std::fs::write(&path, "zz").unwrap();
        assert!(load_or_create_key(&path).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}

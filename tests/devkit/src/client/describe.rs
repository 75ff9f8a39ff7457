//! Replies as a person reads them in a terminal, and their attachments saved as files.

use std::fmt::Write as _;
use std::path::Path;

use chrono::DateTime;
use serde_json::Value;

use super::{ClientError, local_name};
use crate::answer::{Component, Reply};

/// The reply as a person would read it.
#[must_use]
pub fn describe(reply: &Reply) -> String {
    let response = &reply.response;
    let data = reply.data();
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
    let shown: Vec<String> = reply
        .components()
        .into_iter()
        .filter(Component::is_button)
        .map(|button| {
            if button.disabled {
                format!("[{}] (disabled)", button.label)
            } else {
                format!("[{}]", button.label)
            }
        })
        .collect();
    if !shown.is_empty() {
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
pub fn save_files(reply: &Reply, dir: &Path) -> Result<Vec<String>, ClientError> {
    let mut lines = Vec::new();
    for file in &reply.files {
        let name = file.filename.as_deref().unwrap_or("attachment");
        let bytes = &file.body;
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
    use serde_json::json;

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
    fn describes_embeds_fields_footer_and_buttons() {
        let reply = Reply {
            response: json!({"type": 4, "data": {"flags": 64, "embeds": [{"title": "Call stats", "description": "d", "fields": [{"name": "Total", "value": "3 h 05 min"}], "footer": {"text": "AFK channel excluded"}}], "components": [{"type": 1, "components": [{"type": 2, "label": "Next ▶", "custom_id": "n"}]}]}}),
            files: Vec::new(),
        };
        let text = describe(&reply);
        assert!(text.contains("only you can see it"));
        assert!(text.contains("# Call stats"));
        assert!(text.contains("Total:\n  3 h 05 min"));
        assert!(text.contains("— AFK channel excluded"));
        assert!(text.contains("buttons: [Next ▶]"));
    }
}

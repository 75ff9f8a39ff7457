//! Interactions as Discord sends them: a slash command typed as in Discord, or the press of
//! a reply's button.

use serde_json::{Value, json};
use twilight_model::application::command::{
    Command, CommandOption, CommandOptionChoiceValue, CommandOptionType, CommandType,
};

use callstats_interactions::commands::definitions::definitions;

use super::{Caller, ClientError, local_name, usage};
use crate::answer::{Component, Reply};

/// Discord's permission bits for a member who may do everything, `/callconfig` included.
const ALL_PERMISSIONS: &str = "2251799813685247";
/// The application id local interactions carry.
const LOCAL_APPLICATION: &str = "1000000000000000001";
/// The channel local commands are run in.
const LOCAL_CHANNEL: &str = "1000000000000000002";

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
    reply: &Reply,
    label: &str,
    caller: &Caller,
    id: u64,
) -> Result<Value, ClientError> {
    let data = reply.data();
    let wanted = label.to_lowercase();
    let buttons: Vec<Component> = reply
        .components()
        .into_iter()
        .filter(Component::is_button)
        .collect();
    let button = buttons
        .iter()
        .find(|b| {
            let l = b.label.to_lowercase();
            l == wanted || l.split(|c: char| !c.is_alphanumeric()).any(|w| w == wanted)
        })
        .ok_or_else(|| {
            let labels: Vec<&str> = buttons.iter().map(|b| b.label.as_str()).collect();
            usage(format!(
                "no button {label:?} in the reply; buttons: {}",
                labels.join(", ")
            ))
        })?;
    if button.disabled {
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
        &json!({"component_type": 2, "custom_id": button.custom_id}),
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
        let reply = Reply {
            response: json!({"type": 4, "data": {"components": [{"type": 1, "components": [
            {"type": 2, "label": "◀ Previous", "custom_id": "prev", "disabled": true, "style": 2},
            {"type": 2, "label": "Next ▶", "custom_id": "next-id", "style": 2}
            ]}]}}),
            files: Vec::new(),
        };
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
    fn refuses_a_choice_the_command_does_not_offer() {
        let caller = Caller { user: 1, guild: 2 };
        let err = build_command("/calltop period:year", &caller, 3).unwrap_err();
        assert!(err.to_string().contains("week, month, all"), "{err}");
        assert!(build_command("/calltop period:month metric:active", &caller, 3).is_ok());
    }
}

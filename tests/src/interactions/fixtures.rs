//! Recorded Discord payloads (`tests/fixtures/interactions/`) with the parts a test cares
//! about changed, and the Lambda Function URL event that carries one.

use serde_json::{Value, json};

const EVENT: &str = include_str!("../../fixtures/interactions/function-url-event.json");
const PING: &str = include_str!("../../fixtures/interactions/ping.json");
const COMMAND: &str = include_str!("../../fixtures/interactions/command.json");
const COMPONENT: &str = include_str!("../../fixtures/interactions/component.json");

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("fixtures are JSON")
}

/// An interaction payload, from a recorded fixture.
#[derive(Clone, Debug)]
pub struct Interaction(pub Value);

impl Interaction {
    #[must_use]
    pub fn ping() -> Self {
        Self(fixture(PING))
    }

    /// `/callstats <sub>` with `options` (a JSON array of `{name, type, value}`).
    #[must_use]
    #[allow(clippy::needless_pass_by_value)] // reads better with json!(..) at the call
    pub fn callstats(sub: &str, options: Value) -> Self {
        Self::command(
            "callstats",
            json!([{"name": sub, "type": 1, "options": options}]),
        )
    }

    /// A slash command with top-level `options`.
    #[must_use]
    pub fn command(name: &str, options: Value) -> Self {
        let mut v = fixture(COMMAND);
        v["data"]["name"] = json!(name);
        v["data"]["options"] = options;
        Self(v)
    }

    /// The user context-menu command on `target`.
    #[must_use]
    pub fn user_menu(target: u64, name: &str) -> Self {
        let mut v = fixture(COMMAND);
        v["data"] = json!({
            "id": "1180000000000000901",
            "name": "Call stats",
            "type": 2,
            "target_id": target.to_string(),
        });
        Self(v).resolve(target, name, false)
    }

    /// An autocomplete request for `/callstats <sub>` with the focused option `name`.
    #[must_use]
    pub fn autocomplete(command: &str, sub: Option<&str>, option: &str, typed: &str) -> Self {
        let focused = json!([{"name": option, "type": 3, "value": typed, "focused": true}]);
        let options = match sub {
            Some(sub) => json!([{"name": sub, "type": 1, "options": focused}]),
            None => focused,
        };
        let mut i = Self::command(command, options);
        i.0["type"] = json!(4);
        i
    }

    /// A button press with `custom_id`.
    #[must_use]
    pub fn button(custom_id: &str) -> Self {
        let mut v = fixture(COMPONENT);
        v["data"]["custom_id"] = json!(custom_id);
        Self(v)
    }

    /// Sent by `user` (display name `name`).
    #[must_use]
    pub fn by(mut self, user: u64, name: &str) -> Self {
        self.0["member"]["user"]["id"] = json!(user.to_string());
        self.0["member"]["user"]["global_name"] = json!(name);
        self.0["member"]["user"]["username"] = json!(name.to_lowercase());
        self
    }

    /// Sent from `guild`.
    #[must_use]
    pub fn in_guild(mut self, guild: u64) -> Self {
        let g = json!(guild.to_string());
        self.0["guild_id"] = g.clone();
        self.0["guild"]["id"] = g.clone();
        self.0["channel"]["guild_id"] = g.clone();
        self.0["authorizing_integration_owners"]["0"] = g;
        self
    }

    /// The largest attachment a reply may carry, in bytes.
    #[must_use]
    pub fn with_attachment_limit(mut self, bytes: u64) -> Self {
        self.0["attachment_size_limit"] = json!(bytes);
        self
    }

    /// The member's permissions (a decimal bit string).
    #[must_use]
    pub fn with_permissions(mut self, permissions: u64) -> Self {
        self.0["member"]["permissions"] = json!(permissions.to_string());
        self
    }

    /// Adds `user` to the command's resolved data, as Discord does for user options.
    #[must_use]
    pub fn resolve(mut self, user: u64, name: &str, bot: bool) -> Self {
        let id = user.to_string();
        let data = &mut self.0["data"];
        if data.get("resolved").is_none() {
            data["resolved"] = json!({"users": {}, "members": {}});
        }
        data["resolved"]["users"][&id] = json!({
            "avatar": null, "discriminator": "0", "global_name": name, "id": id,
            "public_flags": 0, "username": name.to_lowercase(), "bot": bot,
        });
        data["resolved"]["members"][&id] = json!({
            "avatar": null, "communication_disabled_until": null, "flags": 0,
            "joined_at": "2024-05-05T10:00:00.000000+00:00", "nick": null, "pending": false,
            "permissions": "2248473465835073", "premium_since": null, "roles": [],
        });
        self
    }

    /// The interaction token (to match follow-up edits).
    #[must_use]
    pub fn token(&self) -> String {
        self.0["token"].as_str().unwrap_or_default().to_owned()
    }

    #[must_use]
    pub fn body(&self) -> String {
        self.0.to_string()
    }
}

/// A Function URL event carrying `body` and `headers`, as Lambda delivers it.
#[must_use]
pub fn function_url_event(body: &str, headers: &[(String, String)]) -> String {
    let mut event = fixture(EVENT);
    event["body"] = json!(body);
    event["headers"]["content-length"] = json!(body.len().to_string());
    for (name, value) in headers {
        event["headers"][name.to_lowercase()] = json!(value);
    }
    event.to_string()
}

//! The command set `register-commands` uploads. Guild-install commands, usable in servers
//! only: statistics are per server.

use twilight_model::application::command::{
    Command, CommandOption, CommandOptionChoice, CommandOptionChoiceValue, CommandOptionType,
    CommandType,
};
use twilight_model::application::interaction::InteractionContextType;
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::oauth::ApplicationIntegrationType;

pub const CALLSTATS: &str = "callstats";
pub const CALLTOP: &str = "calltop";
pub const CALLCONFIG: &str = "callconfig";
/// The user context-menu command (menu names may have spaces and capitals).
pub const USER_MENU: &str = "Call stats";

/// Every command, as Discord's bulk overwrite takes them.
#[must_use]
pub fn definitions() -> Vec<Command> {
    vec![
        callstats(),
        calltop(),
        callconfig(),
        command(CommandType::User, USER_MENU, "", Vec::new()),
    ]
}

fn callstats() -> Command {
    command(
        CommandType::ChatInput,
        CALLSTATS,
        "Voice-call statistics in this server",
        vec![
            subcommand(
                "show",
                "Call stats of a member (yourself by default)",
                vec![
                    user_option("user", "Whose stats (default: yours)"),
                    choice_option(
                        "period",
                        "Which days to count (default: all time)",
                        &[
                            ("last 7 days", "7d"),
                            ("last 30 days", "30d"),
                            ("all time", "all"),
                        ],
                    ),
                    option(
                        CommandOptionType::Boolean,
                        "private",
                        "Only you see the answer",
                    ),
                ],
            ),
            subcommand(
                "history",
                "Recent calls of a member (only you see the answer)",
                vec![user_option("user", "Whose calls (default: yours)")],
            ),
            subcommand(
                "server",
                "This server's voice activity: totals, busiest hours, channels, trend",
                vec![
                    choice_option(
                        "period",
                        "Which days to count (default: last 7 days)",
                        &[
                            ("last 7 days", "7d"),
                            ("last 30 days", "30d"),
                            ("this week", "week"),
                            ("this month", "month"),
                            ("all time", "all"),
                        ],
                    ),
                    option(
                        CommandOptionType::Boolean,
                        "private",
                        "Only you see the answer",
                    ),
                ],
            ),
            subcommand(
                "partners",
                "Who you spend your call time with here (only you see the answer)",
                vec![choice_option(
                    "period",
                    "Which days to count (default: last 30 days)",
                    &[
                        ("last 7 days", "7d"),
                        ("last 30 days", "30d"),
                        ("all time", "all"),
                    ],
                )],
            ),
            subcommand(
                "timezone",
                "Set your timezone for days, heatmaps and streaks",
                vec![CommandOption {
                    required: Some(true),
                    ..timezone_option("zone", "An IANA timezone, like Europe/Berlin")
                }],
            ),
            subcommand(
                "optout",
                "Stop tracking your calls everywhere and leave every leaderboard",
                Vec::new(),
            ),
            subcommand("optin", "Resume tracking your calls", Vec::new()),
            subcommand(
                "export",
                "Get all your call data from every server as a JSON file",
                Vec::new(),
            ),
            subcommand(
                "delete",
                "Permanently delete all your call data in every server",
                Vec::new(),
            ),
        ],
    )
}

fn calltop() -> Command {
    command(
        CommandType::ChatInput,
        CALLTOP,
        "This server's voice leaderboard",
        vec![
            choice_option(
                "period",
                "Which period (default: this week)",
                &[
                    ("this week", "week"),
                    ("this month", "month"),
                    ("all time", "all"),
                ],
            ),
            choice_option(
                "metric",
                "What to rank by (default: active time)",
                &[
                    ("active time (as this server counts it)", "active"),
                    ("total time in calls", "total"),
                ],
            ),
        ],
    )
}

fn callconfig() -> Command {
    Command {
        default_member_permissions: Some(Permissions::MANAGE_GUILD),
        ..command(
            CommandType::ChatInput,
            CALLCONFIG,
            "What counts in this server's call stats (Manage Server)",
            vec![
                option(
                    CommandOptionType::Boolean,
                    "exclude_deafened",
                    "Leave deafened time out of the ranking",
                ),
                option(
                    CommandOptionType::Boolean,
                    "exclude_alone",
                    "Leave time alone in a channel out of the ranking",
                ),
                timezone_option("timezone", "Timezone of this server's weeks and months"),
            ],
        )
    }
}

#[allow(deprecated)] // `dm_permission` is deprecated in favour of `contexts`, which is set
fn command(
    kind: CommandType,
    name: &str,
    description: &str,
    options: Vec<CommandOption>,
) -> Command {
    Command {
        application_id: None,
        contexts: Some(vec![InteractionContextType::Guild]),
        default_member_permissions: None,
        description: description.to_owned(),
        description_localizations: None,
        dm_permission: None,
        guild_id: None,
        id: None,
        integration_types: Some(vec![ApplicationIntegrationType::GuildInstall]),
        kind,
        name: name.to_owned(),
        name_localizations: None,
        nsfw: None,
        options,
        version: Id::new(1),
    }
}

fn option(kind: CommandOptionType, name: &str, description: &str) -> CommandOption {
    CommandOption {
        autocomplete: None,
        channel_types: None,
        choices: None,
        description: description.to_owned(),
        description_localizations: None,
        kind,
        max_length: None,
        max_value: None,
        min_length: None,
        min_value: None,
        name: name.to_owned(),
        name_localizations: None,
        options: None,
        file_types: None,
        required: None,
    }
}

fn subcommand(name: &str, description: &str, options: Vec<CommandOption>) -> CommandOption {
    CommandOption {
        options: Some(options),
        ..option(CommandOptionType::SubCommand, name, description)
    }
}

fn timezone_option(name: &str, description: &str) -> CommandOption {
    CommandOption {
        autocomplete: Some(true),
        max_length: Some(64),
        ..option(CommandOptionType::String, name, description)
    }
}

fn user_option(name: &str, description: &str) -> CommandOption {
    option(CommandOptionType::User, name, description)
}

fn choice_option(name: &str, description: &str, choices: &[(&str, &str)]) -> CommandOption {
    CommandOption {
        choices: Some(
            choices
                .iter()
                .map(|(label, value)| CommandOptionChoice {
                    name: (*label).to_owned(),
                    name_localizations: None,
                    value: CommandOptionChoiceValue::String((*value).to_owned()),
                })
                .collect(),
        ),
        ..option(CommandOptionType::String, name, description)
    }
}

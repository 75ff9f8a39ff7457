//! `/callconfig [exclude_deafened] [exclude_alone] [timezone]`: what the guild's ranking
//! metric leaves out, and the timezone of its weeks and months. Without options it shows the
//! settings; changing them needs Manage Server. Discord hides the command from members
//! without that permission (its default), and the endpoint checks again, in case an admin
//! opened the command to others in the server's integration settings: viewing is then
//! allowed, changing is not.

use twilight_model::guild::Permissions;

use callstats_core::{GuildConfig, RankingRule};

use super::Options;
use crate::context::App;
use crate::error::{Failure, Notice};
use crate::interaction::Ctx;
use crate::render::settings::guild_config;
use crate::reply::{Message, Reply};
use crate::zones::parse_zone;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigArgs {
    pub exclude_deafened: Option<bool>,
    pub exclude_alone: Option<bool>,
    pub timezone: Option<String>,
}

impl ConfigArgs {
    fn changes_something(&self) -> bool {
        self.exclude_deafened.is_some() || self.exclude_alone.is_some() || self.timezone.is_some()
    }
}

pub fn parse(options: &Options<'_>) -> Result<ConfigArgs, Notice> {
    Ok(ConfigArgs {
        exclude_deafened: options.boolean("exclude_deafened")?,
        exclude_alone: options.boolean("exclude_alone")?,
        timezone: options.string("timezone")?.map(str::to_owned),
    })
}

/// Whether the member may change the guild's settings.
#[must_use]
pub fn may_manage(permissions: Option<Permissions>) -> bool {
    permissions.is_some_and(|p| {
        p.contains(Permissions::MANAGE_GUILD) || p.contains(Permissions::ADMINISTRATOR)
    })
}

pub async fn run(app: &App, ctx: &Ctx, args: ConfigArgs) -> Result<Reply, Failure> {
    let guild = ctx.guild()?;
    let store = app.store();
    let current = store.guild_config(guild).await?;
    if !args.changes_something() {
        return Ok(Reply::Message(
            Message::embed(guild_config(&current, false)).ephemeral(),
        ));
    }
    if !may_manage(ctx.permissions) {
        return Err(Notice::NeedsManageServer.into());
    }
    let timezone = match &args.timezone {
        Some(name) => parse_zone(name)?,
        None => current.timezone,
    };
    let config = GuildConfig {
        rule: RankingRule {
            exclude_deafened: args
                .exclude_deafened
                .unwrap_or(current.rule.exclude_deafened),
            exclude_alone: args.exclude_alone.unwrap_or(current.rule.exclude_alone),
        },
        timezone,
    };
    store.set_guild_config(guild, &config).await?;
    tracing::info!(?config, "guild settings changed");
    Ok(Reply::Message(
        Message::embed(guild_config(&config, true)).ephemeral(),
    ))
}

//! `register-commands`: replaces the application's whole command set in one bulk overwrite,
//! globally or (with `--guild`, for testing: instant) in one guild.

use callstats_core::GuildId;

use crate::commands::definitions;
use crate::config::RegisterConfig;
use crate::rest;

/// Why registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Discord refused the request or could not be reached.
    #[error("discord refused the command set: {0}")]
    Rest(#[from] twilight_http::Error),
}

/// Uploads [`definitions()`]; returns how many commands were registered.
pub async fn register_commands(
    config: &RegisterConfig,
    guild: Option<GuildId>,
) -> Result<usize, RegisterError> {
    let client = rest::client(&config.api_base, Some(&config.token));
    let interactions = client.interaction(config.application_id);
    let commands = definitions();
    let response = match guild {
        Some(guild) => interactions.set_guild_commands(guild, &commands).await?,
        None => interactions.set_global_commands(&commands).await?,
    };
    tracing::info!(
        status = response.status().get(),
        commands = commands.len(),
        guild = guild.map(GuildId::get),
        "registered commands"
    );
    Ok(commands.len())
}

//! Discord's REST API, through twilight-http, at the configured base (`DISCORD_API_BASE`).
//!
//! No in-process rate limiter: on Lambda its state would not survive between invocations,
//! and this program makes one call per interaction at most. Discord's 429s come back as
//! errors and are logged.

use std::time::Duration;

use callstats_core::ids::ApplicationId;
use twilight_model::http::attachment::Attachment;

use crate::config::ApiBase;
use crate::error::Internal;
use crate::interaction::Token;
use crate::reply::Message;
use callstats_runtime::Token as BotToken;

/// A client for `api`, with a bot token for application routes (not needed for
/// interaction webhooks, which the interaction token authorises).
#[must_use]
pub fn client(api: &ApiBase, token: Option<&BotToken>) -> twilight_http::Client {
    callstats_runtime::install_crypto_provider();
    let mut builder = twilight_http::Client::builder()
        .timeout(Duration::from_secs(10))
        .ratelimiter(None);
    if let Some(token) = token {
        builder = builder.token(token.expose().to_owned());
    }
    if *api != ApiBase::default() {
        builder = builder.proxy(api.host.clone(), api.use_http);
    }
    builder.build()
}

/// Replaces the original response of an interaction (`PATCH
/// /webhooks/{application}/{token}/messages/@original`) with `message`, files included.
pub async fn edit_original(
    client: &twilight_http::Client,
    application: ApplicationId,
    token: &Token,
    message: &Message,
) -> Result<(), Internal> {
    let payload =
        serde_json::to_vec(&message.edit_data()).map_err(|e| Internal::Encode(e.to_string()))?;
    let attachments: Vec<Attachment> = message
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| Attachment {
            description: f.description.clone(),
            duration_secs: None,
            file: f.bytes.clone(),
            filename: f.name.clone(),
            id: i as u64,
            is_spoiler: None,
            title: None,
            waveform: None,
        })
        .collect();
    client
        .interaction(application)
        .update_response(token.expose())
        .payload_json(&payload)
        .attachments(&attachments)
        .await
        .map_err(|e| Internal::Rest(e.to_string()))?;
    Ok(())
}

//! `/callstats optout`, `/callstats optin`, `/callstats delete` (with its buttons) and
//! `/callstats export`: everything a user controls about their own data, in every server.
//!
//! Export and delete read or remove the whole partition of the user. When it holds more than
//! [`INLINE_ITEMS`] items (one cheap count query decides), the reply is deferred and the work
//! finishes in the background (see [`crate::background`]); otherwise the answer comes at once.

use callstats_core::UserId;
use callstats_store::EndOutcome;

use crate::answer::Answer;
use crate::background::{Job, Ticket};
use crate::context::App;
use crate::error::Failure;
use crate::interaction::Ctx;
use crate::render::{export, privacy};
use crate::reply::{File, Message, Reply};

/// Largest partition exported or deleted while Discord waits: about a hundred days of calls
/// in one server (a day item holds the day's sessions, half hours and partners). Deleting is
/// one batch write per 25 items plus one update per partner entry of those days; this much
/// finishes well inside a second on DynamoDB.
pub const INLINE_ITEMS: usize = 100;

/// Opting out, in the order that keeps every step safe to repeat: the flag first (the store
/// refuses new sessions from then on), then calls in progress end now, then every item leaves
/// the server figures and leaderboards.
pub async fn optout(app: &App, ctx: &Ctx) -> Result<Reply, Failure> {
    let user = ctx.invoker.id;
    let store = app.store();
    store.set_opted_out(user, true, ctx.now).await?;
    let mut ended = 0;
    for session in store.open_sessions_of_user(user).await? {
        let config = store.guild_config(session.guild).await?;
        let closed = session.close(ctx.now, config.timezone, false);
        if matches!(
            store.end_session(&closed, &config).await?,
            EndOutcome::Ended(_)
        ) {
            ended += 1;
        }
    }
    let hidden = store.set_listed(user, false, ctx.now).await?;
    tracing::info!(ended, hidden, "opted out");
    Ok(Reply::Message(
        Message::embed(privacy::opted_out(ended)).ephemeral(),
    ))
}

pub async fn optin(app: &App, ctx: &Ctx) -> Result<Reply, Failure> {
    let user = ctx.invoker.id;
    let store = app.store();
    store.set_opted_out(user, false, ctx.now).await?;
    let shown = store.set_listed(user, true, ctx.now).await?;
    tracing::info!(shown, "opted in");
    Ok(Reply::Message(
        Message::embed(privacy::opted_in()).ephemeral(),
    ))
}

/// The question; nothing is deleted until the invoker presses Delete.
#[must_use]
pub fn delete(ctx: &Ctx) -> Reply {
    Reply::Message(privacy::delete_confirmation(ctx.invoker.id).ephemeral())
}

/// The answer to the question (the button's owner was checked by the caller).
pub async fn delete_answered(app: &App, ctx: &Ctx, confirm: bool) -> Result<Answer, Failure> {
    if !confirm {
        return Ok(Reply::Update(privacy::delete_cancelled()).into());
    }
    let user = ctx.invoker.id;
    if small(app, user).await? {
        return Ok(Reply::Update(delete_job(app, user).await?).into());
    }
    Ok(Answer::Later {
        ticket: ticket(ctx, Job::Delete { user }),
        ack: Reply::DeferredUpdate,
    })
}

pub async fn export(app: &App, ctx: &Ctx) -> Result<Answer, Failure> {
    let user = ctx.invoker.id;
    if small(app, user).await? {
        return Ok(Reply::Message(export_job(app, user).await?.ephemeral()).into());
    }
    Ok(Answer::Later {
        ticket: ticket(ctx, Job::Export { user }),
        ack: Reply::Deferred { ephemeral: true },
    })
}

fn ticket(ctx: &Ctx, job: Job) -> Ticket {
    Ticket {
        job,
        application: ctx.application,
        token: ctx.token.clone(),
    }
}

async fn small(app: &App, user: UserId) -> Result<bool, Failure> {
    let items = app.store().user_item_count(user, INLINE_ITEMS + 1).await?;
    Ok(items <= INLINE_ITEMS)
}

/// Deletes everything of `user` and returns the message that reports it. The partner sweep
/// runs again a minute later in the background, for ends that were in flight.
pub async fn delete_job(app: &App, user: UserId) -> Result<Message, Failure> {
    let store = app.job_store();
    let (report, sweep) = store.delete_user(user, app.now()).await?;
    let settings = store.user_settings(user).await?;
    tracing::info!(
        items = report.items(),
        partners = report.partner_entries,
        "deleted a user's data"
    );
    let again = store.clone();
    tokio::spawn(async move {
        tokio::time::sleep(SWEEP_AGAIN_AFTER).await;
        match again.sweep_partners(&sweep).await {
            Ok(removed) => tracing::info!(removed, "second partner sweep done"),
            Err(err) => tracing::error!(cause = %err, "second partner sweep failed"),
        }
    });
    Ok(privacy::deleted(&report, settings.opted_out))
}

/// When the partner sweep of a deletion runs again: longer than any end's read-to-write.
pub const SWEEP_AGAIN_AFTER: std::time::Duration = std::time::Duration::from_mins(1);

/// Exports everything of `user` as a JSON attachment.
pub async fn export_job(app: &App, user: UserId) -> Result<Message, Failure> {
    let data = app.job_store().export_user(user).await?;
    let document = export::document(user, &data, app.now());
    let bytes =
        export::to_json(&document).map_err(|e| crate::error::Internal::Encode(e.to_string()))?;
    let sessions = data
        .guilds
        .values()
        .flat_map(|g| &g.days)
        .map(|(_, d)| d.ended.len())
        .sum();
    tracing::info!(sessions, bytes = bytes.len(), "exported a user's data");
    let mut message = Message::embed(privacy::exported(sessions, data.guilds.len()));
    message.files.push(File {
        name: export::file_name(user),
        content_type: "application/json",
        description: Some("All your callstats data".into()),
        bytes,
    });
    Ok(message)
}

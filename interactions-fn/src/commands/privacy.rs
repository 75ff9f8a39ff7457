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

/// Opting out: the flag first, inline (the store refuses new sessions from then on); then, in
/// the order that keeps every step safe to repeat, calls in progress end at that instant and
/// every item leaves the server figures and leaderboards. When the reply deadline would cut
/// those short, they finish in the background and the reply says so when they are done.
pub async fn optout(app: &App, ctx: &Ctx) -> Result<Answer, Failure> {
    let user = ctx.invoker.id;
    app.store().set_opted_out(user, true, ctx.now).await?;
    inline_or_later(app, ctx, user, true).await
}

/// Opting in: the flag, then every item back in the server figures and leaderboards.
pub async fn optin(app: &App, ctx: &Ctx) -> Result<Answer, Failure> {
    let user = ctx.invoker.id;
    app.store().set_opted_out(user, false, ctx.now).await?;
    inline_or_later(app, ctx, user, false).await
}

async fn inline_or_later(
    app: &App,
    ctx: &Ctx,
    user: UserId,
    opted_out: bool,
) -> Result<Answer, Failure> {
    let work = finish_privacy(app.store(), user, opted_out, ctx.now);
    if let Ok(message) = tokio::time::timeout(app.inline_budget(), work).await {
        return Ok(Reply::Message(message?.ephemeral()).into());
    }
    tracing::info!(opted_out, "privacy change continues in the background");
    Ok(Answer::Later {
        ticket: ticket(
            ctx,
            Job::Privacy {
                user,
                opted_out,
                at: ctx.now,
            },
        ),
        ack: Reply::Deferred { ephemeral: true },
    })
}

/// Everything after the flag of an opt-out (or opt-in) made at `at`; safe to run again.
pub async fn finish_privacy(
    store: &callstats_store::Store,
    user: UserId,
    opted_out: bool,
    at: callstats_core::Timestamp,
) -> Result<Message, Failure> {
    if !opted_out {
        let shown = store.set_listed(user, true, at).await?;
        tracing::info!(shown, "opted in");
        return Ok(Message::embed(privacy::opted_in()));
    }
    let mut ended = 0;
    for session in store.open_sessions_of_user(user).await? {
        let config = store.guild_config(session.guild).await?;
        let closed = session.close(at, config.timezone, false);
        if matches!(
            store.end_session(&closed, &config).await?,
            EndOutcome::Ended(_)
        ) {
            ended += 1;
        }
    }
    let hidden = store.set_listed(user, false, at).await?;
    tracing::info!(ended, hidden, "opted out");
    Ok(Message::embed(privacy::opted_out(ended)))
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
    if let Some(at) = app.store().member_state(user).await?.deleted_at
        && ctx.now < at.plus(DELETE_EVERY_SECS)
    {
        return Ok(Reply::Update(privacy::delete_cooldown(at, at.plus(DELETE_EVERY_SECS))).into());
    }
    let delete = ticket(ctx, Job::Delete { user });
    if small(app, user).await? {
        let (message, then) = delete_job(app, user, &delete).await?;
        return Ok(Answer::NowThen {
            reply: Reply::Update(message),
            then,
        });
    }
    Ok(Answer::Later {
        ticket: delete,
        ack: Reply::DeferredUpdate,
    })
}

pub async fn export(app: &App, ctx: &Ctx) -> Result<Answer, Failure> {
    let user = ctx.invoker.id;
    if let Err(next) = app
        .store()
        .claim_export(user, ctx.now, EXPORT_EVERY_SECS)
        .await?
    {
        return Ok(
            Reply::Message(Message::embed(privacy::export_cooldown(next)).ephemeral()).into(),
        );
    }
    let limit = ctx.attachment_limit;
    if small(app, user).await? {
        return Ok(Reply::Message(export_job(app, user, limit).await?.ephemeral()).into());
    }
    Ok(Answer::Later {
        ticket: ticket(ctx, Job::Export { user, limit }),
        ack: Reply::Deferred { ephemeral: true },
    })
}

/// One export per member per quarter of an hour: an export reads every item they have.
pub const EXPORT_EVERY_SECS: u64 = 15 * 60;
/// A deletion is idempotent, but not free: one per member per five minutes.
pub const DELETE_EVERY_SECS: u64 = 5 * 60;

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

/// Deletes everything of `user` and returns the message that reports it, with the job that
/// sweeps partner lists again once ends that were in flight have landed (`origin`: the
/// deletion's own ticket).
pub async fn delete_job(
    app: &App,
    user: UserId,
    origin: &Ticket,
) -> Result<(Message, Ticket), Failure> {
    let store = app.job_store();
    let now = app.now();
    let (report, sweep) = store.delete_user(user, now).await?;
    let settings = store.user_settings(user).await?;
    tracing::info!(
        items = report.items(),
        partners = report.partner_entries,
        "deleted a user's data"
    );
    let again = Ticket {
        job: Job::Sweep {
            sweep,
            not_before: now.plus(app.sweep_after().as_secs()),
        },
        ..origin.clone()
    };
    Ok((privacy::deleted(&report, settings.opted_out), again))
}

/// The second partner sweep of a deletion, once `not_before` has passed.
pub async fn sweep_again(
    app: &App,
    sweep: &callstats_store::PartnerSweep,
    not_before: callstats_core::Timestamp,
) -> Result<(), Failure> {
    let wait = app.now().secs_until(not_before);
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    let removed = app.job_store().sweep_partners(sweep).await?;
    tracing::info!(removed, "second partner sweep done");
    Ok(())
}

/// Exports everything of `user` as a JSON attachment of at most `limit` bytes (compressed,
/// or compressed and in parts, when it is bigger).
pub async fn export_job(app: &App, user: UserId, limit: u64) -> Result<Message, Failure> {
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
    let size = bytes.len();
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let packed = match export::pack(bytes, limit) {
        Ok(packed) => packed,
        Err(too_large) => {
            tracing::warn!(sessions, size, error = %too_large, "export too large for Discord");
            return Ok(Message::embed(privacy::export_too_large(sessions)));
        }
    };
    let name = export::file_name(user);
    let (files, packing) = match packed {
        export::Packed::Plain(bytes) => (
            vec![file(name, "application/json", bytes)],
            privacy::Packing::Plain,
        ),
        export::Packed::Gzip(bytes) => (
            vec![file(format!("{name}.gz"), "application/gzip", bytes)],
            privacy::Packing::Gzip,
        ),
        export::Packed::Parts(parts) => {
            let count = parts.len();
            (
                parts
                    .into_iter()
                    .enumerate()
                    .map(|(i, bytes)| {
                        file(
                            format!("{name}.gz.{:03}", i + 1),
                            "application/octet-stream",
                            bytes,
                        )
                    })
                    .collect(),
                privacy::Packing::Parts(count),
            )
        }
    };
    tracing::info!(
        sessions,
        bytes = size,
        files = files.len(),
        "exported a user's data"
    );
    let mut message = Message::embed(privacy::exported(sessions, data.guilds.len(), packing));
    message.files = files;
    Ok(message)
}

fn file(name: String, content_type: &'static str, bytes: Vec<u8>) -> File {
    File {
        name,
        content_type,
        description: Some("All your callstats data".into()),
        bytes,
    }
}

//! Work that may not finish inside Discord's 3 seconds (exporting or deleting a long
//! history). The interaction is answered "deferred" at once; the work finishes elsewhere and
//! its result replaces the original response through the interaction webhook (the token is
//! good for 15 minutes).
//!
//! Where the work runs:
//! - `serve`: a task in this process ([`Background::tasks`]); shutdown waits for them;
//! - Lambda: the function invokes itself asynchronously (`Invoke` with
//!   `InvocationType=Event`, [`Background::self_invoke`]) with a job event, because a
//!   Lambda environment is frozen as soon as a response is returned. The job event has
//!   `routeKey` [`JOB_ROUTE`]: Lambda sets `$default` on every Function URL request, so only a
//!   caller allowed to invoke the function directly (the function itself, by its IAM role)
//!   can start a job.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::task::JoinSet;

use callstats_core::UserId;
use callstats_core::ids::ApplicationId;

use crate::error::Internal;
use crate::interaction::Token;

/// The `routeKey` of job events (Function URL requests always carry `$default`).
pub const JOB_ROUTE: &str = "callstats-job";

/// What to finish in the background.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Export all of the user's data and attach it to the original response, in attachments
    /// of at most `limit` bytes.
    Export {
        user: UserId,
        #[serde(default = "default_limit")]
        limit: u64,
    },
    /// Delete all of the user's data and report it in the original response.
    Delete { user: UserId },
    /// Read a big server's figures for `/callstats server`.
    Server {
        guild: callstats_core::GuildId,
        args: crate::commands::server::ServerArgs,
    },
    /// Finish an opt-out or opt-in the reply deadline cut short (every step is idempotent).
    Privacy {
        user: UserId,
        opted_out: bool,
        at: callstats_core::Timestamp,
    },
    /// Sweep a deleted member out of partner lists again, once ends in flight have landed;
    /// edits nothing.
    Sweep {
        sweep: callstats_store::PartnerSweep,
        not_before: callstats_core::Timestamp,
    },
}

impl Job {
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Export { .. } => "export",
            Self::Delete { .. } => "delete",
            Self::Server { .. } => "server",
            Self::Privacy {
                opted_out: true, ..
            } => "optout",
            Self::Privacy {
                opted_out: false, ..
            } => "optin",
            Self::Sweep { .. } => "sweep",
        }
    }
}

const fn default_limit() -> u64 {
    crate::interaction::DEFAULT_ATTACHMENT_LIMIT
}

/// A job and the interaction whose original response receives its result.
#[derive(Clone, Serialize, Deserialize)]
pub struct Ticket {
    pub job: Job,
    pub application: ApplicationId,
    #[serde(with = "token_serde")]
    pub token: Token,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("job", &self.job)
            .field("application", &self.application)
            .finish_non_exhaustive()
    }
}

mod token_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::interaction::Token;

    pub fn serialize<S: Serializer>(token: &Token, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(token.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Token, D::Error> {
        String::deserialize(d).map(Token::new)
    }
}

/// The Function URL-shaped event that carries `ticket` to the function itself.
#[must_use]
pub fn job_event(ticket: &Ticket) -> serde_json::Value {
    let body = serde_json::to_string(ticket).unwrap_or_default();
    json!({
        "version": "2.0",
        "routeKey": JOB_ROUTE,
        "rawPath": "/job",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "self",
            "apiId": "self",
            "domainName": "self",
            "domainPrefix": "self",
            "http": {
                "method": "POST",
                "path": "/job",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "callstats-interactions"
            },
            "requestId": "job",
            "routeKey": JOB_ROUTE,
            "stage": "$default",
            "time": "",
            "timeEpoch": 0
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// Where background work runs.
#[derive(Clone)]
pub enum Background {
    /// Tasks in this process (`serve`).
    Tasks(Arc<Mutex<JoinSet<()>>>),
    /// Asynchronous invocations of this Lambda function.
    SelfInvoke {
        client: aws_sdk_lambda::Client,
        function: String,
    },
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tasks(_) => f.write_str("Background::Tasks"),
            Self::SelfInvoke { function, .. } => {
                write!(f, "Background::SelfInvoke({function})")
            }
        }
    }
}

impl Background {
    #[must_use]
    pub fn tasks() -> Self {
        Self::Tasks(Arc::new(Mutex::new(JoinSet::new())))
    }

    /// Invokes `function` (this function's own name) through the standard AWS settings
    /// (`AWS_ENDPOINT_URL_LAMBDA` overrides the endpoint).
    pub async fn self_invoke(function: String) -> Self {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http_client)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(1))
                    .operation_timeout(Duration::from_secs(2))
                    .build(),
            )
            .load()
            .await;
        Self::SelfInvoke {
            client: aws_sdk_lambda::Client::new(&config),
            function,
        }
    }

    /// Starts `work` in a task (`serve`), or hands `ticket` to a new invocation (Lambda).
    pub(crate) async fn start<F>(&self, ticket: &Ticket, work: F) -> Result<(), Internal>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match self {
            Self::Tasks(tasks) => {
                let mut tasks = tasks
                    .lock()
                    .map_err(|_| Internal::Background("task list poisoned".into()))?;
                while tasks.try_join_next().is_some() {}
                tasks.spawn(work);
                Ok(())
            }
            Self::SelfInvoke { client, function } => {
                let payload = serde_json::to_vec(&job_event(ticket))
                    .map_err(|e| Internal::Encode(e.to_string()))?;
                client
                    .invoke()
                    .function_name(function)
                    .invocation_type(InvocationType::Event)
                    .payload(Blob::new(payload))
                    .send()
                    .await
                    .map_err(|e| {
                        Internal::Background(
                            aws_sdk_lambda::error::DisplayErrorContext(&e).to_string(),
                        )
                    })?;
                Ok(())
            }
        }
    }

    /// Waits up to `limit` for background tasks to finish (at shutdown of `serve`).
    pub async fn drain(&self, limit: Duration) {
        let Self::Tasks(tasks) = self else {
            return;
        };
        let mut set = match tasks.lock() {
            Ok(mut guard) => std::mem::take(&mut *guard),
            Err(_) => return,
        };
        let all = async { while set.join_next().await.is_some() {} };
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!("background work still running at shutdown");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    use twilight_model::id::Id;

    #[test]
    fn job_events_parse_as_function_url_events_with_the_job_route() {
        let ticket = Ticket {
            job: Job::Delete { user: Id::new(5) },
            application: Id::new(6),
            token: Token::new("secret".into()),
        };
        let event = job_event(&ticket).to_string();
        let request = lambda_http::request::from_str(&event).unwrap();
        let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
            panic!("not a v2 event");
        };
        assert_eq!(context.route_key.as_deref(), Some(JOB_ROUTE));
        let lambda_http::Body::Text(body) = request.body() else {
            panic!("text body");
        };
        let back: Ticket = serde_json::from_str(body).unwrap();
        assert_eq!(back.job, ticket.job);
        assert_eq!(back.token.expose(), "secret");
        assert!(!format!("{back:?}").contains("secret"));
    }
}

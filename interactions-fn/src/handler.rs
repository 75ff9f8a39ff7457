//! The one handler both front ends share: a raw HTTP request in, an HTTP response out.
//!
//! Order matters: the method, then the signature over the raw bytes, then the `type`, and
//! only then the full JSON. Refusals: 405 (not POST), 413 (body over 1 MiB, never from
//! Discord), 401 (any signature or timestamp problem), 400 (verified but not an interaction).
//! Everything after that is a 200 with a Discord reply, failures included.

use bytes::Bytes;
use http::{Method, StatusCode};
use tracing::Instrument;

use crate::context::App;
use crate::dispatch;
use crate::error::{APOLOGY, Failure, Internal};
use crate::interaction::{self, Incoming};
use crate::reply::{Reply, json_response, text_response};
use crate::verify::{self, MAX_SKEW_SECS};

/// Largest body accepted. Discord's interactions are a few kilobytes.
pub const MAX_BODY: usize = 1024 * 1024;

impl App {
    /// Answers one HTTP request.
    pub async fn handle(&self, request: http::Request<Bytes>) -> http::Response<Bytes> {
        let (parts, body) = request.into_parts();
        if parts.method != Method::POST {
            return text_response(StatusCode::METHOD_NOT_ALLOWED, "only POST is accepted");
        }
        if body.len() > MAX_BODY {
            return text_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        let now = self.now();
        if let Err(reason) =
            verify::verify(&parts.headers, &body, now, MAX_SKEW_SECS, self.public_key())
        {
            tracing::info!(%reason, "refused a request");
            return text_response(StatusCode::UNAUTHORIZED, "invalid request signature");
        }
        match interaction::peek_type(&body) {
            Ok(1) => return encode(Reply::Pong),
            Ok(_) => {}
            Err(err) => return malformed(&err),
        }
        let incoming = match interaction::parse(&body, now) {
            Ok(incoming) => incoming,
            Err(err) => return malformed(&err),
        };
        let span = tracing::info_span!(
            "interaction",
            id = %incoming.ctx().id,
            guild = incoming.ctx().guild.map(callstats_core::GuildId::get),
            user = incoming.ctx().invoker.id.get(),
        );
        let reply = self.answer(incoming).instrument(span).await;
        encode(reply)
    }

    /// The reply to a parsed interaction, failures included, within the deadline.
    async fn answer(&self, incoming: Incoming) -> Reply {
        let started = std::time::Instant::now();
        let deadline = self.deadline();
        let result =
            match tokio::time::timeout(deadline, dispatch::interaction(self, &incoming)).await {
                Ok(result) => result,
                Err(_) => Err(Failure::Internal(Internal::Deadline(deadline))),
            };
        let reply = result.unwrap_or_else(Failure::into_reply);
        tracing::info!(elapsed_ms = started.elapsed().as_millis(), "answered");
        reply
    }
}

fn malformed(err: &interaction::Malformed) -> http::Response<Bytes> {
    tracing::info!(cause = %err, "refused a malformed interaction");
    text_response(StatusCode::BAD_REQUEST, "malformed interaction")
}

/// The HTTP response for a reply. Encoding cannot really fail; if it ever did, the user
/// still gets the apology rather than a 500.
fn encode(reply: Reply) -> http::Response<Bytes> {
    reply.into_http().unwrap_or_else(|err| {
        tracing::error!(cause = %err, "could not encode a reply");
        let apology = serde_json::json!({
            "type": 4,
            "data": {"content": APOLOGY, "flags": 64, "allowed_mentions": {"parse": []}}
        });
        json_response(StatusCode::OK, Bytes::from(apology.to_string()))
    })
}

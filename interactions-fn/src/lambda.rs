//! The AWS Lambda front end: Function URL events (the API Gateway v2 HTTP payload) to the
//! shared handler and back.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response, service_fn};

use crate::background::{JOB_ROUTE, Ticket};
use crate::context::App;

/// A job this function sent itself (see [`crate::background`]).
async fn run_job(app: &App, body: &[u8]) -> Response<Body> {
    let status = match serde_json::from_slice::<Ticket>(body) {
        Ok(ticket) => {
            crate::dispatch::run_job(app, ticket).await;
            http::StatusCode::OK
        }
        Err(err) => {
            tracing::error!(cause = %err, "malformed job event");
            http::StatusCode::BAD_REQUEST
        }
    };
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}

/// Polls the Lambda Runtime API for events until the runtime stops.
pub async fn run(app: App) -> Result<(), lambda_http::Error> {
    lambda_http::run(service_fn(move |request: Request| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(handle(&app, request).await) }
    }))
    .await
}

/// One event: the raw body bytes go to the handler exactly as they arrived (the signature is
/// over them), and binary replies (multipart) go back base64-encoded.
pub async fn handle(app: &App, request: Request) -> Response<Body> {
    let job = matches!(
        request.request_context_ref(),
        Some(RequestContext::ApiGatewayV2(c)) if c.route_key.as_deref() == Some(JOB_ROUTE)
    );
    let (parts, body) = request.into_parts();
    let bytes = match body {
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    if job {
        return run_job(app, &bytes).await;
    }
    let response = app.handle(http::Request::from_parts(parts, bytes)).await;
    let textual = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/"));
    response.map(|bytes| {
        if textual {
            match String::from_utf8(bytes.to_vec()) {
                Ok(text) => Body::Text(text),
                Err(err) => Body::Binary(err.into_bytes()),
            }
        } else {
            Body::Binary(bytes.to_vec())
        }
    })
}

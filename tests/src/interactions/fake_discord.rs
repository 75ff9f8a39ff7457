//! A local stand-in for Discord's REST API that records what the endpoint sends Discord.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use callstats_devkit::Reply;
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::spawn_http;

/// A request as a fake server received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    #[must_use]
    pub fn json(&self) -> Value {
        let content_type = self
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        Reply::parse(content_type, &self.body)
            .unwrap_or_else(|e| panic!("the request is not a message: {e}"))
            .response
    }
}

type Responder = Arc<dyn Fn(&Recorded) -> (StatusCode, String) + Send + Sync>;

/// A local stand-in for Discord's REST API that records every request.
#[derive(Clone)]
pub struct FakeDiscord {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    arrived: Arc<Notify>,
}

impl std::fmt::Debug for FakeDiscord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeDiscord")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeDiscord {
    /// Answers 200 with `[]` for command uploads and `{}` otherwise.
    pub async fn start() -> Self {
        Self::start_with(Arc::new(|r: &Recorded| {
            let body = if r.path.ends_with("/commands") {
                "[]"
            } else {
                "{}"
            };
            (StatusCode::OK, body.to_owned())
        }))
        .await
    }

    pub async fn start_with(responder: Responder) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (reqs, notify) = (requests.clone(), arrived.clone());
        spawn_http(listener, move |req: http::Request<Incoming>| {
            let (reqs, notify, responder) = (reqs.clone(), notify.clone(), responder.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(http_body_util::Collected::to_bytes)
                    .unwrap_or_default();
                let recorded = Recorded {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    headers: parts.headers,
                    body: body.to_vec(),
                };
                let (status, reply) = responder(&recorded);
                reqs.lock().expect("lock").push(recorded);
                notify.notify_waiters();
                let mut response = http::Response::new(Full::new(Bytes::from(reply)));
                *response.status_mut() = status;
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                response
            }
        });
        Self {
            addr,
            requests,
            arrived,
        }
    }

    /// The value for `DISCORD_API_BASE`.
    #[must_use]
    pub fn api_base(&self) -> String {
        format!("http://{}/api/v10", self.addr)
    }

    #[must_use]
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }

    /// Waits (up to a minute) until a request matching `want` has arrived.
    pub async fn wait_for(&self, want: impl Fn(&Recorded) -> bool) -> Recorded {
        self.wait_for_within(Duration::from_mins(1), want).await
    }

    /// Waits up to `limit` until a request matching `want` has arrived.
    pub async fn wait_for_within(
        &self,
        limit: Duration,
        want: impl Fn(&Recorded) -> bool,
    ) -> Recorded {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.arrived.notified();
            if let Some(r) = self.requests().into_iter().find(|r| want(r)) {
                return r;
            }
            assert!(
                tokio::time::timeout_at(deadline, notified).await.is_ok(),
                "no matching request within {limit:?}: {:?}",
                self.requests()
            );
        }
    }
}

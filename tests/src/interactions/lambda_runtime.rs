//! An emulated AWS Lambda Runtime API (and asynchronous Invoke), for the Lambda front end
//! run in a child process.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::spawn_http;

#[derive(Default)]
struct RuntimeState {
    next_id: u64,
    queue: VecDeque<(String, String)>,
    responses: HashMap<String, String>,
    errors: Vec<String>,
    /// Payloads of asynchronous `Invoke` calls (the function invoking itself).
    async_invocations: Vec<String>,
}

/// An emulated AWS Lambda Runtime API, plus the Lambda `Invoke` API's asynchronous
/// (`Event`) mode, which queues the payload as a new invocation of the same function.
#[derive(Clone)]
pub struct LambdaRuntime {
    pub addr: SocketAddr,
    state: Arc<Mutex<RuntimeState>>,
    changed: Arc<Notify>,
}

impl std::fmt::Debug for LambdaRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaRuntime")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl LambdaRuntime {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let runtime = Self {
            addr,
            state: Arc::new(Mutex::new(RuntimeState::default())),
            changed: Arc::new(Notify::new()),
        };
        let rt = runtime.clone();
        spawn_http(listener, move |req: http::Request<Incoming>| {
            let rt = rt.clone();
            async move { rt.route(req).await }
        });
        runtime
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    #[must_use]
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// The value for `AWS_ENDPOINT_URL_LAMBDA`.
    #[must_use]
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn enqueue(&self, event: String) -> String {
        let mut state = self.state.lock().expect("lock");
        state.next_id += 1;
        let id = format!("req-{}", state.next_id);
        state.queue.push_back((id.clone(), event));
        drop(state);
        self.changed.notify_waiters();
        id
    }

    /// Delivers `event` to the function and waits (up to a minute) for its response.
    pub async fn invoke(&self, event: String) -> Value {
        let id = self.enqueue(event);
        let deadline = tokio::time::Instant::now() + Duration::from_mins(1);
        loop {
            let notified = self.changed.notified();
            {
                let state = self.state.lock().expect("lock");
                if let Some(r) = state.responses.get(&id) {
                    return serde_json::from_str(r).expect("response is JSON");
                }
                assert!(
                    state.errors.is_empty(),
                    "function reported errors: {:?}",
                    state.errors
                );
            }
            assert!(
                tokio::time::timeout_at(deadline, notified).await.is_ok(),
                "no response from the function within a minute"
            );
        }
    }

    #[must_use]
    pub fn async_invocations(&self) -> Vec<String> {
        self.state.lock().expect("lock").async_invocations.clone()
    }

    #[must_use]
    pub fn errors(&self) -> Vec<String> {
        self.state.lock().expect("lock").errors.clone()
    }

    async fn route(&self, req: http::Request<Incoming>) -> http::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        let path = parts.uri.path().to_owned();
        let respond = |status: StatusCode, body: String| {
            let mut r = http::Response::new(Full::new(Bytes::from(body)));
            *r.status_mut() = status;
            r
        };
        if path == "/2018-06-01/runtime/invocation/next" {
            loop {
                let notified = self.changed.notified();
                if let Some((id, event)) = self.state.lock().expect("lock").queue.pop_front() {
                    let mut r = respond(StatusCode::OK, event);
                    let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
                    let h = r.headers_mut();
                    h.insert("lambda-runtime-aws-request-id", id.parse().expect("header"));
                    h.insert(
                        "lambda-runtime-deadline-ms",
                        deadline.to_string().parse().expect("header"),
                    );
                    h.insert(
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:eu-central-1:000000000000:function:callstats-interactions"
                            .parse()
                            .expect("header"),
                    );
                    h.insert(
                        "lambda-runtime-trace-id",
                        "Root=1-00000000-000000000000000000000000"
                            .parse()
                            .expect("header"),
                    );
                    h.insert(
                        http::header::CONTENT_TYPE,
                        "application/json".parse().expect("header"),
                    );
                    return r;
                }
                notified.await;
            }
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
            let mut state = self.state.lock().expect("lock");
            if let Some(id) = rest.strip_suffix("/response") {
                state.responses.insert(id.to_owned(), text);
            } else {
                state.errors.push(format!("{rest}: {text}"));
            }
            drop(state);
            self.changed.notify_waiters();
            return respond(StatusCode::ACCEPTED, "{\"status\":\"OK\"}".into());
        }
        if path == "/2018-06-01/runtime/init/error" {
            self.state
                .lock()
                .expect("lock")
                .errors
                .push(format!("init: {text}"));
            self.changed.notify_waiters();
            return respond(StatusCode::ACCEPTED, "{\"status\":\"OK\"}".into());
        }
        if path.starts_with("/2015-03-31/functions/") && path.ends_with("/invocations") {
            let kind = parts
                .headers
                .get("x-amz-invocation-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("RequestResponse")
                .to_owned();
            if kind == "Event" {
                self.state
                    .lock()
                    .expect("lock")
                    .async_invocations
                    .push(text.clone());
                self.enqueue(text);
                return respond(StatusCode::ACCEPTED, String::new());
            }
            return respond(
                StatusCode::BAD_REQUEST,
                "only Event invocations are emulated".into(),
            );
        }
        respond(StatusCode::NOT_FOUND, format!("no route {path}"))
    }
}

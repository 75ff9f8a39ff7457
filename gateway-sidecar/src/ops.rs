//! The operations endpoint: `/healthz` and `/metrics` over plain HTTP/1.1.
//!
//! `/healthz` answers 200 `ok` only when every shard of the process has a live gateway session
//! and the store answers (a `DescribeTable` within two seconds, cached for two seconds so that
//! frequent probes do not become store traffic); otherwise 503 with one line per reason.
//! `/metrics` is the Prometheus text format ([`Metrics::render`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use callstats_store::Store;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;

use crate::metrics::Metrics;

const PING_TIMEOUT: Duration = Duration::from_secs(2);
const PING_CACHE: Duration = Duration::from_secs(2);

/// What the endpoint reads.
#[derive(Debug)]
pub struct Ops {
    metrics: Arc<Metrics>,
    store: Store,
    last_ping: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl Ops {
    #[must_use]
    pub fn new(metrics: Arc<Metrics>, store: Store) -> Self {
        Self {
            metrics,
            store,
            last_ping: Mutex::new(None),
        }
    }

    async fn store_answers(&self) -> Result<(), String> {
        let mut last = self.last_ping.lock().await;
        if let Some((at, result)) = last.as_ref()
            && at.elapsed() < PING_CACHE
        {
            return result.clone();
        }
        let result = match tokio::time::timeout(PING_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(if err.is_retryable() {
                "store unreachable".to_owned()
            } else {
                "store refuses the table".to_owned()
            }),
            Err(_) => Err("store not answering".to_owned()),
        };
        *last = Some((Instant::now(), result.clone()));
        result
    }

    /// The health verdict: `Ok` or the reasons it is not ready.
    pub async fn health(&self) -> Result<(), Vec<String>> {
        let mut reasons: Vec<String> = self
            .metrics
            .shards()
            .into_iter()
            .filter(|(_, s)| !s.connected)
            .map(|(n, _)| format!("shard {n} not connected"))
            .collect();
        if let Err(reason) = self.store_answers().await {
            reasons.push(reason);
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }

    async fn handle(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n".to_owned());
        }
        match request.uri().path() {
            "/healthz" => match self.health().await {
                Ok(()) => text(StatusCode::OK, "ok\n".to_owned()),
                Err(reasons) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {}\n", reasons.join("; ")),
                ),
            },
            "/metrics" => {
                let mut response = text(StatusCode::OK, self.metrics.render(SystemTime::now()));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                response
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n".to_owned()),
        }
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Serves until `stop` turns true.
pub async fn serve(listener: TcpListener, ops: Arc<Ops>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                tracing::warn!(error = %err, "cannot accept an http connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ops = Arc::clone(&ops);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let ops = Arc::clone(&ops);
                async move { Ok::<_, Infallible>(ops.handle(&request).await) }
            });
            if let Err(err) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %err, "http connection ended with an error");
            }
        });
    }
}

//! The `serve` front end over real HTTP on port 0.

use std::net::SocketAddr;

use bytes::Bytes;
use callstats_devkit::Answer;
use callstats_devkit::send::HttpClient;
use callstats_interactions::App;
use tokio::net::TcpListener;

/// Runs `serve` with `app` on 127.0.0.1 port 0; returns the address and a stop switch.
pub async fn serve_on_port_0(
    app: App,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(callstats_interactions::serve::serve(listener, app, async {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

/// An HTTP request to a local server.
pub async fn post(
    addr: SocketAddr,
    method: http::Method,
    path: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Answer {
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        request = request.header(k, v);
    }
    let request = request
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Bytes::from(body))
        .expect("request");
    HttpClient::default()
        .send(request)
        .await
        .expect("the server answers")
}

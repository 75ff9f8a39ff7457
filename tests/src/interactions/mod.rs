//! Signed interactions for the endpoint's tests. Signing, answers and multipart bodies are
//! the development kit's (`callstats-devkit`), as the local client and the benchmarks use
//! them; this module adds what only tests need:
//!
//! - the test key (`[7; 32]`) and its signature headers;
//! - [`Interaction`]: recorded Discord payloads (`tests/fixtures/interactions/`) with the
//!   parts a test cares about changed ([`fixtures`](self::fixtures));
//! - [`Endpoint`]: the handler in process on a fresh table with a fixed clock, fed through
//!   a recorded Lambda Function URL event exactly as Lambda would deliver it; its replies
//!   ([`Answer`]) are checked against Discord's limits on the way in;
//! - [`FakeDiscord`]: a REST server that records what the endpoint sends Discord;
//! - [`LambdaRuntime`]: an emulated Lambda Runtime API (and asynchronous Invoke), for the
//!   Lambda front end run in a child process;
//! - [`serve_on_port_0`] and [`post`]: the `serve` front end over real HTTP;
//! - [`seed`] and its kin: seeding over the store's own session writes, big histories, a
//!   local DynamoDB server of one's own.

mod endpoint;
mod fake_discord;
mod fixtures;
mod lambda_runtime;
mod seed;
mod serve;

use std::convert::Infallible;

use bytes::Bytes;
use callstats_core::Timestamp;
use callstats_devkit::sign;
use ed25519_dalek::SigningKey;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub use callstats_devkit::Answer;
pub use endpoint::Endpoint;
pub use fake_discord::{FakeDiscord, Recorded};
pub use fixtures::{Interaction, function_url_event};
pub use lambda_runtime::LambdaRuntime;
pub use seed::{
    PrivateDynamo, open, partition_keys, patient, seed, seed_end, seed_many, seed_open,
};
pub use serve::{post, serve_on_port_0};

pub const APPLICATION: u64 = 1_180_000_000_000_000_001;
pub const GUILD: u64 = 1_180_000_000_000_000_100;
pub const OTHER_GUILD: u64 = 1_180_000_000_000_000_101;
pub const CHANNEL: u64 = 1_180_000_000_000_000_200;
pub const ADA: u64 = 1_180_000_000_000_000_300;
pub const BOB: u64 = 1_180_000_000_000_000_301;

/// The application's key pair in tests.
#[must_use]
pub fn signing_key() -> SigningKey {
    sign::key_from_seed(7)
}

/// The public key as `DISCORD_PUBLIC_KEY` takes it.
#[must_use]
pub fn public_key_hex() -> String {
    sign::public_key_hex(&signing_key())
}

/// Signature headers for `body` signed at `at` with the test key.
#[must_use]
pub fn signed_headers(at: Timestamp, body: &[u8]) -> Vec<(String, String)> {
    sign::signed_headers(&signing_key(), at.unix(), body)
}

/// A decoded PNG: width, height and RGB bytes. Alpha is dropped: the images are opaque cards
/// but for their rounded corners.
#[must_use]
pub fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    buf.truncate(info.buffer_size());
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf,
        png::ColorType::Rgba => buf
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        other => panic!("an RGB or RGBA image, not {other:?}"),
    };
    (info.width, info.height, rgb)
}

/// Serves HTTP/1.1 on `listener` for as long as the test runs, every request answered by
/// `handle` (the fake servers' shared plumbing).
fn spawn_http<F, A>(listener: TcpListener, handle: F)
where
    F: Fn(http::Request<Incoming>) -> A + Clone + Send + Sync + 'static,
    A: Future<Output = http::Response<Full<Bytes>>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let answer = handle(req);
                    async move { Ok::<_, Infallible>(answer.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

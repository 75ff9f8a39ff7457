//! Sending requests to a local endpoint over plain HTTP: any request ([`HttpClient`]), or an
//! interaction signed as Discord signs it ([`Signer`]). Connections are kept alive, so a
//! benchmark measures the endpoint rather than connection set-up.

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::Value;

use crate::answer::Answer;
use crate::sign::{public_key_hex, signed_headers};

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("bad endpoint URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the interaction is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
}

/// An HTTP/1.1 client for local servers.
#[derive(Clone, Debug)]
pub struct HttpClient {
    http: Client<HttpConnector, Full<Bytes>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self {
            http: Client::builder(hyper_util::rt::TokioExecutor::new()).build_http(),
        }
    }
}

impl HttpClient {
    /// Sends `request` and reads the whole answer, whatever its status.
    pub async fn send(&self, request: http::Request<Bytes>) -> Result<Answer, SendError> {
        let url = request.uri().to_string();
        let unreachable = |reason: String| SendError::Unreachable {
            url: url.clone(),
            reason,
        };
        let response = self
            .http
            .request(request.map(Full::new))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        Ok(Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: body.to_vec(),
        })
    }
}

/// Signs interactions with its key as Discord does and sends them.
#[derive(Clone, Debug)]
pub struct Signer {
    pub key: SigningKey,
    http: HttpClient,
}

impl Signer {
    #[must_use]
    pub fn new(key: SigningKey) -> Self {
        Self {
            key,
            http: HttpClient::default(),
        }
    }

    /// The public key, for the endpoint's `DISCORD_PUBLIC_KEY`.
    #[must_use]
    pub fn public_hex(&self) -> String {
        public_key_hex(&self.key)
    }

    /// The POST of `interaction` to `url`, signed at the current second.
    pub fn request(
        &self,
        url: &str,
        interaction: &Value,
    ) -> Result<http::Request<Bytes>, SendError> {
        let body = serde_json::to_vec(interaction)?;
        let mut request = http::Request::post(url).header("content-type", "application/json");
        for (name, value) in signed_headers(&self.key, chrono::Utc::now().timestamp(), &body) {
            request = request.header(name, value);
        }
        request
            .body(Bytes::from(body))
            .map_err(|e| SendError::BadUrl {
                url: url.to_owned(),
                reason: e.to_string(),
            })
    }

    /// POSTs `interaction` to `url`, signed at the current second.
    pub async fn send(&self, url: &str, interaction: &Value) -> Result<Answer, SendError> {
        self.http.send(self.request(url, interaction)?).await
    }
}

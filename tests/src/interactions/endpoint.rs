//! The endpoint in process, on a fresh table with a fixed clock, fed through a recorded
//! Lambda Function URL event exactly as Lambda would deliver it.

use std::sync::Arc;
use std::time::Duration;

use callstats_core::Timestamp;
use callstats_devkit::Answer;
use callstats_interactions::App;
use callstats_interactions::config::ApiBase;
use callstats_store::Store;

use super::{FakeDiscord, Interaction, function_url_event, patient, signed_headers, signing_key};

/// The endpoint in process, on a fresh table, with a fixed clock.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub app: App,
    pub store: Store,
    pub now: Timestamp,
}

impl Endpoint {
    pub async fn new(now: Timestamp) -> Self {
        Self::with_store(crate::dynamo::fresh_store().await, now)
    }

    #[must_use]
    pub fn with_store(store: Store, now: Timestamp) -> Self {
        Self::build(store, now, None)
    }

    /// On `store`, with follow-up edits going to `rest`.
    #[must_use]
    pub fn with_rest(store: Store, now: Timestamp, rest: &FakeDiscord) -> Self {
        let api = ApiBase::parse(&rest.api_base()).expect("fake API base");
        Self::build(store, now, Some(api))
    }

    #[must_use]
    pub fn build(store: Store, now: Timestamp, api: Option<ApiBase>) -> Self {
        let mut builder = App::builder(store.clone(), signing_key().verifying_key())
            .clock(Arc::new(callstats_runtime::ManualClock::new(now)))
            .job_store(patient(&store))
            // The local server is single-threaded and shared by parallel tests: give it
            // time rather than answer with an apology.
            .deadline(Duration::from_mins(1))
            // A deletion's second partner sweep runs at once: nothing is in flight here.
            .sweep_after(Duration::ZERO);
        if let Some(api) = api {
            builder = builder.api_base(api);
        }
        Self {
            app: builder.build(),
            store,
            now,
        }
    }

    /// Sends `interaction` signed at the endpoint's "now"; checks the reply's limits.
    pub async fn send(&self, interaction: &Interaction) -> Answer {
        let body = interaction.body();
        let answer = self
            .send_raw(&body, &signed_headers(self.now, body.as_bytes()))
            .await;
        if answer.status == 200 {
            answer.assert_valid();
        }
        answer
    }

    /// Sends `body` with `headers` through a Function URL event and the Lambda front end.
    pub async fn send_raw(&self, body: &str, headers: &[(String, String)]) -> Answer {
        let event = function_url_event(body, headers);
        let request = lambda_http::request::from_str(&event).expect("the event parses");
        let response = callstats_interactions::lambda::handle(&self.app, request).await;
        let (parts, body) = response.into_parts();
        let body = match body {
            lambda_http::Body::Text(t) => t.into_bytes(),
            lambda_http::Body::Binary(b) => b,
            _ => Vec::new(),
        };
        Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }
}

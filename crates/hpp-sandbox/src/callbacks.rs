//! Status callbacks, delivered as the real service does: a POST of `{event_id, session}` to the
//! session's `status_update` URL on every status change, a 2xx expected within the timeout (3 s),
//! up to 3 retries after a pause, then nothing. Every attempt is recorded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

/// A callback to deliver.
#[derive(Debug)]
pub(crate) struct CallbackJob {
    pub(crate) url: String,
    pub(crate) event_id: String,
    pub(crate) session_id: String,
    pub(crate) status: String,
    pub(crate) body: Vec<u8>,
}

/// One delivery attempt, as listed at `GET /_sandbox/callbacks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CallbackAttempt {
    /// The event delivered (repeated across retries of the same event).
    pub event_id: String,
    /// The session whose status changed.
    pub session_id: String,
    /// The status it changed to.
    pub status: String,
    /// The URL posted to, placeholders substituted.
    pub url: String,
    /// 1 for the first delivery, up to 1 + retries.
    pub attempt: u32,
    /// How the attempt ended. In JSON: `delivered`, `status 500`, `timeout` or `error: …`.
    pub outcome: DeliveryOutcome,
}

impl CallbackAttempt {
    /// Whether the listener accepted it.
    pub fn delivered(&self) -> bool {
        self.outcome == DeliveryOutcome::Delivered
    }
}

/// How one callback delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
#[non_exhaustive]
pub enum DeliveryOutcome {
    /// The listener answered 2xx.
    Delivered,
    /// The listener answered this other status.
    Status(u16),
    /// No answer within the callback timeout.
    Timeout,
    /// The connection failed; what the HTTP client said.
    Error(String),
}

impl std::fmt::Display for DeliveryOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Delivered => f.write_str("delivered"),
            Self::Status(status) => write!(f, "status {status}"),
            Self::Timeout => f.write_str("timeout"),
            Self::Error(error) => write!(f, "error: {error}"),
        }
    }
}

impl From<DeliveryOutcome> for String {
    fn from(outcome: DeliveryOutcome) -> Self {
        outcome.to_string()
    }
}

impl From<String> for DeliveryOutcome {
    /// The listing's text back; anything unrecognised is an [`DeliveryOutcome::Error`].
    fn from(text: String) -> Self {
        match text.as_str() {
            "delivered" => Self::Delivered,
            "timeout" => Self::Timeout,
            _ => match text.strip_prefix("status ").and_then(|s| s.parse().ok()) {
                Some(status) => Self::Status(status),
                None => Self::Error(text.strip_prefix("error: ").map_or_else(|| text.clone(), str::to_owned)),
            },
        }
    }
}

/// How deliveries behave.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeliveryPolicy {
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) retry_delay: Duration,
}

/// The most attempts kept for `GET /_sandbox/callbacks` (the oldest are dropped first).
const MAX_RECORDED_ATTEMPTS: usize = 10_000;

/// The most of a listener's answer read.
const MAX_ANSWER_READ: usize = 64 * 1024;

/// Delivers jobs in order, recording each attempt (the latest [`MAX_RECORDED_ATTEMPTS`]) and
/// announcing the running count of attempts made.
pub(crate) async fn deliver(
    mut jobs: mpsc::UnboundedReceiver<CallbackJob>,
    policy: DeliveryPolicy,
    attempts: Arc<Mutex<Vec<CallbackAttempt>>>,
    count: watch::Sender<usize>,
) {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut recorded = 0;
    while let Some(job) = jobs.recv().await {
        for attempt in 1..=policy.retries + 1 {
            let outcome = post(&client, &job, policy.timeout).await;
            let delivered = outcome == DeliveryOutcome::Delivered;
            let record = CallbackAttempt {
                event_id: job.event_id.clone(),
                session_id: job.session_id.clone(),
                status: job.status.clone(),
                // The listing is for tests to read: the URL without its secret.
                url: hpp_core::callback::redact_secret(&job.url),
                attempt,
                outcome,
            };
            {
                let mut all = attempts.lock().unwrap_or_else(|p| p.into_inner());
                if all.len() >= MAX_RECORDED_ATTEMPTS {
                    all.remove(0);
                }
                all.push(record);
            }
            recorded += 1;
            count.send_replace(recorded);
            if delivered {
                break;
            }
            if attempt <= policy.retries {
                tokio::time::sleep(policy.retry_delay).await;
            }
        }
    }
}

async fn post(client: &Client<HttpConnector, Full<Bytes>>, job: &CallbackJob, timeout: Duration) -> DeliveryOutcome {
    let request = http::Request::post(job.url.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, concat!("hpp-sandbox/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(Bytes::from(job.body.clone())));
    let request = match request {
        Ok(request) => request,
        Err(e) => return DeliveryOutcome::Error(e.to_string()),
    };
    let exchange = async {
        let response = client.request(request).await?;
        let status = response.status();
        // Read (and drop) at most a little of what the listener answered.
        let _ = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_READ).collect().await;
        Ok::<_, hyper_util::client::legacy::Error>(status)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Err(_) => DeliveryOutcome::Timeout,
        Ok(Err(e)) => DeliveryOutcome::Error(e.to_string()),
        Ok(Ok(status)) if status.is_success() => DeliveryOutcome::Delivered,
        Ok(Ok(status)) => DeliveryOutcome::Status(status.as_u16()),
    }
}

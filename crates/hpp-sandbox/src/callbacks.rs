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
    /// Its place in the [`CallbackQueue`], given back when the job is dropped (delivered, given
    /// up on, or dropped by a fault).
    slot: Option<QueueSlot>,
}

impl CallbackJob {
    /// A job not yet queued.
    pub(crate) fn new(url: String, event_id: String, session_id: String, status: String, body: Vec<u8>) -> Self {
        Self { url, event_id, session_id, status, body, slot: None }
    }

    /// What the job holds, in bytes, as the queue counts it.
    pub(crate) fn bytes(&self) -> usize {
        self.url.len() + self.event_id.len() + self.session_id.len() + self.status.len() + self.body.len()
    }
}

/// The callbacks waiting for delivery (in the channel, being posted, or held back), bounded in
/// count and in bytes: a status change that would pass either bound is refused before it
/// happens, so no flood of status changes grows the sandbox's memory.
#[derive(Debug, Clone)]
pub(crate) struct CallbackQueue {
    sender: mpsc::UnboundedSender<CallbackJob>,
    /// Jobs and bytes queued now.
    load: Arc<Mutex<(usize, usize)>>,
    max_jobs: usize,
    max_bytes: usize,
}

/// A job's share of the queue's load; given back on drop.
#[derive(Debug)]
struct QueueSlot {
    load: Arc<Mutex<(usize, usize)>>,
    bytes: usize,
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        let mut load = self.load.lock().unwrap_or_else(|p| p.into_inner());
        load.0 = load.0.saturating_sub(1);
        load.1 = load.1.saturating_sub(self.bytes);
    }
}

impl CallbackQueue {
    /// A queue sending to `sender`, holding at most `max_jobs` jobs and `max_bytes` bytes.
    pub(crate) fn new(sender: mpsc::UnboundedSender<CallbackJob>, max_jobs: usize, max_bytes: usize) -> Self {
        Self { sender, load: Arc::default(), max_jobs, max_bytes }
    }

    /// Whether one more job of `bytes` bytes fits.
    pub(crate) fn has_room(&self, bytes: usize) -> bool {
        let load = self.load.lock().unwrap_or_else(|p| p.into_inner());
        load.0 < self.max_jobs && load.1.saturating_add(bytes) <= self.max_bytes
    }

    /// Queues `job` (the caller checked [`has_room`](Self::has_room) under the state's lock).
    pub(crate) fn push(&self, mut job: CallbackJob) {
        let bytes = job.bytes();
        {
            let mut load = self.load.lock().unwrap_or_else(|p| p.into_inner());
            load.0 += 1;
            load.1 += bytes;
        }
        job.slot = Some(QueueSlot { load: self.load.clone(), bytes });
        let _ = self.sender.send(job);
    }
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
    /// How the attempt ended. In JSON: `delivered`, `status 500`, `timeout`, `dropped` or
    /// `error: …`.
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
    /// Not posted: a [`CallbackFault::Drop`].
    Dropped,
}

impl std::fmt::Display for DeliveryOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Delivered => f.write_str("delivered"),
            Self::Status(status) => write!(f, "status {status}"),
            Self::Timeout => f.write_str("timeout"),
            Self::Error(error) => write!(f, "error: {error}"),
            Self::Dropped => f.write_str("dropped"),
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
            "dropped" => Self::Dropped,
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

/// What can go wrong with a callback on its way, as the network and the service make it go
/// wrong: for testing a receiver (and the poller that covers for it). Each callback gets at most
/// one fault: a scripted one ([`Sandbox::inject_callback_faults`](crate::Sandbox::inject_callback_faults))
/// first, else one drawn with these probabilities from a seeded generator (the same seed, the
/// same faults in the same order). All zero by default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct CallbackFaults {
    /// The chance a callback is lost: none of its attempts reach the listener.
    pub drop: f64,
    /// The chance a callback is delivered twice (the second post after the first succeeded).
    pub duplicate: f64,
    /// The chance a callback is held back by [`delay_by`](Self::delay_by) (later callbacks
    /// overtake it: a reordering).
    pub delay: f64,
    /// How long a delayed callback is held back.
    pub delay_by: Duration,
    /// The generator's seed.
    pub seed: u64,
}

/// One fault for one callback (see [`CallbackFaults`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackFault {
    /// Lost: never posted (recorded as one attempt with outcome `dropped`).
    Drop,
    /// Posted again once delivered (the second post recorded as the next attempt).
    Duplicate,
    /// Held back this long, while later callbacks go ahead.
    Delay(Duration),
}

/// The most attempts kept for `GET /_sandbox/callbacks` (the oldest are dropped first).
const MAX_RECORDED_ATTEMPTS: usize = 10_000;

/// The most of a listener's answer read.
const MAX_ANSWER_READ: usize = 64 * 1024;

/// Where attempts are recorded and counted, shared by every delivery (delayed ones run apart).
#[derive(Clone)]
pub(crate) struct Record {
    pub(crate) bodies: Arc<Mutex<Vec<hpp_core::callback::StatusCallback>>>,
    pub(crate) attempts: Arc<Mutex<Vec<CallbackAttempt>>>,
    pub(crate) count: Arc<watch::Sender<usize>>,
    pub(crate) scripted: Arc<Mutex<std::collections::VecDeque<CallbackFault>>>,
    pub(crate) chances: Arc<Mutex<FaultChances>>,
}

impl Record {
    fn push(&self, job: &CallbackJob, attempt: u32, outcome: DeliveryOutcome) {
        let record = CallbackAttempt {
            event_id: job.event_id.clone(),
            session_id: job.session_id.clone(),
            status: job.status.clone(),
            // The listing is for tests to read: the URL without its secret.
            url: hpp_core::__private::redact_secret(&job.url),
            attempt,
            outcome,
        };
        {
            let mut all = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
            if all.len() >= MAX_RECORDED_ATTEMPTS {
                all.remove(0);
            }
            all.push(record);
        }
        self.count.send_modify(|n| *n += 1);
    }
}

/// The callback faults drawn now, changeable while the sandbox runs
/// (`PUT /_sandbox/callback-faults`, [`Sandbox::set_callback_faults`](crate::Sandbox::set_callback_faults)),
/// and their generator.
#[derive(Debug)]
pub(crate) struct FaultChances {
    faults: CallbackFaults,
    draws: Draws,
}

impl FaultChances {
    pub(crate) fn new(faults: CallbackFaults) -> Self {
        Self { faults, draws: Draws(faults.seed) }
    }

    /// The chances now.
    pub(crate) fn get(&self) -> CallbackFaults {
        self.faults
    }

    /// New chances, drawn from the start of their seed's sequence.
    pub(crate) fn set(&mut self, faults: CallbackFaults) {
        *self = Self::new(faults);
    }

    fn draw(&mut self) -> Option<CallbackFault> {
        let faults = self.faults;
        self.draws.fault(&faults)
    }
}

impl CallbackFaults {
    /// Why these chances cannot be used: each of `drop`, `duplicate` and `delay` is between 0 and
    /// 1 and together they are at most 1; `delay_by` is at most an hour.
    pub fn check(&self) -> Result<(), &'static str> {
        let chances = [self.drop, self.duplicate, self.delay];
        if chances.iter().any(|c| !(0.0..=1.0).contains(c)) || chances.iter().sum::<f64>() > 1.0 {
            return Err("the drop, duplicate and delay chances are each between 0 and 1, together at most 1");
        }
        if self.delay_by > Duration::from_secs(3600) {
            return Err("a callback is held back for at most 3600 seconds");
        }
        Ok(())
    }
}

/// A small seeded generator (splitmix64) for the fault draws: reproducible, no dependency.
#[derive(Debug)]
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn fault(&mut self, faults: &CallbackFaults) -> Option<CallbackFault> {
        let roll = self.next();
        if roll < faults.drop {
            Some(CallbackFault::Drop)
        } else if roll < faults.drop + faults.duplicate {
            Some(CallbackFault::Duplicate)
        } else if roll < faults.drop + faults.duplicate + faults.delay {
            Some(CallbackFault::Delay(faults.delay_by))
        } else {
            None
        }
    }
}

/// Delivers jobs in order (a delayed one apart, so later ones overtake it), recording each
/// attempt (the latest [`MAX_RECORDED_ATTEMPTS`]) and announcing the running count.
pub(crate) async fn deliver(mut jobs: mpsc::UnboundedReceiver<CallbackJob>, policy: DeliveryPolicy, record: Record) {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    while let Some(job) = jobs.recv().await {
        if let Ok(body) = hpp_core::callback::StatusCallback::parse(&job.body) {
            let mut bodies = record.bodies.lock().unwrap_or_else(|p| p.into_inner());
            if bodies.len() >= MAX_RECORDED_ATTEMPTS {
                bodies.remove(0);
            }
            bodies.push(body);
        }
        let scripted = record.scripted.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        let drawn = || record.chances.lock().unwrap_or_else(|p| p.into_inner()).draw();
        match scripted.or_else(drawn) {
            Some(CallbackFault::Drop) => record.push(&job, 1, DeliveryOutcome::Dropped),
            Some(CallbackFault::Delay(by)) => {
                let (client, record) = (client.clone(), record.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(by).await;
                    deliver_one(&client, &job, &policy, &record).await;
                });
            }
            Some(CallbackFault::Duplicate) => {
                let made = deliver_one(&client, &job, &policy, &record).await;
                let outcome = post(&client, &job, policy.timeout).await;
                record.push(&job, made + 1, outcome);
            }
            None => {
                deliver_one(&client, &job, &policy, &record).await;
            }
        }
    }
}

/// Posts `job` until delivered or out of retries; the attempts made.
async fn deliver_one(
    client: &Client<HttpConnector, Full<Bytes>>,
    job: &CallbackJob,
    policy: &DeliveryPolicy,
    record: &Record,
) -> u32 {
    for attempt in 1..=policy.retries + 1 {
        let outcome = post(client, job, policy.timeout).await;
        let delivered = outcome == DeliveryOutcome::Delivered;
        record.push(job, attempt, outcome);
        if delivered || attempt > policy.retries {
            return attempt;
        }
        tokio::time::sleep(policy.retry_delay).await;
    }
    policy.retries + 1
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

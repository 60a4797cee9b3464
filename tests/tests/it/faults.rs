//! Scripted faults through both transports: each fault's outcome, and the outbox showing that no
//! distribution was delivered twice and none the client reported as delivered is missing.

use std::collections::HashMap;
use std::time::Duration;

use hpp_core::retry::RetryPolicy;
use hpp_core::{
    Client, CreateSession, DistributeSession, Distribution, Error, ErrorCode, ReadSession, SessionCreated, Transport,
};
use hpp_hyper::HyperTransport;
use hpp_reqwest::ReqwestTransport;
use hpp_sandbox::{Fault, Sandbox, SandboxConfig};

struct Harness<T> {
    sandbox: Sandbox,
    client: Client<T>,
    session: SessionCreated,
    /// Recipient -> whether the client reported it delivered.
    reported: HashMap<String, bool>,
}

impl<T: Transport> Harness<T> {
    async fn start(transport: T, email_limit: u32) -> Self {
        let mut config = SandboxConfig::default();
        config.email_limit = email_limit;
        let sandbox = Sandbox::start(config).await.unwrap();
        let policy = fast();
        let client =
            Client::new(sandbox.client_config(), transport, hpp_runtime::TokioTimer::new()).with_retry_policy(policy);
        let session = client.create_session(&CreateSession::new("https://x.example/orders/1")).await.unwrap();
        Self { sandbox, client, session, reported: HashMap::new() }
    }

    fn faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.sandbox.inject_faults(faults);
    }

    async fn read(&self) -> Result<hpp_core::Session, Error> {
        self.client.read_session(self.session.session_url.as_ref().unwrap()).await
    }

    async fn email(&mut self, recipient: &str, policy: &RetryPolicy) -> Result<(), Error> {
        let op = DistributeSession::new(
            self.session.distribution_url.as_ref().unwrap(),
            Distribution::email(recipient).unwrap(),
        );
        let result = self.client.send_with(&op, policy).await;
        self.reported.insert(recipient.to_owned(), result.is_ok());
        result
    }

    /// No recipient twice; everything reported delivered is there.
    fn check_outbox(&self) -> Vec<String> {
        let recipients: Vec<String> = self.sandbox.outbox().into_iter().map(|m| m.recipient).collect();
        let mut unique = recipients.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), recipients.len(), "a distribution was delivered twice: {recipients:?}");
        for (recipient, delivered) in &self.reported {
            if *delivered {
                assert!(recipients.contains(recipient), "{recipient} was reported delivered but is not in the outbox");
            }
        }
        recipients
    }
}

/// Fast backoff so retries take milliseconds; the rules are those of the default policy.
fn fast() -> RetryPolicy {
    RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5))
}

fn status(status: u16, retry_after: Option<u64>) -> Fault {
    serde_json::from_value(serde_json::json!({"kind": "status", "status": status, "retry_after": retry_after})).unwrap()
}
fn fault(kind: &str) -> Fault {
    serde_json::from_value(serde_json::json!({ "kind": kind })).unwrap()
}

async fn faults_scenario<T: Transport>(transport: T) {
    let none = fast();
    let mut h = Harness::start(transport, 100).await;

    // 503 and 429 with Retry-After: reads are retried and succeed.
    h.faults([status(503, Some(0)), status(429, Some(0))]);
    assert!(h.read().await.is_ok());

    // 503 on a distribution: not retried, nothing delivered, the error says so.
    h.faults([status(503, Some(0))]);
    let result = h.email("a503@example.com", &none).await;
    assert_eq!(result.as_ref().unwrap_err().status().map(|s| s.as_u16()), Some(503));
    // ...unless the caller opts in for this call.
    h.faults([status(503, Some(0))]);
    let opt_in =
        RetryPolicy::default().with_side_effect_retry_on_503(true).with_backoff(Duration::ZERO, Duration::ZERO);
    assert!(h.email("optin@example.com", &opt_in).await.is_ok());

    // Reset after the request was read: it took effect; the client says "may have been sent"
    // and does not send it again.
    h.faults([fault("reset_after_read")]);
    let result = h.email("after@example.com", &none).await;
    assert_eq!(result.as_ref().unwrap_err().side_effect(), hpp_core::SideEffect::Unknown, "{result:?}");
    // Reset before it was read: nothing happened; still "may have been sent", still not re-sent.
    h.faults([fault("reset_before_read")]);
    let result = h.email("before@example.com", &none).await;
    assert_eq!(result.as_ref().unwrap_err().side_effect(), hpp_core::SideEffect::Unknown, "{result:?}");
    // A read survives both resets by retrying.
    h.faults([fault("reset_before_read"), fault("reset_after_read")]);
    assert!(h.read().await.is_ok());

    // A slow answer: the per-call timeout fires; a read retries and succeeds.
    h.faults([serde_json::from_value(serde_json::json!({"kind": "delay", "ms": 5000})).unwrap()]);
    let op = ReadSession::new(h.session.session_id.clone().unwrap());
    assert!(h.client.send_with(&op, &fast().with_attempt_timeout(Duration::from_millis(500))).await.is_ok());

    // A truncated success body: a decode error, not retried.
    h.faults([fault("truncated_body")]);
    let result = h.client.create_session(&CreateSession::new("https://x.example/orders/2")).await;
    assert!(matches!(result, Err(Error::Decode(_))), "{result:?}");

    // An oversized body: cut at the limit; the status survives. A 2xx is a decode error (it
    // happened, unreadable); a 400 stays the API error it is.
    let oversized = |status: u16| {
        serde_json::from_value(
            serde_json::json!({"kind": "oversized_body", "bytes": 2 * 1024 * 1024, "status": status}),
        )
        .unwrap()
    };
    let once = RetryPolicy::none();
    h.faults([oversized(200)]);
    let result = h.client.send_with(&op, &once).await;
    let Err(Error::Decode(decode)) = &result else { panic!("{result:?}") };
    assert_eq!(decode.status(), 200);
    h.faults([oversized(400)]);
    let result = h.client.send_with(&op, &once).await;
    let Err(Error::Api(api)) = &result else { panic!("{result:?}") };
    assert_eq!((api.status().as_u16(), api.body_truncated_at()), (400, Some(1024 * 1024)));
    assert!(api.to_string().contains("cut there"), "{api}");

    // A redirect to another host: a typed error, never followed, not retried.
    h.faults([serde_json::from_value(
        serde_json::json!({"kind": "redirect", "location": "https://evil.example/steal"}),
    )
    .unwrap()]);
    let result = h.email("redirected@example.com", &none).await;
    let Err(Error::Api(api)) = &result else { panic!("{result:?}") };
    assert!(api.status().is_redirection() && api.status() == 302, "{api:?}");

    let delivered = h.check_outbox();
    assert_eq!(delivered, ["optin@example.com", "after@example.com"]);
    h.sandbox.stop().await;
}

async fn clock_scenario<T: Transport>(transport: T) {
    let none = fast();
    let mut h = Harness::start(transport, 1).await;
    assert!(h.email("day1@example.com", &none).await.is_ok());
    let over = h.email("day1-over@example.com", &none).await;
    assert_eq!(over.unwrap_err().error_code(), Some(&ErrorCode::EmailLimitExceeded));
    h.sandbox.advance_clock(24 * 3600);
    assert!(h.email("day2@example.com", &none).await.is_ok(), "the quota resets the next day");

    assert!(h.read().await.is_ok());
    h.sandbox.advance_clock(47 * 3600);
    assert_eq!(h.read().await.unwrap_err().error_code(), Some(&ErrorCode::NotFound), "expired after 47 hours");
    let late = h.email("late@example.com", &none).await;
    assert_eq!(late.unwrap_err().error_code(), Some(&ErrorCode::NotFound));
    assert_eq!(h.check_outbox(), ["day1@example.com", "day2@example.com"]);
    h.sandbox.stop().await;
}

#[tokio::test]
async fn reqwest_under_faults() {
    faults_scenario(ReqwestTransport::new().unwrap()).await;
}

#[tokio::test]
async fn hyper_under_faults() {
    faults_scenario(HyperTransport::new()).await;
}

#[tokio::test]
async fn reqwest_with_the_sandbox_clock() {
    clock_scenario(ReqwestTransport::new().unwrap()).await;
}

#[tokio::test]
async fn hyper_with_the_sandbox_clock() {
    clock_scenario(HyperTransport::new()).await;
}

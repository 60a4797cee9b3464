//! Status tracking against the sandbox: callbacks delivered for each status change, retried when
//! the listener fails or is slow, given up after three retries; watches ending on each final
//! status and on expiry, through both transports. No sleeps: the tests wait on events.

use std::time::Duration;

use hpp_core::__private::Deduplicator;
use hpp_core::callback;
use hpp_core::{Client, MerchantUrls, SessionCreated, SessionStatus, Transport, WatchOptions, WatchOutcome};
use hpp_hyper::HyperTransport;
use hpp_reqwest::ReqwestTransport;
use hpp_sandbox::{DeliveryOutcome, Sandbox, SandboxConfig};
use hpp_tests::loopback::Loopback;

fn status(code: u16) -> Option<http::Response<Vec<u8>>> {
    Some(http::Response::builder().status(code).body(Vec::new()).unwrap())
}

async fn sandbox() -> Sandbox {
    let mut config = SandboxConfig::default();
    // Long enough that a busy CI machine never turns a prompt answer into a timeout; the slow
    // listener in the retry test costs this much once.
    config.callback_timeout = Duration::from_secs(1);
    config.callback_retry_delay = Duration::from_millis(10);
    Sandbox::start(config).await.unwrap()
}

async fn create<T: Transport>(client: &Client<T>, status_update: Option<String>) -> SessionCreated {
    let mut urls = MerchantUrls::default();
    urls.status_update = status_update;
    let op = crate::create("https://x.example/orders/1", urls);
    client.create_session(&op).await.unwrap()
}

/// Waits for `n` attempts, failing the test (not hanging) if they do not come.
async fn attempts(sandbox: &Sandbox, n: usize) -> Vec<hpp_sandbox::CallbackAttempt> {
    tokio::time::timeout(Duration::from_secs(20), sandbox.wait_for_callback_attempts(n))
        .await
        .expect("callback attempts")
}

#[tokio::test]
async fn a_callback_for_each_status_change_with_placeholders_substituted() {
    let sandbox = sandbox().await;
    let listener = Loopback::start(vec![status(204).unwrap(), status(200).unwrap(), status(202).unwrap()]);
    let client = Client::new(sandbox.client_config(), HyperTransport::new(), hpp_runtime::TokioTimer::new());
    let created =
        create(&client, Some(format!("{}/cb?sid={{{{session_id}}}}&order={{{{order_id}}}}", listener.base_url))).await;
    let id = created.session_id.unwrap();
    sandbox.set_status(&id, SessionStatus::InProgress).unwrap();
    sandbox.set_status(&id, SessionStatus::Back).unwrap();
    client.disable_session(&id).await.unwrap();

    // Wait on the sandbox (async) before reading what the listener recorded (a blocking read).
    let all = attempts(&sandbox, 3).await;
    assert!(all.iter().all(|a| a.delivered() && a.attempt == 1), "{all:?}");
    let mut statuses = Vec::new();
    let mut events = Vec::new();
    for _ in 0..3 {
        let request = listener.next_request();
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, format!("/cb?sid={id}&order="), "placeholders substituted");
        let parsed = callback::StatusCallback::parse(&request.body).unwrap();
        assert_eq!(parsed.session.session_id.as_deref(), Some(id.as_str()));
        statuses.push(parsed.session.status.unwrap());
        events.push(parsed.event_id);
    }
    assert_eq!(statuses, [SessionStatus::InProgress, SessionStatus::Back, SessionStatus::Disabled]);
    events.dedup();
    assert_eq!(events.len(), 3, "each change is its own event");
    // A session without a status_update URL gets no callbacks.
    let quiet = create(&client, None).await;
    sandbox.set_status(quiet.session_id.as_ref().unwrap(), SessionStatus::Completed).unwrap();
    assert_eq!(sandbox.callback_attempts().len(), 3);
}

#[tokio::test]
async fn failed_and_slow_deliveries_are_retried_and_duplicates_are_dropped() {
    let sandbox = sandbox().await;
    // First event: 500, then too slow (no answer in time), then accepted.
    let listener = Loopback::start_script(vec![status(500), None, status(204), status(204)]);
    let client = Client::new(sandbox.client_config(), ReqwestTransport::new().unwrap(), hpp_runtime::TokioTimer::new());
    let created = create(&client, Some(format!("{}/cb", listener.base_url))).await;
    sandbox.set_status(created.session_id.as_ref().unwrap(), SessionStatus::Completed).unwrap();
    let all = attempts(&sandbox, 3).await;
    let outcomes: Vec<(u32, DeliveryOutcome)> = all.iter().map(|a| (a.attempt, a.outcome.clone())).collect();
    assert_eq!(
        outcomes,
        [(1, DeliveryOutcome::Status(500)), (2, DeliveryOutcome::Timeout), (3, DeliveryOutcome::Delivered)]
    );
    // The listing at GET /_sandbox/callbacks spells them as before.
    let listed = serde_json::to_value(&all[0]).unwrap();
    assert_eq!(listed["outcome"], "status 500");
    assert_eq!(serde_json::from_value::<hpp_sandbox::CallbackAttempt>(listed).unwrap(), all[0]);

    // The listener saw the same event three times; a de-duplicator lets it through once.
    let mut seen = Deduplicator::new(100);
    let mut first_times = 0;
    for _ in 0..3 {
        let event = callback::StatusCallback::parse(&listener.next_request().body).unwrap();
        first_times += usize::from(seen.first_time(&event.event_id));
    }
    assert_eq!(first_times, 1);
}

#[tokio::test]
async fn deliveries_stop_after_three_retries() {
    let sandbox = sandbox().await;
    let listener = Loopback::start(vec![status(503).unwrap(); 4].into_iter().chain([status(204).unwrap()]).collect());
    let client = Client::new(sandbox.client_config(), HyperTransport::new(), hpp_runtime::TokioTimer::new());
    let created = create(&client, Some(format!("{}/cb", listener.base_url))).await;
    let id = created.session_id.unwrap();
    sandbox.set_status(&id, SessionStatus::InProgress).unwrap();
    // Deliveries are in order, so once the next event's attempt is made the first is over.
    sandbox.set_status(&id, SessionStatus::Completed).unwrap();
    let all = attempts(&sandbox, 5).await;
    let first: Vec<_> = all.iter().filter(|a| a.status == "IN_PROGRESS").collect();
    assert_eq!(first.len(), 4, "one delivery and three retries: {all:?}");
    assert!(first.iter().all(|a| !a.delivered()));
    assert!(all[4].delivered() && all[4].status == "COMPLETED");
}

async fn watch_scenarios<T: Transport>(transport: T) {
    let sandbox = sandbox().await;
    let client = Client::new(sandbox.client_config(), transport, hpp_runtime::TokioTimer::new());
    let fast = WatchOptions::default()
        .with_interval(Duration::from_millis(5), Duration::from_millis(20))
        .with_deadline(Duration::from_secs(20));

    for final_status in [SessionStatus::Completed, SessionStatus::Cancelled, SessionStatus::Timeout] {
        let id = create(&client, None).await.session_id.unwrap();
        // The consumer moves on each time the watch reports a change: no sleeps, no races.
        let mut seen = Vec::new();
        let outcome = client
            .wait_for_final_status(&id, &fast, |session| {
                seen.push(session.status.clone().unwrap());
                let next = match session.status {
                    Some(SessionStatus::Waiting) => SessionStatus::InProgress,
                    _ => final_status.clone(),
                };
                sandbox.set_status(&id, next);
            })
            .await
            .unwrap();
        let WatchOutcome::Final(session) = outcome else { panic!("{outcome:?}") };
        assert_eq!(session.status.as_ref(), Some(&final_status));
        assert_eq!(seen, [SessionStatus::Waiting, SessionStatus::InProgress, final_status]);
    }

    let id = create(&client, None).await.session_id.unwrap();
    client.disable_session(&id).await.unwrap();
    let outcome = client.wait_for_final_status(&id, &fast, |_| {}).await.unwrap();
    assert!(matches!(&outcome, WatchOutcome::Final(s) if s.status == Some(SessionStatus::Disabled)), "{outcome:?}");

    let id = create(&client, None).await.session_id.unwrap();
    let mut reads = 0;
    let outcome = client
        .wait_for_final_status(&id, &fast, |_| {
            reads += 1;
            sandbox.advance_clock(48 * 3600);
        })
        .await
        .unwrap();
    assert!(matches!(outcome, WatchOutcome::Expired(Some(_))), "{outcome:?}");
    assert_eq!(reads, 1);

    let id = create(&client, None).await.session_id.unwrap();
    let short = fast.clone().with_deadline(Duration::from_millis(50));
    let outcome = client.wait_for_final_status(&id, &short, |_| {}).await.unwrap();
    assert!(matches!(outcome, WatchOutcome::DeadlinePassed(Some(_))), "{outcome:?}");
}

#[tokio::test]
async fn watches_through_reqwest() {
    watch_scenarios(ReqwestTransport::new().unwrap()).await;
}

#[tokio::test]
async fn watches_through_hyper() {
    watch_scenarios(HyperTransport::new()).await;
}

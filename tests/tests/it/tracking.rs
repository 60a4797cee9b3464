//! Payment tracking end to end: the sandbox, a PostgreSQL store, the axum receiver on a real
//! port (and a second replica that is down, so its sessions' callbacks are all lost), and a
//! poller. Every session's final status reaches the app's own table exactly once: paid,
//! cancelled, disabled, or expired. Time runs on a clock shared by the sandbox and the tracker,
//! moved by the test, so two days pass in seconds and nothing sleeps.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hpp_core::callback::CallbackSecret;
use hpp_core::tracking::{Finished, HandOff, Input, TrackingStore};
use hpp_core::{Client, MerchantUrls, SessionStatus, Timer};
use hpp_hyper::HyperTransport;
use hpp_postgres::PgStore;
use hpp_postgres::testing::TempPostgres;
use hpp_sandbox::{Sandbox, SandboxConfig};
use hpp_tests::tracking::{APP_TABLE, SharedClock, Ship, serve};
use hpp_tracker::CallbackReceiver;
use hpp_tracker::{Poller, PollerOptions};

const SECRET: &str = "5b0e4c1d-9a7f-4f3e-8c2b-1d6a0e9f7c35";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_final_status_reaches_the_app_once_callbacks_or_not() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let clock = SharedClock::default();
    let store = Arc::new(PgStore::connect(&pg.url(), Default::default()).await.unwrap());
    store.migrate().await.unwrap();
    let (app, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    app.batch_execute(APP_TABLE).await.unwrap();

    let mut config = SandboxConfig::default();
    config.callback_timeout = Duration::from_secs(2);
    config.callback_retry_delay = Duration::from_millis(10);
    let sandbox = Sandbox::start(config).await.unwrap();
    let client = Client::new(sandbox.client_config(), HyperTransport::new(), hpp_runtime::TokioTimer::new());

    let secret = CallbackSecret::new(SECRET).unwrap();
    let receiver = CallbackReceiver::new(store.clone(), Arc::new(Ship(clock.clone())), secret.clone(), clock.clone());
    let replica_up = serve(receiver.router("/hpp/callback")).await;
    // The other replica is down for the whole run: every callback sent to it is lost.
    let replica_down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };

    // 24 sessions: paid, cancelled, disabled by the merchant, or left to expire; half of each
    // kind with callbacks to the replica that is down.
    let endings = ["COMPLETED", "CANCELLED", "DISABLED", "EXPIRED"];
    let mut sessions = Vec::new();
    for i in 0..24 {
        let replica = if (i / 4) % 2 == 0 { &replica_up } else { &replica_down };
        let mut urls = MerchantUrls::default();
        urls.status_update = Some(secret.append_to(&format!("{replica}/hpp/callback?sid={{{{session_id}}}}")));
        let op = crate::create("https://shop.example/orders/1", urls);
        let created = client.create_session(&op).await.unwrap();
        let id = created.session_id.clone().unwrap();
        let expires_at = created.expires_at.as_deref().and_then(hpp_core::__private::time::parse_rfc3339);
        // Tracked as it is created (an app does this in the transaction that stores the order).
        store.track_in(&app, &id, None, expires_at, clock.system_now()).await.unwrap();
        sessions.push((id, endings[i % 4]));
    }
    for (id, ending) in &sessions {
        match *ending {
            "COMPLETED" => drop(sandbox.set_status(id, SessionStatus::Completed)),
            "CANCELLED" => drop(sandbox.set_status(id, SessionStatus::Cancelled)),
            "DISABLED" => client.disable_session(id.as_str()).await.unwrap(),
            _ => {}
        }
    }
    // Every callback delivered or given up: 18 status changes, each either delivered at once
    // (9, to the replica that is up) or tried 4 times (9, to the one that is down).
    let Ok(attempts) =
        tokio::time::timeout(Duration::from_secs(60), sandbox.wait_for_callback_attempts(9 + 9 * 4)).await
    else {
        panic!("the sandbox delivers or gives up on every callback: {:#?}", sandbox.callback_attempts());
    };
    assert_eq!(attempts.iter().filter(|a| a.delivered()).count(), 9, "{attempts:?}");
    let handed_by_callbacks: i64 = app.query_one("SELECT count(*) FROM shipped", &[]).await.unwrap().get(0);
    assert_eq!(handed_by_callbacks, 0, "a callback's word alone ships nothing");
    // (The store's count: a recorded callback's wake-up is on its event's row, not the session's.)
    let due = store.counts(clock.system_now()).await.unwrap().due;
    assert_eq!(due, 9, "each delivered final callback makes its session due for a read at once");

    // A poller closes the gap: two days pass, the poller running whenever something is due.
    let mut options = PollerOptions::default();
    options.owner = "replica-up".into();
    let poller =
        Poller::with_options(store.clone(), client.clone(), Arc::new(Ship(clock.clone())), clock.clone(), options);
    let first = poller.round().await.unwrap();
    assert_eq!(first.handed_off, 9, "the reads confirm the 9 callbacks at once: {first:?}");
    let mut rounds = 0;
    while store.pending().await.unwrap() > 0 {
        rounds += 1;
        assert!(rounds < 5000, "still pending after {rounds} rounds");
        poller.round().await.unwrap();
        let next: Option<SystemTime> =
            app.query_one("SELECT min(next_due_at) FROM hpp_tracked_session", &[]).await.unwrap().get(0);
        let Some(next) = next else { break };
        let step = next.duration_since(clock.system_now()).unwrap_or_default().as_secs().clamp(1, 600);
        clock.advance(&sandbox, step as i64);
    }
    let rows = app.query("SELECT session_id, status FROM shipped ORDER BY session_id", &[]).await.unwrap();
    assert_eq!(rows.len(), sessions.len(), "one row per session, none twice");
    for (id, ending) in &sessions {
        let statuses: Vec<String> = rows.iter().filter(|r| r.get::<_, String>(0) == *id).map(|r| r.get(1)).collect();
        assert_eq!(statuses, [ending.to_string()], "session {id}");
    }
    // Nothing more happens, whatever else arrives: the state is final and handed off.
    let again = store
        .apply(Input::Tick { session_id: &sessions[0].0 }, clock.system_now(), &Ship(clock.clone()))
        .await
        .unwrap();
    assert_eq!(again, hpp_core::tracking::Applied::Done { handed_off: None });
    let total: i64 = app.query_one("SELECT count(*) FROM shipped", &[]).await.unwrap().get(0);
    assert_eq!(total, 24);
}

/// The app of the memory-store test: what it shipped, in order.
#[derive(Default)]
struct Shipped(std::sync::Mutex<Vec<String>>);

impl HandOff<hpp_core::tracking::MemoryStore> for Shipped {
    async fn hand_off(
        &self,
        _tx: &mut (),
        finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.lock().unwrap().push(finished.session_id.clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_loses_duplicates_and_reorders_callbacks_and_the_receiver_copes() {
    use hpp_sandbox::{CallbackFault, DeliveryOutcome};
    let mut config = SandboxConfig::default();
    config.callback_retry_delay = Duration::from_millis(10);
    let sandbox = Sandbox::start(config).await.unwrap();
    let client = Client::new(sandbox.client_config(), HyperTransport::new(), hpp_runtime::TokioTimer::new());
    // Callbacks taken at their word here: this is the receiver's handling of lost, duplicated and
    // reordered deliveries (a read confirming them is the next test's).
    let mut policy = hpp_core::tracking::TrackingPolicy::default();
    policy.confirm_callbacks = false;
    let store = Arc::new(hpp_core::tracking::MemoryStore::new(policy));
    let app = Arc::new(Shipped::default());
    let secret = CallbackSecret::new(SECRET).unwrap();
    let receiver = CallbackReceiver::new(store.clone(), app.clone(), secret.clone(), hpp_runtime::TokioTimer::new());
    let url = serve(receiver.router("/cb")).await;
    sandbox.inject_callback_faults([
        CallbackFault::Drop,
        CallbackFault::Duplicate,
        CallbackFault::Delay(Duration::from_millis(300)),
    ]);
    let mut ids = Vec::new();
    for _ in 0..4 {
        let mut urls = MerchantUrls::default();
        urls.status_update = Some(secret.append_to(&format!("{url}/cb")));
        let created = client.create_session(&crate::create("https://shop.example/o", urls)).await.unwrap();
        let id = created.session_id.clone().unwrap();
        let track = Input::Track { session_id: &id, expires_at: created.expires_at_time(), order_key: None };
        store.apply(track, SystemTime::now(), &*app).await.unwrap();
        ids.push(id);
    }
    for id in &ids {
        sandbox.set_status(id, SessionStatus::Completed).unwrap();
    }
    // Dropped (1), delivered twice (2), delivered (1, the 4th), then the delayed one (1).
    let attempts = tokio::time::timeout(Duration::from_secs(20), sandbox.wait_for_callback_attempts(5)).await.unwrap();
    let of = |i: usize| -> Vec<DeliveryOutcome> {
        attempts.iter().filter(|a| a.session_id == ids[i]).map(|a| a.outcome.clone()).collect()
    };
    assert_eq!(of(0), [DeliveryOutcome::Dropped]);
    assert_eq!(of(1), [DeliveryOutcome::Delivered, DeliveryOutcome::Delivered], "the duplicate acknowledged");
    let order: Vec<&str> = attempts.iter().map(|a| a.session_id.as_str()).collect();
    assert!(
        order.iter().position(|s| *s == ids[3]) < order.iter().position(|s| *s == ids[2]),
        "the delayed callback was overtaken: {order:?}"
    );
    assert_eq!(sandbox.callback_bodies().len(), 4, "every body, the dropped one included");
    let shipped = app.0.lock().unwrap().clone();
    let mut expected = vec![ids[1].clone(), ids[3].clone(), ids[2].clone()];
    assert_eq!(shipped, expected, "the lost one not shipped (yet: a poller would), the others once each");
    // Re-delivering every body (a test of the receiver, in a few lines): nothing ships twice;
    // the lost one ships now.
    for body in sandbox.callback_bodies() {
        let status = post_json(&secret.append_to(&format!("{url}/cb")), &serde_json::to_vec(&body).unwrap()).await;
        assert_eq!(status, 200);
    }
    expected.push(ids[0].clone());
    assert_eq!(*app.0.lock().unwrap(), expected);
}

/// POSTs `body` to `url` with hyper; the status.
async fn post_json(url: &str, body: &[u8]) -> u16 {
    use hpp_core::Transport;
    let mut request = http::Request::new(body.to_vec());
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = url.parse().unwrap();
    HyperTransport::new().send(request).await.unwrap().status().as_u16()
}

/// The README's hand-off against a real PostgreSQL: a payment confirmed before the checkout's
/// transaction committed the order row fails (0 rows: the receiver answers 500, the poller backs
/// off) and marks the order once when the row is there; a second paid session of the same order
/// flags a refund and changes nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_hand_off_waits_for_the_order_and_marks_it_once() {
    use hpp_core::tracking::{Applied, FinalStatus, StoreError, TrackingPolicy};
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let store = PgStore::connect(&pg.url(), TrackingPolicy::default()).await.unwrap();
    store.migrate().await.unwrap();
    let (db, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    db.batch_execute(
        "CREATE TABLE orders (id text PRIMARY KEY, payment text, refund_due boolean NOT NULL DEFAULT false)",
    )
    .await
    .unwrap();
    let mark_order = crate::readme::examples::paid_in_production::mark_order();
    let t0 = SystemTime::now();
    let at = |secs: u64| t0 + Duration::from_secs(secs);
    store.track_in(&db, "s1", Some("o-1"), Some(at(3600)), t0).await.unwrap();
    let mut paid = hpp_core::Session::default();
    paid.status = Some(SessionStatus::Completed);
    let read = |id| Input::Read { session_id: id, result: Ok(&paid) };
    let early = store.apply(read("s1"), at(1), &mark_order).await;
    assert!(matches!(early, Err(StoreError::HandOff(_))), "0 rows: not handed off ({early:?})");
    db.execute("INSERT INTO orders (id) VALUES ('o-1')", &[]).await.unwrap();
    let due = store.get("s1").await.unwrap().unwrap().next_due_at().expect("due again");
    let marked = store.apply(read("s1"), due, &mark_order).await.unwrap();
    assert_eq!(marked, Applied::Done { handed_off: Some(FinalStatus::Completed) });
    assert_eq!(store.apply(read("s1"), due, &mark_order).await.unwrap(), Applied::Done { handed_off: None });
    // The consumer also paid through a second link of the same order.
    store.track_in(&db, "s2", Some("o-1"), Some(at(3600)), t0).await.unwrap();
    let twice = store.apply(read("s2"), due, &mark_order).await.unwrap();
    assert_eq!(twice, Applied::Done { handed_off: Some(FinalStatus::CompletedTwice) });
    let row = db.query_one("SELECT payment, refund_due FROM orders WHERE id = 'o-1'", &[]).await.unwrap();
    assert_eq!((row.get::<_, String>(0), row.get::<_, bool>(1)), ("COMPLETED".to_owned(), true));
}

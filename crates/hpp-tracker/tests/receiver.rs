//! The receiver's answers, for each way a callback can arrive: wrong secret, too large,
//! malformed, final, duplicate, a failing app, an app slower than the budget.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use hpp_core::callback::CallbackSecret;
use hpp_core::tracking::{FinalStatus, Finished, HandOff, Input, MemoryStore, TrackingPolicy, TrackingStore};
use hpp_tracker::{CallbackReceiver, ReceiverOptions};
use http::{Request, StatusCode};
use tower_service::Service;

const SECRET: &str = "7d1cbc3b-4f0e-4d4c-9b7e-2f1e0c9a6d11";

#[derive(Default)]
struct App {
    shipped: Mutex<Vec<(String, FinalStatus)>>,
    failing: AtomicBool,
    hang: AtomicBool,
    calls: AtomicUsize,
}

impl HandOff<MemoryStore> for App {
    async fn hand_off(
        &self,
        _tx: &mut (),
        finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err("the app's database is down".into());
        }
        self.shipped.lock().unwrap().push((finished.session_id.clone(), finished.status));
        Ok(())
    }
}

/// A store tracking `s1`, taking callbacks at their word (the receiver's answers are under test
/// here; confirming a callback by a read is the rules', tested with the store kit).
fn store() -> Arc<MemoryStore> {
    let mut policy = TrackingPolicy::default();
    policy.confirm_callbacks = false;
    let store = Arc::new(MemoryStore::new(policy));
    let track = Input::Track { session_id: "s1", expires_at: None, order_key: None };
    hpp_runtime::block_on(store.apply(track, std::time::SystemTime::now(), &App::default())).unwrap();
    store
}

fn receiver(app: Arc<App>) -> (axum::Router, Arc<MemoryStore>) {
    let store = store();
    let mut options = ReceiverOptions::default();
    options.max_body = 4096;
    let receiver = CallbackReceiver::with_options(
        store.clone(),
        app,
        CallbackSecret::new(SECRET).unwrap(),
        hpp_runtime::TokioTimer::new(),
        options,
    );
    (receiver.router("/hpp/callback"), store)
}

fn post(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri).header("content-type", "application/json").body(body.into()).unwrap()
}

fn paid(event_id: &str) -> String {
    format!(r#"{{"event_id":"{event_id}","session":{{"session_id":"s1","status":"COMPLETED"}}}}"#)
}

async fn send(router: &mut axum::Router, request: Request<Body>) -> StatusCode {
    router.call(request).await.unwrap().status()
}

#[tokio::test]
async fn each_answer_follows_from_what_arrived() {
    let app = Arc::new(App::default());
    let (mut router, store) = receiver(app.clone());
    let ok = format!("/hpp/callback?sid=s1&secret={SECRET}");
    assert_eq!(send(&mut router, post("/hpp/callback?sid=s1", paid("e1"))).await, StatusCode::UNAUTHORIZED);
    let wrong = "/hpp/callback?secret=7d1cbc3b-4f0e-4d4c-9b7e-2f1e0c9a6d1X";
    assert_eq!(send(&mut router, post(wrong, paid("e1"))).await, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&mut router, post(&ok, "x".repeat(5000))).await, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(send(&mut router, post(&ok, "{not json")).await, StatusCode::BAD_REQUEST);
    assert_eq!(send(&mut router, post(&ok, r#"{"event_id":"e0","session":{}}"#)).await, StatusCode::BAD_REQUEST);
    assert_eq!(app.calls.load(Ordering::SeqCst), 0, "nothing refused reached the app");
    assert_eq!(store.get("s1").await.unwrap().unwrap().status(), None, "nothing learned");
    // A callback for a session never tracked (forged, or another app's): 200, nothing done.
    let stranger = r#"{"event_id":"e7","session":{"session_id":"s-unknown","status":"COMPLETED"}}"#;
    let response = router.call(post(&ok, stranger)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], br#"{"result":"untracked"}"#);
    assert!(store.get("s-unknown").await.unwrap().is_none(), "no row for it");
    assert_eq!(app.calls.load(Ordering::SeqCst), 0, "and no app code");
    let get = Request::get(&ok).body(Body::empty()).unwrap();
    assert_eq!(send(&mut router, get).await, StatusCode::METHOD_NOT_ALLOWED);

    let response = router.call(post(&ok, paid("e1"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], br#"{"result":"applied"}"#);
    assert_eq!(send(&mut router, post(&ok, paid("e1"))).await, StatusCode::OK, "a redelivery is acknowledged");
    assert_eq!(send(&mut router, post(&ok, paid("e2"))).await, StatusCode::OK, "another event, same final status");
    assert_eq!(*app.shipped.lock().unwrap(), [("s1".to_owned(), FinalStatus::Completed)], "shipped once");
}

#[tokio::test]
async fn a_failing_app_gets_500_and_the_retry_hands_off_once() {
    let app = Arc::new(App::default());
    let (mut router, store) = receiver(app.clone());
    let ok = format!("/hpp/callback?secret={SECRET}");
    app.failing.store(true, Ordering::SeqCst);
    assert_eq!(send(&mut router, post(&ok, paid("e1"))).await, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        store.get("s1").await.unwrap().unwrap().final_status(),
        Some(FinalStatus::Completed),
        "the payment is kept"
    );
    app.failing.store(false, Ordering::SeqCst);
    assert_eq!(send(&mut router, post(&ok, paid("e1"))).await, StatusCode::OK, "the service's retry");
    assert_eq!(send(&mut router, post(&ok, paid("e1"))).await, StatusCode::OK);
    assert_eq!(app.shipped.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_app_slower_than_the_budget_gets_503_in_time_and_commits_nothing() {
    let app = Arc::new(App::default());
    let (mut router, store) = receiver(app.clone());
    let ok = format!("/hpp/callback?secret={SECRET}");
    app.hang.store(true, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    let response = router.call(post(&ok, paid("e1"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "3");
    assert_eq!(started.elapsed(), Duration::from_millis(2500), "answered at the budget, under the service's 3 s");
    assert_eq!(store.get("s1").await.unwrap().unwrap().final_status(), None, "nothing of the abandoned step committed");
    app.hang.store(false, Ordering::SeqCst);
    assert_eq!(send(&mut router, post(&ok, paid("e1"))).await, StatusCode::OK, "the retry is neither lost nor busy");
    assert_eq!(app.shipped.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_receiver_is_tested_in_a_few_lines_with_callback_request() {
    let app = Arc::new(App::default());
    let (mut router, _store) = receiver(app.clone());
    let paid = hpp_core::callback::StatusCallback::parse(paid("e9").as_bytes()).unwrap();
    let uri = format!("/hpp/callback?secret={SECRET}");
    for _ in 0..3 {
        let response = router.call(hpp_tracker::callback_request(&uri, &paid)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(app.shipped.lock().unwrap().len(), 1, "delivered three times, shipped once");
    let nowhere = router.call(hpp_tracker::callback_request("not a uri", &paid)).await.unwrap();
    assert_eq!(nowhere.status(), StatusCode::NOT_FOUND, "an unusable URI is sent to /, never to the receiver");
}

/// The receiver takes any `http_body::Body`: here a plain `Full<Bytes>`, without axum.
#[tokio::test]
async fn any_body_type_is_received() {
    use http_body_util::{BodyExt, Full};
    let app = Arc::new(App::default());
    let receiver = CallbackReceiver::new(
        store(),
        app.clone(),
        CallbackSecret::new(SECRET).unwrap(),
        hpp_runtime::TokioTimer::new(),
    );
    let request =
        Request::post(format!("/cb?secret={SECRET}")).body(Full::new(bytes::Bytes::from(paid("e1")))).unwrap();
    let response = receiver.receive(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], br#"{"result":"applied"}"#);
    assert_eq!(app.shipped.lock().unwrap().len(), 1);
}

/// A URL signed for one order (`CallbackSecret::append_for_order`) carries no secret and speaks
/// for that order's sessions only: a leaked one cannot be used for another order.
#[tokio::test]
async fn a_url_signed_for_an_order_speaks_for_that_order_only() {
    let app = Arc::new(App::default());
    let (mut router, store) = receiver(app.clone());
    let track = Input::Track { session_id: "s2", expires_at: None, order_key: Some("o-1") };
    store.apply(track, std::time::SystemTime::now(), &App::default()).await.unwrap();
    let secret = CallbackSecret::new(SECRET).unwrap();
    let signed = secret.append_for_order("/hpp/callback", "o-1").unwrap();
    assert!(!signed.contains(SECRET), "{signed}");
    let event = |id: &str, session: &str| {
        format!(r#"{{"event_id":"{id}","session":{{"session_id":"{session}","status":"COMPLETED"}}}}"#)
    };
    assert_eq!(send(&mut router, post(&signed, event("e1", "s2"))).await, StatusCode::OK, "its order's session");
    assert_eq!(send(&mut router, post(&signed, event("e2", "s1"))).await, StatusCode::UNAUTHORIZED, "not its order");
    let other = secret.append_for_order("/hpp/callback", "o-2").unwrap();
    assert_eq!(
        send(&mut router, post(&other, event("e3", "s2"))).await,
        StatusCode::UNAUTHORIZED,
        "another order's URL"
    );
    let tampered = signed.replace("order=o-1", "order=o-2");
    assert_eq!(
        send(&mut router, post(&tampered, event("e4", "s2"))).await,
        StatusCode::UNAUTHORIZED,
        "a forged signature"
    );
    let foreign =
        CallbackSecret::new("another-secret-0123456789").unwrap().append_for_order("/hpp/callback", "o-1").unwrap();
    assert_eq!(send(&mut router, post(&foreign, event("e5", "s2"))).await, StatusCode::UNAUTHORIZED, "another secret");
    assert_eq!(app.shipped.lock().unwrap().len(), 1);
    assert!(secret.append_for_order("/cb", "o 1").is_err() && secret.append_for_order("/cb", "").is_err());
}

/// A hand-off that panics is a failed hand-off: answered 500 (the service retries), nothing of
/// its step committed, and the receiver goes on; the retry ships once.
#[tokio::test]
async fn a_panicking_hand_off_is_answered_500_and_retried() {
    struct Panics;
    impl HandOff<MemoryStore> for Panics {
        async fn hand_off(
            &self,
            _tx: &mut (),
            _finished: &Finished,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            panic!("the app's hand-off panicked (a test)");
        }
    }
    let store = store();
    let secret = CallbackSecret::new(SECRET).unwrap();
    let panicking =
        CallbackReceiver::new(store.clone(), Arc::new(Panics), secret.clone(), hpp_runtime::TokioTimer::new());
    let mut router: axum::Router = panicking.router("/hpp/callback");
    let ok = format!("/hpp/callback?secret={SECRET}");
    assert_eq!(send(&mut router, post(&ok, paid("e1"))).await, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(store.get("s1").await.unwrap().unwrap().final_status(), None, "nothing of the step committed");
    let app = Arc::new(App::default());
    let mut router: axum::Router =
        CallbackReceiver::new(store.clone(), app.clone(), secret, hpp_runtime::TokioTimer::new())
            .router("/hpp/callback");
    assert_eq!(send(&mut router, post(&ok, paid("e1"))).await, StatusCode::OK, "the service's retry");
    assert_eq!(app.shipped.lock().unwrap().len(), 1);
}

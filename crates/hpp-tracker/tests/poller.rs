//! The poller: a panicking hand-off is contained (counted, retried after its lease, never the
//! end of the poller), and `run` stops within its grace period even with a step stuck.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use hpp_core::tracking::{FinalStatus, Finished, HandOff, Input, MemoryStore, TrackingStore};
use hpp_core::{Client, Config, Credentials, Environment, Mode, Request, Response, Timer, TransportError};
use hpp_runtime::TokioTimer;
use hpp_tracker::{Poller, PollerOptions};

/// The API: every session is paid.
fn paid_api(_request: Request) -> std::future::Ready<Result<Response, TransportError>> {
    let body = br#"{"session_id":"s1","status":"COMPLETED"}"#.to_vec();
    std::future::ready(Ok(http::Response::builder().status(200).body(body).expect("a response")))
}

type PaidApi = fn(Request) -> std::future::Ready<Result<Response, TransportError>>;

fn client(timer: TokioTimer) -> Client<PaidApi> {
    let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_k").unwrap());
    Client::new(config, paid_api as PaidApi, timer)
}

/// Panics on its first `panics` hand-offs, then ships; `hang` makes it wait for ever.
#[derive(Default)]
struct App {
    panics: AtomicUsize,
    hang: bool,
    shipped: std::sync::Mutex<Vec<FinalStatus>>,
}

impl HandOff<MemoryStore> for App {
    async fn hand_off(
        &self,
        _tx: &mut (),
        finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        if self.panics.load(Ordering::SeqCst) > 0 {
            self.panics.fetch_sub(1, Ordering::SeqCst);
            panic!("the app's hand-off panicked (a test)");
        }
        self.shipped.lock().unwrap().push(finished.status);
        Ok(())
    }
}

async fn tracked_store(now: SystemTime) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::default());
    let track = Input::Track { session_id: "s1", expires_at: Some(now + Duration::from_secs(3600)), order_key: None };
    store.apply(track, now, &App::default()).await.unwrap();
    store
}

#[tokio::test(start_paused = true)]
async fn a_panicking_hand_off_is_contained_and_retried_after_its_lease() {
    let timer = TokioTimer::new();
    let store = tracked_store(timer.system_now()).await;
    let app = Arc::new(App { panics: AtomicUsize::new(1), ..App::default() });
    let poller = Poller::new(store.clone(), client(timer), app.clone(), timer);
    tokio::time::advance(Duration::from_secs(31)).await; // past the first read (30 s)
    let round = poller.round().await.unwrap();
    assert_eq!((round.stepped, round.handed_off, round.deferred), (1, 0, 1), "{round:?}");
    assert_eq!(store.get("s1").await.unwrap().unwrap().final_status(), None, "nothing of the step committed");
    assert_eq!(poller.round().await.unwrap().stepped, 0, "claimed until its lease ends");
    // Past the lease (a second more: the wall clock is read twice, a few nanoseconds apart).
    tokio::time::advance(PollerOptions::default().lease + Duration::from_secs(1)).await;
    let round = poller.round().await.unwrap();
    assert_eq!((round.stepped, round.handed_off), (1, 1), "{round:?}");
    assert_eq!(*app.shipped.lock().unwrap(), [FinalStatus::Completed]);
}

#[tokio::test(start_paused = true)]
async fn run_survives_panics_and_stops_within_its_grace_period() {
    let timer = TokioTimer::new();
    let store = tracked_store(timer.system_now()).await;
    // Panics on every hand-off: run goes on, the session is retried after each lease.
    let app = Arc::new(App { panics: AtomicUsize::new(usize::MAX), ..App::default() });
    let poller = Poller::new(store.clone(), client(timer), app.clone(), timer);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(poller.run(
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(!running.is_finished(), "panics did not end the poller");
    assert!(usize::MAX - app.panics.load(Ordering::SeqCst) >= 2, "the session was retried after a panic");
    stop.send(()).unwrap();
    running.await.expect("run returned");

    // A step stuck in the app: run returns at the end of the grace period, the step abandoned.
    let store = tracked_store(timer.system_now()).await;
    let hung = Arc::new(App { hang: true, ..App::default() });
    let mut options = PollerOptions::default();
    options.step_budget = Duration::from_secs(3600); // still stuck when the shutdown comes
    let poller = Poller::with_options(store.clone(), client(timer), hung, timer, options);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(poller.run(
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    tokio::time::sleep(Duration::from_secs(60)).await;
    stop.send(()).unwrap();
    let started = tokio::time::Instant::now();
    running.await.expect("run returned");
    assert_eq!(started.elapsed(), Duration::from_secs(5), "stopped at the end of its grace period");
    assert_eq!(store.get("s1").await.unwrap().unwrap().final_status(), None, "the abandoned step committed nothing");
}

/// With `disable_other_sessions_when_paid`, the order's other open session is disabled through
/// the client once a payment is handed off; a finished one is left alone.
#[tokio::test(start_paused = true)]
async fn a_paid_order_has_its_other_open_sessions_disabled() {
    use std::sync::Mutex;
    let timer = TokioTimer::new();
    let now = timer.system_now();
    let store = Arc::new(MemoryStore::default());
    for (id, order) in [("s1", "o-1"), ("s2", "o-1"), ("s3", "o-1"), ("s4", "o-2")] {
        let track =
            Input::Track { session_id: id, expires_at: Some(now + Duration::from_secs(3600)), order_key: Some(order) };
        store.apply(track, now, &App::default()).await.unwrap();
    }
    // s3 already ended (cancelled).
    let mut cancelled = hpp_core::Session::default();
    cancelled.status = Some(hpp_core::SessionStatus::Cancelled);
    store.apply(Input::Read { session_id: "s3", result: Ok(&cancelled) }, now, &App::default()).await.unwrap();
    let sent: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = sent.clone();
    let api = move |request: Request| {
        let line = format!("{} {}", request.method(), request.uri().path());
        log.lock().unwrap().push(line);
        let (status, body) = match (request.method().as_str(), request.uri().path()) {
            ("GET", path) if path.ends_with("/s1") => (200, br#"{"status":"COMPLETED"}"#.to_vec()),
            ("GET", _) => (200, br#"{"status":"WAITING"}"#.to_vec()),
            _ => (204, Vec::new()),
        };
        std::future::ready(Ok::<Response, TransportError>(http::Response::builder().status(status).body(body).unwrap()))
    };
    let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_k").unwrap());
    let mut options = PollerOptions::default();
    options.disable_other_sessions_when_paid = true;
    options.slots = 1;
    let poller = Poller::with_options(store, Client::new(config, api, timer), Arc::new(App::default()), timer, options);
    tokio::time::advance(Duration::from_secs(31)).await; // past the first read (30 s)
    let round = poller.round().await.unwrap();
    assert_eq!(round.handed_off, 1, "{round:?}");
    let disabled: Vec<String> = sent.lock().unwrap().iter().filter(|l| l.starts_with("DELETE")).cloned().collect();
    assert_eq!(disabled, ["DELETE /hpp/v1/sessions/s2"], "only the paid order's open session");
}

/// Two pollers in one process (or two containers, each process 1) get different owners by
/// default, so that their claims are told apart.
#[test]
fn default_owners_are_unique() {
    let (a, b) = (PollerOptions::default().owner, PollerOptions::default().owner);
    assert_ne!(a, b);
    assert!(a.starts_with("poller-") && a.contains(&format!("-{}-", std::process::id())), "{a}");
}

/// A step stuck in the app past the step budget is abandoned: the round goes on (counted as
/// deferred), nothing of it commits, and the session is stepped again after its lease.
#[tokio::test(start_paused = true)]
async fn a_step_past_its_budget_is_abandoned() {
    let timer = TokioTimer::new();
    let store = tracked_store(timer.system_now()).await;
    let hung = Arc::new(App { hang: true, ..App::default() });
    let mut options = PollerOptions::default();
    options.step_budget = Duration::from_secs(5);
    let poller = Poller::with_options(store.clone(), client(timer), hung, timer, options);
    tokio::time::advance(Duration::from_secs(31)).await; // past the first read (30 s)
    let started = tokio::time::Instant::now();
    let round = poller.round().await.unwrap();
    assert_eq!((round.stepped, round.deferred), (1, 1), "{round:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(5), "abandoned at its budget");
    assert_eq!(store.get("s1").await.unwrap().unwrap().final_status(), None);
}

/// A 429 with `Retry-After: 120` pauses every read (through the store, so every replica's),
/// not only the session it answered; reads go on once the pause has passed.
#[tokio::test(start_paused = true)]
async fn a_rate_limited_read_pauses_all_reads() {
    use std::sync::atomic::AtomicBool;
    let timer = TokioTimer::new();
    let now = timer.system_now();
    let store = Arc::new(MemoryStore::default());
    for id in ["s1", "s2", "s3"] {
        let track =
            Input::Track { session_id: id, expires_at: Some(now + Duration::from_secs(36_000)), order_key: None };
        store.apply(track, now, &App::default()).await.unwrap();
    }
    let limited = Arc::new(AtomicBool::new(true));
    let reads = Arc::new(AtomicUsize::new(0));
    let (limit, count) = (limited.clone(), reads.clone());
    let api = move |_request: Request| {
        count.fetch_add(1, Ordering::SeqCst);
        let response = if limit.load(Ordering::SeqCst) {
            http::Response::builder().status(429).header("retry-after", "120").body(Vec::new())
        } else {
            http::Response::builder().status(200).body(br#"{"status":"WAITING"}"#.to_vec())
        };
        std::future::ready(Ok::<Response, TransportError>(response.unwrap()))
    };
    let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_k").unwrap());
    let client = Client::new(config, api, timer).with_retry_policy(hpp_core::retry::RetryPolicy::none());
    let mut options = PollerOptions::default();
    options.slots = 1;
    let poller = Poller::with_options(store, client, Arc::new(App::default()), timer, options);
    tokio::time::advance(Duration::from_secs(31)).await; // past the first read (30 s)
    let round = poller.round().await.unwrap();
    assert_eq!((round.stepped, reads.load(Ordering::SeqCst)), (1, 1), "one 429, then no more reads: {round:?}");
    limited.store(false, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(poller.round().await.unwrap().stepped, 0, "still paused");
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(poller.round().await.unwrap().stepped, 3, "the pause passed: every due session is read");
}

/// A hand-off that always fails with the kind `ledger_down`.
struct Failing;

impl HandOff<MemoryStore> for Failing {
    async fn hand_off(
        &self,
        _tx: &mut (),
        _finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Err(Box::new(hpp_core::tracking::HandOffError::new("ledger_down", "the ledger said no to j.doe@example.com")))
    }
}

/// Every log line written while the guard lives, at DEBUG and above.
fn capture_logs() -> (Arc<std::sync::Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    #[derive(Clone)]
    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink(Default::default());
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (sink.0, tracing::subscriber::set_default(subscriber))
}

/// Issue 35: a failed hand-off's log line names the app's error kind and the session's
/// reference (what `kustom-hpp tracking list --reference` finds), never its id nor the error's
/// text; once parked, at error. The parked session keeps the kind for operators.
#[tokio::test(start_paused = true)]
async fn a_failed_hand_off_is_logged_with_its_kind_and_reference() {
    let (logs, _guard) = capture_logs();
    let timer = TokioTimer::new();
    let now = timer.system_now();
    let mut policy = hpp_core::tracking::TrackingPolicy::default();
    policy.park_after_failures = 2;
    let store = Arc::new(MemoryStore::new(policy));
    let id = "9cbc9884-1fdb-45a8-9694-9340340d0436";
    let track = Input::Track { session_id: id, expires_at: Some(now + Duration::from_secs(36_000)), order_key: None };
    store.apply(track, now, &App::default()).await.unwrap();
    let poller = Poller::new(store.clone(), client(timer), Arc::new(Failing), timer);
    for _ in 0..2 {
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(poller.round().await.unwrap().deferred, 1);
    }
    let state = store.get(id).await.unwrap().unwrap();
    assert!(state.is_parked(), "parked after two failures");
    assert_eq!(state.last_error_kind(), Some("ledger_down"));
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let reference = state.reference();
    assert!(reference.starts_with("trk-") && reference.len() == 16, "{reference}");
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains("hand-off failed")).collect();
    assert_eq!(lines.len(), 2, "{logs}");
    assert!(lines[0].contains("WARN") && lines[0].contains("kind=\"ledger_down\""), "{}", lines[0]);
    assert!(lines[0].contains(&format!("reference={reference}")), "{}", lines[0]);
    assert!(lines[1].contains("ERROR") && lines[1].contains("parked"), "{}", lines[1]);
    assert!(!logs.contains(id) && !logs.contains("j.doe"), "no id, no error text: {logs}");
}

/// Issue 35: `run` deletes, every `prune_every`, what is older than the retention: over three
/// simulated months of sessions handed off daily, the store holds about a retention's worth.
#[tokio::test(start_paused = true)]
async fn over_months_the_store_holds_a_retention_of_sessions() {
    let timer = TokioTimer::new();
    let mut policy = hpp_core::tracking::TrackingPolicy::default();
    policy.retention = Duration::from_secs(30 * 86_400);
    let store = Arc::new(MemoryStore::new(policy));
    let app = Arc::new(App::default());
    let mut options = PollerOptions::default();
    options.prune_every = Duration::from_secs(3600);
    options.idle = Duration::from_secs(60);
    let poller = Poller::with_options(store.clone(), client(timer), app.clone(), timer, options);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(poller.run(
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    let per_day = 10;
    let mut ids = Vec::new();
    for day in 0..90 {
        let now = timer.system_now();
        for n in 0..per_day {
            let id = format!("day{day}-s{n}");
            let track =
                Input::Track { session_id: &id, expires_at: Some(now + Duration::from_secs(3600)), order_key: None };
            store.apply(track, now, &*app).await.unwrap();
            ids.push(id);
        }
        tokio::time::sleep(Duration::from_secs(86_400)).await;
    }
    stop.send(()).unwrap();
    running.await.unwrap();
    assert_eq!(app.shipped.lock().unwrap().len(), 90 * per_day, "every session handed off");
    let mut kept = 0;
    for id in &ids {
        kept += usize::from(store.get(id).await.unwrap().is_some());
    }
    // Handed off within a minute of each day's start, pruned within an hour of 30 days after.
    assert!(kept <= 31 * per_day, "{kept} sessions kept: the store grows");
    assert!(kept >= 29 * per_day, "{kept} sessions kept: deleted before the retention");
    assert_eq!(store.pending().await.unwrap(), 0);
}

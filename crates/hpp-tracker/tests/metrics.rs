//! The tracker's metrics (issue 35), through the `metrics` facade: recorded here by a recorder of
//! the test's own. A callback, the poller's read and hand-off, the gauges of `run`; no label
//! carries an id.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hpp_core::callback::CallbackSecret;
use hpp_core::tracking::{Finished, HandOff, Input, MemoryStore, TrackingStore};
use hpp_core::{Client, Config, Credentials, Environment, Mode, Request, Response, Timer, TransportError};
use hpp_runtime::TokioTimer;
use hpp_tracker::{CallbackReceiver, Poller, PollerOptions};
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use tower_service::Service;

const SECRET: &str = "7d1cbc3b-4f0e-4d4c-9b7e-2f1e0c9a6d11";
const SESSION: &str = "9cbc9884-1fdb-45a8-9694-9340340d0436";

/// Every metric's value by `name{label=value,...}`: counters and gauges their value, histograms
/// how many values they recorded.
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<BTreeMap<String, f64>>>);

struct Cell(String, Recorded);

impl Cell {
    fn change(&self, change: impl FnOnce(&mut f64)) {
        change(self.1.0.lock().unwrap().entry(self.0.clone()).or_default());
    }
}

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.change(|v| *v += value as f64);
    }
    fn absolute(&self, value: u64) {
        self.change(|v| *v = value as f64);
    }
}

impl GaugeFn for Cell {
    fn increment(&self, value: f64) {
        self.change(|v| *v += value);
    }
    fn decrement(&self, value: f64) {
        self.change(|v| *v -= value);
    }
    fn set(&self, value: f64) {
        self.change(|v| *v = value);
    }
}

impl HistogramFn for Cell {
    fn record(&self, _value: f64) {
        self.change(|v| *v += 1.0);
    }
}

impl Recorded {
    fn cell(&self, key: &Key) -> Arc<Cell> {
        let mut labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        labels.sort();
        Arc::new(Cell(format!("{}{{{}}}", key.name(), labels.join(",")), self.clone()))
    }

    fn get(&self, name: &str) -> f64 {
        self.0.lock().unwrap().get(name).copied().unwrap_or_default()
    }
}

impl Recorder for Recorded {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.cell(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.cell(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.cell(key))
    }
}

struct Ship;

impl HandOff<MemoryStore> for Ship {
    async fn hand_off(
        &self,
        _tx: &mut (),
        _finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }
}

/// The API: the session is paid.
fn paid_api(_request: Request) -> std::future::Ready<Result<Response, TransportError>> {
    let body = format!(r#"{{"session_id":"{SESSION}","status":"COMPLETED"}}"#).into_bytes();
    std::future::ready(Ok(http::Response::builder().status(200).body(body).expect("a response")))
}

#[tokio::test(start_paused = true)]
async fn a_callback_a_read_and_a_hand_off_are_counted_without_ids() {
    let recorded = Recorded::default();
    let _guard = metrics::set_default_local_recorder(&recorded);
    let timer = TokioTimer::new();
    let now = timer.system_now();
    let store = Arc::new(MemoryStore::default());
    let track =
        Input::Track { session_id: SESSION, expires_at: Some(now + Duration::from_secs(36_000)), order_key: None };
    store.apply(track, now, &Ship).await.unwrap();

    // A COMPLETED callback (claimed: confirmed by a read), and its redelivery.
    let receiver = CallbackReceiver::new(store.clone(), Arc::new(Ship), CallbackSecret::new(SECRET).unwrap(), timer);
    let mut router: axum::Router = receiver.router("/cb");
    let body = format!(r#"{{"event_id":"e-7f3a","session":{{"session_id":"{SESSION}","status":"COMPLETED"}}}}"#);
    for _ in 0..2 {
        let request =
            http::Request::post(format!("/cb?secret={SECRET}")).body(axum::body::Body::from(body.clone())).unwrap();
        assert_eq!(router.call(request).await.unwrap().status(), 200);
    }
    // The poller reads it (due at once) and hands it off; `run` counts the store's sessions.
    let config = Config::new(Environment::Kustom(Mode::Playground), Credentials::api_key("kco_test_api_k").unwrap());
    type Api = fn(Request) -> std::future::Ready<Result<Response, TransportError>>;
    let client = Client::new(config, paid_api as Api, timer);
    let mut options = PollerOptions::default();
    options.gauges_every = Duration::from_secs(5);
    let poller = Poller::with_options(store.clone(), client, Arc::new(Ship), timer, options);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(poller.run(
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    tokio::time::sleep(Duration::from_secs(30)).await;
    stop.send(()).unwrap();
    running.await.unwrap();

    assert_eq!(recorded.get("hpp_tracker_callbacks_total{receipt=applied}"), 1.0);
    assert_eq!(recorded.get("hpp_tracker_callbacks_total{receipt=duplicate}"), 1.0);
    assert_eq!(recorded.get("hpp_tracker_step_seconds{by=callback}"), 2.0, "one duration per callback");
    assert_eq!(recorded.get("hpp_tracker_reads_total{outcome=ok}"), 1.0);
    assert!(recorded.get("hpp_tracker_step_seconds{by=poller}") >= 1.0);
    assert_eq!(recorded.get("hpp_tracker_hand_offs_total{by=poller,outcome=handed_off,status=COMPLETED}"), 1.0);
    assert_eq!(recorded.get("hpp_tracker_sessions{standing=handed_off}"), 1.0, "the gauges after the hand-off");
    assert_eq!(recorded.get("hpp_tracker_sessions{standing=waiting}"), 0.0);
    assert_eq!(recorded.get("hpp_tracker_sessions_due{}"), 0.0);
    let names = recorded.0.lock().unwrap().keys().cloned().collect::<Vec<_>>().join("\n");
    assert!(!names.contains(SESSION) && !names.contains("e-7f3a") && !names.contains(SECRET), "{names}");
}

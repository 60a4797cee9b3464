//! What reaches the logs from the PostgreSQL store: the SDK logs no ids (its own rule, checked in
//! `tests/it/logs.rs`), but tokio-postgres logs every statement's parameters at DEBUG through the
//! `log` crate. This holds the documented advice exact: every record that names a session comes
//! from a `tokio_postgres` target, so keeping that target at INFO keeps ids out.

use std::sync::Mutex;
use std::time::SystemTime;

use hpp_core::tracking::{Input, TrackingPolicy, TrackingStore};
use hpp_postgres::PgStore;
use hpp_postgres::testing::TempPostgres;
use hpp_testing::store_kit::NoHandOff;

/// Every `log` record at DEBUG and above: (target, message).
static RECORDS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Debug
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            RECORDS.lock().unwrap().push((record.target().to_owned(), record.args().to_string()));
        }
    }
    fn flush(&self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_tokio_postgres_logs_ids_and_at_debug() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Debug);
    let store = PgStore::connect(&pg.url(), TrackingPolicy::default()).await.unwrap();
    store.migrate().await.unwrap();
    let session = "planted-session-5c3e";
    store
        .apply(Input::Track { session_id: session, expires_at: None, order_key: None }, SystemTime::now(), &NoHandOff)
        .await
        .unwrap();
    store.get(session).await.unwrap();
    let records = RECORDS.lock().unwrap().clone();
    let naming: Vec<&(String, String)> = records.iter().filter(|(_, message)| message.contains(session)).collect();
    assert!(!naming.is_empty(), "tokio-postgres logs parameters at DEBUG (the reason for the advice)");
    for (target, message) in &naming {
        assert!(target.starts_with("tokio_postgres"), "{target}: {message}");
    }
}

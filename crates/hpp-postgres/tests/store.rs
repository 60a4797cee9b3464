//! The PostgreSQL store against a real, throwaway server (`TempPostgres`): exactly-once hand-off
//! across replicas, duplicates and redeliveries, claims with leases, failing and abandoned
//! hand-offs, a server restart. SKIPPED without PostgreSQL (a failure under `CI=true`).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hpp_core::callback::StatusCallback;
use hpp_core::tracking::{
    Applied, Due, FinalStatus, Finished, HandOff, Input, StoreError, TrackingPolicy, TrackingStore,
};
use hpp_core::{Session, SessionStatus};
use hpp_postgres::testing::TempPostgres;
use hpp_postgres::{PgStore, PgTx};
use hpp_testing::store_kit::{self, Books};
use tokio_postgres::Client;

/// A read that failed with `status` (and `Retry-After: retry_after` seconds).
fn read_error(status: u16, retry_after: Option<u64>) -> hpp_core::Error {
    use hpp_core::{Operation, ReadSession};
    let mut response = hpp_core::http::Response::builder().status(status);
    if let Some(secs) = retry_after {
        response = response.header("retry-after", secs);
    }
    ReadSession::new("s").parse(response.body(Vec::new()).unwrap()).unwrap_err()
}
const START: u64 = 1_800_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// The app's work: a row in its own table, in the store's transaction. Fails while the order is
/// marked "refuse", to stand for the app's database refusing the write.
struct Ship;

impl HandOff<PgStore> for Ship {
    async fn hand_off(
        &self,
        tx: &mut PgTx,
        finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let refused = tx.query_opt("SELECT 1 FROM refuse WHERE session_id = $1", &[&finished.session_id]).await?;
        tx.execute(
            "INSERT INTO shipped (session_id, status) VALUES ($1, $2)",
            &[&finished.session_id, &finished.status.as_str()],
        )
        .await?;
        if refused.is_some() {
            return Err("the app refused".into());
        }
        Ok(())
    }
}

/// A policy taking callbacks at their word and tracking the sessions they name: for the tests
/// of what replicas share (the rules' confirmation by a read is the store kit's).
fn trusting() -> TrackingPolicy {
    let mut policy = TrackingPolicy::default();
    policy.confirm_callbacks = false;
    policy.track_unknown_sessions = true;
    policy
}

async fn setup(pg: &TempPostgres) -> (PgStore, Client) {
    setup_with(pg, TrackingPolicy::default()).await
}

async fn setup_with(pg: &TempPostgres, policy: TrackingPolicy) -> (PgStore, Client) {
    let store = PgStore::connect(&pg.url(), policy).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap(); // idempotent
    let (client, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS shipped (session_id text NOT NULL, status text NOT NULL);\
             CREATE TABLE IF NOT EXISTS refuse (session_id text PRIMARY KEY);",
        )
        .await
        .unwrap();
    (store, client)
}

fn callback(event_id: &str, session_id: &str, status: &str) -> StatusCallback {
    let body = serde_json::json!({
        "event_id": event_id,
        "session": { "session_id": session_id, "status": status, "updated_at": "2027-01-15T08:00:00Z" }
    });
    StatusCallback::parse(body.to_string().as_bytes()).unwrap()
}

async fn shipped(app: &Client, session_id: &str) -> Vec<String> {
    app.query("SELECT status FROM shipped WHERE session_id = $1", &[&session_id])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_callback_is_handed_off_once_whichever_replica_gets_it() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let (replica_a, app) = setup_with(&pg, trusting()).await;
    let replica_b = PgStore::connect(&pg.url(), trusting()).await.unwrap();
    let track = Input::Track { session_id: "s1", expires_at: Some(at(START + 3600)), order_key: None };
    assert_eq!(replica_a.apply(track, at(START), &Ship).await.unwrap(), Applied::Done { handed_off: None });
    assert_eq!(
        replica_b.apply(track, at(START), &Ship).await.unwrap(),
        Applied::Done { handed_off: None },
        "idempotent"
    );

    let waiting = callback("e0", "s1", "IN_PROGRESS");
    assert_eq!(
        replica_a.apply(Input::Callback(&waiting), at(START + 1), &Ship).await.unwrap(),
        Applied::Done { handed_off: None }
    );
    let paid = callback("e1", "s1", "COMPLETED");
    let first = replica_a.apply(Input::Callback(&paid), at(START + 2), &Ship).await.unwrap();
    assert_eq!(first, Applied::Done { handed_off: Some(FinalStatus::Completed) });
    // The service's retry lands on the other replica; a later read says the same.
    assert_eq!(replica_b.apply(Input::Callback(&paid), at(START + 5), &Ship).await.unwrap(), Applied::Duplicate);
    let mut read = Session::default();
    read.status = Some(SessionStatus::Completed);
    let input = Input::Read { session_id: "s1", result: Ok(&read) };
    assert_eq!(replica_b.apply(input, at(START + 6), &Ship).await.unwrap(), Applied::Done { handed_off: None });
    let other_event = callback("e2", "s1", "CANCELLED");
    replica_b.apply(Input::Callback(&other_event), at(START + 7), &Ship).await.unwrap();
    assert_eq!(shipped(&app, "s1").await, ["COMPLETED"]);
    let state = replica_b.get("s1").await.unwrap().unwrap();
    assert_eq!(state.final_status(), Some(FinalStatus::Completed));
    assert!(state.is_handed_off());
    assert_eq!(replica_a.pending().await.unwrap(), 0);
    // A callback for a session never tracked starts tracking it (with this policy); one without
    // an id is refused.
    let stranger = callback("e3", "s2", "WAITING");
    assert_eq!(
        replica_a.apply(Input::Callback(&stranger), at(START), &Ship).await.unwrap(),
        Applied::Done { handed_off: None }
    );
    assert_eq!(replica_a.pending().await.unwrap(), 1);
    let unavailable = read_error(503, None);
    let unknown = Input::Read { session_id: "nope", result: Err(&unavailable) };
    assert_eq!(replica_a.apply(unknown, at(START), &Ship).await.unwrap(), Applied::Unknown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_to_replicas_hand_off_each_session_once() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let (store, app) = setup_with(&pg, trusting()).await;
    let replicas: Vec<Arc<PgStore>> = vec![
        Arc::new(store),
        Arc::new(PgStore::connect(&pg.url(), trusting()).await.unwrap()),
        Arc::new(PgStore::connect(&pg.url(), trusting()).await.unwrap()),
    ];
    let sessions = 40;
    let mut tasks = Vec::new();
    for s in 0..sessions {
        for (r, replica) in replicas.iter().enumerate() {
            for copy in 0..2 {
                let replica = replica.clone();
                tasks.push(tokio::spawn(async move {
                    // Each replica gets the same final event twice, and another status's event once.
                    let status = if copy == 0 { "COMPLETED" } else { "IN_PROGRESS" };
                    let event = callback(&format!("e{s}-{copy}"), &format!("s{s}"), status);
                    // The service retries what was not answered 2xx; Busy is such an answer.
                    loop {
                        match replica.apply(Input::Callback(&event), at(START + r as u64), &Ship).await {
                            Ok(Applied::Busy) => tokio::task::yield_now().await,
                            Ok(applied) => return applied,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }));
            }
        }
    }
    let mut handed = 0;
    for task in tasks {
        if let Applied::Done { handed_off: Some(_) } = task.await.unwrap() {
            handed += 1;
        }
    }
    assert_eq!(handed, sessions, "one hand-off per session");
    let rows = app.query("SELECT session_id, count(*) FROM shipped GROUP BY session_id", &[]).await.unwrap();
    assert_eq!(rows.len(), sessions);
    for row in rows {
        assert_eq!(row.get::<_, i64>(1), 1, "{} shipped more than once", row.get::<_, String>(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pollers_share_due_sessions_without_reading_one_twice_and_leases_lapse() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    // Without a read budget: the claims' sharing is under test (the budget has its own).
    let (store, _app) = setup_with(&pg, store_kit::policy()).await;
    let store = Arc::new(store);
    for s in 0..30 {
        let id = format!("s{s}");
        store
            .apply(Input::Track { session_id: &id, expires_at: None, order_key: None }, at(START), &Ship)
            .await
            .unwrap();
    }
    let lease = Duration::from_secs(60);
    assert!(store.claim_due("p0", 100, lease, at(START + 29)).await.unwrap().is_empty(), "none due yet");
    let mut claims = Vec::new();
    for p in 0..3 {
        let store = store.clone();
        claims.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_due(&format!("p{p}"), 4, lease, at(START + 30)).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch);
            }
        }));
    }
    let mut all: Vec<String> = Vec::new();
    for claim in claims {
        all.extend(claim.await.unwrap().iter().map(|due| due.session_id().to_owned()));
    }
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!((before, all.len()), (30, 30), "every due session claimed by exactly one poller");
    // A crashed poller never applies its reads: its claims lapse with the lease.
    assert!(store.claim_due("p9", 100, lease, at(START + 89)).await.unwrap().is_empty());
    assert_eq!(store.claim_due("p9", 100, lease, at(START + 90)).await.unwrap().len(), 30);
    // A read applied releases the claim and schedules the next read.
    let rate_limited = read_error(429, Some(500));
    let input = Input::Read { session_id: "s0", result: Err(&rate_limited) };
    store.apply(input, at(START + 91), &Ship).await.unwrap();
    let state = store.get("s0").await.unwrap().unwrap();
    assert_eq!(state.next_due_at(), Some(at(START + 591)), "Retry-After honoured");
    // Past giving up, a claim says to expire each session (no read), most overdue first.
    let gave_up = START + 47 * 3600 + 3600;
    let due = store.claim_due("p9", 100, lease, at(gave_up)).await.unwrap();
    assert_eq!(due.len(), 30);
    assert!(due.iter().all(|due| matches!(due, Due::Expire(_))), "{due:?}");
}

/// The app's books for the store kit: rows of a table, written in the step's transaction.
struct KitBooks(Client);

impl Books<PgStore> for KitBooks {
    async fn write(&self, tx: &mut PgTx, entry: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        tx.execute("INSERT INTO kit_books (entry) VALUES ($1)", &[&entry]).await?;
        Ok(())
    }

    async fn committed(&self) -> Vec<String> {
        let rows = self.0.query("SELECT entry FROM kit_books", &[]).await.expect("the books are readable");
        rows.iter().map(|row| row.get(0)).collect()
    }
}

/// The store kit every store runs (the memory store runs it in `hpp-core`'s tests): answers,
/// state, claims, refused events, failed and abandoned hand-offs, interleavings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_store_passes_the_store_kit() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let (store, app) = setup_with(&pg, store_kit::policy()).await;
    app.batch_execute("CREATE TABLE kit_books (entry text NOT NULL)").await.unwrap();
    store_kit::check(&store, &KitBooks(app), 1000).await;
}

/// Issue 36: the read budget every replica's claims take from, on a fresh database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_store_keeps_a_read_budget() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let (store, _app) = setup(&pg).await;
    store_kit::check_read_budget(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_survives_a_server_restart() {
    let Some(mut pg) = TempPostgres::start_or_skip() else { return };
    let (store, _app) = setup_with(&pg, trusting()).await;
    store.apply(Input::Track { session_id: "s1", expires_at: None, order_key: None }, at(START), &Ship).await.unwrap();
    pg.restart().unwrap();
    // The pooled connections died with the server; the first use may fail, then it reconnects.
    let paid = callback("e1", "s1", "COMPLETED");
    let mut attempts = 0;
    let applied = loop {
        attempts += 1;
        match store.apply(Input::Callback(&paid), at(START + 1), &Ship).await {
            Ok(applied) => break applied,
            Err(StoreError::Backend(_)) if attempts < 10 => continue,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(applied, Applied::Done { handed_off: Some(FinalStatus::Completed) });
    assert_eq!(store.apply(Input::Callback(&paid), at(START + 2), &Ship).await.unwrap(), Applied::Duplicate);
}

#[tokio::test]
async fn the_connection_url_and_its_password_are_never_shown() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://app:pl4nted-pw@127.0.0.1:{port}/shop");
    let error = PgStore::connect(&url, TrackingPolicy::default()).await.unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("Connection refused") || shown.contains("connect"), "{shown}");
    assert!(!shown.contains("pl4nted-pw"), "{shown}");
    let bad = PgStore::connect("postgres://app:pl4nted-pw@127.0.0.1:notaport/db", TrackingPolicy::default()).await;
    let shown = format!("{:?}", bad.unwrap_err());
    assert!(!shown.contains("pl4nted-pw"), "{shown}");
    if let Some(pg) = TempPostgres::start_or_skip() {
        let store = PgStore::connect(&pg.url(), TrackingPolicy::default()).await.unwrap();
        let debug = format!("{store:?}");
        assert!(!debug.contains("127.0.0.1") && !debug.contains("postgres://"), "{debug}");
    }
}

/// A hand-off that writes, says it has started, and never finishes (the replica froze).
struct Hang(tokio::sync::mpsc::Sender<()>);

impl HandOff<PgStore> for Hang {
    async fn hand_off(
        &self,
        tx: &mut PgTx,
        finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        tx.execute("INSERT INTO shipped (session_id, status) VALUES ($1, 'HUNG')", &[&finished.session_id]).await?;
        let _ = self.0.send(()).await;
        std::future::pending::<()>().await;
        Ok(())
    }
}

/// A replica cut off mid-step (its transaction open, its connection alive: a partition, a frozen
/// VM, a proxy in between) holds the session for the step timeout only: PostgreSQL ends the idle
/// transaction and rolls it back, and another replica's step goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_frozen_mid_step_frees_the_session_within_the_step_timeout() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let (store, app) = setup(&pg).await;
    let frozen = PgStore::connect(&pg.url(), TrackingPolicy::default()).await.unwrap();
    let frozen = Arc::new(frozen.with_step_timeout(Duration::from_secs(1)));
    store.apply(Input::Track { session_id: "s1", expires_at: None, order_key: None }, at(START), &Ship).await.unwrap();
    let (started, mut has_started) = tokio::sync::mpsc::channel(1);
    // Never aborted: the frozen replica keeps its connection, and its transaction, open.
    let _frozen_step = tokio::spawn(async move {
        let mut paid = Session::default();
        paid.status = Some(SessionStatus::Completed);
        let _ = frozen.apply(Input::Read { session_id: "s1", result: Ok(&paid) }, at(START + 1), &Hang(started)).await;
    });
    has_started.recv().await.expect("the frozen step started");
    let mut paid = Session::default();
    paid.status = Some(SessionStatus::Completed);
    let read = Input::Read { session_id: "s1", result: Ok(&paid) };
    // A guard, not a timing assertion: without a server-side bound the session stays locked.
    let applied = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match store.apply(read, at(START + 2), &Ship).await.unwrap() {
                Applied::Busy => tokio::task::yield_now().await, // until the server ends the frozen transaction
                applied => return applied,
            }
        }
    })
    .await
    .expect("the session was freed by the server");
    assert_eq!(applied, Applied::Done { handed_off: Some(FinalStatus::Completed) });
    assert_eq!(shipped(&app, "s1").await, ["COMPLETED"], "the frozen step's write was rolled back");
}

/// A hand-off stuck inside a statement, abandoned at a deadline, has that statement cancelled on
/// the server, and its connection's pool slot is not reused until the connection has ended: the
/// store never holds more server connections than its pool size (it used to open a new one per
/// abandoned step while the old backend kept running).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_steps_are_cancelled_on_the_server_and_connections_stay_bounded() {
    struct Sleeps;
    impl HandOff<PgStore> for Sleeps {
        async fn hand_off(
            &self,
            tx: &mut PgTx,
            _finished: &Finished,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            tx.execute("SELECT pg_sleep(30)", &[]).await?;
            Ok(())
        }
    }
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let (_setup, app) = setup(&pg).await;
    let url = format!("{}?application_name=hpp-bounded", pg.url());
    let store = PgStore::connect(&url, TrackingPolicy::default()).await.unwrap(); // a pool of 8
    let mut paid = Session::default();
    paid.status = Some(SessionStatus::Completed);
    let backends = || async {
        let row = app
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE query LIKE '%pg_sleep%' AND state = 'active') \
                 FROM pg_stat_activity WHERE application_name = 'hpp-bounded'",
                &[],
            )
            .await
            .unwrap();
        (row.get::<_, i64>(0), row.get::<_, i64>(1))
    };
    let mut most = 0;
    for s in 0..12 {
        let id = format!("s{s}");
        store
            .apply(Input::Track { session_id: &id, expires_at: None, order_key: None }, at(START), &Ship)
            .await
            .unwrap();
        let step = store.apply(Input::Read { session_id: &id, result: Ok(&paid) }, at(START + 1), &Sleeps);
        // The receiver's deadline: the step is dropped while its statement runs.
        assert!(tokio::time::timeout(Duration::from_millis(300), step).await.is_err(), "still sleeping");
        most = most.max(backends().await.0);
    }
    // Readiness: the cancelled statements end, and so do their connections.
    let settled = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let (_, sleeping) = backends().await;
            if sleeping == 0 {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(settled.is_ok(), "an abandoned statement still runs on the server: {:?}", backends().await);
    assert!(most <= 8, "more server connections than the pool's 8: {most}");
    // Nothing of the abandoned steps committed; the sessions are stepped again, and are free.
    assert!(shipped(&app, "s0").await.is_empty());
    let applied = store.apply(Input::Read { session_id: "s0", result: Ok(&paid) }, at(START + 2), &Ship).await.unwrap();
    assert_eq!(applied, Applied::Done { handed_off: Some(FinalStatus::Completed) });
}

/// Issue 35: over simulated months of sessions paid each day (a callback, then its hand-off), the
/// tables hold about a retention's worth once pruned daily, in batches: they stopped growing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_months_the_tables_hold_a_retention_of_rows() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let (store, app) = setup_with(&pg, trusting()).await;
    let retention_days = trusting().retention.as_secs() / 86_400;
    let per_day = 5u64;
    let count = |table: &'static str| {
        let app = &app;
        async move {
            let row = app.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap();
            u64::try_from(row.get::<_, i64>(0)).unwrap()
        }
    };
    let start = 1_800_000_000;
    let mut most = (0, 0);
    for day in 0..90 {
        let now = start + day * 86_400;
        for n in 0..per_day {
            let id = format!("month-{day}-{n}");
            let track = Input::Track { session_id: &id, expires_at: Some(at(now + 3600)), order_key: None };
            store.apply(track, at(now), &Ship).await.unwrap();
            let paid = callback(&format!("month-e-{day}-{n}"), &id, "COMPLETED");
            store.apply(Input::Callback(&paid), at(now + 60), &Ship).await.unwrap();
        }
        // The poller's pass: batches while they find rows.
        while store.prune(at(now + 3600), 7).await.unwrap() > 0 {}
        most = (most.0.max(count("hpp_tracked_session").await), most.1.max(count("hpp_callback_event").await));
    }
    let bound = (retention_days + 1) * per_day;
    assert!(most.0 <= bound && most.1 <= bound, "at most {most:?} rows, bound {bound}: the tables grow");
    assert!(most.0 >= retention_days * per_day, "{most:?}: rows deleted before the retention");
    assert_eq!(shipped(&app, "month-89-0").await, ["COMPLETED"]);
    assert_eq!(store.pending().await.unwrap(), 0);
}

/// A hand-off failing on a database error the app did not classify: kept (and shown to
/// operators) as `database:<SQLSTATE>`, not `unclassified`.
struct Broken;

impl HandOff<PgStore> for Broken {
    async fn hand_off(
        &self,
        tx: &mut PgTx,
        _finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        tx.execute("UPDATE no_such_table SET x = 1", &[]).await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_error_in_the_hand_off_is_kept_by_its_sqlstate() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let (store, _app) = setup(&pg).await;
    store
        .apply(Input::Track { session_id: "s-1", expires_at: None, order_key: None }, at(START), &Broken)
        .await
        .unwrap();
    let mut paid = Session::default();
    paid.status = Some(SessionStatus::Completed);
    assert!(store.apply(Input::Read { session_id: "s-1", result: Ok(&paid) }, at(START), &Broken).await.is_err());
    let state = store.get("s-1").await.unwrap().unwrap();
    assert_eq!(state.last_error_kind(), Some("database:42P01"), "undefined table");
}

/// What a statement's plan read of the sessions' table: rows a filter threw away, and buffers
/// touched (all tables), from `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`: work, not time.
async fn work_of(
    client: &Client,
    statement: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> (i64, i64, bool) {
    fn walk(node: &serde_json::Value, removed: &mut i64, seq_scan: &mut bool) {
        if node["Relation Name"] == "hpp_tracked_session" {
            *removed += node["Rows Removed by Filter"].as_i64().unwrap_or(0);
            *seq_scan |= node["Node Type"] == "Seq Scan";
        }
        for child in node["Plans"].as_array().into_iter().flatten() {
            walk(child, removed, seq_scan);
        }
    }
    let row = client.query_one(&format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}"), params).await.unwrap();
    let plan: serde_json::Value = row.get::<_, tokio_postgres::types::Json<serde_json::Value>>(0).0;
    let root = &plan[0]["Plan"];
    let (mut removed, mut seq_scan) = (0, false);
    walk(root, &mut removed, &mut seq_scan);
    let buffers = root["Shared Hit Blocks"].as_i64().unwrap_or(0) + root["Shared Read Blocks"].as_i64().unwrap_or(0);
    (removed, buffers, seq_scan)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_and_counts_read_what_they_return_not_the_whole_table() {
    use hpp_core::tracking::TrackedSession;
    use hpp_postgres::testing::insert_sessions;
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let (store, client) = setup_with(&pg, store_kit::policy()).await;
    let policy = store_kit::policy();
    let now = at(START + 3600);
    let quiet = TrackedSession::new("template", None, at(START), &policy);
    // Many sessions not due yet, many claimed by a replica that died (its leases not over), and
    // a few due: each claim, and each count, must read about what it returns.
    insert_sessions(&client, "later-", 20_000, &quiet, at(START + 7200)).await.unwrap();
    insert_sessions(&client, "dead-", 5_000, &quiet, at(START)).await.unwrap();
    let lease = Duration::from_secs(600);
    assert_eq!(store.claim_due("gone", 5_000, lease, at(START + 3300)).await.unwrap().len(), 5_000);
    insert_sessions(&client, "due-", 10, &quiet, at(START + 60)).await.unwrap();
    // As autovacuum leaves it, the dead claims long past: the versions their claims replaced gone.
    client.batch_execute("VACUUM ANALYZE hpp_tracked_session").await.unwrap();
    let counts = store.counts(now).await.unwrap();
    assert_eq!((counts.waiting, counts.due), (25_010, 10), "{counts:?}");
    // And a backlog of sessions woken by recorded callbacks (a receiver ahead of the pollers).
    const WOKEN: usize = 1_000;
    for s in 0..WOKEN {
        let activity = callback(&format!("later-{s}-e"), &format!("later-{s}"), "IN_PROGRESS");
        assert_eq!(store.receive(&activity, at(START + 60), &Ship).await.unwrap(), Applied::Received);
    }
    client.batch_execute("ANALYZE hpp_callback_event").await.unwrap();
    let counts = store.counts(now).await.unwrap();
    assert_eq!(counts.due, 10 + WOKEN as u64, "{counts:?}");

    let (removed, buffers, seq_scan) =
        work_of(&client, hpp_postgres_schema::CLAIM_DUE, &[&now, &100i64, &"p1", &at(START + 3660)]).await;
    // It takes 100 (10 due, 90 woken) and writes them and their events: their buffers, and few more.
    assert!(
        !seq_scan && removed < 100 && buffers < 300 + 30 * 100,
        "the claim read {removed} rows it did not take, {buffers} buffers"
    );
    // Each woken session looked up by its key (a few buffers each), the sessions never scanned.
    let (removed, buffers, seq_scan) = work_of(&client, hpp_postgres_schema::COUNTS, &[&now]).await;
    assert!(
        !seq_scan && removed < 100 && buffers < 300 + 5 * WOKEN as i64,
        "counting read {removed} rows it did not count, {buffers} buffers (a scan of the sessions: {seq_scan})"
    );
    // The counts kept are the counts there are.
    let counts = store.counts(now).await.unwrap();
    assert_eq!((counts.waiting, counts.due), (25_010, 10 + WOKEN as u64 - 100), "100 due are claimed: {counts:?}");
    assert_eq!(store.pending().await.unwrap(), 25_010);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_is_recorded_in_one_statement_and_applied_by_the_next_step() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let (store, client) = setup_with(&pg, store_kit::policy()).await;
    let track = Input::Track { session_id: "r1", expires_at: Some(at(START + 36_000)), order_key: None };
    store.apply(track, at(START), &Ship).await.unwrap();
    let pending = |event: &'static str| {
        let client = &client;
        async move {
            let sql = "SELECT body IS NOT NULL FROM hpp_callback_event WHERE event_id = $1";
            client.query_one(sql, &[&event]).await.unwrap().get::<_, bool>(0)
        }
    };
    // A final status: recorded, the session due at once, nothing handed off yet.
    let paid = callback("r1-e1", "r1", "COMPLETED");
    assert_eq!(store.receive(&paid, at(START + 100), &Ship).await.unwrap(), Applied::Received);
    assert_eq!(store.receive(&paid, at(START + 101), &Ship).await.unwrap(), Applied::Duplicate);
    assert!(pending("r1-e1").await, "kept for the next step");
    assert!(shipped(&client, "r1").await.is_empty());
    let due = store.claim_due("p1", 10, Duration::from_secs(60), at(START + 100)).await.unwrap();
    assert_eq!(due, [Due::Read("r1".to_owned())], "due at once");
    let claim = |owner, now| store.claim_due(owner, 10, Duration::from_secs(60), at(now));
    assert!(claim("p2", START + 101).await.unwrap().is_empty(), "claimed once");
    assert_eq!(claim("p2", START + 161).await.unwrap(), [Due::Read("r1".to_owned())], "a dead poller's lease lapses");
    // The poller's read applies it (as of when it came) and confirms it: handed off once.
    let mut session = Session::default();
    session.status = Some(SessionStatus::Completed);
    let read = Input::Read { session_id: "r1", result: Ok(&session) };
    let applied = store.apply(read, at(START + 162), &Ship).await.unwrap();
    assert_eq!(applied, Applied::Done { handed_off: Some(FinalStatus::Completed) });
    assert!(!pending("r1-e1").await, "applied with the step");
    assert_eq!(shipped(&client, "r1").await, ["COMPLETED"]);
    // A session woken by a recorded callback counts as due before its own first read.
    let track = Input::Track { session_id: "r3", expires_at: Some(at(START + 36_000)), order_key: None };
    store.apply(track, at(START + 200), &Ship).await.unwrap();
    let before = store.counts(at(START + 201)).await.unwrap().due;
    let paid_r3 = callback("r3-e1", "r3", "COMPLETED");
    assert_eq!(store.receive(&paid_r3, at(START + 201), &Ship).await.unwrap(), Applied::Received);
    assert_eq!(store.counts(at(START + 201)).await.unwrap().due, before + 1, "woken: due");
    // A session not tracked: applied at once (the store's policy decides; the kit's tracks none).
    let stranger = callback("r2-e1", "r2", "COMPLETED");
    assert_eq!(store.receive(&stranger, at(START + 104), &Ship).await.unwrap(), Applied::Unknown);
}

/// Callbacks that come while the store's statements run wait and go together, in one statement
/// (one transaction: rows of one batch share their `xmin`), each with its own answer: recorded,
/// a duplicate, a session not tracked (applied at once); and one the database refuses (a NUL
/// byte in its event id) fails alone, its batch sent again callback by callback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_that_come_together_are_recorded_together_each_with_its_own_answer() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let (store, client) = setup_with(&pg, store_kit::policy()).await;
    let store = Arc::new(store);
    const SESSIONS: usize = 40;
    for s in 0..SESSIONS {
        let session_id = format!("b{s}");
        let track = Input::Track { session_id: &session_id, expires_at: Some(at(START + 36_000)), order_key: None };
        store.apply(track, at(START), &Ship).await.unwrap();
    }
    // Inserts wait behind this lock until it is released: the first statements hold up the rest.
    client.batch_execute("BEGIN; LOCK TABLE hpp_callback_event IN SHARE MODE").await.unwrap();
    let mut deliveries: Vec<StatusCallback> =
        (0..SESSIONS).map(|s| callback(&format!("b{s}-e"), &format!("b{s}"), "IN_PROGRESS")).collect();
    deliveries.push(callback("b7-e", "b7", "IN_PROGRESS")); // delivered twice
    deliveries.push(callback("stranger-e", "stranger", "IN_PROGRESS"));
    let mut answers = Vec::new();
    for delivery in deliveries {
        let store = store.clone();
        let event_id = delivery.event_id.clone();
        answers.push((event_id, tokio::spawn(async move { store.receive(&delivery, at(START + 10), &Ship).await })));
    }
    // Wait until statements are held up by the lock (readiness, not time).
    let waiting = "SELECT count(*) FROM pg_locks WHERE relation = 'hpp_callback_event'::regclass AND NOT granted";
    while client.query_one(waiting, &[]).await.unwrap().get::<_, i64>(0) == 0 {
        tokio::task::yield_now().await;
    }
    client.batch_execute("COMMIT").await.unwrap();
    let (mut received, mut duplicates) = (0, 0);
    for (event_id, answer) in answers {
        match (event_id.as_str(), answer.await.unwrap()) {
            (_, Ok(Applied::Received)) => received += 1,
            ("b7-e", Ok(Applied::Duplicate)) => duplicates += 1,
            ("stranger-e", Ok(Applied::Unknown)) => {}
            (event_id, other) => panic!("{event_id:?}: {other:?}"),
        }
    }
    assert_eq!((received, duplicates), (SESSIONS, 1));
    let transactions = "SELECT count(DISTINCT xmin::text) FROM hpp_callback_event WHERE event_id LIKE 'b%-e'";
    let transactions = client.query_one(transactions, &[]).await.unwrap().get::<_, i64>(0);
    assert!(transactions <= 4, "{SESSIONS} callbacks in {transactions} statements");

    // The same again, one of them refused by the database: it fails alone.
    client.batch_execute("BEGIN; LOCK TABLE hpp_callback_event IN SHARE MODE").await.unwrap();
    let mut deliveries: Vec<StatusCallback> =
        (0..SESSIONS).map(|s| callback(&format!("b{s}-f"), &format!("b{s}"), "IN_PROGRESS")).collect();
    deliveries.insert(SESSIONS / 2, callback("poison\0-f", "b3", "IN_PROGRESS"));
    let mut answers = Vec::new();
    for delivery in deliveries {
        let store = store.clone();
        let event_id = delivery.event_id.clone();
        answers.push((event_id, tokio::spawn(async move { store.receive(&delivery, at(START + 20), &Ship).await })));
    }
    while client.query_one(waiting, &[]).await.unwrap().get::<_, i64>(0) == 0 {
        tokio::task::yield_now().await;
    }
    client.batch_execute("COMMIT").await.unwrap();
    for (event_id, answer) in answers {
        match (event_id.as_str(), answer.await.unwrap()) {
            ("poison\0-f", Err(StoreError::Backend(_))) => {}
            (_, Ok(Applied::Received)) => {}
            (event_id, other) => panic!("{event_id:?}: {other:?}"),
        }
    }
    let recorded = "SELECT count(*) FROM hpp_callback_event WHERE event_id LIKE 'b%-f'";
    assert_eq!(client.query_one(recorded, &[]).await.unwrap().get::<_, i64>(0), SESSIONS as i64);
}

//! The sqlx store on a real PostgreSQL: the store kit every store passes (answers, state, claims,
//! refused events, failed and abandoned hand-offs, retention, counts, interleavings), a session
//! tracked in the app's own transaction (or not, when it rolls back), and a database shared with
//! the tokio-postgres store.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hpp_core::tracking::{Applied, FinalStatus, Finished, HandOff, Input, TrackingPolicy, TrackingStore};
use hpp_postgres::testing::TempPostgres;
use hpp_sqlx::{SqlxStore, SqlxTx};
use hpp_testing::store_kit::{self, Books};
use sqlx::PgPool;

/// The app's books for the store kit: rows of a table, written in the step's transaction.
struct KitBooks(PgPool);

impl Books<SqlxStore> for KitBooks {
    async fn write(&self, tx: &mut SqlxTx, entry: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        sqlx::query("INSERT INTO kit_books (entry) VALUES ($1)").bind(entry).execute(tx.connection()).await?;
        Ok(())
    }

    async fn committed(&self) -> Vec<String> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT entry FROM kit_books").fetch_all(&self.0).await.expect("the books are readable");
        rows.into_iter().map(|(entry,)| entry).collect()
    }
}

async fn pool(pg: &TempPostgres) -> PgPool {
    sqlx::postgres::PgPoolOptions::new().max_connections(8).connect(&pg.url()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlx_store_passes_the_store_kit() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let pool = pool(&pg).await;
    let store = SqlxStore::new(pool.clone(), store_kit::policy());
    store.migrate().await.unwrap();
    store.migrate().await.unwrap(); // idempotent
    sqlx::query("CREATE TABLE kit_books (entry text NOT NULL)").execute(&pool).await.unwrap();
    store_kit::check(&store, &KitBooks(pool), 2000).await;
}

/// Issue 36: the read budget every replica's claims take from, on a fresh database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlx_store_keeps_a_read_budget() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let store = SqlxStore::new(pool(&pg).await, TrackingPolicy::default());
    store.migrate().await.unwrap();
    store_kit::check_read_budget(&store).await;
}

/// Marks the order in its own table, through the step's transaction.
struct MarkOrder;

impl HandOff<SqlxStore> for MarkOrder {
    async fn hand_off(
        &self,
        tx: &mut SqlxTx,
        finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        sqlx::query("UPDATE orders SET payment = $2 WHERE id = $1")
            .bind(finished.order_key.as_deref())
            .bind(finished.status.as_str())
            .execute(tx.connection())
            .await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_commits_with_the_apps_transaction_and_the_tokio_postgres_store_sees_it() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let pool = pool(&pg).await;
    let mut policy = TrackingPolicy::default();
    policy.confirm_callbacks = false;
    let store = SqlxStore::new(pool.clone(), policy);
    store.migrate().await.unwrap();
    sqlx::query("CREATE TABLE orders (id text PRIMARY KEY, payment text)").execute(&pool).await.unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);

    // Rolled back: neither the order nor the session.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO orders (id) VALUES ('o-1')").execute(&mut *tx).await.unwrap();
    store.track_in(&mut *tx, "s-1", Some("o-1"), None, now).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(store.get("s-1").await.unwrap().is_none(), "rolled back with the app's transaction");

    // Committed: both; the payment marks the order in the step's transaction.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO orders (id) VALUES ('o-1')").execute(&mut *tx).await.unwrap();
    store.track_in(&mut *tx, "s-1", Some("o-1"), None, now).await.unwrap();
    tx.commit().await.unwrap();
    let paid = hpp_core::callback::StatusCallback::parse(
        br#"{"event_id":"e-1","session":{"session_id":"s-1","status":"COMPLETED"}}"#,
    )
    .unwrap();
    let applied = store.apply(Input::Callback(&paid), now + Duration::from_secs(5), &MarkOrder).await.unwrap();
    assert_eq!(applied, Applied::Done { handed_off: Some(FinalStatus::Completed) });
    assert_eq!(store.apply(Input::Callback(&paid), now, &MarkOrder).await.unwrap(), Applied::Duplicate);
    let (payment,): (Option<String>,) =
        sqlx::query_as("SELECT payment FROM orders WHERE id = 'o-1'").fetch_one(&pool).await.unwrap();
    assert_eq!(payment.as_deref(), Some("COMPLETED"));

    // The same tables as hpp-postgres: its store (and the operator's commands) see the session.
    let pg_store = hpp_postgres::PgStore::connect(&pg.url(), TrackingPolicy::default()).await.unwrap();
    let seen = pg_store.get("s-1").await.unwrap().expect("tracked");
    assert!(seen.is_handed_off());
    assert_eq!(pg_store.counts(SystemTime::now()).await.unwrap().handed_off, 1);
}

/// A hand-off failing on a database error the app did not classify: kept (and shown to
/// operators) as `database:<SQLSTATE>`, not `unclassified`.
struct Broken;

impl HandOff<SqlxStore> for Broken {
    async fn hand_off(
        &self,
        tx: &mut SqlxTx,
        _finished: &Finished,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        sqlx::query("UPDATE no_such_table SET x = 1").execute(tx.connection()).await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_error_in_the_hand_off_is_kept_by_its_sqlstate() {
    let Some(pg) = TempPostgres::start_or_skip() else { return };
    let store = SqlxStore::new(pool(&pg).await, TrackingPolicy::default());
    store.migrate().await.unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    store.apply(Input::Track { session_id: "s-1", expires_at: None, order_key: None }, now, &Broken).await.unwrap();
    let mut paid = hpp_core::Session::default();
    paid.status = Some(hpp_core::SessionStatus::Completed);
    assert!(store.apply(Input::Read { session_id: "s-1", result: Ok(&paid) }, now, &Broken).await.is_err());
    let state = store.get("s-1").await.unwrap().unwrap();
    assert_eq!(state.last_error_kind(), Some("database:42P01"), "undefined table");
}

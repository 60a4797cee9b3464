//! The payment tracker's store on PostgreSQL through sqlx: [`SqlxStore`], the
//! [`TrackingStore`] for apps built on sqlx. It uses the app's own `PgPool` (no second pool per
//! replica), tracks a session inside the app's own transaction ([`SqlxStore::track_in`]: the
//! order and its session commit together), and runs the app's [`HandOff`] through the step's
//! transaction ([`SqlxTx`]): the app's writes and the store's record of the hand-off commit
//! together, or neither.
//!
//! The tables, statements and rules are `hpp-postgres`'s (`hpp-postgres-schema`), so the two
//! stores can share a database, and `kustom-hpp tracking status|list|retry|forget` works on
//! either. It passes the same store kit (`hpp_testing::store_kit`) on a real PostgreSQL.
//!
//! - Each step is one sqlx transaction (`pool.begin()`): the session's row locked with its
//!   order's (`FOR UPDATE`, waiting at most 200 ms: a step under way elsewhere is [`Applied::Busy`]), the step
//!   decided by [`Step`], the app's work run under a savepoint, the state and the callback's
//!   event id written, committed. A step abandoned midway (its future dropped: a deadline) is
//!   rolled back as sqlx rolls back a dropped transaction; PostgreSQL bounds each step
//!   ([`SqlxStore::with_step_timeout`], 30 s).
//! - Unlike `hpp-postgres`, sqlx does not pipeline: a step of a tracked session is five round
//!   trips (begin and bounds, read, savepoint, write, commit) where tokio-postgres takes two.
//!
//! ```no_run
//! use std::time::SystemTime;
//! use hpp_core::tracking::{Finished, HandOff, TrackingPolicy};
//! use hpp_sqlx::{SqlxStore, SqlxTx};
//!
//! /// The app's work for a final status, in the step's transaction.
//! struct MarkOrder;
//!
//! impl HandOff<SqlxStore> for MarkOrder {
//!     async fn hand_off(&self, tx: &mut SqlxTx, finished: &Finished) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!         sqlx::query("UPDATE orders SET payment = $2 WHERE id = $1")
//!             .bind(finished.order_key.as_deref())
//!             .bind(finished.status.as_str())
//!             .execute(tx.connection())
//!             .await?;
//!         Ok(())
//!     }
//! }
//!
//! # async fn run(pool: sqlx::PgPool, session_id: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqlxStore::new(pool.clone(), TrackingPolicy::default());
//! store.migrate().await?;
//! // At checkout: the order and its session's tracking in one transaction.
//! let mut tx = pool.begin().await?;
//! sqlx::query("INSERT INTO orders (id) VALUES ($1)").bind("order-1").execute(&mut *tx).await?;
//! store.track_in(&mut *tx, session_id, Some("order-1"), None, SystemTime::now()).await?;
//! tx.commit().await?;
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
// Where other crates' documentation links to this one from a build without it (`--no-deps`).
#![doc(html_root_url = "https://docs.rs/hpp-sqlx/0.1.0")]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hpp_core::callback::StatusCallback;
use hpp_core::tracking::{
    Applied, CallbackRow, Counts, Due, FinalStatus, HandOff, HandOffError, Input, Received, Step, StoreError,
    TrackedSession, TrackingPolicy, TrackingStore, receive_by_recording,
};
use hpp_postgres_schema as sql;
use hpp_runtime::batch::Batcher;
pub use sqlx;
use sqlx::postgres::{PgConnection, PgPool, PgRow, Postgres};
use sqlx::types::Json;
use sqlx::{PgExecutor, Row, Transaction};
use time::OffsetDateTime;

/// The default server-side bound of a step ([`SqlxStore::with_step_timeout`]).
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// The sqlx [`TrackingStore`], over the app's `PgPool`. Cheap to share (`Arc` it).
pub struct SqlxStore {
    pool: PgPool,
    policy: TrackingPolicy,
    /// The receiver's callbacks, recorded in batches ([`sql::RECEIVE`]).
    receiving: Batcher<CallbackRow, (bool, bool), StoreError>,
    /// The step's server-side bounds, sent first in its transaction.
    bounds: String,
}

impl std::fmt::Debug for SqlxStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pool's options (with a password) are never shown.
        f.debug_struct("SqlxStore").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// The step's open transaction, as the app's [`HandOff`] gets it: run statements on
/// [`connection`](Self::connection); they commit with the store's record of the hand-off or not
/// at all. The store commits or rolls back (do not send `COMMIT`, `ROLLBACK` or `SAVEPOINT`).
pub struct SqlxTx {
    tx: Transaction<'static, Postgres>,
}

impl std::fmt::Debug for SqlxTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlxTx").finish_non_exhaustive()
    }
}

impl SqlxTx {
    /// The step's connection, inside its transaction: an executor for `sqlx::query(…)`.
    pub fn connection(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

impl SqlxStore {
    /// A store over the app's `pool`, reading sessions on `policy`.
    pub fn new(pool: PgPool, policy: TrackingPolicy) -> Self {
        let receiving = {
            let pool = pool.clone();
            Batcher::new(sql::RECEIVE_IN_FLIGHT, sql::RECEIVE_BATCH, STEP_TIMEOUT, move |rows| {
                record(pool.clone(), rows)
            })
        };
        Self { pool, policy, receiving, bounds: sql::bounds(STEP_TIMEOUT) }
    }

    /// The store with each step bounded on the server by `timeout` (default 30 s): a statement
    /// running longer is cancelled, and a transaction left idle longer (its replica cut off) is
    /// ended by PostgreSQL, which rolls it back.
    pub fn with_step_timeout(mut self, timeout: Duration) -> Self {
        self.bounds = sql::bounds(timeout);
        self
    }

    /// The policy sessions are read on.
    pub fn policy(&self) -> &TrackingPolicy {
        &self.policy
    }

    /// The pool the store uses (the app's).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the schema's migrations not applied yet (`hpp-postgres-schema`, the same as
    /// `hpp-postgres`'s), under an advisory lock (replicas starting together apply each once).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(sql::MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::raw_sql(sql::SCHEMA_VERSION_TABLE).execute(&mut *tx).await.map_err(db)?;
        for (version, migration) in sql::MIGRATIONS {
            let applied =
                sqlx::query(sql::MIGRATION_APPLIED).bind(version).fetch_optional(&mut *tx).await.map_err(db)?;
            if applied.is_none() {
                sqlx::raw_sql(*migration).execute(&mut *tx).await.map_err(db)?;
                sqlx::query(sql::MIGRATION_RECORD).bind(version).execute(&mut *tx).await.map_err(db)?;
            }
        }
        tx.commit().await.map_err(db)
    }

    /// Tracks a session through `executor`: the app's own transaction (`&mut *tx`), so that the
    /// session's row commits with, say, the app's order row, or neither does; or the pool.
    /// `order_key` is the app's order the session pays for (handed off as paid once, whichever
    /// of its sessions is paid first). Tracking a session already tracked changes nothing.
    pub async fn track_in<'e>(
        &self,
        executor: impl PgExecutor<'e>,
        session_id: &str,
        order_key: Option<&str>,
        expires_at: Option<SystemTime>,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let state = TrackedSession::new(session_id, expires_at, now, &self.policy).with_order_key(order_key);
        insert_state(executor, &state, now).await?;
        Ok(())
    }

    /// One attempt at a step; `None` when a concurrent first step of the same session won the
    /// insert (the step is then taken again on the row it wrote). What the step does is
    /// [`Step`]'s to say; this loads, locks, runs the app's work and writes.
    async fn try_apply<H: HandOff<Self> + ?Sized>(
        &self,
        input: Input<'_>,
        now: SystemTime,
        hand_off: &H,
    ) -> Result<Option<Applied>, StoreError> {
        let session_id = input.session_id();
        let event_id = match &input {
            Input::Callback(callback) => Some(callback.event_id.as_str()),
            _ => None,
        };
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Built from numbers only (sql::bounds): nothing to inject.
        sqlx::raw_sql(sqlx::AssertSqlSafe(self.bounds.clone())).execute(&mut *tx).await.map_err(db)?;
        let row = match sqlx::query(sql::READ_STEP).bind(session_id).bind(event_id).fetch_one(&mut *tx).await {
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => {
                // Locked by a step under way: this transaction is aborted; end it.
                tx.rollback().await.map_err(db)?;
                return Ok(Some(Applied::Busy));
            }
            row => row.map_err(db)?,
        };
        let loaded = row.try_get::<Option<Json<TrackedSession>>, _>(0).map_err(db)?.map(|json| json.0);
        let seen: bool = row.try_get(1).map_err(db)?;
        let order_paid: bool = row.try_get(2).map_err(db)?;
        let received = Received::list_from_json(row.try_get::<Json<serde_json::Value>, _>(3).map_err(db)?.0);
        let step =
            match Step::decide_with_received(loaded.as_ref(), &received, seen, order_paid, input, now, &self.policy) {
                Ok(step) => step,
                Err(answer) => {
                    tx.rollback().await.map_err(db)?;
                    return Ok(Some(answer));
                }
            };
        sqlx::raw_sql(sql::SAVEPOINT).execute(&mut *tx).await.map_err(db)?;
        let mut app_tx = SqlxTx { tx };
        let result = step.run_app::<Self, H>(hand_off, &mut app_tx).await.map_err(classified);
        let mut tx = app_tx.tx;
        let commit = step.commit(result);
        let Some(state) = &commit.state else {
            tx.rollback().await.map_err(db)?;
            return commit.outcome.map(Some);
        };
        if !commit.keep_app_work {
            sqlx::raw_sql(sql::ROLLBACK_APP_WORK).execute(&mut *tx).await.map_err(db)?;
        }
        if commit.insert && insert_state(&mut *tx, state, now).await? == 0 {
            tx.rollback().await.map_err(db)?;
            return Ok(None);
        }
        let recorded_id = commit.event.map(|callback| callback.event_id.as_str());
        let recorded_status = commit.event.and_then(|c| c.session.status.as_ref()).map(|s| s.as_str().to_owned());
        sqlx::query(sql::WRITE_STEP)
            .bind(session_id)
            .bind(Json(state))
            .bind(state.final_status().map(FinalStatus::as_str))
            .bind(state.is_handed_off().then(|| timestamp(now)))
            .bind(state.next_due_at().map(timestamp))
            .bind(timestamp(now))
            .bind(commit.release_claim)
            .bind(recorded_id)
            .bind(recorded_status)
            .bind(i16::from(state.read_priority()))
            .bind(commit.received.iter().map(|r| r.callback.event_id.as_str()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        commit.outcome.map(Some)
    }
}

impl TrackingStore for SqlxStore {
    /// The step's open transaction: run the app's statements on [`SqlxTx::connection`].
    type Tx = SqlxTx;

    async fn apply<'a, H: HandOff<Self> + ?Sized>(
        &'a self,
        input: Input<'a>,
        now: SystemTime,
        hand_off: &'a H,
    ) -> Result<Applied, StoreError> {
        // Two attempts: the second only when a concurrent first step of the session won the insert.
        for _ in 0..2 {
            if let Some(applied) = self.try_apply(input, now, hand_off).await? {
                return Ok(applied);
            }
        }
        Ok(Applied::Busy)
    }

    /// Records the callback and makes its session due in one statement (one round trip, no
    /// transaction), which the callbacks that come while the store's two such statements run
    /// share (`hpp_runtime::batch`): [`Applied::Received`]; the session's next step applies it.
    /// A callback for a session not tracked is applied at once, and every callback under
    /// [`TrackingPolicy::apply_callbacks_at_once`].
    async fn receive<'a, H: HandOff<Self> + ?Sized>(
        &'a self,
        callback: &'a StatusCallback,
        now: SystemTime,
        hand_off: &'a H,
    ) -> Result<Applied, StoreError> {
        let receiving = &self.receiving;
        receive_by_recording(self, callback, now, hand_off, &self.policy, |row| async move {
            Ok(receiving.submit(row).await?)
        })
        .await
    }

    async fn claim_due<'a>(
        &'a self,
        owner: &'a str,
        max: usize,
        lease: Duration,
        now: SystemTime,
    ) -> Result<Vec<Due>, StoreError> {
        let until = now.checked_add(lease).unwrap_or(now);
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let rows = match self.policy.max_reads_per_second.filter(|rate| *rate > 0).map(f64::from) {
            // The budget taken in the claim's own statement: no lock outlives it.
            Some(rate) => sqlx::query(sql::CLAIM_DUE_BUDGETED)
                .bind(timestamp(now))
                .bind(max)
                .bind(owner)
                .bind(timestamp(until))
                .bind(rate)
                .bind(rate)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?,
            None => sqlx::query(sql::CLAIM_DUE)
                .bind(timestamp(now))
                .bind(max)
                .bind(owner)
                .bind(timestamp(until))
                .fetch_all(&self.pool)
                .await
                .map_err(db)?,
        };
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let state = state_in(row)?;
            claimed.push((state.claim_order(), Due::of(&state, now, &self.policy)));
        }
        // RETURNING keeps no order: in the order claimed (TrackedSession::claim_order).
        claimed.sort_by_key(|(order, _)| *order);
        Ok(claimed.into_iter().map(|(_, due)| due).collect())
    }

    async fn pause_reads(&self, until: SystemTime) -> Result<(), StoreError> {
        sqlx::query(sql::PAUSE_READS).bind(timestamp(until)).execute(&self.pool).await.map_err(db)?;
        Ok(())
    }

    async fn get<'a>(&'a self, session_id: &'a str) -> Result<Option<TrackedSession>, StoreError> {
        let row = sqlx::query(sql::GET_STATE).bind(session_id).fetch_optional(&self.pool).await.map_err(db)?;
        row.as_ref().map(state_in).transpose()
    }

    async fn order_sessions<'a>(&'a self, order_key: &'a str) -> Result<Vec<TrackedSession>, StoreError> {
        let rows = sqlx::query(sql::ORDER_SESSIONS).bind(order_key).fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(state_in).collect()
    }

    async fn pending(&self) -> Result<u64, StoreError> {
        let row = sqlx::query(sql::PENDING).fetch_one(&self.pool).await.map_err(db)?;
        count(&row, 0)
    }

    async fn counts(&self, now: SystemTime) -> Result<Counts, StoreError> {
        let row = sqlx::query(sql::COUNTS).bind(timestamp(now)).fetch_one(&self.pool).await.map_err(db)?;
        let mut counts = Counts::default();
        counts.waiting = count(&row, 0)?;
        counts.hand_off_due = count(&row, 1)?;
        counts.parked = count(&row, 2)?;
        counts.handed_off = count(&row, 3)?;
        counts.due = count(&row, 4)?;
        counts.oldest_pending_since = row.try_get::<Option<OffsetDateTime>, _>(5).map_err(db)?.map(SystemTime::from);
        Ok(counts)
    }

    async fn prune(&self, now: SystemTime, max: usize) -> Result<u64, StoreError> {
        let before = now.checked_sub(self.policy.retention).unwrap_or(SystemTime::UNIX_EPOCH);
        let row = sqlx::query(sql::PRUNE)
            .bind(timestamp(before))
            .bind(i64::try_from(max).unwrap_or(i64::MAX))
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        count(&row, 0)
    }
}

/// Inserts a session's first state; 0 when the row exists already.
async fn insert_state<'e>(
    executor: impl PgExecutor<'e>,
    state: &TrackedSession,
    now: SystemTime,
) -> Result<u64, StoreError> {
    let done = sqlx::query(sql::INSERT_STATE)
        .bind(state.session_id())
        .bind(Json(state))
        .bind(state.final_status().map(FinalStatus::as_str))
        .bind(state.is_handed_off().then(|| timestamp(now)))
        .bind(state.next_due_at().map(timestamp))
        .bind(timestamp(now))
        .bind(state.order_key())
        .bind(i16::from(state.read_priority()))
        .execute(executor)
        .await
        .map_err(db)?;
    Ok(done.rows_affected())
}

/// The app's error, given the kind `database:<SQLSTATE>` when the app gave it none and a
/// database error caused it (a missing column, a unique violation): what operators see
/// (`TrackedSession::last_error_kind`) instead of `unclassified`.
fn classified(error: Box<dyn std::error::Error + Send + Sync>) -> Box<dyn std::error::Error + Send + Sync> {
    HandOffError::classified(error, |cause| match cause.downcast_ref::<sqlx::Error>()? {
        sqlx::Error::Database(db) => Some(format!("database:{}", db.code()?)),
        _ => None,
    })
}

/// The tracked state in a row's first column (the `state` JSON).
fn state_in(row: &PgRow) -> Result<TrackedSession, StoreError> {
    row.try_get::<Json<TrackedSession>, _>(0).map(|json| json.0).map_err(db)
}

/// A `bigint` count in column `i`.
fn count(row: &PgRow, i: usize) -> Result<u64, StoreError> {
    let n: i64 = row.try_get(i).map_err(db)?;
    Ok(u64::try_from(n).unwrap_or_default())
}

/// A time as `timestamptz` binds it.
/// Records `rows` in one statement ([`sql::RECEIVE`]): for each, whether its session is tracked
/// and whether its event was recorded now.
async fn record(pool: PgPool, rows: Arc<Vec<CallbackRow>>) -> Result<Vec<(bool, bool)>, StoreError> {
    let column = |f: fn(&CallbackRow) -> &str| rows.iter().map(f).collect::<Vec<_>>();
    let answers = sqlx::query(sql::RECEIVE)
        .bind(column(|r| &r.event_id))
        .bind(column(|r| &r.session_id))
        .bind(rows.iter().map(|r| r.status.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| timestamp(r.received_at)).collect::<Vec<_>>())
        .bind(column(|r| &r.body))
        .bind(rows.iter().map(|r| timestamp(r.due_at)).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| i16::from(r.read_priority)).collect::<Vec<_>>())
        .fetch_all(&pool)
        .await
        .map_err(db)?;
    answers.iter().map(|row| Ok((row.try_get(0).map_err(db)?, row.try_get(1).map_err(db)?))).collect()
}

fn timestamp(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(t)
}

/// A sqlx error as the store's: the server's message and code (sqlx's `Display` has them), no
/// connection settings.
fn db(e: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

//! A durable payment tracker on PostgreSQL: [`PgStore`], the [`TrackingStore`] that several
//! replicas of an app share, so that each session's final status is handed to the app **exactly
//! once**, across replicas, restarts and lost callbacks.
//!
//! - Each step (a callback, a poller's read) is one transaction: the session's row is locked
//!   (`FOR UPDATE`, waiting at most 200 ms: a step of the same session under way elsewhere is
//!   [`Applied::Busy`]), the step decided by [`hpp_core::tracking::Step`], the app's [`HandOff`]
//!   run through the same connection inside the transaction (under a savepoint, as a [`PgTx`],
//!   which cannot end the transaction), and the new state,
//!   the callback's event id and the app's writes committed together, or none of them.
//! - A callback's `event_id` is recorded by primary key (`INSERT … ON CONFLICT DO NOTHING`), not
//!   read-then-write: a redelivery to another replica is [`Applied::Duplicate`].
//! - A receiver's callback ([`receive`](TrackingStore::receive)) is one statement, one round
//!   trip: the event recorded with its body and the session made due (a final status at once,
//!   another with the next read). Callbacks that come while two such statements run wait and go
//!   together in the next (group commit, `hpp_runtime::batch`: up to 64 in one statement, each
//!   answered on its own; no wait when the store is idle); the session's next step (the
//!   poller's read) applies it first, as of when it came, with the app's [`HandOff::on_event`]. A callback is a wake-up, the API
//!   the authority. `TrackingPolicy::apply_callbacks_at_once` applies each in the receiver's
//!   answer instead (a receiver without a poller).
//! - Pollers claim due sessions with `FOR UPDATE SKIP LOCKED` and a lease
//!   ([`claim_due`](TrackingStore::claim_due)): N replicas share the work without reading a
//!   session twice, and a crashed replica's claims lapse.
//! - If a step's future is dropped midway (a deadline), its connection is closed rather than
//!   reused, so the server rolls the transaction back.
//!
//! - Every step is bounded on the server ([`PgStore::with_step_timeout`], 30 s): a transaction
//!   left idle (a replica cut off mid-step) or a statement waiting on a lock is ended by
//!   PostgreSQL. An abandoned step's statement is cancelled, and its connection's pool slot stays
//!   taken until the connection has ended.
//!
//! Logs: `tokio-postgres` logs every statement's parameters (session ids, event ids, the tracked
//! state) at DEBUG through the `log` crate, under the target `tokio_postgres`. Keep that target
//! at INFO or above in production (`RUST_LOG=info,tokio_postgres=info`).
//!
//! The schema ships with the crate (`migrations/`); [`PgStore::migrate`] applies it.
//!
//! Operators see where sessions stand and act on stuck ones with [`PgStore::overview`],
//! [`PgStore::list`], [`PgStore::retry_parked`] and [`PgStore::forget`] (what `kustom-hpp
//! tracking status|list|retry|forget` runs).
//!
//! ```no_run
//! use std::time::SystemTime;
//! use hpp_core::tracking::{Finished, HandOff, Input, TrackingPolicy, TrackingStore};
//! use hpp_postgres::{PgStore, PgTx};
//!
//! /// The app's work for a final status, in the store's transaction.
//! struct MarkOrder;
//!
//! impl HandOff<PgStore> for MarkOrder {
//!     async fn hand_off(&self, tx: &mut PgTx, finished: &Finished) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//!         tx.execute(
//!             "UPDATE orders SET payment = $2 WHERE hpp_session_id = $1",
//!             &[&finished.session_id, &finished.status.as_str()],
//!         )
//!         .await?;
//!         Ok(())
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PgStore::connect("postgres://app@localhost/shop", TrackingPolicy::default()).await?;
//! store.migrate().await?;
//! let track = Input::Track { session_id: "9cbc9884-1fdb-45a8-9694-9340340d0436", expires_at: None, order_key: None };
//! store.apply(track, SystemTime::now(), &MarkOrder).await?;
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
// Where other crates' documentation links to this one from a build without it (`--no-deps`).
#![doc(html_root_url = "https://docs.rs/hpp-postgres/0.1.0")]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use hpp_core::callback::StatusCallback;
use hpp_core::tracking::{
    Applied, CallbackRow, Due, FinalStatus, HandOff, HandOffError, Input, Received, Step, StoreError, TrackedSession,
    TrackingPolicy, TrackingStore, receive_by_recording,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::{Client, GenericClient, NoTls, Row, Statement, ToStatement};

mod operator;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod tls;

pub use hpp_core::tracking::Standing;
pub use operator::{Filter, Overview, SessionSummary};

use hpp_postgres_schema as sql;
/// The schema, in order: (version, SQL), from `hpp-postgres-schema` (shared with `hpp-sqlx`).
pub use hpp_postgres_schema::MIGRATIONS;
use hpp_runtime::batch::Batcher;
/// The tokio-postgres this store is built on (its `Client`, `GenericClient`, `types`): what
/// [`PgStore::track_in`] and a [`Connector`] take.
pub use tokio_postgres;

/// Opens a connection (and spawns its driver task): what [`PgStore::with_connector`] takes, so
/// that TLS or any other setting is the caller's choice.
pub type Connector =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<Client, tokio_postgres::Error>> + Send>> + Send + Sync>;

/// The PostgreSQL [`TrackingStore`]. Cheap to share (`Arc` it); holds a small pool of
/// connections of its own.
pub struct PgStore {
    policy: TrackingPolicy,
    pool: Arc<Pool>,
    /// The receiver's callbacks, recorded in batches ([`sql::RECEIVE`]).
    receiving: Batcher<CallbackRow, (bool, bool), StoreError>,
    /// `BEGIN` and the step's server-side bounds, sent as one simple query.
    begin: String,
    /// The store's own schema, when it has one ([`PgStore::connect_in_schema`]).
    schema: Option<String>,
}

/// How long an abandoned connection's slot waits for the connection to end.
const ABANDONED_CLOSE_WAIT: Duration = Duration::from_secs(60);

/// Records `rows` in one statement ([`sql::RECEIVE`]): for each, whether its session is tracked
/// and whether its event was recorded now.
async fn record(pool: Arc<Pool>, rows: Arc<Vec<CallbackRow>>) -> Result<Vec<(bool, bool)>, StoreError> {
    let column = |f: fn(&CallbackRow) -> &str| rows.iter().map(f).collect::<Vec<_>>();
    let (event_ids, session_ids, bodies) = (column(|r| &r.event_id), column(|r| &r.session_id), column(|r| &r.body));
    let statuses: Vec<Option<&str>> = rows.iter().map(|r| r.status.as_deref()).collect();
    let received_at: Vec<SystemTime> = rows.iter().map(|r| r.received_at).collect();
    let due_at: Vec<SystemTime> = rows.iter().map(|r| r.due_at).collect();
    let priorities: Vec<i16> = rows.iter().map(|r| i16::from(r.read_priority)).collect();
    let mut conn = pool.get().await?;
    let statement = conn.statement(sql::RECEIVE).await?;
    let params: [&(dyn ToSql + Sync); 7] =
        [&event_ids, &session_ids, &statuses, &received_at, &bodies, &due_at, &priorities];
    let answers = conn.client().query(&statement, &params).await.map_err(pg)?;
    conn.clean = true;
    answers.iter().map(|row| Ok((row.try_get(0).map_err(pg)?, row.try_get(1).map_err(pg)?))).collect()
}

/// The default server-side bound of a step ([`PgStore::with_step_timeout`]).
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection settings (with a password) are inside the connector, never shown.
        f.debug_struct("PgStore").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl PgStore {
    /// A store over `config` (a `postgres://` URL or `key=value` settings), at most 8
    /// connections. Connects once now, so that a wrong URL or password fails here.
    ///
    /// TLS follows `sslmode` as libpq reads it, with rustls (`ring`): `disable` (plain text),
    /// `prefer` (TLS when the server offers it), `require` (TLS, the certificate unchecked),
    /// `verify-ca` (the chain checked), `verify-full` (the chain and the host name); against
    /// Mozilla's roots, or the CA file `sslrootcert` names. Without `sslmode`: `verify-full`,
    /// but `prefer` to loopback (plain text only where asked for, or to the same machine).
    pub async fn connect(config: &str, policy: TrackingPolicy) -> Result<Self, StoreError> {
        let tls::Settings { mut config, tls } = tls::settings(config)?;
        if config.get_application_name().is_none() {
            // What an operator sees in pg_stat_activity.
            config.application_name("hpp-postgres");
        }
        let store = Self::with_pool(policy, Pool::new(8, Connect::Own(Box::new(config), tls)));
        drop(store.pool.get().await?);
        Ok(store)
    }

    /// [`connect`](Self::connect), with the store's tables in their own PostgreSQL schema
    /// (created by [`migrate`](Self::migrate)): for a tool beside an app on the app's database (the
    /// CLI's listener), so that it never reads or marks the app's sessions. `schema` is 1 to 63 of
    /// `a-z 0-9 _`, starting with a letter or `_`.
    pub async fn connect_in_schema(config: &str, schema: &str, policy: TrackingPolicy) -> Result<Self, StoreError> {
        let valid = schema.len() <= 63
            && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && schema.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(StoreError::Backend(format!("not a schema name this store takes: {schema:?}").into()));
        }
        let tls::Settings { mut config, tls } = tls::settings(config)?;
        let options = format!("{} -c search_path={schema}", config.get_options().unwrap_or_default());
        config.options(options.trim());
        if config.get_application_name().is_none() {
            config.application_name("hpp-postgres");
        }
        let mut store = Self::with_pool(policy, Pool::new(8, Connect::Own(Box::new(config), tls)));
        store.schema = Some(schema.to_owned());
        drop(store.pool.get().await?);
        Ok(store)
    }

    /// A store opening its connections (at most `max_connections`, at least 1) with `connector`.
    /// A step abandoned midway (a receiver's deadline) closes its connection; with a connector
    /// the store cannot tell when that connection has ended, so its pool slot is freed once its
    /// statement was cancelled and it was closed (with [`connect`](Self::connect), once it has
    /// ended).
    pub fn with_connector(policy: TrackingPolicy, max_connections: usize, connector: Connector) -> Self {
        Self::with_pool(policy, Pool::new(max_connections, Connect::With(connector)))
    }

    fn with_pool(policy: TrackingPolicy, pool: Pool) -> Self {
        let pool = Arc::new(pool);
        let receiving = {
            let pool = pool.clone();
            let in_flight = sql::RECEIVE_IN_FLIGHT.min(pool.size);
            Batcher::new(in_flight, sql::RECEIVE_BATCH, STEP_TIMEOUT, move |rows| record(pool.clone(), rows))
        };
        Self { policy, pool, receiving, begin: sql::begin(STEP_TIMEOUT), schema: None }
    }

    /// The store with each step bounded on the server by `timeout` (default 30 s, the poller's
    /// step budget): a statement running longer (a lock held elsewhere) is cancelled, and a
    /// transaction left idle longer (its replica frozen, partitioned, or stuck in the app's
    /// code) is ended by PostgreSQL, which rolls it back and frees the session for the other
    /// replicas. Set per transaction (`SET LOCAL`, in the step's first round trip), so it holds on
    /// connections from any connector and through pgbouncer in transaction mode.
    pub fn with_step_timeout(mut self, timeout: Duration) -> Self {
        self.begin = sql::begin(timeout);
        self
    }

    /// The policy sessions are read on.
    pub fn policy(&self) -> &TrackingPolicy {
        &self.policy
    }

    /// Applies the schema's migrations not applied yet, under an advisory lock (replicas starting
    /// together apply each once).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await?;
        let client = conn.client();
        client.batch_execute("BEGIN").await.map_err(pg)?;
        client.execute("SELECT pg_advisory_xact_lock($1)", &[&sql::MIGRATION_LOCK]).await.map_err(pg)?;
        if let Some(schema) = &self.schema {
            // A checked name (lowercase letters, digits, _): safe to write out.
            client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await.map_err(pg)?;
        }
        client.batch_execute(sql::SCHEMA_VERSION_TABLE).await.map_err(pg)?;
        for (version, migration) in MIGRATIONS {
            let applied = client.query_opt(sql::MIGRATION_APPLIED, &[version]).await.map_err(pg)?;
            if applied.is_none() {
                client.batch_execute(migration).await.map_err(pg)?;
                client.execute(sql::MIGRATION_RECORD, &[version]).await.map_err(pg)?;
            }
        }
        client.batch_execute("COMMIT").await.map_err(pg)?;
        conn.clean = true;
        Ok(())
    }

    /// Tracks a session inside the app's own transaction (or on any client): the session row
    /// commits with, say, the app's order row, or neither does. `order_key` is the app's order
    /// the session pays for (an order is handed off as paid once, whichever of its sessions is
    /// paid first; another is `COMPLETED_TWICE`). Tracking a session already tracked changes
    /// nothing.
    pub async fn track_in(
        &self,
        client: &impl GenericClient,
        session_id: &str,
        order_key: Option<&str>,
        expires_at: Option<SystemTime>,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let state = TrackedSession::new(session_id, expires_at, now, &self.policy).with_order_key(order_key);
        insert_state(client, &state, now).await?;
        Ok(())
    }

    /// One attempt at a step; `None` when a concurrent first step of the same session won the
    /// insert (the step is then taken again on the row it wrote). What the step does is
    /// [`Step`]'s to say; this loads, locks, runs the app's work and writes.
    ///
    /// Two round trips for a step of a tracked session: `BEGIN`, one read (the session's row,
    /// locked, and whether the event was applied) and a `SAVEPOINT` pipelined; then one write
    /// (the state, and the event when it is new) and `COMMIT` pipelined (tokio-postgres sends
    /// requests in the order they are first polled). The app's work runs between the two.
    /// The first step of a session not tracked yet takes one more (the insert, checked before
    /// anything commits); a failed hand-off one more (`ROLLBACK TO SAVEPOINT`).
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
        let mut conn = self.pool.get().await?;
        let read = conn.statement(sql::READ_STEP).await?;
        let write = conn.statement(sql::WRITE_STEP).await?;
        let client = conn.client();
        let read_params: [&(dyn ToSql + Sync); 2] = [&session_id, &event_id];
        let (begun, row, saved) = tokio::join!(
            client.batch_execute(&self.begin),
            client.query_one(&read, &read_params),
            client.batch_execute(sql::SAVEPOINT)
        );
        begun.map_err(pg)?;
        let row = match row {
            Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                client.batch_execute("ROLLBACK").await.map_err(pg)?;
                conn.clean = true;
                return Ok(Some(Applied::Busy));
            }
            row => row.map_err(pg)?,
        };
        saved.map_err(pg)?;
        let loaded = row.try_get::<_, Option<Json<TrackedSession>>>(0).map_err(pg)?.map(|json| json.0);
        let seen: bool = row.try_get(1).map_err(pg)?;
        let order_paid: bool = row.try_get(2).map_err(pg)?;
        let received = Received::list_from_json(row.try_get::<_, Json<serde_json::Value>>(3).map_err(pg)?.0);
        let step =
            match Step::decide_with_received(loaded.as_ref(), &received, seen, order_paid, input, now, &self.policy) {
                Ok(step) => step,
                Err(answer) => {
                    client.batch_execute("ROLLBACK").await.map_err(pg)?;
                    conn.clean = true;
                    return Ok(Some(answer));
                }
            };
        let result = step.run_app::<Self, H>(hand_off, &mut PgTx { client: client.clone() }).await.map_err(classified);
        let commit = step.commit(result);
        let Some(state) = &commit.state else {
            client.batch_execute("ROLLBACK").await.map_err(pg)?;
            conn.clean = true;
            return commit.outcome.map(Some);
        };
        if !commit.keep_app_work {
            client.batch_execute(sql::ROLLBACK_APP_WORK).await.map_err(pg)?;
        }
        if commit.insert && insert_state(&**client, state, now).await? == 0 {
            client.batch_execute("ROLLBACK").await.map_err(pg)?;
            conn.clean = true;
            return Ok(None);
        }
        let recorded_id = commit.event.map(|callback| callback.event_id.as_str());
        let recorded_status = commit.event.and_then(|c| c.session.status.as_ref()).map(|s| s.as_str().to_owned());
        let json = Json(state);
        let final_status = state.final_status().map(FinalStatus::as_str);
        let handed_off_at = state.is_handed_off().then_some(now);
        let next_due = state.next_due_at();
        let priority = i16::from(state.read_priority());
        let applied: Vec<&str> = commit.received.iter().map(|r| r.callback.event_id.as_str()).collect();
        let write_params: [&(dyn ToSql + Sync); 11] = [
            &session_id,
            &json,
            &final_status,
            &handed_off_at,
            &next_due,
            &now,
            &commit.release_claim,
            &recorded_id,
            &recorded_status,
            &priority,
            &applied,
        ];
        let (written, committed) = tokio::join!(client.execute(&write, &write_params), client.batch_execute("COMMIT"));
        // A failed write turns the COMMIT into a rollback: report the write's error.
        written.map_err(pg)?;
        committed.map_err(pg)?;
        conn.clean = true;
        commit.outcome.map(Some)
    }
}

/// The step's open transaction, as the app's [`HandOff`] gets it: statements run inside the
/// step's transaction (under a savepoint), and commit with the store's record of the hand-off
/// or not at all. It offers no way to end the transaction: the store commits or rolls back.
/// (Do not send `COMMIT`, `ROLLBACK` or `SAVEPOINT` as statement text either.)
pub struct PgTx {
    client: Arc<Client>,
}

impl std::fmt::Debug for PgTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTx").finish_non_exhaustive()
    }
}

impl PgTx {
    /// Runs a statement; the number of rows it changed.
    pub async fn execute<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        self.client.execute(statement, params).await
    }

    /// Runs a query; its rows.
    pub async fn query<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.client.query(statement, params).await
    }

    /// Runs a query that returns at most one row.
    pub async fn query_opt<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        self.client.query_opt(statement, params).await
    }

    /// Prepares a statement on the step's connection.
    pub async fn prepare(&mut self, query: &str) -> Result<Statement, tokio_postgres::Error> {
        self.client.prepare(query).await
    }
}

impl TrackingStore for PgStore {
    /// The step's open transaction: run the app's statements on it.
    type Tx = PgTx;

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
        let mut conn = self.pool.get().await?;
        let client = conn.client();
        let rows = match self.policy.max_reads_per_second.filter(|rate| *rate > 0).map(f64::from) {
            // The budget taken in the claim's own statement: no lock outlives it.
            Some(rate) => {
                let max = i64::try_from(max).unwrap_or(i64::MAX);
                let params: [&(dyn ToSql + Sync); 6] = [&now, &max, &owner, &until, &rate, &rate];
                client.query(sql::CLAIM_DUE_BUDGETED, &params).await.map_err(pg)?
            }
            None => {
                let max = i64::try_from(max).unwrap_or(i64::MAX);
                client.query(sql::CLAIM_DUE, &[&now, &max, &owner, &until]).await.map_err(pg)?
            }
        };
        conn.clean = true;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let state = state_in(&row)?;
            claimed.push((state.claim_order(), Due::of(&state, now, &self.policy)));
        }
        // RETURNING keeps no order: in the order claimed (TrackedSession::claim_order).
        claimed.sort_by_key(|(order, _)| *order);
        Ok(claimed.into_iter().map(|(_, due)| due).collect())
    }

    async fn pause_reads(&self, until: SystemTime) -> Result<(), StoreError> {
        let mut conn = self.pool.get().await?;
        conn.client().execute(sql::PAUSE_READS, &[&until]).await.map_err(pg)?;
        conn.clean = true;
        Ok(())
    }

    async fn get<'a>(&'a self, session_id: &'a str) -> Result<Option<TrackedSession>, StoreError> {
        let mut conn = self.pool.get().await?;
        let row = conn.client().query_opt(sql::GET_STATE, &[&session_id]).await.map_err(pg)?;
        conn.clean = true;
        row.as_ref().map(state_in).transpose()
    }

    async fn order_sessions<'a>(&'a self, order_key: &'a str) -> Result<Vec<TrackedSession>, StoreError> {
        let mut conn = self.pool.get().await?;
        let rows = conn.client().query(sql::ORDER_SESSIONS, &[&order_key]).await.map_err(pg)?;
        conn.clean = true;
        rows.iter().map(state_in).collect()
    }

    async fn pending(&self) -> Result<u64, StoreError> {
        let mut conn = self.pool.get().await?;
        let row = conn.client().query_one(sql::PENDING, &[]).await.map_err(pg)?;
        conn.clean = true;
        let count: i64 = row.try_get(0).map_err(pg)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn counts(&self, now: SystemTime) -> Result<hpp_core::tracking::Counts, StoreError> {
        self.count(now).await
    }

    async fn prune(&self, now: SystemTime, max: usize) -> Result<u64, StoreError> {
        let before = now.checked_sub(self.policy.retention).unwrap_or(SystemTime::UNIX_EPOCH);
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let mut conn = self.pool.get().await?;
        // Rows a step holds are skipped (a late callback for a session being pruned wins).
        let row = conn.client().query_one(sql::PRUNE, &[&before, &max]).await.map_err(pg)?;
        conn.clean = true;
        let deleted: i64 = row.try_get(0).map_err(pg)?;
        Ok(u64::try_from(deleted).unwrap_or_default())
    }
}

/// The app's error, given the kind `database:<SQLSTATE>` when the app gave it none and a
/// database error caused it (a missing column, a unique violation): what operators see
/// (`TrackedSession::last_error_kind`) instead of `unclassified`.
fn classified(error: Box<dyn std::error::Error + Send + Sync>) -> Box<dyn std::error::Error + Send + Sync> {
    HandOffError::classified(error, |cause| {
        let code = cause.downcast_ref::<tokio_postgres::Error>()?.code()?;
        Some(format!("database:{}", code.code()))
    })
}

/// The tracked state in a row's first column (the `state` JSON).
pub(crate) fn state_in(row: &Row) -> Result<TrackedSession, StoreError> {
    row.try_get::<_, Json<TrackedSession>>(0).map(|json| json.0).map_err(pg)
}

/// Inserts a session's first state; 0 when the row exists already.
async fn insert_state(client: &impl GenericClient, state: &TrackedSession, now: SystemTime) -> Result<u64, StoreError> {
    let handed_off_at = state.is_handed_off().then_some(now);
    client
        .execute(
            sql::INSERT_STATE,
            &[
                &state.session_id(),
                &Json(state),
                &state.final_status().map(FinalStatus::as_str),
                &handed_off_at,
                &state.next_due_at(),
                &now,
                &state.order_key(),
                &i16::from(state.read_priority()),
            ],
        )
        .await
        .map_err(pg)
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// A database error with the server's message and code in its text (tokio-postgres's own
/// `Display` says only "db error").
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct PgError {
    message: String,
    #[source]
    source: tokio_postgres::Error,
}

pub(crate) fn pg(source: tokio_postgres::Error) -> StoreError {
    let message = match source.as_db_error() {
        Some(db) => format!("PostgreSQL: {} (SQLSTATE {})", db.message(), db.code().code()),
        // "error connecting to server" and the like: the cause (refused, timed out) is the source.
        None => match std::error::Error::source(&source) {
            Some(cause) => format!("PostgreSQL: {source}: {cause}"),
            None => format!("PostgreSQL: {source}"),
        },
    };
    StoreError::Backend(Box::new(PgError { message, source }))
}

/// The store's own connections: a connection goes back to the pool only after its transaction
/// ended (committed or rolled back). One left midway (a dropped future: a deadline) has its
/// running statement cancelled on the server and is closed, so the server rolls it back; its
/// slot stays taken until the connection has ended, so that the store never holds more server
/// connections than its pool size.
struct Pool {
    /// At most this many connections.
    size: usize,
    idle: Mutex<Vec<Pooled>>,
    permits: Arc<Semaphore>,
    connect: Connect,
}

/// How the pool opens a connection.
enum Connect {
    /// With the store's own settings and TLS (`sslmode`): the connection's task is the pool's.
    Own(Box<tokio_postgres::Config>, tls::RustlsConnect),
    /// With the app's connector (which spawns the connection's task itself).
    With(Connector),
}

/// A connection and the statements prepared on it.
struct Pooled {
    /// Shared with the step's [`PgTx`] while the app's work runs (and no longer).
    client: Arc<Client>,
    /// Looked up by the text's address first (a constant's), then its content.
    statements: Vec<(&'static str, Statement)>,
    /// The connection's task, when the pool spawned it: it ends when the connection has.
    driver: Option<tokio::task::JoinHandle<()>>,
}

struct Conn<'a> {
    client: Option<Pooled>,
    pool: &'a Pool,
    /// Set once the connection is outside any transaction again.
    clean: bool,
    permit: Option<OwnedSemaphorePermit>,
}

impl Pool {
    fn new(max_connections: usize, connect: Connect) -> Self {
        let size = max_connections.max(1);
        Self { size, idle: Mutex::new(Vec::new()), permits: Arc::new(Semaphore::new(size)), connect }
    }

    async fn get(&self) -> Result<Conn<'_>, StoreError> {
        let permit = self.permits.clone().acquire_owned().await.map_err(backend)?;
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let pooled = match idle.filter(|pooled| !pooled.client.is_closed()) {
            Some(pooled) => pooled,
            None => self.open().await?,
        };
        Ok(Conn { client: Some(pooled), pool: self, clean: false, permit: Some(permit) })
    }

    async fn open(&self) -> Result<Pooled, StoreError> {
        let (client, driver) = match &self.connect {
            Connect::Own(config, tls) => {
                let (client, connection) = config.connect(tls.clone()).await.map_err(pg)?;
                let driver = tokio::spawn(async move {
                    let _ = connection.await;
                });
                (client, Some(driver))
            }
            Connect::With(connector) => (connector().await.map_err(pg)?, None),
        };
        Ok(Pooled { client: Arc::new(client), statements: Vec::new(), driver })
    }
}

impl Conn<'_> {
    fn client(&mut self) -> &Arc<Client> {
        self.clean = false;
        &self.client.as_ref().expect("present until drop").client
    }

    /// `sql` prepared on this connection (once).
    async fn statement(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        let pooled = self.client.as_mut().expect("present until drop");
        // Not a hash of the text (a kilobyte of SQL through SipHash on every statement).
        let same =
            |known: &&str| known.len() == sql.len() && (std::ptr::eq(known.as_ptr(), sql.as_ptr()) || *known == sql);
        if let Some((_, statement)) = pooled.statements.iter().find(|(known, _)| same(known)) {
            return Ok(statement.clone());
        }
        let statement = pooled.client.prepare(sql).await.map_err(pg)?;
        pooled.statements.push((sql, statement.clone()));
        Ok(statement)
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        let Some(pooled) = self.client.take() else { return };
        if pooled.client.is_closed() {
            return;
        }
        if self.clean {
            self.pool.idle.lock().unwrap_or_else(PoisonError::into_inner).push(pooled);
            return;
        }
        // Abandoned midway: cancel what runs on the server, close the connection, and keep the
        // slot until it has ended (outside a runtime, it is simply closed).
        let permit = self.permit.take();
        let tls = match &self.pool.connect {
            Connect::Own(_, tls) => Some(tls.clone()),
            Connect::With(_) => None,
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let cancel = pooled.client.cancel_token();
                let _ = match tls {
                    Some(tls) => cancel.cancel_query(tls).await,
                    None => cancel.cancel_query(NoTls).await,
                };
                let Pooled { client, driver, .. } = pooled;
                drop(client);
                if let Some(driver) = driver {
                    // Bounded: a connection to a server gone silent (a partition) ends when TCP
                    // gives up, which can take long; past this the slot is freed all the same.
                    let _ = tokio::time::timeout(ABANDONED_CLOSE_WAIT, driver).await;
                }
                drop(permit);
            });
        }
    }
}

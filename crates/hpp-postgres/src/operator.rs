//! An operator's view of the store: where the tracked sessions stand ([`PgStore::overview`],
//! [`PgStore::list`]), and the two things an operator does about a stuck one: retry a parked
//! hand-off ([`PgStore::retry_parked`]: marked due, the app's next poller runs it) and forget a
//! session ([`PgStore::forget`]). What `kustom-hpp tracking status|list|retry|forget` runs.
//!
//! Sessions are named by their reference (`TrackedSession::reference`, `trk-…`), the name the
//! tracker's log lines give them.

use std::time::SystemTime;

use hpp_core::tracking::{Counts, FinalStatus, Standing};
use tokio_postgres::Row;
use tokio_postgres::types::Json;

use crate::{PgStore, StoreError, pg, state_in};

use hpp_postgres_schema::{COUNTS, PARKED, REFERENCE};

/// One tracked session, as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionSummary {
    /// Its reference (`trk-…`), as the tracker's logs name it.
    pub reference: String,
    /// Its id at Kustom.
    pub session_id: String,
    /// The app's order it pays for, when tracked with one.
    pub order_key: Option<String>,
    /// Where it stands.
    pub standing: Standing,
    /// Its final status, once known.
    pub final_status: Option<FinalStatus>,
    /// Failed reads, or hand-offs, in a row.
    pub failures: u32,
    /// The kind of the app's last hand-off error, while it fails.
    pub last_error_kind: Option<String>,
    /// When it started being tracked.
    pub tracked_at: SystemTime,
    /// When it is next read or its hand-off retried; `None` when nothing is due (parked,
    /// handed off).
    pub next_due_at: Option<SystemTime>,
}

/// The store at a glance: [`PgStore::overview`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Overview {
    /// How many sessions stand where, how many are due, and the oldest pending.
    pub counts: Counts,
    /// The parked sessions (the first 20 tracked), with their last error's kind and failures.
    pub parked_sessions: Vec<SessionSummary>,
}

/// Which sessions [`PgStore::list`] shows: all the conditions set hold. Build with
/// [`Default`] and change fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Filter {
    /// Parked sessions only.
    pub parked: bool,
    /// Sessions with work outstanding, tracked before this time.
    pub pending_since_before: Option<SystemTime>,
    /// The sessions of this order.
    pub order_key: Option<String>,
    /// The session with this reference.
    pub reference: Option<String>,
    /// At most this many, oldest first (default 100).
    pub limit: usize,
}

impl Default for Filter {
    fn default() -> Self {
        Self { parked: false, pending_since_before: None, order_key: None, reference: None, limit: 100 }
    }
}

/// The columns a [`SessionSummary`] is read from, in order.
const SUMMARY: &str = "state, created_at";

fn summary(row: &Row) -> Result<SessionSummary, StoreError> {
    let state = state_in(row)?;
    let tracked_at: SystemTime = row.try_get(1).map_err(pg)?;
    Ok(SessionSummary {
        reference: state.reference(),
        session_id: state.session_id().to_owned(),
        order_key: state.order_key().map(str::to_owned),
        standing: state.standing(),
        final_status: state.final_status(),
        failures: state.failures(),
        last_error_kind: state.last_error_kind().map(str::to_owned),
        tracked_at,
        next_due_at: state.next_due_at(),
    })
}

impl PgStore {
    /// How many sessions stand where at `now`, the oldest pending, and the parked ones.
    pub async fn overview(&self, now: SystemTime) -> Result<Overview, StoreError> {
        let counts = self.count(now).await?;
        let mut conn = self.pool.get().await?;
        let parked = conn
            .client()
            .query(
                &format!(
                    "SELECT {SUMMARY} FROM hpp_tracked_session WHERE handed_off_at IS NULL AND {PARKED} \
                     ORDER BY created_at LIMIT 20"
                ),
                &[],
            )
            .await
            .map_err(pg)?;
        conn.clean = true;
        Ok(Overview { counts, parked_sessions: parked.iter().map(summary).collect::<Result<_, _>>()? })
    }

    /// [`TrackingStore::counts`](hpp_core::tracking::TrackingStore::counts): one query.
    pub(crate) async fn count(&self, now: SystemTime) -> Result<Counts, StoreError> {
        let mut conn = self.pool.get().await?;
        let row = conn.client().query_one(COUNTS, &[&now]).await.map_err(pg)?;
        conn.clean = true;
        let count = |i: usize| -> Result<u64, StoreError> {
            let n: i64 = row.try_get(i).map_err(pg)?;
            Ok(u64::try_from(n).unwrap_or_default())
        };
        let mut counts = Counts::default();
        counts.waiting = count(0)?;
        counts.hand_off_due = count(1)?;
        counts.parked = count(2)?;
        counts.handed_off = count(3)?;
        counts.due = count(4)?;
        counts.oldest_pending_since = row.try_get(5).map_err(pg)?;
        Ok(counts)
    }

    /// The sessions `filter` picks, oldest tracked first.
    pub async fn list(&self, filter: &Filter) -> Result<Vec<SessionSummary>, StoreError> {
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let mut conn = self.pool.get().await?;
        let rows = conn
            .client()
            .query(
                &format!(
                    "SELECT {SUMMARY} FROM hpp_tracked_session \
                     WHERE (NOT $1 OR (handed_off_at IS NULL AND {PARKED})) \
                       AND ($2::timestamptz IS NULL OR (handed_off_at IS NULL AND created_at < $2)) \
                       AND ($3::text IS NULL OR order_key = $3) \
                       AND ($4::text IS NULL OR {REFERENCE} = $4) \
                     ORDER BY created_at LIMIT $5"
                ),
                &[&filter.parked, &filter.pending_since_before, &filter.order_key, &filter.reference, &limit],
            )
            .await
            .map_err(pg)?;
        conn.clean = true;
        rows.iter().map(summary).collect()
    }

    /// Retries parked hand-offs: the one with `reference`, or every parked one (`None`). Each is
    /// marked due at `now`, its failures forgotten (`TrackedSession::unpark`); the app's next
    /// poller hands it off (this runs none of the app's code). Returns how many were retried.
    pub async fn retry_parked(&self, reference: Option<&str>, now: SystemTime) -> Result<u64, StoreError> {
        let mut conn = self.pool.get().await?;
        let client = conn.client();
        client.batch_execute(&self.begin).await.map_err(pg)?;
        // Rows a step holds are skipped: that step decides.
        let rows = client
            .query(
                &format!(
                    "SELECT state FROM hpp_tracked_session \
                     WHERE handed_off_at IS NULL AND {PARKED} AND ($1::text IS NULL OR {REFERENCE} = $1) \
                     FOR UPDATE SKIP LOCKED"
                ),
                &[&reference],
            )
            .await
            .map_err(pg)?;
        let mut retried = 0;
        for row in &rows {
            let mut state = state_in(row)?;
            state.unpark(now);
            client
                .execute(
                    "UPDATE hpp_tracked_session SET state = $2, next_due_at = $3, updated_at = $4, \
                       claimed_by = NULL, claimed_until = NULL WHERE session_id = $1",
                    &[&state.session_id(), &Json(&state), &state.next_due_at(), &now],
                )
                .await
                .map_err(pg)?;
            retried += 1;
        }
        client.batch_execute("COMMIT").await.map_err(pg)?;
        conn.clean = true;
        Ok(retried)
    }

    /// Deletes the session with `reference`, whatever it stands at: it is never read nor handed
    /// off again (a callback for it is answered and does nothing). For a session the operator has
    /// settled by hand. Returns how many were deleted (0 or 1).
    pub async fn forget(&self, reference: &str) -> Result<u64, StoreError> {
        let mut conn = self.pool.get().await?;
        let deleted = conn
            .client()
            .execute(&format!("DELETE FROM hpp_tracked_session WHERE {REFERENCE} = $1"), &[&reference])
            .await
            .map_err(pg)?;
        conn.clean = true;
        Ok(deleted)
    }
}

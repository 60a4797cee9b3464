//! The PostgreSQL schema and statements of the kustom-hpp payment tracker, one text for both of
//! its PostgreSQL stores (`hpp-postgres` over tokio-postgres, `hpp-sqlx` over sqlx): the same
//! tables, the same locks, the same answers. Apps use a store, not this crate.
//!
//! Each statement's parameters are listed with it, by number and PostgreSQL type; both drivers
//! bind them as such.
//!
//! ```
//! assert_eq!(hpp_postgres_schema::MIGRATIONS.first().map(|m| m.0), Some(1));
//! assert!(hpp_postgres_schema::READ_STEP.contains("FOR UPDATE"));
//! ```
// Where other crates' documentation links to this one from a build without it (`--no-deps`).
#![doc(html_root_url = "https://docs.rs/hpp-postgres-schema/0.1.0")]

use std::time::Duration;

/// The schema, in order: (version, SQL). Each is applied once, in a transaction, under
/// [`MIGRATION_LOCK`], and recorded in `hpp_schema_version` ([`SCHEMA_VERSION_TABLE`]).
pub const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../migrations/0001_tracking.sql")),
    (2, include_str!("../migrations/0002_orders.sql")),
    (3, include_str!("../migrations/0003_pause.sql")),
    (4, include_str!("../migrations/0004_retention.sql")),
    (5, include_str!("../migrations/0005_read_budget.sql")),
    (6, include_str!("../migrations/0006_scale.sql")),
    (7, include_str!("../migrations/0007_inbox.sql")),
    (8, include_str!("../migrations/0008_wake_on_event.sql")),
];

/// The advisory lock migrations are applied under (`pg_advisory_xact_lock`): replicas starting
/// together apply each once.
pub const MIGRATION_LOCK: i64 = 7_140_011_000_421;

/// Creates the table that records the migrations applied.
pub const SCHEMA_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS hpp_schema_version (\
     version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())";

/// Whether migration `$1` (integer) was applied: a row when it was.
pub const MIGRATION_APPLIED: &str = "SELECT 1 FROM hpp_schema_version WHERE version = $1";

/// Records migration `$1` (integer) as applied.
pub const MIGRATION_RECORD: &str = "INSERT INTO hpp_schema_version (version) VALUES ($1)";

/// `BEGIN` and the step's [`bounds`]: a step's first statements, sent as one simple query.
pub fn begin(timeout: Duration) -> String {
    format!("BEGIN; {}", bounds(timeout))
}

/// `timeout` as the open transaction's idle and statement bounds (at least 1 ms: 0 would mean
/// none): PostgreSQL ends a step left idle (its replica cut off) or a statement waiting longer.
/// And [`READ_STEP`]'s wait for the session's row, [`STEP_LOCK_WAIT_MS`] (reset by [`SAVEPOINT`],
/// before the app's work).
pub fn bounds(timeout: Duration) -> String {
    let ms = timeout.as_millis().clamp(1, i32::MAX as u128);
    format!(
        "SET LOCAL idle_in_transaction_session_timeout = {ms}; SET LOCAL statement_timeout = {ms}; \
         SET LOCAL lock_timeout = {STEP_LOCK_WAIT_MS}"
    )
}

/// How long (ms) a step waits for its session's row before it is `Applied::Busy` (SQLSTATE
/// `55P03`): a step of the same session under way holds it for as long as it runs, a claim's
/// statement for milliseconds (a session it locked and did not take, or one it checked again
/// after another replica claimed it). Waiting this long tells the two apart.
pub const STEP_LOCK_WAIT_MS: u32 = 200;

/// The savepoint a step takes before the app's work, so that a failed hand-off's writes are
/// undone ([`ROLLBACK_APP_WORK`]) and the step's own state still written; with the lock wait
/// back to the connection's own (the app's statements wait as they would anywhere).
pub const SAVEPOINT: &str = "SET LOCAL lock_timeout TO DEFAULT; SAVEPOINT hpp_hand_off";

/// Undoes the app's work back to [`SAVEPOINT`].
pub const ROLLBACK_APP_WORK: &str = "ROLLBACK TO SAVEPOINT hpp_hand_off";

/// A step's read: the session's state (`jsonb`, `NULL` when not tracked), its row locked with
/// those of every session of its order (`FOR UPDATE`, waiting at most [`STEP_LOCK_WAIT_MS`]:
/// SQLSTATE `55P03` when a step of
/// one of them is under way), whether the event was applied before, whether another session
/// of the order was handed off as paid, and the session's callbacks recorded and not applied yet
/// ([`RECEIVE`]), oldest first, as a jsonb array of `{"at_ms": …, "callback": …}`. `$1` session
/// id (text), `$2` event id (text, `NULL` for inputs other than a callback).
pub const READ_STEP: &str = "WITH me AS (SELECT order_key FROM hpp_tracked_session WHERE session_id = $1), \
     s AS (SELECT session_id, state, final_status, handed_off_at FROM hpp_tracked_session \
       WHERE session_id = $1 OR order_key = (SELECT order_key FROM me) FOR UPDATE) \
     SELECT (SELECT state FROM s WHERE session_id = $1), \
       EXISTS (SELECT 1 FROM hpp_callback_event WHERE event_id = $2), \
       EXISTS (SELECT 1 FROM s WHERE session_id <> $1 AND handed_off_at IS NOT NULL \
         AND final_status IN ('COMPLETED', 'COMPLETED_AFTER_EXPIRED', 'COMPLETED_TWICE')), \
       (SELECT coalesce(jsonb_agg(jsonb_build_object(\
           'at_ms', (extract(epoch FROM received_at) * 1000)::bigint, 'callback', body) \
           ORDER BY received_at, event_id), '[]'::jsonb) \
         FROM hpp_callback_event WHERE session_id = $1 AND body IS NOT NULL)";

/// A step's write: the session's new state (the row exists: inserted first when new) and, when
/// `$8` is not `NULL`, the event recorded as applied. `$1` session id (text), `$2` state
/// (jsonb), `$3` final status (text), `$4` handed off at (timestamptz, `NULL` when not), `$5`
/// next due (timestamptz), `$6` now (timestamptz), `$7` release the claim (boolean), `$8` event
/// id (text), `$9` the event's status (text), `$10` read priority (smallint), `$11` the recorded
/// callbacks this step applied (text[] of event ids: their bodies are dropped). A session still
/// claimed stays due no sooner than its lease ends (as [`CLAIM_DUE`] left it).
pub const WRITE_STEP: &str = "WITH updated AS (\
       UPDATE hpp_tracked_session SET state = $2, final_status = $3, read_priority = $10, \
         handed_off_at = CASE WHEN $4::timestamptz IS NULL THEN NULL ELSE COALESCE(handed_off_at, $4) END, \
         next_due_at = CASE WHEN $7 OR claimed_until IS NULL OR $5::timestamptz IS NULL THEN $5 \
           ELSE greatest($5, claimed_until) END, updated_at = $6, \
         claimed_by = CASE WHEN $7 THEN NULL ELSE claimed_by END, \
         claimed_until = CASE WHEN $7 THEN NULL ELSE claimed_until END \
       WHERE session_id = $1 RETURNING 1), \
     applied AS (UPDATE hpp_callback_event SET body = NULL \
       WHERE event_id = ANY($11::text[]) AND session_id = $1 AND body IS NOT NULL) \
     INSERT INTO hpp_callback_event (event_id, session_id, status, received_at) \
     SELECT $8, $1, $9, $6 WHERE $8::text IS NOT NULL ON CONFLICT (event_id) DO NOTHING";

/// Records callbacks for tracked sessions, each with when its session is due and at which read
/// priority, in one statement for many (one round trip, no transaction of its own, no write to
/// the sessions' rows): `TrackingStore::receive`, batched (`hpp_runtime::batch`: while the
/// store's batches are all running, callbacks wait and go together in the next). Claims take a
/// session when its event's wake-up comes ([`CLAIM_DUE`]); its next step applies it
/// ([`READ_STEP`]'s last column). Nothing for a session that is not tracked (the store applies
/// that callback at once instead) or an event recorded before. Arrays, one element per
/// callback: `$1` event ids (text), `$2` session ids (text), `$3` the events' statuses (text),
/// `$4` received at (timestamptz), `$5` the callbacks (JSON text), `$6` due at (timestamptz),
/// `$7` read priorities (smallint): from `Received::recording`. Returns a row per callback, in
/// their order: whether its session is tracked and whether its event was recorded now (boolean
/// each; an event id given twice in one batch is recorded by its first).
pub const RECEIVE: &str = "WITH given AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], \
       $4::timestamptz[], $5::text[], $6::timestamptz[], $7::smallint[]) WITH ORDINALITY \
       AS g(event_id, session_id, status, received_at, body, wake_at, wake_priority, n)), \
     tracked AS (SELECT g.* FROM given g \
       WHERE EXISTS (SELECT 1 FROM hpp_tracked_session s WHERE s.session_id = g.session_id)), \
     recorded AS (\
       INSERT INTO hpp_callback_event (event_id, session_id, status, received_at, body, wake_at, wake_priority) \
       SELECT event_id, session_id, status, received_at, body::jsonb, wake_at, wake_priority FROM tracked \
       ON CONFLICT (event_id) DO NOTHING RETURNING event_id) \
     SELECT EXISTS (SELECT 1 FROM tracked t WHERE t.n = g.n), \
       EXISTS (SELECT 1 FROM recorded r WHERE r.event_id = g.event_id) \
         AND NOT EXISTS (SELECT 1 FROM given h WHERE h.event_id = g.event_id AND h.n < g.n) \
     FROM given g ORDER BY g.n";

/// The most callbacks a store records in one [`RECEIVE`].
pub const RECEIVE_BATCH: usize = 64;

/// The most [`RECEIVE`] statements a store runs at once: two, so that one batch gathers while
/// the other runs, and the rest of the pool stays free for claims and steps (`cargo xtask track
/// --bench`, 32 callbacks in flight: 0.92-1.08x the raw handler with two, 1.10x with one, 1.50x
/// with four, whose batches stay small).
pub const RECEIVE_IN_FLIGHT: usize = 2;

/// A session's first state; no row changed when it is tracked already. `$1` session id (text),
/// `$2` state (jsonb), `$3` final status (text), `$4` handed off at (timestamptz), `$5` next due
/// (timestamptz), `$6` now (timestamptz), `$7` order key (text), `$8` read priority (smallint).
pub const INSERT_STATE: &str = "INSERT INTO hpp_tracked_session \
       (session_id, state, final_status, handed_off_at, next_due_at, created_at, updated_at, order_key, read_priority) \
     VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8) ON CONFLICT (session_id) DO NOTHING";

/// The sessions of read priority `$p` that can be claimed at `$1`, the most overdue first, at
/// most `$limit`, locked (`FOR UPDATE SKIP LOCKED`), as the CTE `$name`: one bounded range of the
/// claim index for each priority (`TrackedSession::read_priority` is 0, 1 or 2), so that a
/// claim reads no more of the index than it takes, however many sessions wait.
macro_rules! due_of_priority {
    ($name:literal, $p:literal, $limit:literal) => {
        concat!(
            $name,
            " AS (SELECT session_id, read_priority, next_due_at FROM hpp_tracked_session \
             WHERE read_priority = ",
            $p,
            " AND next_due_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1) \
               AND NOT EXISTS (SELECT 1 FROM hpp_read_pause WHERE reads_until > $1) \
             ORDER BY next_due_at LIMIT ",
            $limit,
            " FOR UPDATE SKIP LOCKED)"
        )
    };
}

/// The sessions that callbacks recorded and not applied yet ([`RECEIVE`]) made due at `$1`, at
/// most `$limit` of their events, the earliest woken first, with the events' read priority and
/// wake-up time, locked (`FOR UPDATE OF s SKIP LOCKED`), as the CTE `woken`: a range of the
/// events' wake-up index (a claim moves its sessions' events past its lease; events that came
/// during a claim are stepped over, not counted against the limit).
macro_rules! woken {
    ($limit:literal) => {
        concat!(
            "woken_events AS (SELECT session_id, min(wake_priority) AS read_priority, min(wake_at) AS next_due_at \
               FROM (SELECT e.session_id, e.wake_priority, e.wake_at FROM hpp_callback_event e \
                     JOIN hpp_tracked_session c ON c.session_id = e.session_id \
                     WHERE e.body IS NOT NULL AND e.wake_at <= $1 \
                       AND (c.claimed_until IS NULL OR c.claimed_until <= $1) \
                     ORDER BY e.wake_at LIMIT ",
            $limit,
            ") e GROUP BY session_id), \
             woken AS (SELECT s.session_id, w.read_priority, w.next_due_at \
               FROM hpp_tracked_session s JOIN woken_events w ON w.session_id = s.session_id \
               WHERE (s.claimed_until IS NULL OR s.claimed_until <= $1) \
                 AND NOT EXISTS (SELECT 1 FROM hpp_read_pause WHERE reads_until > $1) \
               FOR UPDATE OF s SKIP LOCKED)"
        )
    };
}

/// The due sessions of every priority, at most `$limit` of each, and those woken by recorded
/// callbacks, as the CTE `due` (a session may be there twice; see `due_of_priority` and `woken`;
/// a lock cannot be taken under a `UNION`, so each is a CTE of its own).
macro_rules! due {
    ($limit:literal) => {
        concat!(
            due_of_priority!("due0", "0", $limit),
            ", ",
            due_of_priority!("due1", "1", $limit),
            ", ",
            due_of_priority!("due2", "2", $limit),
            ", ",
            woken!($limit),
            ", \
            due AS (SELECT * FROM due0 UNION ALL SELECT * FROM due1 UNION ALL SELECT * FROM due2 \
              UNION ALL SELECT * FROM woken)"
        )
    };
}

/// The claim of the `picked` sessions by `$3` until `$4`, as the CTEs `claimed` (each one's
/// state) and `moved`: their `next_due_at`, and their recorded callbacks' wake-up, moved to the
/// end of the lease (a claimed session leaves the claim indexes until its lease ends: a replica
/// that died holding thousands costs the others nothing). The rows are locked by the `due` CTEs,
/// whose conditions were checked on their latest versions; the lease is checked again all the same.
macro_rules! claim_picked {
    () => {
        "claimed AS (UPDATE hpp_tracked_session s SET claimed_by = $3, claimed_until = $4, next_due_at = $4 \
           FROM picked WHERE s.session_id = picked.session_id \
             AND (s.claimed_until IS NULL OR s.claimed_until <= $1) \
           RETURNING s.session_id, s.state), \
         moved AS (UPDATE hpp_callback_event SET wake_at = $4 \
           WHERE session_id IN (SELECT session_id FROM claimed) AND body IS NOT NULL AND wake_at < $4)"
    };
}

/// Claims due sessions, the most likely to have changed first (`read_priority`), then the most
/// overdue; returns each one's state (jsonb). `$1` now (timestamptz), `$2` at most (bigint),
/// `$3` owner (text), `$4` claimed until (timestamptz).
pub const CLAIM_DUE: &str = concat!(
    "WITH ",
    due!("$2"),
    ", picked AS (SELECT session_id FROM due GROUP BY session_id \
       ORDER BY min(read_priority), min(next_due_at) LIMIT $2), ",
    claim_picked!(),
    " SELECT state FROM claimed"
);

/// [`CLAIM_DUE`] under the read budget, in one statement (the budget's row is locked only while
/// it runs: a replica cut off mid-claim holds nothing): the tokens refilled at `$6` a second
/// since they were counted, at most `$5` (a second's worth), bound how many are claimed, and
/// what was claimed is taken from them (`TrackingPolicy::read_allowance` is the same
/// arithmetic). `$1` now (timestamptz), `$2` at most (bigint), `$3` owner (text), `$4` claimed
/// until (timestamptz), `$5` most tokens (double precision), `$6` tokens a second (double
/// precision). Returns each claimed session's state (jsonb).
pub const CLAIM_DUE_BUDGETED: &str = concat!(
    "WITH budget AS (\
       SELECT least($5::float8, tokens + $6::float8 * greatest(0, extract(epoch FROM ($1 - refilled_at)))::float8) \
         AS available FROM hpp_read_budget WHERE id = 1 FOR UPDATE), \
     allowed AS (SELECT least($2, (SELECT greatest(0, floor(available))::bigint FROM budget)) AS n), ",
    due!("(SELECT n FROM allowed)"),
    ", picked AS (SELECT session_id FROM due GROUP BY session_id \
       ORDER BY min(read_priority), min(next_due_at) LIMIT (SELECT n FROM allowed)), ",
    claim_picked!(),
    ", spent AS (\
       UPDATE hpp_read_budget SET tokens = (SELECT available FROM budget) - (SELECT count(*) FROM claimed), \
         refilled_at = GREATEST(refilled_at, $1) WHERE id = 1) \
     SELECT state FROM claimed"
);

/// Pauses every claim until `$1` (timestamptz); a later pause wins.
pub const PAUSE_READS: &str = "INSERT INTO hpp_read_pause (id, reads_until) VALUES (1, $1) ON CONFLICT (id) \
     DO UPDATE SET reads_until = GREATEST(hpp_read_pause.reads_until, EXCLUDED.reads_until)";

/// The state (jsonb) of session `$1` (text).
pub const GET_STATE: &str = "SELECT state FROM hpp_tracked_session WHERE session_id = $1";

/// The states (jsonb) of the sessions of order `$1` (text).
pub const ORDER_SESSIONS: &str = "SELECT state FROM hpp_tracked_session WHERE order_key = $1";

/// How many sessions have work outstanding (bigint), from the counts the schema keeps
/// (migration 6): no scan.
pub const PENDING: &str = "SELECT coalesce(sum(sessions), 0)::bigint FROM (\
       SELECT standing, sessions FROM hpp_session_count \
       UNION ALL SELECT standing, sessions FROM hpp_session_count_change) counted \
     WHERE standing <> 'handed_off'";

/// Folds the changes the trigger appended into the counts, as CTEs of a statement (`folded`):
/// each change row is taken once (a concurrent fold waits for the rows this one deleted, then
/// skips them), the counts updated in the order of their standing (no two folds lock them in
/// opposite orders).
macro_rules! fold_counts {
    () => {
        "changes AS (DELETE FROM hpp_session_count_change RETURNING standing, sessions), \
         folded AS (INSERT INTO hpp_session_count (standing, sessions) \
           SELECT standing, sum(sessions) FROM changes GROUP BY standing ORDER BY standing \
           ON CONFLICT (standing) DO UPDATE SET sessions = hpp_session_count.sessions + EXCLUDED.sessions)"
    };
}

/// The sessions by standing at `$1` (timestamptz): waiting, hand-off due, parked, handed off,
/// due now (bigint each), and when the oldest pending one was tracked (timestamptz). Without a
/// scan: the standings from the counts the schema keeps (folding the changes appended since:
/// every CTE reads the same snapshot, so the counts and the changes add up exactly), due now
/// over the due part of the claim index and of the recorded callbacks' wake-ups (each woken
/// session looked up by its key, in a subquery the planner cannot turn into a join: as a join,
/// a backlog of a thousand woken sessions made it scan the whole table), the oldest from its own
/// index.
pub const COUNTS: &str = concat!(
    "WITH ",
    fold_counts!(),
    ", counted AS (SELECT standing, sessions FROM hpp_session_count \
       UNION ALL SELECT standing, sessions FROM hpp_session_count_change) \
     SELECT \
       coalesce(sum(sessions) FILTER (WHERE standing = 'waiting'), 0)::bigint, \
       coalesce(sum(sessions) FILTER (WHERE standing = 'hand_off_due'), 0)::bigint, \
       coalesce(sum(sessions) FILTER (WHERE standing = 'parked'), 0)::bigint, \
       coalesce(sum(sessions) FILTER (WHERE standing = 'handed_off'), 0)::bigint, \
       (SELECT count(*) FROM (SELECT session_id FROM hpp_tracked_session WHERE next_due_at <= $1 \
         UNION SELECT e.session_id FROM hpp_callback_event e \
         WHERE e.body IS NOT NULL AND e.wake_at <= $1 AND (SELECT c.claimed_until IS NULL OR c.claimed_until <= $1 \
           FROM hpp_tracked_session c WHERE c.session_id = e.session_id)) due), \
       (SELECT min(created_at) FROM hpp_tracked_session WHERE handed_off_at IS NULL) \
     FROM counted"
);

/// Deletes sessions handed off, and events recorded, before `$1` (timestamptz), at most `$2`
/// (bigint) of each, skipping rows a step holds; returns the rows deleted (bigint). Folds the
/// counts' changes too (as [`COUNTS`] does), so that they stay few where counts are never read.
pub const PRUNE: &str = concat!(
    "WITH ",
    fold_counts!(),
    ", sessions AS (\
       DELETE FROM hpp_tracked_session WHERE session_id IN (\
         SELECT session_id FROM hpp_tracked_session WHERE handed_off_at < $1 \
         ORDER BY handed_off_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1), \
     events AS (\
       DELETE FROM hpp_callback_event WHERE event_id IN (\
         SELECT event_id FROM hpp_callback_event WHERE received_at < $1 \
         ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1) \
     SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM events)"
);

/// Whether a row's session is parked (its hand-off failed too often), as an SQL expression.
pub const PARKED: &str = "coalesce((state->>'parked')::boolean, false)";

/// A row's session reference, as an SQL expression: `TrackedSession::reference` computed by
/// PostgreSQL (`trk-` and 12 hex digits of the SHA-256 of the id).
pub const REFERENCE: &str = "'trk-' || left(encode(sha256(convert_to(session_id, 'UTF8')), 'hex'), 12)";

#[cfg(test)]
mod tests {
    #[test]
    fn the_standing_column_and_parked_say_parked_alike() {
        let migration = super::MIGRATIONS.iter().find(|m| m.0 == 6).map(|m| m.1).unwrap_or_default();
        assert!(migration.contains(super::PARKED));
    }

    #[test]
    fn migrations_are_in_order_and_bounds_never_zero() {
        let versions: Vec<i32> = super::MIGRATIONS.iter().map(|m| m.0).collect();
        assert_eq!(versions, (1..=versions.len() as i32).collect::<Vec<_>>());
        assert!(super::begin(std::time::Duration::ZERO).contains("statement_timeout = 1"));
    }
}

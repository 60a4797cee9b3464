-- hpp-postgres schema, version 1: tracked sessions and the callbacks' event ids.
-- Applied by PgStore::migrate() (idempotent; one replica at a time under an advisory lock).

-- One row per tracked session. `state` is hpp_core::tracking::TrackedSession as JSON (the rules'
-- whole state); the other columns are copied out of it for the queries, or are the claims.
CREATE TABLE IF NOT EXISTS hpp_tracked_session (
    session_id     text PRIMARY KEY,
    state          jsonb NOT NULL,
    final_status   text,                 -- COMPLETED, CANCELLED, DISABLED, TIMEOUT, EXPIRED
    handed_off_at  timestamptz,          -- when the app's work for the final status committed
    next_due_at    timestamptz,          -- when to read it (or retry its hand-off); NULL once handed off
    claimed_by     text,                 -- the poller reading it, until claimed_until
    claimed_until  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS hpp_tracked_session_due
    ON hpp_tracked_session (next_due_at) WHERE next_due_at IS NOT NULL;

-- Every callback applied, by its event id: a redelivery is recognised by the primary key, not by
-- a read-then-write. Kept at least as long as the service retries (minutes); prune with
-- PgStore::prune_events.
CREATE TABLE IF NOT EXISTS hpp_callback_event (
    event_id     text PRIMARY KEY,
    session_id   text NOT NULL,
    status       text,
    received_at  timestamptz NOT NULL DEFAULT now()
);

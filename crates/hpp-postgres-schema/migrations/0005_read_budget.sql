-- hpp-postgres schema, version 5: the read budget every replica's claims take from
-- (TrackingPolicy::max_reads_per_second: the account's rate limit is checkout's too), and the
-- order claims take sessions in under it (TrackedSession::read_priority: a callback's final
-- status to confirm or a hand-off due first, then sessions active within the hour, then quiet ones).

CREATE TABLE IF NOT EXISTS hpp_read_budget (
    id           integer PRIMARY KEY CHECK (id = 1),
    tokens       double precision NOT NULL,
    refilled_at  timestamptz NOT NULL
);
-- Empty long ago: full at the first claim.
INSERT INTO hpp_read_budget (id, tokens, refilled_at) VALUES (1, 0, 'epoch') ON CONFLICT (id) DO NOTHING;

ALTER TABLE hpp_tracked_session ADD COLUMN IF NOT EXISTS read_priority smallint NOT NULL DEFAULT 2;
UPDATE hpp_tracked_session SET read_priority = 0 WHERE final_status IS NOT NULL AND handed_off_at IS NULL;

CREATE INDEX IF NOT EXISTS hpp_tracked_session_claim
    ON hpp_tracked_session (read_priority, next_due_at) WHERE next_due_at IS NOT NULL;

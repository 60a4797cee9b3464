-- hpp-postgres schema, version 6: claims and counts that stay fast at a million sessions.
--
-- Claims: a claim moves the session's next_due_at to the end of its lease (CLAIM_DUE), so that
-- the claim index holds only sessions that can be claimed; a replica that died with thousands
-- of sessions claimed no longer makes every claim step over them. Rows claimed before this
-- version get the same.
UPDATE hpp_tracked_session SET next_due_at = claimed_until
    WHERE next_due_at IS NOT NULL AND claimed_until IS NOT NULL AND claimed_until > next_due_at;

-- Counts: where each session stands (hpp_core::tracking::Standing) as a column, and how many
-- stand where, kept as each row changes: a trigger appends +1/-1 to hpp_session_count_change
-- (an insert: nothing waits on another transaction, not even an app's long checkout
-- transaction that tracks a session), and PgStore's counts fold those changes into
-- hpp_session_count as they read them (COUNTS). No count scans the sessions.
ALTER TABLE hpp_tracked_session ADD COLUMN IF NOT EXISTS standing text GENERATED ALWAYS AS (
    CASE
        WHEN handed_off_at IS NOT NULL THEN 'handed_off'
        WHEN coalesce((state->>'parked')::boolean, false) THEN 'parked'
        WHEN final_status IS NOT NULL THEN 'hand_off_due'
        ELSE 'waiting'
    END) STORED;

CREATE TABLE IF NOT EXISTS hpp_session_count (
    standing  text PRIMARY KEY,
    sessions  bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS hpp_session_count_change (
    standing  text NOT NULL,
    sessions  bigint NOT NULL
);

CREATE OR REPLACE FUNCTION hpp_count_standing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO hpp_session_count_change (standing, sessions) VALUES (OLD.standing, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO hpp_session_count_change (standing, sessions) VALUES (NEW.standing, 1);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS hpp_count_added_or_removed ON hpp_tracked_session;
CREATE TRIGGER hpp_count_added_or_removed AFTER INSERT OR DELETE ON hpp_tracked_session
    FOR EACH ROW EXECUTE FUNCTION hpp_count_standing();
DROP TRIGGER IF EXISTS hpp_count_moved ON hpp_tracked_session;
CREATE TRIGGER hpp_count_moved AFTER UPDATE ON hpp_tracked_session
    FOR EACH ROW WHEN (OLD.standing IS DISTINCT FROM NEW.standing) EXECUTE FUNCTION hpp_count_standing();

-- The sessions there are now (under the migration's lock: none are counted twice).
DELETE FROM hpp_session_count_change;
DELETE FROM hpp_session_count;
INSERT INTO hpp_session_count (standing, sessions)
    SELECT standing, count(*) FROM hpp_tracked_session GROUP BY standing;

-- The oldest session with work outstanding, without a scan.
CREATE INDEX IF NOT EXISTS hpp_tracked_session_pending
    ON hpp_tracked_session (created_at) WHERE handed_off_at IS NULL;

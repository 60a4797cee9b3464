-- hpp-postgres schema, version 8: a recorded callback wakes its session from its own row.
-- RECEIVE writes the event only (with when its session is due, and at which read priority:
-- Received::recording); claims take sessions with pending events due beside those due by their
-- own row (CLAIM_DUE), and move a claimed session's pending events to its lease's end, as they do
-- its next_due_at. No write to the session's row: a step under way cannot overwrite the wake-up,
-- and the receiver's statement costs about an insert (the session row's update was half of it).

ALTER TABLE hpp_callback_event ADD COLUMN IF NOT EXISTS wake_at timestamptz;
ALTER TABLE hpp_callback_event ADD COLUMN IF NOT EXISTS wake_priority smallint;

-- Recorded before this version: their sessions were woken on their own rows; due at once here too.
UPDATE hpp_callback_event SET wake_at = received_at, wake_priority = 0 WHERE body IS NOT NULL AND wake_at IS NULL;

CREATE INDEX IF NOT EXISTS hpp_callback_event_wake ON hpp_callback_event (wake_at) WHERE body IS NOT NULL;

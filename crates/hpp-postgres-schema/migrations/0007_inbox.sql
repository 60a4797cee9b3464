-- hpp-postgres schema, version 7: callbacks recorded in one round trip, applied by the session's
-- next step (TrackingStore::receive, RECEIVE). A callback's event row keeps its body until a step
-- applied it (then NULL): the API is the authority and a callback a wake-up, so the receiver
-- records it and makes its session due, and the poller's next read of the session applies it,
-- as of when it came, with the read that confirms it.

ALTER TABLE hpp_callback_event ADD COLUMN IF NOT EXISTS body jsonb;

CREATE INDEX IF NOT EXISTS hpp_callback_event_received_pending
    ON hpp_callback_event (session_id, received_at) WHERE body IS NOT NULL;

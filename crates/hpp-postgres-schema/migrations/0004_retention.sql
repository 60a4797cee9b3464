-- hpp-postgres schema, version 4: retention. PgStore::prune deletes sessions handed off, and
-- callbacks' event ids recorded, longer ago than TrackingPolicy::retention, in bounded batches:
-- these indexes find them without a scan.

CREATE INDEX IF NOT EXISTS hpp_tracked_session_handed_off
    ON hpp_tracked_session (handed_off_at) WHERE handed_off_at IS NOT NULL;

CREATE INDEX IF NOT EXISTS hpp_callback_event_received
    ON hpp_callback_event (received_at);

-- hpp-postgres schema, version 2: the app's order a session pays for.
-- An order may have several sessions; it is handed off as paid once (another paid session of it
-- is COMPLETED_TWICE). A step of a session with an order key locks every session of the order.

ALTER TABLE hpp_tracked_session ADD COLUMN IF NOT EXISTS order_key text;

CREATE INDEX IF NOT EXISTS hpp_tracked_session_order
    ON hpp_tracked_session (order_key) WHERE order_key IS NOT NULL;

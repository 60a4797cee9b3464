-- hpp-postgres schema, version 3: the pause of reads every replica honours (the API answered a
-- read 429: the account's rate limit is shared with checkout). One row at most.

CREATE TABLE IF NOT EXISTS hpp_read_pause (
    id           integer PRIMARY KEY CHECK (id = 1),
    reads_until  timestamptz NOT NULL
);

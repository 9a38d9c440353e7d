-- Kazoe collector schema, version 1. The same SQL runs on SQLite and PostgreSQL:
-- times are integer epoch seconds (_s) or milliseconds (_ms), JSON bodies are text.

-- One row per window a node published. (node_id, seq) is the node's unique id
-- for the window: a redelivered copy inserts nothing (ON CONFLICT DO NOTHING).
CREATE TABLE windows (
    node_id        TEXT    NOT NULL,
    seq            BIGINT  NOT NULL,
    boot_id        TEXT    NOT NULL,
    window_start_s BIGINT  NOT NULL,
    window_end_s   BIGINT  NOT NULL,
    people         INTEGER,
    body           TEXT    NOT NULL,
    received_ms    BIGINT  NOT NULL,
    stored_ms      BIGINT  NOT NULL,
    CONSTRAINT windows_node_seq UNIQUE (node_id, seq)
);
CREATE INDEX windows_end ON windows (window_end_s);
CREATE INDEX windows_stored ON windows (stored_ms);

-- What we know about each node: retained status and notice, the latest window.
CREATE TABLE nodes (
    node_id       TEXT    NOT NULL PRIMARY KEY,
    config_site   TEXT,
    notice_site   TEXT,
    state         TEXT    NOT NULL,
    status_body   TEXT,
    status_at_ms  BIGINT  NOT NULL,
    notice_body   TEXT,
    notice_ms     BIGINT  NOT NULL,
    latest_seq    BIGINT  NOT NULL,
    latest_body   TEXT,
    latest_end_s  BIGINT  NOT NULL,
    first_seen_ms BIGINT  NOT NULL,
    last_seen_ms  BIGINT  NOT NULL,
    updated_ms    BIGINT  NOT NULL
);
CREATE INDEX nodes_updated ON nodes (updated_ms);

-- Raw per node, per hour sums of each cell, kept in the same transaction as the
-- windows they sum. cell '_windows' counts windows; n counts windows that had
-- the cell, nulls those where it was withheld. Never served as is: roll-ups
-- re-apply suppression (collector/rollup.py).
CREATE TABLE hourly (
    node_id TEXT    NOT NULL,
    hour_s  BIGINT  NOT NULL,
    cell    TEXT    NOT NULL,
    n       INTEGER NOT NULL,
    nulls   INTEGER NOT NULL,
    total   INTEGER NOT NULL,
    PRIMARY KEY (node_id, hour_s, cell)
);
CREATE INDEX hourly_hour ON hourly (hour_s);

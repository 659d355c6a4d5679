-- The embedded queue (a table with leases), its dead letters, and the store.

-- One row: a random id of this database, so that queue ids stay unique even if the
-- file is replaced while the store lives elsewhere.
CREATE TABLE queue_instance (
    instance TEXT NOT NULL
);
INSERT INTO queue_instance (instance) VALUES (lower(hex(randomblob(6))));

-- Items waiting or leased. AUTOINCREMENT: an id is never reused.
CREATE TABLE queue (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    data        TEXT    NOT NULL,
    queued_at   INTEGER NOT NULL,          -- unix ms
    attempts    INTEGER NOT NULL DEFAULT 0, -- deliveries so far
    lease_owner TEXT,
    lease_until INTEGER                     -- unix ms; NULL = never delivered
);
CREATE INDEX queue_lease ON queue (lease_until);

CREATE TABLE dead_letters (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id  TEXT    NOT NULL,
    data      TEXT,
    queued_at INTEGER NOT NULL,
    attempts  INTEGER NOT NULL,
    reason    TEXT    NOT NULL,
    failed_at INTEGER NOT NULL
);

-- Processed records, keyed by the queue id (storing twice is a no-op). A deleted
-- record keeps its key (data dropped), so a late redelivery cannot bring it back.
CREATE TABLE records (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id     TEXT    NOT NULL UNIQUE,
    queue_order  TEXT    NOT NULL, -- the queue id, sortable in arrival order
    data         TEXT,
    length       INTEGER NOT NULL,
    words        INTEGER NOT NULL,
    queued_at    INTEGER NOT NULL,
    processed_at INTEGER NOT NULL,
    deleted_at   INTEGER
);
-- "Oldest" is arrival order: the datum queued first, however late it was processed.
CREATE INDEX records_live ON records (queued_at, queue_order) WHERE deleted_at IS NULL;

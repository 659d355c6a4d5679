-- Runs in the schema `multivac` (the pool's search_path), so that its tables and its
-- `_sqlx_migrations` never meet another service's in a shared database.

-- Processed records, keyed by the queue id (storing twice is a no-op). A deleted
-- record keeps its key (data dropped), so a late redelivery cannot bring it back.
CREATE TABLE records (
    id           BIGSERIAL PRIMARY KEY,
    queue_id     TEXT        NOT NULL UNIQUE,
    queue_order  TEXT        NOT NULL, -- the queue id, sortable in arrival order
    data         TEXT,
    length       BIGINT      NOT NULL,
    words        BIGINT      NOT NULL,
    queued_at    TIMESTAMPTZ NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL,
    deleted_at   TIMESTAMPTZ
);
-- "Oldest" is arrival order: the datum queued first, however late it was processed.
CREATE INDEX records_live ON records (queued_at, queue_order) WHERE deleted_at IS NULL;

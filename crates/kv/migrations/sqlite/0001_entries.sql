-- One row per key. `version` counts writes: 1 after the insert that created the key,
-- so an upsert's RETURNING tells "new" from "replaced" in the same statement.
CREATE TABLE entries (
    id      TEXT    PRIMARY KEY NOT NULL,
    data    TEXT    NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);

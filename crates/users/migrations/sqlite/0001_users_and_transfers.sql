-- Users and their coin balances; the ledger of transfers.
-- The CHECKs are the last line of defence: no negative balance, no empty or
-- over-long name, no zero or negative transfer, no transfer to oneself can be
-- committed, whatever the code above does.
CREATE TABLE users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE
               CHECK (typeof(name) = 'text' AND length(name) BETWEEN 1 AND 64),
    coins      INTEGER NOT NULL CHECK (typeof(coins) = 'integer' AND coins >= 0),
    created_at TEXT    NOT NULL
);

CREATE TABLE transfers (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    from_id         INTEGER NOT NULL REFERENCES users (id),
    to_id           INTEGER NOT NULL REFERENCES users (id),
    amount          INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
    -- balances right after this transfer
    from_balance    INTEGER NOT NULL CHECK (from_balance >= 0),
    to_balance      INTEGER NOT NULL CHECK (to_balance >= 0),
    idempotency_key TEXT UNIQUE,
    created_at      TEXT    NOT NULL,
    CHECK (from_id <> to_id)
);

CREATE INDEX transfers_from ON transfers (from_id, id);
CREATE INDEX transfers_to ON transfers (to_id, id);

-- User names are unique without regard to case: `name_key` is the name (stored in
-- NFC by the service) in lower case, computed by the service (crate::model::name_key).
-- Rows from before get SQLite's lower(), which folds ASCII only; a database holding
-- two names that differ only by case fails here, saying which index: rename one first.
ALTER TABLE users ADD COLUMN name_key TEXT;
UPDATE users SET name_key = lower(name);
CREATE UNIQUE INDEX users_name_folded ON users (name_key);

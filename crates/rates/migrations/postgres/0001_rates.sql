-- The schema of the original rates.sql, with its constraint names, so that a database
-- loaded by `psql -f rates.sql` and one created here are the same (IF NOT EXISTS: a
-- database the original dump already created is adopted as it is).
CREATE TABLE IF NOT EXISTS regions (
    slug text NOT NULL CONSTRAINT regions_pkey PRIMARY KEY,
    name text NOT NULL,
    parent_slug text CONSTRAINT regions_parent_slug_fkey REFERENCES regions (slug)
);

CREATE TABLE IF NOT EXISTS ports (
    code text NOT NULL CONSTRAINT ports_pkey PRIMARY KEY,
    name text NOT NULL,
    parent_slug text NOT NULL CONSTRAINT ports_parent_slug_fkey REFERENCES regions (slug)
);

-- No primary key: the original has none, and its data holds exact duplicate rows.
CREATE TABLE IF NOT EXISTS prices (
    orig_code text NOT NULL CONSTRAINT prices_orig_code_fkey REFERENCES ports (code),
    dest_code text NOT NULL CONSTRAINT prices_dest_code_fkey REFERENCES ports (code),
    day date NOT NULL,
    price integer NOT NULL
);

-- Serves every GET /rates lookup: one lane, a range of days.
CREATE INDEX IF NOT EXISTS prices_lane_day_idx ON prices (orig_code, dest_code, day);
-- Region expansion walks the tree downwards.
CREATE INDEX IF NOT EXISTS regions_parent_slug_idx ON regions (parent_slug);
CREATE INDEX IF NOT EXISTS ports_parent_slug_idx ON ports (parent_slug);

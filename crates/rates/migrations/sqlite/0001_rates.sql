-- The schema of the original rates.sql. Days are ISO-8601 text (YYYY-MM-DD), which
-- sorts and compares as dates.
CREATE TABLE regions (
    slug TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    parent_slug TEXT REFERENCES regions (slug)
);

CREATE TABLE ports (
    code TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    parent_slug TEXT NOT NULL REFERENCES regions (slug)
);

-- No primary key: the original has none, and its data holds exact duplicate rows.
CREATE TABLE prices (
    orig_code TEXT NOT NULL REFERENCES ports (code),
    dest_code TEXT NOT NULL REFERENCES ports (code),
    day TEXT NOT NULL,
    price INTEGER NOT NULL
);

CREATE INDEX prices_lane_day_idx ON prices (orig_code, dest_code, day);
CREATE INDEX regions_parent_slug_idx ON regions (parent_slug);
CREATE INDEX ports_parent_slug_idx ON ports (parent_slug);

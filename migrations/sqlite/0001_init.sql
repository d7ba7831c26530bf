-- palimpsest schema, SQLite. Times are integer UTC milliseconds.

CREATE TABLE watches (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    url            TEXT    NOT NULL,
    kind           TEXT    NOT NULL DEFAULT 'page',
    source         TEXT    NOT NULL DEFAULT 'config',
    tags           TEXT    NOT NULL DEFAULT '[]',
    active         INTEGER NOT NULL DEFAULT 1,
    paused         INTEGER NOT NULL DEFAULT 0,
    interval_ms    INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    -- scheduler state
    next_due_at    INTEGER,
    failure_streak INTEGER NOT NULL DEFAULT 0,
    -- what the last good fetch saw: conditional GET and the body-hash shortcut
    etag           TEXT,
    last_modified  TEXT,
    body_hash      BLOB,
    rules_hash     BLOB,
    -- summaries for listings
    last_check_at  INTEGER,
    last_outcome   TEXT,
    last_status    INTEGER,
    last_error     TEXT,
    last_change_at INTEGER
);

-- Content-addressed, zstd-compressed bodies and texts (key: blake3 of the raw content).
-- `dict` names the blob whose raw content was the zstd dictionary: a version's
-- text is compressed against its own body, of which it is mostly a copy.
-- A rowid table, not WITHOUT ROWID: rows are kilobytes, and a WITHOUT ROWID
-- b-tree keeps whole rows in its interior cells, so every lookup by hash
-- would read overflow pages. The UNIQUE index holds only hash and rowid.
CREATE TABLE blobs (
    id   INTEGER PRIMARY KEY,
    hash BLOB    NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    dict BLOB,
    data BLOB    NOT NULL
);
CREATE INDEX blobs_dict ON blobs(dict) WHERE dict IS NOT NULL;

CREATE TABLE versions (
    id          INTEGER PRIMARY KEY,
    watch_id    INTEGER NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    text_hash   BLOB    NOT NULL,
    body_hash   BLOB    NOT NULL,
    title       TEXT,
    http_status INTEGER NOT NULL,
    final_url   TEXT    NOT NULL,
    media_type  TEXT    NOT NULL,
    encoding    TEXT,
    rules_hash  BLOB,
    UNIQUE (watch_id, seq)
);
CREATE INDEX versions_text ON versions(text_hash);
CREATE INDEX versions_body ON versions(body_hash);

CREATE TABLE checks (
    id          INTEGER PRIMARY KEY,
    watch_id    INTEGER NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
    started_at  INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    outcome     TEXT    NOT NULL,
    http_status INTEGER,
    error_class TEXT,
    error       TEXT,
    bytes       INTEGER NOT NULL DEFAULT 0,
    final_url   TEXT,
    redirects   TEXT,
    version_id  INTEGER REFERENCES versions(id) ON DELETE SET NULL
);
CREATE INDEX checks_watch ON checks(watch_id, started_at);

CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    watch_id        INTEGER NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    version_id      INTEGER REFERENCES versions(id) ON DELETE SET NULL,
    prev_version_id INTEGER REFERENCES versions(id) ON DELETE SET NULL,
    data            TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX events_watch ON events(watch_id, created_at);
CREATE INDEX events_kind ON events(kind, created_at);

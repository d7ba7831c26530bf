-- Issue 5: the HTTP API.
--
-- Watches, channels and subscriptions created through the API are kept as
-- config fragments: the TOML text of one `[[watch]]`, `[[channel]]` or
-- `[[subscription]]` table. At every (re)load the daemon validates the
-- config file and these fragments together, so an object made through the
-- API obeys exactly the rules (and the defaults) of one written in the file.
CREATE TABLE api_objects (
    id         INTEGER PRIMARY KEY,
    kind       TEXT    NOT NULL,            -- 'watch' | 'channel' | 'subscription'
    name       TEXT    NOT NULL,            -- the watch or channel name; a subscription's id as text
    body       TEXT    NOT NULL,            -- TOML of one table, without its header
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (kind, name)
);

-- Bearer tokens: only the blake3 hash of a token is stored (tokens are 256
-- random bits, so a fast hash is enough); the token itself is shown once.
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    hash         BLOB    NOT NULL UNIQUE,
    read_only    INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);

-- A subscription unsubscribed from an alert email (RFC 8058 one-click)
-- stays unsubscribed across config syncs until this is cleared.
ALTER TABLE subscriptions ADD COLUMN unsubscribed_at INTEGER;

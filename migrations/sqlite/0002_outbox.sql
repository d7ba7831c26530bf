-- Alerts: channels and subscriptions as synced from the config, and the
-- outbox of deliveries. Times are integer UTC milliseconds.

CREATE TABLE channels (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,              -- 'email' | 'webhook'
    -- blake3 of the target (addresses, URL, format, headers; never the secret in clear)
    fingerprint     TEXT    NOT NULL,
    active          INTEGER NOT NULL DEFAULT 1,
    -- set when a webhook answered 410 Gone; cleared when the channel's config changes
    disabled_at     INTEGER,
    disabled_reason TEXT
);

CREATE TABLE subscriptions (
    id          INTEGER PRIMARY KEY,
    channel_id  INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    -- 'all' | 'tag' | 'names'
    selector    TEXT    NOT NULL,
    tag         TEXT,
    names       TEXT    NOT NULL DEFAULT '[]',     -- JSON array of watch names
    kinds       TEXT    NOT NULL,                  -- JSON array of event kinds
    digest      TEXT    NOT NULL DEFAULT 'off',    -- 'off' | 'hourly' | 'daily'
    boring      INTEGER NOT NULL DEFAULT 0,        -- also boring edits (data.boring)
    -- identity of the subscription in the config (channel, selector, kinds, digest)
    fingerprint TEXT    NOT NULL UNIQUE,
    active      INTEGER NOT NULL DEFAULT 1
);

-- One row per (event, subscription). A message is every row sharing a
-- `message_id`: one row for an immediate alert, several for a digest (the
-- id is given when the digest's window is due). `message_id` is the
-- webhook-id and stays the same across retries; `payload` is rendered at the
-- first attempt and reused, so a retry sends the same bytes.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    subscription_id INTEGER NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
    channel_id      INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    message_id      TEXT,
    digest          TEXT    NOT NULL DEFAULT 'off',
    status          TEXT    NOT NULL DEFAULT 'pending',   -- 'pending' | 'delivered' | 'failed'
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    claimed_at      INTEGER,
    owner           TEXT,
    last_attempt_at INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER,
    payload         TEXT
);
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);
CREATE INDEX deliveries_message ON deliveries(message_id);
CREATE INDEX deliveries_event ON deliveries(event_id);

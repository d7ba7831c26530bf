-- Page status (issue 4): the alerted status of a page and the condition
-- that later checks must confirm before it becomes an event.
--   status:  'ok' | 'deleted' | 'unreachable' | 'blocked'
--   pending: JSON of detect::status::Condition, or NULL
ALTER TABLE watches ADD COLUMN status TEXT NOT NULL DEFAULT 'ok';
ALTER TABLE watches ADD COLUMN pending TEXT;

-- Pages found by following a listing (source = 'follow') name the listing.
ALTER TABLE watches ADD COLUMN parent_id INTEGER REFERENCES watches(id) ON DELETE SET NULL;
CREATE INDEX watches_url ON watches(url);

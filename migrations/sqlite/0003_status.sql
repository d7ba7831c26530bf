-- Page status (issue 4): the alerted status of a page and the condition
-- that later checks must confirm before it becomes an event.
--   status:  'ok' | 'deleted' | 'unreachable' | 'blocked'
--   pending: JSON of detect::status::Condition, or NULL
ALTER TABLE watches ADD COLUMN status TEXT NOT NULL DEFAULT 'ok';
ALTER TABLE watches ADD COLUMN pending TEXT;

-- Small facts about the database as a whole, by key. `config_watches`: the
-- fingerprint of the config's watch list at the last sync, so a start with
-- an unchanged config skips comparing every watch row.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

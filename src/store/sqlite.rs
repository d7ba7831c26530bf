//! The SQLite backend: one file, WAL, `synchronous=FULL`, migrations
//! embedded in the binary.
//!
//! SQLite has one writer at a time. The daemon funnels every write through
//! one writer task that batches records ([`Store::commit`] with many
//! records is one transaction, one fsync), while reads run on the pool's
//! other connections next to it (WAL lets readers and the writer overlap).

use super::*;
use futures_util::TryStreamExt;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// A store in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Set by `sync_notify` when subscriptions exist: only then does a
    /// commit write delivery rows (a batch costs nothing extra otherwise).
    pub(super) notify: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// When deletions on one host become one incident (set by `sync_notify`).
    incident: std::sync::Arc<std::sync::Mutex<super::outbox::IncidentRule>>,
}

fn q(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { op, source }
}

/// A 64-bit fingerprint of some strings, for change detection without copies.
fn fingerprint(parts: &[&str]) -> u64 {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(p.as_bytes()).update(&[0]);
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.finalize().as_bytes()[..8]);
    u64::from_le_bytes(b)
}

fn hash32(v: Option<Vec<u8>>) -> Option<[u8; 32]> {
    v.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
}

fn req_hash(row: &SqliteRow, col: &str) -> Result<[u8; 32]> {
    let v: Vec<u8> = row.try_get(col).map_err(q("reading a hash"))?;
    <[u8; 32]>::try_from(v.as_slice())
        .map_err(|_| StoreError::Corrupt(format!("`{col}` is not a 32-byte hash")))
}

/// The fingerprint of a config's watch list, in order.
fn defs_fingerprint(defs: &[WatchDef<'_>]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"watch-defs-v1\0");
    for d in defs {
        let tags = serde_json::to_string(&d.tags).unwrap_or_default();
        for part in [d.name, d.url, d.kind.as_str(), &tags] {
            h.update(&(part.len() as u64).to_le_bytes())
                .update(part.as_bytes());
        }
        h.update(&d.interval_ms.to_le_bytes())
            .update(&[u8::from(d.paused)]);
    }
    *h.finalize().as_bytes()
}

/// Makes the config watches' rows say what `defs` says: inserts new ones,
/// updates changed ones, deactivates those no longer in the config.
async fn sync_config_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    defs: &[WatchDef<'_>],
    now: Millis,
) -> Result<()> {
    // Rows are streamed, not collected: 100,000 watches must not mean
    // 100,000 materialized rows at once.
    let mut by_name = std::collections::HashMap::new();
    let mut existing = sqlx::query("SELECT id, name, url, kind, tags, interval_ms, paused, active FROM watches WHERE source = 'config'")
        .fetch(&mut **tx);
    while let Some(row) = existing.try_next().await.map_err(q("listing watches"))? {
        let id: i64 = row.try_get("id").map_err(q("listing watches"))?;
        let name: String = row.try_get("name").map_err(q("listing watches"))?;
        let url: String = row.try_get("url").map_err(q("listing watches"))?;
        let kind: String = row.try_get("kind").map_err(q("listing watches"))?;
        let tags: String = row.try_get("tags").map_err(q("listing watches"))?;
        let interval_ms: i64 = row.try_get("interval_ms").map_err(q("listing watches"))?;
        let paused: bool = row.try_get("paused").map_err(q("listing watches"))?;
        let active: bool = row.try_get("active").map_err(q("listing watches"))?;
        // Only fingerprints are kept: a hundred thousand rows of strings add up.
        by_name.insert(
            name,
            (
                id,
                fingerprint(&[&url]),
                (fingerprint(&[&kind, &tags]), interval_ms, paused, active),
            ),
        );
    }
    drop(existing);
    let mut wanted = std::collections::HashSet::new();
    for d in defs {
        wanted.insert(d.name);
        let tags = serde_json::to_string(&d.tags).unwrap_or_else(|_| "[]".into());
        let url_fp = fingerprint(&[d.url]);
        match by_name.get(d.name) {
            Some((_, url, (kind_tags, interval_ms, paused, active)))
                if *url == url_fp
                    && *kind_tags == fingerprint(&[d.kind.as_str(), &tags])
                    && *interval_ms == d.interval_ms
                    && *paused == d.paused
                    && *active => {}
            Some((id, url, _)) => {
                // A new URL invalidates what was learned about the old one.
                let reset = *url != url_fp;
                if reset {
                    // Check rows leave out the final URL when it was the
                    // watch's URL; write the old one into them first.
                    sqlx::query(
                        "UPDATE checks SET final_url = (SELECT url FROM watches WHERE id = ?1)
                         WHERE watch_id = ?1 AND final_url IS NULL AND http_status IS NOT NULL",
                    )
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(q("keeping the old URL in the watch's check rows"))?;
                }
                sqlx::query(
                    "UPDATE watches SET url = ?, kind = ?, tags = ?, interval_ms = ?, paused = ?, active = 1,
                     etag = CASE WHEN ? THEN NULL ELSE etag END,
                     last_modified = CASE WHEN ? THEN NULL ELSE last_modified END,
                     body_hash = CASE WHEN ? THEN NULL ELSE body_hash END
                     WHERE id = ?",
                )
                .bind(d.url)
                .bind(d.kind.as_str())
                .bind(&tags)
                .bind(d.interval_ms)
                .bind(d.paused)
                .bind(reset)
                .bind(reset)
                .bind(reset)
                .bind(id)
                .execute(&mut **tx)
                .await
                .map_err(q("updating a watch"))?;
            }
            None => {
                sqlx::query(
                    "INSERT INTO watches (name, url, kind, source, tags, interval_ms, paused, created_at)
                     VALUES (?, ?, ?, 'config', ?, ?, ?, ?)",
                )
                .bind(d.name)
                .bind(d.url)
                .bind(d.kind.as_str())
                .bind(&tags)
                .bind(d.interval_ms)
                .bind(d.paused)
                .bind(now)
                .execute(&mut **tx)
                .await
                .map_err(q("adding a watch"))?;
            }
        }
    }
    for (name, (id, _, (.., active))) in &by_name {
        if *active && !wanted.contains(name.as_str()) {
            sqlx::query("UPDATE watches SET active = 0 WHERE id = ?")
                .bind(id)
                .execute(&mut **tx)
                .await
                .map_err(q("deactivating a watch"))?;
        }
    }
    Ok(())
}

/// One active watch's state as the loading query packs it (see
/// [`load_states`]): hashes are hex, an absent hash is "". What is only
/// read here borrows from the packed text; only what the state keeps is
/// allocated. The URL is sent for followed pages only (the others take
/// theirs from the config).
#[derive(serde::Deserialize)]
struct StateRow<'a>(
    i64,                                   // id
    String,                                // name
    Option<i64>,                           // next_due_at
    i64,                                   // failure_streak
    Option<String>,                        // etag
    Option<String>,                        // last_modified
    #[serde(borrow)] Cow<'a, str>,         // body_hash
    #[serde(borrow)] Cow<'a, str>,         // rules_hash
    #[serde(borrow)] Cow<'a, str>,         // status
    #[serde(borrow)] Option<Cow<'a, str>>, // pending
    #[serde(borrow)] Cow<'a, str>,         // source
    Option<i64>,                           // parent_id
    Option<String>,                        // url, of a followed page
    i64,                                   // created_at
    Option<i64>,                           // last version: id
    Option<i64>,                           // last version: seq
    #[serde(borrow)] Cow<'a, str>,         // last version: text_hash
    #[serde(borrow)] Option<Cow<'a, str>>, // last_outcome
    Option<i64>,                           // last_check_at
    i64,                                   // interval_ms
    Option<i64>,                           // the newest check row's started_at
);

/// The state of every active, unpaused watch, ordered by id.
///
/// SQLite packs the rows into one JSON array per 512 watches: sqlx copies
/// every value of every row across a thread one by one, which cost about
/// 7 µs per watch (0.7 s at start-up for 100,000 watches); a packed row
/// costs one copy and a JSON parse. One page per query (keyset on the id);
/// a page is parsed here while SQLite builds the next one, so at most two
/// pages are in memory at a time.
async fn load_states(pool: &SqlitePool) -> Result<Vec<WatchState>> {
    let e = || q("loading watch states");
    // One connection, one read transaction, parsed in this task: parsing
    // on other threads (two halves on two tasks) was some 10 ms faster at
    // 10,000 watches but kept 25 MB more at 100,000 (glibc keeps what a
    // thread's arena held).
    let mut conn = pool.acquire().await.map_err(e())?;
    let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(e())?;
    let states = load_pages(&mut tx).await?;
    tx.commit().await.map_err(e())?;
    Ok(states)
}

/// The states of the active watches, in id order, a page at a time.
async fn load_pages(tx: &mut Tx<'_>) -> Result<Vec<WatchState>> {
    let e = || q("loading watch states");
    let mut out = Vec::new();
    let mut after = i64::MIN;
    let mut unparsed: Option<String> = None;
    loop {
        let next = sqlx::query_as::<_, (Option<i64>, String)>(
            "SELECT max(id), json_group_array(json_array(id, name, next_due_at, failure_streak,
                    etag, last_modified, hex(body_hash), hex(rules_hash), status, pending, source,
                    parent_id, CASE WHEN source = 'follow' THEN url END, created_at, vid, vseq, hex(vhash), last_outcome,
                    last_check_at, interval_ms, nc_at))
             FROM (SELECT w.id, w.name, w.next_due_at, w.failure_streak, w.etag, w.last_modified,
                          w.body_hash, w.rules_hash, w.status, w.pending, w.source, w.parent_id,
                          w.url, w.created_at, v.id AS vid, v.seq AS vseq, v.text_hash AS vhash,
                          w.last_outcome, w.last_check_at, w.interval_ms,
                          (SELECT max(started_at) FROM checks WHERE watch_id = w.id) AS nc_at
                   FROM watches w
                   LEFT JOIN versions v ON v.id = (SELECT id FROM versions WHERE watch_id = w.id ORDER BY seq DESC LIMIT 1)
                   WHERE w.active = 1 AND w.paused = 0 AND w.id > ?
                   ORDER BY w.id LIMIT 512)",
        )
        .bind(after)
        .fetch_optional(&mut **tx);
        // The query is sent when first polled; the previous page is parsed
        // while the SQLite thread works on this one.
        let parse = async {
            match unparsed.take() {
                Some(packed) => parse_states(&packed, &mut out),
                None => Ok(()),
            }
        };
        let (page, parsed) = tokio::join!(next, parse);
        parsed?;
        let Some((Some(last), packed)) = page.map_err(e())? else {
            break;
        };
        unparsed = Some(packed);
        after = last;
    }
    // The loop ends on an empty page, whose turn parsed the last full one.
    Ok(out)
}

/// One page of packed watch states (see [`load_states`]), appended to `out`.
fn parse_states(packed: &str, out: &mut Vec<WatchState>) -> Result<()> {
    let states: Vec<StateRow> = serde_json::from_str(packed)
        .map_err(|err| StoreError::Corrupt(format!("watch states do not parse: {err}")))?;
    out.reserve(states.len());
    for r in states {
        out.push(state_of(r)?);
    }
    Ok(())
}

/// A hex hash column: "" is absent, anything else must be 32 bytes.
fn hex_hash(col: &str, hex: &str) -> Result<Option<[u8; 32]>> {
    if hex.is_empty() {
        return Ok(None);
    }
    let mut out = [0u8; 32];
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return Err(StoreError::Corrupt(format!(
            "`{col}` is not a 32-byte hash"
        )));
    }
    // A digit's value by byte, 0xFF for a byte that is not one. SQLite's
    // hex() writes upper case; both cases are read.
    const DIGITS: [u8; 256] = {
        let mut t = [0xFF; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'A' as usize + i] = 10 + i as u8;
            t[b'a' as usize + i] = 10 + i as u8;
            i += 1;
        }
        t
    };
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let (h, l) = (DIGITS[usize::from(pair[0])], DIGITS[usize::from(pair[1])]);
        bad |= h | l;
        *o = (h << 4) | (l & 0x0F);
    }
    // Every valid digit is below 16; an invalid one sets the high bits.
    if bad > 0x0F {
        return Err(StoreError::Corrupt(format!("`{col}` is not hex")));
    }
    Ok(Some(out))
}

fn state_of(r: StateRow<'_>) -> Result<WatchState> {
    let StateRow(
        id,
        name,
        next_due_at,
        streak,
        etag,
        last_modified,
        body_hash,
        rules_hash,
        status,
        pending,
        source,
        parent,
        url,
        created_at,
        vid,
        vseq,
        vhash,
        row_outcome,
        last_check_at,
        interval_ms,
        nc_at,
    ) = r;
    // Only the newest check's time is read: a check newer than the row is
    // a touch, and a touch is a good check; otherwise the row's outcome says.
    let last = LastCheck::of((last_check_at, None, None), (nc_at, None, None));
    let last_good = last.touched
        || row_outcome
            .as_deref()
            .and_then(CheckOutcome::parse)
            .is_some_and(CheckOutcome::is_success);
    let next_due_at = last.due(&name, next_due_at, interval_ms);
    let last_version = match (vid, vseq) {
        (Some(id), Some(seq)) => Some(VersionRef {
            id,
            seq,
            text_hash: hex_hash("text_hash", &vhash)?
                .ok_or_else(|| StoreError::Corrupt(format!("version {id} has no text hash")))?,
        }),
        _ => None,
    };
    let followed = match (source.as_ref(), parent) {
        ("follow", Some(parent_id)) => Some(Box::new(Followed {
            parent_id,
            url: url.unwrap_or_default(),
            created_at,
        })),
        _ => None,
    };
    Ok(WatchState {
        followed,
        status: crate::detect::status::PageStatus::parse(&status),
        // A pending condition that does not parse is dropped: it
        // only delays a confirmation by one check.
        pending: pending.and_then(|p| serde_json::from_str(&p).ok()),
        id,
        name,
        next_due_at,
        failure_streak: u32::try_from(streak).unwrap_or(0),
        validators: Validators {
            etag,
            last_modified,
        },
        // A malformed cached hash only costs the shortcut it enables.
        body_hash: hex_hash("body_hash", &body_hash).ok().flatten(),
        rules_hash: hex_hash("rules_hash", &rules_hash).ok().flatten(),
        last_version,
        last_good,
    })
}

/// A watch's last check: the watch row's, or the newest check row when it
/// is newer. Such rows are touches (`StateUpdate::touch_only`: a 304 or the
/// same body after a good check, nothing else changed), which leave the
/// watch row as it was.
struct LastCheck {
    at: Option<Millis>,
    outcome: Option<String>,
    status: Option<i64>,
    /// The last check is a touch newer than the watch row.
    touched: bool,
}

/// A check's time, outcome and HTTP status, as columns.
type CheckCols = (Option<Millis>, Option<String>, Option<i64>);

impl LastCheck {
    fn of(row: CheckCols, newest: CheckCols) -> LastCheck {
        match (row, newest) {
            ((row_at, _, _), (Some(at), outcome, status)) if row_at.is_none_or(|r| at > r) => {
                LastCheck {
                    at: Some(at),
                    outcome,
                    status,
                    touched: true,
                }
            }
            ((at, outcome, status), _) => LastCheck {
                at,
                outcome,
                status,
                touched: false,
            },
        }
    }

    /// The due time: after a touch, the one its check computed from its
    /// start; otherwise the row's.
    fn due(&self, name: &str, stored: Option<Millis>, interval_ms: i64) -> Option<Millis> {
        match (self.touched, self.at) {
            (true, Some(at)) => {
                let interval =
                    std::time::Duration::from_millis(u64::try_from(interval_ms).unwrap_or(0));
                Some(crate::schedule::timing::next_after_success(
                    name, interval, at,
                ))
            }
            _ => stored,
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                target: path.display().to_string(),
                source: sqlx::Error::Io(e),
            })?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-2000")
            // Start-up streams every watch's state: a deeper row buffer lets
            // the SQLite thread run ahead instead of waking the reader for
            // every few rows.
            .row_buffer_size(1024);
        let pool = SqlitePoolOptions::new()
            .max_connections(3)
            .min_connections(1)
            .connect_with(opts)
            .await
            .map_err(|source| StoreError::Open {
                target: path.display().to_string(),
                source,
            })?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStore {
            pool,
            notify: Default::default(),
            incident: Default::default(),
        })
    }

    /// The pool, for tests that look at rows directly.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

macro_rules! summary_sql {
    ($tail:literal) => {
        concat!("SELECT w.id, w.name, w.url, w.kind, w.tags, w.active, w.paused, w.failure_streak,
    w.last_check_at, w.last_status, w.last_outcome, w.last_error, w.last_change_at, w.next_due_at, w.status AS page_status,
    w.interval_ms, nc.started_at AS nc_at, nc.outcome AS nc_outcome, nc.http_status AS nc_status,
    (SELECT COUNT(*) FROM versions v WHERE v.watch_id = w.id) AS versions
    FROM watches w
    LEFT JOIN checks nc ON nc.id = (SELECT id FROM checks WHERE watch_id = w.id ORDER BY started_at DESC LIMIT 1) ", $tail)
    };
}

fn summary(row: &SqliteRow) -> Result<WatchSummary> {
    let e = || q("reading a watch");
    let tags: String = row.try_get("tags").map_err(e())?;
    let active: bool = row.try_get("active").map_err(e())?;
    let paused: bool = row.try_get("paused").map_err(e())?;
    let streak: i64 = row.try_get("failure_streak").map_err(e())?;
    let page_status: String = row.try_get("page_status").map_err(e())?;
    let name: String = row.try_get("name").map_err(e())?;
    let last = LastCheck::of(
        (
            row.try_get("last_check_at").map_err(e())?,
            row.try_get("last_outcome").map_err(e())?,
            row.try_get("last_status").map_err(e())?,
        ),
        (
            row.try_get("nc_at").map_err(e())?,
            row.try_get("nc_outcome").map_err(e())?,
            row.try_get("nc_status").map_err(e())?,
        ),
    );
    let status = if !active {
        "removed".to_string()
    } else if paused {
        "paused".to_string()
    } else if page_status != "ok" {
        page_status
    } else {
        match last.outcome.as_deref().and_then(CheckOutcome::parse) {
            None => "new".to_string(),
            Some(o) if o.is_success() => "ok".to_string(),
            Some(_) => "failing".to_string(),
        }
    };
    let next_due_at = last.due(
        &name,
        row.try_get("next_due_at").map_err(e())?,
        row.try_get("interval_ms").map_err(e())?,
    );
    Ok(WatchSummary {
        id: row.try_get("id").map_err(e())?,
        name,
        url: row.try_get("url").map_err(e())?,
        kind: row.try_get("kind").map_err(e())?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        active,
        paused,
        status,
        failure_streak: u32::try_from(streak).unwrap_or(0),
        versions: row.try_get("versions").map_err(e())?,
        last_check_at: last.at,
        last_status: last.status.and_then(|s| u16::try_from(s).ok()),
        last_error: row.try_get("last_error").map_err(e())?,
        last_change_at: row.try_get("last_change_at").map_err(e())?,
        next_due_at,
    })
}

fn version_info(row: &SqliteRow) -> Result<VersionInfo> {
    let e = || q("reading a version");
    let status: i64 = row.try_get("http_status").map_err(e())?;
    Ok(VersionInfo {
        id: row.try_get("id").map_err(e())?,
        watch_id: row.try_get("watch_id").map_err(e())?,
        seq: row.try_get("seq").map_err(e())?,
        created_at: row.try_get("created_at").map_err(e())?,
        text_hash: req_hash(row, "text_hash")?,
        body_hash: req_hash(row, "body_hash")?,
        title: row.try_get("title").map_err(e())?,
        http_status: u16::try_from(status).unwrap_or(0),
        final_url: row.try_get("final_url").map_err(e())?,
        media_type: row.try_get("media_type").map_err(e())?,
        encoding: row.try_get("encoding").map_err(e())?,
    })
}

macro_rules! version_sql {
    ($tail:literal) => {
        concat!("SELECT id, watch_id, seq, created_at, text_hash, body_hash, title, http_status, final_url, media_type, encoding FROM versions ", $tail)
    };
}

/// A blob and its dictionary, read in one statement: `?1` is the hash;
/// `$extra` columns follow the six blob columns.
macro_rules! blob_sql {
    ($extra:literal) => {
        concat!(
            "SELECT t.size, t.dict, t.data, d.size AS dsize, d.dict AS ddict, d.data AS ddata,
                    b.size AS bsize, b.dict AS bdict, b.data AS bdata",
            $extra,
            " FROM blobs t LEFT JOIN blobs d ON d.hash = t.dict LEFT JOIN blobs b ON b.hash = d.dict
              WHERE t.hash = ?1"
        )
    };
}

/// One blob of a chain as [`blob_sql`] reads it.
struct Link {
    size: u64,
    dict: Option<[u8; 32]>,
    data: Vec<u8>,
}

/// The link under the columns `[size, dict, data]`, if the row has it.
fn link(row: &SqliteRow, [size, dict, data]: [&str; 3]) -> Result<Option<Link>> {
    let e = || q("reading a blob");
    let size: Option<i64> = row.try_get(size).map_err(e())?;
    let dict: Option<Vec<u8>> = row.try_get(dict).map_err(e())?;
    let data: Option<Vec<u8>> = row.try_get(data).map_err(e())?;
    Ok(match (size, data) {
        (Some(size), Some(data)) => Some(Link {
            size: u64::try_from(size).unwrap_or(0),
            dict: hash32(dict),
            data,
        }),
        _ => None,
    })
}

/// The raw content of the blob `hash` in `row` (see [`blob_sql`]), and,
/// when it is stored against others, the plain blob at the bottom of its
/// chain.
///
/// A chain is at most text → body → plain body (see [`blob`]); a longer
/// one, or a missing link, is damage and says which blob.
fn unpack_blob(hash: &[u8; 32], row: &SqliteRow) -> Result<(Vec<u8>, Option<blob::Base>)> {
    let corrupt = |e: std::io::Error| {
        StoreError::Corrupt(format!("blob {} does not decompress: {e}", blob::hex(hash)))
    };
    let missing = |what: &[u8; 32]| {
        StoreError::Corrupt(format!(
            "blob {} needs {}, which is missing",
            blob::hex(hash),
            blob::hex(what)
        ))
    };
    // The link under `under` in the columns `cols`, if `under` names one.
    let below = |under: Option<&Link>, cols| -> Result<Option<([u8; 32], Link)>> {
        match under.and_then(|l| l.dict) {
            None => Ok(None),
            Some(h) => Ok(Some((h, link(row, cols)?.ok_or_else(|| missing(&h))?))),
        }
    };
    let top = link(row, ["size", "dict", "data"])?.ok_or_else(|| missing(hash))?;
    let d = below(Some(&top), ["dsize", "ddict", "ddata"])?;
    let b = below(d.as_ref().map(|(_, l)| l), ["bsize", "bdict", "bdata"])?;
    if let Some((h, l)) = &b
        && l.dict.is_some()
    {
        return Err(StoreError::Corrupt(format!(
            "blob {} is stored against a chain longer than two (at {})",
            blob::hex(hash),
            blob::hex(h)
        )));
    }
    // From the plain bottom up: each raw content is the next one's dictionary.
    let plain = |l: &Link| blob::decompress(&l.data, l.size).map_err(corrupt);
    let against =
        |l: &Link, dict: &[u8]| blob::decompress_with(&l.data, l.size, dict).map_err(corrupt);
    let (raw, base) = match (d, b) {
        (None, _) => (plain(&top)?, None),
        (Some((dh, d)), None) => {
            let d_raw = plain(&d)?;
            (against(&top, &d_raw)?, Some((dh, d_raw)))
        }
        (Some((_, d)), Some((bh, b))) => {
            let b_raw = plain(&b)?;
            let d_raw = against(&d, &b_raw)?;
            (against(&top, &d_raw)?, Some((bh, b_raw)))
        }
    };
    Ok((raw, base.map(|(hash, raw)| blob::Base { hash, raw })))
}

impl Store for SqliteStore {
    async fn sync_watches(&self, defs: &[WatchDef<'_>]) -> Result<Vec<WatchState>> {
        let now = crate::model::now_millis();
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(q("starting the watch sync"))?;
        // Only sync_watches writes these columns of config watches, and it
        // stores the fingerprint of what it wrote: the same fingerprint
        // means every row already says what the config says.
        let wanted_fp = defs_fingerprint(defs);
        let stored_fp: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'config_watches'")
                .fetch_optional(&mut *tx)
                .await
                .map_err(q("reading the last watch sync"))?;
        if stored_fp.as_deref() != Some(&wanted_fp[..]) {
            sync_config_rows(&mut tx, defs, now).await?;
            sqlx::query("INSERT OR REPLACE INTO meta (key, value) VALUES ('config_watches', ?)")
                .bind(&wanted_fp[..])
                .execute(&mut *tx)
                .await
                .map_err(q("recording the watch sync"))?;
        }
        tx.commit().await.map_err(q("committing the watch sync"))?;
        // Read after the sync's commit: only this daemon's writer changes
        // watch states, and it has not started.
        load_states(&self.pool).await
    }

    async fn commit(&self, records: &[CheckRecord]) -> Result<Vec<Committed>> {
        // A batch is a handful of multi-row statements, whatever its size:
        // the writer is one sequential pipeline, so statements, not rows,
        // are what it pays for.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(q("starting a commit"))?;
        let mut seen_blobs = std::collections::HashSet::new();
        let blobs: Vec<&Blob> = records
            .iter()
            .filter_map(|r| r.version.as_ref())
            .flat_map(|v| [&v.body, &v.text]) // dictionaries first
            .filter(|b| seen_blobs.insert(b.hash))
            .collect();
        for chunk in pow2_chunks(&blobs, BLOB_CHUNK) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT OR IGNORE INTO blobs (hash, size, dict, data) ",
            );
            qb.push_values(chunk, |mut b, blob| {
                b.push_bind(&blob.hash[..])
                    .push_bind(i64::try_from(blob.size).unwrap_or(i64::MAX))
                    .push_bind(blob.dict.as_ref().map(|d| &d[..]))
                    .push_bind(&blob.data[..]);
            });
            qb.build()
                .execute(&mut *tx)
                .await
                .map_err(q("writing blobs"))?;
        }

        let mut version_ids: std::collections::HashMap<(i64, i64), i64> =
            std::collections::HashMap::new();
        let with_version: Vec<(&CheckRecord, &NewVersion)> = records
            .iter()
            .filter_map(|r| r.version.as_ref().map(|v| (r, v)))
            .collect();
        for chunk in pow2_chunks(&with_version, ROW_CHUNK) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO versions (watch_id, seq, created_at, text_hash, body_hash, title, http_status, final_url, media_type, encoding, rules_hash) ",
            );
            qb.push_values(chunk, |mut b, (r, v)| {
                b.push_bind(r.watch_id)
                    .push_bind(v.seq)
                    .push_bind(r.started_at)
                    .push_bind(&v.text.hash[..])
                    .push_bind(&v.body.hash[..])
                    .push_bind(v.title.as_deref())
                    .push_bind(i64::from(v.http_status))
                    .push_bind(v.final_url.as_str())
                    .push_bind(v.media_type.as_str())
                    .push_bind(v.encoding.as_deref())
                    .push_bind(&v.rules_hash[..]);
            });
            qb.push(" RETURNING id, watch_id, seq");
            let rows = qb
                .build()
                .fetch_all(&mut *tx)
                .await
                .map_err(q("writing versions"))?;
            for row in rows {
                let e = || q("writing versions");
                version_ids.insert(
                    (row.try_get(1).map_err(e())?, row.try_get(2).map_err(e())?),
                    row.try_get(0).map_err(e())?,
                );
            }
        }
        let version_of = |r: &CheckRecord| {
            r.version
                .as_ref()
                .and_then(|v| version_ids.get(&(r.watch_id, v.seq)).map(|id| (*id, v.seq)))
        };

        let all: Vec<&CheckRecord> = records.iter().collect();
        for chunk in pow2_chunks(&all, ROW_CHUNK) {
            insert_checks(&mut tx, chunk, &version_of).await?;
        }
        // A touch leaves the watch row as it was (see `StateUpdate::touch_only`).
        // The others are chunked on their own, so the statements keep their
        // few power-of-two shapes (each shape is prepared once).
        let changed: Vec<&CheckRecord> = records.iter().filter(|r| !r.state.touch_only).collect();
        for chunk in pow2_chunks(&changed, ROW_CHUNK) {
            update_watches(&mut tx, chunk).await?;
        }

        let events: Vec<(&CheckRecord, &crate::detect::EventDraft)> = records
            .iter()
            .flat_map(|r| r.events.iter().map(move |e| (r, e)))
            .collect();
        for chunk in pow2_chunks(&events, ROW_CHUNK) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO events (watch_id, kind, created_at, version_id, prev_version_id, data) ",
            );
            qb.push_values(chunk, |mut b, (r, ev)| {
                b.push_bind(r.watch_id)
                    .push_bind(ev.kind.as_str())
                    .push_bind(r.started_at)
                    .push_bind(version_of(r).map(|(id, _)| id))
                    .push_bind(r.prev_version_id)
                    .push_bind(ev.data.to_string());
            });
            qb.build()
                .execute(&mut *tx)
                .await
                .map_err(q("writing events"))?;
        }
        // Alerts: the delivery rows of these events, in the same transaction.
        if !events.is_empty() && self.notify.load(std::sync::atomic::Ordering::Acquire) {
            let now = crate::model::now_millis();
            let mut n = events.len();
            if events.iter().any(|(_, e)| e.kind == EventKind::Deleted) {
                let rule = self.incident.lock().map(|r| *r).unwrap_or_default();
                n += fold_incidents(&mut tx, n, now, rule).await?;
            }
            super::sqlite_outbox::enqueue(&mut tx, n, now).await?;
        }
        tx.commit().await.map_err(q("committing checks"))?;
        Ok(records
            .iter()
            .map(|r| Committed {
                version: version_of(r),
            })
            .collect())
    }

    async fn blob(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query(blob_sql!(""))
            .bind(&hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(q("reading a blob"))?;
        row.map(|row| unpack_blob(hash, &row).map(|(raw, _)| raw))
            .transpose()
    }

    async fn find_watch(&self, key: &str) -> Result<Option<WatchSummary>> {
        let row = match key.parse::<i64>() {
            Ok(id) => {
                sqlx::query(summary_sql!(
                    "WHERE w.id = ? OR w.name = ? ORDER BY w.name = ? DESC LIMIT 1"
                ))
                .bind(id)
                .bind(key)
                .bind(key)
                .fetch_optional(&self.pool)
                .await
            }
            Err(_) => {
                sqlx::query(summary_sql!("WHERE w.name = ?"))
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
            }
        }
        .map_err(q("finding a watch"))?;
        row.as_ref().map(summary).transpose()
    }

    async fn watch_summaries(&self) -> Result<Vec<WatchSummary>> {
        let rows = sqlx::query(summary_sql!("ORDER BY w.active DESC, w.name"))
            .fetch_all(&self.pool)
            .await
            .map_err(q("listing watches"))?;
        rows.iter().map(summary).collect()
    }

    async fn versions(&self, watch_id: i64, limit: i64) -> Result<Vec<VersionInfo>> {
        let rows = sqlx::query(version_sql!("WHERE watch_id = ? ORDER BY seq DESC LIMIT ?"))
            .bind(watch_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(q("listing versions"))?;
        rows.iter().map(version_info).collect()
    }

    async fn version(&self, watch_id: i64, seq: i64) -> Result<Option<VersionInfo>> {
        let row = sqlx::query(version_sql!("WHERE watch_id = ? AND seq = ?"))
            .bind(watch_id)
            .bind(seq)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("reading a version"))?;
        row.as_ref().map(version_info).transpose()
    }

    async fn follow(
        &self,
        parent_id: i64,
        items: &[FollowItem],
        tags: &[String],
        interval_ms: i64,
        max: usize,
        now: Millis,
    ) -> Result<Vec<WatchState>> {
        let e = || q("following a listing");
        // IMMEDIATE: this transaction reads before it writes, and a
        // deferred one could not upgrade its lock while the writer commits.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(e())?;
        let have: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM watches WHERE parent_id = ? AND source = 'follow'",
        )
        .bind(parent_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(e())?;
        let mut room = max.saturating_sub(usize::try_from(have).unwrap_or(usize::MAX));
        let tags = serde_json::to_string(tags).unwrap_or_else(|_| "[]".into());
        let mut out = Vec::new();
        for item in items {
            if room == 0 {
                break;
            }
            let watched: Option<i64> =
                sqlx::query_scalar("SELECT id FROM watches WHERE url = ? AND active = 1 LIMIT 1")
                    .bind(&item.url)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(e())?;
            if watched.is_some() {
                continue;
            }
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO watches (name, url, kind, source, tags, interval_ms, created_at, parent_id)
                 VALUES (?, ?, 'page', 'follow', ?, ?, ?, ?)
                 ON CONFLICT (name) DO NOTHING RETURNING id",
            )
            .bind(&item.name)
            .bind(&item.url)
            .bind(&tags)
            .bind(interval_ms)
            .bind(now)
            .bind(parent_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(e())?;
            if let Some(id) = id {
                room -= 1;
                out.push(WatchState {
                    id,
                    name: item.name.clone(),
                    followed: Some(Box::new(Followed {
                        parent_id,
                        url: item.url.clone(),
                        created_at: now,
                    })),
                    ..WatchState::default()
                });
            }
        }
        tx.commit().await.map_err(e())?;
        Ok(out)
    }

    async fn last_text(
        &self,
        watch_id: i64,
        last_text: &[u8; 32],
        new_text: &[u8; 32],
        since: Millis,
    ) -> Result<LastText> {
        let row = sqlx::query(blob_sql!(
            ", (SELECT seq FROM versions WHERE watch_id = ?2 AND text_hash = ?3
                AND created_at >= ?4 ORDER BY seq DESC LIMIT 1) AS same_as"
        ))
        .bind(&last_text[..])
        .bind(watch_id)
        .bind(&new_text[..])
        .bind(since)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("reading the last version"))?;
        let Some(row) = row else {
            return Err(StoreError::Corrupt(format!(
                "missing text blob {}",
                blob::hex(last_text)
            )));
        };
        let (raw, base) = unpack_blob(last_text, &row)?;
        // A plain text (a text/plain page, which is its own body) is the base.
        let base = base.unwrap_or_else(|| blob::Base {
            hash: *last_text,
            raw: raw.clone(),
        });
        let text = String::from_utf8(raw)
            .map_err(|_| StoreError::Corrupt("a version text is not UTF-8".into()))?;
        let same_as: Option<i64> = row
            .try_get("same_as")
            .map_err(q("looking up an earlier version"))?;
        Ok(LastText {
            text,
            same_as,
            base: Some(base),
        })
    }

    async fn events(&self, watch_id: i64, limit: i64) -> Result<Vec<EventInfo>> {
        let rows = sqlx::query(
            "SELECT e.id, e.watch_id, e.kind, e.created_at, e.data, v.seq AS vseq, p.seq AS pseq
             FROM events e LEFT JOIN versions v ON v.id = e.version_id LEFT JOIN versions p ON p.id = e.prev_version_id
             WHERE e.watch_id = ? ORDER BY e.id DESC LIMIT ?",
        )
        .bind(watch_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(q("listing events"))?;
        rows.iter().map(event_of).collect()
    }

    async fn checks(&self, watch_id: i64, limit: i64) -> Result<Vec<CheckInfo>> {
        let rows = sqlx::query(
            "SELECT c.id, c.started_at, c.duration_ms, c.outcome, c.http_status, c.error_class, c.error, c.bytes,
                    COALESCE(c.final_url, CASE WHEN c.http_status IS NOT NULL THEN w.url END) AS final_url, c.redirects
             FROM checks c JOIN watches w ON w.id = c.watch_id
             WHERE c.watch_id = ? ORDER BY c.id DESC LIMIT ?",
        )
        .bind(watch_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(q("listing checks"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let e = || q("reading a check");
            let status: Option<i64> = row.try_get("http_status").map_err(e())?;
            let redirects: Option<String> = row.try_get("redirects").map_err(e())?;
            out.push(CheckInfo {
                id: row.try_get("id").map_err(e())?,
                started_at: row.try_get("started_at").map_err(e())?,
                duration_ms: row.try_get("duration_ms").map_err(e())?,
                outcome: row.try_get("outcome").map_err(e())?,
                http_status: status.and_then(|s| u16::try_from(s).ok()),
                error_class: row.try_get("error_class").map_err(e())?,
                error: row.try_get("error").map_err(e())?,
                bytes: row.try_get("bytes").map_err(e())?,
                final_url: row.try_get("final_url").map_err(e())?,
                redirects: redirects
                    .and_then(|r| serde_json::from_str(&r).ok())
                    .unwrap_or_default(),
            });
        }
        Ok(out)
    }

    async fn apply_retention(
        &self,
        watch_id: i64,
        retention: Retention,
        now: Millis,
    ) -> Result<u64> {
        if retention == Retention::default() {
            return Ok(0);
        }
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(q("starting retention"))?;
        let newest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM versions WHERE watch_id = ?")
                .bind(watch_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(q("retention"))?;
        let Some(newest) = newest else { return Ok(0) };
        let keep_from_seq = retention
            .keep_versions
            .map_or(i64::MIN, |n| newest - i64::from(n) + 1);
        let cutoff = retention.keep_for.map_or(i64::MIN, |d| {
            now.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        });
        let removed = sqlx::query(
            "DELETE FROM versions WHERE watch_id = ? AND seq < ? AND (seq < ? OR created_at < ?)",
        )
        .bind(watch_id)
        .bind(newest)
        .bind(if retention.keep_versions.is_some() {
            keep_from_seq
        } else {
            i64::MIN
        })
        .bind(if retention.keep_for.is_some() {
            cutoff
        } else {
            i64::MIN
        })
        .execute(&mut *tx)
        .await
        .map_err(q("removing old versions"))?
        .rows_affected();
        // Unused blobs go; a dictionary stays while a blob still needs it,
        // and goes in the next round once that blob has gone.
        let mut rounds = 0;
        while removed > 0 && rounds < 3 {
            rounds += 1;
            let gone = sqlx::query(
                "DELETE FROM blobs WHERE NOT EXISTS (SELECT 1 FROM versions v WHERE v.text_hash = blobs.hash)
                   AND NOT EXISTS (SELECT 1 FROM versions v WHERE v.body_hash = blobs.hash)
                   AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.dict = blobs.hash)",
            )
            .execute(&mut *tx)
            .await
            .map_err(q("removing unused blobs"))?
            .rows_affected();
            if gone == 0 {
                break;
            }
        }
        tx.commit().await.map_err(q("committing retention"))?;
        Ok(removed)
    }

    async fn prune_checks(&self, before: Millis) -> Result<u64> {
        // A watch's newest check row stays: it may be the only record of
        // its last check and due time (see `StateUpdate::touch_only`).
        let done = sqlx::query(
            "DELETE FROM checks WHERE started_at < ? AND EXISTS
               (SELECT 1 FROM checks n WHERE n.watch_id = checks.watch_id AND n.started_at > checks.started_at)",
        )
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(q("pruning old checks"))?;
        Ok(done.rows_affected())
    }

    async fn sync_notify(
        &self,
        channels: &[ChannelDef<'_>],
        subscriptions: &[SubscriptionDef<'_>],
        incident: super::outbox::IncidentRule,
    ) -> Result<()> {
        if let Ok(mut rule) = self.incident.lock() {
            *rule = incident;
        }
        self.outbox_sync(channels, subscriptions).await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
        per_channel: usize,
        limit: usize,
        skip_channels: &[String],
    ) -> Result<Vec<Claimed>> {
        self.outbox_claim(owner, now, lease_ms, per_channel, limit, skip_channels)
            .await
    }

    async fn fix_payload(&self, message_id: &str, payload: &str) -> Result<String> {
        self.outbox_fix_payload(message_id, payload).await
    }

    async fn finish_delivery(
        &self,
        message_id: &str,
        owner: &str,
        now: Millis,
        attempt: &Attempt,
    ) -> Result<()> {
        self.outbox_finish(message_id, owner, now, attempt).await
    }

    async fn next_delivery_at(&self, now: Millis, lease_ms: i64) -> Result<Option<Millis>> {
        self.outbox_next(now, lease_ms).await
    }

    async fn deliveries(&self, status: Option<&str>, limit: i64) -> Result<Vec<DeliveryInfo>> {
        self.outbox_list(status, limit).await
    }

    async fn counts(&self) -> Result<Counts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM watches) AS w, (SELECT COUNT(*) FROM checks) AS c, (SELECT COUNT(*) FROM versions) AS v,
                    (SELECT COUNT(*) FROM events) AS e, (SELECT COUNT(*) FROM blobs) AS b",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(q("counting rows"))?;
        let e = || q("counting rows");
        Ok(Counts {
            watches: row.try_get("w").map_err(e())?,
            checks: row.try_get("c").map_err(e())?,
            versions: row.try_get("v").map_err(e())?,
            events: row.try_get("e").map_err(e())?,
            blobs: row.try_get("b").map_err(e())?,
        })
    }

    async fn api_objects(&self) -> Result<Vec<super::ApiObject>> {
        self.api_objects_impl().await
    }

    async fn put_api_object(&self, obj: &super::ApiObject, now: Millis) -> Result<()> {
        self.put_api_object_impl(obj, now).await
    }

    async fn delete_api_object(&self, kind: super::ObjectKind, name: &str) -> Result<bool> {
        self.delete_api_object_impl(kind, name).await
    }

    async fn create_token(
        &self,
        name: &str,
        hash: &[u8; 32],
        read_only: bool,
        now: Millis,
    ) -> Result<Option<i64>> {
        self.create_token_impl(name, hash, read_only, now).await
    }

    async fn token_by_hash(
        &self,
        hash: &[u8; 32],
        now: Millis,
    ) -> Result<Option<super::TokenInfo>> {
        self.token_by_hash_impl(hash, now).await
    }

    async fn tokens(&self) -> Result<Vec<super::TokenInfo>> {
        self.tokens_impl().await
    }

    async fn revoke_token(&self, name: &str) -> Result<bool> {
        self.revoke_token_impl(name).await
    }

    async fn server_key(&self) -> Result<[u8; 32]> {
        self.server_key_impl().await
    }

    async fn list_events(&self, filter: &super::EventFilter) -> Result<Vec<super::EventRow>> {
        self.list_events_impl(filter).await
    }

    async fn retry_delivery(&self, id: i64, now: Millis) -> Result<bool> {
        self.retry_delivery_impl(id, now).await
    }

    async fn subscriptions(&self) -> Result<Vec<super::SubscriptionInfo>> {
        self.subscriptions_impl().await
    }

    async fn channel_states(&self) -> Result<Vec<super::ChannelState>> {
        self.channel_states_impl().await
    }

    async fn unsubscribe_target(
        &self,
        message_id: &str,
    ) -> Result<Option<super::UnsubscribeTarget>> {
        self.unsubscribe_target_impl(message_id).await
    }

    async fn unsubscribe(&self, subscription_id: i64, now: Millis) -> Result<()> {
        self.unsubscribe_impl(subscription_id, now).await
    }

    async fn ops_snapshot(&self) -> Result<super::OpsSnapshot> {
        self.ops_snapshot_impl().await
    }
}

/// An event from a row with `id, watch_id, kind, created_at, data` and
/// the version numbers `vseq`, `pseq`.
pub(super) fn event_of(row: &sqlx::sqlite::SqliteRow) -> Result<EventInfo> {
    let e = || q("reading an event");
    let kind: String = row.try_get("kind").map_err(e())?;
    let data: String = row.try_get("data").map_err(e())?;
    Ok(EventInfo {
        id: row.try_get("id").map_err(e())?,
        watch_id: row.try_get("watch_id").map_err(e())?,
        kind: EventKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown event kind `{kind}`")))?,
        created_at: row.try_get("created_at").map_err(e())?,
        version_seq: row.try_get("vseq").map_err(e())?,
        prev_version_seq: row.try_get("pseq").map_err(e())?,
        data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
    })
}

/// Rows per multi-row statement (at most 15 parameters each, well under
/// SQLite's limit of 32,766). A power of two: see [`pow2_chunks`].
const ROW_CHUNK: usize = 256;
/// Blobs per statement (4 parameters each; the payloads are the size).
const BLOB_CHUNK: usize = 128;

/// Splits `items` into slices whose lengths are powers of two, at most
/// `max` each (largest first): 300 rows with `max = 256` become 256 + 32 +
/// 8 + 4.
///
/// A multi-row statement's SQL depends on its row count, and parsing a
/// statement of a few hundred rows costs about as much as running it. With
/// power-of-two counts a statement has at most `log2(max) + 1` shapes, so
/// every shape is prepared once per connection and then comes from sqlx's
/// statement cache.
fn pow2_chunks<T>(mut items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    debug_assert!(max.is_power_of_two());
    std::iter::from_fn(move || {
        if items.is_empty() {
            return None;
        }
        let n = if items.len() >= max {
            max
        } else {
            1 << items.len().ilog2()
        };
        let (head, rest) = items.split_at(n);
        items = rest;
        Some(head)
    })
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

fn redirects_json(r: &CheckRecord) -> Option<String> {
    if r.redirects.is_empty() {
        None
    } else {
        serde_json::to_string(&r.redirects).ok()
    }
}

/// One multi-row INSERT for the check rows of records without a version.
async fn insert_checks(
    tx: &mut Tx<'_>,
    chunk: &[&CheckRecord],
    version_of: &impl Fn(&CheckRecord) -> Option<(i64, i64)>,
) -> Result<()> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "INSERT INTO checks (watch_id, started_at, duration_ms, outcome, http_status, error_class, error, bytes, final_url, redirects, version_id) ",
    );
    qb.push_values(chunk, |mut b, r| {
        b.push_bind(r.watch_id)
            .push_bind(r.started_at)
            .push_bind(r.duration_ms)
            .push_bind(r.outcome.as_str())
            .push_bind(r.http_status.map(i64::from))
            .push_bind(r.error_class.clone())
            .push_bind(r.error.clone())
            .push_bind(i64::try_from(r.bytes).unwrap_or(i64::MAX))
            // The final URL comes only when it is not the watch's own URL
            // (a redirect): most check rows are a third smaller. `checks`
            // reads it back through the watch.
            .push_bind(r.final_url.as_deref())
            .push_bind(redirects_json(r))
            .push_bind(version_of(r).map(|(id, _)| id));
    });
    qb.build()
        .execute(&mut **tx)
        .await
        .map_err(q("writing checks"))?;
    Ok(())
}

/// One multi-row UPDATE ... FROM (VALUES ...) for the watches of records without a version.
async fn update_watches(tx: &mut Tx<'_>, chunk: &[&CheckRecord]) -> Result<()> {
    let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "WITH v(id, next_due_at, failure_streak, last_check_at, last_outcome, last_status, last_error, seen, etag, last_modified, body_hash, rules_hash, changed_at, status, pending) AS (",
    );
    qb.push_values(chunk, |mut b, r| {
        let s = &r.state;
        let seen = s.seen.as_ref();
        b.push_bind(r.watch_id)
            .push_bind(s.next_due_at)
            .push_bind(i64::from(s.failure_streak))
            .push_bind(r.started_at)
            .push_bind(r.outcome.as_str())
            .push_bind(r.http_status.map(i64::from))
            .push_bind(r.error.clone())
            .push_bind(seen.is_some())
            .push_bind(seen.and_then(|x| x.validators.etag.clone()))
            .push_bind(seen.and_then(|x| x.validators.last_modified.clone()))
            .push_bind(seen.and_then(|x| x.body_hash.map(|h| h.to_vec())))
            .push_bind(seen.map(|x| x.rules_hash.to_vec()))
            .push_bind(s.changed_at)
            .push_bind(s.status.as_str())
            .push_bind(
                s.pending
                    .as_ref()
                    .and_then(|p| serde_json::to_string(p).ok()),
            );
    });
    qb.push(
        ") UPDATE watches SET next_due_at = v.next_due_at, failure_streak = v.failure_streak, last_check_at = v.last_check_at,
            last_outcome = v.last_outcome, last_status = v.last_status, last_error = v.last_error,
            etag = CASE WHEN v.seen THEN v.etag ELSE watches.etag END,
            last_modified = CASE WHEN v.seen THEN v.last_modified ELSE watches.last_modified END,
            body_hash = CASE WHEN v.seen THEN v.body_hash ELSE watches.body_hash END,
            rules_hash = CASE WHEN v.seen THEN v.rules_hash ELSE watches.rules_hash END,
            last_change_at = COALESCE(v.changed_at, watches.last_change_at),
            status = v.status, pending = v.pending
         FROM v WHERE watches.id = v.id",
    );
    qb.build()
        .execute(&mut **tx)
        .await
        .map_err(q("updating watch states"))?;
    Ok(())
}

/// The host part of a URL, lower case (`None` for a URL that does not parse).
fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
}

/// Groups deletions into incidents before deliveries are written: a
/// `deleted` event of this batch on a host with more than the threshold of
/// deletions within the window is marked `incident` (stored, not alerted),
/// and the first such event opens one `incident` event for the host and the
/// window, which is alerted instead. Returns how many incident events were
/// added (they are the newest rows, like the batch's own events).
async fn fold_incidents(
    tx: &mut Tx<'_>,
    n_events: usize,
    now: Millis,
    rule: super::outbox::IncidentRule,
) -> Result<usize> {
    let e = || q("grouping deletions into incidents");
    let since = now.saturating_sub(rule.window_ms).max(rule.not_before);
    let batch: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT e.id, e.watch_id, w.url FROM events e JOIN watches w ON w.id = e.watch_id
         WHERE e.id > (SELECT MAX(id) FROM events) - ? AND e.kind = 'deleted' ORDER BY e.id",
    )
    .bind(i64::try_from(n_events).unwrap_or(i64::MAX))
    .fetch_all(&mut **tx)
    .await
    .map_err(e())?;
    let mut by_host: std::collections::BTreeMap<String, Vec<(i64, i64)>> = Default::default();
    for (id, watch, url) in batch {
        if let Some(h) = host_of(&url) {
            by_host.entry(h).or_default().push((id, watch));
        }
    }
    if by_host.is_empty() {
        return Ok(0);
    }
    // Every deletion in the window, oldest first, by host.
    let window: Vec<(i64, String)> = sqlx::query_as(
        "SELECT e.id, w.url FROM events e JOIN watches w ON w.id = e.watch_id
         WHERE e.kind = 'deleted' AND e.created_at >= ? ORDER BY e.id",
    )
    .bind(since)
    .fetch_all(&mut **tx)
    .await
    .map_err(e())?;
    let mut in_window: std::collections::HashMap<String, Vec<(i64, String)>> = Default::default();
    for (id, url) in window {
        if let Some(h) = host_of(&url)
            && by_host.contains_key(&h)
        {
            in_window.entry(h).or_default().push((id, url));
        }
    }
    let mut opened = 0;
    for (host, ids) in by_host {
        let recent = in_window.remove(&host).unwrap_or_default();
        let limit = usize::try_from(rule.threshold).unwrap_or(usize::MAX);
        // The deletions past the threshold are folded into the incident.
        let folded: Vec<i64> = recent
            .iter()
            .skip(limit)
            .map(|(id, _)| *id)
            .filter(|id| ids.iter().any(|(b, _)| b == id))
            .collect();
        if folded.is_empty() {
            continue;
        }
        let open: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM events WHERE kind = 'incident' AND created_at >= ?
             AND json_valid(data) AND json_extract(data, '$.host') = ? LIMIT 1",
        )
        .bind(since)
        .bind(&host)
        .fetch_optional(&mut **tx)
        .await
        .map_err(e())?;
        for id in &folded {
            sqlx::query("UPDATE events SET data = json_set(CASE WHEN json_valid(data) THEN data ELSE '{}' END, '$.incident', ?) WHERE id = ?")
                .bind(&host)
                .bind(id)
                .execute(&mut **tx)
                .await
                .map_err(e())?;
        }
        let examples: Vec<&str> = recent.iter().take(5).map(|(_, u)| u.as_str()).collect();
        if let Some(open) = open {
            // Deletions that arrive in a later commit join the open incident:
            // its count stays the whole count (an alert not yet sent says it).
            sqlx::query(
                "UPDATE events SET data = json_set(data, '$.deleted', ?, '$.examples', json(?))
                 WHERE id = ? AND json_valid(data)",
            )
            .bind(i64::try_from(recent.len()).unwrap_or(i64::MAX))
            .bind(serde_json::json!(examples).to_string())
            .bind(open)
            .execute(&mut **tx)
            .await
            .map_err(e())?;
        } else {
            let data = serde_json::json!({
                "host": host,
                "deleted": recent.len(),
                "threshold": rule.threshold,
                "window_minutes": rule.window_ms / 60_000,
                "examples": examples,
                "since": crate::model::format_millis(since),
            });
            let watch = ids.first().map(|(_, w)| *w).unwrap_or_default();
            sqlx::query("INSERT INTO events (watch_id, kind, created_at, data) VALUES (?, 'incident', ?, ?)")
                .bind(watch)
                .bind(now)
                .bind(data.to_string())
                .execute(&mut **tx)
                .await
                .map_err(e())?;
            tracing::warn!(host = %host, deleted = recent.len(), "incident: many deletions on one host");
            opened += 1;
        }
    }
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use super::{SqliteStore, hex_hash, pow2_chunks};
    use crate::model::WatchKind;
    use crate::store::{Store, WatchDef};

    fn def<'a>(name: &'a str, url: &'a str, tags: &'a [String]) -> WatchDef<'a> {
        WatchDef {
            name,
            url,
            kind: WatchKind::Page,
            tags,
            interval_ms: 3_600_000,
            paused: false,
        }
    }

    /// Blobs read back through chains of up to two; a longer chain or a
    /// missing link is reported as damage, naming the blob.
    #[tokio::test]
    async fn blob_chains_read_back_and_damage_is_named() {
        use crate::store::StoreError;
        use crate::store::blob::{self, Base, Blob};
        let dir = tempfile::tempdir().expect("tmp");
        let store = SqliteStore::open(&dir.path().join("db.sqlite"))
            .await
            .expect("open");
        let page = |n: u32| {
            format!(
                "<html><body><p>{}</p><p>edit {n}</p></body></html>",
                "body text ".repeat(300)
            )
        };
        let (a, b) = (page(1), page(2));
        let text = "body text ".repeat(300);
        let ablob = Blob::compress(a.as_bytes(), blob::hash(a.as_bytes())).expect("a");
        let base = Base {
            hash: ablob.hash,
            raw: a.clone().into_bytes(),
        };
        let bblob =
            Blob::compress_against_base(b.as_bytes(), blob::hash(b.as_bytes()), Some(&base))
                .expect("b");
        assert_eq!(bblob.dict, Some(ablob.hash));
        let tblob = Blob::compress_with(
            text.as_bytes(),
            blob::hash(text.as_bytes()),
            (&bblob.hash, b.as_bytes()),
        )
        .expect("text");
        // A chain of three, and a link to nothing: only a damaged file has them.
        let long = Blob::compress_with(b"x", blob::hash(b"x"), (&tblob.hash, text.as_bytes()))
            .expect("long");
        let orphan = Blob {
            dict: Some(blob::hash(b"nowhere")),
            ..Blob::compress(b"y", blob::hash(b"y")).expect("y")
        };
        for blob in [&ablob, &bblob, &tblob, &long, &orphan] {
            sqlx::query("INSERT INTO blobs (hash, size, dict, data) VALUES (?, ?, ?, ?)")
                .bind(&blob.hash[..])
                .bind(i64::try_from(blob.size).expect("size"))
                .bind(blob.dict.as_ref().map(|d| &d[..]))
                .bind(&blob.data)
                .execute(store.pool())
                .await
                .expect("insert");
        }
        for (blob, raw) in [
            (&ablob, a.as_bytes()),
            (&bblob, b.as_bytes()),
            (&tblob, text.as_bytes()),
        ] {
            assert_eq!(
                store.blob(&blob.hash).await.expect("read").as_deref(),
                Some(raw)
            );
        }
        match store.blob(&long.hash).await {
            Err(StoreError::Corrupt(m)) => assert!(m.contains("longer than two"), "{m}"),
            other => panic!("a chain of three read as {other:?}"),
        }
        match store.blob(&orphan.hash).await {
            Err(StoreError::Corrupt(m)) => {
                assert!(m.contains(&blob::hex(&blob::hash(b"nowhere"))), "{m}")
            }
            other => panic!("a missing link read as {other:?}"),
        }
        assert_eq!(
            store.blob(&blob::hash(b"absent")).await.expect("read"),
            None
        );
        store.close().await;
    }

    /// An unchanged config skips the row comparison; any change to the
    /// watch list (a URL, a removed watch, a new one) is still applied.
    #[tokio::test]
    async fn sync_applies_every_change_and_skips_none() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = SqliteStore::open(&dir.path().join("db.sqlite"))
            .await
            .expect("open");
        let tags = vec!["news".to_string()];
        let first = [def("a", "http://x/a", &tags), def("b", "http://x/b", &[])];
        let s1 = store.sync_watches(&first).await.expect("sync 1");
        let names: Vec<&str> = s1.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        // Same config: same states, in id order.
        let s2 = store.sync_watches(&first).await.expect("sync 2");
        assert_eq!(
            s2.iter()
                .map(|s| (s.id, s.name.clone()))
                .collect::<Vec<_>>(),
            s1.iter()
                .map(|s| (s.id, s.name.clone()))
                .collect::<Vec<_>>()
        );
        // `b` leaves, `a` moves, `c` arrives.
        let second = [def("a", "http://x/a2", &tags), def("c", "http://x/c", &[])];
        let s3 = store.sync_watches(&second).await.expect("sync 3");
        let names: Vec<&str> = s3.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        let a = store.find_watch("a").await.expect("find").expect("a");
        assert_eq!(a.url, "http://x/a2");
        // And back: `b` is active again with its old id.
        let s4 = store.sync_watches(&first).await.expect("sync 4");
        let b_id = s1.iter().find(|s| s.name == "b").map(|s| s.id);
        assert_eq!(s4.iter().find(|s| s.name == "b").map(|s| s.id), b_id);
        assert_eq!(s4.len(), 2);
        store.close().await;
    }

    #[test]
    fn hex_hashes() {
        let h = [0xabu8; 32];
        let hex = "ab".repeat(32);
        assert_eq!(hex_hash("x", &hex).expect("parses"), Some(h));
        assert_eq!(hex_hash("x", &hex.to_uppercase()).expect("parses"), Some(h));
        assert_eq!(hex_hash("x", "").expect("empty"), None);
        assert!(hex_hash("x", "abc").is_err());
        assert!(hex_hash("x", &"zz".repeat(32)).is_err());
        assert!(hex_hash("x", &format!("{}ag", "ab".repeat(31))).is_err());
        assert!(hex_hash("x", &format!("{}a\u{e9}", "ab".repeat(31))[1..]).is_err());
        let h: [u8; 32] = std::array::from_fn(|i| (i * 8 + 3) as u8);
        let upper: String = h.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(hex_hash("x", &upper).expect("parses"), Some(h));
        assert_eq!(
            hex_hash("x", &upper.to_lowercase()).expect("parses"),
            Some(h)
        );
    }

    #[test]
    fn chunks_are_powers_of_two_and_cover_everything() {
        for n in 0..600 {
            let items: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = pow2_chunks(&items, 256).collect();
            assert!(
                chunks
                    .iter()
                    .all(|c| c.len().is_power_of_two() && c.len() <= 256)
            );
            assert_eq!(chunks.concat(), items, "n = {n}");
        }
        let items = [0u8; 300];
        let lens: Vec<usize> = pow2_chunks(&items, 256).map(<[u8]>::len).collect();
        assert_eq!(lens, [256, 32, 8, 4]);
    }
}

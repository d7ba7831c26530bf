//! The floor of pass 2a: the work that any checker built on this project's
//! crates must do for the pass, and nothing more, timed on this machine.
//!
//!     cargo run --release --example floor -- PASS1_DB OUT_DIR [--no-db] [--no-parse] [--extract] [--inline] [--workers N]
//!
//! PASS1_DB is a palimpsest database after pass 1 (`bench/ab.sh` and
//! `bench/run.sh` make one); its watches give each page's URL and the
//! validators the server sent then. The pages must be served as pass 2a
//! serves them (10 % edited, validators on). Then, timed from after start-up:
//!
//! * one conditional GET per page with reqwest (the project's features, 64 in
//!   flight, keep-alive), so an unchanged page costs one 304;
//! * for each page that answers 200: html5ever's parse of the body (scraper),
//!   the text of `<body>` as lines, blake3 of body and text, zstd level 1 of
//!   body and text, on a task of its own (as palimpsest processes a body),
//!   so both cores parse while the requests are polled in one task;
//! * one SQLite database through sqlx, WAL and `synchronous=FULL` as the
//!   daemon uses it, written by one task in group commits of up to 256
//!   records: a check row per page, two blobs and a version row per new text,
//!   in multi-row INSERTs.
//!
//! It leaves out what palimpsest does beyond that floor: config, start-up,
//! the schedule, the main-content choice, reading the old text and the diff,
//! events, the watch's state row, logs. So its rate is an upper bound for
//! palimpsest on the same machine and pages. `--no-db` and `--no-parse` drop
//! those parts too, to show what each costs; `--extract` replaces the plain
//! text of `<body>` with palimpsest's own extraction (main content,
//! normalized lines), to show what that adds. `--inline` parses in the task
//! that polls the requests instead (one core parses). `--workers N` sets the
//! runtime's worker threads (default 2, as palimpsest on two cores; 1 is
//! often faster here, since nginx and SQLite's thread share the two cores).
//! It prints wall time, the process's CPU seconds (user + system), its peak
//! RSS and checks per second.

use futures_util::StreamExt;
use reqwest::header::{HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use std::time::Instant;

struct Page {
    id: i64,
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
}

enum Record {
    Unchanged {
        id: i64,
        status: u16,
    },
    New {
        id: i64,
        body: (Vec<u8>, [u8; 32]),
        text: (Vec<u8>, [u8; 32]),
    },
}

/// The process's CPU seconds (user + system) and peak RSS in KB.
fn usage() -> (f64, i64) {
    // SAFETY: getrusage writes into the struct it is given and nothing else.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (f64::NAN, 0);
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (tv(ru.ru_utime) + tv(ru.ru_stime), ru.ru_maxrss)
}

/// The new text's blobs, compressed: (data, hash) of the body and the text.
type Blobs = ((Vec<u8>, [u8; 32]), (Vec<u8>, [u8; 32]));

fn process(body: &[u8], real_extraction: bool) -> std::io::Result<Blobs> {
    if real_extraction {
        let html = String::from_utf8_lossy(body);
        let base = url::Url::parse("http://127.0.0.1/").map_err(std::io::Error::other)?;
        let rules = palimpsest::extract::Rules::default();
        let text =
            palimpsest::extract::extract(&html, "text/html", &base, &rules, html.len(), "").text();
        return compress(body, text.as_bytes());
    }
    let html = scraper::Html::parse_document(&String::from_utf8_lossy(body));
    let sel = scraper::Selector::parse("body").map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut text = String::new();
    for el in html.select(&sel) {
        for t in el.text() {
            let t = t.trim();
            if !t.is_empty() {
                text.push_str(t);
                text.push('\n');
            }
        }
    }
    compress(body, text.as_bytes())
}

fn compress(body: &[u8], text: &[u8]) -> std::io::Result<Blobs> {
    let body_hash = *blake3::hash(body).as_bytes();
    let text_hash = *blake3::hash(text).as_bytes();
    Ok((
        (zstd::bulk::compress(body, 1)?, body_hash),
        (zstd::bulk::compress(text, 1)?, text_hash),
    ))
}

async fn write(pool: &sqlx::SqlitePool, batch: &[Record], now: i64) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for chunk in batch.chunks(100) {
        let mut q = sqlx::QueryBuilder::new("INSERT INTO checks (watch_id, started_at, status) ");
        q.push_values(chunk, |mut b, r| {
            let (id, status) = match r {
                Record::Unchanged { id, status } => (*id, *status),
                Record::New { id, .. } => (*id, 200),
            };
            b.push_bind(id).push_bind(now).push_bind(i64::from(status));
        });
        q.build().execute(&mut *tx).await?;
        let new: Vec<&Record> = chunk
            .iter()
            .filter(|r| matches!(r, Record::New { .. }))
            .collect();
        if new.is_empty() {
            continue;
        }
        let mut q = sqlx::QueryBuilder::new("INSERT OR IGNORE INTO blobs (hash, data) ");
        q.push_values(
            new.iter().flat_map(|r| match r {
                Record::New { body, text, .. } => vec![body, text],
                Record::Unchanged { .. } => vec![],
            }),
            |mut b, (data, hash)| {
                b.push_bind(hash.to_vec()).push_bind(data.clone());
            },
        );
        q.build().execute(&mut *tx).await?;
        let mut q =
            sqlx::QueryBuilder::new("INSERT INTO versions (watch_id, body_hash, text_hash) ");
        q.push_values(new, |mut b, r| {
            if let Record::New { id, body, text } = r {
                b.push_bind(*id)
                    .push_bind(body.1.to_vec())
                    .push_bind(text.1.to_vec());
            }
        });
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let workers = args
        .iter()
        .position(|a| a == "--workers")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(2);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?
        .block_on(floor(args))
}

async fn floor(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    palimpsest::fetch::install_crypto_provider();
    if args.len() < 3 {
        eprintln!(
            "usage: floor PASS1_DB OUT_DIR [--no-db] [--no-parse] [--extract] [--inline] [--workers N]"
        );
        std::process::exit(64);
    }
    let no_db = args.iter().any(|a| a == "--no-db");
    let no_parse = args.iter().any(|a| a == "--no-parse");
    let real_extraction = args.iter().any(|a| a == "--extract");
    let inline = args.iter().any(|a| a == "--inline");
    let src = sqlx::SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(&args[1])
            .read_only(true),
    )
    .await?;
    let pages: Vec<Page> =
        sqlx::query("SELECT id, url, etag, last_modified FROM watches ORDER BY id")
            .fetch_all(&src)
            .await?
            .iter()
            .map(|r| Page {
                id: r.get("id"),
                url: r.get("url"),
                etag: r.get("etag"),
                last_modified: r.get("last_modified"),
            })
            .collect();
    src.close().await;
    std::fs::create_dir_all(&args[2])?;
    let out = std::path::Path::new(&args[2]).join("floor.db");
    let _ = std::fs::remove_file(&out);
    let opts = SqliteConnectOptions::new()
        .filename(&out)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE checks (id INTEGER PRIMARY KEY, watch_id INTEGER NOT NULL, started_at INTEGER NOT NULL, status INTEGER);
         CREATE TABLE blobs (id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, data BLOB NOT NULL);
         CREATE TABLE versions (id INTEGER PRIMARY KEY, watch_id INTEGER NOT NULL, body_hash BLOB NOT NULL, text_hash BLOB NOT NULL);",
    )
    .execute(&pool)
    .await?;
    let client = reqwest::Client::builder()
        .user_agent("palimpsest-floor")
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .build()?;

    let (cpu0, _) = usage();
    let t0 = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Record>(512);
    let writer = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(256);
        let mut written = 0usize;
        while rx.recv_many(&mut batch, 256).await > 0 {
            if !no_db {
                write(&pool, &batch, 0).await?;
            }
            written += batch.len();
            batch.clear();
        }
        pool.close().await;
        Ok::<usize, sqlx::Error>(written)
    });
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut results = futures_util::stream::iter(pages.iter())
        .map(|p| {
            let client = &client;
            let tx = tx.clone();
            async move {
                let mut req = client.get(&p.url);
                if let Some(v) = p
                    .etag
                    .as_deref()
                    .and_then(|v| HeaderValue::from_str(v).ok())
                {
                    req = req.header(IF_NONE_MATCH, v);
                }
                if let Some(v) = p
                    .last_modified
                    .as_deref()
                    .and_then(|v| HeaderValue::from_str(v).ok())
                {
                    req = req.header(IF_MODIFIED_SINCE, v);
                }
                let resp = req.send().await?;
                let status = resp.status().as_u16();
                let body = resp.bytes().await?;
                let record = if status == 200 && !no_parse {
                    let (body, text) = if inline {
                        process(&body, real_extraction)?
                    } else {
                        tokio::spawn(async move { process(&body, real_extraction) }).await??
                    };
                    Record::New {
                        id: p.id,
                        body,
                        text,
                    }
                } else {
                    Record::Unchanged { id: p.id, status }
                };
                let _ = tx.send(record).await;
                Ok::<u16, Box<dyn std::error::Error + Send + Sync>>(status)
            }
        })
        .buffer_unordered(64);
    while let Some(r) = results.next().await {
        *statuses.entry(r.map_err(|e| e.to_string())?).or_default() += 1;
    }
    drop(results);
    drop(tx);
    let written = writer.await??;
    let wall = t0.elapsed().as_secs_f64();
    let (cpu1, rss_kb) = usage();
    let cpu = cpu1 - cpu0;
    println!(
        "floor{}{}{}{}: {} checks ({:?}), {} written, {:.3} s wall, {:.3} CPU s, {} KB peak RSS, {:.0} checks/s",
        if no_db { " --no-db" } else { "" },
        if no_parse { " --no-parse" } else { "" },
        if real_extraction { " --extract" } else { "" },
        if inline { " --inline" } else { "" },
        pages.len(),
        statuses,
        written,
        wall,
        cpu,
        rss_kb,
        pages.len() as f64 / wall
    );
    Ok(())
}

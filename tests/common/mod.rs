//! Shared test harness: an in-process HTTP site on 127.0.0.1 whose pages a
//! test changes between checks, and helpers to run the daemon's pieces.
#![allow(dead_code)]

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use palimpsest::config::{Config, validate_source};
use palimpsest::schedule::{self, Mode, RunReport};
use palimpsest::store::sqlite::SqliteStore;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One page of the test site.
#[derive(Clone, Debug)]
pub struct Page {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: String,
    /// Send an ETag and answer If-None-Match with 304.
    pub etag: bool,
    pub headers: Vec<(String, String)>,
    /// Send the body one byte per second.
    pub drip: bool,
}

impl Page {
    pub fn html(body: impl Into<String>) -> Page {
        Page {
            status: 200,
            body: body.into().into_bytes(),
            content_type: "text/html; charset=utf-8".into(),
            etag: false,
            headers: Vec::new(),
            drip: false,
        }
    }

    pub fn with_etag(mut self) -> Page {
        self.etag = true;
        self
    }

    pub fn redirect(status: u16, to: &str) -> Page {
        Page {
            status,
            body: Vec::new(),
            content_type: "text/html".into(),
            etag: false,
            headers: vec![("location".into(), to.into())],
            drip: false,
        }
    }
}

#[derive(Default)]
pub struct SiteState {
    pub pages: HashMap<String, Page>,
    /// The answer for paths without a page (default: a bare 404).
    pub fallback: Option<Page>,
    /// (path, conditional request?, status answered)
    pub log: Vec<(String, bool, u16)>,
}

/// The site: set pages, read the request log.
#[derive(Clone)]
pub struct TestSite {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<SiteState>>,
}

impl TestSite {
    pub async fn start() -> TestSite {
        let state = Arc::new(Mutex::new(SiteState::default()));
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestSite { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn set(&self, path: &str, page: Page) {
        self.state
            .lock()
            .expect("lock")
            .pages
            .insert(path.to_string(), page);
    }

    /// The answer for every path without a page.
    pub fn set_fallback(&self, page: Page) {
        self.state.lock().expect("lock").fallback = Some(page);
    }

    pub fn remove(&self, path: &str) {
        self.state.lock().expect("lock").pages.remove(path);
    }

    pub fn set_html(&self, path: &str, html: impl Into<String>) {
        self.set(path, Page::html(html));
    }

    pub fn requests(&self, path: &str) -> Vec<(bool, u16)> {
        self.state
            .lock()
            .expect("lock")
            .log
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, c, s)| (*c, *s))
            .collect()
    }
}

async fn serve(State(state): State<Arc<Mutex<SiteState>>>, req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let conditional = req.headers().contains_key(header::IF_NONE_MATCH)
        || req.headers().contains_key(header::IF_MODIFIED_SINCE);
    let page = {
        let st = state.lock().expect("lock");
        st.pages.get(&path).or(st.fallback.as_ref()).cloned()
    };
    let Some(page) = page else {
        state
            .lock()
            .expect("lock")
            .log
            .push((path, conditional, 404));
        return Response::builder()
            .status(404)
            .body(Body::from("<html><body><h1>Not Found</h1></body></html>"))
            .expect("response");
    };
    let etag = format!("\"{}\"", blake3::hash(&page.body).to_hex());
    if page.etag
        && req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            == Some(etag.as_str())
    {
        state
            .lock()
            .expect("lock")
            .log
            .push((path, conditional, 304));
        return Response::builder()
            .status(304)
            .header(header::ETAG, etag)
            .body(Body::empty())
            .expect("response");
    }
    state
        .lock()
        .expect("lock")
        .log
        .push((path, conditional, page.status));
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&page.content_type).expect("ct"),
    );
    if page.etag {
        headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("etag"));
    }
    for (k, v) in &page.headers {
        headers.insert(
            header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    let body = if page.drip {
        let bytes = page.body.clone();
        let stream = async_stream(bytes);
        Body::from_stream(stream)
    } else {
        Body::from(page.body.clone())
    };
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(page.status).expect("status"))
        .body(body)
        .expect("response");
    *resp.headers_mut() = headers;
    resp
}

fn async_stream(
    bytes: Vec<u8>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::unfold((bytes, 0usize), |(bytes, i)| async move {
        if i >= bytes.len() {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let b = vec![bytes[i]];
        Some((Ok(b), (bytes, i + 1)))
    })
}

/// A config with the test defaults (private networks allowed, short timeouts).
pub fn config(dir: &Path, extra: &str) -> Config {
    config_fetch(
        dir,
        "timeout = \"5s\"\nallow_private_networks = true",
        extra,
    )
}

/// A config with the given `[fetch]` lines.
pub fn config_fetch(dir: &Path, fetch: &str, extra: &str) -> Config {
    let text = format!(
        "[storage]\npath = \"{}\"\n\n[fetch]\nconcurrency = 8\nper_host = 8\n{fetch}\n\n{extra}",
        dir.join("p.db").display()
    );
    match validate_source(&text, "test.toml", None) {
        Ok(c) => c,
        Err(e) => panic!("test config invalid:\n{e}\n---\n{text}"),
    }
}

/// One `--once` run against a fresh store handle (as a new process would).
pub async fn run_once(cfg: &Config) -> RunReport {
    let store = Arc::new(open_store(cfg).await);
    let report = schedule::run_with(
        store.clone(),
        Arc::new(cfg.clone()),
        Mode::Once,
        CancellationToken::new(),
    )
    .await
    .expect("run");
    store.close().await;
    report
}

pub async fn open_store(cfg: &Config) -> SqliteStore {
    match &cfg.storage {
        palimpsest::config::StorageConfig::Sqlite { path } => {
            SqliteStore::open(path).await.expect("open store")
        }
        other => panic!("unexpected storage {other:?}"),
    }
}

/// An article page in the shape of `shared/seeds/naenara-article.txt`: a
/// header with navigation, the article, and a "More Articles" sidebar of
/// teasers that changes every day.
pub fn seed_article(title: &str, paragraphs: &[&str], day: usize) -> String {
    let mut html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title} | Naenara</title></head><body>\n\
         <div class=\"top\"><a href=\"/\">Naenara</a><ul><li><a href=\"/politics\">Politics</a></li><li><a href=\"/economy\">Economy</a></li><li><a href=\"/culture\">Culture</a></li></ul></div>\n\
         <div class=\"wrap\"><div class=\"left\"><h2>{title}</h2>\n"
    );
    for p in paragraphs {
        html.push_str(&format!("<p>{p}</p>\n"));
    }
    html.push_str("</div><div class=\"right\"><h3>More From Naenara (En)</h3>\n");
    for i in 0..10 {
        let n = day * 3 + i;
        let teaser = TEASERS[n % TEASERS.len()];
        html.push_str(&format!(
            "<div class=\"item\"><a href=\"/article/{n}.html\">{teaser}</a><span>January {}, 2026</span><p>{teaser}</p></div>\n",
            30 - (n % 28)
        ));
    }
    html.push_str("</div></div><div class=\"bottom\">Copyright 2026</div></body></html>");
    html
}

pub const TEASERS: &[&str] = &[
    "A conference of the Headquarters of the Central Committee of the Workers’ Party of Korea was held on January 28 amid the",
    "North Hwanghae Province of the DPRK has remodelled the Unpha Cement Factory and the Unpha Corrugated Paper Factory. Their",
    "Several industrial establishments increase their production by recycling different kinds of wastes. The Namhung Youth Chemical",
    "A large number of Korean people work devotedly for their country with a clear conscience whether they are acknowledged or not.",
    "Modern houses have appeared at the Churung Farm in Samchon County and the Sinhwanpho Farm in Jaeryong County, South Hwanghae",
    "Over the past five years, the policies of the Workers’ Party of Korea for rising generation were thoroughly implemented in",
    "North Hwanghae Province of the DPRK newly built the Kyongam Wood Processing Factory in Sariwon City. The factory has",
    "The Pyongyang Catfish Farm boasts a high level of scientific and intensive production. It produces a large quantity of",
    "Jon Jong Hwan has been working at the Ryongdung Coal Mine under the Kujang Area Coal-mining Complex for decades now and",
    "In the new era of the Korean-style rural development, farms in Changdo and Thongchon counties, Kangwon Province, have",
    "The Sariwon Tannery in North Hwanghae Province of the DPRK has been remodelled. All its production lines have been",
    "One day in January 2014, the respected Comrade Kim Jong Un visited the State Academy of Sciences. There he looked round",
    "The Mining Engineering Institute under the Academy of Coal Science has developed a new type of hydraulic rotary drill",
];

/// The article body of the seed page (its first paragraphs).
pub fn seed_paragraphs() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/seeds/naenara-article.txt"
    ))
    .unwrap_or_else(|_| FALLBACK_SEED.to_string());
    text.lines()
        .take_while(|l| !l.starts_with("More From"))
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

const FALLBACK_SEED: &str = "The First Workshop of Officials in the Information Field of the Workers’ Party of Korea in March Juche 111 (2022) served as an important occasion.\n\
Kim Jong Un, general secretary of the Workers’ Party of Korea, sent those attending the workshop a letter.\n";

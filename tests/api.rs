//! The JSON API, the ops routes and the feeds, against the real pieces in
//! process: a SQLite store in a temp dir, `Control`, the scheduler loop
//! (`run_controlled`) and the HTTP server, with a [`TestSite`] to watch.
//! Each test runs its own daemon and database.

mod common;

use common::{Page, TestSite};
use palimpsest::config::validate_source;
use palimpsest::control::Control;
use palimpsest::schedule::{self, Mode};
use palimpsest::server::{self, api::ROUTES};
use palimpsest::store::Store;
use palimpsest::store::sqlite::SqliteStore;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";

/// A running daemon: scheduler and server, with a write and a read-only token.
struct Daemon {
    base: String,
    http: reqwest::Client,
    store: Arc<SqliteStore>,
    site: TestSite,
    write: String,
    read: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn page(title: &str, text: &str) -> String {
    format!(
        "<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>"
    )
}

impl Daemon {
    /// A daemon whose config file has the watch `cfgwatch` (tag `cfgtag`),
    /// the webhook channel `cfghook` and a subscription of it to every
    /// watch; `extra` is appended to the config.
    async fn start(extra: &str) -> Daemon {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let site = TestSite::start().await;
        site.set_html("/cfg", page("Config page", "the config page says hello"));
        site.set_html("/hook", "ok");
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let text = format!(
            r#"[storage]
path = "{db}"

[fetch]
allow_private_networks = true
timeout = "5s"

[schedule]
startup_spread = "1s"

[server]
listen = "127.0.0.1:0"
public_url = "{base}"

[[watch]]
name = "cfgwatch"
url = "{cfg}"
interval = "1h"
tags = ["cfgtag"]

[[channel]]
name = "cfghook"
type = "webhook"
url = "{hook}"

[[subscription]]
channel = "cfghook"
watches = "*"
boring = true

{extra}
"#,
            db = dir.path().join("p.db").display(),
            cfg = site.url("/cfg"),
            hook = site.url("/hook"),
        );
        let cfg = match validate_source(&text, "palimpsest.toml", None) {
            Ok(c) => Arc::new(c),
            Err(e) => panic!("test config invalid:\n{e}\n---\n{text}"),
        };
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("p.db"))
                .await
                .expect("open store"),
        );
        let control = Control::from_text(&text, "palimpsest.toml", cfg);
        let shutdown = CancellationToken::new();
        tokio::spawn(schedule::run_controlled(
            store.clone(),
            control.clone(),
            Mode::Daemon,
            shutdown.clone(),
        ));
        let app = server::App::new(store.clone(), control).await.expect("app");
        tokio::spawn(server::serve(listener, app, shutdown.clone()));
        let now = palimpsest::model::now_millis();
        let write = server::new_token().expect("token");
        let read = server::new_token().expect("token");
        store
            .create_token("writer", &server::hash_token(&write), false, now)
            .await
            .expect("create token");
        store
            .create_token("reader", &server::hash_token(&read), true, now)
            .await
            .expect("create token");
        let d = Daemon {
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            store,
            site,
            write,
            read,
            shutdown,
            _dir: dir,
        };
        // Ready once the scheduler runs.
        let ready = poll(Duration::from_secs(10), || async {
            let r = d.http.get(d.url("/readyz")).send().await.ok()?;
            (r.status() == StatusCode::OK).then_some(())
        })
        .await;
        assert!(ready.is_some(), "/readyz never answered 200");
        d
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&b).expect("encode"));
        }
        req.send().await.expect("request")
    }

    /// A request with the write token; the status and the JSON body.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let r = self.send(method, path, Some(&self.write), body).await;
        let status = r.status();
        let text = r.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    async fn get(&self, path: &str) -> Value {
        let (s, v) = self.call(Method::GET, path, None).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }

    /// Waits until the watch has at least `n` versions; returns them.
    async fn versions(&self, watch: &str, n: usize) -> Vec<Value> {
        let path = format!("/api/v1/watches/{watch}/versions");
        poll(Duration::from_secs(15), || async {
            let (s, v) = self.call(Method::GET, &path, None).await;
            let vs = v["versions"].as_array().cloned().unwrap_or_default();
            (s == StatusCode::OK && vs.len() >= n).then_some(vs)
        })
        .await
        .unwrap_or_else(|| panic!("{watch} never had {n} versions"))
    }

    async fn deliveries_where(&self, f: impl Fn(&Value) -> bool, what: &str) -> Value {
        poll(Duration::from_secs(20), || async {
            let v = self.get("/api/v1/deliveries").await;
            v["deliveries"]
                .as_array()
                .and_then(|ds| ds.iter().find(|d| f(d)).cloned())
        })
        .await
        .unwrap_or_else(|| panic!("no delivery {what}"))
    }
}

/// The JSON body of a response.
async fn json_of(r: reqwest::Response) -> Result<Value, String> {
    let text = r.text().await.map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}

/// Calls `f` until it gives something, or `within` passes.
async fn poll<T, F, Fut>(within: Duration, f: F) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(t) = f().await {
            return Some(t);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A route of `ROUTES` made concrete: its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{watch}", "cfgwatch")
        .replace("{seq}", "1")
        .replace("{channel}", "cfghook")
        .replace("{id}", "1")
}

fn method(m: &str) -> Method {
    Method::from_bytes(m.to_uppercase().as_bytes()).expect("method")
}

fn names(v: &Value, list: &str) -> Vec<String> {
    v[list]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|x| x["name"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_needs_a_valid_token() {
    let d = Daemon::start("").await;
    for (m, p) in ROUTES {
        let path = concrete(p);
        let body = matches!(*m, "post" | "patch").then(|| json!({}));
        let r = d.send(method(m), &path, None, body.clone()).await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{m} {path} without a token"
        );
        assert!(
            r.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("Bearer")),
            "{m} {path}: no WWW-Authenticate"
        );
        let v: Value = json_of(r).await.expect("JSON error");
        assert!(v["error"].is_string(), "{m} {path}: {v}");
        let r = d.send(method(m), &path, Some("pal_wrong"), body).await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{m} {path} with a wrong token"
        );
    }
    // Not a bearer token at all.
    let r = d
        .http
        .get(d.url("/api/v1/watches"))
        .header("authorization", format!("Basic {}", d.write))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Operators' routes.
    let r = d.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = d.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = d.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = d.send(Method::GET, "/metrics", Some(&d.read), None).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Unknown API routes are JSON 404s that point at the document.
    let (s, v) = d.call(Method::GET, "/api/v1/nope", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        v["hint"].as_str().is_some_and(|h| h.contains("openapi")),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_checks() {
    let d = Daemon::start("").await;
    d.versions("cfgwatch", 1).await;
    let r = d.send(Method::GET, "/metrics", Some(&d.read), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.expect("body");
    assert!(text.contains("palimpsest_checks_total"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_tokens_read_but_never_change() {
    let d = Daemon::start("").await;
    d.versions("cfgwatch", 1).await;
    for (m, p) in ROUTES {
        let path = concrete(p);
        if *m == "get" {
            let r = d.send(Method::GET, &path, Some(&d.read), None).await;
            assert_eq!(
                r.status(),
                StatusCode::OK,
                "GET {path} with a read-only token"
            );
        } else {
            let body = matches!(*m, "post" | "patch")
                .then(|| json!({"name": "x", "url": d.site.url("/cfg")}));
            let r = d.send(method(m), &path, Some(&d.read), body).await;
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{m} {path} with a read-only token"
            );
            let v: Value = json_of(r).await.expect("JSON error");
            assert!(
                v["error"].as_str().is_some_and(|e| e.contains("read-only")),
                "{v}"
            );
        }
    }
    // Nothing was made.
    let v = d.get("/api/v1/watches").await;
    assert_eq!(names(&v, "watches"), ["cfgwatch"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_are_made_checked_diffed_changed_and_deleted() {
    let d = Daemon::start("").await;
    d.site.set_html(
        "/a",
        page("Alpha", "The quick brown fox jumps over the lazy dog."),
    );
    let (s, w) = d
        .call(
            Method::POST,
            "/api/v1/watches",
            Some(json!({"name": "alpha", "url": d.site.url("/a"), "interval": "1h", "tags": ["news"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{w}");
    assert_eq!(w["name"], "alpha");
    assert_eq!(w["source"], "api");
    assert_eq!(w["read_only"], false);
    assert_eq!(w["definition"]["interval"], "1h");

    let list = d.get("/api/v1/watches").await;
    let alpha = list["watches"]
        .as_array()
        .expect("watches")
        .iter()
        .find(|x| x["name"] == "alpha")
        .cloned()
        .expect("alpha listed");
    assert_eq!(alpha["source"], "api");
    let cfg = list["watches"]
        .as_array()
        .expect("watches")
        .iter()
        .find(|x| x["name"] == "cfgwatch")
        .cloned()
        .expect("cfgwatch listed");
    assert_eq!(cfg["source"], "config");
    assert_eq!(cfg["read_only"], true);

    // The first version comes without waiting for the interval.
    let vs = d.versions("alpha", 1).await;
    assert_eq!(vs[0]["seq"], 1);

    // An edit, checked now.
    d.site.set_html(
        "/a",
        page("Alpha", "The quick red fox leaps over the lazy dog."),
    );
    let (s, v) = d
        .call(Method::POST, "/api/v1/watches/alpha/check", None)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["queued"], "alpha");
    let vs = d.versions("alpha", 2).await;
    assert_eq!(vs[0]["seq"], 2, "newest first");
    let edited = poll(Duration::from_secs(10), || async {
        let v = d.get("/api/v1/events?watch=alpha").await;
        v["events"]
            .as_array()
            .and_then(|es| es.iter().find(|e| e["kind"] == "edited").cloned())
    })
    .await
    .expect("an edited event");
    assert_eq!(edited["watch"], "alpha");
    assert_eq!(edited["version_seq"], 2);
    assert_eq!(edited["prev_version_seq"], 1);
    let by_kind = d.get("/api/v1/events?kind=edited").await;
    assert!(
        by_kind["events"]
            .as_array()
            .expect("events")
            .iter()
            .all(|e| e["kind"] == "edited"),
        "{by_kind}"
    );
    assert!(
        by_kind["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["watch"] == "alpha")
    );
    let (s, v) = d
        .call(Method::GET, "/api/v1/events?kind=exploded", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // The diff of the last two versions.
    let diff = d.get("/api/v1/watches/alpha/diff").await;
    assert_eq!(diff["from"]["seq"], 1);
    assert_eq!(diff["to"]["seq"], 2);
    let unified = diff["unified"].as_str().expect("unified");
    for word in ["brown", "jumps", "red", "leaps"] {
        assert!(unified.contains(word), "{word} not in\n{unified}");
    }
    assert!(
        unified.contains("alpha #1") && unified.contains("alpha #2"),
        "{unified}"
    );
    assert!(!diff["hunks"].as_array().expect("hunks").is_empty());
    assert!(
        diff["stats"]["words_added"].as_u64().unwrap_or(0) > 0,
        "{diff}"
    );
    let same = d.get("/api/v1/watches/alpha/diff?from=2&to=latest").await;
    assert_eq!(same["hunks"], json!([]));

    // Version text: plain text that is never sniffed.
    let r = d
        .send(
            Method::GET,
            "/api/v1/watches/alpha/versions/1/text",
            Some(&d.write),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let text = r.text().await.expect("text");
    assert!(text.contains("quick brown fox"), "{text}");
    // The raw body is the HTML as fetched, served as text.
    let r = d
        .send(
            Method::GET,
            "/api/v1/watches/alpha/versions/latest/raw",
            Some(&d.write),
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let ct = r.headers()["content-type"]
        .to_str()
        .expect("ct")
        .to_string();
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert!(!ct.contains("html"), "{ct}");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let raw = r.text().await.expect("raw");
    assert!(
        raw.contains("<title>Alpha</title>") && raw.contains("red fox"),
        "{raw}"
    );
    let v1 = d.get("/api/v1/watches/alpha/versions/1").await;
    assert_eq!(v1["seq"], 1);
    assert_eq!(v1["title"], "Alpha");

    // Filters.
    let tagged = d.get("/api/v1/watches?tag=news").await;
    assert_eq!(names(&tagged, "watches"), ["alpha"]);
    let tagged = d.get("/api/v1/watches?tag=cfgtag").await;
    assert_eq!(names(&tagged, "watches"), ["cfgwatch"]);

    // Changes.
    let (s, w) = d
        .call(
            Method::PATCH,
            "/api/v1/watches/alpha",
            Some(json!({"interval": "2h"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(w["definition"]["interval"], "2h");
    assert_eq!(
        w["definition"]["tags"],
        json!(["news"]),
        "other keys are kept"
    );
    let (s, w) = d
        .call(Method::POST, "/api/v1/watches/alpha/pause", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(w["paused"], true);
    let (s, v) = d
        .call(Method::POST, "/api/v1/watches/alpha/check", None)
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a paused watch is not checked: {v}"
    );
    let (s, w) = d
        .call(Method::POST, "/api/v1/watches/alpha/resume", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(w["paused"], false);
    let (s, v) = d
        .call(
            Method::PATCH,
            "/api/v1/watches/alpha",
            Some(json!({"name": "beta"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // Deleted: gone from the list, but its history is kept.
    let (s, v) = d.call(Method::DELETE, "/api/v1/watches/alpha", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["deleted"], "alpha");
    // The scheduler takes it out of the checked set on its next round.
    let gone_from_list = poll(Duration::from_secs(10), || async {
        let list = d.get("/api/v1/watches").await;
        (names(&list, "watches") == ["cfgwatch"]).then_some(())
    })
    .await;
    assert!(gone_from_list.is_some(), "alpha still listed");
    let all = d.get("/api/v1/watches?all=true").await;
    let gone = all["watches"]
        .as_array()
        .expect("watches")
        .iter()
        .find(|x| x["name"] == "alpha")
        .cloned()
        .expect("alpha with ?all=true");
    assert_eq!(gone["active"], false);
    assert_eq!(gone["versions"], 2);
    let vs = d.get("/api/v1/watches/alpha/versions").await;
    assert_eq!(vs["versions"].as_array().expect("versions").len(), 2);

    // A deleted watch's name can be used again.
    let (s, w) = d
        .call(
            Method::POST,
            "/api/v1/watches",
            Some(json!({"name": "alpha", "url": d.site.url("/a")})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{w}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_requests_that_fail_say_why() {
    let d = Daemon::start("").await;
    d.site.set_html("/b", page("Bravo", "bravo text"));
    let new = json!({"name": "bravo", "url": d.site.url("/b")});
    let (s, v) = d
        .call(Method::POST, "/api/v1/watches", Some(new.clone()))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // A duplicate name, in the API or in the config file.
    let (s, v) = d.call(Method::POST, "/api/v1/watches", Some(new)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("bravo")),
        "{v}"
    );
    let (s, v) = d
        .call(
            Method::POST,
            "/api/v1/watches",
            Some(json!({"name": "cfgwatch", "url": d.site.url("/b")})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");

    // Invalid objects are checked by the config's own rules.
    let (s, v) = d
        .call(
            Method::POST,
            "/api/v1/watches",
            Some(json!({"name": "charlie", "url": d.site.url("/c"), "interval": "soon"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let details = v["details"].as_array().expect("details");
    assert!(
        details
            .iter()
            .any(|x| x.as_str().is_some_and(|s| s.contains("interval"))),
        "{v}"
    );
    let (s, v) = d
        .call(
            Method::POST,
            "/api/v1/watches",
            Some(json!({"url": d.site.url("/c")})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("name")),
        "{v}"
    );
    let (s, v) = d
        .call(
            Method::POST,
            "/api/v1/watches",
            Some(json!({"name": "charlie", "url": d.site.url("/c"), "colour": "red"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "unknown keys are refused: {v}");
    let (s, v) = d
        .call(Method::POST, "/api/v1/watches", Some(json!(["a"])))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // A body that is not JSON, or too large.
    let r = d
        .http
        .post(d.url("/api/v1/watches"))
        .bearer_auth(&d.write)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = json_of(r).await.expect("a JSON error");
    assert!(v["error"].is_string() && v["hint"].is_string(), "{v}");
    let r = d
        .http
        .post(d.url("/api/v1/watches"))
        .bearer_auth(&d.write)
        .body("{}")
        .send()
        .await
        .expect("request");
    assert!(
        r.status().is_client_error(),
        "no content type: {}",
        r.status()
    );
    let big = json!({"name": "big", "url": d.site.url("/c"), "tags": ["x".repeat(300 * 1024)]});
    let r = d
        .send(Method::POST, "/api/v1/watches", Some(&d.write), Some(big))
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = json_of(r).await.expect("a JSON error");
    assert!(v["error"].is_string(), "{v}");

    // Unknown watches and versions.
    let (s, v) = d.call(Method::GET, "/api/v1/watches/nosuch", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("nosuch")),
        "{v}"
    );
    assert!(v["hint"].is_string(), "{v}");
    let (s, v) = d
        .call(Method::GET, "/api/v1/watches/bravo/versions/abc", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["hint"].is_string(), "{v}");
    let (s, v) = d
        .call(Method::GET, "/api/v1/watches/bravo/versions/999", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = d
        .call(Method::GET, "/api/v1/watches/bravo/versions?limit=x", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = d
        .call(Method::GET, "/api/v1/events?since=yesterday", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // The config file's watch is read-only here.
    for (m, path, body) in [
        (
            Method::PATCH,
            "/api/v1/watches/cfgwatch",
            Some(json!({"interval": "2h"})),
        ),
        (Method::DELETE, "/api/v1/watches/cfgwatch", None),
        (Method::POST, "/api/v1/watches/cfgwatch/pause", None),
        (Method::POST, "/api/v1/watches/cfgwatch/resume", None),
    ] {
        let (s, v) = d.call(m.clone(), path, body).await;
        assert_eq!(s, StatusCode::CONFLICT, "{m} {path}: {v}");
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("config file") && e.contains("read-only")),
            "{m} {path}: {v}"
        );
        assert!(
            v["hint"]
                .as_str()
                .is_some_and(|h| h.contains("config file")),
            "{v}"
        );
    }
    let cfg = d.get("/api/v1/watches/cfgwatch").await;
    assert_eq!(cfg["source"], "config");
    assert_eq!(cfg["definition"]["interval"], "1h");

    // `${…}` in a string is kept as written, never expanded.
    let url = format!("{}?who=${{HOME}}", d.site.url("/b"));
    let (s, v) = d
        .call(
            Method::POST,
            "/api/v1/watches",
            Some(json!({"name": "env", "url": url})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let w = d.get("/api/v1/watches/env").await;
    let shown = w["definition"]["url"].as_str().expect("url");
    assert!(shown.contains("${HOME}"), "{w}");
    if let Ok(home) = std::env::var("HOME")
        && !home.is_empty()
    {
        assert!(!w.to_string().contains(&format!("who={home}")), "{w}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_come_in_pages() {
    let d = Daemon::start("").await;
    d.site.set_html("/p", page("Paged", "paged text"));
    let (s, v) = d
        .call(
            Method::POST,
            "/api/v1/watches",
            Some(json!({"name": "paged", "url": d.site.url("/p")})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    d.versions("paged", 1).await;
    d.versions("cfgwatch", 1).await;
    let all = poll(Duration::from_secs(10), || async {
        let v = d.get("/api/v1/events").await;
        (v["events"].as_array().map_or(0, Vec::len) >= 2).then_some(v)
    })
    .await
    .expect("two events");
    let all = all["events"].as_array().expect("events").clone();
    let first = d.get("/api/v1/events?limit=1").await;
    let page1 = first["events"].as_array().expect("events");
    assert_eq!(page1.len(), 1);
    assert_eq!(page1[0]["id"], all[0]["id"], "newest first");
    let next = first["next"].as_i64().expect("next");
    let second = d
        .get(&format!("/api/v1/events?limit=1&before={next}"))
        .await;
    let page2 = second["events"].as_array().expect("events");
    assert_eq!(page2.len(), 1);
    assert_eq!(page2[0]["id"], all[1]["id"], "the next older one");
    // The last page has no `next`.
    let rest = d
        .get(&format!("/api/v1/events?limit=500&before={next}"))
        .await;
    assert_eq!(rest["next"], Value::Null);
    // Filters.
    let only = d.get("/api/v1/events?watch=paged").await;
    assert!(
        only["events"]
            .as_array()
            .expect("events")
            .iter()
            .all(|e| e["watch"] == "paged")
    );
    let tag = d.get("/api/v1/events?tag=cfgtag").await;
    assert!(
        tag["events"]
            .as_array()
            .expect("events")
            .iter()
            .all(|e| e["watch"] == "cfgwatch"),
        "{tag}"
    );
    let (s, v) = d
        .call(Method::GET, "/api/v1/events?watch=nosuch", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_never_show_their_secrets() {
    let d = Daemon::start("").await;
    let hook_path = "/hooks/T000/B000/XXXXsecretpath";
    let r = d
        .send(
            Method::POST,
            "/api/v1/channels",
            Some(&d.write),
            Some(json!({
                "name": "apihook", "type": "webhook", "url": d.site.url(hook_path),
                "secret": SECRET, "headers": {"X-Api-Key": "headersecretvalue"}
            })),
        )
        .await;
    let status = r.status();
    let raw = r.text().await.expect("body");
    assert_eq!(status, StatusCode::CREATED, "{raw}");
    for secret in [SECRET, "XXXXsecretpath", hook_path, "headersecretvalue"] {
        assert!(!raw.contains(secret), "`{secret}` shown in {raw}");
    }
    let c: Value = serde_json::from_str(&raw).expect("JSON");
    assert_eq!(c["has_secret"], true);
    assert_eq!(c["source"], "api");
    assert_eq!(c["host"], "127.0.0.1");
    assert_eq!(c["headers"], json!(["X-Api-Key"]));

    let r = d
        .send(Method::GET, "/api/v1/channels", Some(&d.read), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let raw = r.text().await.expect("body");
    for secret in [
        SECRET,
        "XXXXsecretpath",
        hook_path,
        "headersecretvalue",
        "/hook",
    ] {
        assert!(!raw.contains(secret), "`{secret}` shown in {raw}");
    }
    let list: Value = serde_json::from_str(&raw).expect("JSON");
    let chans = list["channels"].as_array().expect("channels");
    let api = chans
        .iter()
        .find(|c| c["name"] == "apihook")
        .expect("apihook");
    assert_eq!(api["has_secret"], true);
    assert_eq!(api["read_only"], false);
    let cfg = chans
        .iter()
        .find(|c| c["name"] == "cfghook")
        .expect("cfghook");
    assert_eq!(cfg["source"], "config");
    assert_eq!(cfg["has_secret"], false);

    // A bad secret is refused with the config's own message.
    let (s, v) = d
        .call(
            Method::POST,
            "/api/v1/channels",
            Some(json!({"name": "weak", "type": "webhook", "url": d.site.url("/w"), "secret": "short"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("secret"), "{v}");
    assert!(!v.to_string().contains("\"short\""), "{v}");
    let (s, v) = d
        .call(
            Method::POST,
            "/api/v1/channels",
            Some(json!({"name": "cfghook", "type": "webhook", "url": d.site.url("/w")})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");

    // A subscription to it.
    let (s, sub) = d
        .call(
            Method::POST,
            "/api/v1/subscriptions",
            Some(json!({"channel": "apihook", "watches": "tag:cfgtag", "kinds": ["edited", "deleted"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sub}");
    assert_eq!(sub["source"], "api");
    assert_eq!(sub["channel"], "apihook");
    let id = sub["id"].as_i64().expect("id");
    let (s, v) = d
        .call(
            Method::POST,
            "/api/v1/subscriptions",
            Some(json!({"channel": "apihook", "watches": "tag:cfgtag", "kinds": ["edited", "deleted"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "the same subscription twice: {v}");
    let (s, v) = d
        .call(
            Method::POST,
            "/api/v1/subscriptions",
            Some(json!({"channel": "nosuch", "watches": "*"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let subs = d.get("/api/v1/subscriptions").await;
    let listed = subs["subscriptions"]
        .as_array()
        .expect("subscriptions")
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .expect("listed");
    assert_eq!(listed["source"], "api");
    assert_eq!(listed["read_only"], false);
    assert_eq!(listed["selector"], "tag");
    assert_eq!(listed["tag"], "cfgtag");
    let cfg_sub = subs["subscriptions"]
        .as_array()
        .expect("subscriptions")
        .iter()
        .find(|s| s["channel"] == "cfghook")
        .cloned()
        .expect("config subscription");
    assert_eq!(cfg_sub["source"], "config");

    // Deleting: subscriptions first, config objects never.
    let (s, v) = d
        .call(Method::DELETE, "/api/v1/channels/apihook", None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(
        v["hint"]
            .as_str()
            .is_some_and(|h| h.contains("subscriptions")),
        "{v}"
    );
    let (s, v) = d
        .call(
            Method::DELETE,
            &format!("/api/v1/subscriptions/{}", cfg_sub["id"]),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = d
        .call(Method::DELETE, &format!("/api/v1/subscriptions/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let gone = poll(Duration::from_secs(10), || async {
        let subs = d.get("/api/v1/subscriptions").await;
        (!subs["subscriptions"]
            .as_array()
            .expect("subscriptions")
            .iter()
            .any(|s| s["id"] == id))
        .then_some(())
    })
    .await;
    assert!(gone.is_some(), "subscription {id} still listed");
    let (s, v) = d
        .call(Method::DELETE, &format!("/api/v1/subscriptions/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = d
        .call(Method::DELETE, "/api/v1/subscriptions/abc", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = d
        .call(Method::DELETE, "/api/v1/channels/apihook", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = d
        .call(Method::DELETE, "/api/v1/channels/apihook", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = d
        .call(Method::DELETE, "/api/v1/channels/cfghook", None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("config file")),
        "{v}"
    );
    let list = d.get("/api/v1/channels").await;
    assert_eq!(names(&list, "channels"), ["cfghook"]);
}

/// Edits the config watch's page and checks it now: an `edited` event,
/// so a delivery for every subscription.
async fn edit_cfgwatch(d: &Daemon) {
    d.versions("cfgwatch", 1).await;
    d.site.set_html(
        "/cfg",
        page("Config page", "the config page says goodbye now"),
    );
    let (s, v) = d
        .call(Method::POST, "/api/v1/watches/cfgwatch/check", None)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    d.versions("cfgwatch", 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_list_and_retry() {
    let d = Daemon::start("").await;
    // A channel whose endpoint refuses (400: permanent).
    d.site.set(
        "/refuse",
        Page {
            status: 400,
            ..Page::html("no")
        },
    );
    let (s, v) = d
        .call(
            Method::POST,
            "/api/v1/channels",
            Some(json!({"name": "refuser", "type": "webhook", "url": d.site.url("/refuse")})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = d
        .call(
            Method::POST,
            "/api/v1/subscriptions",
            Some(json!({"channel": "refuser", "watches": ["cfgwatch"], "boring": true})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    let (s, v) = d.call(Method::GET, "/api/v1/deliveries", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["deliveries"].is_array());
    let (s, v) = d
        .call(Method::GET, "/api/v1/deliveries?status=lost", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    edit_cfgwatch(&d).await;
    let ok = d
        .deliveries_where(
            |x| x["channel"] == "cfghook" && x["status"] == "delivered",
            "delivered to cfghook",
        )
        .await;
    assert_eq!(ok["watch"], "cfgwatch");
    assert_eq!(ok["event_kind"], "edited");
    let failed = d
        .deliveries_where(
            |x| x["channel"] == "refuser" && x["status"] == "failed",
            "failed to refuser",
        )
        .await;
    assert!(
        failed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("400")),
        "{failed}"
    );
    let only_failed = d.get("/api/v1/deliveries?status=failed").await;
    assert!(
        only_failed["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .all(|x| x["status"] == "failed")
    );

    // Only failed deliveries can be retried.
    let (s, v) = d
        .call(
            Method::POST,
            &format!("/api/v1/deliveries/{}/retry", ok["id"]),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(v["hint"].is_string(), "{v}");
    let (s, v) = d
        .call(Method::POST, "/api/v1/deliveries/999999/retry", None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = d
        .call(Method::POST, "/api/v1/deliveries/x/retry", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // The endpoint is fixed; the retry is delivered.
    d.site.set_html("/refuse", "ok now");
    let id = failed["id"].as_i64().expect("id");
    let (s, v) = d
        .call(
            Method::POST,
            &format!("/api/v1/deliveries/{id}/retry"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["retrying"], id);
    let now = d.get("/api/v1/deliveries").await;
    let row = now["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .find(|x| x["id"] == id)
        .cloned()
        .expect("row");
    assert!(
        row["status"] == "pending" || row["status"] == "delivered",
        "{row}"
    );
    d.deliveries_where(
        |x| x["id"] == id && x["status"] == "delivered",
        "retried and delivered",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_links_are_signed_and_need_a_post() {
    let d = Daemon::start("").await;
    for m in [Method::GET, Method::POST] {
        let r = d
            .send(m.clone(), "/unsubscribe/msg_x.AAAA", None, None)
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{m} forged");
        let r = d.send(m.clone(), "/unsubscribe/garbage", None, None).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{m} garbage");
    }
    edit_cfgwatch(&d).await;
    let row = d
        .deliveries_where(
            |x| x["channel"] == "cfghook" && x["message_id"].is_string(),
            "with a message id",
        )
        .await;
    let message_id = row["message_id"].as_str().expect("message id").to_string();
    let key = d.store.server_key().await.expect("server key");
    let link = palimpsest::notify::email::unsubscribe_url(&d.base, &key, &message_id);
    let path = link
        .strip_prefix(&d.base)
        .expect("a link to this server")
        .to_string();
    // A link signed for another message does not work for this one.
    let (_, sig) = path.rsplit_once('.').expect("signed");
    let r = d
        .send(
            Method::POST,
            &format!("/unsubscribe/msg_other.{sig}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let subscribed = |v: &Value| -> Value {
        v["subscriptions"]
            .as_array()
            .expect("subscriptions")
            .iter()
            .find(|s| s["channel"] == "cfghook")
            .cloned()
            .expect("cfghook subscription")
    };
    // GET shows, changes nothing (mail scanners follow links).
    let r = d.send(Method::GET, &path, None, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("page");
    assert!(html.contains("cfghook"), "{html}");
    let s = subscribed(&d.get("/api/v1/subscriptions").await);
    assert_eq!(s["unsubscribed_at"], Value::Null, "{s}");
    // POST unsubscribes, and again is fine.
    let r = d.send(Method::POST, &path, None, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let s = subscribed(&d.get("/api/v1/subscriptions").await);
    assert!(
        s["unsubscribed_at"].as_i64().is_some(),
        "unsubscribed_at not set: {s}"
    );
    let r = d.send(Method::POST, &path, None, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let s = subscribed(&d.get("/api/v1/subscriptions").await);
    assert!(s["unsubscribed_at"].as_i64().is_some(), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_take_a_token_in_the_query() {
    let d = Daemon::start("").await;
    d.versions("cfgwatch", 1).await;
    let r = d.send(Method::GET, "/feeds/events.atom", None, None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = d
        .send(
            Method::GET,
            "/feeds/events.atom?token=pal_wrong",
            None,
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for path in [
        "/feeds/events.atom".to_string(),
        "/feeds/watch/cfgwatch.atom".to_string(),
        "/feeds/tag/cfgtag.atom".to_string(),
    ] {
        let url = format!("{path}?token={}", d.read);
        let r = poll(Duration::from_secs(10), || async {
            let r = d.send(Method::GET, &url, None, None).await;
            let ok = r.status() == StatusCode::OK;
            let ct = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = r.text().await.unwrap_or_default();
            (ok && body.contains("cfgwatch")).then_some((ct, body))
        })
        .await;
        let (ct, body) = r.unwrap_or_else(|| panic!("{path}: no feed naming cfgwatch"));
        assert!(ct.starts_with("application/atom+xml"), "{path}: {ct}");
        assert!(body.contains("<feed"), "{path}: {body}");
    }
    let r = d
        .send(
            Method::GET,
            &format!("/feeds/watch/nosuch.atom?token={}", d.read),
            None,
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_need_a_token() {
    let d = Daemon::start("").await;
    for path in [
        "/feeds/events.atom",
        "/feeds/watch/cfgwatch.atom",
        "/feeds/tag/cfgtag.atom",
    ] {
        let r = d.send(Method::GET, path, None, None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let r = d
            .send(Method::GET, &format!("{path}?token={}", d.read), None, None)
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let ct = r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .to_string();
        assert!(ct.starts_with("application/atom+xml"), "{path}: {ct}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_and_matches_the_routes() {
    let d = Daemon::start("").await;
    let r = d
        .send(Method::GET, "/api/v1/openapi.json", Some(&d.read), None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("application/json")
    );
    let doc: Value = json_of(r).await.expect("JSON");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .expect("item")
                .keys()
                .filter(|m| !matches!(m.as_str(), "parameters" | "summary" | "description"))
                .map(move |m| (m.clone(), p.clone()))
        })
        .collect();
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, routes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_shows_what_a_watch_would_store() {
    let d = Daemon::start("").await;
    d.site.set_html(
        "/pv",
        "<html><head><title>Prev</title></head><body><div id=keep><p>kept line</p><p class=ad>an advert</p></div><p>outside</p></body></html>",
    );
    let (s, v) = d
        .call(
            Method::POST,
            "/api/v1/preview",
            Some(json!({"url": d.site.url("/pv"), "select": "#keep", "exclude": [".ad"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], 200);
    assert_eq!(v["title"], "Prev");
    let lines = v["lines"].to_string();
    assert!(lines.contains("kept line"), "{v}");
    assert!(
        !lines.contains("advert") && !lines.contains("outside"),
        "{v}"
    );
    let (s, v) = d
        .call(
            Method::POST,
            "/api/v1/preview",
            Some(json!({"select": "#keep"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // Nothing was stored.
    let list = d.get("/api/v1/watches").await;
    assert_eq!(names(&list, "watches"), ["cfgwatch"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_json_has_a_stable_shape() {
    let d = Daemon::start("").await;
    d.site.set_html("/s", page("Shape", "shape text"));
    let (s, _) = d
        .call(
            Method::POST,
            "/api/v1/watches",
            Some(json!({"name": "shape", "url": d.site.url("/s"), "interval": "3h", "tags": ["t1", "t2"], "keep_versions": 5})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    d.versions("shape", 1).await;
    let mut w = d.get("/api/v1/watches/shape").await;
    let port = d.site.addr.port().to_string();
    w["url"] = json!(w["url"].as_str().expect("url").replace(&port, "PORT"));
    w["definition"]["url"] = json!(
        w["definition"]["url"]
            .as_str()
            .expect("url")
            .replace(&port, "PORT")
    );
    // Volatile fields, normalized by hand (insta's redactions feature is off).
    for key in ["id", "last_check_at", "last_change_at", "next_due_at"] {
        if !w[key].is_null() {
            w[key] = json!(format!("[{key}]"));
        }
    }
    insta::assert_snapshot!(serde_json::to_string_pretty(&w).expect("json"));
}

/// The value of the first hidden `csrf` field of a page.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a page with a form carries a csrf field");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("a closing quote")].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_needs_a_session_a_csrf_token_and_a_token_that_may_write() {
    let d = Daemon::start("").await;
    let ui = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    // No session: every page sends the visitor to log in, and says where back.
    let r = ui.get(d.url("/")).send().await.expect("GET /");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login?next=%2F");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(csp.contains("default-src 'none'"), "{csp}");

    // A wrong token is refused; a good one gets a strict session cookie.
    let login = |token: String| {
        ui.post(d.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}&next=%2F"))
            .send()
    };
    let r = login("pal_wrong".into()).await.expect("login");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("set-cookie").is_none());
    let r = login(d.write.clone()).await.expect("login");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    let session = cookie.split(';').next().expect("name=value").to_string();

    let page = ui
        .get(d.url("/"))
        .header("cookie", &session)
        .send()
        .await
        .expect("dashboard");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("cfgwatch"), "the dashboard lists the watch");
    let token = csrf_of(&html);

    let w = d.get("/api/v1/watches/cfgwatch").await;
    let check = format!("/watches/{}/check", w["id"]);
    let post = |path: String, cookie: String, body: String| {
        ui.post(d.url(&path))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    // A form without the session's CSRF token is refused.
    let r = post(check.clone(), session.clone(), "csrf=forged".into())
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post(check.clone(), session.clone(), format!("csrf={token}"))
        .await
        .expect("post");
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "check now with the right token"
    );

    // A read-only token may look but not change anything.
    let r = login(d.read.clone()).await.expect("login");
    let ro = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("name=value")
        .to_string();
    let html = ui
        .get(d.url("/watches/new"))
        .header("cookie", &ro)
        .send()
        .await
        .expect("form")
        .text()
        .await
        .expect("html");
    let ro_csrf = csrf_of(&html);
    let r = post(
        "/watches/new".into(),
        ro.clone(),
        format!(
            "csrf={ro_csrf}&action=save&name=sneaky&url={}&interval=1h",
            d.site.url("/cfg")
        ),
    )
    .await
    .expect("post");
    assert!(
        r.status() == StatusCode::FORBIDDEN || r.status() == StatusCode::BAD_REQUEST,
        "a read-only session cannot add a watch: {}",
        r.status()
    );
    let r = post(check, ro.clone(), format!("csrf={ro_csrf}"))
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        d.send(Method::GET, "/api/v1/watches/sneaky", Some(&d.write), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // The CSRF token of one session does not work for another.
    let r = post(
        format!("/watches/{}/check", w["id"]),
        session,
        format!("csrf={ro_csrf}"),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

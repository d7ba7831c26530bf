//! Alerts end to end, against real receivers on 127.0.0.1: an in-process
//! webhook receiver that checks every signature with the `standardwebhooks`
//! crate, and a real SMTP server (Debian's python3-aiosmtpd, started here
//! through `tests/smtp_sink.py`).

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine;
use common::*;
use palimpsest::config::Config;
use palimpsest::store::Store;
use std::collections::VecDeque;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_palimpsest");
/// A fixed test secret: whsec_ + base64 of 32 bytes.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwcGFsaW1wc2VzdA==";

// ---------------------------------------------------------------- receivers

/// What a webhook receiver does with one request.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Status(u16),
    /// Accept the request and never answer.
    Hold,
}

#[derive(Clone, Debug)]
struct Got {
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
    status: Option<u16>,
}

#[derive(Default)]
struct HookState {
    replies: VecDeque<Reply>,
    /// Used when `replies` is empty.
    default: Option<Reply>,
    got: Vec<Got>,
}

#[derive(Clone)]
struct Hook {
    addr: SocketAddr,
    state: Arc<Mutex<HookState>>,
}

impl Hook {
    async fn start(replies: &[Reply]) -> Hook {
        let state = Arc::new(Mutex::new(HookState {
            replies: replies.iter().copied().collect(),
            ..Default::default()
        }));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hook { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn got(&self) -> Vec<Got> {
        self.state.lock().expect("lock").got.clone()
    }

    fn set_default(&self, r: Reply) {
        self.state.lock().expect("lock").default = Some(r);
    }

    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Got> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.got();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    State(state): State<Arc<Mutex<HookState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let reply = {
        let mut s = state.lock().expect("lock");
        let r = s
            .replies
            .pop_front()
            .or(s.default)
            .unwrap_or(Reply::Status(200));
        s.got.push(Got {
            headers,
            body,
            at: Instant::now(),
            status: match r {
                Reply::Status(c) => Some(c),
                Reply::Hold => None,
            },
        });
        r
    };
    match reply {
        Reply::Status(code) => {
            let status = StatusCode::from_u16(code).expect("status");
            if code == 503 {
                (status, [("retry-after", "0")], "busy").into_response()
            } else {
                (status, "ok").into_response()
            }
        }
        Reply::Hold => {
            std::future::pending::<()>().await;
            StatusCode::OK.into_response()
        }
    }
}

/// Verifies a request the way a receiver would, with the reference crate.
fn verify(got: &Got) -> serde_json::Value {
    let wh = standardwebhooks::Webhook::new(SECRET).expect("secret");
    wh.verify(&got.body, &got.headers)
        .unwrap_or_else(|e| panic!("bad signature ({e:?}): {:?}", got.headers));
    serde_json::from_slice(&got.body).expect("JSON body")
}

fn header<'a>(got: &'a Got, name: &str) -> &'a str {
    got.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// A real SMTP server: python3-aiosmtpd through tests/smtp_sink.py.
struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    fn start(port: u16, reject: Option<(&str, u32)>) -> SmtpSink {
        let dir = tempfile::tempdir().expect("tmp");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_sink.py");
        let python = if Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3"
        } else {
            "python3"
        };
        let mut cmd = Command::new(python);
        cmd.arg(script).arg(port.to_string()).arg(dir.path());
        if let Some((reply, count)) = reject {
            cmd.arg(reply).arg(count.to_string());
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python} for the SMTP test server: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) if l.trim() == "ready" => {}
            _ => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "the SMTP test server did not start: {}\n\
                     These tests need a real SMTP server: install Debian's python3-aiosmtpd \
                     (apt-get install -y python3-aiosmtpd; .ci/run does it).",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        SmtpSink { child, port, dir }
    }

    fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read mail"))
            .collect()
    }

    async fn wait_for(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

// ---------------------------------------------------------------- helpers

fn article(title: &str, sentence: &str) -> String {
    format!(
        "<html><head><title>{title}</title></head><body><nav><a href=\"/\">Home</a></nav><article><h1>{title}</h1>\
         <p>{sentence}</p><p>The meeting took place in the capital and lasted for several hours, according to the report.</p></article></body></html>"
    )
}

fn smtp_section(port: u16) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"palimpsest <alerts@example.org>\"\n"
    )
}

fn hook_channel(name: &str, hook: &Hook, extra: &str) -> String {
    format!(
        "[[channel]]\nname = \"{name}\"\ntype = \"webhook\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\n{extra}\n",
        hook.url()
    )
}

fn watch(name: &str, url: &str, tags: &str) -> String {
    format!("[[watch]]\nname = \"{name}\"\nurl = \"{url}\"\ntags = [{tags}]\n")
}

async fn delivery_rows(cfg: &Config) -> Vec<palimpsest::store::DeliveryInfo> {
    let store = open_store(cfg).await;
    let rows = store.deliveries(None, 1000).await.expect("deliveries");
    store.close().await;
    rows
}

/// Decodes a quoted-printable body.
fn unqp(s: &str) -> String {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

/// (headers, text part, html part) of a multipart/alternative mail.
fn mail_parts(raw: &str) -> (String, String, String) {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").expect("headers");
    let boundary = head
        .split("boundary=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("boundary");
    let mut text = String::new();
    let mut html = String::new();
    for part in body.split(&format!("--{boundary}")) {
        let Some((ph, pb)) = part.trim_start_matches('\n').split_once("\n\n") else {
            continue;
        };
        let decoded = if ph.contains("quoted-printable") {
            unqp(pb)
        } else if ph.contains("base64") {
            let joined: String = pb.split_whitespace().collect();
            String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .expect("base64"),
            )
            .to_string()
        } else {
            pb.to_string()
        };
        if ph.contains("text/plain") {
            text = decoded;
        } else if ph.contains("text/html") {
            html = decoded;
        }
    }
    (head.to_string(), text, html)
}

/// Replaces what changes from run to run.
fn redact(s: &str) -> String {
    let r = |re: &str, to: &str, s: String| {
        regex::Regex::new(re)
            .expect("regex")
            .replace_all(&s, to)
            .to_string()
    };
    let s = r(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[time]", s.to_string());
    let s = r(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]", s);
    let s = r(r"(msg|dgst)_[0-9a-f]{24}", "${1}_[id]", s);
    r(r#""id": \d+"#, r#""id": [n]"#, s)
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/webhook.schema.json"
    ))
    .expect("schema file");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema JSON");
    jsonschema::validator_for(&schema).expect("a valid schema")
}

fn assert_schema(v: &serde_json::Value) {
    let s = schema();
    let errors: Vec<String> = s.iter_errors(v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{v:#}");
}

fn notify_cfg(extra: &str) -> String {
    format!("[notify]\nretry_initial = \"50ms\"\nonce_wait = \"10s\"\ntimeout = \"3s\"\n{extra}\n")
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_arrives_with_both_parts_subject_and_diff() {
    let smtp = SmtpSink::start(free_port(), None);
    let site = TestSite::start().await;
    site.set_html(
        "/a.html",
        article(
            "Leader meets guests",
            "Kim Jong Un met Jang Song Thaek today.",
        ),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(
        dir.path(),
        &format!(
            "{}\n[server]\npublic_url = \"https://palimpsest.example.org/\"\n\n{}\n[[channel]]\nname = \"desk\"\ntype = \"email\"\nto = [\"desk@example.org\", \"Second Desk <two@example.org>\"]\n\n[[subscription]]\nchannel = \"desk\"\nwatches = \"*\"\n",
            smtp_section(smtp.port),
            watch("a", &site.url("/a.html"), "")
        ),
    );
    let first = run_once(&cfg).await;
    assert_eq!(
        first.deliveries.delivered, 0,
        "first_seen is not alerted by default"
    );
    site.set_html(
        "/a.html",
        article(
            "Leader meets guests",
            "Kim Jong Un met the delegation today.",
        ),
    );
    let report = run_once(&cfg).await;
    assert_eq!(report.deliveries.delivered, 1, "{report:?}");
    let mails = smtp.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(mails.len(), 1);
    let (head, text, html) = mail_parts(&mails[0]);
    assert!(
        head.contains("Subject: [palimpsest] Edited: Leader meets guests"),
        "{head}"
    );
    assert!(
        head.contains("desk@example.org") && head.contains("two@example.org"),
        "{head}"
    );
    assert!(head.contains("multipart/alternative"), "{head}");
    assert!(
        head.contains("List-Unsubscribe: <https://palimpsest.example.org/unsubscribe/msg_"),
        "{head}"
    );
    assert!(
        text.contains("-Kim Jong Un met Jang Song Thaek today."),
        "{text}"
    );
    assert!(
        text.contains("+Kim Jong Un met the delegation today."),
        "{text}"
    );
    assert!(
        html.contains("text-decoration:line-through\">Jang Song Thaek</del>"),
        "{html}"
    );
    assert!(html.contains("\">the delegation</ins>"), "{html}");
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "{html}"
    );
    let rows = delivery_rows(&cfg).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, "delivered");
    let subject = head
        .lines()
        .find(|l| l.starts_with("Subject:"))
        .unwrap_or_default();
    insta::assert_snapshot!(
        "email",
        redact(&format!(
            "{subject}\n\n==== text/plain ====\n{text}\n==== text/html ====\n{html}"
        ))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_and_follow_the_schema() {
    let hook = Hook::start(&[]).await;
    let site = TestSite::start().await;
    site.set_html(
        "/a.html",
        article(
            "Leader meets guests",
            "Kim Jong Un met Jang Song Thaek today.",
        ),
    );
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(
        dir.path(),
        &format!(
            "{}\n{}\n[[subscription]]\nchannel = \"hook\"\nwatches = \"*\"\n",
            watch("a", &site.url("/a.html"), "\"dprk\""),
            hook_channel("hook", &hook, "headers = { \"X-Team\" = \"research\" }")
        ),
    );
    run_once(&cfg).await;
    site.set_html(
        "/a.html",
        article(
            "Leader meets guests",
            "Kim Jong Un met the delegation today.",
        ),
    );
    let report = run_once(&cfg).await;
    assert_eq!(report.deliveries.delivered, 1, "{report:?}");
    let got = hook.got();
    assert_eq!(got.len(), 1);
    let body = verify(&got[0]);
    assert_eq!(header(&got[0], "x-team"), "research");
    assert!(header(&got[0], "webhook-id").starts_with("msg_"));
    assert_eq!(body["type"], "page.edited");
    assert_eq!(body["data"]["watch"]["url"], site.url("/a.html"));
    assert_eq!(body["data"]["watch"]["tags"], serde_json::json!(["dprk"]));
    assert_eq!(body["data"]["event"]["kind"], "edited");
    assert_eq!(body["data"]["event"]["version"], 2);
    assert_eq!(body["data"]["event"]["prev_version"], 1);
    assert_eq!(body["data"]["title"], "Leader meets guests");
    assert_schema(&body);
    insta::assert_snapshot!(
        "webhook_body",
        redact(&serde_json::to_string_pretty(&body).expect("json"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_503s_then_200_is_one_delivery_with_one_id() {
    let hook = Hook::start(&[Reply::Status(503), Reply::Status(503), Reply::Status(503)]).await;
    let site = TestSite::start().await;
    site.set_html("/a.html", article("T", "First text of the article."));
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(
        dir.path(),
        &format!(
            "{}\n{}\n{}\n[[subscription]]\nchannel = \"hook\"\nwatches = [\"a\"]\nkinds = [\"edited\"]\n",
            notify_cfg(""),
            watch("a", &site.url("/a.html"), ""),
            hook_channel("hook", &hook, "")
        ),
    );
    run_once(&cfg).await;
    site.set_html("/a.html", article("T", "Second text of the article."));
    let report = run_once(&cfg).await;
    assert_eq!(report.deliveries.delivered, 1, "{report:?}");
    assert_eq!(report.deliveries.retried, 3, "{report:?}");
    let got = hook.got();
    assert_eq!(got.len(), 4);
    let id = header(&got[0], "webhook-id").to_string();
    for g in &got {
        verify(g);
        assert_eq!(header(g, "webhook-id"), id, "the same id on every attempt");
        assert_eq!(g.body, got[0].body, "the same bytes on every attempt");
    }
    assert_eq!(got.iter().filter(|g| g.status == Some(200)).count(), 1);
    let rows = delivery_rows(&cfg).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].status.as_str(), rows[0].attempts),
        ("delivered", 4)
    );
    // Nothing more on the next run.
    run_once(&cfg).await;
    assert_eq!(hook.got().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_not_retried_and_a_410_disables_the_channel() {
    let bad = Hook::start(&[Reply::Status(400)]).await;
    let gone = Hook::start(&[Reply::Status(410)]).await;
    let site = TestSite::start().await;
    site.set_html("/a.html", article("T", "First text of the article."));
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(
        dir.path(),
        &format!(
            "{}\n{}\n{}\n{}\n[[subscription]]\nchannel = \"bad\"\n\n[[subscription]]\nchannel = \"gone\"\n",
            notify_cfg(""),
            watch("a", &site.url("/a.html"), ""),
            hook_channel("bad", &bad, ""),
            hook_channel("gone", &gone, "")
        ),
    );
    run_once(&cfg).await;
    site.set_html("/a.html", article("T", "Second text of the article."));
    let report = run_once(&cfg).await;
    assert_eq!(report.deliveries.failed, 2, "{report:?}");
    assert_eq!(bad.got().len(), 1);
    assert_eq!(gone.got().len(), 1);
    let rows = delivery_rows(&cfg).await;
    let by = |c: &str| rows.iter().find(|r| r.channel == c).expect("row").clone();
    assert_eq!(by("bad").status, "failed");
    assert!(
        by("bad")
            .last_error
            .unwrap_or_default()
            .contains("HTTP 400"),
        "{rows:?}"
    );
    assert!(
        by("gone").last_error.unwrap_or_default().contains("410"),
        "{rows:?}"
    );
    // Not retried; and the gone channel gets nothing new.
    site.set_html("/a.html", article("T", "Third text of the article."));
    run_once(&cfg).await;
    assert_eq!(
        bad.got().len(),
        2,
        "a new event still goes to the 400 channel"
    );
    assert_eq!(gone.got().len(), 1, "a disabled channel is not posted to");
    let store = open_store(&cfg).await;
    let disabled: Option<i64> =
        sqlx::query_scalar("SELECT disabled_at FROM channels WHERE name = 'gone'")
            .fetch_one(store.pool())
            .await
            .expect("channel");
    assert!(disabled.is_some());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_at_first_gets_the_mail_once_up() {
    let port = free_port();
    let site = TestSite::start().await;
    site.set_html("/a.html", article("T", "First text of the article."));
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(
        dir.path(),
        &format!(
            "{}\n{}\n{}\n[[channel]]\nname = \"desk\"\ntype = \"email\"\nto = [\"desk@example.org\"]\n\n[[subscription]]\nchannel = \"desk\"\n",
            smtp_section(port),
            notify_cfg(""),
            watch("a", &site.url("/a.html"), ""),
        ),
    );
    run_once(&cfg).await;
    site.set_html("/a.html", article("T", "Second text of the article."));
    let run = tokio::spawn({
        let cfg = cfg.clone();
        async move { run_once(&cfg).await }
    });
    // Let a few attempts fail against the closed port, then start the server.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let smtp = SmtpSink::start(port, None);
    let report = run.await.expect("run");
    assert_eq!(report.deliveries.delivered, 1, "{report:?}");
    assert!(report.deliveries.retried >= 1, "{report:?}");
    let mails = smtp.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(mails.len(), 1);
    let rows = delivery_rows(&cfg).await;
    assert!(rows[0].attempts >= 2, "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_4xx_is_retried_and_5xx_is_not() {
    let soft = SmtpSink::start(free_port(), Some(("451 4.3.0 try again later", 2)));
    let hard = SmtpSink::start(free_port(), Some(("550 5.1.1 no such user", 1)));
    let site = TestSite::start().await;
    site.set_html("/a.html", article("T", "First text of the article."));
    for (smtp, delivered) in [(&soft, true), (&hard, false)] {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = config(
            dir.path(),
            &format!(
                "{}\n{}\n{}\n[[channel]]\nname = \"desk\"\ntype = \"email\"\nto = [\"desk@example.org\"]\n\n[[subscription]]\nchannel = \"desk\"\nkinds = [\"first_seen\"]\n",
                smtp_section(smtp.port),
                notify_cfg(""),
                watch("a", &site.url("/a.html"), ""),
            ),
        );
        let report = run_once(&cfg).await;
        let rows = delivery_rows(&cfg).await;
        if delivered {
            assert_eq!(report.deliveries.delivered, 1, "{report:?}");
            assert_eq!(rows[0].attempts, 3, "{rows:?}");
            assert_eq!(smtp.messages().len(), 1);
        } else {
            assert_eq!(report.deliveries.failed, 1, "{report:?}");
            assert_eq!(rows[0].attempts, 1, "{rows:?}");
            assert!(
                rows[0]
                    .last_error
                    .as_deref()
                    .unwrap_or_default()
                    .contains("550"),
                "{rows:?}"
            );
            assert!(smtp.messages().is_empty());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_is_one_message_for_several_events() {
    let hook = Hook::start(&[]).await;
    let site = TestSite::start().await;
    for p in ["a", "b", "c"] {
        site.set_html(
            &format!("/{p}.html"),
            article(p, "First text of the article."),
        );
    }
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(
        dir.path(),
        &format!(
            "{}{}{}\n{}\n[[subscription]]\nchannel = \"hook\"\nwatches = \"tag:news\"\ndigest = \"hourly\"\n",
            watch("a", &site.url("/a.html"), "\"news\""),
            watch("b", &site.url("/b.html"), "\"news\""),
            watch("c", &site.url("/c.html"), "\"other\""),
            hook_channel("hook", &hook, "")
        ),
    );
    run_once(&cfg).await;
    for p in ["a", "b", "c"] {
        site.set_html(
            &format!("/{p}.html"),
            article(p, "Second text of the article."),
        );
    }
    run_once(&cfg).await;
    assert!(hook.got().is_empty(), "the hour is not over");
    let rows = delivery_rows(&cfg).await;
    assert_eq!(rows.len(), 2, "c is not tagged news: {rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.message_id.is_none() && r.next_attempt_at % 3_600_000 == 0)
    );
    // The window ends.
    let store = open_store(&cfg).await;
    sqlx::query("UPDATE deliveries SET next_attempt_at = next_attempt_at - 3600000")
        .execute(store.pool())
        .await
        .expect("update");
    store.close().await;
    let report = run_once(&cfg).await;
    assert_eq!(report.deliveries.delivered, 1, "{report:?}");
    let got = hook.got();
    assert_eq!(got.len(), 1);
    let body = verify(&got[0]);
    assert_eq!(body["type"], "digest");
    assert_eq!(body["data"]["count"], 2);
    assert_eq!(
        header(&got[0], "webhook-id"),
        body["id"].as_str().unwrap_or("?")
    );
    assert_schema(&body);
    let rows = delivery_rows(&cfg).await;
    assert!(rows.iter().all(|r| r.status == "delivered"), "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_channel_does_not_delay_another() {
    let slow = Hook::start(&[]).await;
    slow.set_default(Reply::Hold);
    let good = Hook::start(&[]).await;
    let site = TestSite::start().await;
    let mut watches = String::new();
    for p in ["a", "b", "c"] {
        site.set_html(
            &format!("/{p}.html"),
            article(p, "First text of the article."),
        );
        watches.push_str(&watch(p, &site.url(&format!("/{p}.html")), ""));
    }
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(
        dir.path(),
        &format!(
            "[notify]\ntimeout = \"3s\"\nonce_wait = \"0s\"\n\n{watches}\n{}\n{}\n[[subscription]]\nchannel = \"slow\"\n\n[[subscription]]\nchannel = \"good\"\n",
            hook_channel("slow", &slow, ""),
            hook_channel("good", &good, "")
        ),
    );
    run_once(&cfg).await;
    for p in ["a", "b", "c"] {
        site.set_html(
            &format!("/{p}.html"),
            article(p, "Second text of the article."),
        );
    }
    let t0 = Instant::now();
    let report = run_once(&cfg).await;
    assert_eq!(report.deliveries.delivered, 3, "{report:?}");
    assert_eq!(
        report.deliveries.retried, 1,
        "one timeout, the other two wait with it: {report:?}"
    );
    let got = good.got();
    assert_eq!(got.len(), 3);
    let slow_first = slow.got()[0].at;
    for g in &got {
        assert!(
            g.at < slow_first + Duration::from_millis(2500),
            "the good channel waited for the broken one: {:?} after start",
            g.at - t0
        );
    }
    assert_eq!(
        slow.got().len(),
        1,
        "after a timeout the channel's other messages wait"
    );
    let rows = delivery_rows(&cfg).await;
    let pending: Vec<_> = rows.iter().filter(|r| r.channel == "slow").collect();
    assert!(pending.iter().all(|r| r.status == "pending"), "{pending:?}");
    assert!(
        pending.iter().any(|r| r
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("timed out")),
        "{pending:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_match_names_tags_and_kinds() {
    let by_tag = Hook::start(&[]).await;
    let by_name = Hook::start(&[]).await;
    let firsts = Hook::start(&[]).await;
    let site = TestSite::start().await;
    site.set_html("/a.html", article("a", "First text of the article."));
    site.set_html("/b.html", article("b", "First text of the article."));
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(
        dir.path(),
        &format!(
            "{}{}\n{}{}{}\n[[subscription]]\nchannel = \"by_tag\"\nwatches = \"tag:x\"\n\n[[subscription]]\nchannel = \"by_name\"\nwatches = [\"b\"]\n\n[[subscription]]\nchannel = \"firsts\"\nwatches = \"*\"\nkinds = [\"first_seen\"]\n",
            watch("a", &site.url("/a.html"), "\"x\""),
            watch("b", &site.url("/b.html"), "\"y\""),
            hook_channel("by_tag", &by_tag, ""),
            hook_channel("by_name", &by_name, ""),
            hook_channel("firsts", &firsts, ""),
        ),
    );
    run_once(&cfg).await;
    assert_eq!(firsts.got().len(), 2);
    assert!(by_tag.got().is_empty() && by_name.got().is_empty());
    for g in firsts.got() {
        let body = verify(&g);
        assert_eq!(body["type"], "page.first_seen");
        assert!(body["data"]["diff"].is_null());
        assert_schema(&body);
    }
    site.set_html("/a.html", article("a", "Second text of the article."));
    site.set_html("/b.html", article("b", "Second text of the article."));
    run_once(&cfg).await;
    let urls = |h: &Hook| -> Vec<String> {
        h.got()
            .iter()
            .map(|g| {
                verify(g)["data"]["watch"]["url"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(urls(&by_tag), vec![site.url("/a.html")]);
    assert_eq!(urls(&by_name), vec![site.url("/b.html")]);
    assert_eq!(firsts.got().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_subscriptions_no_delivery_rows_are_written() {
    let hook = Hook::start(&[]).await;
    let site = TestSite::start().await;
    site.set_html("/a.html", article("a", "First text of the article."));
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(
        dir.path(),
        &format!(
            "{}\n{}",
            watch("a", &site.url("/a.html"), ""),
            hook_channel("hook", &hook, "")
        ),
    );
    run_once(&cfg).await;
    site.set_html("/a.html", article("a", "Second text of the article."));
    let report = run_once(&cfg).await;
    assert_eq!(report.events.get("edited"), Some(&1));
    assert!(delivery_rows(&cfg).await.is_empty());
    assert!(hook.got().is_empty());
}

// ------------------------------------------------- the real binary

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("p.toml");
    std::fs::write(
        &path,
        format!(
            "[storage]\npath = \"{}\"\n\n[fetch]\nallow_private_networks = true\ntimeout = \"5s\"\n\n{text}",
            dir.join("p.db").display()
        ),
    )
    .expect("write config");
    path
}

/// A child process that is killed if the test fails before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn palimpsest(args: &[&str], config: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run palimpsest")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_send_and_record_redelivers_after_restart() {
    let hook = Hook::start(&[]).await;
    let site = TestSite::start().await;
    site.set_html("/a.html", article("T", "First text of the article."));
    let dir = tempfile::tempdir().expect("tmp");
    let path = write_config(
        dir.path(),
        &format!(
            "[notify]\ntimeout = \"1500ms\"\nlease = \"2s\"\nonce_wait = \"15s\"\n\n{}\n{}\n[[subscription]]\nchannel = \"hook\"\n",
            watch("a", &site.url("/a.html"), ""),
            hook_channel("hook", &hook, "")
        ),
    );
    assert!(palimpsest(&["run", "--once"], &path).status.success());
    site.set_html("/a.html", article("T", "Second text of the article."));
    // The receiver takes the message and holds its answer: the daemon has
    // sent it but cannot know it was accepted. Then kill -9.
    hook.set_default(Reply::Hold);
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args(["run", "--once", "--config"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("palimpsest"),
    );
    let got = hook.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1, "palimpsest sent the alert");
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg(child.0.id().to_string())
        .status();
    let _ = child.0.wait();
    let cfg = Config::load(&path).expect("config");
    let rows = delivery_rows(&cfg).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].status, "pending",
        "not recorded as delivered: {rows:?}"
    );
    let store = open_store(&cfg).await;
    let claimed: Option<i64> = sqlx::query_scalar("SELECT claimed_at FROM deliveries")
        .fetch_one(store.pool())
        .await
        .expect("row");
    assert!(
        claimed.is_some(),
        "the claim of the killed process is still there"
    );
    store.close().await;

    // Restart: once the lease has expired the message goes out again.
    hook.set_default(Reply::Status(200));
    let t = Instant::now();
    let out = palimpsest(&["run", "--once"], &path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = hook.got();
    assert_eq!(got.len(), 2, "delivered again after the restart");
    assert!(t.elapsed() < Duration::from_secs(15));
    assert_eq!(header(&got[0], "webhook-id"), header(&got[1], "webhook-id"));
    assert_eq!(got[0].body, got[1].body);
    verify(&got[1]);
    let rows = delivery_rows(&cfg).await;
    assert_eq!(rows[0].status, "delivered", "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_test_and_deliveries_commands_keep_secrets_out() {
    let ok = Hook::start(&[]).await;
    let bad = Hook::start(&[Reply::Status(400)]).await;
    let dir = tempfile::tempdir().expect("tmp");
    let password = "hunter2-very-secret-password";
    let path = write_config(
        dir.path(),
        &format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nuser = \"u\"\npassword = \"{password}\"\nfrom = \"a@example.org\"\n\n{}\n{}\n[[channel]]\nname = \"mail\"\ntype = \"email\"\nto = [\"d@example.org\"]\n",
            free_port(),
            hook_channel("ok", &ok, ""),
            hook_channel("bad", &bad, ""),
        ),
    );
    let out = palimpsest(&["notify", "test", "ok"], &path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("delivered (HTTP 200)"), "{stdout}");
    let got = ok.got();
    assert_eq!(got.len(), 1);
    let body = verify(&got[0]);
    assert_schema(&body);

    let out = palimpsest(&["--log-level", "debug", "notify", "test", "bad"], &path);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("HTTP 400") && stderr.contains("permanent"),
        "{stderr}"
    );

    let out = palimpsest(&["--log-level", "trace", "notify", "test", "mail"], &path);
    assert_eq!(
        out.status.code(),
        Some(1),
        "nothing listens on the SMTP port"
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("temporary"), "{all}");
    for secret in [password, SECRET, &SECRET["whsec_".len()..]] {
        assert!(!all.contains(secret), "a secret leaked: {all}");
    }

    let out = palimpsest(&["notify", "test", "nope"], &path);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("channels: ok, bad, mail"));

    let out = palimpsest(&["deliveries"], &path);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no deliveries"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_delivers_and_a_graceful_stop_loses_no_claimed_delivery() {
    let hook = Hook::start(&[Reply::Hold]).await;
    let site = TestSite::start().await;
    site.set_html("/a.html", article("T", "First text of the article."));
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(
        dir.path(),
        &format!(
            "[schedule]\nstartup_spread = \"1s\"\nshutdown_grace = \"1s\"\n\n[notify]\ntimeout = \"30s\"\n\n{}\n{}\n[[subscription]]\nchannel = \"hook\"\nkinds = [\"first_seen\"]\n",
            watch("a", &site.url("/a.html"), ""),
            hook_channel("hook", &hook, "")
        ),
    );
    // The daemon checks, and sends while it runs; the receiver holds the answer.
    let store = Arc::new(open_store(&cfg).await);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let daemon = tokio::spawn(palimpsest::schedule::run_with(
        store.clone(),
        Arc::new(cfg.clone()),
        palimpsest::schedule::Mode::Daemon,
        shutdown.clone(),
    ));
    assert_eq!(hook.wait_for(1, Duration::from_secs(20)).await.len(), 1);
    // SIGTERM: the send in flight gets the grace period, then its claim is released.
    let t = Instant::now();
    shutdown.cancel();
    let report = daemon.await.expect("join").expect("run");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(report.deliveries.delivered, 0);
    let row: (String, Option<i64>) = sqlx::query_as("SELECT status, claimed_at FROM deliveries")
        .fetch_one(store.pool())
        .await
        .expect("row");
    assert_eq!(row, ("pending".to_string(), None), "released, not lost");
    store.close().await;
    // The next run delivers it, under the same id.
    let report = run_once(&cfg).await;
    assert_eq!(report.deliveries.delivered, 1, "{report:?}");
    let got = hook.got();
    assert_eq!(got.len(), 2);
    assert_eq!(header(&got[0], "webhook-id"), header(&got[1], "webhook-id"));
    verify(&got[1]);
}

/// Many deletions on one host: the first `incident_threshold` are alerted
/// one by one, then one `incident.opened` stands for the rest; every
/// deletion is still stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_deletions_on_one_host_are_one_incident() {
    let hook = Hook::start(&[]).await;
    let site = TestSite::start().await;
    let mut watches = String::new();
    for i in 0..5 {
        site.set_html(
            &format!("/a{i}.html"),
            article(
                &format!("Story {i}"),
                "Kim Jong Un met the delegation today.",
            ),
        );
        watches.push_str(&watch(
            &format!("a{i}"),
            &site.url(&format!("/a{i}.html")),
            "",
        ));
    }
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(
        dir.path(),
        &format!(
            "[detect]\nincident_threshold = 2\nincident_window = \"1h\"\n\n{watches}\n{}\n[[subscription]]\nchannel = \"hook\"\nwatches = \"*\"\n",
            hook_channel("hook", &hook, "")
        ),
    );
    run_once(&cfg).await;
    for i in 0..5 {
        site.remove(&format!("/a{i}.html"));
    }
    run_once(&cfg).await; // first sighting
    run_once(&cfg).await; // confirmed: five deletions at once
    let got = hook.wait_for(3, Duration::from_secs(5)).await;
    let types: Vec<String> = got
        .iter()
        .map(|g| verify(g)["type"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        types.iter().filter(|t| *t == "page.deleted").count(),
        2,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| *t == "incident.opened").count(),
        1,
        "{types:?}"
    );
    assert_eq!(got.len(), 3, "{types:?}");
    let incident = got
        .iter()
        .map(verify)
        .find(|b| b["type"] == "incident.opened")
        .expect("incident");
    assert_eq!(incident["data"]["event"]["host"], "127.0.0.1", "{incident}");
    // The alert counts the deletions known when it was sent: all five, or
    // past the threshold of two when the writer committed them in two
    // groups and the alert went out in between.
    let counted = incident["data"]["event"]["deleted"].as_u64().unwrap_or(0);
    assert!((3..=5).contains(&counted), "{incident}");
    assert_schema(&incident);
    let store = open_store(&cfg).await;
    // The stored incident always has the whole count.
    let stored: Vec<String> = sqlx::query_scalar("SELECT data FROM events WHERE kind = 'incident'")
        .fetch_all(store.pool())
        .await
        .expect("incident rows");
    assert_eq!(stored.len(), 1, "{stored:?}");
    let data: serde_json::Value = serde_json::from_str(&stored[0]).expect("json");
    assert_eq!(data["deleted"], 5, "{data}");
    assert_eq!(data["examples"].as_array().map(Vec::len), Some(5), "{data}");
    let mut deleted = 0;
    for i in 0..5 {
        let w = store
            .find_watch(&format!("a{i}"))
            .await
            .expect("find")
            .expect("w");
        deleted += store
            .events(w.id, 10)
            .await
            .expect("events")
            .iter()
            .filter(|e| e.kind == palimpsest::model::EventKind::Deleted)
            .count();
    }
    store.close().await;
    assert_eq!(deleted, 5, "every deletion is stored");
}

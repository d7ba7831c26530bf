//! The web UI in a real browser: headless Chromium driven through
//! chromedriver (WebDriver) against the real daemon binary, which watches
//! an in-process test site.
//!
//! Needs `/usr/bin/chromedriver` and `/usr/bin/chromium`
//! (`apt-get install chromium chromium-driver`).

mod common;

use common::TestSite;
use fantoccini::{Client, ClientBuilder, Locator};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_palimpsest");
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const XSS: &str = "<script>alert(1)</script>";

/// Kills the processes the test started, however it ends; on failure,
/// prints the daemon's log.
struct Processes {
    children: Vec<(&'static str, Child)>,
    daemon_log: PathBuf,
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.daemon_log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- last lines of the daemon's log ---");
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until `GET path` on `port` answers 200.
fn wait_http_ok(port: u16, path: &str, what: &str, timeout: Duration) {
    let start = Instant::now();
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let req =
                format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            let mut buf = [0u8; 12];
            if s.write_all(req.as_bytes()).is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf == b"HTTP/1.1 200"
            {
                return;
            }
        }
        assert!(
            start.elapsed() < timeout,
            "{what} did not answer 200 on 127.0.0.1:{port}{path} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn article(lead: &str) -> String {
    // The title holds markup as text: the UI must show it, never run it.
    let title = "Harbour report &lt;script&gt;alert(1)&lt;/script&gt;";
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>\
         <nav><a href=\"/\">Home</a></nav><main><article><h1>{title}</h1>\
         <p>{lead}</p>\
         <p>Officials said that the second pier of the harbour would open in the spring, after the winter storms.</p>\
         <p>The fishing cooperative welcomed the decision and promised to add three new boats to its fleet.</p>\
         </article></main></body></html>"
    )
}

const LEAD_V1: &str = "The delegation led by Kim visited the new harbour on Tuesday morning and inspected the cranes.";
const LEAD_V2: &str =
    "The delegation led by visited the new harbour on Tuesday morning and inspected the cranes.";

/// Reloads the page until `ready` holds for its source, or fails with `what`.
async fn reload_until(c: &Client, what: &str, timeout: Duration, ready: impl Fn(&str) -> bool) {
    let start = Instant::now();
    loop {
        let src = c.source().await.expect("page source");
        if ready(&src) {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "waited {timeout:?} for {what}; the page at {} was:\n{}",
            c.current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default(),
            src.chars().take(4000).collect::<String>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.refresh().await.expect("reload");
    }
}

async fn texts(c: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in c.find_all(Locator::Css(css)).await.expect("find_all") {
        out.push(e.text().await.unwrap_or_default());
    }
    out
}

async fn screenshot(c: &Client, dir: &Path, name: &str) -> Vec<u8> {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(name), &png).expect("write screenshot");
    png
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_add_watch_check_and_diff_in_a_browser() {
    assert!(
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
        "this test drives headless Chromium: {CHROMEDRIVER} and {CHROMIUM} are missing; \
         install them with `apt-get install chromium chromium-driver`"
    );
    let _ = rustls::crypto::ring::default_provider().install_default();

    let site = TestSite::start().await;
    site.set_html("/news/harbour.html", article(LEAD_V1));

    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = dir.path().join("palimpsest.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\npath = \"{}\"\n\n[fetch]\nallow_private_networks = true\ntimeout = \"5s\"\n\n\
             [schedule]\nstartup_spread = \"1s\"\nshutdown_grace = \"2s\"\n\n\
             [server]\nlisten = \"127.0.0.1:{port}\"\n",
            dir.path().join("p.db").display()
        ),
    )
    .expect("write config");

    let out = Command::new(BIN)
        .args(["token", "create", "admin", "--config"])
        .arg(&config)
        .output()
        .expect("run palimpsest token create");
    assert!(
        out.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(token.starts_with("pal_"), "token create printed {token:?}");

    let daemon_log = dir.path().join("daemon.log");
    let mut procs = Processes {
        children: Vec::new(),
        daemon_log: daemon_log.clone(),
    };
    let log = std::fs::File::create(&daemon_log).expect("log file");
    let daemon = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the daemon");
    procs.children.push(("daemon", daemon));

    let driver_port = free_port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={driver_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    procs.children.push(("chromedriver", driver));

    tokio::task::spawn_blocking(move || {
        wait_http_ok(port, "/readyz", "the daemon", Duration::from_secs(20));
        wait_http_ok(
            driver_port,
            "/status",
            "chromedriver",
            Duration::from_secs(20),
        );
    })
    .await
    .expect("wait for the servers");

    let caps: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(serde_json::json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900"],
            }
        }))
        .expect("capabilities");
    let c = ClientBuilder::rustls()
        .expect("rustls connector")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a chromedriver session");

    let result = scenario(&c, port, &site, &token).await;
    let _ = c.close().await;
    drop(procs);
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

/// The scenario proper; the caller closes the browser whatever happens.
async fn scenario(
    c: &Client,
    port: u16,
    site: &TestSite,
    token: &str,
) -> Result<(), Box<dyn std::any::Any + Send>> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(steps(c, port, site, token))
        .catch_unwind()
        .await
}

async fn steps(c: &Client, port: u16, site: &TestSite, token: &str) {
    let base = format!("http://127.0.0.1:{port}");
    let wait = Duration::from_secs(10);
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");

    // Without a session, pages send the visitor to the sign-in form.
    c.goto(&format!("{base}/watches/new")).await.expect("goto");
    let url = c.current_url().await.expect("url");
    assert_eq!(
        url.path(),
        "/login",
        "an anonymous visit goes to /login, got {url}"
    );

    // Sign in with the token.
    c.wait()
        .at_most(wait)
        .for_element(Locator::Css("input[name=token]"))
        .await
        .expect("the token field")
        .send_keys(token)
        .await
        .expect("type the token");
    c.find(Locator::Css("form[action='/login'] button[type=submit]"))
        .await
        .expect("the sign-in button")
        .click()
        .await
        .expect("sign in");
    c.wait()
        .at_most(wait)
        .for_element(Locator::Css("input[name=url]"))
        .await
        .expect("after signing in, the add-watch form (the `next` page)");

    // Add a watch, preview first.
    let page_url = site.url("/news/harbour.html");
    c.find(Locator::Css("input[name=name]"))
        .await
        .expect("name field")
        .send_keys("harbour")
        .await
        .expect("type name");
    c.find(Locator::Css("input[name=url]"))
        .await
        .expect("url field")
        .send_keys(&page_url)
        .await
        .expect("type url");
    c.find(Locator::Css("button[name=action][value=preview]"))
        .await
        .expect("the Preview button")
        .click()
        .await
        .expect("preview");
    reload_free_wait(c, "the preview's extracted text", wait, |s| {
        s.contains("inspected the cranes")
    })
    .await;
    assert!(
        c.find(Locator::XPath(&format!("//*[contains(text(), '{XSS}')]")))
            .await
            .is_ok(),
        "the preview shows the page title with its markup as text"
    );
    c.find(Locator::Css("button[name=action][value=save]"))
        .await
        .expect("the Save button")
        .click()
        .await
        .expect("save");

    // The watch page, until the first version is stored.
    let start = Instant::now();
    let watch_path = loop {
        let u = c.current_url().await.expect("url");
        let p = u.path().to_string();
        if p.starts_with("/watches/") && p != "/watches/new" {
            break p;
        }
        assert!(
            start.elapsed() < wait,
            "saving the watch should land on its page, still at {u}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    reload_until(
        c,
        "version #1 on the watch page",
        Duration::from_secs(15),
        |s| s.contains("Version #1"),
    )
    .await;

    // The page changes; check now; an `edited` event appears.
    site.set_html("/news/harbour.html", article(LEAD_V2));
    c.find(Locator::XPath("//button[normalize-space()='Check now']"))
        .await
        .expect("the Check now button")
        .click()
        .await
        .expect("check now");
    reload_until(
        c,
        "an `edited` event on the watch page",
        Duration::from_secs(15),
        |s| s.contains("ev-edited") && s.contains("Version #2"),
    )
    .await;

    // The dashboard.
    c.goto(&format!("{base}/")).await.expect("dashboard");
    reload_free_wait(c, "the watch on the dashboard", wait, |s| {
        s.contains("harbour")
    })
    .await;
    let png = screenshot(c, &artifacts, "dashboard.png").await;
    // The README's screenshots are refreshed on request only, so a test
    // run leaves the working tree clean.
    let docs = std::env::var_os("PALIMPSEST_UPDATE_SCREENSHOTS")
        .map(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots"));
    if let Some(docs) = &docs {
        std::fs::create_dir_all(docs).expect("docs/screenshots");
        std::fs::write(docs.join("dashboard.png"), &png)
            .expect("write docs/screenshots/dashboard.png");
    }

    // The diff, from the event's link.
    c.goto(&format!("{base}{watch_path}"))
        .await
        .expect("watch page");
    match c.find(Locator::Css("li.ev-edited a[href*='/diff']")).await {
        Ok(a) => a.click().await.expect("open the diff"),
        Err(_) => c
            .goto(&format!("{base}{watch_path}/diff?from=1&to=2"))
            .await
            .expect("open the diff"),
    }
    c.wait()
        .at_most(wait)
        .for_element(Locator::Css("del"))
        .await
        .expect("a <del> on the diff page");
    let dels = texts(c, "del").await;
    assert!(
        dels.iter().any(|t| t.contains("Kim")),
        "the removed word is in a <del>: {dels:?}"
    );
    assert!(
        c.find(Locator::XPath(&format!("//*[contains(text(), '{XSS}')]")))
            .await
            .is_ok(),
        "the diff page shows the page title with its markup as text"
    );

    // Side by side.
    match c.find(Locator::Css("a[href*='mode=side']")).await {
        Ok(a) => a.click().await.expect("switch to side by side"),
        Err(_) => {
            let u = c.current_url().await.expect("url");
            c.goto(&format!("{base}{}?from=1&to=2&mode=side", u.path()))
                .await
                .expect("side by side")
        }
    }
    let start = Instant::now();
    while !c
        .current_url()
        .await
        .expect("url")
        .as_str()
        .contains("mode=side")
    {
        assert!(start.elapsed() < wait, "the side-by-side view did not open");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dels = texts(c, "del").await;
    assert!(
        dels.iter().any(|t| t.contains("Kim")),
        "side by side, the removed word is in a <del> too: {dels:?}"
    );
    let png = screenshot(c, &artifacts, "diff.png").await;
    if let Some(docs) = &docs {
        std::fs::write(docs.join("diff.png"), &png).expect("write docs/screenshots/diff.png");
    }

    // Markup from the watched page is shown as text, never run.
    assert!(
        c.get_alert_text().await.is_err(),
        "no alert dialog may be open: a page title ran as script"
    );
}

/// Waits (without reloading: the page came from a POST) until `ready`.
async fn reload_free_wait(c: &Client, what: &str, timeout: Duration, ready: impl Fn(&str) -> bool) {
    let start = Instant::now();
    loop {
        let src = c.source().await.expect("page source");
        if ready(&src) {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "waited {timeout:?} for {what}; the page was:\n{}",
            src.chars().take(4000).collect::<String>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

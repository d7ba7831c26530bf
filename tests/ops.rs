//! Operating the daemon: SIGHUP reloads the config (validated first; an
//! invalid one leaves the old in force), and the systemd notify protocol
//! (`READY=1`, `RELOADING=1`, `STOPPING=1`) reaches `NOTIFY_SOCKET`. The
//! real binary runs against a test site and a fake notify socket, both on
//! this machine.

mod common;

use common::TestSite;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::UnixDatagram;

const BIN: &str = env!("CARGO_BIN_EXE_palimpsest");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn config(
    db: &std::path::Path,
    port: u16,
    site: &TestSite,
    watches: &[&str],
    extra: &str,
) -> String {
    let mut text = format!(
        "[storage]\npath = \"{}\"\n\n[fetch]\nallow_private_networks = true\n\n[schedule]\nstartup_spread = \"1s\"\nshutdown_grace = \"5s\"\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n",
        db.display()
    );
    for w in watches {
        text.push_str(&format!(
            "[[watch]]\nname = \"{w}\"\nurl = \"{}\"\ninterval = \"1h\"\n{extra}\n",
            site.url(&format!("/{w}.html"))
        ));
    }
    text
}

/// Waits for a datagram that contains `line`; returns the whole datagram.
async fn expect_notify(sock: &UnixDatagram, line: &str) -> String {
    let mut buf = vec![0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, sock.recv(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no `{line}` on NOTIFY_SOCKET within 20 s"))
            .expect("recv");
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        if msg.lines().any(|l| l == line) {
            return msg;
        }
    }
}

async fn watch_names(port: u16, token: &str) -> Vec<String> {
    let body = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/watches"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET watches")
        .text()
        .await
        .expect("body");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let mut names: Vec<String> = v["watches"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|w| w["name"].as_str().map(String::from))
        .collect();
    names.sort();
    names
}

/// Kills the daemon if the test fails before it stops it.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_valid_config_keeps_the_old_on_error_and_systemd_hears_of_it() {
    palimpsest::fetch::install_crypto_provider(); // for the reqwest client here
    let site = TestSite::start().await;
    for w in ["one", "two"] {
        site.set_html(&format!("/{w}.html"), format!("<html><body><article><p>Page {w} says something worth keeping.</p></article></body></html>"));
    }
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let path = dir.path().join("p.toml");
    let db = dir.path().join("p.db");
    std::fs::write(&path, config(&db, port, &site, &["one"], "")).expect("write");
    let out = Command::new(BIN)
        .args(["token", "create", "ops", "--config"])
        .arg(&path)
        .output()
        .expect("token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_string();

    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind the notify socket");
    let log_path = dir.path().join("daemon.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let mut daemon = Daemon(
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(&path)
            .env("NOTIFY_SOCKET", &sock_path)
            .stderr(Stdio::from(log))
            .spawn()
            .expect("daemon"),
    );
    let child = &mut daemon.0;

    expect_notify(&sock, "READY=1").await;
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    assert_eq!(watch_names(port, &token).await, ["one"]);

    // An invalid config: RELOADING=1, then READY=1 again, and the old stays.
    std::fs::write(
        &path,
        config(&db, port, &site, &["one", "two"], "kind = \"novel\"\n"),
    )
    .expect("write");
    signal(child.id(), "HUP");
    let reloading = expect_notify(&sock, "RELOADING=1").await;
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    expect_notify(&sock, "READY=1").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = std::fs::read_to_string(&log_path).expect("log");
    assert!(text.contains("the old one stays in force"), "{text}");
    assert!(
        text.contains("novel"),
        "the error names the bad value: {text}"
    );
    assert_eq!(watch_names(port, &token).await, ["one"]);

    // A valid config with one more watch: it is in force after READY=1.
    std::fs::write(&path, config(&db, port, &site, &["one", "two"], "")).expect("write");
    signal(child.id(), "HUP");
    expect_notify(&sock, "RELOADING=1").await;
    expect_notify(&sock, "READY=1").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while watch_names(port, &token).await != ["one", "two"] && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(watch_names(port, &token).await, ["one", "two"]);

    signal(child.id(), "TERM");
    expect_notify(&sock, "STOPPING=1").await;
    let status = child.wait().expect("wait");
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
}

#[test]
fn tokens_are_created_listed_and_revoked_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        format!(
            "[storage]\npath = \"{}\"\n",
            dir.path().join("p.db").display()
        ),
    )
    .expect("write");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(&path)
            .output()
            .expect("palimpsest")
    };
    let out = run(&["token", "create", "grafana", "--read-only"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).expect("utf8");
    assert!(token.trim().starts_with("pal_"), "{token}");

    let again = run(&["token", "create", "grafana"]);
    assert_eq!(again.status.code(), Some(1));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("a token named `grafana` exists"), "{err}");

    let list = run(&["token", "list", "--json"]);
    let text = String::from_utf8(list.stdout).expect("utf8");
    let row: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
    assert_eq!(row["name"], "grafana");
    assert_eq!(row["read_only"], true);
    assert!(!text.contains(token.trim()), "a token is never listed");

    assert!(run(&["token", "revoke", "grafana"]).status.success());
    let gone = run(&["token", "revoke", "grafana"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no token named `grafana`"));
}

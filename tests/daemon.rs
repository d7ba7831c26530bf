//! The binary and the daemon loop: config errors, the example config,
//! restart without a stampede, and kill -9 without losing a committed version.

mod common;

use common::*;
use palimpsest::config::Config;
use palimpsest::store::Store;
use sqlx::Row;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_palimpsest");

#[test]
fn config_errors_carry_line_and_column() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[fetch]\ntimeout = \"soon\"\n\n[[watch]]\nname = \"a\"\nurl = \"gopher://example.org/\"\ninterval = \"15m\"\n",
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    assert!(err.contains(&format!("{file}:2:11: `timeout`")), "{err}");
    assert!(
        err.contains(&format!(
            "{file}:6:7: `gopher://example.org/` uses the scheme `gopher`"
        )),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(err.contains("2 problems"), "{err}");

    // A syntax error stops parsing but still has its place.
    std::fs::write(&path, "[fetch]\ntimeout = 30s\n").expect("write");
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&path)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{file}:2:")), "{err}");
}

#[test]
fn example_config_parses_and_mentions_every_key() {
    let root = env!("CARGO_MANIFEST_DIR");
    let example = std::fs::read_to_string(format!("{root}/config.example.toml")).expect("example");
    let cfg = Config::load(std::path::Path::new(&format!("{root}/config.example.toml")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.watches.len(), 2);
    // Every field of the raw model is shown in the example.
    let raw = std::fs::read_to_string(format!("{root}/src/config/raw.rs")).expect("raw.rs");
    let mut missing = Vec::new();
    for line in raw.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("pub ") else {
            continue;
        };
        let Some((name, _)) = rest.split_once(':') else {
            continue;
        };
        if name.contains(' ') || name.contains('(') {
            continue;
        }
        let key = if name == "kind"
            && raw.contains("#[serde(rename = \"type\")]\n    pub kind")
            && !example.contains("kind =")
        {
            "type"
        } else {
            name
        };
        let shown = example.contains(&format!("\n{key} ="))
            || example.contains(&format!("[{key}]"))
            || example.contains(&format!("[[{key}]]"));
        if !shown {
            missing.push(key.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "config.example.toml does not show: {missing:?}"
    );
}

fn write_config(
    dir: &std::path::Path,
    site: &TestSite,
    n: usize,
    interval: &str,
    spread: &str,
) -> std::path::PathBuf {
    let mut text = format!(
        "[storage]\npath = \"{}\"\n\n[fetch]\nallow_private_networks = true\ntimeout = \"5s\"\nconcurrency = 16\nper_host = 16\n\n[schedule]\nstartup_spread = \"{spread}\"\nshutdown_grace = \"5s\"\n\n[server]\nlisten = \"127.0.0.1:0\"\n\n",
        dir.join("p.db").display()
    );
    for i in 0..n {
        text.push_str(&format!(
            "[[watch]]\nname = \"w{i}\"\nurl = \"{}\"\ninterval = \"{interval}\"\n\n",
            site.url(&format!("/p/{i}.html"))
        ));
    }
    let path = dir.join("p.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn set_pages(site: &TestSite, n: usize, rev: usize) {
    for i in 0..n {
        site.set_html(
            &format!("/p/{i}.html"),
            format!("<html><body><article><h1>Page {i}</h1><p>Revision {rev} of page {i}: the text that matters.</p></article></body></html>"),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_without_a_stampede() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let n = 40;
    set_pages(&site, n, 0);
    let path = write_config(dir.path(), &site, n, "1h", "6s");
    run_ok(&["run", "--once"], &path);

    // The schedule is persisted: every watch is due about an hour later, on its own phase.
    let cfg = Config::load(&path).expect("config");
    let store = open_store(&cfg).await;
    let dues: Vec<i64> = sqlx::query("SELECT next_due_at FROM watches")
        .fetch_all(store.pool())
        .await
        .expect("dues")
        .iter()
        .map(|r| r.try_get::<i64, _>(0).expect("due"))
        .collect();
    let now = palimpsest::model::now_millis();
    assert!(dues.iter().all(|d| *d > now + 1_700_000), "{dues:?}");
    let distinct: std::collections::HashSet<i64> = dues.iter().map(|d| d / 60_000).collect();
    assert!(
        distinct.len() > n / 2,
        "watches share few minutes: {distinct:?}"
    );

    // Make every watch long overdue (the daemon was down for days), then restart.
    sqlx::query("UPDATE watches SET next_due_at = ?")
        .bind(now - 3 * 86_400_000)
        .execute(store.pool())
        .await
        .expect("update");
    store.close().await;
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let early = site.state.lock().expect("lock").log.len();
    tokio::time::sleep(Duration::from_millis(6000)).await;
    let later = site.state.lock().expect("lock").log.len();
    // Graceful stop.
    send_signal(child.id(), "TERM");
    let status = child.wait().expect("wait");
    assert!(status.success(), "SIGTERM exits 0: {status:?}");

    let first_run = n; // requests of the --once run
    let early = early - first_run;
    let later = later - first_run;
    assert!(
        early < n * 3 / 4,
        "{early} of {n} overdue watches fired in the first 2.5 s of a 6 s spread"
    );
    assert_eq!(later, n, "every overdue watch ran exactly once");
}

/// Runs `palimpsest ARGS --config PATH`, which must succeed; returns stdout.
fn run_ok(args: &[&str], config: &std::path::Path) -> String {
    let out = Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run palimpsest");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Sends a signal with the shell's builtin `kill` (no extra package needed).
fn send_signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_committed_version() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let n = 60;
    set_pages(&site, n, 0);
    let path = write_config(dir.path(), &site, n, "1s", "1s");
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon");
    let cfg = Config::load(&path).expect("config");
    // Change every page again and again while the daemon records them.
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut rev = 0;
    while Instant::now() < deadline {
        rev += 1;
        set_pages(&site, n, rev);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // What a reader saw committed just before the kill.
    let store = open_store(&cfg).await;
    let seen: Vec<(i64, i64)> = sqlx::query("SELECT watch_id, seq FROM versions")
        .fetch_all(store.pool())
        .await
        .expect("versions")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    store.close().await;
    send_signal(child.id(), "KILL");
    let _ = child.wait();
    assert!(
        seen.len() > n,
        "the daemon made versions before the kill: {}",
        seen.len()
    );

    let store = open_store(&cfg).await;
    let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(store.pool())
        .await
        .expect("integrity");
    assert_eq!(ok, "ok");
    for (watch, seq) in &seen {
        let v = store
            .version(*watch, *seq)
            .await
            .expect("read")
            .unwrap_or_else(|| panic!("version {watch}/{seq} lost"));
        palimpsest::store::version_text(&store, &v.text_hash)
            .await
            .expect("its text is there");
    }
    store.close().await;
    // And the daemon starts again on the same database.
    run_ok(&["run", "--once"], &path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_lists_history_and_diff() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    set_pages(&site, 2, 0);
    let path = write_config(dir.path(), &site, 2, "1h", "1s");
    let run = |args: &[&str]| run_ok(args, &path);
    run(&["run", "--once"]);
    set_pages(&site, 2, 1);
    run(&["run", "--once"]);
    let watches = run(&["watches", "--json"]);
    let lines: Vec<serde_json::Value> = watches
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["url"], site.url("/p/0.html"));
    assert_eq!(lines[0]["versions"], 2);
    let history = run(&["history", "w0"]);
    assert!(history.contains("edited"), "{history}");
    let diff = run(&["diff", "w0", "--color", "never"]);
    assert!(diff.contains("-Revision 0 of page 0"), "{diff}");
    assert!(diff.contains("+Revision 1 of page 0"), "{diff}");
    let j = run(&["history", "w0", "--json"]);
    assert!(
        j.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    // A missing watch is a clear error.
    let out = Command::new(BIN)
        .args(["history", "nope", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no watch named `nope`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_have_one_span_per_check() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    set_pages(&site, 3, 0);
    let path = write_config(dir.path(), &site, 3, "1h", "1s");
    let out = Command::new(BIN)
        .args([
            "--log-format",
            "json",
            "--log-level",
            "debug",
            "run",
            "--once",
            "--config",
        ])
        .arg(&path)
        .output()
        .expect("run");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let firsts: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["message"] == "first version")
        .collect();
    assert_eq!(firsts.len(), 3, "{stderr}");
    for l in firsts {
        assert_eq!(l["span"]["name"], "check", "{l}");
        assert!(
            l["span"]["watch"]
                .as_str()
                .is_some_and(|w| w.starts_with('w')),
            "{l}"
        );
        assert!(
            l["span"]["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("http://127.0.0.1")),
            "{l}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let site = TestSite::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut slow = Page::html("<p>slow</p>".repeat(100));
    slow.drip = true;
    site.set("/p/0.html", slow);
    let path = write_config(dir.path(), &site, 1, "1h", "1s");
    // A long timeout and grace: only the second signal can make it quick.
    let text = std::fs::read_to_string(&path)
        .expect("read")
        .replace("timeout = \"5s\"", "timeout = \"300s\"")
        .replace("shutdown_grace = \"5s\"", "shutdown_grace = \"300s\"");
    std::fs::write(&path, text).expect("write");
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon");
    // Wait until the slow check is running.
    let deadline = Instant::now() + Duration::from_secs(20);
    while site.requests("/p/0.html").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!site.requests("/p/0.html").is_empty(), "the check started");
    send_signal(child.id(), "TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        child.try_wait().expect("wait").is_none(),
        "the first signal waits for the running check"
    );
    let t = Instant::now();
    send_signal(child.id(), "TERM");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    assert!(t.elapsed() < Duration::from_secs(60));
}

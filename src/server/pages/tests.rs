use super::*;
use crate::detect::diff::diff;
use crate::model::EventKind;
use crate::store::{CheckInfo, DeliveryInfo, EventInfo, VersionInfo, WatchSummary};
use serde_json::json;

const EVIL: &str = "<script>alert(1)</script>\"'&x";
const EVIL_ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;'&amp;x";
/// 2026-01-30 10:00 UTC.
const T0: i64 = 1_769_767_200_000;
const HOUR: i64 = 3_600_000;

fn nav() -> Nav {
    Nav {
        csrf: "csrf-token-123".into(),
    }
}

fn summary(name: &str, url: &str) -> WatchSummary {
    WatchSummary {
        id: 7,
        name: name.into(),
        url: url.into(),
        kind: "page".into(),
        tags: vec!["dprk".into(), "media".into()],
        active: true,
        paused: false,
        status: "ok".into(),
        failure_streak: 0,
        versions: 2,
        last_check_at: Some(T0 + 2 * HOUR),
        last_status: Some(200),
        last_error: None,
        last_change_at: Some(T0 + HOUR),
        next_due_at: Some(T0 + 3 * HOUR),
    }
}

fn version(seq: i64, at: i64, title: &str) -> VersionInfo {
    VersionInfo {
        id: seq * 10,
        watch_id: 7,
        seq,
        created_at: at,
        text_hash: [0; 32],
        body_hash: [0; 32],
        title: Some(title.into()),
        http_status: 200,
        final_url: "https://example.org/a".into(),
        media_type: "text/html".into(),
        encoding: None,
    }
}

fn event(id: i64, kind: EventKind, at: i64, data: serde_json::Value) -> EventInfo {
    EventInfo {
        id,
        watch_id: 7,
        kind,
        created_at: at,
        version_seq: None,
        prev_version_seq: None,
        data,
    }
}

fn check(id: i64, at: i64, outcome: &str, error: Option<&str>) -> CheckInfo {
    CheckInfo {
        id,
        started_at: at,
        duration_ms: 350,
        outcome: outcome.into(),
        http_status: Some(200),
        error_class: error.map(|_| "timeout".to_string()),
        error: error.map(str::to_string),
        bytes: 20_480,
        final_url: None,
        redirects: Vec::new(),
    }
}

fn delivery(id: i64, status: &str, error: Option<&str>) -> DeliveryInfo {
    DeliveryInfo {
        id,
        message_id: Some(format!("msg_{id}")),
        channel: "newsroom".into(),
        watch: "kcna-front".into(),
        event_id: 40 + id,
        event_kind: "deleted".into(),
        digest: "off".into(),
        status: status.into(),
        attempts: 3,
        created_at: T0,
        next_attempt_at: T0 + HOUR,
        last_attempt_at: Some(T0),
        last_error: error.map(str::to_string),
        delivered_at: None,
    }
}

fn watch_row(name: &str, url: &str, read_only: bool) -> WatchRow {
    WatchRow {
        summary: summary(name, url),
        read_only,
    }
}

/// Every page, rendered from data that carries `s` wherever a user,
/// a config file or a watched page can put a string.
fn every_page(s: &str) -> Vec<(&'static str, String)> {
    let nav = nav();
    let url = format!("https://example.org/?q={s}");
    let mut w = summary(s, &url);
    w.tags = vec![s.to_string()];
    w.last_error = Some(s.to_string());
    w.status = "unreachable".into();
    let versions = [version(1, T0, s), version(2, T0 + HOUR, s)];
    let events = [
        event(
            1,
            EventKind::Edited,
            T0 + HOUR,
            json!({"from_version": 1, "to_version": 2, "title": s,
                   "stats": {"lines_added": 1, "lines_removed": 1, "words_added": 1, "words_removed": 1},
                   "removed": [s], "added": [s], "terms_removed": [s], "boring": s}),
        ),
        event(
            2,
            EventKind::Deleted,
            T0 + 2 * HOUR,
            json!({"how": s, "target": url, "reason": s, "title": s, "incident": s}),
        ),
        event(
            3,
            EventKind::ItemAdded,
            T0 + 2 * HOUR,
            json!({"item": {"url": url, "title": s, "date": s}, "listing_title": s}),
        ),
        event(
            4,
            EventKind::Incident,
            T0 + 2 * HOUR,
            json!({"host": s, "deleted": 9, "examples": [url, s]}),
        ),
        event(
            5,
            EventKind::Unreachable,
            T0 + 2 * HOUR,
            json!({"error": s, "since": s}),
        ),
    ];
    let checks = [check(1, T0, "failed", Some(s))];
    let old = format!("first line\n{s} old\nlast line");
    let new = format!("first line\n{s} new\nlast line");
    let d = diff(&old, &new);
    let form = WatchForm {
        name: s.into(),
        url: url.clone(),
        kind: "page".into(),
        interval: s.into(),
        tags: s.into(),
        select: s.into(),
        exclude: s.into(),
        ignore: s.into(),
        terms: s.into(),
        csrf: String::new(),
        action: "preview".into(),
    };
    let preview = Preview {
        title: Some(s.into()),
        lines: vec![s.into()],
        status: 200,
        final_url: url.clone(),
        error: None,
    };
    let failed_preview = Preview {
        error: Some(s.into()),
        ..preview.clone()
    };
    let channels = [ChannelRow {
        name: s.into(),
        kind: "webhook".into(),
        target: s.into(),
        read_only: false,
        disabled: Some(s.into()),
    }];
    let subs = [SubscriptionRow {
        id: 3,
        channel: s.into(),
        watches: s.into(),
        kinds: vec![s.into()],
        digest: s.into(),
        read_only: false,
        unsubscribed: true,
    }];
    let mut delivery = delivery(1, "failed", Some(s));
    delivery.channel = s.into();
    delivery.watch = s.into();
    let rows = [watch_row(s, &url, false)];
    let tags = [s.to_string()];
    let errors = [s.to_string()];
    vec![
        (
            "layout",
            layout(s, Some(&nav), maud::html! { p { (s) } }).into_string(),
        ),
        ("login", login(Some(s), s).into_string()),
        (
            "dashboard",
            dashboard(&nav, &rows, &tags, Some(s)).into_string(),
        ),
        (
            "dashboard-all",
            dashboard(&nav, &rows, &tags, None).into_string(),
        ),
        (
            "watch",
            watch_page(&nav, &w, false, &versions, &events, &checks).into_string(),
        ),
        (
            "diff-inline",
            diff_page(
                &nav,
                &w,
                &versions[0],
                &versions[1],
                &d,
                DiffMode::Inline,
                &versions,
                &old,
                &new,
            )
            .into_string(),
        ),
        (
            "diff-side",
            diff_page(
                &nav,
                &w,
                &versions[0],
                &versions[1],
                &d,
                DiffMode::SideBySide,
                &versions,
                &old,
                &new,
            )
            .into_string(),
        ),
        (
            "add",
            add_watch(&nav, &form, Some(&preview), &errors).into_string(),
        ),
        (
            "add-failed",
            add_watch(&nav, &form, Some(&failed_preview), &errors).into_string(),
        ),
        (
            "channels",
            channels_page(&nav, &channels, &subs, &errors).into_string(),
        ),
        (
            "deliveries",
            deliveries_page(&nav, std::slice::from_ref(&delivery), None).into_string(),
        ),
        (
            "deliveries-filtered",
            deliveries_page(&nav, &[delivery], Some(s)).into_string(),
        ),
        ("unsubscribe", unsubscribe_confirm(s, false).into_string()),
        ("unsubscribed", unsubscribe_confirm(s, true).into_string()),
        ("not-found", not_found(Some(&nav), s).into_string()),
        ("error", error_page(None, 500, s).into_string()),
    ]
}

/// Breaks a one-line document at its tags, for readable snapshots.
fn pretty(html: &str) -> String {
    html.replace("><", ">\n<")
}

#[test]
fn every_page_is_a_full_document() {
    for (name, html) in every_page("plain") {
        assert!(
            html.starts_with("<!DOCTYPE html><html lang=\"en\">"),
            "{name}"
        );
        assert!(html.contains("<meta charset=\"utf-8\">"), "{name}");
        assert!(html.contains("<meta name=\"viewport\""), "{name}");
        assert!(html.contains("<title>"), "{name}");
        assert!(
            html.contains("<link rel=\"stylesheet\" href=\"/static/style.css\">"),
            "{name}"
        );
        assert!(html.ends_with("</html>"), "{name}");
    }
}

#[test]
fn user_strings_appear_only_escaped() {
    for (name, html) in every_page(EVIL) {
        assert!(!html.contains("<script"), "{name}: raw <script");
        assert!(!html.contains(EVIL), "{name}: raw string");
        assert!(!html.contains("\"'&x"), "{name}: raw quote or ampersand");
        assert!(
            html.contains(EVIL_ESCAPED),
            "{name}: the escaped string is missing"
        );
    }
}

#[test]
fn pages_fit_a_strict_csp() {
    for (name, html) in every_page(EVIL).into_iter().chain(every_page("plain")) {
        let lower = html.to_ascii_lowercase();
        for bad in [
            "<script",
            " style=",
            "<style",
            "onclick",
            " onload",
            "javascript:",
        ] {
            assert!(!lower.contains(bad), "{name} contains {bad}");
        }
    }
    for bad in ["url(", "@import", "expression("] {
        assert!(
            !STYLE_CSS.contains(bad),
            "the stylesheet loads or runs {bad}"
        );
    }
}

#[test]
fn only_http_urls_become_links() {
    let rows = [watch_row("x", "javascript:alert(1)", false)];
    let html = dashboard(&nav(), &rows, &[], None).into_string();
    assert!(!html.contains("href=\"javascript:"));
    assert!(html.contains("<span class=\"url\">javascript:alert(1)</span>"));
    let rows = [watch_row("x", "HTTPS://example.org/a", false)];
    let html = dashboard(&nav(), &rows, &[], None).into_string();
    assert!(html.contains(
        "<a class=\"url\" href=\"HTTPS://example.org/a\" rel=\"noopener noreferrer nofollow\">"
    ));
}

#[test]
fn nav_shows_links_and_a_logout_form_only_when_signed_in() {
    let html = layout("T", Some(&nav()), maud::html! {}).into_string();
    for link in [
        "href=\"/\"",
        "href=\"/watches/new\"",
        "href=\"/channels\"",
        "href=\"/deliveries\"",
    ] {
        assert!(html.contains(link), "{link}");
    }
    assert!(html.contains(
        "<form class=\"logout\" method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"csrf-token-123\">"
    ));
    let html = layout("T", None, maud::html! {}).into_string();
    assert!(!html.contains("/logout"));
    assert!(!html.contains("/deliveries"));
}

#[test]
fn login_form() {
    let html = login(Some("Unknown token"), "/watches/3?x=1&y=2").into_string();
    assert!(html.contains("action=\"/login\""));
    assert!(html.contains("<label for=\"token\">API token</label>"));
    assert!(html.contains("type=\"password\" name=\"token\""));
    assert!(html.contains("name=\"next\" value=\"/watches/3?x=1&amp;y=2\""));
    assert!(html.contains("palimpsest token create NAME"));
    assert!(html.contains("Unknown token"));
}

fn inline_example(old: &str, new: &str) -> String {
    let w = summary("kcna", "https://example.org/a");
    let (a, b) = (version(1, T0, "A"), version(2, T0 + HOUR, "B"));
    let d = diff(old, new);
    diff_page(
        &nav(),
        &w,
        &a,
        &b,
        &d,
        DiffMode::Inline,
        &[a.clone(), b.clone()],
        old,
        new,
    )
    .into_string()
}

fn side_example(old: &str, new: &str) -> String {
    let w = summary("kcna", "https://example.org/a");
    let (a, b) = (version(1, T0, "A"), version(2, T0 + HOUR, "B"));
    let d = diff(old, new);
    diff_page(
        &nav(),
        &w,
        &a,
        &b,
        &d,
        DiffMode::SideBySide,
        &[a.clone(), b.clone()],
        old,
        new,
    )
    .into_string()
}

fn marks(html: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    html.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split(&close).next().map(str::to_string))
        .collect()
}

#[test]
fn changed_words_are_marked_exactly() {
    let (old, new) = (
        "The minister Kim visited the farm.",
        "The minister visited the farm.",
    );
    for html in [inline_example(old, new), side_example(old, new)] {
        assert_eq!(marks(&html, "del"), vec!["Kim"]);
        assert!(marks(&html, "ins").is_empty());
        assert!(html.contains("The minister <del>Kim</del> visited the farm."));
        assert!(html.contains("The minister visited the farm."));
    }
    let (old, new) = (
        "Title\nKim Jong Un met Jang Song Thaek today.\nEnd",
        "Title\nKim Jong Un met the delegation today.\nEnd",
    );
    for html in [inline_example(old, new), side_example(old, new)] {
        assert_eq!(marks(&html, "del"), vec!["Jang Song Thaek"]);
        assert_eq!(marks(&html, "ins"), vec!["the delegation"]);
    }
    let html = inline_example(old, new);
    assert!(html.contains(
        "<tr class=\"del\"><td class=\"num\">2</td><td class=\"num\"></td><td class=\"sign\">−</td>"
    ));
    assert!(html.contains(
        "<tr class=\"ins\"><td class=\"num\"></td><td class=\"num\">2</td><td class=\"sign\">+</td>"
    ));
    let side = side_example(old, new);
    assert!(side.contains(
        "<tr class=\"change\"><td class=\"num del\">2</td><td class=\"text del\">Kim Jong Un met <del>Jang Song Thaek</del> today.</td><td class=\"num ins\">2</td><td class=\"text ins\">Kim Jong Un met <ins>the delegation</ins> today.</td></tr>"
    ));
}

#[test]
fn whole_line_changes_are_rows_without_word_marks() {
    let html = inline_example("a\nb\nc", "a\nc\nd");
    assert!(marks(&html, "del").is_empty());
    assert!(marks(&html, "ins").is_empty());
    assert!(html.contains("<tr class=\"del\"><td class=\"num\">2</td><td class=\"num\"></td><td class=\"sign\">−</td><td class=\"text\">b</td></tr>"));
    assert!(html.contains("<tr class=\"ins\"><td class=\"num\"></td><td class=\"num\">3</td><td class=\"sign\">+</td><td class=\"text\">d</td></tr>"));
}

fn numbered(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("line {i}")).collect()
}

#[test]
fn long_equal_runs_fold_with_three_lines_of_context() {
    let old = numbered(40);
    let mut new = old.clone();
    new[14] = "line 15 changed".into();
    new[29] = "line 30 changed".into();
    let (old, new) = (old.join("\n"), new.join("\n"));
    let html = inline_example(&old, &new);
    // Lines 1–11 folded, 12–14 shown, 15 changed, 16–18 and 27–29 shown
    // around the 8 folded between, 30 changed, 31–33 shown, 34–40 folded.
    assert!(html.contains("… 11 unchanged lines …"), "{}", pretty(&html));
    assert!(html.contains("… 8 unchanged lines …"));
    assert!(html.contains("… 7 unchanged lines …"));
    for shown in [12, 13, 14, 16, 17, 18, 27, 28, 29, 31, 32, 33] {
        assert!(
            html.contains(&format!("<tr class=\"eq\"><td class=\"num\">{shown}</td><td class=\"num\">{shown}</td><td class=\"sign\"></td><td class=\"text\">line {shown}</td></tr>")),
            "line {shown}"
        );
    }
    for hidden in [11, 19, 26, 34] {
        assert!(!html.contains(&format!(">line {hidden}<")), "line {hidden}");
    }
    let side = side_example(&old, &new);
    assert!(side.contains("… 11 unchanged lines …"));
    assert!(side.contains("<td class=\"num\">14</td><td class=\"text\">line 14</td><td class=\"num\">14</td><td class=\"text\">line 14</td>"));
}

#[test]
fn one_hidden_line_is_shown_not_folded() {
    // Seven equal lines between two changes: 3 + 1 + 3.
    let old = numbered(12);
    let mut new = old.clone();
    new[1] = "two".into();
    new[9] = "ten".into();
    let html = inline_example(&old.join("\n"), &new.join("\n"));
    assert!(!html.contains("unchanged line"), "{}", pretty(&html));
    assert!(html.contains(">line 6<"));
}

#[test]
fn line_numbers_follow_insertions_and_deletions() {
    let old = numbered(20).join("\n");
    let mut new = numbered(20);
    new.insert(5, "inserted".into());
    new.remove(15);
    let html = inline_example(&old, &new.join("\n"));
    assert!(html.contains("<tr class=\"ins\"><td class=\"num\"></td><td class=\"num\">6</td><td class=\"sign\">+</td><td class=\"text\">inserted</td></tr>"));
    // Old line 15 was removed; its neighbours keep their numbers, shifted by one in the new text.
    assert!(html.contains("<tr class=\"del\"><td class=\"num\">15</td><td class=\"num\"></td>"));
    assert!(html.contains("<td class=\"num\">14</td><td class=\"num\">15</td><td class=\"sign\"></td><td class=\"text\">line 14</td>"));
    assert!(html.contains("<td class=\"num\">16</td><td class=\"num\">16</td><td class=\"sign\"></td><td class=\"text\">line 16</td>"));
}

#[test]
fn without_texts_the_gaps_are_still_counted() {
    let old = numbered(30).join("\n");
    let mut new = numbered(30);
    new[14] = "changed".into();
    let d = diff(&old, &new.join("\n"));
    let w = summary("kcna", "https://example.org/a");
    let (a, b) = (version(1, T0, "A"), version(2, T0 + HOUR, "B"));
    let html = diff_page(&nav(), &w, &a, &b, &d, DiffMode::Inline, &[], "", "").into_string();
    // The hunk starts at line 13 (two lines of context): 12 lines before it.
    assert!(html.contains("… 12 unchanged lines …"), "{}", pretty(&html));
    assert!(html.contains(">line 13<"));
}

#[test]
fn same_texts_say_so() {
    let html = inline_example("a\nb", "a\nb");
    assert!(html.contains("The texts of these two versions are the same."));
    assert!(!html.contains("<table class=\"diff"));
}

#[test]
fn diff_controls() {
    let w = summary("kcna", "https://example.org/a");
    let vs: Vec<VersionInfo> = (1..=4).map(|i| version(i, T0 + i * HOUR, "t")).collect();
    let d = diff("a", "b");
    let html = diff_page(
        &nav(),
        &w,
        &vs[1],
        &vs[3],
        &d,
        DiffMode::SideBySide,
        &vs,
        "a",
        "b",
    )
    .into_string();
    assert!(html.contains("<form class=\"picker\" method=\"get\" action=\"/watches/7/diff\">"));
    assert!(html.contains("<option value=\"2\" selected>#2 · "));
    assert!(html.contains("<option value=\"4\" selected>#4 · "));
    assert!(html.contains("<input type=\"hidden\" name=\"mode\" value=\"side\">"));
    assert!(html.contains("href=\"/watches/7/diff?from=2&amp;to=4&amp;mode=inline\""));
    assert!(html.contains("<a class=\"current\" href=\"/watches/7/diff?from=2&amp;to=4&amp;mode=side\" aria-current=\"page\">Side by side</a>"));
    assert_eq!(DiffMode::parse("side"), DiffMode::SideBySide);
    assert_eq!(DiffMode::parse("anything"), DiffMode::Inline);
    let m: DiffMode = serde_json::from_str("\"side\"").unwrap();
    assert_eq!(m, DiffMode::SideBySide);
}

#[test]
fn watch_page_timeline_and_actions() {
    let w = summary("kcna-front", "https://example.org/a");
    let versions = [version(1, T0, "One"), version(2, T0 + HOUR, "Two")];
    let mut edited = event(
        1,
        EventKind::Edited,
        T0 + HOUR,
        json!({"stats": {"lines_added": 1, "lines_removed": 1, "words_added": 2, "words_removed": 3},
               "removed": ["Jang Song Thaek"], "added": ["the delegation"]}),
    );
    edited.version_seq = Some(2);
    edited.prev_version_seq = Some(1);
    let events = [
        edited,
        event(
            2,
            EventKind::Deleted,
            T0 + 2 * HOUR,
            json!({"how": "404", "http_status": 404}),
        ),
        event(
            3,
            EventKind::Restored,
            T0 + 3 * HOUR,
            json!({"unchanged": true}),
        ),
        event(
            4,
            EventKind::ItemRemoved,
            T0 + 3 * HOUR,
            json!("not an object"),
        ),
        event(
            5,
            EventKind::Edited,
            T0 + 3 * HOUR,
            json!({"stats": "broken", "removed": [1, null]}),
        ),
    ];
    let checks = [
        check(1, T0, "new_version", None),
        check(2, T0 + HOUR, "failed", Some("timed out")),
    ];
    let html = watch_page(&nav(), &w, false, &versions, &events, &checks).into_string();
    for action in ["check", "pause", "delete"] {
        assert!(
            html.contains(&format!("action=\"/watches/7/{action}\"><input type=\"hidden\" name=\"csrf\" value=\"csrf-token-123\">")),
            "{action}"
        );
    }
    assert!(!html.contains("/resume"));
    assert!(html.contains("<li class=\"entry event ev-deleted\">"));
    assert!(html.contains("<li class=\"entry event ev-restored\">"));
    assert!(html.contains("The page answers 404 Not Found. (HTTP 404)"));
    assert!(html.contains("<del>Jang Song Thaek</del>"));
    assert!(html.contains("<ins>the delegation</ins>"));
    assert!(html.contains("−3 words"));
    assert!(html.contains("href=\"/watches/7/diff?from=1&amp;to=2\">diff with previous</a>"));
    assert!(html.contains("href=\"/watches/7/diff?from=1&amp;to=2\">diff #1 → #2</a>"));
    assert!(html.contains("timed out"));
    assert!(html.contains("20.0 KB"));
    // Newest first: the restore comes before the deletion, which comes before version 2.
    let pos = |s: &str| html.find(s).unwrap_or(usize::MAX);
    assert!(pos("ev-restored") < pos("ev-deleted"));
    assert!(pos("ev-deleted") < pos("Version #2"));
    assert!(pos("ev-edited") < pos("Version #2"));
    assert!(pos("Version #2") < pos("Version #1"));

    let mut paused = w.clone();
    paused.paused = true;
    let html = watch_page(&nav(), &paused, false, &[], &[], &[]).into_string();
    assert!(html.contains("action=\"/watches/7/resume\""));
    assert!(html.contains("<span class=\"badge paused\">paused</span>"));

    let html = watch_page(&nav(), &w, true, &[], &[], &[]).into_string();
    assert!(html.contains("action=\"/watches/7/check\""));
    assert!(!html.contains("/pause"));
    assert!(!html.contains("/delete"));
    assert!(
        html.contains("defined in the config file (read-only)")
            || html.contains("Defined in the config file (read-only)")
    );
}

#[test]
fn dashboard_rows_and_filter() {
    let mut deleted = watch_row("gone", "https://example.org/gone", true);
    deleted.summary.id = 8;
    deleted.summary.status = "deleted".into();
    deleted.summary.failure_streak = 4;
    deleted.summary.last_error = Some("HTTP 404".into());
    deleted.summary.tags = vec!["other".into()];
    let rows = [
        watch_row("kcna-front", "https://example.org/a", false),
        deleted,
    ];
    let tags = ["dprk".to_string(), "media".to_string(), "other".to_string()];
    let html = dashboard(&nav(), &rows, &tags, None).into_string();
    assert!(html.contains("<a href=\"/watches/7\">kcna-front</a>"));
    assert!(html.contains("<a href=\"/watches/8\">gone</a>"));
    assert!(html.contains("<span class=\"badge deleted\">deleted</span>"));
    assert!(html.contains("<span class=\"streak\">4</span>"));
    assert!(html.contains("<form class=\"inline\" method=\"get\" action=\"/\">"));
    assert!(html.contains("<a class=\"tag\" href=\"/?tag=dprk\">dprk</a>"));
    let html = dashboard(&nav(), &rows, &tags, Some("other")).into_string();
    assert!(!html.contains("kcna-front"));
    assert!(html.contains("<option value=\"other\" selected>other</option>"));
    let html = dashboard(&nav(), &rows, &["a b&c".to_string()], None).into_string();
    assert!(html.contains("href=\"/?tag=a+b%26c\""));
    let html = dashboard(&nav(), &[], &[], None).into_string();
    assert!(html.contains("Nothing is watched yet."));
}

#[test]
fn add_watch_form_and_preview() {
    let form = WatchForm {
        kind: "listing".into(),
        ignore: "^Updated".into(),
        ..WatchForm::default()
    };
    let preview = Preview {
        title: Some("Front page".into()),
        lines: vec!["First line".into(), "Second line".into()],
        status: 200,
        final_url: "https://example.org/final".into(),
        error: None,
    };
    let html = add_watch(&nav(), &form, Some(&preview), &[]).into_string();
    assert!(html.contains("method=\"post\" action=\"/watches/new\"><input type=\"hidden\" name=\"csrf\" value=\"csrf-token-123\">"));
    assert!(html.contains("<button type=\"submit\" name=\"action\" value=\"preview\">"));
    assert!(html.contains("name=\"action\" value=\"save\""));
    assert!(html.contains("value=\"listing\" checked"));
    assert!(html.contains("<details class=\"advanced\" open>"));
    assert!(html.contains("<li>First line</li><li>Second line</li>"));
    assert!(html.contains("Front page"));
    assert!(!html.contains("class=\"errors\""));
    let failed = Preview {
        error: Some("connection refused".into()),
        ..Preview::default()
    };
    let html = add_watch(
        &nav(),
        &WatchForm::default(),
        Some(&failed),
        &["URL is required".into()],
    )
    .into_string();
    assert!(
        html.contains("The preview failed: <span class=\"error-text\">connection refused</span>")
    );
    assert!(html.contains("<li>URL is required</li>"));
    assert!(html.contains("value=\"page\" checked"));
}

#[test]
fn channels_forms() {
    let channels = [
        ChannelRow {
            name: "news room".into(),
            kind: "webhook".into(),
            target: "https://hooks.example.org/***".into(),
            read_only: false,
            disabled: None,
        },
        ChannelRow {
            name: "desk".into(),
            kind: "email".into(),
            target: "desk@example.org".into(),
            read_only: true,
            disabled: None,
        },
    ];
    let subs = [
        SubscriptionRow {
            id: 3,
            channel: "news room".into(),
            watches: "tag:dprk".into(),
            kinds: vec!["deleted".into()],
            digest: "off".into(),
            read_only: false,
            unsubscribed: false,
        },
        SubscriptionRow {
            id: 4,
            channel: "desk".into(),
            watches: "*".into(),
            kinds: vec!["edited".into()],
            digest: "daily".into(),
            read_only: true,
            unsubscribed: false,
        },
    ];
    let html = channels_page(&nav(), &channels, &subs, &[]).into_string();
    assert!(html.contains("action=\"/channels/news%20room/delete\""));
    assert!(!html.contains("/channels/desk/delete"));
    assert!(html.contains("action=\"/subscriptions/3/delete\""));
    assert!(!html.contains("/subscriptions/4/delete"));
    assert!(html.contains(
        "<input id=\"wh-secret\" type=\"password\" name=\"secret\" autocomplete=\"new-password\""
    ));
    assert!(!html.contains("name=\"secret\" value"));
    for format in ["standard", "slack", "discord", "ntfy"] {
        assert!(
            html.contains(&format!("<option value=\"{format}\"")),
            "{format}"
        );
    }
    for k in EventKind::ALL {
        assert!(
            html.contains(&format!("name=\"kinds\" value=\"{}\"", k.as_str())),
            "{k}"
        );
    }
    assert!(html.contains("name=\"kinds\" value=\"deleted\" checked"));
    assert!(!html.contains("name=\"kinds\" value=\"first_seen\" checked"));
    for digest in ["off", "hourly", "daily"] {
        assert!(
            html.contains(&format!("<option value=\"{digest}\"")),
            "{digest}"
        );
    }
    // Log out, one channel and one subscription to delete, three forms.
    assert_eq!(html.matches("name=\"csrf\"").count(), 1 + 1 + 1 + 3);
    let disabled = [ChannelRow {
        disabled: Some("HTTP 410".into()),
        ..channels[0].clone()
    }];
    let html = channels_page(&nav(), &disabled, &[], &[]).into_string();
    assert!(html.contains("Add a channel first"));
    assert!(!html.contains("action=\"/subscriptions\""));
}

#[test]
fn deliveries_retry_and_filter() {
    let long = "x".repeat(3000);
    let rows = [
        delivery(1, "failed", Some(&long)),
        delivery(2, "pending", None),
        delivery(3, "delivered", None),
    ];
    let html = deliveries_page(&nav(), &rows, None).into_string();
    assert!(html.contains("action=\"/deliveries/1/retry\""));
    assert!(!html.contains("/deliveries/2/retry"));
    assert_eq!(html.matches("<tr>").count(), 1 + 3);
    let html = deliveries_page(&nav(), &rows, Some("failed")).into_string();
    assert_eq!(html.matches("<tr>").count(), 1 + 1);
    assert!(html.contains("action=\"/deliveries/1/retry\"><input type=\"hidden\" name=\"csrf\""));
    assert!(!html.contains("/deliveries/2/retry"));
    assert!(!html.contains("/deliveries/3/retry"));
    assert!(html.contains(&long));
    assert!(html.contains(
        "<a class=\"current\" href=\"/deliveries?status=failed\" aria-current=\"page\">failed</a>"
    ));
    assert!(html.contains("<a href=\"/deliveries\">all</a>"));
}

#[test]
fn unsubscribe_is_one_click() {
    let html = unsubscribe_confirm("desk", false).into_string();
    assert!(html.contains("Unsubscribe <strong>desk</strong> from these alerts?"));
    assert!(html.contains("<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"));
    assert!(!html.contains("csrf"));
    assert!(!html.contains("/logout"));
    let html = unsubscribe_confirm("desk", true).into_string();
    assert!(html.contains("You are unsubscribed"));
    assert!(!html.contains("<form method=\"post\">"));
}

#[test]
fn error_pages() {
    let html = error_page(None, 503, "The database is busy.").into_string();
    assert!(html.contains("<h1>503 Service Unavailable</h1>"));
    assert!(html.contains("The database is busy."));
    let html = error_page(Some(&nav()), 999, "odd").into_string();
    assert!(html.contains("<h1>999 Error</h1>"));
    let html = not_found(None, "Watch 12").into_string();
    assert!(html.contains("Watch 12 was not found."));
}

#[test]
fn helpers() {
    assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
    assert_eq!(format_time(T0), "2026-01-30 10:00 UTC");
    assert_eq!(path_segment("a b/ç"), "a%20b%2F%C3%A7");
    assert_eq!(shorten("abcdef", 3), "abc…");
    assert_eq!(shorten("abc", 3), "abc");
    assert!(linkable("http://x") && linkable(" https://x"));
    assert!(!linkable("javascript:alert(1)") && !linkable("data:text/html,x") && !linkable("ht"));
    assert!(STYLE_CSS.contains("del"));
}

#[test]
fn snapshot_inline_diff() {
    let old = "Pyongyang, January 30 (KCNA)\nThe minister Kim visited the farm.\nHe praised the workers.\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\nThe harvest was good.";
    let new = "Pyongyang, January 30 (KCNA)\nThe minister visited the farm.\nHe praised the workers.\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\nThe harvest was very good.\nA new paragraph.";
    insta::assert_snapshot!("inline_diff_page", pretty(&inline_example(old, new)));
}

#[test]
fn snapshot_dashboard() {
    let mut second = watch_row(
        "rodong-editorial",
        "https://example.org/rodong?id=1&lang=en",
        true,
    );
    second.summary.id = 9;
    second.summary.status = "unreachable".into();
    second.summary.failure_streak = 5;
    second.summary.last_status = None;
    second.summary.last_error = Some("connection timed out after 30 s".into());
    second.summary.tags = vec!["media".into()];
    second.summary.last_change_at = None;
    let mut third = watch_row("ministry-notices", "https://example.org/notices", false);
    third.summary.id = 10;
    third.summary.paused = true;
    third.summary.tags = Vec::new();
    let rows = [
        watch_row("kcna-front", "https://example.org/a", false),
        second,
        third,
    ];
    let tags = ["dprk".to_string(), "media".to_string()];
    insta::assert_snapshot!(
        "dashboard",
        pretty(&dashboard(&nav(), &rows, &tags, None).into_string())
    );
}

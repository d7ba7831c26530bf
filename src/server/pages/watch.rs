//! One watch: its header, actions, timeline of versions and events, and
//! recent checks.

use super::{
    Nav, csrf_field, external, layout, plural, post_button, query_value, status_badge, time,
    time_opt,
};
use crate::model::EventKind;
use crate::store::{CheckInfo, EventInfo, VersionInfo, WatchSummary};
use maud::{Markup, html};
use serde_json::Value;

/// How many removed/added word runs an event shows before "and N more".
const MAX_RUNS: usize = 12;

/// The page of one watch. `versions`, `events` and `checks` are the recent
/// ones, in any order (the timeline sorts them, newest first).
pub fn watch_page(
    nav: &Nav,
    w: &WatchSummary,
    read_only: bool,
    versions: &[VersionInfo],
    events: &[EventInfo],
    checks: &[CheckInfo],
) -> Markup {
    let base = format!("/watches/{}", w.id);
    let body = html! {
        div.page-head {
            h1 { (w.name) " " (status_badge(&w.status, w.paused)) }
            p.watch-url { (external(&w.url)) }
            dl.facts {
                div { dt { "Kind" } dd { (w.kind) } }
                @if !w.tags.is_empty() {
                    div {
                        dt { "Tags" }
                        dd {
                            ul.tags {
                                @for t in &w.tags {
                                    li { a.tag href={ "/?tag=" (query_value(t)) } { (t) } }
                                }
                            }
                        }
                    }
                }
                div { dt { "Versions" } dd { (w.versions) } }
                div {
                    dt { "Last check" }
                    dd {
                        (time_opt(w.last_check_at))
                        @if let Some(code) = w.last_status { " · HTTP " (code) }
                    }
                }
                div { dt { "Last change" } dd { (time_opt(w.last_change_at)) } }
                @if !w.paused && w.active {
                    div { dt { "Next check" } dd { (time_opt(w.next_due_at)) } }
                }
                @if w.failure_streak > 0 {
                    div { dt { "Failed checks in a row" } dd.streak { (w.failure_streak) } }
                }
            }
            @if let Some(e) = &w.last_error {
                p.last-error { "Last error: " span.error-text { (e) } }
            }
            @if read_only {
                p.note-box { "Defined in the config file (read-only): change or remove it there." }
            }
            @if !w.active {
                p.note-box { "This watch is no longer in the config and is not checked; its history is kept." }
            }
        }
        div.actions {
            (post_button(&format!("{base}/check"), &nav.csrf, "Check now", "primary"))
            @if !read_only {
                @if w.paused {
                    (post_button(&format!("{base}/resume"), &nav.csrf, "Resume", ""))
                } @else {
                    (post_button(&format!("{base}/pause"), &nav.csrf, "Pause", ""))
                }
                details.danger-zone {
                    summary { "Delete…" }
                    form.inline method="post" action={ (base) "/delete" } {
                        (csrf_field(&nav.csrf))
                        p { "Deletes this watch and its whole history: versions, events and checks." }
                        button.danger type="submit" { "Delete this watch" }
                    }
                }
            }
        }
        section {
            h2 { "Timeline" }
            (timeline(w.id, versions, events))
        }
        section {
            h2 { "Recent checks" }
            (checks_table(checks))
        }
    };
    layout(&w.name, Some(nav), body)
}

enum Entry<'a> {
    Version(&'a VersionInfo),
    Event(&'a EventInfo),
}

fn timeline(watch_id: i64, versions: &[VersionInfo], events: &[EventInfo]) -> Markup {
    let mut entries: Vec<(i64, u8, i64, Entry<'_>)> = versions
        .iter()
        .map(|v| (v.created_at, 0, v.seq, Entry::Version(v)))
        .chain(
            events
                .iter()
                .map(|e| (e.created_at, 1, e.id, Entry::Event(e))),
        )
        .collect();
    // Newest first; at the same time, an event above the version it is about.
    entries.sort_by_key(|e| std::cmp::Reverse((e.0, e.1, e.2)));
    html! {
        @if entries.is_empty() {
            p.empty { "No versions or events yet: the first check stores the first version." }
        } @else {
            ol.timeline {
                @for (_, _, _, entry) in &entries {
                    @match entry {
                        Entry::Version(v) => (version_entry(watch_id, v)),
                        Entry::Event(e) => (event_entry(watch_id, e)),
                    }
                }
            }
        }
    }
}

fn diff_href(watch_id: i64, from: i64, to: i64) -> String {
    format!("/watches/{watch_id}/diff?from={from}&to={to}")
}

fn version_entry(watch_id: i64, v: &VersionInfo) -> Markup {
    html! {
        li.entry.version {
            div.when { (time(v.created_at)) }
            div.what {
                span.seq { "Version #" (v.seq) }
                " · HTTP " (v.http_status)
                @if let Some(t) = &v.title { " · " span.title { (t) } }
                @if v.seq > 1 {
                    " · " a href=(diff_href(watch_id, v.seq - 1, v.seq)) { "diff with previous" }
                }
            }
        }
    }
}

fn event_entry(watch_id: i64, e: &EventInfo) -> Markup {
    let d = &e.data;
    let from = e.prev_version_seq.or_else(|| int(d, "from_version"));
    let to = e.version_seq.or_else(|| int(d, "to_version"));
    html! {
        li class={ "entry event ev-" (e.kind.as_str()) } {
            div.when { (time(e.created_at)) }
            div.what {
                span.kind { (crate::notify::payload::kind_label(e.kind)) }
                @if let Some(b) = str_of(d, "boring") { " " span.note title="Only punctuation, letter case or dates changed" { "minor: " (b) } }
                @if let Some(h) = str_of(d, "incident") { " " span.note { "part of an incident on " (h) } }
                (event_details(e.kind, d))
                @if let (Some(f), Some(t)) = (from, to) {
                    @if f != t && matches!(e.kind, EventKind::Edited | EventKind::Restored | EventKind::Reverted) {
                        p.links { a href=(diff_href(watch_id, f, t)) { "diff #" (f) " → #" (t) } }
                    }
                }
            }
        }
    }
}

fn event_details(kind: EventKind, d: &Value) -> Markup {
    html! {
        @match kind {
            EventKind::FirstSeen => {
                @if let Some(t) = str_of(d, "title") { p { "Title: " span.title { (t) } } }
                @if let Some(n) = int(d, "items") { p { (plural(n, "item", "items")) } }
            }
            EventKind::Edited | EventKind::Reverted | EventKind::Restored => {
                @if kind == EventKind::Restored {
                    @if d.get("unchanged").and_then(Value::as_bool) == Some(true) {
                        p { "The page is back, unchanged." }
                    } @else {
                        p { "The page is back." }
                    }
                }
                @if let Some(s) = int(d, "same_as_version") { p { "The text is again that of version #" (s) "." } }
                (stats(d))
                (runs(d, "removed", "Removed", "del"))
                (runs(d, "added", "Added", "ins"))
                (runs(d, "terms_removed", "Watched terms removed", "del"))
                (runs(d, "terms_added", "Watched terms added", "ins"))
            }
            EventKind::Deleted => {
                p {
                    @match str_of(d, "how") {
                        Some("404") => "The page answers 404 Not Found.",
                        Some("410") => "The page answers 410 Gone.",
                        Some("redirect") => "The page redirects elsewhere.",
                        Some("soft404") => "The page answers, but says it is not found.",
                        Some(other) => { "How: " (other) }
                        None => "",
                    }
                    @if let Some(code) = int(d, "http_status") { " (HTTP " (code) ")" }
                }
                @if let Some(t) = str_of(d, "target") { p { "Redirect target: " (external(t)) } }
                @if let Some(r) = str_of(d, "reason") { p { "Reason: " (r) } }
                @if let Some(t) = str_of(d, "title") { p { "Last title: " span.title { (t) } } }
                (runs(d, "terms_removed", "Watched terms it contained", "del"))
            }
            EventKind::Unreachable | EventKind::Blocked => {
                p {
                    @if let Some(err) = str_of(d, "error") { span.error-text { (err) } }
                    @if let Some(code) = int(d, "http_status") { " (HTTP " (code) ")" }
                }
                @if let Some(s) = str_of(d, "since") { p { "Since " (s) } }
                @if let Some(n) = int(d, "checks") { p { (plural(n, "check", "checks")) } }
            }
            EventKind::Reachable => {
                @if let Some(a) = str_of(d, "after") { p { "After being " (a) "." } }
            }
            EventKind::ItemAdded | EventKind::ItemRemoved => {
                @let item = d.get("item").unwrap_or(&Value::Null);
                @let title = str_of(item, "title").or_else(|| str_of(d, "title"));
                p.item {
                    @if let Some(t) = title { span.title { (t) } br; }
                    @if let Some(u) = str_of(item, "url") { (external(u)) }
                    @if let Some(date) = str_of(item, "date") { " · " (date) }
                }
                @if let Some(l) = str_of(d, "listing_title") { p.muted { "in " (l) } }
            }
            EventKind::Incident => {
                p {
                    @if let Some(n) = int(d, "deleted") { (plural(n, "page", "pages")) " deleted" }
                    @if let Some(h) = str_of(d, "host") { " on " strong { (h) } }
                    @if let Some(m) = int(d, "window_minutes") { " within " (m) " minutes" }
                    "."
                }
                @if let Some(ex) = d.get("examples").and_then(Value::as_array) {
                    ul.examples {
                        @for u in ex.iter().filter_map(Value::as_str) { li { (external(u)) } }
                    }
                }
            }
        }
    }
}

fn stats(d: &Value) -> Markup {
    let Some(s) = d.get("stats").filter(|s| s.is_object()) else {
        return html! {};
    };
    let n = |k: &str| int(s, k).unwrap_or(0);
    html! {
        p.stats {
            span.minus { "−" (plural(n("lines_removed"), "line", "lines")) }
            " "
            span.plus { "+" (plural(n("lines_added"), "line", "lines")) }
            " · "
            span.minus { "−" (plural(n("words_removed"), "word", "words")) }
            " "
            span.plus { "+" (plural(n("words_added"), "word", "words")) }
        }
    }
}

/// A list of strings from the event data (`removed`, `added`, terms),
/// each in `<del>` or `<ins>`.
fn runs(d: &Value, key: &str, label: &str, tag: &str) -> Markup {
    let Some(list) = d.get(key).and_then(Value::as_array) else {
        return html! {};
    };
    let words: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
    if words.is_empty() {
        return html! {};
    }
    let more = words.len().saturating_sub(MAX_RUNS);
    html! {
        p.runs {
            span.label { (label) ": " }
            @for (i, w) in words.iter().take(MAX_RUNS).enumerate() {
                @if i > 0 { " · " }
                @if tag == "del" { del { (w) } } @else { ins { (w) } }
            }
            @if more > 0 { " · and " (more) " more" }
        }
    }
}

fn str_of<'a>(d: &'a Value, key: &str) -> Option<&'a str> {
    d.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn int(d: &Value, key: &str) -> Option<i64> {
    d.get(key).and_then(Value::as_i64)
}

fn checks_table(checks: &[CheckInfo]) -> Markup {
    let mut rows: Vec<&CheckInfo> = checks.iter().collect();
    rows.sort_by_key(|c| std::cmp::Reverse((c.started_at, c.id)));
    html! {
        @if rows.is_empty() {
            p.empty { "No checks yet." }
        } @else {
            div.table-wrap {
                table.checks {
                    thead {
                        tr {
                            th scope="col" { "Time" }
                            th scope="col" { "Outcome" }
                            th.num scope="col" { "HTTP" }
                            th.num scope="col" { "Duration" }
                            th.num scope="col" { "Bytes" }
                            th scope="col" { "Error" }
                        }
                    }
                    tbody {
                        @for c in rows {
                            tr {
                                td.when { (time(c.started_at)) }
                                td { span class={ "outcome " (outcome_class(&c.outcome)) } { (c.outcome.replace('_', " ")) } }
                                td.num { @if let Some(s) = c.http_status { (s) } }
                                td.num { (duration(c.duration_ms)) }
                                td.num { (bytes(c.bytes)) }
                                td {
                                    @if let Some(class) = &c.error_class { span.error-class { (class) } " " }
                                    @if let Some(e) = &c.error { span.error-text { (e) } }
                                    @if let Some(u) = c.final_url.as_deref().filter(|_| !c.redirects.is_empty()) {
                                        br; span.muted { "→ " (u) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn outcome_class(outcome: &str) -> &'static str {
    match outcome {
        "new_version" => "changed",
        "unchanged" | "not_modified" => "same",
        "http_error" | "failed" => "failed",
        _ => "",
    }
}

fn duration(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

fn bytes(n: i64) -> String {
    const KB: f64 = 1024.0;
    let f = n as f64;
    if n < 1024 {
        format!("{n} B")
    } else if f < KB * KB {
        format!("{:.1} KB", f / KB)
    } else {
        format!("{:.1} MB", f / (KB * KB))
    }
}

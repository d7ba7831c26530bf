//! The dashboard: every watch, one row each, with a tag filter.

use super::{
    Nav, Section, external, format_time, page, plural, query_value, shorten, status_badge, time_opt,
};
use crate::store::WatchSummary;
use maud::{Markup, html};

/// One watch on the dashboard.
#[derive(Debug, Clone)]
pub struct WatchRow {
    pub summary: WatchSummary,
    /// Defined in the config file: the UI cannot change it.
    pub read_only: bool,
}

/// The list of watches. `tags` are every tag in use (for the filter);
/// with `tag_filter`, only the watches with that tag are shown.
pub fn dashboard(
    nav: &Nav,
    watches: &[WatchRow],
    tags: &[String],
    tag_filter: Option<&str>,
) -> Markup {
    let tag_filter = tag_filter.filter(|t| !t.is_empty());
    let shown: Vec<&WatchRow> = watches
        .iter()
        .filter(|w| tag_filter.is_none_or(|t| w.summary.tags.iter().any(|x| x == t)))
        .collect();
    let count = |status: &str| {
        shown
            .iter()
            .filter(|w| !w.summary.paused && w.summary.status == status)
            .count()
    };
    let (deleted, unreachable, blocked) =
        (count("deleted"), count("unreachable"), count("blocked"));
    let paused = shown.iter().filter(|w| w.summary.paused).count();
    let body = html! {
        div.page-head {
            h1 {
                "Watches"
                @if let Some(t) = tag_filter { " tagged " span.tag { (t) } }
            }
            p.summary {
                (plural(shown.len() as i64, "watch", "watches"))
                @if deleted > 0 { " · " span.badge.deleted { (deleted) " deleted" } }
                @if unreachable > 0 { " · " span.badge.unreachable { (unreachable) " unreachable" } }
                @if blocked > 0 { " · " span.badge.blocked { (blocked) " blocked" } }
                @if paused > 0 { " · " span.badge.paused { (paused) " paused" } }
            }
        }
        @if !tags.is_empty() {
            div.filters {
                form.inline method="get" action="/" {
                    label for="tag" { "Tag" }
                    " "
                    select #tag name="tag" {
                        option value="" selected[tag_filter.is_none()] { "All watches" }
                        @for t in tags {
                            option value=(t) selected[tag_filter == Some(t.as_str())] { (t) }
                        }
                    }
                    " "
                    button type="submit" { "Filter" }
                }
                ul.tags aria-label="Tags" {
                    @if tag_filter.is_some() {
                        li { a href="/" { "all" } }
                    }
                    @for t in tags {
                        li { (tag_link(t, tag_filter == Some(t.as_str()))) }
                    }
                }
            }
        }
        @if shown.is_empty() {
            div.empty {
                @if tag_filter.is_some() {
                    p { "No watch has this tag. " a href="/" { "Show all watches" } "." }
                } @else {
                    p {
                        "Nothing is watched yet. "
                        a href="/watches/new" { "Add a watch" }
                        ", or define watches in the config file."
                    }
                }
            }
        } @else {
            div.table-wrap {
                table.watches {
                    thead {
                        tr {
                            th scope="col" { "Name" }
                            th scope="col" { "URL" }
                            th scope="col" { "Tags" }
                            th scope="col" { "Status" }
                            th scope="col" { "Last check" }
                            th scope="col" { "Last change" }
                            th.num scope="col" title="Failed checks in a row" { "Errors" }
                            th.num scope="col" { "Versions" }
                        }
                    }
                    tbody {
                        @for w in &shown { (row(w)) }
                    }
                }
            }
        }
    };
    let title = match tag_filter {
        Some(t) => format!("Watches tagged {t}"),
        None => "Dashboard".to_string(),
    };
    page(&title, Some(nav), Some(Section::Dashboard), body)
}

fn row(w: &WatchRow) -> Markup {
    let s = &w.summary;
    html! {
        tr class=[(!s.active).then_some("inactive")] {
            td.name {
                a href={ "/watches/" (s.id) } { (s.name) }
                @if w.read_only { " " span.note title="Defined in the config file" { "config" } }
                @if !s.active { " " span.note title="No longer in the config; its history is kept" { "inactive" } }
            }
            td.url-cell { (external(&s.url)) }
            td {
                @if !s.tags.is_empty() {
                    ul.tags {
                        @for t in &s.tags { li { (tag_link(t, false)) } }
                    }
                }
            }
            td { (status_badge(&s.status, s.paused)) }
            td.when {
                @if let Some(at) = s.last_check_at {
                    time datetime=(crate::model::format_millis(at)) { (format_time(at)) }
                    @if let Some(code) = s.last_status {
                        br;
                        span.http { "HTTP " (code) }
                    }
                    @if let Some(e) = &s.last_error {
                        br;
                        span.error-text title=[(e.chars().count() > 80).then_some(e)] { (shorten(e, 80)) }
                    }
                } @else {
                    span.muted { "not yet" }
                }
            }
            td.when { (time_opt(s.last_change_at)) }
            td.num {
                @if s.failure_streak > 0 {
                    span.streak { (s.failure_streak) }
                } @else {
                    "0"
                }
            }
            td.num { (s.versions) }
        }
    }
}

fn tag_link(tag: &str, current: bool) -> Markup {
    html! {
        @if current {
            a.tag.current href={ "/?tag=" (query_value(tag)) } aria-current="page" { (tag) }
        } @else {
            a.tag href={ "/?tag=" (query_value(tag)) } { (tag) }
        }
    }
}

//! The web UI's pages: pure functions from plain data to HTML documents.
//!
//! Nothing here does I/O or reads the clock; the handlers in
//! [`crate::server`] fetch the data and call these. The pages are built for
//! a strict Content-Security-Policy (`default-src 'none'; style-src 'self';
//! img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri
//! 'none'`): no script, no inline style, one stylesheet ([`STYLE_CSS`], served
//! at `/static/style.css`). Every action is a plain form, so the UI works
//! without JavaScript.
//!
//! Every string that comes from a user, a config file or a watched page goes
//! through maud's escaping; `PreEscaped` is used only for the doctype.
//! Links to watched URLs are made only for `http(s)` URLs and carry
//! `rel="noopener noreferrer nofollow"`.

mod alerts;
mod dashboard;
mod diff;
mod forms;
mod watch;

pub use alerts::{
    ChannelRow, SubscriptionRow, channels_page, deliveries_page, unsubscribe_confirm,
};
pub use dashboard::{WatchRow, dashboard};
pub use diff::{DiffMode, diff_page};
pub use forms::{Preview, WatchForm, add_watch};
pub use watch::watch_page;

use crate::model::Millis;
use maud::{DOCTYPE, Markup, html};

/// The stylesheet, served at `/static/style.css`.
pub const STYLE_CSS: &str = include_str!("assets/style.css");

/// The URL path the stylesheet is served at.
pub const STYLE_PATH: &str = "/static/style.css";

/// What the navigation of a signed-in page needs.
#[derive(Debug, Clone, Default)]
pub struct Nav {
    /// The session's CSRF token, sent back by every form.
    pub csrf: String,
}

/// The part of the UI a page belongs to, marked in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Dashboard,
    AddWatch,
    Channels,
    Deliveries,
}

/// A full HTML document: head, the top navigation (when signed in) and `body`.
pub fn layout(title: &str, nav: Option<&Nav>, body: Markup) -> Markup {
    page(title, nav, None, body)
}

fn page(title: &str, nav: Option<&Nav>, current: Option<Section>, body: Markup) -> Markup {
    let links = [
        (Section::Dashboard, "/", "Dashboard"),
        (Section::AddWatch, "/watches/new", "Add watch"),
        (Section::Channels, "/channels", "Channels"),
        (Section::Deliveries, "/deliveries", "Deliveries"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                meta name="color-scheme" content="light";
                title { (title) " · palimpsest" }
                link rel="stylesheet" href=(STYLE_PATH);
            }
            body {
                header.top {
                    nav.bar aria-label="Main" {
                        a.brand href="/" { "palimpsest" }
                        @if let Some(nav) = nav {
                            ul.links {
                                @for (section, href, label) in links {
                                    li {
                                        @if current == Some(section) {
                                            a.current href=(href) aria-current="page" { (label) }
                                        } @else {
                                            a href=(href) { (label) }
                                        }
                                    }
                                }
                            }
                            form.logout method="post" action="/logout" {
                                (csrf_field(&nav.csrf))
                                button.link type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The sign-in page: one API token field.
pub fn login(error: Option<&str>, next: &str) -> Markup {
    let body = html! {
        section.narrow {
            h1 { "Sign in" }
            (error_list_one(error))
            form.stack method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                label for="token" { "API token" }
                input #token type="password" name="token" required autocomplete="current-password" autofocus;
                div.actions { button.primary type="submit" { "Sign in" } }
            }
            p.hint {
                "Create a token on the machine that runs palimpsest with "
                code { "palimpsest token create NAME" }
                " and paste it here. The token is kept in a session cookie for this browser."
            }
        }
    };
    layout("Sign in", None, body)
}

/// A 404 page: `what` was not found.
pub fn not_found(nav: Option<&Nav>, what: &str) -> Markup {
    let body = html! {
        section.narrow {
            h1 { "Not found" }
            p { (what) " was not found." }
            p { a href="/" { "Back to the dashboard" } }
        }
    };
    layout("Not found", nav, body)
}

/// Any other error page, with its HTTP status and a message for the reader.
pub fn error_page(nav: Option<&Nav>, status: u16, message: &str) -> Markup {
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let title = format!("{status} {reason}");
    let body = html! {
        section.narrow {
            h1 { (title) }
            p.message { (message) }
            p { a href="/" { "Back to the dashboard" } }
        }
    };
    layout(&title, nav, body)
}

// ---- helpers shared by the pages ----

/// The hidden CSRF field of every signed-in form.
fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// A one-button POST form.
fn post_button(action: &str, csrf: &str, label: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf_field(csrf))
            button class=[(!class.is_empty()).then_some(class)] type="submit" { (label) }
        }
    }
}

/// A list of form errors, if there are any.
fn error_list(errors: &[String]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div.errors role="alert" {
                p { @if errors.len() == 1 { "Please fix this:" } @else { "Please fix these:" } }
                ul { @for e in errors { li { (e) } } }
            }
        }
    }
}

fn error_list_one(error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error {
            div.errors role="alert" { p { (e) } }
        }
    }
}

/// `2026-01-30 10:00 UTC`, in a `<time>` element.
fn time(ms: Millis) -> Markup {
    html! { time datetime=(crate::model::format_millis(ms)) { (format_time(ms)) } }
}

fn time_opt(ms: Option<Millis>) -> Markup {
    match ms {
        Some(ms) => time(ms),
        None => html! { span.muted { "—" } },
    }
}

/// `YYYY-MM-DD HH:MM UTC`.
fn format_time(ms: Millis) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) => format!("@{ms} ms"),
    }
}

/// True for the URLs a page may link to: `http` and `https` only, so a
/// `javascript:` or `data:` URL stored in a watch never becomes a link.
fn linkable(url: &str) -> bool {
    let lower = url
        .trim_start()
        .get(..8)
        .unwrap_or(url)
        .to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// An outside URL: a link with `rel="noopener noreferrer nofollow"` when it
/// is `http(s)`, else plain text.
fn external(url: &str) -> Markup {
    html! {
        @if linkable(url) {
            a.url href=(url) rel="noopener noreferrer nofollow" { (url) }
        } @else {
            span.url { (url) }
        }
    }
}

/// A watch's status as a badge; `paused` wins.
fn status_badge(status: &str, paused: bool) -> Markup {
    let (class, label) = if paused {
        ("badge paused", "paused")
    } else {
        match status {
            "ok" => ("badge ok", "ok"),
            "deleted" => ("badge deleted", "deleted"),
            "unreachable" => ("badge unreachable", "unreachable"),
            "blocked" => ("badge blocked", "blocked"),
            other => ("badge other", other),
        }
    };
    html! { span class=(class) { (label) } }
}

/// Percent-encodes a query value (`application/x-www-form-urlencoded`).
fn query_value(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Percent-encodes one path segment: everything but RFC 3986 unreserved bytes.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// At most `max` characters of `s`, with an ellipsis when cut.
fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `1 version`, `2 versions`.
fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests;

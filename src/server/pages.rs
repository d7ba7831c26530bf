//! placeholder replaced by the ui branch: the signatures of its pages,
//! with the least markup the handlers and tests need.
#![allow(clippy::too_many_arguments)]
use crate::detect::diff::Diff;
use crate::store::{CheckInfo, DeliveryInfo, EventInfo, VersionInfo, WatchSummary};
use maud::{Markup, html};

pub const STYLE_CSS: &str = "body { font-family: sans-serif; }\n";
pub const STYLE_PATH: &str = "/static/style.css";

#[derive(Debug, Clone, Default)]
pub struct Nav {
    pub csrf: String,
}

#[derive(Debug, Clone)]
pub struct WatchRow {
    pub summary: WatchSummary,
    pub read_only: bool,
}

#[derive(Debug, Clone)]
pub struct ChannelRow {
    pub name: String,
    pub kind: String,
    pub target: String,
    pub read_only: bool,
    pub disabled: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SubscriptionRow {
    pub id: i64,
    pub channel: String,
    pub watches: String,
    pub kinds: Vec<String>,
    pub digest: String,
    pub read_only: bool,
    pub unsubscribed: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DiffMode {
    #[default]
    Inline,
    SideBySide,
}

impl DiffMode {
    pub fn parse(s: &str) -> DiffMode {
        if s == "side" {
            DiffMode::SideBySide
        } else {
            DiffMode::Inline
        }
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct WatchForm {
    pub name: String,
    pub url: String,
    pub kind: String,
    pub interval: String,
    pub tags: String,
    pub select: String,
    pub exclude: String,
    pub ignore: String,
    pub terms: String,
    pub csrf: String,
    pub action: String,
}

#[derive(Debug, Clone, Default)]
pub struct Preview {
    pub title: Option<String>,
    pub lines: Vec<String>,
    pub status: u16,
    pub final_url: String,
    pub error: Option<String>,
}

pub fn layout(title: &str, _nav: Option<&Nav>, body: Markup) -> Markup {
    html! { title { (title) } (body) }
}
pub fn login(error: Option<&str>, next: &str) -> Markup {
    html! { p { (error.unwrap_or("")) } form method="post" action="/login" { input type="hidden" name="next" value=(next); input name="token"; } }
}
pub fn dashboard(_nav: &Nav, watches: &[WatchRow], _tags: &[String], _f: Option<&str>) -> Markup {
    html! { @for w in watches { p { (w.summary.name) } } }
}
pub fn watch_page(
    _nav: &Nav,
    w: &WatchSummary,
    _ro: bool,
    v: &[VersionInfo],
    e: &[EventInfo],
    _c: &[CheckInfo],
) -> Markup {
    html! { h1 { (w.name) } p { (v.len()) " versions, " (e.len()) " events" } }
}
pub fn diff_page(
    _nav: &Nav,
    w: &WatchSummary,
    _f: &VersionInfo,
    _t: &VersionInfo,
    d: &Diff,
    _m: DiffMode,
    _v: &[VersionInfo],
    _o: &str,
    _n: &str,
) -> Markup {
    html! { h1 { (w.name) } pre { (d.unified("a", "b")) } }
}
pub fn add_watch(
    _nav: &Nav,
    form: &WatchForm,
    preview: Option<&Preview>,
    errors: &[String],
) -> Markup {
    html! { p { (form.url) } @for e in errors { p { (e) } } @if let Some(p) = preview { @for l in &p.lines { p { (l) } } } }
}
pub fn channels_page(
    _nav: &Nav,
    c: &[ChannelRow],
    s: &[SubscriptionRow],
    errors: &[String],
) -> Markup {
    html! { p { (c.len()) " " (s.len()) } @for e in errors { p { (e) } } }
}
pub fn deliveries_page(_nav: &Nav, rows: &[DeliveryInfo], _f: Option<&str>) -> Markup {
    html! { p { (rows.len()) } }
}
pub fn not_found(_nav: Option<&Nav>, what: &str) -> Markup {
    html! { p { "Not found: " (what) } }
}
pub fn error_page(_nav: Option<&Nav>, status: u16, message: &str) -> Markup {
    html! { p { (status) " " (message) } }
}
pub fn unsubscribe_confirm(channel: &str, done: bool) -> Markup {
    html! { p { (channel) (done) } }
}

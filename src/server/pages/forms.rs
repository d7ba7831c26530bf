//! The form that adds a watch, with a preview of the text it would keep.

use super::{Nav, Section, csrf_field, error_list, external, page, plural};
use maud::{Markup, html};

/// Lines of a preview shown before "and N more lines".
const MAX_PREVIEW_LINES: usize = 400;

/// The fields of the add-watch form, as posted (`POST /watches/new`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct WatchForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: String,
    /// `page` or `listing`.
    #[serde(default)]
    pub kind: String,
    /// A duration such as `30m`, `6h` or `1d`; empty for the default.
    #[serde(default)]
    pub interval: String,
    /// Comma separated.
    #[serde(default)]
    pub tags: String,
    /// CSS selector of the content to keep; empty for the main-content rules.
    #[serde(default)]
    pub select: String,
    /// CSS selectors to drop, one per line.
    #[serde(default)]
    pub exclude: String,
    /// Regular expressions of lines to ignore, one per line.
    #[serde(default)]
    pub ignore: String,
    /// Watched terms, one per line.
    #[serde(default)]
    pub terms: String,
    #[serde(default)]
    pub csrf: String,
    /// `preview` or `save`: the button that sent the form.
    #[serde(default)]
    pub action: String,
}

/// What a preview fetch found.
#[derive(Debug, Clone, Default)]
pub struct Preview {
    pub title: Option<String>,
    /// The extracted text, one line each (for a listing: its item lines).
    pub lines: Vec<String>,
    pub status: u16,
    pub final_url: String,
    /// Set when the fetch or the extraction failed.
    pub error: Option<String>,
}

/// The add-watch page: the form, its errors, and the preview if one was asked for.
pub fn add_watch(
    nav: &Nav,
    form: &WatchForm,
    preview: Option<&Preview>,
    errors: &[String],
) -> Markup {
    let listing = form.kind == "listing";
    let body = html! {
        h1 { "Add a watch" }
        (error_list(errors))
        form.stack.watch-form method="post" action="/watches/new" {
            (csrf_field(&nav.csrf))
            div.field {
                label for="name" { "Name" }
                input #name type="text" name="name" value=(form.name) required
                    autocomplete="off" aria-describedby="name-help";
                p.help #name-help { "A short, unique name, e.g. " code { "kcna-front" } "." }
            }
            div.field {
                label for="url" { "URL" }
                input #url type="url" name="url" value=(form.url) required placeholder="https://"
                    autocomplete="off";
            }
            fieldset.field {
                legend { "Kind" }
                label.choice {
                    input type="radio" name="kind" value="page" checked[!listing];
                    " Page " span.help { "— keep the text of one page and alert on its edits and deletion" }
                }
                label.choice {
                    input type="radio" name="kind" value="listing" checked[listing];
                    " Listing " span.help { "— an index, feed or sitemap: alert on items added and removed" }
                }
            }
            div.field {
                label for="interval" { "Check every" }
                input #interval type="text" name="interval" value=(form.interval) placeholder="1h"
                    aria-describedby="interval-help";
                p.help #interval-help { "e.g. " code { "30m" } ", " code { "6h" } ", " code { "1d" } "; empty for the default." }
            }
            div.field {
                label for="tags" { "Tags" }
                input #tags type="text" name="tags" value=(form.tags) aria-describedby="tags-help";
                p.help #tags-help { "Comma separated, e.g. " code { "dprk, media" } "." }
            }
            details.advanced open[has_rules(form)] {
                summary { "Extraction rules" }
                div.field {
                    label for="select" { "Select" }
                    input #select type="text" name="select" value=(form.select) aria-describedby="select-help";
                    p.help #select-help { "A CSS selector of the content to keep, e.g. " code { "article" } ". Empty: the main content, found automatically." }
                }
                div.field {
                    label for="exclude" { "Exclude" }
                    textarea #exclude name="exclude" rows="3" aria-describedby="exclude-help" { (form.exclude) }
                    p.help #exclude-help { "CSS selectors of parts to drop, one per line." }
                }
                div.field {
                    label for="ignore" { "Ignore" }
                    textarea #ignore name="ignore" rows="3" aria-describedby="ignore-help" { (form.ignore) }
                    p.help #ignore-help { "Regular expressions of lines to ignore (counters, clocks), one per line." }
                }
                div.field {
                    label for="terms" { "Watched terms" }
                    textarea #terms name="terms" rows="3" aria-describedby="terms-help" { (form.terms) }
                    p.help #terms-help { "Names or words whose removal or addition an alert points out, one per line." }
                }
            }
            div.actions {
                // The first button is the one Enter presses: a preview, never a save.
                button type="submit" name="action" value="preview" { "Preview" }
                " "
                button.primary type="submit" name="action" value="save" { "Save watch" }
            }
        }
        @if let Some(p) = preview { (preview_section(p)) }
    };
    page("Add a watch", Some(nav), Some(Section::AddWatch), body)
}

fn has_rules(form: &WatchForm) -> bool {
    [&form.select, &form.exclude, &form.ignore, &form.terms]
        .iter()
        .any(|s| !s.trim().is_empty())
}

fn preview_section(p: &Preview) -> Markup {
    let more = p.lines.len().saturating_sub(MAX_PREVIEW_LINES);
    html! {
        section.preview aria-labelledby="preview-title" {
            h2 #preview-title { "Preview" }
            dl.facts {
                @if p.status != 0 { div { dt { "HTTP status" } dd { (p.status) } } }
                @if !p.final_url.is_empty() { div { dt { "Final URL" } dd { (external(&p.final_url)) } } }
                @if let Some(t) = &p.title { div { dt { "Title" } dd.title { (t) } } }
                @if p.error.is_none() { div { dt { "Text" } dd { (plural(p.lines.len() as i64, "line", "lines")) } } }
            }
            @if let Some(e) = &p.error {
                div.errors role="alert" { p { "The preview failed: " span.error-text { (e) } } }
            } @else if p.lines.is_empty() {
                p.empty { "These rules keep no text from this page." }
            } @else {
                ol.preview-lines {
                    @for l in p.lines.iter().take(MAX_PREVIEW_LINES) { li { (l) } }
                }
                @if more > 0 { p.muted { "… and " (plural(more as i64, "more line", "more lines")) "." } }
            }
        }
    }
}

//! Alerts: channels and subscriptions, the deliveries outbox, and the
//! one-click unsubscribe page.

use super::{
    Nav, Section, csrf_field, error_list, layout, page, path_segment, post_button, query_value,
    time,
};
use crate::model::EventKind;
use crate::store::DeliveryInfo;
use maud::{Markup, html};

/// One channel on the channels page.
#[derive(Debug, Clone)]
pub struct ChannelRow {
    pub name: String,
    /// `webhook` or `email`.
    pub kind: String,
    /// Where it sends, already redacted by the caller (no secrets in URLs).
    pub target: String,
    /// Defined in the config file: the UI cannot delete it.
    pub read_only: bool,
    /// Why the channel is disabled, if it is (a webhook's 410).
    pub disabled: Option<String>,
}

/// One subscription on the channels page.
#[derive(Debug, Clone)]
pub struct SubscriptionRow {
    pub id: i64,
    pub channel: String,
    /// `*`, `tag:NAME` or watch names.
    pub watches: String,
    pub kinds: Vec<String>,
    /// `off`, `hourly` or `daily`.
    pub digest: String,
    pub read_only: bool,
    /// Ended by its recipient with the unsubscribe link.
    pub unsubscribed: bool,
}

/// The event kinds a new subscription gets unless the reader chooses:
/// every kind but `first_seen` and `reverted` (the config's default).
fn default_kind(k: EventKind) -> bool {
    !matches!(k, EventKind::FirstSeen | EventKind::Reverted)
}

/// Channels, subscriptions, and the forms that add them.
pub fn channels_page(
    nav: &Nav,
    channels: &[ChannelRow],
    subscriptions: &[SubscriptionRow],
    errors: &[String],
) -> Markup {
    let enabled: Vec<&ChannelRow> = channels.iter().filter(|c| c.disabled.is_none()).collect();
    let body = html! {
        h1 { "Channels" }
        (error_list(errors))
        section {
            h2 { "Where alerts go" }
            @if channels.is_empty() {
                p.empty { "No channel yet: add a webhook or an email channel below." }
            } @else {
                div.table-wrap {
                    table.channels {
                        thead {
                            tr {
                                th scope="col" { "Name" }
                                th scope="col" { "Type" }
                                th scope="col" { "Target" }
                                th scope="col" { "State" }
                                th scope="col" { span.visually-hidden { "Actions" } }
                            }
                        }
                        tbody {
                            @for c in channels {
                                tr {
                                    td.name {
                                        (c.name)
                                        @if c.read_only { " " span.note title="Defined in the config file" { "config" } }
                                    }
                                    td { (c.kind) }
                                    td.url-cell { span.url { (c.target) } }
                                    td {
                                        @if let Some(why) = &c.disabled {
                                            span.badge.deleted { "disabled" } " " span.error-text { (why) }
                                        } @else {
                                            span.badge.ok { "active" }
                                        }
                                    }
                                    td.row-actions {
                                        @if !c.read_only {
                                            (post_button(&format!("/channels/{}/delete", path_segment(&c.name)), &nav.csrf, "Delete", "danger small"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Subscriptions" }
            @if subscriptions.is_empty() {
                p.empty { "No subscription yet: nothing is alerted." }
            } @else {
                div.table-wrap {
                    table.subscriptions {
                        thead {
                            tr {
                                th scope="col" { "Channel" }
                                th scope="col" { "Watches" }
                                th scope="col" { "Events" }
                                th scope="col" { "Digest" }
                                th scope="col" { span.visually-hidden { "Actions" } }
                            }
                        }
                        tbody {
                            @for s in subscriptions {
                                tr class=[s.unsubscribed.then_some("inactive")] {
                                    td.name {
                                        (s.channel)
                                        @if s.read_only { " " span.note title="Defined in the config file" { "config" } }
                                        @if s.unsubscribed { " " span.badge.paused { "unsubscribed" } }
                                    }
                                    td { code { (s.watches) } }
                                    td {
                                        ul.kinds { @for k in &s.kinds { li { (k) } } }
                                    }
                                    td { (s.digest) }
                                    td.row-actions {
                                        @if !s.read_only {
                                            (post_button(&format!("/subscriptions/{}/delete", s.id), &nav.csrf, "Delete", "danger small"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        div.form-grid {
            section {
                h2 { "Add a webhook" }
                form.stack method="post" action="/channels" {
                    (csrf_field(&nav.csrf))
                    input type="hidden" name="type" value="webhook";
                    div.field {
                        label for="wh-name" { "Name" }
                        input #wh-name type="text" name="name" required autocomplete="off";
                    }
                    div.field {
                        label for="wh-url" { "URL" }
                        input #wh-url type="url" name="url" required placeholder="https://" autocomplete="off";
                    }
                    div.field {
                        label for="wh-format" { "Format" }
                        select #wh-format name="format" {
                            option value="standard" selected { "Standard Webhooks (JSON, signed)" }
                            option value="slack" { "Slack" }
                            option value="discord" { "Discord" }
                            option value="ntfy" { "ntfy" }
                        }
                    }
                    div.field {
                        label for="wh-secret" { "Signing secret" }
                        input #wh-secret type="password" name="secret" autocomplete="new-password" aria-describedby="wh-secret-help";
                        p.help #wh-secret-help { "Optional, for the standard format: " code { "whsec_…" } " as the receiver expects it." }
                    }
                    div.actions { button.primary type="submit" { "Add webhook" } }
                }
            }
            section {
                h2 { "Add an email channel" }
                form.stack method="post" action="/channels" {
                    (csrf_field(&nav.csrf))
                    input type="hidden" name="type" value="email";
                    div.field {
                        label for="em-name" { "Name" }
                        input #em-name type="text" name="name" required autocomplete="off";
                    }
                    div.field {
                        label for="em-to" { "To" }
                        input #em-to type="text" name="to" required autocomplete="off" aria-describedby="em-to-help";
                        p.help #em-to-help { "Email addresses, comma separated. Mail goes out through the SMTP server of the config file." }
                    }
                    div.actions { button.primary type="submit" { "Add email channel" } }
                }
            }
        }
        section {
            h2 { "Add a subscription" }
            @if enabled.is_empty() {
                p.empty { "Add a channel first: a subscription sends its alerts to one." }
            } @else {
                form.stack method="post" action="/subscriptions" {
                    (csrf_field(&nav.csrf))
                    div.field {
                        label for="sub-channel" { "Channel" }
                        select #sub-channel name="channel" {
                            @for c in &enabled {
                                option value=(c.name) { (c.name) }
                            }
                        }
                    }
                    div.field {
                        label for="sub-watches" { "Watches" }
                        input #sub-watches type="text" name="watches" value="*" required aria-describedby="sub-watches-help";
                        p.help #sub-watches-help {
                            code { "*" } " for every watch, " code { "tag:NAME" } " for the watches with a tag, or watch names, comma separated."
                        }
                    }
                    fieldset.field {
                        legend { "Events" }
                        ul.checkboxes {
                            @for k in EventKind::ALL {
                                li {
                                    label.choice {
                                        input type="checkbox" name="kinds" value=(k.as_str()) checked[default_kind(k)];
                                        " " (k.as_str())
                                    }
                                }
                            }
                        }
                    }
                    div.field {
                        label for="sub-digest" { "Digest" }
                        select #sub-digest name="digest" {
                            option value="off" selected { "off: one alert per event" }
                            option value="hourly" { "hourly" }
                            option value="daily" { "daily (UTC)" }
                        }
                    }
                    div.actions { button.primary type="submit" { "Add subscription" } }
                }
            }
        }
    };
    page("Channels", Some(nav), Some(Section::Channels), body)
}

const STATUSES: [&str; 3] = ["pending", "delivered", "failed"];

/// The outbox: the delivery rows in the order given (newest first is
/// best), with links that filter by status (`/deliveries?status=failed`).
pub fn deliveries_page(nav: &Nav, rows: &[DeliveryInfo], status_filter: Option<&str>) -> Markup {
    let status_filter = status_filter.filter(|s| !s.is_empty());
    // The caller may have filtered already; filtering again changes nothing.
    let rows: Vec<&DeliveryInfo> = rows
        .iter()
        .filter(|d| status_filter.is_none_or(|s| d.status == s))
        .collect();
    let body = html! {
        h1 { "Deliveries" }
        ul.modes aria-label="Status" {
            li { (filter_link(None, status_filter.is_none())) }
            @for s in STATUSES {
                li { (filter_link(Some(s), status_filter == Some(s))) }
            }
        }
        @if rows.is_empty() {
            p.empty {
                @if let Some(s) = status_filter { "No " (s) " deliveries." } @else { "No deliveries yet." }
            }
        } @else {
            div.table-wrap {
                table.deliveries {
                    thead {
                        tr {
                            th scope="col" { "Created" }
                            th scope="col" { "Event" }
                            th scope="col" { "Channel" }
                            th scope="col" { "Status" }
                            th.num scope="col" { "Attempts" }
                            th scope="col" { "Next attempt" }
                            th scope="col" { "Last error" }
                            th scope="col" { span.visually-hidden { "Actions" } }
                        }
                    }
                    tbody {
                        @for d in &rows { (delivery_row(nav, d)) }
                    }
                }
            }
        }
    };
    page("Deliveries", Some(nav), Some(Section::Deliveries), body)
}

fn filter_link(status: Option<&str>, current: bool) -> Markup {
    let href = match status {
        Some(s) => format!("/deliveries?status={}", query_value(s)),
        None => "/deliveries".to_string(),
    };
    let label = status.unwrap_or("all");
    html! {
        @if current {
            a.current href=(href) aria-current="page" { (label) }
        } @else {
            a href=(href) { (label) }
        }
    }
}

fn delivery_row(nav: &Nav, d: &DeliveryInfo) -> Markup {
    let badge = match d.status.as_str() {
        "delivered" => "badge ok",
        "failed" => "badge deleted",
        "pending" => "badge unreachable",
        _ => "badge other",
    };
    html! {
        tr {
            td.when { (time(d.created_at)) }
            td {
                span class={ "kind ev-" (d.event_kind) } { (d.event_kind) }
                " · " (d.watch)
                br;
                span.muted { "event " (d.event_id) @if d.digest != "off" { " · " (d.digest) " digest" } }
            }
            td { (d.channel) }
            td {
                span class=(badge) { (d.status) }
                @if let Some(at) = d.delivered_at { br; span.muted { (time(at)) } }
            }
            td.num { (d.attempts) }
            td.when {
                @if d.status == "pending" { (time(d.next_attempt_at)) } @else { span.muted { "—" } }
            }
            td { @if let Some(e) = &d.last_error { span.error-text.full { (e) } } }
            td.row-actions {
                @if d.status == "failed" {
                    (post_button(&format!("/deliveries/{}/retry", d.id), &nav.csrf, "Retry", "small"))
                }
            }
        }
    }
}

/// The one-click unsubscribe page (RFC 8058). `GET` shows a confirmation
/// whose form posts `List-Unsubscribe=One-Click` back to the same URL (the
/// token is in the URL, so the form has no CSRF field and no `action`);
/// after the `POST`, `done` shows the result.
pub fn unsubscribe_confirm(channel: &str, done: bool) -> Markup {
    let body = html! {
        section.narrow {
            @if done {
                h1 { "You are unsubscribed" }
                p { (channel) " will not receive these alerts any more." }
            } @else {
                h1 { "Unsubscribe" }
                p { "Unsubscribe " strong { (channel) } " from these alerts?" }
                form method="post" {
                    input type="hidden" name="List-Unsubscribe" value="One-Click";
                    button.primary type="submit" { "Unsubscribe" }
                }
            }
        }
    };
    layout(
        if done { "Unsubscribed" } else { "Unsubscribe" },
        None,
        body,
    )
}

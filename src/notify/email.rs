//! Email: subject, a unified-diff text part and an HTML part with the
//! removed words struck through in red and the added ones in green
//! (inline styles only: no stylesheet, no script, no image), sent through
//! the `[smtp]` relay with lettre.

use super::SendError;
use super::payload::{EventView, first_line, kind_line, terms_note};
use crate::config::{SmtpConfig, SmtpTls};
use crate::detect::diff::Op;
use crate::model::format_millis;
use lettre::message::header::{self, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A rendered email (what the outbox stores).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailMessage {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `<https://…/unsubscribe/ID>` when `[server] public_url` is set.
    pub list_unsubscribe: Option<String>,
}

pub type Mailer = AsyncSmtpTransport<Tokio1Executor>;

/// The SMTP transport for `[smtp]`, with a connection pool.
pub fn mailer(cfg: &SmtpConfig, timeout: Duration) -> Result<Mailer, String> {
    crate::fetch::install_crypto_provider();
    let builder = match cfg.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host),
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host)
            .map_err(|e| format!("SMTP TLS setup for {}: {e}", cfg.host))?,
        SmtpTls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host)
            .map_err(|e| format!("SMTP TLS setup for {}: {e}", cfg.host))?,
    };
    let mut builder = builder.port(cfg.port).timeout(Some(timeout)).pool_config(
        PoolConfig::new()
            .max_size(4)
            .idle_timeout(Duration::from_secs(60)),
    );
    if let (Some(user), Some(password)) = (&cfg.user, &cfg.password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    Ok(builder.build())
}

/// `List-Unsubscribe`, which lettre does not have built in.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

/// One line of printable text, at most `max` characters: user text (a
/// page title) can never start a new header.
pub fn header_safe(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    let mut last_space = false;
    for c in s.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        out.push(c);
        if out.chars().count() >= max {
            out.push('…');
            break;
        }
    }
    out.trim().to_string()
}

/// `[palimpsest] Edited: <title>`, or for a digest how many events.
pub fn subject(views: &[EventView]) -> String {
    let s = match views {
        [one] => format!("[palimpsest] {}", first_line(one)),
        many => {
            let mut watches: Vec<&str> = many.iter().map(|v| v.watch.name.as_str()).collect();
            watches.sort_unstable();
            watches.dedup();
            format!(
                "[palimpsest] Digest: {} event{} on {} watch{}",
                many.len(),
                if many.len() == 1 { "" } else { "s" },
                watches.len(),
                if watches.len() == 1 { "" } else { "es" }
            )
        }
    };
    header_safe(&s, 180)
}

/// The message for some events. With the server's public URL and key,
/// it carries a signed one-click unsubscribe link (RFC 8058).
pub fn render(
    views: &[EventView],
    message_id: &str,
    unsubscribe: Option<(&str, &[u8; 32])>,
) -> EmailMessage {
    EmailMessage {
        subject: subject(views),
        text: text_part(views),
        html: html_part(views),
        list_unsubscribe: unsubscribe
            .map(|(base, key)| format!("<{}>", unsubscribe_url(base, key, message_id))),
    }
}

/// The signature of a message's unsubscribe link: 132 bits of an
/// HMAC-SHA256 under the server key, so a link cannot be forged from a
/// message id alone.
pub fn unsubscribe_sig(key: &[u8; 32], message_id: &str) -> String {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return String::new(); // HMAC takes keys of any length
    };
    mac.update(b"unsubscribe\0");
    mac.update(message_id.as_bytes());
    let mut s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    s.truncate(22);
    s
}

/// `BASE/unsubscribe/MESSAGE_ID.SIGNATURE`
pub fn unsubscribe_url(base: &str, key: &[u8; 32], message_id: &str) -> String {
    format!(
        "{}/unsubscribe/{message_id}.{}",
        base.trim_end_matches('/'),
        unsubscribe_sig(key, message_id)
    )
}

fn text_part(views: &[EventView]) -> String {
    let mut s = String::new();
    if views.len() > 1 {
        s.push_str(&format!("{} events\n\n", views.len()));
    }
    for (i, v) in views.iter().enumerate() {
        if i > 0 {
            s.push_str("\n----------------------------------------\n\n");
        }
        s.push_str(&format!("{}\n", header_safe(&first_line(v), 400)));
        s.push_str(&format!("Watch: {} <{}>\n", v.watch.name, v.watch.url));
        s.push_str(&format!(
            "Detected: {}\n",
            format_millis(v.event.created_at)
        ));
        if let Some(d) = &v.diff {
            s.push('\n');
            s.push_str(&d.unified());
            if d.truncated {
                s.push_str("[diff cut: see `palimpsest diff` for the rest]\n");
            }
        }
        if let Some(st) = &v.stats {
            s.push_str(&format!(
                "\n{} lines added, {} removed; {} words added, {} removed\n",
                st.lines_added, st.lines_removed, st.words_added, st.words_removed
            ));
        }
    }
    s.push_str("\n-- \npalimpsest\n");
    s
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Only http(s) links are made clickable.
fn safe_href(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    matches!(u.scheme(), "http" | "https").then(|| escape_html(u.as_str()))
}

const LINE: &str = "font-family:Menlo,Consolas,monospace;font-size:13px;white-space:pre-wrap;word-wrap:break-word;padding:1px 6px;margin:0";
const DEL_LINE: &str = "background-color:#ffeef0;color:#24292e";
const INS_LINE: &str = "background-color:#e6ffed;color:#24292e";
const DEL_WORD: &str = "color:#b31d28;background-color:#fdb8c0;text-decoration:line-through";
const INS_WORD: &str =
    "color:#22863a;background-color:#acf2bd;text-decoration:none;font-weight:bold";

fn html_part(views: &[EventView]) -> String {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"></head>\n<body style=\"margin:0;padding:16px;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#24292e;background-color:#ffffff\">\n",
    );
    if views.len() > 1 {
        h.push_str(&format!(
            "<p style=\"font-size:14px;color:#586069\">{} events</p>\n",
            views.len()
        ));
    }
    for v in views {
        let headline = escape_html(&header_safe(v.headline(), 300));
        let title = match safe_href(&v.watch.url) {
            Some(href) => format!("<a href=\"{href}\" style=\"color:#0366d6\">{headline}</a>"),
            None => headline,
        };
        h.push_str(&format!(
            "<h2 style=\"font-size:18px;margin:16px 0 4px 0\">{}: {title}</h2>\n",
            escape_html(&kind_line(v))
        ));
        if let Some(t) = terms_note(v) {
            h.push_str(&format!(
                "<p style=\"font-size:14px;font-weight:bold;color:#b31d28;margin:0 0 4px 0\">Watched terms {}</p>\n",
                escape_html(&t)
            ));
        }
        h.push_str(&format!(
            "<p style=\"font-size:13px;color:#586069;margin:0 0 8px 0\">{} &middot; {} &middot; detected {}",
            escape_html(&v.watch.name),
            escape_html(&v.watch.url),
            escape_html(&format_millis(v.event.created_at))
        ));
        if let Some(how) = v.event.data.get("how").and_then(|x| x.as_str()) {
            h.push_str(&format!(" &middot; how: {}", escape_html(how)));
        }
        h.push_str("</p>\n");
        if let Some(d) = &v.diff {
            h.push_str("<div style=\"border:1px solid #e1e4e8;border-radius:4px;margin:8px 0\">\n");
            for hunk in &d.diff.hunks {
                h.push_str(&format!(
                    "<p style=\"{LINE};background-color:#f1f8ff;color:#586069\">@@ -{},{} +{},{} @@</p>\n",
                    hunk.old_start, hunk.old_lines, hunk.new_start, hunk.new_lines
                ));
                for line in &hunk.lines {
                    let (sign, line_style, word_style, tag) = match line.op {
                        Op::Equal => (" ", "", "", ""),
                        Op::Delete => ("-", DEL_LINE, DEL_WORD, "del"),
                        Op::Insert => ("+", INS_LINE, INS_WORD, "ins"),
                    };
                    h.push_str(&format!("<p style=\"{LINE};{line_style}\">{sign}"));
                    let runs = changed_runs(&line.segments);
                    let whole = runs.len() == 1;
                    for (text, changed) in &runs {
                        let (text, changed) = (escape_html(text), *changed);
                        if changed && !tag.is_empty() && !whole {
                            h.push_str(&format!("<{tag} style=\"{word_style}\">{text}</{tag}>"));
                        } else if changed && !tag.is_empty() && line.op == Op::Delete {
                            h.push_str(&format!(
                                "<del style=\"text-decoration:line-through\">{text}</del>"
                            ));
                        } else {
                            h.push_str(&text);
                        }
                    }
                    h.push_str("</p>\n");
                }
            }
            if d.truncated {
                h.push_str(&format!("<p style=\"{LINE};color:#586069\">[diff cut: see palimpsest diff for the rest]</p>\n"));
            }
            h.push_str("</div>\n");
        }
        if let Some(st) = &v.stats {
            h.push_str(&format!(
                "<p style=\"font-size:12px;color:#586069;margin:0 0 12px 0\">{} lines added, {} removed; {} words added, {} removed</p>\n",
                st.lines_added, st.lines_removed, st.words_added, st.words_removed
            ));
        }
    }
    h.push_str("<p style=\"font-size:12px;color:#959da5;margin-top:24px\">palimpsest</p>\n</body></html>\n");
    h
}

/// A line's segments with changed words that are separated only by
/// spaces joined into one run (one `<del>` for "Jang Song Thaek").
fn changed_runs(segments: &[crate::detect::diff::Segment]) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut i = 0;
    while i < segments.len() {
        let seg = &segments[i];
        let joins = seg.changed && matches!(out.last(), Some((_, true)))
            || (!seg.changed
                && seg.text.trim().is_empty()
                && matches!(out.last(), Some((_, true)))
                && segments.get(i + 1).is_some_and(|n| n.changed));
        match out.last_mut() {
            Some(last) if joins => last.0.push_str(&seg.text),
            _ => out.push((seg.text.clone(), seg.changed)),
        }
        i += 1;
    }
    out
}

/// Builds the MIME message (both parts) for `to`.
pub fn build(
    msg: &EmailMessage,
    from: &str,
    to: &[String],
    message_id: &str,
) -> Result<Message, SendError> {
    let permanent = |what: &str, e: &dyn std::fmt::Display| SendError::Permanent {
        error: format!("{what}: {e}"),
    };
    let from: Mailbox = from
        .parse()
        .map_err(|e| permanent("the [smtp] from address is not valid", &e))?;
    let mut b = Message::builder()
        .from(from)
        .subject(header_safe(&msg.subject, 200))
        .message_id(Some(format!("<{message_id}@palimpsest>")));
    for t in to {
        let mb: Mailbox = t
            .parse()
            .map_err(|e| permanent(&format!("`{t}` is not a valid address"), &e))?;
        b = b.to(mb);
    }
    if let Some(u) = &msg.list_unsubscribe {
        b = b
            .header(ListUnsubscribe(header_safe(u, 500)))
            .header(ListUnsubscribePost);
    }
    b = b.header(header::MIME_VERSION_1_0);
    b.multipart(MultiPart::alternative_plain_html(
        msg.text.clone(),
        msg.html.clone(),
    ))
    .map_err(|e| permanent("cannot build the message", &e))
}

/// Sends one message: SMTP 4xx and connection trouble are retried, 5xx are not.
pub async fn send(mailer: &Mailer, message: Message) -> Result<(), SendError> {
    match mailer.send(message).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_permanent() => Err(SendError::Permanent {
            error: format!("SMTP {}", describe(&e)),
        }),
        Err(e) => Err(SendError::Retry {
            error: format!("SMTP {}", describe(&e)),
            retry_after: None,
        }),
    }
}

fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::payload::sample_view;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        let mut v = sample_view();
        v.title = Some("<img src=x onerror=alert(1)>".into());
        v.watch.url = "javascript:alert(1)".into();
        let html = html_part(&[v]);
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(!html.contains("<script"), "{html}");
    }

    #[test]
    fn diff_words_are_struck_and_green() {
        let html = html_part(&[sample_view()]);
        assert!(
            html.contains(&format!("<del style=\"{DEL_WORD}\">Jang Song Thaek</del>")),
            "{html}"
        );
        assert!(
            html.contains(&format!("<ins style=\"{INS_WORD}\">the delegation</ins>")),
            "{html}"
        );
        assert!(
            !html.contains("<style") && !html.contains("<link"),
            "inline styles only"
        );
    }

    #[test]
    fn user_text_cannot_inject_headers() {
        let mut v = sample_view();
        v.title = Some("Hello\r\nBcc: victim@example.org\r\n\r\nbody".into());
        let m = render(&[v], "msg_x", Some(("https://p.example/", &[3u8; 32])));
        assert!(!m.subject.contains('\n') && !m.subject.contains('\r'));
        let built = build(
            &m,
            "palimpsest <a@example.org>",
            &["d@example.org".into()],
            "msg_x",
        )
        .expect("builds");
        let raw = String::from_utf8_lossy(&built.formatted()).to_string();
        let head = raw.split("\r\n\r\n").next().unwrap_or_default();
        assert!(!head.lines().any(|l| l.starts_with("Bcc:")), "{raw}");
        assert!(!raw.contains("\nBcc:"), "not even in the body: {raw}");
        assert!(
            raw.contains(&format!(
                "List-Unsubscribe: <https://p.example/unsubscribe/msg_x.{}>",
                unsubscribe_sig(&[3u8; 32], "msg_x")
            )),
            "{raw}"
        );
    }

    #[test]
    fn first_line_names_how_and_terms() {
        let mut v = sample_view();
        v.event.kind = crate::model::EventKind::Deleted;
        v.event.data = serde_json::json!({"how": "410", "terms_removed": ["Jang Song Thaek"]});
        assert_eq!(
            subject(std::slice::from_ref(&v)),
            "[palimpsest] Deleted (410): A test alert from palimpsest (removed: Jang Song Thaek)"
        );
        assert!(text_part(&[v]).starts_with("Deleted (410): A test alert"));
    }

    #[test]
    fn digest_subject_counts() {
        let a = sample_view();
        let mut b = sample_view();
        b.watch.name = "other".into();
        assert_eq!(
            subject(&[a.clone(), a.clone(), b]),
            "[palimpsest] Digest: 3 events on 2 watches"
        );
        assert_eq!(
            subject(&[a]),
            "[palimpsest] Edited: A test alert from palimpsest"
        );
    }
}

//! Webhooks: the body for each format, Standard Webhooks signing, the
//! POST, and what the receiver's answer means.
//!
//! The body is rendered once per message and stored (see the outbox), so
//! a retry carries the same `webhook-id` and the same bytes; only
//! `webhook-timestamp` and the signature are computed per attempt.

use super::payload::{EventView, digest_envelope, envelope, first_line, kind_line};
use super::{SendError, backoff};
use crate::config::{Secret, WebhookFormat};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A rendered webhook message: the body and the headers its format needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookMessage {
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Headers a user may not set on a webhook: the ones HTTP itself or the
/// signature own. (Matched case-insensitively; `proxy-*` and `webhook-*`
/// as prefixes.)
pub const DENIED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "user-agent",
];

/// True for a header name the deny list keeps out.
pub fn is_denied_header(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    DENIED_HEADERS.contains(&n.as_str()) || n.starts_with("webhook-") || n.starts_with("proxy-")
}

/// The key of a secret: the base64 after `whsec_`, else the secret's bytes.
pub fn secret_key(secret: &Secret) -> Vec<u8> {
    let s = secret.expose();
    match s.strip_prefix("whsec_") {
        Some(b64) => B64.decode(b64).unwrap_or_else(|_| b64.as_bytes().to_vec()),
        None => s.as_bytes().to_vec(),
    }
}

/// `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length; the error arm cannot happen.
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// Renders the message for a format.
pub fn render(
    format: WebhookFormat,
    message_id: &str,
    views: &[EventView],
    now: crate::model::Millis,
) -> WebhookMessage {
    let json = |v: serde_json::Value| WebhookMessage {
        content_type: "application/json".into(),
        headers: Vec::new(),
        body: v.to_string(),
    };
    match format {
        WebhookFormat::Standard => match views {
            [one] => json(envelope(one)),
            many => json(digest_envelope(message_id, many, now)),
        },
        WebhookFormat::Slack => json(serde_json::json!({
            "text": clip(&summary(views, slack_escape, |t, u| format!("<{}|{}>", slack_escape(u), slack_escape(t))), 3500),
        })),
        WebhookFormat::Discord => json(serde_json::json!({
            "content": clip(&summary(views, |s| s.to_string(), |t, u| format!("[{t}](<{u}>)")), 1900),
            // Page text must never ping @everyone or a role.
            "allowed_mentions": { "parse": [] },
        })),
        WebhookFormat::Ntfy => {
            let title = match views {
                [one] => first_line(one),
                many => format!("palimpsest: {} events", many.len()),
            };
            let mut headers = vec![("Title".to_string(), header_text(&title))];
            if let [one] = views {
                headers.push(("Click".into(), one.watch.url.clone()));
                headers.push(("Tags".into(), one.event.kind.as_str().into()));
            }
            WebhookMessage {
                content_type: "text/plain; charset=utf-8".into(),
                headers,
                body: clip(
                    &summary(views, |s| s.to_string(), |t, u| format!("{t} {u}")),
                    3800,
                ),
            }
        }
    }
}

/// A short text: one block per event, with the diff's changed lines.
fn summary(
    views: &[EventView],
    esc: impl Fn(&str) -> String,
    link: impl Fn(&str, &str) -> String,
) -> String {
    let mut s = String::new();
    if views.len() > 1 {
        s.push_str(&format!("palimpsest: {} events\n", views.len()));
    }
    for v in views {
        let terms = super::payload::terms_note(v)
            .map(|t| esc(&format!(" ({t})")))
            .unwrap_or_default();
        s.push_str(&format!(
            "{}: {}{terms}\n",
            esc(&kind_line(v)),
            link(v.headline(), &v.watch.url)
        ));
        if let Some(d) = &v.diff {
            s.push_str("```\n");
            for l in d.diff.hunks.iter().flat_map(|h| &h.lines) {
                let sign = match l.op {
                    crate::detect::diff::Op::Equal => continue,
                    crate::detect::diff::Op::Delete => '-',
                    crate::detect::diff::Op::Insert => '+',
                };
                s.push(sign);
                s.push_str(&esc(&l.text()).replace("```", "'''"));
                s.push('\n');
            }
            s.push_str("```\n");
        }
    }
    s
}

fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` bytes, cut at a character boundary, marked when cut.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(4);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n…", &s[..end])
}

/// A header value from user text: one line of visible characters;
/// non-ASCII as an RFC 2047 encoded word (ntfy decodes it).
fn header_text(s: &str) -> String {
    let line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if line.is_ascii() {
        line
    } else {
        format!("=?UTF-8?B?{}?=", B64.encode(line.as_bytes()))
    }
}

/// Sends one message. `Ok` is a 2xx; the error says whether to retry.
pub async fn send(
    client: &reqwest::Client,
    url: &url::Url,
    secret: Option<&Secret>,
    extra_headers: &[(String, String)],
    message_id: &str,
    msg: &WebhookMessage,
) -> Result<u16, SendError> {
    let timestamp = jiff::Timestamp::now().as_second();
    let mut req = client
        .post(url.clone())
        .header("content-type", &msg.content_type)
        .header("webhook-id", message_id)
        .header("webhook-timestamp", timestamp.to_string());
    if let Some(secret) = secret {
        req = req.header(
            "webhook-signature",
            sign(
                &secret_key(secret),
                message_id,
                timestamp,
                msg.body.as_bytes(),
            ),
        );
    }
    for (k, v) in &msg.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    // Config validation refuses these already; the send refuses them too.
    for (k, v) in extra_headers.iter().filter(|(k, _)| !is_denied_header(k)) {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = match req.body(msg.body.clone()).send().await {
        Ok(r) => r,
        // Never the URL in an error: a webhook URL is often a secret itself.
        Err(e) => {
            return Err(SendError::Retry {
                error: describe(&e.without_url()),
                retry_after: None,
            });
        }
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| backoff::parse_retry_after(v, crate::model::now_millis()));
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if (200..300).contains(&status) {
        return Ok(status);
    }
    let body = snippet(resp).await;
    Err(classify(status, retry_after, location.as_deref(), &body))
}

/// What a non-2xx answer means.
pub fn classify(
    status: u16,
    retry_after: Option<Duration>,
    location: Option<&str>,
    body: &str,
) -> SendError {
    let said = if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    };
    match status {
        408 | 429 | 500..=599 => SendError::Retry {
            error: format!("HTTP {status}{said}"),
            retry_after,
        },
        410 => SendError::Gone {
            error: format!("HTTP 410 Gone{said}; the channel is disabled until its config changes"),
        },
        300..=399 => SendError::Permanent {
            error: format!(
                "HTTP {status} redirect{}; webhooks do not follow redirects: update the channel's url",
                location
                    .map(|l| format!(" to {}", one_line(l, 200)))
                    .unwrap_or_default()
            ),
        },
        _ => SendError::Permanent {
            error: format!("HTTP {status}{said}"),
        },
    }
}

async fn snippet(resp: reqwest::Response) -> String {
    match tokio::time::timeout(Duration::from_secs(2), resp.bytes()).await {
        Ok(Ok(b)) => one_line(&String::from_utf8_lossy(&b[..b.len().min(400)]), 200),
        _ => String::new(),
    }
}

fn one_line(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect::<String>()
        .trim()
        .to_string()
}

/// A reqwest error in plain words (never with its URL).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_request() {
        "request failed"
    } else {
        "failed"
    };
    let mut detail = String::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        detail = s.to_string();
        src = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_spec_example() {
        // The example of the Standard Webhooks spec and its libraries.
        let key = secret_key(&Secret::new(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        ));
        let sig = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn deny_list() {
        for h in [
            "Host",
            "content-length",
            "Webhook-Signature",
            "webhook-id",
            "Proxy-Authorization",
            "Transfer-Encoding",
            "Connection",
        ] {
            assert!(is_denied_header(h), "{h}");
        }
        for h in ["Authorization", "X-Team", "Priority"] {
            assert!(!is_denied_header(h), "{h}");
        }
    }

    #[test]
    fn answers_are_classified() {
        assert!(matches!(
            classify(503, None, None, ""),
            SendError::Retry { .. }
        ));
        assert!(matches!(
            classify(429, Some(Duration::from_secs(5)), None, ""),
            SendError::Retry {
                retry_after: Some(_),
                ..
            }
        ));
        assert!(matches!(
            classify(408, None, None, ""),
            SendError::Retry { .. }
        ));
        assert!(matches!(
            classify(400, None, None, "bad"),
            SendError::Permanent { .. }
        ));
        assert!(matches!(
            classify(404, None, None, ""),
            SendError::Permanent { .. }
        ));
        assert!(matches!(
            classify(410, None, None, ""),
            SendError::Gone { .. }
        ));
        match classify(301, None, Some("https://x.example/\r\nnew"), "") {
            SendError::Permanent { error } => assert!(!error.contains('\n'), "{error}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn presets_are_what_the_services_take() {
        let v = super::super::payload::sample_view();
        let slack = render(WebhookFormat::Slack, "m", std::slice::from_ref(&v), 0);
        let j: serde_json::Value = serde_json::from_str(&slack.body).expect("json");
        assert!(
            j["text"]
                .as_str()
                .unwrap_or_default()
                .contains("-Kim Jong Un met Jang Song Thaek")
        );
        let discord = render(WebhookFormat::Discord, "m", std::slice::from_ref(&v), 0);
        let j: serde_json::Value = serde_json::from_str(&discord.body).expect("json");
        assert!(j["content"].is_string());
        assert_eq!(j["allowed_mentions"]["parse"], serde_json::json!([]));
        let mut v2 = v.clone();
        v2.title = Some("Évènement\r\nX-Evil: 1".into());
        let ntfy = render(WebhookFormat::Ntfy, "m", &[v2], 0);
        let title = &ntfy.headers[0].1;
        assert!(
            title.starts_with("=?UTF-8?B?") && !title.contains('\n'),
            "{title}"
        );
        assert!(ntfy.content_type.starts_with("text/plain"));
    }
}

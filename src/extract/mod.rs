//! Extraction: from a decoded response body to the normalized text lines
//! that are stored and diffed, plus the page title and its links.
//!
//! * HTML is parsed once ([`html`]); title, links and text all come from
//!   that one tree. Without a `select` rule, [`main_content`] removes the
//!   navigation, headers, footers and "more articles" teaser lists around
//!   the article so that a rotating sidebar is never an edit.
//! * JSON becomes canonical pretty-printed JSON (sorted keys).
//! * `text/plain` passes through (normalized line by line).
//! * Anything else is represented by one line naming its type, size and hash.
//!
//! Every line is whitespace-collapsed and in Unicode NFC; empty lines are
//! dropped. Then the watch's `ignore` regexes remove what they match.

mod html;
pub mod listing;
mod main_content;
mod normalize;

pub use html::title_of;
pub use normalize::normalize_line;

use regex::Regex;
use scraper::Selector;
use serde::{Deserialize, Serialize};

/// A watch's extraction rules, compiled once.
#[derive(Debug, Default)]
pub struct Rules {
    select: Option<Selector>,
    exclude: Vec<Selector>,
    ignore: Vec<Regex>,
    /// blake3 of the rule sources: a stored version made under other rules
    /// cannot be compared by body hash alone.
    fingerprint: [u8; 32],
    /// Collect the page's links (`palimpsest check` shows them; a check
    /// stores none, so it only counts them for the main-content choice).
    links: bool,
}

/// A rule that does not compile.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("`{0}` is not a CSS selector: {1}")]
    Selector(String, String),
    #[error("`{0}` is not a regular expression: {1}")]
    Regex(String, String),
}

impl Rules {
    /// Compiles the rules. Config validation reports errors with their place
    /// first, so at run time this only fails for API input.
    pub fn new(
        select: Option<&str>,
        exclude: &[String],
        ignore: &[String],
    ) -> Result<Rules, RuleError> {
        let sel = |s: &str| {
            Selector::parse(s).map_err(|e| RuleError::Selector(s.to_string(), e.to_string()))
        };
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"rules-v1\0");
        if let Some(s) = select {
            hasher
                .update(b"select\0")
                .update(s.as_bytes())
                .update(b"\0");
        }
        for e in exclude {
            hasher
                .update(b"exclude\0")
                .update(e.as_bytes())
                .update(b"\0");
        }
        for i in ignore {
            hasher
                .update(b"ignore\0")
                .update(i.as_bytes())
                .update(b"\0");
        }
        hasher.update(EXTRACTOR_VERSION.as_bytes());
        Ok(Rules {
            select: select.map(sel).transpose()?,
            exclude: exclude.iter().map(|s| sel(s)).collect::<Result<_, _>>()?,
            ignore: ignore
                .iter()
                .map(|r| Regex::new(r).map_err(|e| RuleError::Regex(r.clone(), e.to_string())))
                .collect::<Result<_, _>>()?,
            fingerprint: *hasher.finalize().as_bytes(),
            links: false,
        })
    }

    /// The same rules, also collecting the links into [`Extracted::links`].
    pub fn with_links(mut self) -> Rules {
        self.links = true;
        self
    }

    /// Checks one selector, for config validation.
    pub fn check_selector(s: &str) -> Result<(), String> {
        Selector::parse(s).map(|_| ()).map_err(|e| e.to_string())
    }

    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// Removes what the `ignore` regexes match; lines left empty go.
    fn apply_ignore(&self, lines: Vec<String>) -> Vec<String> {
        if self.ignore.is_empty() {
            return lines;
        }
        lines
            .into_iter()
            .filter_map(|line| {
                let mut line = line;
                for re in &self.ignore {
                    if re.is_match(&line) {
                        line = re.replace_all(&line, "").into_owned();
                    }
                }
                let line = normalize_line(&line);
                (!line.is_empty()).then_some(line)
            })
            .collect()
    }
}

/// Bumped when extraction changes in a way that changes stored text, so
/// that the body-hash shortcut is not trusted across the upgrade.
pub const EXTRACTOR_VERSION: &str = "extract-1";

/// What kind of document the text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    Html,
    Json,
    Text,
    Other,
}

/// A link found in a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Absolute URL (resolved against the page URL and `<base href>`).
    pub href: String,
    /// The link's text, normalized; may be empty for image links.
    pub text: String,
}

/// The result of extraction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    pub kind: DocKind,
    /// Normalized, non-empty text lines, `ignore` rules applied.
    pub lines: Vec<String>,
    pub title: Option<String>,
    pub links: Vec<Link>,
}

impl Extracted {
    /// The text as stored: lines joined by `\n`.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// Extracts text, title and links from a decoded body.
///
/// `content_type` is the response's media type (without parameters, lower
/// case); `base` is the final URL of the response. `raw_len` and `raw_hash`
/// describe the undecoded body, for documents that have no text.
pub fn extract(
    body: &str,
    content_type: &str,
    base: &url::Url,
    rules: &Rules,
    raw_len: usize,
    raw_hash: &str,
) -> Extracted {
    let kind = classify(content_type, body);
    let mut out = match kind {
        DocKind::Html => html::extract_html(body, base, rules),
        DocKind::Json => match serde_json::from_str::<serde_json::Value>(body) {
            Ok(v) => Extracted {
                kind,
                lines: serde_json::to_string_pretty(&v)
                    .unwrap_or_default()
                    .lines()
                    .map(|l| l.trim_end().to_string())
                    .collect(),
                title: None,
                links: Vec::new(),
            },
            // A JSON endpoint that answers with something else: keep it as text.
            Err(_) => plain(body, DocKind::Text),
        },
        DocKind::Text => plain(body, kind),
        DocKind::Other => Extracted {
            kind,
            lines: vec![format!(
                "[{} document, {raw_len} bytes, blake3 {raw_hash}]",
                if content_type.is_empty() {
                    "unknown"
                } else {
                    content_type
                }
            )],
            title: None,
            links: Vec::new(),
        },
    };
    out.lines = rules.apply_ignore(out.lines);
    out
}

fn plain(body: &str, kind: DocKind) -> Extracted {
    Extracted {
        kind,
        lines: body
            .lines()
            .map(normalize_line)
            .filter(|l| !l.is_empty())
            .collect(),
        title: None,
        links: Vec::new(),
    }
}

/// Decides how to read a body from its media type, sniffing when the
/// server sent none or a generic one.
fn classify(content_type: &str, body: &str) -> DocKind {
    match content_type {
        "text/html" | "application/xhtml+xml" => DocKind::Html,
        t if t == "application/json" || t.ends_with("+json") => DocKind::Json,
        t if t.starts_with("text/") => DocKind::Text,
        "" | "application/octet-stream" => {
            let head = body.trim_start().get(..body.len().min(512)).unwrap_or("");
            let lower = head.to_ascii_lowercase();
            if lower.starts_with("<!doctype html") || lower.contains("<html") {
                DocKind::Html
            } else if head.starts_with('{') || head.starts_with('[') {
                DocKind::Json
            } else {
                DocKind::Other
            }
        }
        _ => DocKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> url::Url {
        url::Url::parse("http://example.org/a/1.html").expect("url")
    }

    #[test]
    fn json_is_canonical() {
        let a = extract(
            r#"{"b":1,"a":[1,2]}"#,
            "application/json",
            &base(),
            &Rules::default(),
            0,
            "",
        );
        let b = extract(
            "{ \"a\": [1, 2], \"b\": 1 }",
            "application/json",
            &base(),
            &Rules::default(),
            0,
            "",
        );
        assert_eq!(a.lines, b.lines);
        assert_eq!(a.lines[0], "{");
        assert_eq!(a.lines[1], "  \"a\": [");
    }

    #[test]
    fn plain_text_passes_through() {
        let e = extract(
            "one  line\r\n\r\n  two\n",
            "text/plain",
            &base(),
            &Rules::default(),
            0,
            "",
        );
        assert_eq!(e.lines, vec!["one line", "two"]);
    }

    #[test]
    fn ignore_removes_matches() {
        let rules =
            Rules::new(None, &[], &["^Updated: .*$".into(), r"\d+ views".into()]).expect("rules");
        let e = extract(
            "Updated: 10:31\nbody text\nread 1234 views today\n",
            "text/plain",
            &base(),
            &rules,
            0,
            "",
        );
        assert_eq!(e.lines, vec!["body text", "read today"]);
    }

    #[test]
    fn binary_is_one_line() {
        let e = extract("", "application/pdf", &base(), &Rules::default(), 10, "abc");
        assert_eq!(
            e.lines,
            vec!["[application/pdf document, 10 bytes, blake3 abc]"]
        );
    }
}

//! Is this answer the page, or a sign that the page is gone?
//!
//! Status codes say it plainly (404, 410). Sites also say it less plainly,
//! and these are the rules for that, each general rather than tuned to one
//! site:
//!
//! * **redirects**: a redirect to the site's front page, to a section above
//!   the article (`/en/article/12.html` → `/en/`), or to any other page whose
//!   text is not the article's, means the article is gone. A redirect that
//!   only normalises the URL (`http` → `https`, `www.`, a trailing slash) or
//!   leads to the same text under a new address is the page itself.
//! * **soft 404s** (a "not found" page served with status 200): an
//!   error-like title or short error-like text; a text that collapses to
//!   almost nothing or to a placeholder such as `NULL`; or, when the text
//!   changed beyond recognition, an answer that looks like the one the site
//!   gives for a URL that certainly does not exist (a random sibling URL,
//!   probed by the check).

use url::Url;

/// Where a redirect led, compared with the watched URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// The same resource (scheme, `www.`, trailing slash, case of the host).
    Same,
    /// The front page of the site.
    Root,
    /// A section above the page (a prefix of its path).
    Section,
    /// Another page: the text decides.
    Elsewhere,
}

/// Classifies the final URL of a redirected request.
pub fn redirect_kind(watched: &Url, landed: &Url) -> RedirectKind {
    if same_resource(watched, landed) {
        return RedirectKind::Same;
    }
    let path = landed.path().trim_end_matches('/');
    let root_like = path.is_empty()
        || matches!(
            path.to_ascii_lowercase().as_str(),
            "/index.html"
                | "/index.htm"
                | "/index.php"
                | "/index.jsp"
                | "/index.asp"
                | "/index.aspx"
                | "/default.aspx"
                | "/default.asp"
                | "/home"
                | "/main"
        );
    let same_site = site(watched) == site(landed);
    if same_site && root_like && landed.query().is_none() {
        return RedirectKind::Root;
    }
    let wpath = watched.path().trim_end_matches('/');
    if same_site && !path.is_empty() && wpath.starts_with(&format!("{path}/")) {
        return RedirectKind::Section;
    }
    RedirectKind::Elsewhere
}

/// The host without `www.`, lower case.
fn site(u: &Url) -> String {
    let h = u.host_str().unwrap_or("").to_ascii_lowercase();
    h.strip_prefix("www.").map(str::to_string).unwrap_or(h)
}

fn same_resource(a: &Url, b: &Url) -> bool {
    let path = |u: &Url| {
        let p = u.path().trim_end_matches('/').to_string();
        p.strip_suffix("/index.html")
            .map(str::to_string)
            .unwrap_or(p)
    };
    let port = |u: &Url| u.port_or_known_default().filter(|p| *p != 80 && *p != 443);
    site(a) == site(b) && port(a) == port(b) && path(a) == path(b) && a.query() == b.query()
}

/// Phrases that "not found" pages use, in the languages our users watch.
/// Matched case-insensitively against the title and against short texts.
const NOT_FOUND: &[&str] = &[
    "page not found",
    "not found",
    "404",
    "no longer available",
    "no longer exists",
    "does not exist",
    "doesn't exist",
    "cannot be found",
    "can't be found",
    "could not be found",
    "couldn't be found",
    "page unavailable",
    "has been removed",
    "has been deleted",
    "no such page",
    "article not available",
    "content not available",
    "찾을 수 없",
    "존재하지 않",
    "삭제된",
    "페이지가 없",
    "找不到",
    "不存在",
    "已删除",
    "見つかりません",
    "存在しません",
    "не найден",
    "не существует",
    "удален",
    "nicht gefunden",
    "existiert nicht",
    "introuvable",
    "n'existe pas",
    "non trouvée",
    "no encontrad",
    "no existe",
    "غير موجود",
    "لم يتم العثور",
];

/// Texts that pages render when their data is missing.
const PLACEHOLDERS: &[&str] = &[
    "",
    "null",
    "undefined",
    "none",
    "nil",
    "n/a",
    "na",
    "-",
    "--",
    "{}",
    "[]",
    "0",
    "false",
    "nan",
    "error",
];

/// Texts shorter than this (in characters) may be judged by their wording.
const SHORT_TEXT: usize = 600;

/// Why a 200 answer looks like a "not found" page, judged on its own and
/// against the last good version. `None`: it looks like content.
pub fn soft404_reason(
    title: Option<&str>,
    text: &str,
    prev_title: Option<&str>,
    prev_text: &str,
) -> Option<String> {
    let len = text.chars().count();
    let prev_len = prev_text.chars().count();
    // Placeholders are short ASCII words: only a short text can be one, so
    // an article's text is never lower-cased for this.
    let trimmed = text.trim();
    let placeholder =
        trimmed.len() <= 16 && PLACEHOLDERS.iter().any(|p| trimmed.eq_ignore_ascii_case(p));
    if placeholder && !prev_text.trim().is_empty() {
        return Some(format!("the text is a placeholder ({:?})", text.trim()));
    }
    // A title that turned into an error title (an article about "404
    // errors" keeps its title, so it never turns into one).
    if let Some(t) = title
        && let Some(p) = not_found_phrase(t)
        && prev_title.is_none_or(|pt| not_found_phrase(pt).is_none())
        && len < prev_len.max(1) * 3 / 4 + SHORT_TEXT
    {
        return Some(format!("the title says {p:?}"));
    }
    if len < SHORT_TEXT
        && len * 2 < prev_len
        && let Some(p) = not_found_phrase(text)
    {
        return Some(format!("the text says {p:?}"));
    }
    if prev_len >= 200 && len * 20 < prev_len && len < 60 {
        return Some(format!(
            "the text collapsed from {prev_len} to {len} characters"
        ));
    }
    None
}

/// Whether a title says "not found" in one of the known phrasings.
pub fn is_error_title(title: &str) -> bool {
    not_found_phrase(title).is_some()
}

fn not_found_phrase(s: &str) -> Option<&'static str> {
    let lower = s.to_lowercase();
    NOT_FOUND.iter().copied().find(|p| {
        if p.chars().all(|c| c.is_ascii_alphanumeric()) {
            // Short ASCII tokens ("404") must stand alone: not "14040".
            lower
                .match_indices(p)
                .any(|(i, m)| !is_word_at(&lower, i) && !is_word_before(&lower, i + m.len()))
        } else {
            lower.contains(p)
        }
    })
}

fn is_word_at(s: &str, i: usize) -> bool {
    s[..i]
        .chars()
        .next_back()
        .is_some_and(char::is_alphanumeric)
}

fn is_word_before(s: &str, i: usize) -> bool {
    s[i..].chars().next().is_some_and(char::is_alphanumeric)
}

/// Signatures of bot walls: CDN and WAF challenge and block pages, and
/// captchas. Matched (case-insensitively) in the first bytes of a body.
const BOT_WALLS: &[(&str, &str)] = &[
    ("cf-chl-", "Cloudflare challenge"),
    ("challenge-platform", "Cloudflare challenge"),
    ("<title>just a moment...</title>", "Cloudflare challenge"),
    ("attention required! | cloudflare", "Cloudflare block"),
    ("cf-error-details", "Cloudflare block"),
    ("_incapsula_resource", "Imperva/Incapsula"),
    ("incapsula incident id", "Imperva/Incapsula"),
    ("px-captcha", "PerimeterX captcha"),
    ("captcha-delivery.com", "DataDome captcha"),
    ("g-recaptcha", "reCAPTCHA"),
    ("h-captcha", "hCaptcha"),
    ("cf-turnstile", "Cloudflare Turnstile"),
    ("sucuri website firewall", "Sucuri firewall"),
    ("akamai reference #", "Akamai block"),
    ("<title>access denied</title>", "access denied page"),
];

/// The bot wall a response is, if any. Only short pages are judged: a
/// challenge page is small, and an article that embeds a captcha in its
/// comment form is not a wall.
pub fn bot_wall(body: &[u8]) -> Option<&'static str> {
    if body.len() > 24 * 1024 {
        return None;
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(16 * 1024)]).to_lowercase();
    BOT_WALLS
        .iter()
        .find(|(sig, _)| head.contains(sig))
        .map(|(_, what)| *what)
}

/// Similarity of two texts in [0, 1]: the Dice coefficient of their
/// multisets of word pairs, over at most the first few thousand words.
pub fn similarity(a: &str, b: &str) -> f32 {
    const MAX_WORDS: usize = 4000;
    if a == b {
        return 1.0;
    }
    // Most changes leave long equal runs at both ends: their share of the
    // bytes is a lower bound of the similarity, found with two memcmps.
    let (pre, suf) = super::diff::equal_ends(a.as_bytes(), b.as_bytes());
    let shared = (2 * (pre + suf)) as f32 / (a.len() + b.len()) as f32;
    if shared >= SAME_PAGE_AT {
        return shared;
    }
    super::diff::word_pair_dice(a, b, MAX_WORDS)
}

/// Below this similarity to the last version, a 200 answer is suspicious
/// enough to be compared with the site's answer for a missing page.
pub const PROBE_BELOW: f32 = 0.35;
/// At or above this similarity, an answer is the site's "missing page".
pub const SAME_PAGE_AT: f32 = 0.8;

/// A sibling URL that certainly does not exist: the last path segment
/// replaced by a random token, its extension kept.
pub fn probe_url(watched: &Url, token: &str) -> Url {
    let mut u = watched.clone();
    let path = watched.path();
    let (dir, last) = path.rsplit_once('/').unwrap_or(("", path));
    let ext = last
        .rsplit_once('.')
        .map(|(_, e)| e)
        .filter(|e| !e.is_empty() && e.len() <= 5 && e.chars().all(|c| c.is_ascii_alphanumeric()));
    let name = match ext {
        Some(e) => format!("palimpsest-probe-{token}.{e}"),
        None => format!("palimpsest-probe-{token}"),
    };
    u.set_path(&format!("{dir}/{name}"));
    u.set_query(None);
    u.set_fragment(None);
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    #[test]
    fn redirects() {
        let a = u("http://example.org/en/article/12.html");
        assert_eq!(
            redirect_kind(&a, &u("https://www.example.org/en/article/12.html")),
            RedirectKind::Same
        );
        assert_eq!(
            redirect_kind(&a, &u("http://example.org/")),
            RedirectKind::Root
        );
        assert_eq!(
            redirect_kind(&a, &u("http://example.org/index.php")),
            RedirectKind::Root
        );
        assert_eq!(
            redirect_kind(&a, &u("http://example.org/en/")),
            RedirectKind::Section
        );
        assert_eq!(
            redirect_kind(&a, &u("http://example.org/en/article")),
            RedirectKind::Section
        );
        assert_eq!(
            redirect_kind(&a, &u("http://example.org/en/article/13.html")),
            RedirectKind::Elsewhere
        );
        assert_eq!(
            redirect_kind(&a, &u("http://other.org/")),
            RedirectKind::Elsewhere
        );
        let dir = u("http://example.org/news/");
        assert_eq!(
            redirect_kind(&dir, &u("http://example.org/news")),
            RedirectKind::Same
        );
    }

    #[test]
    fn soft_404s() {
        let article = "Kim met the delegation. ".repeat(40);
        assert!(
            soft404_reason(Some("Page not found"), "Sorry.", Some("Talks"), &article).is_some()
        );
        assert!(soft404_reason(Some("Talks"), "NULL", Some("Talks"), &article).is_some());
        assert!(
            soft404_reason(
                None,
                "The page you requested does not exist.",
                None,
                &article
            )
            .is_some()
        );
        assert!(soft404_reason(Some("Talks"), "x", Some("Talks"), &article).is_some());
        assert!(soft404_reason(Some("페이지를 찾을 수 없습니다"), "", None, &article).is_some());
        // Content, even about errors, is content.
        assert!(
            soft404_reason(
                Some("Talks"),
                &article.replace("Kim", "Pak"),
                Some("Talks"),
                &article
            )
            .is_none()
        );
        let about = "Why 404 pages matter. ".repeat(40);
        assert!(
            soft404_reason(Some("The 404 page"), &about, Some("The 404 page"), &about).is_none()
        );
        assert!(soft404_reason(Some("Room 14040"), &article, Some("Talks"), &article).is_none());
        // A page that was always tiny is not "collapsed".
        assert!(soft404_reason(Some("Hi"), "ok", Some("Hi"), "fine").is_none());
    }

    #[test]
    fn bot_walls() {
        let cf = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body><div id=\"cf-chl-widget\"></div></body></html>";
        assert_eq!(bot_wall(cf), Some("Cloudflare challenge"));
        assert!(bot_wall(b"<html><body><p>An article about captchas.</p></body></html>").is_none());
        let mut big = b"<form class=\"g-recaptcha\">".to_vec();
        big.extend(std::iter::repeat_n(b'x', 30 * 1024));
        assert!(
            bot_wall(&big).is_none(),
            "a long page with a comment captcha is content"
        );
    }

    #[test]
    fn similarity_and_probe() {
        assert!(similarity("a b c d e", "a b c d e") > 0.99);
        assert!(similarity("the cat sat on the mat", "a dog ran in the park") < 0.2);
        let p = probe_url(&u("http://example.org/en/article/12.html?x=1"), "abc");
        assert_eq!(
            p.as_str(),
            "http://example.org/en/article/palimpsest-probe-abc.html"
        );
        let p = probe_url(&u("http://example.org/news/story"), "abc");
        assert_eq!(p.as_str(), "http://example.org/news/palimpsest-probe-abc");
    }
}

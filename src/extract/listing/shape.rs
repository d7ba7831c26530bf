//! URL shapes: what the links of one list have in common.
//!
//! The articles of an index share a URL pattern that differs from every
//! other link on the page: `/en/article/40.html` and `/en/article/39.html`
//! are both `/en/article/{n}.html`, while the menu's `/en/politics/` and
//! `/en/economy/` stay literal (each its own shape), pagination is
//! `/news?page={n}` and a tag cloud `/tag/{s}`. A path segment (or query
//! value) is *variable* when it is all digits (`{n}`) or looks like an
//! identifier or a slug (`{s}`): it contains a digit, a `-`, `_`, `+`, `~`
//! or `%`, a non-ASCII letter, or is longer than 24 characters. A short
//! plain word is a literal: it names a section, not an article. A file
//! extension stays literal (`{n}.html`). Query keys are literal and sorted,
//! their values abstracted the same way.

use url::Url;

/// The shape of a URL: host, abstracted path and abstracted query.
pub(super) fn shape(url: &Url) -> String {
    let mut out = String::new();
    out.push_str(url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    match url.path_segments() {
        Some(segments) => {
            for seg in segments {
                out.push('/');
                out.push_str(&abstract_part(seg));
            }
        }
        None => out.push_str(url.path()),
    }
    if url.query().is_some() {
        let mut pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), abstract_part(&v)))
            .collect();
        pairs.sort();
        pairs.dedup();
        out.push('?');
        for (n, (k, v)) in pairs.iter().enumerate() {
            if n > 0 {
                out.push('&');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// The family of a shape: its literal path segments and query values
/// replaced by `*` when it has a variable part (`/politics/{n}.html` and
/// `/world/{n}.html` are one family: the sections of one article list);
/// a shape without a variable part is its own family.
pub(super) fn family(shape: &str) -> String {
    if !shape.contains("{n}") && !shape.contains("{s}") {
        return shape.to_string();
    }
    let (path, query) = shape.split_once('?').unwrap_or((shape, ""));
    let mut out = String::new();
    for (n, seg) in path.split('/').enumerate() {
        if n > 0 {
            out.push('/');
        }
        // The host stays; so does a variable segment (with its extension).
        if n == 0 || seg.is_empty() || seg.starts_with("{n}") || seg.starts_with("{s}") {
            out.push_str(seg);
        } else {
            out.push('*');
        }
    }
    if !query.is_empty() {
        out.push('?');
        for (n, pair) in query.split('&').enumerate() {
            if n > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((k, v)) if !v.starts_with('{') && !v.is_empty() => {
                    out.push_str(k);
                    out.push_str("=*");
                }
                _ => out.push_str(pair),
            }
        }
    }
    out
}

/// One path segment or query value with its variable part abstracted.
fn abstract_part(part: &str) -> String {
    if part.is_empty() {
        return String::new();
    }
    let (stem, ext) = split_extension(part);
    let stem_shape = if stem.bytes().all(|b| b.is_ascii_digit()) {
        "{n}"
    } else if is_variable(stem) {
        "{s}"
    } else {
        stem
    };
    format!("{stem_shape}{ext}")
}

/// `40.html` → (`40`, `.html`); an extension is 1–5 ASCII alphanumerics
/// with at least one letter, after a non-empty stem.
fn split_extension(part: &str) -> (&str, &str) {
    if let Some(dot) = part.rfind('.') {
        let (stem, ext) = part.split_at(dot);
        let e = &ext[1..];
        if !stem.is_empty()
            && (1..=5).contains(&e.len())
            && e.bytes().all(|b| b.is_ascii_alphanumeric())
            && e.bytes().any(|b| b.is_ascii_alphabetic())
        {
            return (stem, ext);
        }
    }
    (part, "")
}

fn is_variable(stem: &str) -> bool {
    stem.len() > 24
        || !stem.is_ascii()
        || stem.bytes().any(|b| {
            b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'+' | b'~' | b'%' | b'.' | b',')
        })
}

/// Second-level labels under which country domains register names
/// (`bbc.co.uk`, `naenara.com.kp`, `rodong.rep.kp`).
const SECOND_LEVEL: &[&str] = &[
    "ac", "biz", "co", "com", "edu", "go", "gob", "gouv", "gov", "govt", "info", "ltd", "mil",
    "ne", "net", "nom", "or", "org", "plc", "rep", "sch",
];

/// The site a host belongs to: the registrable part approximated without a
/// suffix list (`www.naenara.com.kp` → `naenara.com.kp`, `m.example.org` →
/// `example.org`); an IP address or a single label is its own site.
pub(super) fn site(host: &str) -> &str {
    let host = host.trim_end_matches('.');
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return host;
    }
    let labels: Vec<&str> = host.rsplitn(4, '.').collect();
    // labels are reversed: [tld, second, third, rest...]
    let keep = match labels.as_slice() {
        [tld, second, _, ..] if tld.len() == 2 && SECOND_LEVEL.contains(second) => 3,
        _ => 2,
    };
    if labels.len() <= keep {
        return host;
    }
    let mut cut = host.len();
    for _ in 0..keep {
        match host[..cut].rfind('.') {
            Some(p) => cut = p,
            None => return host,
        }
    }
    &host[cut + 1..]
}

/// True when `url` is on the same site as `page` (see [`site`]).
pub(super) fn same_site(page: &Url, url: &Url) -> bool {
    match (page.host_str(), url.host_str()) {
        (Some(a), Some(b)) => site(&a.to_ascii_lowercase()) == site(&b.to_ascii_lowercase()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(u: &str) -> String {
        shape(&Url::parse(u).expect("url"))
    }

    #[test]
    fn shapes_abstract_the_variable_part() {
        assert_eq!(
            s("http://e.org/en/article/40.html"),
            "e.org/en/article/{n}.html"
        );
        assert_eq!(
            s("http://e.org/en/article/40.html"),
            s("http://e.org/en/article/7.html")
        );
        assert_ne!(
            s("http://e.org/en/politics/"),
            s("http://e.org/en/economy/")
        );
        assert_eq!(
            s("https://e.org/2024/05/kim-visits-a-farm/"),
            "e.org/{n}/{n}/{s}/"
        );
        assert_eq!(s("https://e.org/tag/kim-jong-un"), "e.org/tag/{s}");
        assert_eq!(
            s("https://e.org/view.php?lang=en&id=123"),
            "e.org/view.php?id={n}&lang=en"
        );
        assert_ne!(
            s("https://e.org/view.php?id=1&lang=en"),
            s("https://e.org/view.php?id=1&lang=ko")
        );
        assert_eq!(s("https://e.org/a/%EC%9E%A5"), "e.org/a/{s}");
        assert_eq!(s("https://e.org/v/dQw4w9WgXcQ"), "e.org/v/{s}");
        assert_eq!(s("http://127.0.0.1:8080/a/1"), "127.0.0.1:8080/a/{n}");
    }

    #[test]
    fn families_join_sections() {
        let f = |u: &str| family(&s(u));
        assert_eq!(f("http://e.org/politics/12.html"), "e.org/*/{n}.html");
        assert_eq!(
            f("http://e.org/politics/12.html"),
            f("http://e.org/world/13.html")
        );
        assert_eq!(
            f("http://e.org/v?cat=politics&id=1"),
            f("http://e.org/v?cat=world&id=2")
        );
        assert_ne!(f("http://e.org/tag/a-b"), f("http://e.org/news/12"));
        // Without a variable part a shape is its own family.
        assert_eq!(f("http://e.org/en/politics/"), "e.org/en/politics/");
    }

    #[test]
    fn sites() {
        assert_eq!(site("www.naenara.com.kp"), "naenara.com.kp");
        assert_eq!(site("naenara.com.kp"), "naenara.com.kp");
        assert_eq!(site("news.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(site("m.example.org"), "example.org");
        assert_eq!(site("example.org"), "example.org");
        assert_eq!(site("127.0.0.1"), "127.0.0.1");
        assert_eq!(site("localhost"), "localhost");
        assert_eq!(site("a.b.example.de"), "example.de");
        assert_eq!(site("www.dw.de"), "dw.de");
        assert_eq!(site("www.rodong.rep.kp"), "rodong.rep.kp");
        let page = Url::parse("http://www.kcna.kp/en").expect("url");
        assert!(same_site(
            &page,
            &Url::parse("http://kcna.kp/x").expect("url")
        ));
        assert!(!same_site(
            &page,
            &Url::parse("http://other.kp/x").expect("url")
        ));
    }
}

//! Property tests: the parsers never panic on any input, and extraction is
//! a pure function of its input (the same page always gives the same text).

use palimpsest::config::validate_source;
use palimpsest::extract::{Rules, extract};
use proptest::prelude::*;

fn base() -> url::Url {
    url::Url::parse("http://example.org/a/1.html").expect("url")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn config_parser_never_panics(text in "\\PC{0,400}") {
        let _ = validate_source(&text, "fuzz.toml", None);
    }

    #[test]
    fn config_errors_point_inside_the_file(key in "[a-z_]{1,12}", value in "[ -~]{0,20}") {
        let text = format!("[fetch]\n{key} = \"{value}\"\n");
        if let Err(e) = validate_source(&text, "f.toml", None) {
            for d in &e.diagnostics {
                if let Some((line, col)) = d.location {
                    prop_assert!((1..=3).contains(&line), "{line}");
                    prop_assert!(col >= 1, "{col}");
                }
            }
        }
    }

    #[test]
    fn html_extraction_never_panics_and_is_stable(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("<div>".to_string()), Just("</div>".to_string()), Just("<p>".to_string()),
                Just("<ul><li><a href=\"/x\">link</a></li>".to_string()), Just("<nav>".to_string()),
                Just("<script>var a='<p>';</script>".to_string()), Just("<article>".to_string()),
                Just("<br>".to_string()), Just("&amp;&nbsp;&#x41;".to_string()), "[a-zA-Z가-힣 .,]{0,40}",
                Just("<table><tr><td>cell</td></tr>".to_string()), Just("<!-- c -->".to_string()),
            ],
            0..60,
        )
    ) {
        let html = parts.concat();
        let a = extract(&html, "text/html", &base(), &Rules::default(), html.len(), "h");
        let b = extract(&html, "text/html", &base(), &Rules::default(), html.len(), "h");
        prop_assert_eq!(&a, &b);
        for line in &a.lines {
            prop_assert!(!line.is_empty());
            prop_assert_eq!(line.trim(), line.as_str());
        }
    }

    #[test]
    fn any_bytes_decode(bytes in proptest::collection::vec(any::<u8>(), 0..600), html in any::<bool>()) {
        let (text, _, _) = palimpsest::fetch::charset::decode(&bytes, None, html, &base());
        let e = extract(&text, if html { "text/html" } else { "text/plain" }, &base(), &Rules::default(), bytes.len(), "h");
        prop_assert!(e.lines.iter().all(|l| !l.is_empty()));
    }
}

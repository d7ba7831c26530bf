//! Line normalization: the one definition of "the same text".

use unicode_normalization::UnicodeNormalization;

/// Collapses every run of whitespace (including no-break and other Unicode
/// spaces) to one space, drops zero-width characters, soft hyphens and
/// control characters, trims, and puts the result in Unicode NFC.
///
/// This runs on every line of every parsed page, so the common cases are
/// fast paths: pure ASCII is collapsed byte-wise, and NFC is only computed
/// when the quick check cannot confirm the text is already composed.
pub fn normalize_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    if s.is_ascii() {
        for word in s.split(|c: char| c.is_ascii_whitespace() || c.is_ascii_control()) {
            if word.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        return out;
    }
    for word in s.split(char::is_whitespace) {
        // Only words that may hold a control or an invisible character
        // (their UTF-8 lead bytes) are filtered character by character.
        let suspicious = word
            .bytes()
            .any(|b| b < 0x20 || b == 0x7f || b == 0xC2 || b == 0xE2 || b == 0xEF);
        let start = out.len();
        if !out.is_empty() {
            out.push(' ');
        }
        let text_start = out.len();
        if suspicious {
            out.extend(
                word.chars()
                    .filter(|c| !(is_invisible(*c) || c.is_control())),
            );
        } else {
            out.push_str(word);
        }
        if out.len() == text_start {
            out.truncate(start); // an empty word: no space for it
        }
    }
    match unicode_normalization::is_nfc_quick(out.chars()) {
        unicode_normalization::IsNormalized::Yes => out,
        _ => out.nfc().collect(),
    }
}

fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{AD}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn collapses_and_composes() {
        assert_eq!(normalize_line("  a \u{a0}\t b  "), "a b");
        assert_eq!(normalize_line("e\u{301}"), "\u{e9}");
        assert_eq!(normalize_line("zero\u{200b}width"), "zerowidth");
    }

    proptest! {
        #[test]
        fn idempotent(s in "\\PC*") {
            let once = normalize_line(&s);
            prop_assert_eq!(normalize_line(&once), once.clone());
            prop_assert!(!once.starts_with(' ') && !once.ends_with(' '));
            prop_assert!(!once.contains("  "));
        }
    }
}

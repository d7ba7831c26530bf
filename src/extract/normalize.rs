//! Line normalization: the one definition of "the same text".

use unicode_normalization::UnicodeNormalization;

/// Collapses every run of whitespace (including no-break and other Unicode
/// spaces) to one space, drops zero-width characters and soft hyphens,
/// trims, and puts the result in Unicode NFC.
pub fn normalize_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{AD}') {
            continue;
        }
        if c.is_control() {
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    if out.is_ascii() {
        out
    } else {
        out.nfc().collect()
    }
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

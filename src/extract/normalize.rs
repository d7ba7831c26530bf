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
    // Control characters separate words in pure-ASCII text and vanish in
    // any other (the rule of the first version of this function; changing
    // it would change stored texts).
    let ascii = s.is_ascii();
    let bytes = s.as_bytes();
    let mut space = false; // a separator was seen since the last kept character
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if (0x20..0x7f).contains(&b) {
            // A run of printable ASCII (spaces included): its stretches
            // between double spaces are already normal and are copied whole.
            let end = i + printable_run(&bytes[i..]);
            let mut rest = &s[i..end];
            i = end;
            while !rest.is_empty() {
                let trimmed = rest.trim_start_matches(' ');
                space |= trimmed.len() != rest.len();
                let stretch_end =
                    memchr::memmem::find(trimmed.as_bytes(), b"  ").unwrap_or(trimmed.len());
                let stretch = &trimmed[..stretch_end];
                let words = stretch.trim_end_matches(' ');
                if !words.is_empty() {
                    if space && !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(words);
                    space = false;
                }
                space |= words.len() != stretch.len();
                rest = &trimmed[stretch_end..];
            }
        } else if b < 0x80 {
            // ASCII whitespace or control (0x7f included).
            if b.is_ascii_whitespace() || ascii {
                space = true;
            }
            i += 1;
        } else {
            let Some(c) = s[i..].chars().next() else {
                break;
            };
            i += c.len_utf8();
            if c.is_whitespace() {
                space = true;
            } else if !(is_invisible(c) || c.is_control()) {
                if space && !out.is_empty() {
                    out.push(' ');
                }
                space = false;
                out.push(c);
            }
        }
    }
    if surely_nfc(&out) {
        return out;
    }
    match unicode_normalization::is_nfc_quick(out.chars()) {
        unicode_normalization::IsNormalized::Yes => out,
        _ => out.nfc().collect(),
    }
}

/// The length of the leading run of printable ASCII (0x20..=0x7e) in
/// `bytes`, eight bytes at a time.
fn printable_run(bytes: &[u8]) -> usize {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut n = 0;
    for chunk in bytes.chunks_exact(8) {
        let Ok(a) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let w = u64::from_le_bytes(a);
        // With every byte below 0x80 the additions carry into no
        // neighbour: b + 0x60 reaches 0x80 iff b >= 0x20, and b + 1 stays
        // below it iff b <= 0x7e.
        if w & HIGH != 0
            || w.wrapping_add(0x6060_6060_6060_6060) & HIGH != HIGH
            || w.wrapping_add(0x0101_0101_0101_0101) & HIGH != 0
        {
            break;
        }
        n += 8;
    }
    n + bytes[n..]
        .iter()
        .take_while(|b| (0x20..0x7f).contains(*b))
        .count()
}

/// True when no character of `s` can change under NFC or combine with the
/// one before it. Characters below U+0300 (lead bytes below 0xCC) are
/// always such; only the others are looked up, one by one, so a line of
/// Latin text with a few curly quotes costs a byte scan.
fn surely_nfc(s: &str) -> bool {
    if s.is_ascii() {
        return true;
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(p) = bytes[i..].iter().position(|&b| b >= 0xCC) {
        let at = i + p;
        let Some(c) = s[at..].chars().next() else {
            return false;
        };
        if unicode_normalization::char::canonical_combining_class(c) != 0
            || unicode_normalization::is_nfc_quick(std::iter::once(c))
                != unicode_normalization::IsNormalized::Yes
        {
            return false;
        }
        i = at + c.len_utf8();
    }
    true
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

    /// The first implementation, kept as the definition.
    fn reference(s: &str) -> String {
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
            let start = out.len();
            if !out.is_empty() {
                out.push(' ');
            }
            let text_start = out.len();
            out.extend(
                word.chars()
                    .filter(|c| !(is_invisible(*c) || c.is_control())),
            );
            if out.len() == text_start {
                out.truncate(start);
            }
        }
        out.nfc().collect()
    }

    #[test]
    fn matches_the_reference_on_edge_cases() {
        for s in [
            "",
            " ",
            "a",
            " a ",
            "a\u{1}b",
            "é\u{1}b",
            "a \u{200b} b",
            "\u{200b}",
            "\u{200b} a",
            "a\u{85}b",
            "x\u{3000}y",
            "“quoted” text\u{a0}here",
            "e\u{301}\u{301}",
            "\u{301}",
            "a\u{7f}b",
            "ü\u{7f}b",
            "한국어 텍스트",
            "\u{1680}x\u{2028}y\u{feff}",
        ] {
            assert_eq!(normalize_line(s), reference(s), "{s:?}");
        }
    }

    #[test]
    fn printable_runs() {
        assert_eq!(printable_run(b""), 0);
        assert_eq!(printable_run(b"abc def ghijkl~ x"), 17);
        assert_eq!(printable_run(b"abcdefgh\x7fz"), 8);
        assert_eq!(printable_run(b"abcdefghij\tz"), 10);
        assert_eq!(printable_run(b"a\x1fbcdefghij"), 1);
        assert_eq!(printable_run("abcdefg\u{e9}".as_bytes()), 7);
        for b in 0..=255u8 {
            let mut v = vec![b'a'; 16];
            v[5] = b;
            let want = if (0x20..0x7f).contains(&b) { 16 } else { 5 };
            assert_eq!(printable_run(&v), want, "byte {b:#x}");
        }
    }

    proptest! {
        #[test]
        fn matches_the_reference_on_ascii(s in "[ a-z\x01\x7f\t.]{0,40}") {
            prop_assert_eq!(normalize_line(&s), reference(&s));
        }

        #[test]
        fn matches_the_reference(s in "\\PC*|[ a\\x01\\x7f\u{a0}\u{200b}\u{301}é“\u{3000}\t\n]{0,24}") {
            prop_assert_eq!(normalize_line(&s), reference(&s));
        }

        #[test]
        fn idempotent(s in "\\PC*") {
            let once = normalize_line(&s);
            prop_assert_eq!(normalize_line(&once), once.clone());
            prop_assert!(!once.starts_with(' ') && !once.ends_with(' '));
            prop_assert!(!once.contains("  "));
        }
    }
}

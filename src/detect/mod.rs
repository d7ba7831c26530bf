//! Detection: from the previous and the new text of a watch to the events
//! a person may want to know about.
//!
//! Pure functions, no I/O: the check hands in texts and gets back event
//! drafts, which the store writes in the same transaction as the version.

pub mod diff;
pub mod gone;
pub mod listing;
pub mod status;

use crate::model::EventKind;
use serde::Serialize;
use serde_json::json;

/// An event before it has an id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventDraft {
    pub kind: EventKind,
    pub data: serde_json::Value,
}

/// What the comparison of a new text with the last version found.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// No version yet: this is the first.
    First,
    /// Same text: nothing to store.
    Same,
    /// The text differs only in whitespace (line breaks moved, spaces
    /// added): a new version is stored, no event is raised.
    WhitespaceOnly,
    /// A real edit.
    Edited(diff::Diff),
}

/// Compares texts. `previous` is `None` for a watch without versions.
pub fn compare(previous: Option<&str>, new: &str) -> Verdict {
    let Some(old) = previous else {
        return Verdict::First;
    };
    if old == new {
        return Verdict::Same;
    }
    if same_but_whitespace(old, new) {
        return Verdict::WhitespaceOnly;
    }
    let d = diff::diff(old, new);
    if d.is_empty() {
        Verdict::WhitespaceOnly
    } else {
        Verdict::Edited(d)
    }
}

fn same_but_whitespace(a: &str, b: &str) -> bool {
    // Equal bytes at both ends are skipped first, cheaply; only the part in
    // between is compared character by character, ignoring whitespace.
    // Equal ends cut at character boundaries change nothing: removing the
    // same characters from both sides keeps the answer.
    let (mut p, mut q) = diff::equal_ends(a.as_bytes(), b.as_bytes());
    while !a.is_char_boundary(p) {
        p -= 1;
    }
    while !a.is_char_boundary(a.len() - q) || !b.is_char_boundary(b.len() - q) {
        q -= 1;
    }
    let (a, b) = (&a[p..a.len() - q], &b[p..b.len() - q]);
    a.chars()
        .filter(|c| !c.is_whitespace())
        .eq(b.chars().filter(|c| !c.is_whitespace()))
}

/// The events for a verdict. `from_seq`/`to_seq` are version numbers.
///
/// An `edited` event keeps its statistics and the removed and added words;
/// the full diff is derived from the two versions it names when shown, so
/// the events table stays small.
pub fn events_for(
    verdict: &Verdict,
    from_seq: Option<i64>,
    to_seq: i64,
    title: Option<&str>,
) -> Vec<EventDraft> {
    match verdict {
        Verdict::First => vec![EventDraft {
            kind: EventKind::FirstSeen,
            data: json!({ "to_version": to_seq, "title": title }),
        }],
        Verdict::Edited(d) => vec![EventDraft {
            kind: EventKind::Edited,
            data: json!({
                "from_version": from_seq,
                "to_version": to_seq,
                "title": title,
                "stats": d.stats,
                "removed": d.changed_runs(diff::Op::Delete),
                "added": d.changed_runs(diff::Op::Insert),
            }),
        }],
        Verdict::Same | Verdict::WhitespaceOnly => Vec::new(),
    }
}

/// The watched terms that occur in `text` (case-insensitive, as written
/// in the config).
pub fn terms_in(terms: &[String], text: &str) -> Vec<String> {
    if terms.is_empty() {
        return Vec::new();
    }
    let lower = text.to_lowercase();
    terms
        .iter()
        .filter(|t| !t.is_empty() && lower.contains(&t.to_lowercase()))
        .cloned()
        .collect()
}

/// Adds to an `edited` event what a reader decides by: the watched terms
/// it removed or added, and whether the change is *boring* (only
/// punctuation, letter case or dates and times changed). Boring edits are
/// stored like any other and alerted only to subscriptions that ask.
pub fn annotate_edit(
    event: &mut EventDraft,
    diff: &diff::Diff,
    old: &str,
    new: &str,
    terms: &[String],
) {
    let Some(obj) = event.data.as_object_mut() else {
        return;
    };
    if !terms.is_empty() {
        let (before, after) = (terms_in(terms, old), terms_in(terms, new));
        let removed: Vec<&String> = before.iter().filter(|t| !after.contains(t)).collect();
        let added: Vec<&String> = after.iter().filter(|t| !before.contains(t)).collect();
        obj.insert("terms_removed".into(), json!(removed));
        obj.insert("terms_added".into(), json!(added));
    }
    // Equal lines are equal: only the changed ones can be boring or not.
    let changed = |op: diff::Op| -> String {
        let mut s = String::new();
        for l in diff
            .hunks
            .iter()
            .flat_map(|h| &h.lines)
            .filter(|l| l.op == op)
        {
            s.push_str(&l.text());
            s.push('\n');
        }
        s
    };
    if let Some(why) = boring(&changed(diff::Op::Delete), &changed(diff::Op::Insert)) {
        obj.insert("boring".into(), json!(why));
    }
}

/// Why a change between two texts is not worth an alert, if it is not.
pub fn boring(old: &str, new: &str) -> Option<&'static str> {
    // The equal ends are cut off (with a margin, so that a date across
    // the cut stays whole): both tests below only look at what differs.
    const MARGIN: usize = 64;
    let (pre, suf) = diff::equal_ends(old.as_bytes(), new.as_bytes());
    let start = old.floor_char_boundary(pre.saturating_sub(MARGIN));
    let (old, new) = (
        &old[start..old.ceil_char_boundary((old.len() - suf + MARGIN).min(old.len()))],
        &new[start..new.ceil_char_boundary((new.len() - suf + MARGIN).min(new.len()))],
    );
    let letters = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    if letters(old) == letters(new) {
        return Some("punctuation or letter case only");
    }
    let dates = date_pattern()?;
    let undated = |s: &str| letters(&dates.replace_all(s, " ").to_lowercase());
    if undated(old) == undated(new) {
        return Some("dates or times only");
    }
    None
}

/// Dates and times as pages print them: `2026-01-30`, `30/01/2026`,
/// `10:05`, `Jan 30, 2026`, `30 January 2026`, `2026년 1월 30일`,
/// `2026年1月30日`, weekday names.
fn date_pattern() -> Option<&'static regex::Regex> {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        let month = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?";
        let day = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?";
        let pattern = format!(
            r"(?i)(?-u:\b)\d{{1,4}}[-/.]\d{{1,2}}[-/.]\d{{1,4}}(?:[t ]\d{{1,2}}:\d{{2}}(?::\d{{2}})?(?:\.\d+)?(?:z|[+-]\d{{2}}:?\d{{2}})?)?(?-u:\b)|(?-u:\b)\d{{1,2}}:\d{{2}}(?::\d{{2}})?\s*(?:am|pm|utc|gmt|kst)?(?-u:\b)|(?-u:\b){month}\s+\d{{1,2}}(?:st|nd|rd|th)?,?(?:\s+\d{{4}})?|(?-u:\b)\d{{1,2}}(?:st|nd|rd|th)?\s+{month}(?:,?\s+\d{{4}})?|(?-u:\b){day}(?-u:\b)|\d{{4}}\s*[년年]\s*\d{{1,2}}\s*[월月]\s*\d{{1,2}}\s*[일日]?|\d{{1,2}}\s*[월月]\s*\d{{1,2}}\s*[일日]"
        );
        // A constant pattern (a test proves it compiles).
        regex::Regex::new(&pattern).ok()
    })
    .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boring_changes() {
        assert!(date_pattern().is_some());
        assert!(boring("He said: yes.", "he said yes").is_some());
        assert_eq!(
            boring(
                "Updated: 2026-01-30 10:05\nBody",
                "Updated: 2026-01-31 11:20\nBody"
            ),
            Some("dates or times only")
        );
        assert!(boring("Posted Jan 30, 2026", "Posted February 2, 2026").is_some());
        assert!(boring("2026년 1월 30일 발표", "2026년 2월 1일 발표").is_some());
        assert!(boring("He met Jang Song Thaek.", "He met nobody.").is_none());
        assert!(boring("in 2019 the plan", "in 2021 the plan").is_none());
        assert!(boring("2,500 workers", "25,000 workers").is_none());
    }

    #[test]
    fn terms_are_annotated() {
        let v = compare(Some("Kim met Jang Song Thaek."), "Kim met the delegation.");
        let mut ev = events_for(&v, Some(1), 2, None);
        let Verdict::Edited(d) = &v else {
            panic!("an edit")
        };
        let terms = vec![
            "jang song thaek".to_string(),
            "Kim".to_string(),
            "delegation".to_string(),
        ];
        annotate_edit(
            &mut ev[0],
            d,
            "Kim met Jang Song Thaek.",
            "Kim met the delegation.",
            &terms,
        );
        assert_eq!(ev[0].data["terms_removed"], json!(["jang song thaek"]));
        assert_eq!(ev[0].data["terms_added"], json!(["delegation"]));
        assert!(ev[0].data.get("boring").is_none());
    }

    #[test]
    fn verdicts() {
        assert_eq!(compare(None, "a"), Verdict::First);
        assert_eq!(compare(Some("a b"), "a b"), Verdict::Same);
        assert_eq!(compare(Some("a b\nc"), "a b c"), Verdict::WhitespaceOnly);
        assert!(matches!(compare(Some("a"), "b"), Verdict::Edited(_)));
        assert_eq!(
            compare(Some("장성택 동지\n는"), "장성택 동지는"),
            Verdict::WhitespaceOnly
        );
        assert!(matches!(
            compare(Some("장성택 동지"), "장성택 동무"),
            Verdict::Edited(_)
        ));
        assert!(same_but_whitespace("ab", "a b"));
        assert!(!same_but_whitespace("abc", "abd"));
        // Ends cut inside a multi-byte character are moved to a boundary.
        assert!(same_but_whitespace("장성택 동지", "장성택  동지"));
        assert!(!same_but_whitespace("장성택 동지", "장성턱 동지"));
        assert!(same_but_whitespace(
            &"가".repeat(40),
            &format!("{} {}", "가".repeat(20), "가".repeat(20))
        ));
    }

    #[test]
    fn edited_event_names_words() {
        let v = compare(Some("He met Jang Song Thaek."), "He met nobody.");
        let ev = events_for(&v, Some(1), 2, Some("T"));
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, EventKind::Edited);
        assert_eq!(ev[0].data["removed"][0], "Jang Song Thaek.");
    }

    proptest::proptest! {
        /// Cutting the equal ends first gives the answer of comparing the
        /// whole texts without whitespace, multi-byte characters included.
        #[test]
        fn whitespace_only_is_whole_text_equality_without_whitespace(
            a in "[ a\n가나]{0,40}",
            b in "[ a\n가나]{0,40}",
        ) {
            let naive = a.chars().filter(|c| !c.is_whitespace())
                .eq(b.chars().filter(|c| !c.is_whitespace()));
            proptest::prop_assert_eq!(same_but_whitespace(&a, &b), naive);
            let (x, y) = (format!("{a}{b}"), format!("{a} {b}"));
            proptest::prop_assert!(same_but_whitespace(&x, &y));
        }
    }
}

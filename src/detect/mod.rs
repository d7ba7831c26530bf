//! Detection: from the previous and the new text of a watch to the events
//! a person may want to know about.
//!
//! Pure functions, no I/O: the check hands in texts and gets back event
//! drafts, which the store writes in the same transaction as the version.

pub mod diff;
pub mod listing;

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
    let mut p = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(p) {
        p -= 1;
    }
    let (a, b) = (&a[p..], &b[p..]);
    let mut q = a
        .bytes()
        .rev()
        .zip(b.bytes().rev())
        .take_while(|(x, y)| x == y)
        .count();
    while !a.is_char_boundary(a.len() - q) || !b.is_char_boundary(b.len() - q) {
        q -= 1;
    }
    let (a, b) = (&a[..a.len() - q], &b[..b.len() - q]);
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

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn edited_event_names_words() {
        let v = compare(Some("He met Jang Song Thaek."), "He met nobody.");
        let ev = events_for(&v, Some(1), 2, Some("T"));
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, EventKind::Edited);
        assert_eq!(ev[0].data["removed"][0], "Jang Song Thaek.");
    }
}

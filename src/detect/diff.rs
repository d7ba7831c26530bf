//! Line diffs with word-level highlights, built on `similar`.

use serde::{Deserialize, Serialize};
use similar::{Algorithm, ChangeTag, DiffOp, TextDiff};
use std::time::{Duration, Instant};

/// A diff between two texts, in hunks, with its statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    pub hunks: Vec<Hunk>,
    pub stats: Stats,
}

/// A run of changed lines with their context. Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hunk {
    pub old_start: usize,
    pub old_lines: usize,
    pub new_start: usize,
    pub new_lines: usize,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Equal,
    Delete,
    Insert,
}

/// One line of a hunk, cut into segments; `changed` segments are the words
/// that were removed (on a delete line) or added (on an insert line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub op: Op,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub text: String,
    pub changed: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub lines_added: usize,
    pub lines_removed: usize,
    pub words_added: usize,
    pub words_removed: usize,
}

impl Line {
    pub fn text(&self) -> String {
        self.segments.iter().map(|s| s.text.as_str()).collect()
    }
}

/// Lines of context around each change.
pub const CONTEXT: usize = 2;

/// Time for the line diff; past it `similar` falls back to a coarser answer.
const LINE_DEADLINE: Duration = Duration::from_secs(2);
/// Total time for word-level highlights within one diff; past it, changed
/// lines are shown whole. A page rewritten from top to bottom must not cost
/// seconds of CPU for highlights nobody reads.
const WORD_BUDGET: Duration = Duration::from_millis(5);
/// Line pairs less alike than this are shown as whole removed/added lines.
const MIN_WORD_RATIO: f32 = 0.4;

/// Diffs two texts (lines separated by `\n`).
pub fn diff(old: &str, new: &str) -> Diff {
    let started = Instant::now();
    let old_lines = lines_of(old);
    let new_lines = lines_of(new);
    // Most edits touch a few lines of a long text: the equal lines at both
    // ends are skipped with plain comparisons before any diff algorithm
    // (and its hashing of every line) runs.
    let prefix = old_lines
        .iter()
        .zip(&new_lines)
        .take_while(|(a, b)| a == b)
        .count();
    let suffix = old_lines[prefix..]
        .iter()
        .rev()
        .zip(new_lines[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (old_end, new_end) = (old_lines.len() - suffix, new_lines.len() - suffix);
    let middle = similar::capture_diff_slices_deadline(
        Algorithm::Patience,
        &old_lines[prefix..old_end],
        &new_lines[prefix..new_end],
        Some(started + LINE_DEADLINE),
    );
    let mut ops = Vec::with_capacity(middle.len() + 2);
    if prefix > 0 {
        ops.push(DiffOp::Equal {
            old_index: 0,
            new_index: 0,
            len: prefix,
        });
    }
    ops.extend(middle.into_iter().map(|op| shift(op, prefix)));
    if suffix > 0 {
        ops.push(DiffOp::Equal {
            old_index: old_end,
            new_index: new_end,
            len: suffix,
        });
    }
    let word_deadline = started + LINE_DEADLINE.min(started.elapsed() + WORD_BUDGET);
    let mut out = Diff::default();
    for group in similar::group_diff_ops(ops, CONTEXT) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        let mut hunk = Hunk {
            old_start: old_range.start + 1,
            old_lines: old_range.len(),
            new_start: new_range.start + 1,
            new_lines: new_range.len(),
            lines: Vec::new(),
        };
        for op in &group {
            let (tag, o, n) = op.as_tag_tuple();
            let olds = old_lines.get(o.clone()).unwrap_or_default();
            let news = new_lines.get(n.clone()).unwrap_or_default();
            match tag {
                similar::DiffTag::Equal => {
                    hunk.lines
                        .extend(olds.iter().map(|l| Line::whole(Op::Equal, l, false)));
                }
                similar::DiffTag::Delete => {
                    hunk.lines
                        .extend(olds.iter().map(|l| Line::whole(Op::Delete, l, true)));
                }
                similar::DiffTag::Insert => {
                    hunk.lines
                        .extend(news.iter().map(|l| Line::whole(Op::Insert, l, true)));
                }
                similar::DiffTag::Replace => {
                    let mut deletes = Vec::with_capacity(olds.len());
                    let mut inserts = Vec::with_capacity(news.len());
                    for i in 0..olds.len().max(news.len()) {
                        match (olds.get(i), news.get(i)) {
                            (Some(a), Some(b)) => {
                                let (d, ins) = word_pair(a, b, word_deadline);
                                deletes.push(d);
                                inserts.push(ins);
                            }
                            (Some(a), None) => deletes.push(Line::whole(Op::Delete, a, true)),
                            (None, Some(b)) => inserts.push(Line::whole(Op::Insert, b, true)),
                            (None, None) => {}
                        }
                    }
                    hunk.lines.extend(deletes);
                    hunk.lines.extend(inserts);
                }
            }
        }
        for line in &hunk.lines {
            let words: usize = line
                .segments
                .iter()
                .filter(|s| s.changed)
                .map(|s| s.text.split_whitespace().count())
                .sum();
            match line.op {
                Op::Delete => {
                    out.stats.lines_removed += 1;
                    out.stats.words_removed += words;
                }
                Op::Insert => {
                    out.stats.lines_added += 1;
                    out.stats.words_added += words;
                }
                Op::Equal => {}
            }
        }
        out.hunks.push(hunk);
    }
    out
}

impl Line {
    fn whole(op: Op, text: &str, changed: bool) -> Line {
        Line {
            op,
            segments: vec![Segment {
                text: text.to_string(),
                changed,
            }],
        }
    }
}

/// Dice coefficient of the two lines' word-pair (bigram) multisets, in
/// O(words). Unrelated sentences share common words but few word pairs, so
/// this separates "the same paragraph, edited" from "another paragraph".
fn word_overlap(a: &str, b: &str) -> f32 {
    word_pair_dice(a, b, usize::MAX)
}

/// The Dice coefficient of the word-pair multisets of `a` and `b`, over at
/// most their first `max_words` words.
pub(crate) fn word_pair_dice(a: &str, b: &str, max_words: usize) -> f32 {
    let pairs = |s| pairs_of(s, max_words);
    fn pairs_of(s: &str, max_words: usize) -> impl Iterator<Item = (&str, &str)> {
        let mut words = s.split_whitespace().take(max_words);
        let mut prev = words.next().unwrap_or("");
        std::iter::once(("", prev)).chain(std::iter::from_fn(move || {
            let w = words.next()?;
            let p = (prev, w);
            prev = w;
            Some(p)
        }))
    }
    let mut counts: rustc_hash::FxHashMap<(&str, &str), i32> = rustc_hash::FxHashMap::default();
    let mut na = 0usize;
    for p in pairs(a) {
        *counts.entry(p).or_default() += 1;
        na += 1;
    }
    let (mut nb, mut common) = (0usize, 0usize);
    for p in pairs(b) {
        nb += 1;
        if let Some(c) = counts.get_mut(&p)
            && *c > 0
        {
            *c -= 1;
            common += 1;
        }
    }
    if na + nb == 0 {
        return 1.0;
    }
    (2 * common) as f32 / (na + nb) as f32
}

fn needs_unicode_words(s: &str) -> bool {
    // Every script of `spaceless_script` is written with three-byte
    // characters: only their lead bytes (0xE0..=0xEF) are decoded, the rest
    // of the text is skipped a byte at a time.
    !s.is_ascii()
        && s.bytes().enumerate().any(|(i, b)| {
            (0xE0..0xF0).contains(&b)
                && s.get(i..)
                    .and_then(|t| t.chars().next())
                    .is_some_and(spaceless_script)
        })
}

/// A character of a script that writes no spaces between words.
fn spaceless_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF          // Thai, Lao
        | 0x1000..=0x109F        // Myanmar
        | 0x1780..=0x17FF        // Khmer
        | 0x3040..=0x30FF        // Hiragana, Katakana
        | 0x3400..=0x4DBF        // CJK extension A
        | 0x4E00..=0x9FFF        // CJK unified ideographs
        | 0xF900..=0xFAFF) // CJK compatibility ideographs
}

/// The lines of a text; a final newline does not make an extra empty line.
fn lines_of(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    // memchr finds the line ends a vector at a time; `str::split` looks
    // for a char, a word at a time.
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut lines = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', text.as_bytes()) {
        // A newline is one byte: both cuts are character boundaries.
        lines.push(text.get(start..end).unwrap_or_default());
        start = end + 1;
    }
    lines.push(text.get(start..).unwrap_or_default());
    lines
}

/// Moves an op of the middle section to its place in the whole text.
fn shift(op: DiffOp, by: usize) -> DiffOp {
    match op {
        DiffOp::Equal {
            old_index,
            new_index,
            len,
        } => DiffOp::Equal {
            old_index: old_index + by,
            new_index: new_index + by,
            len,
        },
        DiffOp::Delete {
            old_index,
            old_len,
            new_index,
        } => DiffOp::Delete {
            old_index: old_index + by,
            old_len,
            new_index: new_index + by,
        },
        DiffOp::Insert {
            old_index,
            new_index,
            new_len,
        } => DiffOp::Insert {
            old_index: old_index + by,
            new_index: new_index + by,
            new_len,
        },
        DiffOp::Replace {
            old_index,
            old_len,
            new_index,
            new_len,
        } => DiffOp::Replace {
            old_index: old_index + by,
            old_len,
            new_index: new_index + by,
            new_len,
        },
    }
}

/// Word-level highlights for a removed line and the line that replaced it.
fn word_pair(a: &str, b: &str, deadline: Instant) -> (Line, Line) {
    let whole = || {
        (
            Line::whole(Op::Delete, a, true),
            Line::whole(Op::Insert, b, true),
        )
    };
    // Words split at spaces, the cheap way, unless the script writes no
    // spaces between words (Chinese, Japanese, Thai): then Unicode words.
    let unicode_words = needs_unicode_words(a) || needs_unicode_words(b);
    // An edited paragraph is mostly the same text before and after the
    // edit: only the middle (cut at spaces, so no word is split) goes to
    // the word diff. A paragraph of a thousand words with one sentence
    // rewritten costs a diff of that sentence.
    let (mut pre, mut suf) = if unicode_words {
        (0, 0)
    } else {
        common_affixes(a, b)
    };
    let shared = (2 * (pre + suf)) as f32 / (a.len() + b.len()).max(1) as f32;
    let related = shared >= MIN_WORD_RATIO;
    if !related {
        // Too little in common at the ends to be sure: the whole lines are
        // diffed and judged by their word ratio.
        (pre, suf) = (0, 0);
    }
    // Myers costs O(N·D): a cheap word-overlap check first keeps unrelated
    // lines (large D) from ever reaching it.
    if Instant::now() >= deadline || (!related && word_overlap(a, b) < MIN_WORD_RATIO) {
        return whole();
    }
    let (am, bm) = (&a[pre..a.len() - suf], &b[pre..b.len() - suf]);
    let mut cfg = TextDiff::configure();
    cfg.algorithm(Algorithm::Myers).deadline(deadline);
    let wd = if unicode_words {
        cfg.diff_unicode_words(am, bm)
    } else {
        cfg.diff_words(am, bm)
    };
    if !related && wd.ratio() < MIN_WORD_RATIO {
        return whole();
    }
    let mut del = Line {
        op: Op::Delete,
        segments: Vec::new(),
    };
    let mut ins = Line {
        op: Op::Insert,
        segments: Vec::new(),
    };
    let push = |line: &mut Line, text: &str, changed: bool| {
        if text.is_empty() {
            return;
        }
        match line.segments.last_mut() {
            Some(last) if last.changed == changed => last.text.push_str(text),
            _ => line.segments.push(Segment {
                text: text.to_string(),
                changed,
            }),
        }
    };
    push(&mut del, &a[..pre], false);
    push(&mut ins, &b[..pre], false);
    for change in wd.iter_all_changes() {
        let v = change.value();
        match change.tag() {
            ChangeTag::Equal => {
                push(&mut del, v, false);
                push(&mut ins, v, false);
            }
            ChangeTag::Delete => push(&mut del, v, true),
            ChangeTag::Insert => push(&mut ins, v, true),
        }
    }
    push(&mut del, &a[a.len() - suf..], false);
    push(&mut ins, &b[b.len() - suf..], false);
    (del, ins)
}

/// The lengths of the longest equal prefix and of the longest equal suffix
/// of two byte strings; they never overlap. Compared a block at a time
/// (slice equality is a vectorised memcmp), then byte by byte within the
/// first block that differs: texts of many kilobytes that differ in a few
/// places are compared at memory speed.
pub(crate) fn equal_ends(a: &[u8], b: &[u8]) -> (usize, usize) {
    const BLOCK: usize = 32;
    let n = a.len().min(b.len());
    let mut pre = 0;
    while pre + BLOCK <= n && a[pre..pre + BLOCK] == b[pre..pre + BLOCK] {
        pre += BLOCK;
    }
    while pre < n && a[pre] == b[pre] {
        pre += 1;
    }
    let room = n - pre;
    let (ea, eb) = (a.len(), b.len());
    let mut suf = 0;
    while suf + BLOCK <= room && a[ea - suf - BLOCK..ea - suf] == b[eb - suf - BLOCK..eb - suf] {
        suf += BLOCK;
    }
    while suf < room && a[ea - suf - 1] == b[eb - suf - 1] {
        suf += 1;
    }
    (pre, suf)
}

/// The byte lengths of the longest common prefix that ends just after a
/// whitespace character and the longest common suffix that starts with
/// one; they never overlap.
fn common_affixes(a: &str, b: &str) -> (usize, usize) {
    let ab = a.as_bytes();
    let (same, same_end) = equal_ends(ab, b.as_bytes());
    // Back to just after the last whitespace of the common head, forward to
    // the first whitespace of the common tail. ASCII whitespace bytes never
    // occur inside a multi-byte UTF-8 sequence, so every cut is on a
    // character boundary.
    let pre = ab[..same]
        .iter()
        .rposition(u8::is_ascii_whitespace)
        .map_or(0, |i| i + 1);
    let suf = ab[ab.len() - same_end..]
        .iter()
        .position(u8::is_ascii_whitespace)
        .map_or(0, |i| same_end - i);
    (pre, suf)
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.hunks.is_empty()
    }

    /// A unified diff, the form mail clients and terminals show.
    pub fn unified(&self, from: &str, to: &str) -> String {
        let mut s = format!("--- {from}\n+++ {to}\n");
        for h in &self.hunks {
            s.push_str(&format!(
                "@@ -{},{} +{},{} @@\n",
                h.old_start, h.old_lines, h.new_start, h.new_lines
            ));
            for l in &h.lines {
                let sign = match l.op {
                    Op::Equal => ' ',
                    Op::Delete => '-',
                    Op::Insert => '+',
                };
                s.push(sign);
                s.push_str(&l.text());
                s.push('\n');
            }
        }
        s
    }

    /// The changed words of every delete (or insert) line, in order, each
    /// run of changed segments joined.
    pub fn changed_runs(&self, op: Op) -> Vec<String> {
        let mut out = Vec::new();
        for line in self
            .hunks
            .iter()
            .flat_map(|h| &h.lines)
            .filter(|l| l.op == op)
        {
            let mut run = String::new();
            for seg in &line.segments {
                if seg.changed || (!run.is_empty() && seg.text.trim().is_empty()) {
                    // Spaces between two changed words belong to the run.
                    run.push_str(&seg.text);
                } else if !run.is_empty() {
                    out.push(run.trim().to_string());
                    run.clear();
                }
            }
            if !run.trim().is_empty() {
                out.push(run.trim().to_string());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_level_highlights() {
        let d = diff(
            "Title\nKim Jong Un met Jang Song Thaek today.\nEnd",
            "Title\nKim Jong Un met the delegation today.\nEnd",
        );
        assert_eq!(d.stats.lines_removed, 1);
        assert_eq!(d.stats.lines_added, 1);
        assert_eq!(d.changed_runs(Op::Delete), vec!["Jang Song Thaek"]);
        assert_eq!(d.changed_runs(Op::Insert), vec!["the delegation"]);
        assert_eq!(d.stats.words_removed, 3);
        insta::assert_snapshot!(d.unified("v1", "v2"), @r"
        --- v1
        +++ v2
        @@ -1,3 +1,3 @@
         Title
        -Kim Jong Un met Jang Song Thaek today.
        +Kim Jong Un met the delegation today.
         End
        ");
    }

    #[test]
    fn unrelated_lines_are_whole() {
        let a = "The committee met on Tuesday to discuss the budget of the province and the plans of the ministry.";
        let b = "A new railway was opened in the north of the country and the workers of the plant were praised.";
        assert!(word_overlap(a, b) < MIN_WORD_RATIO);
        let d = diff(a, b);
        assert_eq!(
            d.hunks[0].lines[0].segments.len(),
            1,
            "shown whole: {:?}",
            d.hunks[0].lines[0]
        );
        let edited = a.replace("on Tuesday", "on Friday");
        assert!(word_overlap(a, &edited) > 0.8);
    }

    #[test]
    fn whole_lines() {
        let d = diff("a\nb\nc", "a\nc\nd");
        assert_eq!(d.stats.lines_removed, 1);
        assert_eq!(d.stats.lines_added, 1);
        assert_eq!(d.changed_runs(Op::Delete), vec!["b"]);
        assert!(diff("same", "same").is_empty());
    }

    #[test]
    fn affixes_cut_at_spaces() {
        assert_eq!(common_affixes("x y z", "x y z w"), (4, 0));
        assert_eq!(common_affixes("a bc d", "a bd d"), (2, 2));
        assert_eq!(common_affixes("same", "same"), (0, 0));
        assert_eq!(common_affixes("", "x"), (0, 0));
        // Never overlapping, even for repeated text.
        let (p, s) = common_affixes("a a a", "a a a a");
        assert!(p + s <= 5, "{p} {s}");
        assert_eq!(common_affixes("Ünï cödé wörds", "Ünï cöde wörds"), (6, 7));
    }

    #[test]
    fn trimmed_word_diff_matches_the_full_one() {
        let long: String = (0..400).map(|i| format!("word{} ", i % 37)).collect();
        let cases = [
            (
                format!("{long}Jang Song Thaek met {long}"),
                format!("{long}the delegation met {long}"),
            ),
            (format!("start {long}"), format!("begin {long}")),
            (format!("{long}end"), format!("{long}finish")),
            (format!("{long} x"), format!("{long} x y z")),
        ];
        for (a, b) in &cases {
            let far = Instant::now() + Duration::from_secs(60);
            let (d, i) = word_pair(a, b, far);
            assert_eq!(d.text(), *a);
            assert_eq!(i.text(), *b);
            let changed = |l: &Line| -> Vec<String> {
                l.segments
                    .iter()
                    .filter(|s| s.changed)
                    .map(|s| s.text.trim().to_string())
                    .collect()
            };
            let full = TextDiff::configure()
                .algorithm(Algorithm::Myers)
                .diff_words(a.as_str(), b.as_str());
            let removed: usize = full
                .iter_all_changes()
                .filter(|c| c.tag() == ChangeTag::Delete)
                .map(|c| c.value().split_whitespace().count())
                .sum();
            let got: usize = changed(&d)
                .iter()
                .map(|s| s.split_whitespace().count())
                .sum();
            assert_eq!(got, removed, "{:?}", changed(&d));
        }
    }

    proptest::proptest! {
        /// The block-wise scan finds the same ends as a byte-by-byte one,
        /// on strings of a small alphabet (long equal runs, differences
        /// anywhere, one string a prefix or suffix of the other).
        #[test]
        fn equal_ends_match_a_byte_by_byte_scan(
            head in proptest::collection::vec(0u8..3, 0..100),
            a_mid in proptest::collection::vec(0u8..3, 0..80),
            b_mid in proptest::collection::vec(0u8..3, 0..80),
            tail in proptest::collection::vec(0u8..3, 0..100),
        ) {
            let a: Vec<u8> = [&head[..], &a_mid, &tail].concat();
            let b: Vec<u8> = [&head[..], &b_mid, &tail].concat();
            let pre = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            let room = a.len().min(b.len()) - pre;
            let suf = a.iter().rev().zip(b.iter().rev()).take(room).take_while(|(x, y)| x == y).count();
            proptest::prop_assert_eq!(equal_ends(&a, &b), (pre, suf));
        }
    }

    #[test]
    fn unicode_words_only_for_scripts_without_spaces() {
        assert!(!needs_unicode_words("Kim met Jang \u{2014} today"));
        assert!(!needs_unicode_words("장성택 동지"));
        assert!(needs_unicode_words("Kim 金正恩 met"));
        assert!(needs_unicode_words("ภาษาไทย"));
        assert!(needs_unicode_words("カタカナ"));
    }

    proptest::proptest! {
        /// Decoding only at three-byte lead bytes finds what decoding
        /// every character finds.
        #[test]
        fn unicode_words_scan_matches_a_scan_of_every_character(s in "\\PC{0,40}") {
            proptest::prop_assert_eq!(
                needs_unicode_words(&s),
                s.chars().any(spaceless_script)
            );
        }
    }

    proptest::proptest! {
        /// Lines found with memchr are the lines `split` finds.
        #[test]
        fn lines_are_the_split_at_newlines(s in "[a \\n가]{0,30}") {
            let want: Vec<&str> = if s.is_empty() {
                Vec::new()
            } else {
                s.strip_suffix('\n').unwrap_or(&s).split('\n').collect()
            };
            proptest::prop_assert_eq!(lines_of(&s), want);
        }
    }
}

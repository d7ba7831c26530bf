//! Line diffs with word-level highlights, built on `similar`.

use serde::{Deserialize, Serialize};
use similar::{Algorithm, ChangeTag, TextDiff};
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

/// Diffs two texts (lines separated by `\n`).
pub fn diff(old: &str, new: &str) -> Diff {
    let deadline = Instant::now() + Duration::from_secs(2);
    // A last line without its newline would differ from the same line with one.
    let with_nl = |s: &str| if s.is_empty() || s.ends_with('\n') { s.to_string() } else { format!("{s}\n") };
    let (old_nl, new_nl) = (with_nl(old), with_nl(new));
    let td = TextDiff::configure()
        .algorithm(Algorithm::Patience)
        .deadline(deadline)
        .diff_lines(&old_nl, &new_nl);
    let mut out = Diff::default();
    for group in td.grouped_ops(CONTEXT) {
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
            for change in td.iter_inline_changes(op) {
                let op = match change.tag() {
                    ChangeTag::Equal => Op::Equal,
                    ChangeTag::Delete => Op::Delete,
                    ChangeTag::Insert => Op::Insert,
                };
                let mut segments: Vec<Segment> = change
                    .iter_strings_lossy()
                    .map(|(emph, text)| Segment {
                        text: text.trim_end_matches('\n').to_string(),
                        changed: emph,
                    })
                    .filter(|s| !s.text.is_empty())
                    .collect();
                if op != Op::Equal && !segments.iter().any(|s| s.changed) {
                    // A line with no counterpart: all of it changed.
                    for s in &mut segments {
                        s.changed = true;
                    }
                }
                let words: usize = segments
                    .iter()
                    .filter(|s| s.changed)
                    .map(|s| s.text.split_whitespace().count())
                    .sum();
                match op {
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
                hunk.lines.push(Line { op, segments });
            }
        }
        out.hunks.push(hunk);
    }
    out
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
        for line in self.hunks.iter().flat_map(|h| &h.lines).filter(|l| l.op == op) {
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
    fn whole_lines() {
        let d = diff("a\nb\nc", "a\nc\nd");
        assert_eq!(d.stats.lines_removed, 1);
        assert_eq!(d.stats.lines_added, 1);
        assert_eq!(d.changed_runs(Op::Delete), vec!["b"]);
        assert!(diff("same", "same").is_empty());
    }
}

//! The diff of two versions of a watch, inline or side by side.
//!
//! [`crate::detect::diff::diff`] keeps only [`CONTEXT`](crate::detect::diff::CONTEXT)
//! equal lines around each change (and skips the equal head and tail of the
//! texts before diffing), so the hunks alone do not hold the equal lines
//! between them. The page takes the two texts as well and rebuilds every
//! line's place from the hunks' start lines: the equal lines between hunks
//! come from the texts, and long runs of them fold into one "… N unchanged
//! lines …" row with [`SHOWN_CONTEXT`] lines kept on each side of a change.

use super::{Nav, external, format_time, layout, plural, time};
use crate::detect::diff::{Diff, Line, Op};
use crate::store::{VersionInfo, WatchSummary};
use maud::{Markup, html};
use std::borrow::Cow;

/// Equal lines shown before and after each change.
pub const SHOWN_CONTEXT: usize = 3;

/// How a diff is laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffMode {
    /// One column: removed lines, then added lines, in the text's order.
    #[default]
    Inline,
    /// Two columns: the old version left, the new one right.
    #[serde(rename = "side", alias = "side_by_side", alias = "sidebyside")]
    SideBySide,
}

impl DiffMode {
    /// The `mode` query value: `inline` or `side`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiffMode::Inline => "inline",
            DiffMode::SideBySide => "side",
        }
    }

    /// Reads a `mode` query value; anything unknown is [`DiffMode::Inline`].
    pub fn parse(s: &str) -> DiffMode {
        match s {
            "side" | "side_by_side" | "sidebyside" => DiffMode::SideBySide,
            _ => DiffMode::Inline,
        }
    }
}

/// The diff page. `diff` must be `diff(old_text, new_text)`; `versions`
/// (any order) fill the version pickers.
#[allow(clippy::too_many_arguments)]
pub fn diff_page(
    nav: &Nav,
    w: &WatchSummary,
    from: &VersionInfo,
    to: &VersionInfo,
    diff: &Diff,
    mode: DiffMode,
    versions: &[VersionInfo],
    old_text: &str,
    new_text: &str,
) -> Markup {
    let base = format!("/watches/{}/diff", w.id);
    let mode_href =
        |m: DiffMode| format!("{base}?from={}&to={}&mode={}", from.seq, to.seq, m.as_str());
    let s = &diff.stats;
    let rows = rows(diff, old_text, new_text);
    let body = html! {
        div.page-head {
            p.crumbs { a href={ "/watches/" (w.id) } { "← " (w.name) } }
            h1 { "Changes to " (w.name) }
            p.watch-url { (external(&w.url)) }
        }
        div.versions-compared {
            (version_card("From", from))
            (version_card("To", to))
        }
        div.diff-controls {
            form.picker method="get" action=(base) {
                label for="from" { "From" }
                " "
                (version_select("from", from, versions))
                " "
                label for="to" { "to" }
                " "
                (version_select("to", to, versions))
                input type="hidden" name="mode" value=(mode.as_str());
                " "
                button type="submit" { "Compare" }
            }
            ul.modes aria-label="Layout" {
                @for m in [DiffMode::Inline, DiffMode::SideBySide] {
                    @let label = if m == DiffMode::Inline { "Inline" } else { "Side by side" };
                    li {
                        @if m == mode {
                            a.current href=(mode_href(m)) aria-current="page" { (label) }
                        } @else {
                            a href=(mode_href(m)) { (label) }
                        }
                    }
                }
            }
        }
        @if diff.is_empty() {
            p.empty { "The texts of these two versions are the same." }
        } @else {
            p.stats {
                span.minus { "−" (plural(s.lines_removed as i64, "line", "lines")) }
                " "
                span.plus { "+" (plural(s.lines_added as i64, "line", "lines")) }
                " · "
                span.minus { "−" (plural(s.words_removed as i64, "word", "words")) }
                " "
                span.plus { "+" (plural(s.words_added as i64, "word", "words")) }
            }
            div.table-wrap {
                @match mode {
                    DiffMode::Inline => (inline(&rows, from, to)),
                    DiffMode::SideBySide => (side_by_side(&rows, from, to)),
                }
            }
        }
    };
    layout(
        &format!("{}: #{} → #{}", w.name, from.seq, to.seq),
        Some(nav),
        body,
    )
}

fn version_card(label: &str, v: &VersionInfo) -> Markup {
    html! {
        div.version-card {
            h2 { (label) " version #" (v.seq) }
            p { (time(v.created_at)) " · HTTP " (v.http_status) }
            @if let Some(t) = &v.title { p.title { (t) } }
        }
    }
}

fn version_select(name: &str, current: &VersionInfo, versions: &[VersionInfo]) -> Markup {
    let mut all: Vec<&VersionInfo> = versions.iter().collect();
    if !all.iter().any(|v| v.seq == current.seq) {
        all.push(current);
    }
    all.sort_by_key(|v| std::cmp::Reverse(v.seq));
    all.dedup_by_key(|v| v.seq);
    html! {
        select #(name) name=(name) {
            @for v in all {
                option value=(v.seq) selected[v.seq == current.seq] {
                    "#" (v.seq) " · " (format_time(v.created_at)) " · HTTP " (v.http_status)
                }
            }
        }
    }
}

/// One row of the rendered diff.
#[derive(Debug)]
enum Row<'a> {
    Equal {
        old: usize,
        new: usize,
        text: Cow<'a, str>,
    },
    Delete {
        old: usize,
        line: &'a Line,
    },
    Insert {
        new: usize,
        line: &'a Line,
    },
    /// Equal lines not shown.
    Gap(usize),
}

/// An equal line before folding; `None` when the texts do not have it.
struct Same<'a> {
    old: usize,
    new: usize,
    text: Option<Cow<'a, str>>,
}

enum Pre<'a> {
    Same(Same<'a>),
    Changed(Row<'a>),
}

/// The lines of a text as `detect::diff` splits them.
fn lines_of(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    text.strip_suffix('\n')
        .unwrap_or(text)
        .split('\n')
        .collect()
}

/// Every line of the diff in order, equal runs folded.
fn rows<'a>(diff: &'a Diff, old_text: &'a str, new_text: &'a str) -> Vec<Row<'a>> {
    if diff.hunks.is_empty() {
        return Vec::new();
    }
    let (old_lines, new_lines) = (lines_of(old_text), lines_of(new_text));
    let same = |o: usize, n: usize| {
        Pre::Same(Same {
            old: o + 1,
            new: n + 1,
            text: old_lines
                .get(o)
                .or_else(|| new_lines.get(n))
                .map(|s| Cow::Borrowed(*s)),
        })
    };
    let mut pre = Vec::new();
    let (mut o, mut n) = (0usize, 0usize);
    for h in &diff.hunks {
        let (os, ns) = (h.old_start.saturating_sub(1), h.new_start.saturating_sub(1));
        while o < os {
            pre.push(same(o, n));
            o += 1;
            n += 1;
        }
        (o, n) = (os, ns);
        for line in &h.lines {
            match line.op {
                Op::Equal => {
                    pre.push(Pre::Same(Same {
                        old: o + 1,
                        new: n + 1,
                        text: Some(match line.segments.as_slice() {
                            [one] => Cow::Borrowed(one.text.as_str()),
                            _ => Cow::Owned(line.text()),
                        }),
                    }));
                    o += 1;
                    n += 1;
                }
                Op::Delete => {
                    pre.push(Pre::Changed(Row::Delete { old: o + 1, line }));
                    o += 1;
                }
                Op::Insert => {
                    pre.push(Pre::Changed(Row::Insert { new: n + 1, line }));
                    n += 1;
                }
            }
        }
        (o, n) = (os + h.old_lines, ns + h.new_lines);
    }
    let tail = old_lines
        .len()
        .saturating_sub(o)
        .max(new_lines.len().saturating_sub(n));
    for _ in 0..tail {
        pre.push(same(o, n));
        o += 1;
        n += 1;
    }
    fold(pre)
}

/// Folds long runs of equal lines, keeping [`SHOWN_CONTEXT`] lines next to
/// each change; a single hidden line is shown instead of a fold.
fn fold<'a>(pre: Vec<Pre<'a>>) -> Vec<Row<'a>> {
    let mut out = Vec::with_capacity(pre.len());
    let mut run: Vec<Same<'a>> = Vec::new();
    let mut leading = true;
    for p in pre {
        match p {
            Pre::Same(s) => run.push(s),
            Pre::Changed(row) => {
                flush(&mut run, &mut out, leading, false);
                leading = false;
                out.push(row);
            }
        }
    }
    flush(&mut run, &mut out, leading, true);
    out
}

/// Moves a run of equal lines to `out`, folding what is far from a change.
fn flush<'a>(run: &mut Vec<Same<'a>>, out: &mut Vec<Row<'a>>, leading: bool, trailing: bool) {
    let len = run.len();
    let near =
        |k: usize| (!leading && k < SHOWN_CONTEXT) || (!trailing && k + SHOWN_CONTEXT >= len);
    let keep_all = (0..len).filter(|&k| !near(k)).count() <= 1;
    let mut hidden = 0;
    for (k, s) in run.drain(..).enumerate() {
        match s.text {
            Some(text) if keep_all || near(k) => {
                if hidden > 0 {
                    out.push(Row::Gap(hidden));
                    hidden = 0;
                }
                out.push(Row::Equal {
                    old: s.old,
                    new: s.new,
                    text,
                });
            }
            _ => hidden += 1,
        }
    }
    if hidden > 0 {
        out.push(Row::Gap(hidden));
    }
}

/// A changed line's text, its changed words in `<del>` or `<ins>` (the
/// spaces between two changed words inside the same mark, as
/// `Diff::changed_runs` joins them). A line changed as a whole is left
/// plain: its row already says so.
fn segments(line: &Line) -> Markup {
    let segs = &line.segments;
    if segs.iter().all(|s| s.changed) {
        return html! { @for s in segs { (s.text) } };
    }
    let blank = |i: usize| segs.get(i).is_some_and(|s| s.text.trim().is_empty());
    let changed = |i: usize| segs.get(i).is_some_and(|s| s.changed);
    let marked = |i: usize| changed(i) || (blank(i) && i > 0 && changed(i - 1) && changed(i + 1));
    let mut parts: Vec<(bool, String)> = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        let m = marked(i);
        match parts.last_mut() {
            Some((last, text)) if *last == m => text.push_str(&s.text),
            _ => parts.push((m, s.text.clone())),
        }
    }
    html! {
        @for (m, text) in &parts {
            @if *m { (mark(text, line.op)) } @else { (text) }
        }
    }
}

/// Changed words, with the spaces around them left outside the mark.
fn mark(text: &str, op: Op) -> Markup {
    let core = text.trim();
    if core.is_empty() {
        return html! { (text) };
    }
    let start = text.len() - text.trim_start().len();
    let (before, after) = (&text[..start], &text[start + core.len()..]);
    html! {
        (before)
        @if op == Op::Insert { ins { (core) } } @else { del { (core) } }
        (after)
    }
}

fn gap_text(n: usize) -> String {
    format!(
        "… {} …",
        plural(n as i64, "unchanged line", "unchanged lines")
    )
}

fn inline(rows: &[Row<'_>], from: &VersionInfo, to: &VersionInfo) -> Markup {
    html! {
        table.diff.diff-inline {
            thead {
                tr {
                    th.num scope="col" title="Line in the old version" { "#" (from.seq) }
                    th.num scope="col" title="Line in the new version" { "#" (to.seq) }
                    th.sign scope="col" { span.visually-hidden { "Change" } }
                    th scope="col" { "Text" }
                }
            }
            tbody {
                @for row in rows {
                    @match row {
                        Row::Equal { old, new, text } => tr.eq {
                            td.num { (old) } td.num { (new) } td.sign { } td.text { (text) }
                        },
                        Row::Delete { old, line } => tr.del {
                            td.num { (old) } td.num { } td.sign { "−" } td.text { (segments(line)) }
                        },
                        Row::Insert { new, line } => tr.ins {
                            td.num { } td.num { (new) } td.sign { "+" } td.text { (segments(line)) }
                        },
                        Row::Gap(n) => tr.gap { td colspan="4" { (gap_text(*n)) } },
                    }
                }
            }
        }
    }
}

fn side_by_side(rows: &[Row<'_>], from: &VersionInfo, to: &VersionInfo) -> Markup {
    html! {
        table.diff.diff-side {
            thead {
                tr {
                    th.num scope="col" { span.visually-hidden { "Line" } }
                    th.half scope="col" { "Version #" (from.seq) " · " (format_time(from.created_at)) }
                    th.num scope="col" { span.visually-hidden { "Line" } }
                    th.half scope="col" { "Version #" (to.seq) " · " (format_time(to.created_at)) }
                }
            }
            tbody {
                @for row in side_rows(rows) {
                    @match row {
                        Side::Equal { old, new, text } => tr.eq {
                            td.num { (old) } td.text { (text) }
                            td.num { (new) } td.text { (text) }
                        },
                        Side::Gap(n) => tr.gap { td colspan="4" { (gap_text(n)) } },
                        Side::Change { left, right } => tr.change {
                            @match left {
                                Some((old, line)) => { td.num.del { (old) } td.text.del { (segments(line)) } }
                                None => { td.num.blank { } td.text.blank { } }
                            }
                            @match right {
                                Some((new, line)) => { td.num.ins { (new) } td.text.ins { (segments(line)) } }
                                None => { td.num.blank { } td.text.blank { } }
                            }
                        },
                    }
                }
            }
        }
    }
}

/// Changed lines with their line numbers.
type Numbered<'a> = Vec<(usize, &'a Line)>;

/// One row of the side-by-side table.
enum Side<'r, 'a> {
    Equal {
        old: usize,
        new: usize,
        text: &'r str,
    },
    Gap(usize),
    /// A removed line (left) beside the line that replaced it (right).
    Change {
        left: Option<(usize, &'a Line)>,
        right: Option<(usize, &'a Line)>,
    },
}

/// Pairs each block of removed lines with the block of added lines that
/// follows, line by line, so an edited line sits beside its new form.
fn side_rows<'r, 'a>(rows: &'r [Row<'a>]) -> Vec<Side<'r, 'a>> {
    let mut out = Vec::with_capacity(rows.len());
    let (mut dels, mut inss): (Numbered<'a>, Numbered<'a>) = (Vec::new(), Vec::new());
    let flush = |out: &mut Vec<Side<'r, 'a>>, dels: &mut Numbered<'a>, inss: &mut Numbered<'a>| {
        for k in 0..dels.len().max(inss.len()) {
            out.push(Side::Change {
                left: dels.get(k).copied(),
                right: inss.get(k).copied(),
            });
        }
        dels.clear();
        inss.clear();
    };
    for row in rows {
        match row {
            Row::Delete { old, line } => {
                if !inss.is_empty() {
                    // A removal after additions starts a new block.
                    flush(&mut out, &mut dels, &mut inss);
                }
                dels.push((*old, *line));
            }
            Row::Insert { new, line } => inss.push((*new, *line)),
            Row::Equal { old, new, text } => {
                flush(&mut out, &mut dels, &mut inss);
                out.push(Side::Equal {
                    old: *old,
                    new: *new,
                    text: text.as_ref(),
                });
            }
            Row::Gap(n) => {
                flush(&mut out, &mut dels, &mut inss);
                out.push(Side::Gap(*n));
            }
        }
    }
    flush(&mut out, &mut dels, &mut inss);
    out
}

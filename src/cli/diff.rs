//! `palimpsest diff WATCH [FROM] [TO] --config FILE`: coloured on a terminal.

use super::{CliError, ConfigArg};
use crate::detect::diff::{self, Op};
use crate::model::format_millis;
use crate::store::{Store, version_text};
use anstyle::{AnsiColor, Effects, Style};
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The watch's name or id.
    pub watch: String,
    /// The older version number (default: the one before TO).
    pub from: Option<i64>,
    /// The newer version number (default: the newest).
    pub to: Option<i64>,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Colour: auto (on a terminal), always, never.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorWhen,
    /// The structured diff as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    let cfg = args.config.load()?;
    let store = super::open_store(&cfg).await?;
    let w = super::find_watch(&store, &args.watch).await?;
    let fail = |e: crate::store::StoreError| CliError::Failed(e.to_string());
    let newest = store.versions(w.id, 1).await.map_err(fail)?;
    let Some(newest) = newest.first() else {
        return Err(CliError::Failed(format!(
            "watch `{}` has no versions yet",
            w.name
        )));
    };
    if args.from.is_none() && args.to.is_none() && newest.seq < 2 {
        return Err(CliError::Failed(format!(
            "watch `{}` has one version so far: nothing to compare it with (`palimpsest history {}` shows it)",
            w.name, w.name
        )));
    }
    let to = args.to.unwrap_or(newest.seq);
    let from = args.from.unwrap_or(to - 1);
    let get = |seq: i64| {
        let store = &store;
        let name = w.name.clone();
        async move {
            store
                .version(w.id, seq)
                .await
                .map_err(fail)?
                .ok_or_else(|| {
                    CliError::Failed(format!(
                        "watch `{name}` has no version {seq} (it has 1 to {})",
                        newest.seq
                    ))
                })
        }
    };
    let (a, b) = (get(from).await?, get(to).await?);
    let old = version_text(&store, &a.text_hash).await.map_err(fail)?;
    let new = version_text(&store, &b.text_hash).await.map_err(fail)?;
    let d = diff::diff(&old, &new);
    if args.json {
        super::print_json_line(&serde_json::json!({
            "watch": w.name, "from": a.seq, "to": b.seq, "stats": d.stats, "hunks": d.hunks,
            "unified": d.unified(&format!("version {}", a.seq), &format!("version {}", b.seq)),
        }));
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = anstream::AutoStream::new(
        std::io::stdout(),
        match args.color {
            ColorWhen::Auto => anstream::ColorChoice::Auto,
            ColorWhen::Always => anstream::ColorChoice::Always,
            ColorWhen::Never => anstream::ColorChoice::Never,
        },
    );
    let label = |v: &crate::store::VersionInfo| {
        format!(
            "{} version {} ({}, HTTP {})",
            w.name,
            v.seq,
            format_millis(v.created_at),
            v.http_status
        )
    };
    let _ = write_diff(&mut out, &d, &label(&a), &label(&b));
    Ok(ExitCode::SUCCESS)
}

fn write_diff(out: &mut impl Write, d: &diff::Diff, from: &str, to: &str) -> std::io::Result<()> {
    let bold = Style::new().effects(Effects::BOLD);
    let red = Style::new().fg_color(Some(AnsiColor::Red.into()));
    let green = Style::new().fg_color(Some(AnsiColor::Green.into()));
    let red_hi = red.effects(Effects::BOLD | Effects::UNDERLINE);
    let green_hi = green.effects(Effects::BOLD | Effects::UNDERLINE);
    let cyan = Style::new().fg_color(Some(AnsiColor::Cyan.into()));
    writeln!(out, "{bold}--- {from}{bold:#}")?;
    writeln!(out, "{bold}+++ {to}{bold:#}")?;
    if d.is_empty() {
        writeln!(out, "(no differences)")?;
    }
    for h in &d.hunks {
        writeln!(
            out,
            "{cyan}@@ -{},{} +{},{} @@{cyan:#}",
            h.old_start, h.old_lines, h.new_start, h.new_lines
        )?;
        for line in &h.lines {
            let (sign, base, hi) = match line.op {
                Op::Equal => (' ', Style::new(), Style::new()),
                Op::Delete => ('-', red, red_hi),
                Op::Insert => ('+', green, green_hi),
            };
            write!(out, "{base}{sign}")?;
            for seg in &line.segments {
                if seg.changed && line.op != Op::Equal {
                    write!(out, "{base:#}{hi}{}{hi:#}{base}", seg.text)?;
                } else {
                    write!(out, "{}", seg.text)?;
                }
            }
            writeln!(out, "{base:#}")?;
        }
    }
    writeln!(
        out,
        "{} lines added, {} removed; {} words added, {} removed",
        d.stats.lines_added, d.stats.lines_removed, d.stats.words_added, d.stats.words_removed
    )
}

//! `palimpsest watches --config FILE [--json]`

use super::{CliError, ConfigArg, time_or_dash};
use crate::store::Store;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    let cfg = args.config.load()?;
    let store = super::open_store(&cfg).await?;
    let mut list = store
        .watch_summaries()
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?;
    // Config watches not yet seen by the daemon are listed too, as `new`.
    let known: std::collections::HashSet<String> = list.iter().map(|s| s.name.clone()).collect();
    for w in &cfg.watches {
        if !known.contains(&w.name) {
            list.push(crate::store::WatchSummary {
                id: 0,
                name: w.name.clone(),
                url: w.url.to_string(),
                kind: w.kind.as_str().into(),
                tags: w.tags.clone(),
                active: true,
                paused: w.paused,
                status: "new".into(),
                failure_streak: 0,
                versions: 0,
                last_check_at: None,
                last_status: None,
                last_error: None,
                last_change_at: None,
                next_due_at: None,
            });
        }
    }
    if args.json {
        for w in &list {
            super::print_json_line(w);
        }
    } else {
        let width = list
            .iter()
            .map(|w| w.name.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        println!(
            "{:<width$}  {:<8}  {:<20}  {:<20}  URL",
            "NAME", "STATUS", "LAST CHECK", "LAST CHANGE"
        );
        for w in &list {
            println!(
                "{:<width$}  {:<8}  {:<20}  {:<20}  {}",
                w.name,
                w.status,
                time_or_dash(w.last_check_at),
                time_or_dash(w.last_change_at),
                w.url
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

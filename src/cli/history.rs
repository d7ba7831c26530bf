//! `palimpsest history WATCH --config FILE [--json]`

use super::{CliError, ConfigArg};
use crate::model::format_millis;
use crate::store::Store;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The watch's name or id.
    pub watch: String,
    #[command(flatten)]
    pub config: ConfigArg,
    /// How many versions and events to show.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// One JSON object per line (`"type": "version"` or `"event"`).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    let cfg = args.config.load()?;
    let store = super::open_store(&cfg).await?;
    let w = super::find_watch(&store, &args.watch).await?;
    let fail = |e: crate::store::StoreError| CliError::Failed(e.to_string());
    let versions = store.versions(w.id, args.limit).await.map_err(fail)?;
    let events = store.events(w.id, args.limit).await.map_err(fail)?;

    // Interleave by time, newest first.
    enum Item<'a> {
        V(&'a crate::store::VersionInfo),
        E(&'a crate::store::EventInfo),
    }
    let mut items: Vec<(i64, u8, Item)> = versions
        .iter()
        .map(|v| (v.created_at, 0, Item::V(v)))
        .chain(events.iter().map(|e| (e.created_at, 1, Item::E(e))))
        .collect();
    items.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    if !args.json {
        println!("{} ({})  {}", w.name, w.status, w.url);
    }
    for (_, _, item) in items {
        match item {
            Item::V(v) if args.json => {
                let mut value = serde_json::to_value(v).unwrap_or_default();
                value["type"] = "version".into();
                super::print_json_line(&value);
            }
            Item::E(e) if args.json => {
                let mut value = serde_json::to_value(e).unwrap_or_default();
                value["type"] = "event".into();
                super::print_json_line(&value);
            }
            Item::V(v) => println!(
                "{}  version {:<4} HTTP {}  {}",
                format_millis(v.created_at),
                v.seq,
                v.http_status,
                v.title.as_deref().unwrap_or("")
            ),
            Item::E(e) => {
                let detail = match (&e.prev_version_seq, &e.version_seq) {
                    (Some(a), Some(b)) => format!("{a} → {b}"),
                    (None, Some(b)) => format!("→ {b}"),
                    _ => String::new(),
                };
                let stats = e
                    .data
                    .get("stats")
                    .map(|s| format!(" (+{} −{} words)", s["words_added"], s["words_removed"]))
                    .unwrap_or_default();
                println!(
                    "{}  event   {:<12} {detail}{stats}",
                    format_millis(e.created_at),
                    e.kind.as_str()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

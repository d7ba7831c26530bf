//! `palimpsest deliveries --config FILE [--status S] [--json]`: the alert
//! outbox, newest first: what was delivered, what waits for a retry and
//! what failed, with the last error.

use super::{CliError, ConfigArg};
use crate::store::Store;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Only deliveries with this status.
    #[arg(long, value_parser = ["pending", "delivered", "failed"])]
    pub status: Option<String>,
    /// How many rows.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    let cfg = args.config.load()?;
    let store = super::open_store(&cfg).await?;
    let rows = store
        .deliveries(args.status.as_deref(), args.limit.max(1))
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?;
    if args.json {
        for r in &rows {
            super::print_json_line(r);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no deliveries");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<6} {:<10} {:<16} {:<20} {:<12} {:>8}  {:<20}  last error",
        "id", "status", "channel", "watch", "event", "attempts", "next / done"
    );
    for r in rows {
        let when = match r.status.as_str() {
            "delivered" => super::time_or_dash(r.delivered_at),
            "pending" => super::time_or_dash(Some(r.next_attempt_at)),
            _ => super::time_or_dash(r.last_attempt_at),
        };
        println!(
            "{:<6} {:<10} {:<16} {:<20} {:<12} {:>8}  {:<20}  {}",
            r.id,
            r.status,
            r.channel,
            r.watch,
            r.event_kind,
            r.attempts,
            when,
            r.last_error.as_deref().unwrap_or("-")
        );
    }
    Ok(ExitCode::SUCCESS)
}

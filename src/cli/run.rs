//! `palimpsest run --config FILE [--once]`

use super::{CliError, ConfigArg};
use crate::schedule::{self, Mode};
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Check every watch once now, deliver what is due, and exit.
    #[arg(long)]
    pub once: bool,
}

pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    let cfg = Arc::new(args.config.load()?);
    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(shutdown.clone()));
    let mode = if args.once { Mode::Once } else { Mode::Daemon };
    let report = schedule::run(cfg, mode, shutdown)
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?;
    if report.write_errors > 0 {
        return Err(CliError::Failed(format!(
            "{} of {} checks could not be written to the database",
            report.write_errors, report.checks
        )));
    }
    Ok(ExitCode::SUCCESS)
}

/// First SIGTERM/SIGINT: graceful shutdown. Second: exit at once.
#[cfg(unix)]
async fn watch_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot listen for signals; stop the daemon with SIGKILL");
        return;
    };
    let mut count = 0u32;
    loop {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        count += 1;
        if count == 1 {
            tracing::info!(
                "shutting down: finishing running checks (signal again to exit at once)"
            );
            shutdown.cancel();
        } else {
            tracing::warn!("second signal: exiting now");
            std::process::exit(130);
        }
    }
}

#[cfg(not(unix))]
async fn watch_signals(shutdown: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        shutdown.cancel();
    }
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

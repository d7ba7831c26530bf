//! `palimpsest run --config FILE [--once]`
//!
//! The daemon: opens the store, loads the config file together with the
//! objects made through the API, serves HTTP on `[server] listen`, and
//! runs the scheduler until SIGTERM. SIGHUP reloads the config file (all
//! of it validated first; on error the old config stays).

use super::{CliError, ConfigArg};
use crate::config::Config;
use crate::control::Control;
use crate::schedule::{self, Mode};
use crate::store::Store;
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
    // The file alone says where the database is; the database holds the
    // objects made through the API, validated together with the file.
    let path = &args.config.config;
    let text = Config::read(path).map_err(CliError::Config)?;
    let mut file_cfg =
        crate::config::validate_source(&text, &path.display().to_string(), path.parent())
            .map_err(CliError::Config)?;
    file_cfg.source = Some(path.clone());
    let store = Arc::new(super::open_store(&file_cfg).await?);
    let control = Control::load(path, text, file_cfg, store.as_ref())
        .await
        .map_err(|e| match e {
            crate::control::ReloadError::Invalid(e) => CliError::Config(e),
            other => CliError::Failed(other.to_string()),
        })?;
    if args.once {
        // A `--once` run takes no API changes: the text is not needed again.
        control.forget_text();
    }
    let shutdown = CancellationToken::new();
    let mode = if args.once { Mode::Once } else { Mode::Daemon };
    tokio::spawn(watch_signals(
        shutdown.clone(),
        control.clone(),
        store.clone(),
    ));

    let server = if mode == Mode::Daemon {
        let addr = control.config().server.listen;
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            CliError::Failed(format!(
                "cannot listen on {addr}: {e}; set another address under [server] listen"
            ))
        })?;
        let bound = listener
            .local_addr()
            .map_err(|e| CliError::Failed(e.to_string()))?;
        let app = crate::server::App::new(store.clone(), control.clone())
            .await
            .map_err(|e| CliError::Failed(e.to_string()))?;
        tracing::info!(address = %bound, "listening on http://{bound}/");
        let stop = shutdown.clone();
        Some(tokio::spawn(async move {
            if let Err(e) = crate::server::serve(listener, app, stop).await {
                tracing::error!("the HTTP server stopped: {e}");
            }
        }))
    } else {
        None
    };

    let result =
        schedule::run_controlled(store.clone(), control.clone(), mode, shutdown.clone()).await;
    shutdown.cancel();
    if let Some(s) = server {
        let _ = s.await;
    }
    store.close().await;
    let report = result.map_err(|e| CliError::Failed(e.to_string()))?;
    if report.write_errors > 0 {
        return Err(CliError::Failed(format!(
            "{} of {} checks could not be written to the database",
            report.write_errors, report.checks
        )));
    }
    Ok(ExitCode::SUCCESS)
}

/// First SIGTERM/SIGINT: graceful shutdown. Second: exit at once.
/// SIGHUP: reload the config file.
#[cfg(unix)]
async fn watch_signals<S: Store>(
    shutdown: CancellationToken,
    control: Arc<Control>,
    store: Arc<S>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::warn!("cannot listen for signals; stop the daemon with SIGKILL");
        return;
    };
    let mut count = 0u32;
    loop {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {
                control.systemd.reloading();
                match control.reload_file(store.as_ref()).await {
                    // READY=1 follows when the scheduler runs on the new config.
                    Ok(()) => tracing::info!("SIGHUP: the config file is valid and in force"),
                    Err(e) => {
                        tracing::error!("SIGHUP: the config was not reloaded; the old one stays in force:\n{e}");
                        control.systemd.ready();
                    }
                }
                continue;
            }
        }
        count += 1;
        if count == 1 {
            tracing::info!(
                "shutting down: finishing running checks (signal again to exit at once)"
            );
            control.set_readiness(crate::control::Readiness::Draining);
            control.systemd.stopping();
            shutdown.cancel();
        } else {
            tracing::warn!("second signal: exiting now");
            std::process::exit(130);
        }
    }
}

#[cfg(not(unix))]
async fn watch_signals<S: Store>(
    shutdown: CancellationToken,
    _control: Arc<Control>,
    _store: Arc<S>,
) {
    if tokio::signal::ctrl_c().await.is_ok() {
        shutdown.cancel();
    }
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

//! The command line: one file per subcommand, errors turned into messages
//! and exit codes here and nowhere else.
//!
//! Exit codes: 0 success; 1 the command failed (storage, network, a watch
//! or version that does not exist); 2 bad usage or an invalid config.

mod check;
mod config_check;
mod deliveries;
mod diff;
mod history;
mod notify;
mod run;
mod token;
mod watches;

use crate::config::{Config, ConfigError};
use crate::logging::{self, LogFormat};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "palimpsest", version, about = "Keeps the record of what web pages said.", long_about = None)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log filter, e.g. `debug` or `palimpsest=debug` (default: $RUST_LOG, else `info`).
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: check every watch on its schedule until SIGTERM.
    Run(run::Args),
    /// Fetch and extract one URL; print the text that would be stored. Stores nothing.
    Check(check::Args),
    /// List the watches: name, url, status, last check, last change.
    Watches(watches::Args),
    /// Versions and events of one watch, newest first.
    History(history::Args),
    /// Diff two versions of a watch (default: the last two).
    Diff(diff::Args),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Alert tools: send a test alert through a channel.
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// The alert outbox: delivered, pending and failed deliveries with their last error.
    Deliveries(deliveries::Args),
    /// Bearer tokens for the HTTP API and the web UI.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file; print every error with file:line:column and a hint.
    Check {
        /// The config file.
        file: PathBuf,
    },
}

/// `--config`, shared by the commands that read one.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// The config file.
    #[arg(
        long,
        short = 'c',
        env = "PALIMPSEST_CONFIG",
        default_value = "palimpsest.toml"
    )]
    pub config: PathBuf,
}

impl ConfigArg {
    fn load(&self) -> Result<Config, CliError> {
        Config::load(&self.config).map_err(CliError::Config)
    }
}

/// How a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Config(ConfigError),
    #[error("{0}")]
    Failed(String),
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Failed(format!("{e:#}"))
    }
}

/// Parses arguments, runs the command, prints errors. The binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format, cli.log_level.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(dispatch(cli.command));
    // Do not wait for stray blocking tasks (a huge page being parsed) at exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(code) => code,
        Err(CliError::Config(e)) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(CliError::Failed(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}

async fn dispatch(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Run(a) => run::run(a).await,
        Command::Check(a) => check::run(a).await,
        Command::Watches(a) => watches::run(a).await,
        Command::History(a) => history::run(a).await,
        Command::Diff(a) => diff::run(a).await,
        Command::Config(ConfigCommand::Check { file }) => config_check::run(&file),
        Command::Notify(c) => notify::run(c).await,
        Command::Deliveries(a) => deliveries::run(a).await,
        Command::Token(c) => token::run(c).await,
    }
}

/// Opens the store of a config, for the read-only commands.
async fn open_store(cfg: &Config) -> Result<crate::store::sqlite::SqliteStore, CliError> {
    crate::store::open(&cfg.storage)
        .await
        .map_err(|e| CliError::Failed(e.to_string()))
}

/// Finds a watch by name or id, with a helpful error.
async fn find_watch<S: crate::store::Store>(
    store: &S,
    key: &str,
) -> Result<crate::store::WatchSummary, CliError> {
    match store
        .find_watch(key)
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?
    {
        Some(w) => Ok(w),
        None => Err(CliError::Failed(format!(
            "no watch named `{key}`; `palimpsest watches` lists them (a watch appears after the daemon's first run)"
        ))),
    }
}

/// Prints one JSON object per line.
fn print_json_line<T: serde::Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot encode JSON: {e}"),
    }
}

fn time_or_dash(ms: Option<i64>) -> String {
    ms.map(crate::model::format_millis)
        .unwrap_or_else(|| "-".into())
}

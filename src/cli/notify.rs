//! `palimpsest notify test CHANNEL --config FILE`: sends a sample event
//! through one channel now and reports what the receiver said.

use super::{CliError, ConfigArg};
use crate::notify::{self, SendError};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum NotifyCommand {
    /// Send a sample alert through a channel; exit 0 if it was accepted, 1 if not.
    Test {
        /// The channel's name.
        channel: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

pub async fn run(cmd: NotifyCommand) -> Result<ExitCode, CliError> {
    match cmd {
        NotifyCommand::Test { channel, config } => {
            let cfg = config.load()?;
            let outcome = notify::send_test(&cfg, &channel).await.map_err(|e| {
                let names: Vec<&str> = cfg.channels.iter().map(|c| c.name.as_str()).collect();
                CliError::Failed(if names.is_empty() {
                    format!("{e}; the config defines no [[channel]]")
                } else {
                    format!("{e}; channels: {}", names.join(", "))
                })
            })?;
            match outcome {
                Ok(what) => {
                    println!("channel `{channel}`: delivered ({what})");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    let kind = match &e {
                        SendError::Retry { .. } => "temporary failure, the daemon would retry",
                        SendError::Permanent { .. } => "permanent failure",
                        SendError::Gone { .. } => {
                            "receiver gone, the daemon would disable the channel"
                        }
                    };
                    Err(CliError::Failed(format!(
                        "channel `{channel}`: not delivered ({kind}): {}",
                        e.message()
                    )))
                }
            }
        }
    }
}

//! `palimpsest token create NAME [--read-only]`, `token list`, `token revoke NAME`:
//! the bearer tokens of the HTTP API and the web UI.

use super::{CliError, ConfigArg, time_or_dash};
use crate::store::Store;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and only its hash is stored.
    Create {
        /// A name for the token (who or what uses it).
        name: String,
        /// The token may read but not change anything.
        #[arg(long)]
        read_only: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List the tokens (names, rights, last use; never the tokens).
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by name; sessions made with it end too.
    Revoke {
        name: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

pub async fn run(cmd: TokenCommand) -> Result<ExitCode, CliError> {
    match cmd {
        TokenCommand::Create {
            name,
            read_only,
            config,
        } => {
            let name = name.trim().to_string();
            if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
                return Err(CliError::Failed(
                    "a token name must be 1 to 100 printable characters".into(),
                ));
            }
            let cfg = config.load()?;
            let store = super::open_store(&cfg).await?;
            let token = crate::server::new_token()
                .map_err(|e| failed(format!("cannot draw random bytes for a token: {e}")))?;
            let hash = crate::server::hash_token(&token);
            match store
                .create_token(&name, &hash, read_only, crate::model::now_millis())
                .await
                .map_err(failed)?
            {
                Some(_) => {
                    eprintln!(
                        "created the {}token `{name}`; it is shown only now:",
                        if read_only { "read-only " } else { "" }
                    );
                    println!("{token}");
                    Ok(ExitCode::SUCCESS)
                }
                None => Err(CliError::Failed(format!(
                    "a token named `{name}` exists; revoke it first (`palimpsest token revoke {name}`) or choose another name"
                ))),
            }
        }
        TokenCommand::List { config, json } => {
            let cfg = config.load()?;
            let store = super::open_store(&cfg).await?;
            for t in store.tokens().await.map_err(failed)? {
                if json {
                    super::print_json_line(&t);
                } else {
                    println!(
                        "{}\t{}\tcreated {}\tlast used {}",
                        t.name,
                        if t.read_only { "read-only" } else { "read-write" },
                        time_or_dash(Some(t.created_at)),
                        time_or_dash(t.last_used_at)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Revoke { name, config } => {
            let cfg = config.load()?;
            let store = super::open_store(&cfg).await?;
            if store.revoke_token(&name).await.map_err(failed)? {
                eprintln!("revoked the token `{name}`");
                Ok(ExitCode::SUCCESS)
            } else {
                Err(CliError::Failed(format!(
                    "no token named `{name}`; `palimpsest token list` shows them"
                )))
            }
        }
    }
}

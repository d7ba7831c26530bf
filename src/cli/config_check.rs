//! `palimpsest config check FILE`

use super::CliError;
use crate::config::Config;
use std::path::Path;
use std::process::ExitCode;

pub fn run(file: &Path) -> Result<ExitCode, CliError> {
    let cfg = Config::load(file).map_err(CliError::Config)?;
    println!(
        "{}: ok ({} watches, {} channels, {} subscriptions)",
        file.display(),
        cfg.watches.len(),
        cfg.channels.len(),
        cfg.subscriptions.len()
    );
    Ok(ExitCode::SUCCESS)
}

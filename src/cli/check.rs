//! `palimpsest check URL [--select CSS] [--exclude CSS]`: what would be stored.

use super::CliError;
use crate::config::Config;
use crate::extract::Rules;
use crate::fetch::{Fetcher, Validators};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The page to fetch.
    pub url: String,
    /// Keep only the elements this CSS selector matches.
    #[arg(long)]
    pub select: Option<String>,
    /// Remove the elements this CSS selector matches (repeatable).
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Remove what this regex matches from each line (repeatable).
    #[arg(long)]
    pub ignore: Vec<String>,
    /// Take [fetch] settings from this config file.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Allow loopback and private addresses (like `allow_private_networks`).
    #[arg(long)]
    pub allow_private_networks: bool,
    /// Print one JSON object (status, title, links, lines) instead of text.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args) -> Result<ExitCode, CliError> {
    let mut cfg = match &args.config {
        Some(p) => Config::load(p).map_err(CliError::Config)?,
        None => Config::defaults_only(),
    };
    if args.allow_private_networks {
        cfg.fetch.allow_private_networks = true;
    }
    let url = crate::config::validate_url(&args.url).map_err(CliError::Failed)?;
    let rules = Rules::new(args.select.as_deref(), &args.exclude, &args.ignore)
        .map_err(|e| CliError::Failed(e.to_string()))?
        .with_links();
    let fetcher = Fetcher::new(&cfg.fetch).map_err(|e| CliError::Failed(e.to_string()))?;
    let f = fetcher
        .fetch(&url, &Validators::default())
        .await
        .map_err(|e| CliError::Failed(format!("{url}: {e}")))?;
    let body_hash = crate::store::blob::hash(&f.body);
    let (extracted, encoding) = crate::check::decode_and_extract(&f, &rules, &body_hash);
    if args.json {
        super::print_json_line(&serde_json::json!({
            "url": url.as_str(),
            "status": f.status,
            "final_url": f.final_url.as_str(),
            "redirects": f.redirects,
            "media_type": f.media_type,
            "encoding": encoding,
            "bytes": f.body.len(),
            "title": extracted.title,
            "lines": extracted.lines,
            "links": extracted.links,
        }));
    } else {
        for hop in &f.redirects {
            eprintln!("redirect: {} ({})", hop.url, hop.status);
        }
        eprintln!(
            "{} {} · {} · {} · {} bytes · {} lines · {} links",
            f.status,
            f.final_url,
            if f.media_type.is_empty() {
                "no content type"
            } else {
                &f.media_type
            },
            encoding,
            f.body.len(),
            extracted.lines.len(),
            extracted.links.len()
        );
        if let Some(t) = &extracted.title {
            eprintln!("title: {t}");
        }
        eprintln!("---");
        for line in &extracted.lines {
            println!("{line}");
        }
    }
    Ok(if (200..300).contains(&f.status) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

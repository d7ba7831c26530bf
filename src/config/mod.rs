//! Configuration: the TOML model, defaults, and a validation pass that
//! reports every problem at once, each with `file:line:column` and a hint.
//!
//! Loading is two steps. [`raw`] deserializes the file as written (with
//! spans); [`validate`] applies the defaults from [`defaults`], checks every
//! value and produces the typed [`Config`] the rest of the daemon uses.
//! Nothing outside this module sees a raw value or a span.

pub mod defaults;
mod env;
pub mod raw;
pub mod units;
mod validate;

use crate::model::{EventKind, WatchKind};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use env::expand_env;
pub use validate::{parse_watch_url as validate_url, validate_source};

/// A fully validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from, if any.
    pub source: Option<PathBuf>,
    pub storage: StorageConfig,
    /// Check rows older than this are pruned (versions and events are
    /// not); `None` keeps every check row.
    pub keep_checks: Option<Duration>,
    pub fetch: FetchConfig,
    pub schedule: ScheduleConfig,
    pub detect: DetectConfig,
    pub follow: FollowConfig,
    pub smtp: Option<SmtpConfig>,
    pub server: ServerConfig,
    pub notify: NotifyConfig,
    /// Shared with the scheduler as they are: a watch list is never copied.
    pub watches: Vec<Arc<WatchSpec>>,
    pub channels: Vec<ChannelSpec>,
    pub subscriptions: Vec<SubscriptionSpec>,
}

/// Where versions and events are kept.
#[derive(Debug, Clone, PartialEq)]
pub enum StorageConfig {
    /// An SQLite database file (created on first use).
    Sqlite { path: PathBuf },
    /// A PostgreSQL URL (the backend arrives with cluster mode).
    Postgres { url: Secret },
}

/// How pages are fetched.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub user_agent: String,
    /// Total time for one request, from connect to the last body byte.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Longest silence between two reads of the response.
    pub read_timeout: Duration,
    /// Largest body accepted, counted after decompression.
    pub max_body: u64,
    pub max_redirects: usize,
    /// Checks running at once, across all hosts.
    pub concurrency: usize,
    /// Requests in flight to one host at once.
    pub per_host: usize,
    /// Least time between the starts of two requests to one host.
    pub per_host_delay: Duration,
    /// Allow loopback, private, link-local and other non-global addresses.
    pub allow_private_networks: bool,
    /// Hosts (names or IP literals, lower case) exempt from the address
    /// policy: one intranet server without opening every private network.
    pub allow_hosts: Vec<String>,
}

/// Scheduler knobs.
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    /// After a restart, overdue watches are spread over this window.
    pub startup_spread: Duration,
    /// The longest backoff after repeated failures.
    pub max_backoff: Duration,
    /// How long running checks may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
}

/// `[notify]`: the delivery worker (outbox) knobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Give up on a delivery this long after it was created.
    pub max_age: Duration,
    /// A claim older than this is considered abandoned (its worker died).
    pub lease: Duration,
    /// Messages in flight at once, all channels together.
    pub concurrency: usize,
    /// One webhook request or SMTP transaction.
    pub timeout: Duration,
    /// Delay before the first retry (doubled per attempt, with jitter).
    pub retry_initial: Duration,
    /// Longest delay between two attempts.
    pub retry_max: Duration,
    /// With `--once`: how long after the checks a retry may still fall due
    /// and be attempted before the run exits.
    pub once_wait: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            max_age: defaults::NOTIFY_MAX_AGE,
            lease: defaults::NOTIFY_LEASE,
            concurrency: defaults::NOTIFY_CONCURRENCY,
            timeout: defaults::NOTIFY_TIMEOUT,
            retry_initial: defaults::NOTIFY_RETRY_INITIAL,
            retry_max: defaults::NOTIFY_RETRY_MAX,
            once_wait: defaults::NOTIFY_ONCE_WAIT,
        }
    }
}

/// `[detect]`: when a condition becomes an event.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectConfig {
    /// Consecutive checks that must see a page gone before `deleted`.
    pub confirm_checks: u32,
    /// After the first sighting of a deletion, the next check comes this
    /// soon instead of a full interval later.
    pub confirm_spacing: Duration,
    /// Failures must last this long (and `unreachable_checks` checks)
    /// before `unreachable` (or `blocked`) is raised.
    pub unreachable_after: Duration,
    pub unreachable_checks: u32,
    /// A text equal to a version seen this recently is a `reverted`.
    pub flipflop_window: Duration,
    /// Probe a random sibling URL to recognise "not found" pages served
    /// with status 200.
    pub soft404_probe: bool,
    /// More deletions than this on one host within `incident_window`
    /// make one `incident` alert.
    pub incident_threshold: u32,
    pub incident_window: Duration,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            confirm_checks: defaults::CONFIRM_CHECKS as u32,
            confirm_spacing: defaults::CONFIRM_SPACING,
            unreachable_after: defaults::UNREACHABLE_AFTER,
            unreachable_checks: defaults::UNREACHABLE_CHECKS as u32,
            flipflop_window: defaults::FLIPFLOP_WINDOW,
            soft404_probe: true,
            incident_threshold: defaults::INCIDENT_THRESHOLD as u32,
            incident_window: defaults::INCIDENT_WINDOW,
        }
    }
}

/// The SMTP relay used by email channels.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    Starttls,
    Implicit,
    None,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub public_url: Option<String>,
}

/// One watched URL and its rules.
#[derive(Debug, Clone)]
pub struct WatchSpec {
    pub name: String,
    pub url: url::Url,
    pub kind: WatchKind,
    pub follow: bool,
    pub interval: Duration,
    pub tags: Vec<String>,
    pub rules: Arc<crate::extract::Rules>,
    pub terms: Vec<String>,
    pub retention: Retention,
    pub paused: bool,
    /// A listing's item rules (`None` for a page).
    pub listing: Option<Arc<crate::extract::listing::ListingRules>>,
    /// For a watch created by following a listing: when it was created.
    /// Such a watch is checked often while young (see [`FollowConfig`]).
    pub born: Option<crate::model::Millis>,
}

impl WatchSpec {
    /// The interval at `now`: fixed, or by age for a followed watch.
    pub fn interval_at(&self, now: crate::model::Millis, follow: &FollowConfig) -> Duration {
        let Some(born) = self.born else {
            return self.interval;
        };
        let age = Duration::from_millis(u64::try_from(now.saturating_sub(born)).unwrap_or(0));
        if age < Duration::from_secs(24 * 3600) {
            follow.first_day
        } else if age < Duration::from_secs(7 * 24 * 3600) {
            follow.first_week
        } else {
            follow.after
        }
    }

    /// The tags of pages followed from this listing: its own and its name.
    pub fn tags_with_self(&self) -> Vec<String> {
        let mut tags = self.tags.clone();
        if !tags.contains(&self.name) {
            tags.push(self.name.clone());
        }
        tags
    }

    /// The page watch for an item found on this listing.
    pub fn followed(&self, name: String, url: url::Url, born: crate::model::Millis) -> WatchSpec {
        WatchSpec {
            name,
            url,
            kind: WatchKind::Page,
            follow: false,
            interval: self.interval,
            tags: self.tags_with_self(),
            rules: Arc::new(crate::extract::Rules::new(None, &[], &[]).unwrap_or_default()),
            terms: self.terms.clone(),
            retention: self.retention,
            paused: false,
            listing: None,
            born: Some(born),
        }
    }
}

/// `[follow]`: how often pages found on listings (`follow = true`) are
/// checked as they age, and how many are followed at most.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowConfig {
    /// Interval during a followed page's first day.
    pub first_day: Duration,
    /// Interval from the second day to the end of the first week.
    pub first_week: Duration,
    /// Interval after the first week.
    pub after: Duration,
    /// Most followed watches per listing; items beyond are not followed.
    pub max_per_listing: usize,
}

impl Default for FollowConfig {
    fn default() -> Self {
        FollowConfig {
            first_day: defaults::FOLLOW_FIRST_DAY,
            first_week: defaults::FOLLOW_FIRST_WEEK,
            after: defaults::FOLLOW_AFTER,
            max_per_listing: defaults::FOLLOW_MAX,
        }
    }
}

/// How much history of a watch is kept. Both limits apply when both are set;
/// the newest version is never removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub keep_versions: Option<u32>,
    pub keep_for: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct ChannelSpec {
    pub name: String,
    pub target: ChannelTarget,
}

#[derive(Debug, Clone)]
pub enum ChannelTarget {
    Email {
        to: Vec<String>,
    },
    Webhook {
        url: url::Url,
        secret: Option<Secret>,
        format: WebhookFormat,
        headers: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    Standard,
    Slack,
    Discord,
    Ntfy,
}

#[derive(Debug, Clone)]
pub struct SubscriptionSpec {
    pub channel: String,
    pub watches: WatchSelector,
    pub kinds: Vec<EventKind>,
    pub digest: Digest,
    /// Also alert *boring* edits (only punctuation, case or dates changed).
    pub boring: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchSelector {
    All,
    Tag(String),
    Names(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Off,
    Hourly,
    Daily,
}

/// A value that must never be printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    /// The secret itself. Call only where it is handed to a protocol.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line and column, when the problem has a place.
    pub location: Option<(usize, usize)>,
    pub message: String,
    pub hint: Option<String>,
}

/// Every problem found in a config file, ready to print.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub file: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match d.location {
                Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file, d.message)?,
                None => write!(f, "{}: {}", self.file, d.message)?,
            }
            if let Some(h) = &d.hint {
                write!(f, "\n    hint: {h}")?;
            }
        }
        if self.diagnostics.len() > 1 {
            write!(f, "\n{} problems in {}", self.diagnostics.len(), self.file)?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = Config::read(path)?;
        let mut cfg = validate_source(&text, &path.display().to_string(), path.parent())?;
        cfg.source = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// Validates config text followed by the objects made through the API
    /// (`[[watch]]`, `[[channel]]` and `[[subscription]]` tables kept in
    /// the database), so both obey the same rules and defaults. A problem
    /// inside an API object is reported by its kind and name, and the line
    /// within it.
    pub fn compose(
        text: &str,
        file: &str,
        base_dir: Option<&Path>,
        objects: &[crate::store::ApiObject],
    ) -> Result<Config, ConfigError> {
        if objects.is_empty() {
            return validate_source(text, file, base_dir);
        }
        let mut all = String::with_capacity(text.len() + objects.len() * 256);
        all.push_str(text);
        if !all.ends_with('\n') {
            all.push('\n');
        }
        // (first line of the object's body, its last line, the object);
        // lines are counted as they are appended, never by rescanning.
        let mut lines = memchr::memchr_iter(b'\n', all.as_bytes()).count();
        let mut places = Vec::with_capacity(objects.len());
        for obj in objects {
            all.push_str("\n[[");
            all.push_str(obj.kind.as_str());
            all.push_str("]]\n");
            lines += 2;
            let first = lines + 1;
            all.push_str(&obj.body);
            lines += memchr::memchr_iter(b'\n', obj.body.as_bytes()).count();
            if !all.ends_with('\n') {
                all.push('\n');
                lines += 1;
            }
            places.push((first, lines, obj));
        }
        validate_source(&all, file, base_dir).map_err(|mut e| {
            for d in &mut e.diagnostics {
                let Some((line, col)) = d.location else {
                    continue;
                };
                if let Some((first, _, obj)) = places
                    .iter()
                    .find(|(first, last, _)| line + 1 >= *first && line <= *last)
                {
                    d.message = format!(
                        "{} `{}` (made through the API), line {}, column {col}: {}",
                        obj.kind.as_str(),
                        obj.name,
                        (line + 1).saturating_sub(*first).max(1),
                        d.message
                    );
                    d.location = None;
                }
            }
            e
        })
    }

    /// The text of a config file, or an error that says which file.
    pub fn read(path: &Path) -> Result<String, ConfigError> {
        std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            diagnostics: vec![Diagnostic {
                location: None,
                message: format!("cannot read the config file: {e}"),
                hint: Some(
                    "check the path given to --config; `config.example.toml` is a starting point"
                        .into(),
                ),
            }],
        })
    }

    /// A config with every default and no watches: what `palimpsest check` uses.
    pub fn defaults_only() -> Config {
        // An empty document always validates.
        match validate_source("", "<defaults>", None) {
            Ok(c) => c,
            Err(e) => unreachable!("the empty config is valid: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followed_pages_slow_down_with_age() {
        let cfg = validate_source(
            "[[watch]]\nname = \"i\"\nurl = \"https://example.org/\"\nkind = \"listing\"\nfollow = true\ninterval = \"30m\"\n",
            "t.toml",
            None,
        )
        .expect("valid");
        let listing = &cfg.watches[0];
        assert_eq!(
            listing.interval_at(0, &cfg.follow),
            Duration::from_secs(1800)
        );
        let url = url::Url::parse("https://example.org/a/1.html").expect("url");
        let page = listing.followed("i/a/1.html".into(), url, 0);
        assert_eq!(page.tags, ["i"]);
        let hour = 3_600_000;
        assert_eq!(page.interval_at(hour, &cfg.follow), cfg.follow.first_day);
        assert_eq!(
            page.interval_at(30 * hour, &cfg.follow),
            cfg.follow.first_week
        );
        assert_eq!(
            page.interval_at(8 * 24 * hour, &cfg.follow),
            cfg.follow.after
        );
    }
}

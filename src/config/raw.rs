//! The TOML model exactly as a user writes it.
//!
//! Every field that validation may complain about is wrapped in [`Spanned`]
//! so that an error can point at `file:line:column`. Nothing here has
//! defaults applied or values checked: that is [`super::validate`]'s job,
//! which turns a [`RawConfig`] into a [`super::Config`] and collects every
//! problem instead of stopping at the first.

use serde::Deserialize;
use serde_spanned::Spanned;

/// A spanned string, the most common leaf.
pub type S = Spanned<String>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub storage: Option<Spanned<RawStorage>>,
    #[serde(default)]
    pub fetch: Option<RawFetch>,
    #[serde(default)]
    pub schedule: Option<RawSchedule>,
    #[serde(default)]
    pub defaults: Option<RawWatchDefaults>,
    #[serde(default)]
    pub detect: Option<RawDetect>,
    #[serde(default)]
    pub follow: Option<RawFollow>,
    /// `[tags.NAME]`: settings for every watch with that tag.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, Spanned<RawTag>>,
    #[serde(default)]
    pub smtp: Option<Spanned<RawSmtp>>,
    #[serde(default)]
    pub server: Option<RawServer>,
    #[serde(default)]
    pub notify: Option<RawNotify>,
    #[serde(default)]
    pub watch: Vec<Spanned<RawWatch>>,
    #[serde(default)]
    pub channel: Vec<Spanned<RawChannel>>,
    #[serde(default)]
    pub subscription: Vec<Spanned<RawSubscription>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub path: Option<S>,
    pub url: Option<S>,
    pub keep_checks: Option<S>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFetch {
    pub user_agent: Option<S>,
    pub timeout: Option<S>,
    pub connect_timeout: Option<S>,
    pub read_timeout: Option<S>,
    pub max_body: Option<S>,
    pub max_redirects: Option<Spanned<i64>>,
    pub concurrency: Option<Spanned<i64>>,
    pub per_host: Option<Spanned<i64>>,
    pub per_host_delay: Option<S>,
    pub allow_private_networks: Option<bool>,
    pub allow_hosts: Option<Vec<S>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub startup_spread: Option<S>,
    pub max_backoff: Option<S>,
    pub shutdown_grace: Option<S>,
}

/// `[detect]`: the rules that turn checks into events.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDetect {
    pub confirm_checks: Option<Spanned<i64>>,
    pub confirm_spacing: Option<S>,
    pub unreachable_after: Option<S>,
    pub unreachable_checks: Option<Spanned<i64>>,
    pub flipflop_window: Option<S>,
    pub soft404_probe: Option<bool>,
    pub incident_threshold: Option<Spanned<i64>>,
    pub incident_window: Option<S>,
}

/// `[tags.NAME]`: what every watch with the tag shares.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTag {
    /// Terms watched on every page with the tag, added to the page's own.
    #[serde(default)]
    pub terms: Vec<S>,
}

/// `[follow]`: intervals of followed pages by age.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFollow {
    pub first_day: Option<S>,
    pub first_week: Option<S>,
    pub after: Option<S>,
    pub max_per_listing: Option<Spanned<i64>>,
}

/// Defaults for every `[[watch]]` that does not set the key itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWatchDefaults {
    pub interval: Option<S>,
    pub keep_versions: Option<Spanned<i64>>,
    pub keep_for: Option<S>,
    pub terms: Option<Vec<S>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub host: Option<S>,
    pub port: Option<Spanned<i64>>,
    pub tls: Option<S>,
    pub user: Option<S>,
    pub password: Option<S>,
    pub from: Option<S>,
}

/// `[notify]`: how the delivery worker sends alerts.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub max_age: Option<S>,
    pub lease: Option<S>,
    pub concurrency: Option<Spanned<i64>>,
    pub timeout: Option<S>,
    pub retry_initial: Option<S>,
    pub retry_max: Option<S>,
    pub once_wait: Option<S>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<S>,
    pub public_url: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWatch {
    pub name: Option<S>,
    pub url: Option<S>,
    pub kind: Option<S>,
    pub follow: Option<bool>,
    /// Listings: the CSS selector of the items.
    pub items: Option<S>,
    /// Listings: item URLs must match this regex.
    pub item_url: Option<S>,
    pub interval: Option<S>,
    #[serde(default)]
    pub tags: Vec<S>,
    pub select: Option<S>,
    #[serde(default)]
    pub exclude: Vec<S>,
    #[serde(default)]
    pub ignore: Vec<S>,
    pub terms: Option<Vec<S>>,
    pub keep_versions: Option<Spanned<i64>>,
    pub keep_for: Option<S>,
    pub paused: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannel {
    pub name: Option<S>,
    #[serde(rename = "type")]
    pub kind: Option<S>,
    #[serde(default)]
    pub to: Vec<S>,
    pub url: Option<S>,
    pub secret: Option<S>,
    pub format: Option<S>,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSubscription {
    pub channel: Option<S>,
    pub watches: Option<Spanned<RawWatchSelector>>,
    pub kinds: Option<Vec<S>>,
    pub digest: Option<S>,
    pub boring: Option<bool>,
}

/// `watches = "*"`, `watches = "tag:NAME"` or `watches = ["a", "b"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawWatchSelector {
    One(String),
    Many(Vec<String>),
}

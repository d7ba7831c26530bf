//! Turns a [`RawConfig`] into a [`Config`]: defaults, checks, and one
//! [`Diagnostic`] per problem, all of them, each at its place in the file.

use super::raw::{RawConfig, RawWatchSelector, S};
use super::units::{parse_duration, parse_size};
use super::*;
use serde_spanned::Spanned;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// Parses and validates config text. `file` names it in errors; relative
/// storage paths are resolved against `base_dir`.
pub fn validate_source(
    text: &str,
    file: &str,
    base_dir: Option<&Path>,
) -> Result<Config, ConfigError> {
    let mut v = Validator {
        src: text,
        line_starts: std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect(),
        rules_cache: HashMap::new(),
        diags: Vec::new(),
        shift: 0,
    };
    let (raw, groups) = match parse_raw(text) {
        Ok(r) => r,
        Err(e) => {
            let span = e.span();
            v.push(
                span,
                e.message().trim().to_string(),
                parse_hint(e.message()),
            );
            return Err(v.finish(file));
        }
    };
    let cfg = v.config(raw, groups, base_dir);
    if v.diags.is_empty() {
        Ok(cfg)
    } else {
        Err(v.finish(file))
    }
}

/// Above twice this size a config is parsed in groups of `[[watch]]`
/// tables of about this size.
const GROUP_BYTES: usize = 1 << 18;

/// Up to this size the watches parsed with their group are kept for
/// validation (≈ 20,000 watches, a few MB of raw tables); above it they
/// are dropped and each group is parsed again when its watches are
/// validated, so that only one group's raw tables exist at a time.
const KEEP_PARSED_BYTES: usize = 2 << 20;

/// A group of a big file: its byte range and, when kept, its parsed
/// `[[watch]]` tables with the offset to add to their spans.
struct Group {
    range: Range<usize>,
    parsed: Option<(Vec<Spanned<raw::RawWatch>>, usize)>,
}

/// Parses the TOML. The toml crate holds every token and parse event of a
/// document at once (about 1.3 KB per watch), so a list of 100,000 watches
/// is parsed in groups of about a quarter of a megabyte instead. A group
/// that holds only `[[watch]]` tables is parsed on its own and its spans
/// are shifted by its offset when reported (`Validator::shift`); any other
/// group is parsed at its true offsets (the text before it blanked to
/// spaces), so every span, and every error's line and column, stays true.
/// Anything unusual (a group that does not parse, a table defined in two
/// groups) falls back to parsing the whole document, whose answer is the
/// authoritative one.
/// Returns the config and, for a big file, its groups, whose watches are
/// validated group by group (`raw.watch` is then empty).
fn parse_raw(text: &str) -> Result<(RawConfig, Vec<Group>), toml::de::Error> {
    let whole = || toml::from_str::<RawConfig>(text).map(|r| (r, Vec::new()));
    if text.len() <= 2 * GROUP_BYTES {
        return whole();
    }
    let cuts = watch_headers(text);
    let mut bounds = vec![0];
    for cut in cuts {
        if cut - bounds.last().copied().unwrap_or(0) >= GROUP_BYTES {
            bounds.push(cut);
        }
    }
    bounds.push(text.len());
    let keep = text.len() <= KEEP_PARSED_BYTES;
    let mut merged = RawConfig::default();
    let mut buf = String::new();
    let mut groups = Vec::with_capacity(bounds.len());
    for pair in bounds.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        let Some(part_text) = text.get(start..end) else {
            return whole();
        };
        let Ok((mut part, shift)) = parse_group(part_text, start, &mut buf) else {
            return whole();
        };
        let watches = std::mem::take(&mut part.watch);
        groups.push(Group {
            range: start..end,
            parsed: keep.then_some((watches, shift)),
        });
        if !merge(&mut merged, part) {
            return whole();
        }
    }
    Ok((merged, groups))
}

/// Parses the group of `text` that starts at byte `start` of the file.
/// Every group but the first starts at a `[[watch]]` header; one that holds
/// nothing else is parsed on its own, and the offset to add to its spans is
/// returned with it. Any other group is parsed at its true offsets (`buf`
/// holds the text with the part before it blanked), with offset 0.
fn parse_group(
    text: &str,
    start: usize,
    buf: &mut String,
) -> Result<(RawConfig, usize), toml::de::Error> {
    let alone = (start > 0)
        .then(|| toml::from_str::<RawConfig>(text).ok())
        .flatten()
        .filter(only_watches);
    if let Some(part) = alone {
        return Ok((part, start));
    }
    buf.clear();
    buf.extend(std::iter::repeat_n(' ', start));
    buf.push_str(text);
    toml::from_str::<RawConfig>(buf).map(|part| (part, 0))
}

/// True when a parsed group holds `[[watch]]` tables and nothing else.
fn only_watches(part: &RawConfig) -> bool {
    // Every field named (no `..`): a new section must be added here.
    let RawConfig {
        storage,
        fetch,
        schedule,
        defaults,
        detect,
        follow,
        tags,
        smtp,
        server,
        notify,
        watch: _,
        channel,
        subscription,
    } = part;
    storage.is_none()
        && fetch.is_none()
        && schedule.is_none()
        && defaults.is_none()
        && detect.is_none()
        && follow.is_none()
        && tags.is_empty()
        && smtp.is_none()
        && server.is_none()
        && notify.is_none()
        && channel.is_empty()
        && subscription.is_empty()
}

/// Folds one group into the whole; false when a table is defined twice.
fn merge(into: &mut RawConfig, part: RawConfig) -> bool {
    fn one<T>(a: &mut Option<T>, b: Option<T>) -> bool {
        match (a.is_some(), b) {
            (true, Some(_)) => false,
            (false, Some(v)) => {
                *a = Some(v);
                true
            }
            (_, None) => true,
        }
    }
    let ok = one(&mut into.storage, part.storage)
        && one(&mut into.fetch, part.fetch)
        && one(&mut into.schedule, part.schedule)
        && one(&mut into.defaults, part.defaults)
        && one(&mut into.detect, part.detect)
        && one(&mut into.follow, part.follow)
        && {
            let clash = part.tags.keys().any(|k| into.tags.contains_key(k));
            into.tags.extend(part.tags);
            !clash
        }
        && one(&mut into.smtp, part.smtp)
        && one(&mut into.server, part.server)
        && one(&mut into.notify, part.notify);
    into.watch.extend(part.watch);
    into.channel.extend(part.channel);
    into.subscription.extend(part.subscription);
    ok
}

/// Byte offsets of the lines that open a `[[watch]]` table at the top
/// level: not inside a string, a multi-line string or an array.
fn watch_headers(text: &str) -> Vec<usize> {
    #[derive(PartialEq)]
    enum S {
        Normal,
        Basic,
        Literal,
        MlBasic,
        MlLiteral,
        Comment,
    }
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut state = S::Normal;
    let mut depth = 0i32;
    let mut line_start = true;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if line_start && state == S::Normal && depth == 0 {
            let rest = &b[i..];
            let indent = rest
                .iter()
                .take_while(|c| **c == b' ' || **c == b'\t')
                .count();
            if rest[indent..].starts_with(b"[[watch]]") {
                out.push(i);
            }
        }
        line_start = c == b'\n';
        match state {
            S::Normal => match c {
                b'#' => state = S::Comment,
                b'"' if b[i..].starts_with(b"\"\"\"") => {
                    state = S::MlBasic;
                    i += 2;
                }
                b'\'' if b[i..].starts_with(b"'''") => {
                    state = S::MlLiteral;
                    i += 2;
                }
                b'"' => state = S::Basic,
                b'\'' => state = S::Literal,
                b'[' => depth += 1,
                b']' => depth -= 1,
                _ => {}
            },
            S::Comment if c == b'\n' => state = S::Normal,
            S::Basic if c == b'\\' => i += 1,
            S::Basic if c == b'"' || c == b'\n' => state = S::Normal,
            S::Literal if c == b'\'' || c == b'\n' => state = S::Normal,
            S::MlBasic if c == b'\\' => i += 1,
            S::MlBasic if b[i..].starts_with(b"\"\"\"") => {
                state = S::Normal;
                i += 2;
            }
            S::MlLiteral if b[i..].starts_with(b"'''") => {
                state = S::Normal;
                i += 2;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn parse_hint(message: &str) -> Option<String> {
    if message.contains("unknown field") {
        Some("check the spelling; every key is listed in config.example.toml".into())
    } else if message.contains("missing field") {
        Some("add the key; config.example.toml shows its form".into())
    } else if message.contains("invalid type") {
        Some("strings need quotes (\"15m\"), lists need brackets ([\"a\", \"b\"])".into())
    } else {
        None
    }
}

/// `[defaults]` for watches, resolved once.
struct WatchDefaults {
    interval: Duration,
    terms: Vec<String>,
    /// `[tags.NAME] terms`, by tag.
    tag_terms: HashMap<String, Vec<String>>,
    keep: Option<i64>,
    keep_for: Option<S>,
}

type RulesCache = HashMap<(Option<String>, Vec<String>, Vec<String>), Arc<crate::extract::Rules>>;

struct Validator<'a> {
    src: &'a str,
    /// Byte offset of every line's start, for line:column in O(log n).
    line_starts: Vec<usize>,
    rules_cache: RulesCache,
    diags: Vec<Diagnostic>,
    /// Added to every span: the offset of the group being validated, whose
    /// text was parsed on its own (see [`parse_raw`]).
    shift: usize,
}

impl Validator<'_> {
    fn location(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let line = self.line_starts.partition_point(|s| *s <= offset).max(1);
        let line_start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let col = self
            .src
            .get(line_start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        (line, col)
    }

    fn push(&mut self, span: Option<Range<usize>>, message: String, hint: Option<String>) {
        let location = span.map(|s| self.location(s.start + self.shift));
        self.diags.push(Diagnostic {
            location,
            message,
            hint,
        });
    }

    fn err(&mut self, span: Range<usize>, message: impl Into<String>, hint: impl Into<String>) {
        let hint = hint.into();
        self.push(
            Some(span),
            message.into(),
            (!hint.is_empty()).then_some(hint),
        );
    }

    fn finish(mut self, file: &str) -> ConfigError {
        self.diags.sort_by_key(|d| d.location);
        ConfigError {
            file: file.to_string(),
            diagnostics: self.diags,
        }
    }

    /// A string with `${VAR}` expanded; on error records it and returns None.
    fn env_str(&mut self, s: &S) -> Option<String> {
        match expand_env(s.get_ref()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.err(
                    s.span(),
                    e,
                    "export the variable before starting palimpsest, or write `$${` for a literal `${`",
                );
                None
            }
        }
    }

    fn duration(&mut self, s: &Option<S>, default: Duration, what: &str) -> Duration {
        let Some(s) = s else { return default };
        match parse_duration(s.get_ref()) {
            Ok(d) if d.is_zero() && what != "per_host_delay" => {
                self.err(s.span(), format!("`{what}` must be longer than zero"), "");
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.err(
                    s.span(),
                    format!("`{what}`: {e}"),
                    "write a duration like \"30s\", \"15m\", \"6h\" or \"2days\"",
                );
                default
            }
        }
    }

    fn count(&mut self, n: &Option<Spanned<i64>>, default: usize, what: &str, max: i64) -> usize {
        let Some(n) = n else { return default };
        let value = *n.get_ref();
        if value < 1 || value > max {
            self.err(
                n.span(),
                format!("`{what}` must be between 1 and {max}, not {value}"),
                "",
            );
            return default;
        }
        value as usize
    }

    fn config(&mut self, raw: RawConfig, groups: Vec<Group>, base_dir: Option<&Path>) -> Config {
        let storage = self.storage(&raw, base_dir);
        let keep_checks = match raw
            .storage
            .as_ref()
            .and_then(|s| s.get_ref().keep_checks.as_ref())
        {
            Some(k) if k.get_ref().trim() == "forever" => None,
            Some(k) => Some(self.duration(&Some(k.clone()), Duration::from_secs(1), "keep_checks")),
            None => None,
        };
        let fetch = self.fetch(&raw);
        let schedule = {
            let empty = Default::default();
            let s = raw.schedule.as_ref().unwrap_or(&empty);
            ScheduleConfig {
                startup_spread: self.duration(
                    &s.startup_spread,
                    defaults::STARTUP_SPREAD,
                    "startup_spread",
                ),
                max_backoff: self.duration(&s.max_backoff, defaults::MAX_BACKOFF, "max_backoff"),
                shutdown_grace: self.duration(
                    &s.shutdown_grace,
                    defaults::SHUTDOWN_GRACE,
                    "shutdown_grace",
                ),
            }
        };
        let detect = self.detect(&raw);
        let follow = {
            let empty = Default::default();
            let f = raw.follow.as_ref().unwrap_or(&empty);
            FollowConfig {
                first_day: self.duration(&f.first_day, defaults::FOLLOW_FIRST_DAY, "first_day"),
                first_week: self.duration(&f.first_week, defaults::FOLLOW_FIRST_WEEK, "first_week"),
                after: self.duration(&f.after, defaults::FOLLOW_AFTER, "after"),
                max_per_listing: self.count(
                    &f.max_per_listing,
                    defaults::FOLLOW_MAX,
                    "max_per_listing",
                    1_000_000,
                ),
            }
        };
        let smtp = raw.smtp.as_ref().and_then(|s| self.smtp(s));
        let server = self.server(&raw);
        let notify = self.notify(&raw);
        let watches = self.watches(&raw, &groups);
        let channels = self.channels(&raw, smtp.is_some());
        let subscriptions = self.subscriptions(&raw, &watches, &channels);
        Config {
            source: None,
            storage,
            keep_checks,
            fetch,
            schedule,
            detect,
            follow,
            smtp,
            server,
            notify,
            watches,
            channels,
            subscriptions,
        }
    }

    fn detect(&mut self, raw: &RawConfig) -> DetectConfig {
        let empty = Default::default();
        let d = raw.detect.as_ref().unwrap_or(&empty);
        DetectConfig {
            confirm_checks: self.count(
                &d.confirm_checks,
                defaults::CONFIRM_CHECKS,
                "confirm_checks",
                100,
            ) as u32,
            confirm_spacing: self.duration(
                &d.confirm_spacing,
                defaults::CONFIRM_SPACING,
                "confirm_spacing",
            ),
            unreachable_after: self.duration(
                &d.unreachable_after,
                defaults::UNREACHABLE_AFTER,
                "unreachable_after",
            ),
            unreachable_checks: self.count(
                &d.unreachable_checks,
                defaults::UNREACHABLE_CHECKS,
                "unreachable_checks",
                10_000,
            ) as u32,
            flipflop_window: self.duration(
                &d.flipflop_window,
                defaults::FLIPFLOP_WINDOW,
                "flipflop_window",
            ),
            soft404_probe: d.soft404_probe.unwrap_or(true),
            incident_threshold: self.count(
                &d.incident_threshold,
                defaults::INCIDENT_THRESHOLD,
                "incident_threshold",
                1_000_000,
            ) as u32,
            incident_window: self.duration(
                &d.incident_window,
                defaults::INCIDENT_WINDOW,
                "incident_window",
            ),
        }
    }

    fn storage(&mut self, raw: &RawConfig, base_dir: Option<&Path>) -> StorageConfig {
        let resolve = |p: String| -> PathBuf {
            let p = PathBuf::from(p);
            match base_dir {
                Some(dir) if p.is_relative() && !dir.as_os_str().is_empty() => dir.join(p),
                _ => p,
            }
        };
        let Some(st) = &raw.storage else {
            return StorageConfig::Sqlite {
                path: resolve(defaults::STORAGE_PATH.into()),
            };
        };
        let inner = st.get_ref();
        match (&inner.path, &inner.url) {
            (Some(_), Some(url)) => {
                self.err(
                    url.span(),
                    "[storage] has both `path` and `url`",
                    "keep `path` for SQLite or `url` for PostgreSQL, not both",
                );
                StorageConfig::Sqlite {
                    path: resolve(defaults::STORAGE_PATH.into()),
                }
            }
            (Some(path), None) => {
                let p = self.env_str(path).unwrap_or_default();
                if p.trim().is_empty() {
                    self.err(
                        path.span(),
                        "[storage] `path` is empty",
                        "name a file, e.g. \"palimpsest.db\"",
                    );
                }
                StorageConfig::Sqlite { path: resolve(p) }
            }
            (None, Some(url)) => {
                let u = self.env_str(url).unwrap_or_default();
                if let Some(p) = u.strip_prefix("sqlite://") {
                    StorageConfig::Sqlite {
                        path: resolve(p.to_string()),
                    }
                } else if u.starts_with("postgres://") || u.starts_with("postgresql://") {
                    StorageConfig::Postgres {
                        url: Secret::new(u),
                    }
                } else {
                    self.err(
                        url.span(),
                        "[storage] `url` must start with sqlite:// or postgres://",
                        "for a local database write `path = \"palimpsest.db\"` instead",
                    );
                    StorageConfig::Sqlite {
                        path: resolve(defaults::STORAGE_PATH.into()),
                    }
                }
            }
            (None, None) => StorageConfig::Sqlite {
                path: resolve(defaults::STORAGE_PATH.into()),
            },
        }
    }

    fn fetch(&mut self, raw: &RawConfig) -> FetchConfig {
        let empty = Default::default();
        let f = raw.fetch.as_ref().unwrap_or(&empty);
        let user_agent = match &f.user_agent {
            Some(ua) => {
                let v = self.env_str(ua).unwrap_or_default();
                if v.trim().is_empty() || v.contains(['\r', '\n']) {
                    self.err(ua.span(), "`user_agent` must be one non-empty line", "");
                    defaults::user_agent()
                } else {
                    v
                }
            }
            None => defaults::user_agent(),
        };
        let max_body = match &f.max_body {
            Some(s) => match parse_size(s.get_ref()) {
                Ok(n) if n >= 1024 => n,
                Ok(_) => {
                    self.err(s.span(), "`max_body` must be at least 1KiB", "");
                    defaults::MAX_BODY
                }
                Err(e) => {
                    self.err(s.span(), format!("`max_body`: {e}"), "e.g. \"10MiB\"");
                    defaults::MAX_BODY
                }
            },
            None => defaults::MAX_BODY,
        };
        FetchConfig {
            user_agent,
            timeout: self.duration(&f.timeout, defaults::TIMEOUT, "timeout"),
            connect_timeout: self.duration(
                &f.connect_timeout,
                defaults::CONNECT_TIMEOUT,
                "connect_timeout",
            ),
            read_timeout: self.duration(&f.read_timeout, defaults::READ_TIMEOUT, "read_timeout"),
            max_body,
            max_redirects: match &f.max_redirects {
                Some(n) if *n.get_ref() == 0 => 0,
                other => self.count(other, defaults::MAX_REDIRECTS, "max_redirects", 50),
            },
            concurrency: self.count(&f.concurrency, defaults::CONCURRENCY, "concurrency", 4096),
            per_host: self.count(&f.per_host, defaults::PER_HOST, "per_host", 1024),
            per_host_delay: self.duration(
                &f.per_host_delay,
                defaults::PER_HOST_DELAY,
                "per_host_delay",
            ),
            allow_private_networks: f.allow_private_networks.unwrap_or(false),
            allow_hosts: f
                .allow_hosts
                .iter()
                .flatten()
                .filter_map(|h| {
                    let host = h.get_ref().trim().trim_matches(['[', ']']).to_ascii_lowercase();
                    if host.is_empty() || host.contains(['/', ':', ' ']) && host.parse::<std::net::IpAddr>().is_err() {
                        self.err(h.span(), format!("`allow_hosts` entry `{}` is not a host name or IP address", h.get_ref()), "write just the host, e.g. \"intranet.example\" or \"10.0.0.5\", without scheme or port");
                        None
                    } else {
                        Some(host)
                    }
                })
                .collect(),
        }
    }

    fn smtp(&mut self, s: &Spanned<raw::RawSmtp>) -> Option<SmtpConfig> {
        let r = s.get_ref();
        let Some(host_s) = &r.host else {
            self.err(
                s.span(),
                "[smtp] needs `host`",
                "e.g. host = \"smtp.example.org\"",
            );
            return None;
        };
        let host = self.env_str(host_s)?;
        let tls = match r.tls.as_ref().map(|t| (t.get_ref().as_str(), t.span())) {
            None | Some(("starttls", _)) => SmtpTls::Starttls,
            Some(("implicit", _)) => SmtpTls::Implicit,
            Some(("none", span)) => {
                if !is_loopback_host(&host) {
                    self.err(
                        span,
                        format!("`tls = \"none\"` is allowed only for a loopback host, not `{host}`"),
                        "use tls = \"starttls\" or \"implicit\" for a remote server: a password sent in clear text is a password given away",
                    );
                }
                SmtpTls::None
            }
            Some((other, span)) => {
                self.err(
                    span,
                    format!("[smtp] `tls` must be \"starttls\", \"implicit\" or \"none\", not \"{other}\""),
                    "",
                );
                SmtpTls::Starttls
            }
        };
        let default_port = match tls {
            SmtpTls::Implicit => 465,
            _ => defaults::SMTP_PORT,
        };
        let port = match &r.port {
            Some(p) if (1..=65535).contains(p.get_ref()) => *p.get_ref() as u16,
            Some(p) => {
                self.err(p.span(), "[smtp] `port` must be between 1 and 65535", "");
                default_port
            }
            None => default_port,
        };
        let from = match &r.from {
            Some(f) => {
                let v = self.env_str(f).unwrap_or_default();
                if !v.contains('@')
                    || v.contains(['\r', '\n'])
                    || v.parse::<lettre::message::Mailbox>().is_err()
                {
                    self.err(
                        f.span(),
                        format!("[smtp] `from` is not an email address: `{v}`"),
                        "e.g. from = \"palimpsest <alerts@example.org>\"",
                    );
                }
                v
            }
            None => {
                self.err(
                    s.span(),
                    "[smtp] needs `from`",
                    "e.g. from = \"palimpsest <alerts@example.org>\"",
                );
                String::new()
            }
        };
        let user = r.user.as_ref().and_then(|u| self.env_str(u));
        let password = r
            .password
            .as_ref()
            .and_then(|p| self.env_str(p))
            .filter(|p| !p.is_empty())
            .map(Secret::new);
        let user = user.filter(|u| !u.is_empty());
        Some(SmtpConfig {
            host,
            port,
            tls,
            user,
            password,
            from,
        })
    }

    fn notify(&mut self, raw: &RawConfig) -> NotifyConfig {
        let d = NotifyConfig::default();
        let Some(n) = &raw.notify else { return d };
        let c = NotifyConfig {
            max_age: self.duration(&n.max_age, d.max_age, "max_age"),
            lease: self.duration(&n.lease, d.lease, "lease"),
            concurrency: self.count(&n.concurrency, d.concurrency, "concurrency", 256),
            timeout: self.duration(&n.timeout, d.timeout, "timeout"),
            retry_initial: self.duration(&n.retry_initial, d.retry_initial, "retry_initial"),
            retry_max: self.duration(&n.retry_max, d.retry_max, "retry_max"),
            once_wait: match &n.once_wait {
                Some(w) if w.get_ref().trim() == "0s" => Duration::ZERO,
                other => self.duration(other, d.once_wait, "once_wait"),
            },
        };
        if c.lease <= c.timeout
            && let Some(l) = n.lease.as_ref().or(n.timeout.as_ref())
        {
            self.err(
                l.span(),
                format!(
                    "[notify] `lease` ({}) must be longer than `timeout` ({})",
                    humantime::format_duration(c.lease),
                    humantime::format_duration(c.timeout)
                ),
                "a worker holds a delivery for at most `timeout`; a shorter lease lets a second worker send it again while the first is still sending",
            );
        }
        if c.retry_initial > Duration::from_secs(60)
            && let Some(r) = &n.retry_initial
        {
            self.err(
                r.span(),
                "[notify] `retry_initial` must be at most 1 minute",
                "the first retry comes within a minute; later ones grow up to `retry_max`",
            );
        }
        if c.retry_max < c.retry_initial
            && let Some(r) = &n.retry_max
        {
            self.err(
                r.span(),
                "[notify] `retry_max` must not be shorter than `retry_initial`",
                "",
            );
        }
        c
    }

    fn server(&mut self, raw: &RawConfig) -> ServerConfig {
        let fallback: SocketAddr = match defaults::LISTEN.parse() {
            Ok(a) => a,
            Err(_) => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let Some(s) = &raw.server else {
            return ServerConfig {
                listen: fallback,
                public_url: None,
            };
        };
        let listen = match &s.listen {
            Some(l) => match l.get_ref().parse::<SocketAddr>() {
                Ok(a) => a,
                Err(_) => {
                    self.err(
                        l.span(),
                        format!(
                            "[server] `listen` is not an address:port: `{}`",
                            l.get_ref()
                        ),
                        "e.g. listen = \"127.0.0.1:8080\"",
                    );
                    fallback
                }
            },
            None => fallback,
        };
        let public_url = match &s.public_url {
            Some(u) => match url::Url::parse(u.get_ref()) {
                Ok(p) if matches!(p.scheme(), "http" | "https") => Some(p.to_string()),
                _ => {
                    self.err(u.span(), "[server] `public_url` must be an http(s) URL", "");
                    None
                }
            },
            None => None,
        };
        ServerConfig { listen, public_url }
    }

    fn watches(&mut self, raw: &RawConfig, groups: &[Group]) -> Vec<Arc<WatchSpec>> {
        let d = raw.defaults.as_ref();
        let default_interval = d.map_or(defaults::INTERVAL, |d| {
            self.duration(&d.interval, defaults::INTERVAL, "interval")
        });
        let default_terms: Vec<String> = d
            .and_then(|d| d.terms.as_ref())
            .map(|t| t.iter().map(|s| s.get_ref().clone()).collect())
            .unwrap_or_default();
        let default_keep = d
            .and_then(|d| d.keep_versions.as_ref())
            .map(|k| *k.get_ref());
        let default_keep_for = d.and_then(|d| d.keep_for.clone());

        let mut tag_terms = HashMap::new();
        for (tag, t) in &raw.tags {
            if !valid_name(tag) {
                self.err(
                    t.span(),
                    format!("tag `{tag}` is not usable"),
                    "use letters, digits, `.`, `_` or `-`",
                );
            }
            let terms: Vec<String> = t
                .get_ref()
                .terms
                .iter()
                .map(|s| s.get_ref().clone())
                .collect();
            tag_terms.insert(tag.clone(), terms);
        }
        let d = WatchDefaults {
            interval: default_interval,
            terms: default_terms,
            tag_terms,
            keep: default_keep,
            keep_for: default_keep_for,
        };
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::with_capacity(raw.watch.len().max(groups.len()));
        if groups.is_empty() {
            for (i, w) in raw.watch.iter().enumerate() {
                out.push(self.watch(i, w, &d, &mut names));
            }
        } else {
            // A big file: group by group, with the watches parsed with
            // the group, or (a very big file) parsed again now, so that
            // only one group's raw tables exist at a time.
            let mut buf = String::new();
            for g in groups {
                let again;
                let (watches, shift) = match &g.parsed {
                    Some((watches, shift)) => (watches, *shift),
                    None => {
                        let Some(part_text) = self.src.get(g.range.clone()) else {
                            continue;
                        };
                        match parse_group(part_text, g.range.start, &mut buf) {
                            Ok((part, shift)) => {
                                again = part.watch;
                                (&again, shift)
                            }
                            Err(e) => {
                                self.push(
                                    e.span(),
                                    e.message().trim().to_string(),
                                    parse_hint(e.message()),
                                );
                                continue;
                            }
                        }
                    }
                };
                self.shift = shift;
                for w in watches {
                    let i = out.len();
                    out.push(self.watch(i, w, &d, &mut names));
                }
                self.shift = 0;
            }
        }
        out
    }

    fn watch(
        &mut self,
        i: usize,
        w: &Spanned<raw::RawWatch>,
        d: &WatchDefaults,
        names: &mut HashMap<String, usize>,
    ) -> Arc<WatchSpec> {
        let (default_interval, default_keep, default_keep_for) =
            (d.interval, d.keep, d.keep_for.clone());
        let span = w.span();
        let w = w.get_ref();
        let name = match &w.name {
            Some(n) => {
                let name = n.get_ref().trim().to_string();
                if !valid_name(&name) {
                    self.err(
                        n.span(),
                        format!("watch name `{name}` is not usable"),
                        "use 1 to 100 letters, digits, `.`, `_` or `-`, not starting with a digit-only form (ids are numbers)",
                    );
                } else if let Some(first) = names.insert(name.clone(), i) {
                    self.err(
                        n.span(),
                        format!(
                            "watch name `{name}` is used twice (also by watch #{})",
                            first + 1
                        ),
                        "every watch needs its own name",
                    );
                }
                name
            }
            None => {
                self.err(
                    span.clone(),
                    format!("watch #{} has no `name`", i + 1),
                    "add name = \"...\"",
                );
                String::new()
            }
        };
        let url = match &w.url {
            Some(u) => self
                .env_str(u)
                .and_then(|text| match parse_watch_url(&text) {
                    Ok(url) => Some(url),
                    Err(e) => {
                        self.err(
                            u.span(),
                            e,
                            "write a full URL like \"https://example.org/news/1.html\"",
                        );
                        None
                    }
                }),
            None => {
                self.err(
                    span.clone(),
                    format!("watch `{name}` has no `url`"),
                    "add url = \"https://...\"",
                );
                None
            }
        };
        let kind = match &w.kind {
            Some(k) => WatchKind::parse(k.get_ref()).unwrap_or_else(|| {
                self.err(
                    k.span(),
                    format!(
                        "`kind` must be \"page\" or \"listing\", not \"{}\"",
                        k.get_ref()
                    ),
                    "",
                );
                WatchKind::Page
            }),
            None => WatchKind::Page,
        };
        let follow = w.follow.unwrap_or(false);
        if follow && kind != WatchKind::Listing {
            self.err(
                span.clone(),
                format!("watch `{name}` has `follow = true` but is not a listing"),
                "add kind = \"listing\", or remove follow",
            );
        }
        let interval = match &w.interval {
            Some(_) => self.duration(&w.interval, default_interval, "interval"),
            None => default_interval,
        };
        if interval < defaults::MIN_INTERVAL
            && let Some(s) = &w.interval
        {
            self.err(s.span(), "`interval` must be at least 1s", "");
        }
        let mut tags = Vec::new();
        for t in &w.tags {
            let tag = t.get_ref().trim();
            if !valid_name(tag) {
                self.err(
                    t.span(),
                    format!("tag `{tag}` is not usable"),
                    "use letters, digits, `.`, `_` or `-`",
                );
            } else if !tags.iter().any(|x: &String| x == tag) {
                tags.push(tag.to_string());
            }
        }
        let rules = self.rules(w);
        let listing = self.listing_rules(w, kind, &name);
        // The watch's own terms (else the global ones), plus its tags'.
        let mut terms: Vec<String> = match &w.terms {
            Some(t) => t.iter().map(|s| s.get_ref().clone()).collect(),
            None => d.terms.clone(),
        };
        for tag in &tags {
            for t in d.tag_terms.get(tag).into_iter().flatten() {
                if !terms.contains(t) {
                    terms.push(t.clone());
                }
            }
        }
        let keep_versions = match w
            .keep_versions
            .as_ref()
            .map(|k| (*k.get_ref(), Some(k.span())))
        {
            Some((n, _)) if n >= 1 && n <= u32::MAX as i64 => Some(n as u32),
            Some((_, span)) => {
                self.err(
                    span.unwrap_or(0..0),
                    "`keep_versions` must be at least 1",
                    "the newest version is always kept",
                );
                None
            }
            None => default_keep
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n >= 1),
        };
        let keep_for_src = w.keep_for.clone().or_else(|| default_keep_for.clone());
        let keep_for = keep_for_src
            .as_ref()
            .map(|_| self.duration(&keep_for_src, Duration::from_secs(1), "keep_for"));
        Arc::new(WatchSpec {
            name,
            url: url.unwrap_or_else(placeholder_url),
            kind,
            follow,
            interval,
            tags,
            rules,
            terms,
            retention: Retention {
                keep_versions,
                keep_for,
            },
            paused: w.paused.unwrap_or(false),
            listing,
            born: None,
        })
    }

    /// Compiles a watch's rules; identical rules are compiled once and
    /// shared (a hundred thousand watches without selectors share one).
    /// A listing's item rules; `items`/`item_url` on a page are an error.
    fn listing_rules(
        &mut self,
        w: &raw::RawWatch,
        kind: WatchKind,
        name: &str,
    ) -> Option<Arc<crate::extract::listing::ListingRules>> {
        use crate::extract::listing::{ListingError, ListingRules};
        if kind != WatchKind::Listing {
            for key in [&w.items, &w.item_url].into_iter().flatten() {
                self.err(
                    key.span(),
                    format!("watch `{name}` sets listing rules but is not a listing"),
                    "add kind = \"listing\", or remove `items` / `item_url`",
                );
            }
            return None;
        }
        let items = w.items.as_ref().map(|s| s.get_ref().as_str());
        let item_url = w.item_url.as_ref().map(|s| s.get_ref().as_str());
        match ListingRules::new(items, item_url) {
            Ok(r) => Some(Arc::new(r)),
            Err(e) => {
                let (span, hint) = match &e {
                    ListingError::Selector(..) => (
                        w.items.as_ref().map(|s| s.span()),
                        "e.g. items = \"ul.news > li\"",
                    ),
                    ListingError::Regex(..) => (
                        w.item_url.as_ref().map(|s| s.span()),
                        "e.g. item_url = \"/article/[0-9]+\"",
                    ),
                };
                self.err(span.unwrap_or(0..0), e.to_string(), hint);
                Some(Arc::new(ListingRules::default()))
            }
        }
    }

    fn rules(&mut self, w: &raw::RawWatch) -> Arc<crate::extract::Rules> {
        let key = (
            w.select.as_ref().map(|s| s.get_ref().clone()),
            w.exclude
                .iter()
                .map(|s| s.get_ref().clone())
                .collect::<Vec<_>>(),
            w.ignore
                .iter()
                .map(|s| s.get_ref().clone())
                .collect::<Vec<_>>(),
        );
        if let Some(r) = self.rules_cache.get(&key) {
            return r.clone();
        }
        let compiled = Arc::new(self.compile_rules(w));
        self.rules_cache.insert(key, compiled.clone());
        compiled
    }

    fn compile_rules(&mut self, w: &raw::RawWatch) -> crate::extract::Rules {
        use crate::extract::Rules;
        let mut ok = true;
        if let Some(sel) = &w.select
            && let Err(e) = Rules::check_selector(sel.get_ref())
        {
            self.err(
                sel.span(),
                format!("`select` is not a CSS selector: {e}"),
                "e.g. select = \"div.article\"",
            );
            ok = false;
        }
        for ex in &w.exclude {
            if let Err(e) = Rules::check_selector(ex.get_ref()) {
                self.err(
                    ex.span(),
                    format!("`exclude` entry is not a CSS selector: {e}"),
                    "e.g. exclude = [\".share\", \"#comments\"]",
                );
                ok = false;
            }
        }
        for ig in &w.ignore {
            if let Err(e) = regex::Regex::new(ig.get_ref()) {
                let first = e.to_string();
                let first = first.lines().last().unwrap_or("invalid").trim().to_string();
                self.err(
                    ig.span(),
                    format!("`ignore` entry is not a regular expression: {first}"),
                    "use single quotes for regexes so backslashes stay as written: '^Updated: .*$'",
                );
                ok = false;
            }
        }
        if !ok {
            return Rules::default();
        }
        let exclude: Vec<String> = w.exclude.iter().map(|s| s.get_ref().clone()).collect();
        let ignore: Vec<String> = w.ignore.iter().map(|s| s.get_ref().clone()).collect();
        Rules::new(
            w.select.as_ref().map(|s| s.get_ref().as_str()),
            &exclude,
            &ignore,
        )
        .unwrap_or_default()
    }

    fn channels(&mut self, raw: &RawConfig, have_smtp: bool) -> Vec<ChannelSpec> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for c in &raw.channel {
            let span = c.span();
            let c = c.get_ref();
            let name = match &c.name {
                Some(n) if valid_name(n.get_ref()) => {
                    if !seen.insert(n.get_ref().clone()) {
                        self.err(
                            n.span(),
                            format!("channel name `{}` is used twice", n.get_ref()),
                            "",
                        );
                    }
                    n.get_ref().clone()
                }
                Some(n) => {
                    self.err(
                        n.span(),
                        format!("channel name `{}` is not usable", n.get_ref()),
                        "use letters, digits, `.`, `_` or `-`",
                    );
                    continue;
                }
                None => {
                    self.err(span, "a [[channel]] has no `name`", "");
                    continue;
                }
            };
            let target = match c.kind.as_ref().map(|k| (k.get_ref().as_str(), k.span())) {
                Some(("email", kspan)) => {
                    if c.to.is_empty() {
                        self.err(
                            kspan.clone(),
                            format!("email channel `{name}` has no `to` addresses"),
                            "add to = [\"desk@example.org\"]",
                        );
                    }
                    if !have_smtp {
                        self.err(
                            kspan,
                            format!("email channel `{name}` needs an [smtp] section"),
                            "add [smtp] with host, port, tls and from",
                        );
                    }
                    let mut to = Vec::new();
                    for t in &c.to {
                        let v = self.env_str(t).unwrap_or_default();
                        if !v.contains('@')
                            || v.contains(['\r', '\n', ','])
                            || v.parse::<lettre::message::Mailbox>().is_err()
                        {
                            self.err(
                                t.span(),
                                format!("`{v}` is not one email address"),
                                "one address per list entry",
                            );
                        } else {
                            to.push(v);
                        }
                    }
                    ChannelTarget::Email { to }
                }
                Some(("webhook", kspan)) => {
                    let url = match &c.url {
                        Some(u) => self.env_str(u).and_then(|t| match url::Url::parse(&t) {
                            Ok(p) if matches!(p.scheme(), "http" | "https") => Some(p),
                            _ => {
                                self.err(
                                    u.span(),
                                    format!(
                                        "webhook channel `{name}`: `url` must be an http(s) URL"
                                    ),
                                    "",
                                );
                                None
                            }
                        }),
                        None => {
                            self.err(kspan, format!("webhook channel `{name}` has no `url`"), "");
                            None
                        }
                    };
                    let secret = c.secret.as_ref().and_then(|s| {
                        let v = self.env_str(s)?;
                        if let Some(b64) = v.strip_prefix("whsec_") {
                            if !looks_base64(b64) {
                                self.err(s.span(), "webhook `secret` starts with whsec_ but the rest is not base64", "generate one with: printf 'whsec_%s' \"$(head -c 32 /dev/urandom | base64)\"");
                            }
                        } else if v.len() < 16 {
                            self.err(s.span(), "webhook `secret` is too short", "use whsec_ followed by base64 of 32 random bytes");
                        }
                        Some(Secret::new(v))
                    });
                    let format = match c.format.as_ref().map(|f| (f.get_ref().as_str(), f.span())) {
                        None | Some(("standard", _)) => WebhookFormat::Standard,
                        Some(("slack", _)) => WebhookFormat::Slack,
                        Some(("discord", _)) => WebhookFormat::Discord,
                        Some(("ntfy", _)) => WebhookFormat::Ntfy,
                        Some((other, fspan)) => {
                            self.err(fspan, format!("webhook `format` must be \"standard\", \"slack\", \"discord\" or \"ntfy\", not \"{other}\""), "");
                            WebhookFormat::Standard
                        }
                    };
                    let mut headers = Vec::new();
                    for (k, v) in &c.headers {
                        if is_reserved_header(k) {
                            self.err(v.span(), format!("header `{k}` cannot be set on a webhook"), "Host, Content-Length, Content-Type, User-Agent, Transfer-Encoding, Connection, Proxy-* and the webhook-* signature headers are set by palimpsest or HTTP itself");
                            continue;
                        }
                        if let Some(val) = self.env_str(v) {
                            if val.contains(['\r', '\n'])
                                || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                            {
                                self.err(
                                    v.span(),
                                    format!("header `{k}` has an invalid name or value"),
                                    "",
                                );
                            } else {
                                headers.push((k.clone(), val));
                            }
                        }
                    }
                    match url {
                        Some(url) => ChannelTarget::Webhook {
                            url,
                            secret,
                            format,
                            headers,
                        },
                        None => continue,
                    }
                }
                Some((other, kspan)) => {
                    self.err(
                        kspan,
                        format!("channel `type` must be \"email\" or \"webhook\", not \"{other}\""),
                        "",
                    );
                    continue;
                }
                None => {
                    self.err(
                        span,
                        format!("channel `{name}` has no `type`"),
                        "type = \"email\" or type = \"webhook\"",
                    );
                    continue;
                }
            };
            out.push(ChannelSpec { name, target });
        }
        out
    }

    fn subscriptions(
        &mut self,
        raw: &RawConfig,
        watches: &[Arc<WatchSpec>],
        channels: &[ChannelSpec],
    ) -> Vec<SubscriptionSpec> {
        let mut out = Vec::new();
        for s in &raw.subscription {
            let span = s.span();
            let s = s.get_ref();
            let channel = match &s.channel {
                Some(c) => {
                    if !channels.iter().any(|ch| &ch.name == c.get_ref())
                        && !raw.channel.iter().any(|ch| {
                            ch.get_ref().name.as_ref().map(|n| n.get_ref()) == Some(c.get_ref())
                        })
                    {
                        self.err(
                            c.span(),
                            format!(
                                "subscription names channel `{}`, which is not defined",
                                c.get_ref()
                            ),
                            "define it in a [[channel]] with that name",
                        );
                    }
                    c.get_ref().clone()
                }
                None => {
                    self.err(span, "a [[subscription]] has no `channel`", "");
                    continue;
                }
            };
            let selector = match &s.watches {
                None => WatchSelector::All,
                Some(w) => match w.get_ref() {
                    RawWatchSelector::One(x) if x == "*" => WatchSelector::All,
                    RawWatchSelector::One(x) if x.starts_with("tag:") => {
                        WatchSelector::Tag(x["tag:".len()..].to_string())
                    }
                    RawWatchSelector::One(x) => self.names(vec![x.clone()], w.span(), watches),
                    RawWatchSelector::Many(xs) => self.names(xs.clone(), w.span(), watches),
                },
            };
            let kinds = match &s.kinds {
                None => defaults::subscription_kinds(),
                Some(ks) => {
                    let mut kinds = Vec::new();
                    for k in ks {
                        match EventKind::parse(k.get_ref()) {
                            Some(kind) => kinds.push(kind),
                            None => self.err(
                                k.span(),
                                format!("unknown event kind `{}`", k.get_ref()),
                                format!(
                                    "kinds are: {}",
                                    EventKind::ALL.map(|k| k.as_str()).join(", ")
                                ),
                            ),
                        }
                    }
                    kinds
                }
            };
            let digest = match s.digest.as_ref().map(|d| (d.get_ref().as_str(), d.span())) {
                None | Some(("off", _)) => Digest::Off,
                Some(("hourly", _)) => Digest::Hourly,
                Some(("daily", _)) => Digest::Daily,
                Some((other, dspan)) => {
                    self.err(
                        dspan,
                        format!(
                            "`digest` must be \"off\", \"hourly\" or \"daily\", not \"{other}\""
                        ),
                        "",
                    );
                    Digest::Off
                }
            };
            out.push(SubscriptionSpec {
                channel,
                watches: selector,
                kinds,
                digest,
                boring: s.boring.unwrap_or(false),
            });
        }
        out
    }

    fn names(
        &mut self,
        names: Vec<String>,
        span: Range<usize>,
        watches: &[Arc<WatchSpec>],
    ) -> WatchSelector {
        for n in &names {
            if !watches.iter().any(|w| &w.name == n) {
                self.err(
                    span.clone(),
                    format!("subscription names watch `{n}`, which is not defined"),
                    "use a watch's name, \"*\" for all, or \"tag:NAME\"",
                );
            }
        }
        WatchSelector::Names(names)
    }
}

/// Names of watches, tags and channels: short, printable, shell-friendly.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.chars().all(|c| c.is_ascii_digit())
}

/// Parses a URL that may be watched: absolute, http or https, with a host.
pub fn parse_watch_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{text}` uses the scheme `{}`; only http and https can be watched",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    Ok(url)
}

fn placeholder_url() -> url::Url {
    // Only used while collecting errors; the config is rejected anyway.
    url::Url::parse("http://invalid.invalid/").unwrap_or_else(|_| unreachable!())
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn looks_base64(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
}

fn is_reserved_header(name: &str) -> bool {
    crate::notify::webhook::is_denied_header(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match validate_source(text, "t.toml", None) {
            Ok(_) => vec![],
            Err(e) => e.to_string().lines().map(str::to_string).collect(),
        }
    }

    #[test]
    fn tag_terms_add_to_a_watch_s_own() {
        let c = validate_source(
            "[defaults]\nterms = [\"global\"]\n[tags.dprk]\nterms = [\"Kim\", \"own\"]\n\
             [[watch]]\nname = \"a\"\nurl = \"https://example.org/\"\ntags = [\"dprk\"]\nterms = [\"own\"]\n\
             [[watch]]\nname = \"b\"\nurl = \"https://example.org/b\"\n",
            "t.toml",
            None,
        )
        .expect("valid");
        assert_eq!(c.watches[0].terms, ["own", "Kim"]);
        assert_eq!(c.watches[1].terms, ["global"]);
        let e = errors("[tags.\"bad tag\"]\nterms = []\n");
        assert!(e[0].contains("not usable"), "{e:?}");
    }

    #[test]
    fn empty_is_valid() {
        let c = validate_source("", "t.toml", None).expect("empty config");
        assert!(c.watches.is_empty());
        assert_eq!(c.fetch.max_body, defaults::MAX_BODY);
    }

    #[test]
    fn unknown_key_has_line_and_column() {
        let e = errors("[fetch]\ntimeout = \"3s\"\nconcurency = 4\n");
        assert!(
            e[0].starts_with("t.toml:3:1: unknown field `concurency`"),
            "{e:?}"
        );
    }

    #[test]
    fn collects_every_error() {
        let text = r#"
[[watch]]
name = "a"
url = "ftp://example.org/"
interval = "soon"

[[watch]]
name = "a"
url = "https://example.org/"
select = "div[["
ignore = ['(unclosed']
"#;
        let e = errors(text);
        let joined = e.join("\n");
        assert!(
            joined.contains("t.toml:4:7: `ftp://example.org/` uses the scheme `ftp`"),
            "{joined}"
        );
        assert!(joined.contains("t.toml:5:12: `interval`"), "{joined}");
        assert!(
            joined.contains("t.toml:8:8: watch name `a` is used twice"),
            "{joined}"
        );
        assert!(
            joined.contains("t.toml:10:10: `select` is not a CSS selector"),
            "{joined}"
        );
        assert!(
            joined.contains("t.toml:11:11: `ignore` entry is not a regular expression"),
            "{joined}"
        );
        assert!(joined.contains("5 problems"), "{joined}");
    }

    #[test]
    fn big_configs_parse_in_groups_with_true_positions() {
        let mut text = String::from("[fetch]\ntimeout = \"3s\"\n\n");
        let n = 30_000;
        for i in 0..n {
            text.push_str(&format!("[[watch]]\nname = \"w{i}\"\nurl = \"https://example.org/{i}\"\ntags = [\"a\", \"b\"]\nignore = ['x', \"\"\"\n[[watch]]\"\"\"]\n\n"));
        }
        text.push_str(
            "[[channel]]\nname = \"h\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1/h\"\n",
        );
        assert!(text.len() > 3 * GROUP_BYTES);
        let (grouped, groups) = parse_raw(&text).expect("parses");
        assert!(groups.len() > 2, "{} groups", groups.len());
        assert_eq!(grouped.channel.len(), 1);
        let cfg = validate_source(&text, "big.toml", None).expect("valid");
        assert_eq!(cfg.watches.len(), n);
        assert_eq!(cfg.watches[n - 1].name, format!("w{}", n - 1));
        assert_eq!(cfg.fetch.timeout, Duration::from_secs(3));
        // An error late in a big file keeps its line number.
        text.push_str("[[watch]]\nname = \"late\"\nurl = \"ftp://x/\"\n");
        let lines = text.matches('\n').count();
        let err = validate_source(&text, "big.toml", None).expect_err("bad url");
        assert!(
            err.to_string().contains(&format!("big.toml:{lines}:7:")),
            "{err}"
        );
        // A table defined twice is the whole parser's error.
        text.push_str("[fetch]\ntimeout = \"4s\"\n");
        assert!(validate_source(&text, "big.toml", None).is_err());
    }

    /// A group of watches only is parsed on its own: its errors (a bad
    /// value, and a TOML syntax error) still name their true line, whether
    /// the group's watches were kept from the first parse (a file of a
    /// few MB) or parsed again (a bigger one).
    #[test]
    fn errors_in_a_middle_group_keep_their_lines() {
        for (each_side, kept) in [(8_000, true), (20_000, false)] {
            errors_in_a_middle_group(each_side, kept);
        }
    }

    fn errors_in_a_middle_group(each_side: usize, kept: bool) {
        let watch =
            |i: usize| format!("[[watch]]\nname = \"w{i}\"\nurl = \"https://example.org/{i}\"\n\n");
        let mut text = String::from("[fetch]\ntimeout = \"3s\"\n\n");
        for i in 0..each_side {
            text.push_str(&watch(i));
        }
        let bad_line = text.matches('\n').count() + 3;
        text.push_str("[[watch]]\nname = \"bad\"\nurl = \"ftp://x/\"\n\n");
        for i in each_side..2 * each_side {
            text.push_str(&watch(i));
        }
        let (_, groups) = parse_raw(&text).expect("parses");
        assert!(groups.len() > 2, "{} groups", groups.len());
        assert!(groups.iter().all(|g| g.parsed.is_some() == kept));
        let err = validate_source(&text, "big.toml", None).expect_err("bad url");
        assert!(
            err.to_string().contains(&format!("big.toml:{bad_line}:7:")),
            "{err}"
        );
        // A syntax error in a middle group: the whole parse reports it.
        let broken = text.replacen("url = \"ftp://x/\"", "url = \"https://x/", 1);
        let err = validate_source(&broken, "big.toml", None).expect_err("syntax");
        assert!(
            err.to_string().contains(&format!("big.toml:{bad_line}:")),
            "{err}"
        );
    }

    #[test]
    fn smtp_none_only_on_loopback() {
        let e = errors("[smtp]\nhost = \"mail.example.org\"\ntls = \"none\"\nfrom = \"a@b.c\"\n");
        assert!(e[0].contains("t.toml:3:7"), "{e:?}");
        assert!(
            errors("[smtp]\nhost = \"127.0.0.1\"\nport = 1025\ntls = \"none\"\nfrom = \"a@b.c\"\n")
                .is_empty()
        );
    }

    #[test]
    fn env_substitution_and_missing_var() {
        let e = errors("[storage]\npath = \"${PALIMPSEST_TEST_SURELY_UNSET}\"\n");
        assert!(
            e[0].contains(
                "t.toml:2:8: environment variable `PALIMPSEST_TEST_SURELY_UNSET` is not set"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn secrets_do_not_leak_in_debug() {
        let c = validate_source(
            "[[channel]]\nname = \"h\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1/h\"\nsecret = \"whsec_c2VjcmV0c2VjcmV0c2VjcmV0\"\n",
            "t.toml",
            None,
        )
        .expect("valid");
        let dbg = format!("{:?}", c.channels);
        assert!(!dbg.contains("c2VjcmV0"), "{dbg}");
    }

    #[test]
    fn notify_section_is_checked() {
        let c = validate_source("", "t.toml", None).expect("valid");
        assert_eq!(c.notify, NotifyConfig::default());
        let e = errors("[notify]\ntimeout = \"10m\"\n").join("\n");
        assert!(e.contains("t.toml:2:11: [notify] `lease`"), "{e}");
        let e = errors("[notify]\nretry_initial = \"5m\"\nretry_max = \"1m\"\n").join("\n");
        assert!(
            e.contains("t.toml:2:17: [notify] `retry_initial` must be at most 1 minute"),
            "{e}"
        );
        assert!(e.contains("t.toml:3:13: [notify] `retry_max`"), "{e}");
        let e = errors("[notify]\nmax_age = \"2d\"\nretries = 3\n").join("\n");
        assert!(e.contains("unknown field `retries`"), "{e}");
        let c = validate_source(
            "[notify]\nonce_wait = \"0s\"\nlease = \"1m\"\ntimeout = \"5s\"\n",
            "t.toml",
            None,
        )
        .expect("valid");
        assert_eq!(c.notify.once_wait, Duration::ZERO);
    }

    #[test]
    fn webhook_headers_and_email_addresses_are_checked() {
        let e = errors("[[channel]]\nname = \"h\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1/h\"\nheaders = { \"Webhook-Signature\" = \"x\", \"Host\" = \"y\", \"X-Ok\" = \"z\" }\n").join("\n");
        assert!(
            e.contains("header `Webhook-Signature` cannot be set"),
            "{e}"
        );
        assert!(e.contains("header `Host` cannot be set"), "{e}");
        assert!(!e.contains("X-Ok"), "{e}");
        let e = errors("[smtp]\nhost = \"127.0.0.1\"\ntls = \"none\"\nfrom = \"a@b.c\"\n[[channel]]\nname = \"m\"\ntype = \"email\"\nto = [\"not an address @\"]\n").join("\n");
        assert!(e.contains("is not one email address"), "{e}");
    }

    #[test]
    fn subscription_refers_to_known_things() {
        let e =
            errors("[[subscription]]\nchannel = \"nope\"\nkinds = [\"edited\", \"exploded\"]\n")
                .join("\n");
        assert!(e.contains("channel `nope`"), "{e}");
        assert!(e.contains("unknown event kind `exploded`"), "{e}");
    }
}

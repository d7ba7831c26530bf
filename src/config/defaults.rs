//! Every default value in one place.

use std::time::Duration;

pub const STORAGE_PATH: &str = "palimpsest.db";
pub const TIMEOUT: Duration = Duration::from_secs(30);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);
pub const MAX_BODY: u64 = 10 * 1024 * 1024;
pub const MAX_REDIRECTS: usize = 10;
pub const CONCURRENCY: usize = 32;
pub const PER_HOST: usize = 2;
pub const PER_HOST_DELAY: Duration = Duration::ZERO;
pub const INTERVAL: Duration = Duration::from_secs(3600);
/// Intervals shorter than this are refused: they hammer the site and fill the database.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
pub const STARTUP_SPREAD: Duration = Duration::from_secs(60);
pub const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
pub const CONFIRM_CHECKS: usize = 2;
pub const CONFIRM_SPACING: Duration = Duration::from_secs(600);
pub const UNREACHABLE_AFTER: Duration = Duration::from_secs(24 * 3600);
pub const UNREACHABLE_CHECKS: usize = 3;
pub const FLIPFLOP_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
pub const INCIDENT_THRESHOLD: usize = 10;
pub const INCIDENT_WINDOW: Duration = Duration::from_secs(3600);
pub const FOLLOW_FIRST_DAY: Duration = Duration::from_secs(3600);
pub const FOLLOW_FIRST_WEEK: Duration = Duration::from_secs(6 * 3600);
pub const FOLLOW_AFTER: Duration = Duration::from_secs(24 * 3600);
pub const FOLLOW_MAX: usize = 5000;
pub const LISTEN: &str = "127.0.0.1:8080";
pub const SMTP_PORT: u16 = 587;
/// A delivery that has not succeeded this long after its event is given up.
pub const NOTIFY_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// A claimed delivery whose worker has said nothing for this long is claimed again.
pub const NOTIFY_LEASE: Duration = Duration::from_secs(300);
/// Messages sent at once (each channel sends one at a time).
pub const NOTIFY_CONCURRENCY: usize = 4;
/// Time for one webhook request or one SMTP transaction.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(30);
/// The first retry's delay (before jitter); the issue promises "within a minute".
pub const NOTIFY_RETRY_INITIAL: Duration = Duration::from_secs(30);
/// The longest delay between two attempts.
pub const NOTIFY_RETRY_MAX: Duration = Duration::from_secs(2 * 3600);
/// `--once`: retries that fall due this soon after the checks are still attempted.
pub const NOTIFY_ONCE_WAIT: Duration = Duration::from_secs(15);

/// `palimpsest/<version> (+<homepage>)`.
pub fn user_agent() -> String {
    format!(
        "palimpsest/{} (+https://github.com/palimpsest-monitor/palimpsest)",
        env!("CARGO_PKG_VERSION")
    )
}

/// Event kinds a subscription receives when it names none: all but
/// `first_seen` and `reverted` (a flip-flop is alerted only when asked for).
pub fn subscription_kinds() -> Vec<crate::model::EventKind> {
    use crate::model::EventKind;
    EventKind::ALL
        .into_iter()
        .filter(|k| !matches!(k, EventKind::FirstSeen | EventKind::Reverted))
        .collect()
}

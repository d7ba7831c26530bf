//! When to try a failed delivery again: exponential backoff with jitter,
//! `Retry-After` honoured, and the point where we give up.

use crate::model::Millis;
use std::time::Duration;

/// The delay before retry number `failures` (1 = the first retry):
/// `initial · 2^(failures-1)`, capped at `max`, then jittered into
/// `[delay/2, delay]` so that many deliveries failing together do not
/// come back together. `unit` is a random number in `[0, 1)`.
pub fn delay(failures: u32, initial: Duration, max: Duration, unit: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let base = initial.saturating_mul(1u32 << exp).min(max);
    let unit = unit.clamp(0.0, 1.0);
    base.mul_f64(0.5 + 0.5 * unit)
}

/// The next attempt's time, or `None` when the message is past `max_age`
/// (counted from its creation) and is to be given up.
pub fn next_attempt(
    now: Millis,
    created_at: Millis,
    failures: u32,
    cfg: &crate::config::NotifyConfig,
    retry_after: Option<Duration>,
) -> Option<Millis> {
    let mut d = delay(failures, cfg.retry_initial, cfg.retry_max, fastrand::f64());
    if let Some(ra) = retry_after {
        d = d.max(ra);
    }
    let at = now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let limit =
        created_at.saturating_add(i64::try_from(cfg.max_age.as_millis()).unwrap_or(i64::MAX));
    (at <= limit).then_some(at)
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (which
/// is measured from `now`). Nonsense gives `None`; a date in the past gives zero.
pub fn parse_retry_after(value: &str, now: Millis) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<u64>().ok().map(Duration::from_secs);
    }
    let t = jiff::fmt::rfc2822::parse(v)
        .ok()?
        .timestamp()
        .as_millisecond();
    Some(Duration::from_millis(u64::try_from(t - now).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NotifyConfig;

    #[test]
    fn grows_and_jitters() {
        let i = Duration::from_secs(30);
        let m = Duration::from_secs(7200);
        assert_eq!(delay(1, i, m, 0.999_999).as_secs(), 29);
        assert_eq!(delay(1, i, m, 0.0), Duration::from_secs(15));
        assert!(
            delay(1, i, m, 1.0) <= Duration::from_secs(60),
            "first retry within a minute"
        );
        assert_eq!(delay(2, i, m, 1.0), Duration::from_secs(60));
        assert_eq!(delay(3, i, m, 1.0), Duration::from_secs(120));
        assert_eq!(delay(20, i, m, 1.0), m, "capped");
        assert_eq!(delay(u32::MAX, i, m, 1.0), m, "no overflow");
        let mut seen = std::collections::HashSet::new();
        for k in 0..10 {
            seen.insert(delay(4, i, m, f64::from(k) / 10.0));
        }
        assert_eq!(seen.len(), 10, "jitter spreads retries");
    }

    #[test]
    fn gives_up_after_max_age() {
        let cfg = NotifyConfig::default();
        let day = 86_400_000;
        assert!(next_attempt(1_000, 0, 1, &cfg, None).is_some());
        assert_eq!(next_attempt(day - 1_000, 0, 12, &cfg, None), None);
        // Retry-After is honoured, even beyond the backoff.
        let at = next_attempt(0, 0, 1, &cfg, Some(Duration::from_secs(600))).expect("retry");
        assert_eq!(at, 600_000);
        assert_eq!(
            next_attempt(0, 0, 1, &cfg, Some(Duration::from_secs(2 * 86_400))),
            None
        );
    }

    #[test]
    fn retry_after_forms() {
        let now = jiff::Timestamp::from_second(1_700_000_000)
            .expect("ts")
            .as_millisecond();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let date = jiff::Timestamp::from_second(1_700_000_090)
            .expect("ts")
            .strftime("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(90)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }
}

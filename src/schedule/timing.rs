//! When a watch is checked next: pure functions of the watch, its state
//! and the time, so they can be tested without waiting.
//!
//! * Each watch has a stable **phase** inside its interval, from a hash of
//!   its name: a thousand watches with `interval = "1h"` are spread over the
//!   hour instead of all firing at :00, and keep their slot across restarts.
//! * After a restart, overdue watches run **once** (not once per missed
//!   interval), spread over `startup_spread` by the same hash.
//! * Failures back off exponentially: 5 minutes (or the interval, if
//!   shorter), doubling, up to `max_backoff` (or the interval, if longer),
//!   with a stable ±10% jitter so failing watches do not move in lockstep.

use crate::model::Millis;
use std::time::Duration;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// A stable 64-bit hash of a watch name.
pub fn name_hash(name: &str) -> u64 {
    let h = blake3::hash(name.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(b)
}

/// The watch's offset inside a window of `len`.
fn offset(name: &str, len: i64, salt: u64) -> i64 {
    (name_hash(name) ^ salt)
        .checked_rem(len.max(1) as u64)
        .unwrap_or(0) as i64
}

/// The due time of a watch when the daemon starts.
pub fn initial_due(name: &str, stored: Option<Millis>, now: Millis, spread: Duration) -> Millis {
    match stored {
        Some(due) if due > now => due,
        // New or overdue: once, somewhere in the startup window.
        _ => now + offset(name, ms(spread), 0x5eed),
    }
}

/// The next due time after a successful check finished at `now`: the next
/// point of the watch's phase grid at least half an interval away.
pub fn next_after_success(name: &str, interval: Duration, now: Millis) -> Millis {
    let iv = ms(interval);
    let phase = offset(name, iv, 0);
    let earliest = now.saturating_add(iv / 2);
    // Smallest t >= earliest with t ≡ phase (mod iv).
    let rem = (earliest - phase).rem_euclid(iv);
    if rem == 0 {
        earliest
    } else {
        earliest + (iv - rem)
    }
}

/// The next due time after the `streak`-th failure in a row.
pub fn next_after_failure(
    name: &str,
    interval: Duration,
    max_backoff: Duration,
    streak: u32,
    now: Millis,
) -> Millis {
    let iv = ms(interval);
    let base = iv.min(5 * 60 * 1000);
    let cap = ms(max_backoff).max(iv);
    let exp = streak.saturating_sub(1).min(40);
    let delay = base.saturating_mul(1i64 << exp).min(cap);
    // Stable jitter of ±10%, different per watch and per streak.
    let spread = delay / 5;
    let jitter = offset(name, spread.max(1), u64::from(streak)) - spread / 2;
    now + (delay + jitter).max(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Duration = Duration::from_secs(3600);

    #[test]
    fn overdue_runs_once_spread() {
        let now = 1_000_000_000;
        let spread = Duration::from_secs(60);
        let mut dues: Vec<i64> = (0..1000)
            .map(|i| initial_due(&format!("w{i}"), Some(now - 10 * 3_600_000), now, spread))
            .collect();
        assert!(dues.iter().all(|d| *d >= now && *d < now + 60_000));
        dues.sort();
        // Spread: no second of the window holds more than a few percent.
        let mut per_sec = std::collections::HashMap::new();
        for d in &dues {
            *per_sec.entry((d - now) / 1000).or_insert(0) += 1;
        }
        assert!(per_sec.values().all(|n| *n < 50), "{per_sec:?}");
        // A future due time is kept.
        assert_eq!(initial_due("a", Some(now + 5), now, spread), now + 5);
    }

    #[test]
    fn success_keeps_phase() {
        let now = 1_700_000_000_000;
        let a = next_after_success("a", H, now);
        let b = next_after_success("a", H, a + 1234);
        assert_eq!(b - a, 3_600_000);
        assert!(a - now >= 1_800_000 && a - now <= 5_400_000);
        // Watches with the same interval land on different phases.
        let phases: std::collections::HashSet<i64> = (0..100)
            .map(|i| next_after_success(&format!("w{i}"), H, now) % 3_600_000)
            .collect();
        assert!(phases.len() > 90);
    }

    #[test]
    fn failures_back_off() {
        let now = 0;
        let d: Vec<i64> = (1..=12)
            .map(|s| next_after_failure("x", H, 24 * H, s, now))
            .collect();
        assert!(d[0] >= 240_000 && d[0] <= 360_000, "{d:?}");
        assert!(d[1] > d[0] && d[2] > d[1]);
        assert!(*d.last().unwrap_or(&0) <= 24 * 3_600_000 * 11 / 10);
        // Short intervals back off from the interval itself.
        assert!(next_after_failure("x", Duration::from_secs(10), 24 * H, 1, 0) <= 12_000);
    }
}

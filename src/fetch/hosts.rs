//! Politeness: at most `per_host` requests in flight to one host, and at
//! least `per_host_delay` between the starts of two of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

struct Slot {
    in_flight: Arc<Semaphore>,
    next_start: Mutex<Instant>,
}

/// Per-host limits, created lazily per host name.
pub struct HostLimiter {
    per_host: usize,
    delay: Duration,
    hosts: Mutex<HashMap<String, Arc<Slot>>>,
}

impl HostLimiter {
    pub fn new(per_host: usize, delay: Duration) -> Self {
        HostLimiter {
            per_host: per_host.max(1),
            delay,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a slot on `host`; the slot is held until the permit drops.
    pub async fn acquire(&self, host: &str) -> Option<OwnedSemaphorePermit> {
        let slot = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            hosts
                .entry(host.to_ascii_lowercase())
                .or_insert_with(|| {
                    Arc::new(Slot {
                        in_flight: Arc::new(Semaphore::new(self.per_host)),
                        next_start: Mutex::new(Instant::now()),
                    })
                })
                .clone()
        };
        let permit = slot.in_flight.clone().acquire_owned().await.ok()?;
        if !self.delay.is_zero() {
            let wait_until = {
                let mut next = slot.next_start.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let start = (*next).max(now);
                *next = start + self.delay;
                start
            };
            tokio::time::sleep_until(wait_until).await;
        }
        Some(permit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_to_one_host() {
        let l = HostLimiter::new(4, Duration::from_secs(2));
        let t0 = Instant::now();
        let _a = l.acquire("a.example").await;
        let _b = l.acquire("a.example").await;
        let _c = l.acquire("b.example").await;
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
        let _d = l.acquire("A.EXAMPLE").await;
        assert_eq!(t0.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn limits_in_flight() {
        let l = Arc::new(HostLimiter::new(1, Duration::ZERO));
        let first = l.acquire("h").await;
        let l2 = l.clone();
        let waiter = tokio::spawn(async move { l2.acquire("h").await.is_some() });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished());
        drop(first);
        assert!(waiter.await.unwrap_or(false));
    }
}

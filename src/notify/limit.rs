//! Dedupe (identical drift within a window notifies once, with a count) and the per-channel
//! token bucket. Both take the time explicitly (`tokio::time::Instant`), so tests drive them
//! under a paused clock.

use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use tokio::time::Instant;

use super::settings::RateLimit;
use crate::alert::Alert;

/// The dedupe key: resource, and each changed attribute with its observed value. Alerts without
/// diffs (deletions, unmanaged changes) key on kind and event name.
#[must_use]
pub fn dedupe_key(a: &Alert) -> String {
    let mut h = Sha256::new();
    h.update(a.kind.as_str());
    h.update([0]);
    h.update(&a.resource.rtype);
    h.update([0]);
    h.update(&a.resource.id);
    h.update([0]);
    if a.diffs.is_empty() {
        h.update(&a.event.name);
    }
    for d in &a.diffs {
        h.update(&d.path);
        h.update([0]);
        h.update(d.observed.to_string());
        h.update([0]);
    }
    let out = h.finalize();
    out.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// What dedupe decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedupe {
    /// Notify; `repeats` identical drifts were suppressed since the previous notification.
    Notify {
        /// Suppressed since the last notification of this key.
        repeats: u64,
    },
    /// Already notified within the window: counted, not sent.
    Suppressed,
}

#[derive(Debug)]
struct Seen {
    since: Instant,
    suppressed: u64,
}

/// Remembers recent drift keys.
#[derive(Debug)]
pub struct Deduper {
    window: Duration,
    seen: HashMap<String, Seen>,
}

impl Deduper {
    /// A deduper with this window (zero turns it off).
    #[must_use]
    pub fn new(window: Duration) -> Self {
        Deduper {
            window,
            seen: HashMap::new(),
        }
    }

    /// Decides for `key` at `now`.
    pub fn check(&mut self, key: &str, now: Instant) -> Dedupe {
        if self.window.is_zero() {
            return Dedupe::Notify { repeats: 0 };
        }
        if self.seen.len() > 100_000 {
            let w = self.window;
            self.seen.retain(|_, s| now.duration_since(s.since) < w);
        }
        match self.seen.get_mut(key) {
            Some(s) if now.duration_since(s.since) < self.window => {
                s.suppressed += 1;
                Dedupe::Suppressed
            }
            Some(s) => {
                let repeats = s.suppressed;
                *s = Seen {
                    since: now,
                    suppressed: 0,
                };
                Dedupe::Notify { repeats }
            }
            None => {
                self.seen.insert(
                    key.to_string(),
                    Seen {
                        since: now,
                        suppressed: 0,
                    },
                );
                Dedupe::Notify { repeats: 0 }
            }
        }
    }
}

/// A token bucket.
#[derive(Debug)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    #[must_use]
    pub fn new(limit: RateLimit, now: Instant) -> Self {
        let capacity = f64::from(limit.burst.unwrap_or(limit.per_minute).max(1));
        TokenBucket {
            capacity,
            per_sec: f64::from(limit.per_minute.max(1)) / 60.0,
            tokens: capacity,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.per_sec).min(self.capacity);
        self.last = now;
    }

    /// Takes a token if one is there.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until a token is available.
    #[must_use]
    pub fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn dedupe_window_counts_repeats() {
        let mut d = Deduper::new(Duration::from_mins(5));
        let k = dedupe_key(&super::super::sample_alert());
        assert_eq!(d.check(&k, Instant::now()), Dedupe::Notify { repeats: 0 });
        for _ in 0..4 {
            tokio::time::advance(Duration::from_secs(30)).await;
            assert_eq!(d.check(&k, Instant::now()), Dedupe::Suppressed);
        }
        assert_eq!(
            d.check("other", Instant::now()),
            Dedupe::Notify { repeats: 0 }
        );
        tokio::time::advance(Duration::from_mins(5)).await;
        assert_eq!(d.check(&k, Instant::now()), Dedupe::Notify { repeats: 4 });
        assert_eq!(d.check(&k, Instant::now()), Dedupe::Suppressed);
    }

    #[test]
    fn key_depends_on_observed_value() {
        let a = super::super::sample_alert();
        let mut b = a.clone();
        b.diffs[0].observed = serde_json::json!("other");
        let mut c = a.clone();
        c.id = "different-alert-id".into();
        assert_ne!(dedupe_key(&a), dedupe_key(&b));
        assert_eq!(dedupe_key(&a), dedupe_key(&c));
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_bites_and_refills() {
        let mut b = TokenBucket::new(
            RateLimit {
                per_minute: 6,
                burst: Some(2),
            },
            Instant::now(),
        );
        assert!(b.try_take(Instant::now()));
        assert!(b.try_take(Instant::now()));
        assert!(!b.try_take(Instant::now()));
        assert_eq!(b.wait(Instant::now()), Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(b.try_take(Instant::now()));
        assert!(!b.try_take(Instant::now()));
    }
}

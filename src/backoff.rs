//! Exponential backoff with deterministic jitter, shared by the reconnecting sources and the
//! notification outbox worker: one place for the doubling, the cap and the spread.

use std::time::Duration;

/// `base` doubled for each attempt after the first (`attempt` is 1-based), capped at `max`.
#[must_use]
pub fn exponential(base: Duration, attempt: u32, max: Duration) -> Duration {
    base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(max)
}

/// A fraction in `[0, 1)` derived from `seed` (splitmix64): cheap, deterministic per seed (an
/// outbox row id, a connection attempt), and enough to keep many clients from retrying in step.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn jitter(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z % 10_000) as f64 / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps_and_jitter_stays_in_range() {
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(exponential(base, 1, max), base);
        assert_eq!(exponential(base, 3, max), Duration::from_millis(400));
        assert_eq!(exponential(base, 60, max), max);
        for seed in 0..1000 {
            let j = jitter(seed);
            assert!((0.0..1.0).contains(&j), "{j}");
        }
        assert!((jitter(1) - jitter(2)).abs() > f64::EPSILON);
    }
}

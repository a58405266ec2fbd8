//! Lenient timestamp parsing for the formats real logs contain.
//!
//! CloudTrail writes `2023-07-10T11:40:46Z`; re-exported logs use `2025-02-19 20:13:49.000`, epoch
//! seconds (`1714572698.0`), offsets (`2022-02-08 09:23:37+11:00`); GCP uses RFC 3339 with up to
//! nine fractional digits; Falco sends nanoseconds since the epoch.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// Parses a timestamp string in any of the formats above; `None` when it is none of them.
#[must_use]
pub fn parse_time_str(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // Space instead of `T`, optional offset.
    let t_form = s.replacen(' ', "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&t_form) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t_form.trim_end_matches('Z'), fmt) {
            return Some(Utc.from_utc_datetime(&naive));
        }
    }
    if let Ok(n) = s.parse::<f64>() {
        return from_epoch_number(n);
    }
    None
}

/// Parses a JSON time value: a string in any accepted format, or an epoch number (seconds,
/// milliseconds or nanoseconds, told apart by magnitude).
#[must_use]
pub fn parse_time_value(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => parse_time_str(s),
        Value::Number(n) => n.as_f64().and_then(from_epoch_number),
        _ => None,
    }
}

#[allow(clippy::cast_possible_truncation)]
fn from_epoch_number(n: f64) -> Option<DateTime<Utc>> {
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let nanos = if n > 1e17 {
        n // already nanoseconds
    } else if n > 1e11 {
        n * 1e6 // milliseconds
    } else {
        n * 1e9 // seconds
    };
    Some(Utc.timestamp_nanos(nanos as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_corpus_format() {
        let want = Utc.with_ymd_and_hms(2025, 2, 19, 20, 13, 49).unwrap();
        for s in [
            "2025-02-19T20:13:49Z",
            "2025-02-19 20:13:49",
            "2025-02-19 20:13:49.000",
            "2025-02-19 20:13:49.000000000",
            "2025-02-19T20:13:49.000000000Z",
            "2025-02-20 07:13:49+11:00",
            "1739996029",
        ] {
            assert_eq!(parse_time_str(s), Some(want), "{s}");
        }
        assert_eq!(
            parse_time_value(&serde_json::json!(1_739_996_029_000_000_000_u64)),
            Some(want)
        );
        assert_eq!(parse_time_str("yesterday"), None);
    }
}

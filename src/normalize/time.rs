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

/// The delivery time in a CloudTrail log file name
/// (`123456789012_CloudTrail_us-east-1_20171211T1505Z_abc123.json.gz` → 2017-12-11 15:05 UTC):
/// a deterministic stand-in for records that carry no time of their own. `path` may be a path or
/// an `s3://` URL; only its last segment is looked at.
#[must_use]
pub fn time_from_file_name(path: &str) -> Option<DateTime<Utc>> {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    name.split('_').find_map(|part| {
        let b = part.as_bytes();
        let shaped = b.len() == 14
            && b[8] == b'T'
            && b[13] == b'Z'
            && b[..8].iter().chain(&b[9..13]).all(u8::is_ascii_digit);
        shaped
            .then(|| NaiveDateTime::parse_from_str(part, "%Y%m%dT%H%MZ").ok())
            .flatten()
            .map(|t| Utc.from_utc_datetime(&t))
    })
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

    #[test]
    fn cloudtrail_file_names_carry_their_delivery_time() {
        let want = Utc.with_ymd_and_hms(2017, 12, 11, 15, 5, 0).unwrap();
        for name in [
            "123456789012_CloudTrail_us-east-1_20171211T1505Z_abcDEF123.json.gz",
            "s3://trail/AWSLogs/123456789012/CloudTrail/us-east-1/2017/12/11/123456789012_CloudTrail_us-east-1_20171211T1505Z_x.json.gz",
            "/logs/1_CloudTrail_eu-west-1_20171211T1505Z_y.json",
        ] {
            assert_eq!(time_from_file_name(name), Some(want), "{name}");
        }
        assert_eq!(time_from_file_name("events.jsonl"), None);
        assert_eq!(time_from_file_name("a_20171399T9999Z_b.json"), None);
        assert_eq!(time_from_file_name("/x_20171211T1505Z_/events.json"), None);
    }
}

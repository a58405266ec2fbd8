//! Unit tests of the pure parts of the S3 backfill: times, windows, file names, key layout.
#![allow(clippy::unwrap_used)]
use super::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn times_parse_as_durations_dates_and_rfc3339() {
    let now = t("2024-05-01T14:00:00Z");
    assert_eq!(parse_time("2h", now), Some(t("2024-05-01T12:00:00Z")));
    assert_eq!(parse_time("30m", now), Some(t("2024-05-01T13:30:00Z")));
    assert_eq!(parse_time("7d", now), Some(t("2024-04-24T14:00:00Z")));
    assert_eq!(
        parse_time("2024-04-30", now),
        Some(t("2024-04-30T00:00:00Z"))
    );
    assert_eq!(
        parse_time("2024-04-30T10:00:00+02:00", now),
        Some(t("2024-04-30T08:00:00Z"))
    );
    assert_eq!(parse_time("2x", now), None);
    assert_eq!(parse_time("h", now), None);
    let e = Window::parse("yesterday", None, now)
        .unwrap_err()
        .to_string();
    assert!(e.contains("since 'yesterday'") && e.contains("2h"), "{e}");
    assert!(matches!(
        Window::parse("1h", Some("2h"), now),
        Err(BackfillError::EmptyWindow { .. })
    ));
}

#[test]
fn window_days_cover_the_delivery_slack() {
    let w = Window::parse(
        "2024-04-29T23:30:00Z",
        Some("2024-04-30T23:30:00Z"),
        t("2024-06-01T00:00:00Z"),
    )
    .unwrap();
    let days: Vec<String> = w.days().iter().map(ToString::to_string).collect();
    assert_eq!(days, ["2024-04-29", "2024-04-30", "2024-05-01"]);
    assert!(!w.may_hold(t("2024-04-29T23:29:00Z")));
    assert!(w.may_hold(t("2024-04-29T23:30:00Z")));
    assert!(w.may_hold(t("2024-05-01T00:30:00Z")));
    assert!(!w.may_hold(t("2024-05-01T00:31:00Z")));
}

#[test]
fn delivery_time_comes_from_the_file_name() {
    let k = "AWSLogs/1/CloudTrail/us-east-1/2023/07/10/218007301253_CloudTrail_us-east-1_20230710T1145Z_7xgocspSowgK0Gto.json.gz";
    assert_eq!(delivery_time(k), Some(t("2023-07-10T11:45:00Z")));
    assert_eq!(delivery_time("AWSLogs/x/other.json.gz"), None);
}

#[test]
fn prefixes_are_placed_in_the_key_layout() {
    assert_eq!(classify(""), Level::Root("AWSLogs/".into()));
    assert_eq!(classify("logs"), Level::Root("logs/AWSLogs/".into()));
    assert_eq!(
        classify("logs/AWSLogs/"),
        Level::Root("logs/AWSLogs/".into())
    );
    assert_eq!(
        classify("AWSLogs/o-abc123/"),
        Level::Org("AWSLogs/o-abc123/".into())
    );
    assert_eq!(
        classify("AWSLogs/123456789012/"),
        Level::Account("AWSLogs/123456789012/".into())
    );
    assert_eq!(
        classify("AWSLogs/o-abc123/123456789012"),
        Level::Account("AWSLogs/o-abc123/123456789012/".into())
    );
    assert_eq!(
        classify("AWSLogs/123456789012/CloudTrail/"),
        Level::Trail("AWSLogs/123456789012/CloudTrail/".into())
    );
    assert_eq!(
        classify("x/AWSLogs/123456789012/CloudTrail/eu-west-1/"),
        Level::Region("x/AWSLogs/123456789012/CloudTrail/eu-west-1/".into())
    );
    assert!(matches!(
        classify("AWSLogs/123456789012/CloudTrail/eu-west-1/2024/05/"),
        Level::Deeper(_)
    ));
    assert!(matches!(
        classify("AWSLogs/123456789012/CloudTrail-Digest/"),
        Level::Other(_)
    ));
    assert!(matches!(classify("AWSLogs/notes/"), Level::Other(_)));
}

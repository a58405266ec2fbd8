//! The drift gauges, counters and the time-to-resolve histogram `/metrics` serves, computed
//! from the stored drifts and their events.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::{Drift, Reason};
use crate::alert::Severity;

/// One resolved episode: its drift's severity, how it ended, and how long it was open
/// (opened or reopened → resolved), in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolvedSpan {
    /// The drift's severity.
    pub severity: Severity,
    /// How the episode ended.
    pub reason: Reason,
    /// Open for this long.
    pub seconds: f64,
}

/// Upper bounds of the time-to-resolve buckets: 1 min, 5 min, 15 min, 30 min, 1 h, 4 h, 12 h,
/// 1 d, 3 d, 7 d (then `+Inf`).
pub const TIME_TO_RESOLVE_BUCKETS: [f64; 10] = [
    60.0, 300.0, 900.0, 1800.0, 3600.0, 14_400.0, 43_200.0, 86_400.0, 259_200.0, 604_800.0,
];

/// `tfdrift_drift_time_to_resolve_seconds`, a histogram by severity and reason over every
/// resolved episode still in the store (retention prunes old ones, as it does the drifts).
#[must_use]
pub fn time_to_resolve_text(spans: &[ResolvedSpan]) -> String {
    use std::collections::BTreeMap;
    let mut series: BTreeMap<(Severity, &str), (Vec<u64>, f64, u64)> = BTreeMap::new();
    for s in spans {
        let e = series
            .entry((s.severity, s.reason.as_str()))
            .or_insert_with(|| (vec![0; TIME_TO_RESOLVE_BUCKETS.len()], 0.0, 0));
        for (i, le) in TIME_TO_RESOLVE_BUCKETS.iter().enumerate() {
            if s.seconds <= *le {
                e.0[i] += 1;
            }
        }
        e.1 += s.seconds.max(0.0);
        e.2 += 1;
    }
    let mut out = String::from(
        "# HELP tfdrift_drift_time_to_resolve_seconds How long drift episodes stayed open before they were resolved, by severity and reason.\n# TYPE tfdrift_drift_time_to_resolve_seconds histogram\n",
    );
    for ((sev, reason), (buckets, sum, count)) in &series {
        let labels = format!("severity=\"{}\",reason=\"{reason}\"", sev.as_str());
        for (le, n) in TIME_TO_RESOLVE_BUCKETS.iter().zip(buckets) {
            let _ = writeln!(
                out,
                "tfdrift_drift_time_to_resolve_seconds_bucket{{{labels},le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "tfdrift_drift_time_to_resolve_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "tfdrift_drift_time_to_resolve_seconds_sum{{{labels}}} {sum}"
        );
        let _ = writeln!(
            out,
            "tfdrift_drift_time_to_resolve_seconds_count{{{labels}}} {count}"
        );
    }
    out
}

/// Prometheus text for `/metrics` from the stored drifts: unresolved drifts by severity, the
/// age of the oldest one, episodes opened, and drifts resolved by reason (their latest
/// episode's reason).
#[must_use]
pub fn metrics_text(drifts: &[Drift], now: DateTime<Utc>) -> String {
    use std::collections::BTreeMap;
    let mut open: BTreeMap<&str, u64> = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ]
    .into_iter()
    .map(|s| (s.as_str(), 0))
    .collect();
    let mut resolved: BTreeMap<&str, u64> = BTreeMap::new();
    let mut oldest: Option<DateTime<Utc>> = None;
    let mut opened = 0u64;
    for d in drifts {
        opened += u64::from(d.episode);
        if d.is_unresolved() {
            *open.entry(d.severity.as_str()).or_default() += 1;
            oldest = Some(oldest.map_or(d.first_seen, |o| o.min(d.first_seen)));
        } else if let Some(r) = d.resolved_reason {
            *resolved.entry(r.as_str()).or_default() += 1;
        }
    }
    let mut out = String::from(
        "# HELP tfdrift_drifts_open Unresolved drifts (open, acknowledged, snoozed) by severity.\n# TYPE tfdrift_drifts_open gauge\n",
    );
    for (s, n) in &open {
        let _ = writeln!(out, "tfdrift_drifts_open{{severity=\"{s}\"}} {n}");
    }
    let age = oldest.map_or(0, |o| (now - o).num_seconds().max(0));
    let _ = writeln!(
        out,
        "# HELP tfdrift_drift_oldest_open_seconds Age of the oldest unresolved drift (0: none).\n# TYPE tfdrift_drift_oldest_open_seconds gauge\ntfdrift_drift_oldest_open_seconds {age}"
    );
    let _ = writeln!(
        out,
        "# HELP tfdrift_drifts_opened_total Drift episodes opened (first occurrences and reopenings).\n# TYPE tfdrift_drifts_opened_total counter\ntfdrift_drifts_opened_total {opened}"
    );
    out.push_str("# HELP tfdrift_drifts_resolved_total Resolved drifts by how they ended.\n# TYPE tfdrift_drifts_resolved_total counter\n");
    for (r, n) in &resolved {
        let _ = writeln!(out, "tfdrift_drifts_resolved_total{{reason=\"{r}\"}} {n}");
    }
    out
}

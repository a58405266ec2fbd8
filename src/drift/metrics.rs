//! The drift gauges and counters `/metrics` serves, computed from the stored drifts.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::Drift;
use crate::alert::Severity;

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

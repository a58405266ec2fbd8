//! Prometheus text for the reconcile board, per workspace (`tfdrift_reconcile_*`), from the
//! latest stored run of each: the daemon's `/metrics` appends it
//! ([`crate::notify::metrics::render`], once a run is stored) and `tfdrift workspaces --metrics`
//! prints it.

use std::fmt::Write as _;

use crate::store::workspace_runs::{RunResult, WorkspaceRun};

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A gauge: name, help, value of a run.
type Gauge = (&'static str, &'static str, fn(&WorkspaceRun) -> String);

/// Milliseconds as decimal seconds (`2.500`).
#[must_use]
pub fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// The metrics of the latest run of each workspace.
#[must_use]
pub fn metrics_text(runs: &[WorkspaceRun]) -> String {
    let mut out = String::new();
    let gauges: [Gauge; 7] = [
        (
            "tfdrift_reconcile_last_run_timestamp_seconds",
            "When the workspace's latest reconcile started (Unix time).",
            |r| r.started_at.timestamp().to_string(),
        ),
        (
            "tfdrift_reconcile_duration_seconds",
            "How long the latest reconcile took.",
            |r| seconds(r.duration_ms),
        ),
        (
            "tfdrift_reconcile_error",
            "1 when the latest reconcile failed (credentials, lock, configuration, timeout).",
            |r| u8::from(r.result == RunResult::Error).to_string(),
        ),
        (
            "tfdrift_reconcile_drifted",
            "Drifted attributes and deleted resources the latest reconcile found.",
            |r| r.drifted.to_string(),
        ),
        (
            "tfdrift_reconcile_unattributed",
            "Of those, how many no event explains (no event seen).",
            |r| r.unattributed.to_string(),
        ),
        (
            "tfdrift_reconcile_ignored_by_config",
            "Drift left out because lifecycle.ignore_changes names the attribute.",
            |r| r.ignored.to_string(),
        ),
        (
            "tfdrift_reconcile_resolved",
            "Open drifts the latest reconcile found in sync and resolved.",
            |r| r.resolved.to_string(),
        ),
    ];
    for (name, help, f) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for r in runs {
            let _ = writeln!(
                out,
                "{name}{{workspace=\"{}\"}} {}",
                esc(&r.workspace),
                f(r)
            );
        }
    }
    let name = "tfdrift_reconcile_unattributed_by_service";
    let _ = writeln!(
        out,
        "# HELP {name} Drift no event explains, by the service whose events would have shown it (a catalog gap or a missing trail).\n# TYPE {name} gauge"
    );
    for r in runs {
        if let Some(m) = r
            .report
            .get("unattributed_by_service")
            .and_then(serde_json::Value::as_object)
        {
            for (service, n) in m {
                let _ = writeln!(
                    out,
                    "{name}{{workspace=\"{}\",service=\"{}\"}} {}",
                    esc(&r.workspace),
                    esc(service),
                    n.as_u64().unwrap_or(0)
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_workspace_gauges() {
        let run = WorkspaceRun {
            id: 1,
            workspace: "net\"work".into(),
            started_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            duration_ms: 2500,
            result: RunResult::Error,
            drifted: 0,
            unattributed: 2,
            ignored: 1,
            resolved: 0,
            error: Some("expired".into()),
            report: serde_json::json!({"unattributed_by_service": {"sqs": 2}}),
        };
        let text = metrics_text(&[run]);
        for want in [
            "tfdrift_reconcile_error{workspace=\"net\\\"work\"} 1\n",
            "tfdrift_reconcile_duration_seconds{workspace=\"net\\\"work\"} 2.500\n",
            "tfdrift_reconcile_last_run_timestamp_seconds{workspace=\"net\\\"work\"} 1700000000\n",
            "tfdrift_reconcile_unattributed_by_service{workspace=\"net\\\"work\",service=\"sqs\"} 2\n",
        ] {
            assert!(text.contains(want), "{want} not in\n{text}");
        }
    }
}

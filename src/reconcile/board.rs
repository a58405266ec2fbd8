//! The reconcile status board's rows, from the store: per workspace its latest run, how long
//! it took, its result (in sync / N drifted / error with the first line of the reason), the
//! open drifts among those the run found and how many of them no event explains. One
//! computation for `tfdrift workspaces`, the monitor's workspaces view (in-process) and the
//! daemon's `ListWorkspaceRuns` (team mode), so the three cannot disagree.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::drift::Drift;
use crate::store::workspace_runs::{RunResult, WorkspaceRun};
use crate::store::{DriftFilter, Store, StoreError};

/// One workspace on the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoardRow {
    /// Board label.
    pub workspace: String,
    /// When the latest run started.
    pub started_at: DateTime<Utc>,
    /// How long it took (ms).
    pub duration_ms: u64,
    /// Its outcome.
    pub result: RunResult,
    /// Drifted attributes and deleted resources it found.
    pub drifted: u64,
    /// Of those, how many no event explains ("no event seen").
    pub unattributed: u64,
    /// The error's lines (credentials, lock, timeout …), when it failed.
    pub error: Option<String>,
    /// Drifts the run found that are still unresolved.
    pub open_drifts: u64,
}

impl BoardRow {
    /// A row from a stored run and the unresolved drifts.
    #[must_use]
    pub fn new(run: &WorkspaceRun, open: &[Drift]) -> BoardRow {
        BoardRow {
            workspace: run.workspace.clone(),
            started_at: run.started_at,
            duration_ms: run.duration_ms,
            result: run.result,
            drifted: run.drifted,
            unattributed: run.unattributed,
            error: run.error.clone(),
            open_drifts: open_drifts(run, open),
        }
    }

    /// `in sync`, `3 drifted`, or `error: <the reason's first line>`.
    #[must_use]
    pub fn result_line(&self) -> String {
        match self.result {
            RunResult::InSync => "in sync".into(),
            RunResult::Drifted => format!("{} drifted", self.drifted),
            RunResult::Error => match self.first_error_line() {
                Some(l) => format!("error: {l}"),
                None => "error".into(),
            },
        }
    }

    /// The first non-empty line of the error.
    #[must_use]
    pub fn first_error_line(&self) -> Option<&str> {
        self.error
            .as_deref()
            .and_then(|e| e.lines().map(str::trim).find(|l| !l.is_empty()))
    }
}

/// Unresolved drifts among those a run's report names.
#[must_use]
pub fn open_drifts(run: &WorkspaceRun, open: &[Drift]) -> u64 {
    let ids: HashSet<&str> = run
        .report
        .get("drifts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| d.get("drift_id").and_then(Value::as_str))
        .collect();
    open.iter().filter(|d| ids.contains(d.id.as_str())).count() as u64
}

/// The board: the latest run of every workspace, by label.
pub fn board(store: &dyn Store) -> Result<Vec<BoardRow>, StoreError> {
    let runs = store.latest_workspace_runs()?;
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let open = store.drifts(&DriftFilter {
        unresolved_only: true,
        ..DriftFilter::default()
    })?;
    Ok(runs.iter().map(|r| BoardRow::new(r, &open)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(result: RunResult, error: Option<&str>) -> WorkspaceRun {
        WorkspaceRun {
            id: 1,
            workspace: "shop".into(),
            started_at: Utc::now(),
            duration_ms: 1500,
            result,
            drifted: 3,
            unattributed: 2,
            ignored: 0,
            resolved: 0,
            error: error.map(str::to_string),
            report: serde_json::json!({"drifts": [{"drift_id": "drf-a"}, {"drift_id": "drf-b"}]}),
        }
    }

    #[test]
    fn result_lines_and_open_drifts() {
        let r = BoardRow::new(&run(RunResult::Drifted, None), &[]);
        assert_eq!(r.result_line(), "3 drifted");
        assert_eq!(r.open_drifts, 0);
        let r = BoardRow::new(
            &run(
                RunResult::Error,
                Some("\nNo valid credential sources found\nError: second"),
            ),
            &[],
        );
        assert_eq!(r.result_line(), "error: No valid credential sources found");
        assert_eq!(
            BoardRow::new(&run(RunResult::InSync, None), &[]).result_line(),
            "in sync"
        );
    }
}

//! `ListWorkspaceRuns`: the reconcile status board over the API (role viewer), the same rows
//! `tfdrift workspaces` prints ([`crate::reconcile::board`]), for the monitor's workspaces
//! view in team mode.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::require;
use super::proto as pb;
use super::server::{ApiState, blocking};
use super::tokens::Role;
use crate::reconcile::board::{BoardRow, board};

/// A board row as the wire has it.
#[must_use]
pub fn to_proto(r: &BoardRow) -> pb::WorkspaceRun {
    pb::WorkspaceRun {
        workspace: r.workspace.clone(),
        started_at: r.started_at.to_rfc3339(),
        duration_ms: r.duration_ms,
        result: r.result.as_str().to_string(),
        drifted: r.drifted,
        unattributed: r.unattributed,
        error: r.error.clone().unwrap_or_default(),
        open_drifts: r.open_drifts,
    }
}

/// A row from the wire; an unreadable time or result is refused (naming the field), never
/// shown as "in sync".
pub fn from_proto(r: &pb::WorkspaceRun) -> Result<BoardRow, String> {
    use crate::store::workspace_runs::RunResult;
    let started_at = chrono::DateTime::parse_from_rfc3339(&r.started_at)
        .map_err(|e| {
            format!(
                "WorkspaceRun.started_at '{}' of '{}' is not RFC 3339: {e}",
                r.started_at, r.workspace
            )
        })?
        .with_timezone(&chrono::Utc);
    let result = match r.result.as_str() {
        "in_sync" => RunResult::InSync,
        "drifted" => RunResult::Drifted,
        "error" => RunResult::Error,
        other => {
            return Err(format!(
                "WorkspaceRun.result '{other}' of '{}' is not in_sync, drifted or error",
                r.workspace
            ));
        }
    };
    Ok(BoardRow {
        workspace: r.workspace.clone(),
        started_at,
        duration_ms: r.duration_ms,
        result,
        drifted: r.drifted,
        unattributed: r.unattributed,
        error: (!r.error.is_empty()).then(|| r.error.clone()),
        open_drifts: r.open_drifts,
    })
}

/// The handler.
pub async fn list(
    state: &Arc<ApiState>,
    req: Request<pb::ListWorkspaceRunsRequest>,
) -> Result<Response<pb::ListWorkspaceRunsReply>, Status> {
    require(&req, Role::Viewer, "reading the reconcile board")?;
    let rows = blocking(state, |s| board(s)).await?;
    Ok(Response::new(pb::ListWorkspaceRunsReply {
        runs: rows.iter().map(to_proto).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::workspace_runs::RunResult;

    #[test]
    fn rows_survive_the_wire_and_bad_ones_are_refused() {
        let row = BoardRow {
            workspace: "shop-expired".into(),
            started_at: chrono::DateTime::parse_from_rfc3339("2026-12-07T02:14:00Z")
                .unwrap()
                .with_timezone(&chrono::Utc),
            duration_ms: 2500,
            result: RunResult::Error,
            drifted: 0,
            unattributed: 0,
            error: Some("No valid credential sources found".into()),
            open_drifts: 0,
        };
        assert_eq!(from_proto(&to_proto(&row)).unwrap(), row);
        let mut bad = to_proto(&row);
        bad.result = "fine".into();
        assert!(
            from_proto(&bad)
                .unwrap_err()
                .contains("WorkspaceRun.result")
        );
        let mut bad = to_proto(&row);
        bad.started_at = "yesterday".into();
        assert!(from_proto(&bad).unwrap_err().contains("started_at"));
    }
}

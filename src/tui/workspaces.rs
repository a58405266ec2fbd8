//! The monitor's workspaces view: the reconcile status board (per workspace the last run, its
//! duration, the result — in sync, N drifted, or error with the reason's first line — the open
//! drifts and the "no event seen" count), opened with `W`. The rows come from the backend
//! ([`crate::tui::app::Effect::LoadWorkspaces`]: the store in-process, `ListWorkspaceRuns` on
//! a daemon) when the view opens and every [`REFRESH_EVERY`] while it stays open.

use chrono::{DateTime, Duration, Utc};

use crate::reconcile::board::BoardRow;

/// How often an open view asks for the board again.
pub const REFRESH_EVERY: Duration = Duration::seconds(5);

/// What the view holds.
#[derive(Debug, Clone, Default)]
pub struct WorkspacesView {
    /// The view replaces the main panes.
    pub open: bool,
    /// The board's rows (by label), once loaded.
    pub rows: Vec<BoardRow>,
    /// Whether an answer has come since the view opened.
    pub loaded: bool,
    /// Why the board could not be read (kept until the next answer).
    pub error: Option<String>,
    /// Selected row.
    pub sel: usize,
    /// When the last request went out (the refresh clock).
    pub asked_at: Option<DateTime<Utc>>,
}

impl WorkspacesView {
    /// Opens or closes the view; returns whether the board should be requested now.
    pub fn toggle(&mut self, now: DateTime<Utc>) -> bool {
        self.open = !self.open;
        if self.open {
            self.loaded = false;
            self.asked_at = Some(now);
        }
        self.open
    }

    /// A tick: whether an open view is due for a refresh (and marks it asked).
    pub fn due(&mut self, now: DateTime<Utc>) -> bool {
        if !self.open || self.asked_at.is_some_and(|t| now - t < REFRESH_EVERY) {
            return false;
        }
        self.asked_at = Some(now);
        true
    }

    /// The backend's answer.
    pub fn loaded(&mut self, rows: Result<Vec<BoardRow>, String>) {
        self.loaded = true;
        match rows {
            Ok(r) => {
                self.rows = r;
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
        self.sel = self.sel.min(self.rows.len().saturating_sub(1));
    }

    /// A navigation action of the `workspaces` keymap context; whether it was one.
    pub fn navigate(&mut self, action: &str) -> bool {
        let last = self.rows.len().saturating_sub(1);
        self.sel = match action {
            "down" => (self.sel + 1).min(last),
            "up" => self.sel.saturating_sub(1),
            "top" => 0,
            "bottom" => last,
            _ => return false,
        };
        true
    }

    /// The selected row.
    #[must_use]
    pub fn selected(&self) -> Option<&BoardRow> {
        self.rows.get(self.sel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::workspace_runs::RunResult;

    fn row(name: &str) -> BoardRow {
        BoardRow {
            workspace: name.into(),
            started_at: Utc::now(),
            duration_ms: 10,
            result: RunResult::InSync,
            drifted: 0,
            unattributed: 0,
            error: None,
            open_drifts: 0,
        }
    }

    #[test]
    fn opens_refreshes_navigates_and_keeps_rows_on_error() {
        let t0 = Utc::now();
        let mut v = WorkspacesView::default();
        assert!(v.toggle(t0), "opening asks for the board");
        assert!(!v.due(t0 + Duration::seconds(1)));
        assert!(v.due(t0 + Duration::seconds(6)));
        v.loaded(Ok(vec![row("a"), row("b"), row("c")]));
        assert!(v.navigate("down") && v.navigate("down") && v.navigate("down"));
        assert_eq!(v.selected().unwrap().workspace, "c");
        v.loaded(Err("store gone".into()));
        assert_eq!(v.rows.len(), 3, "an error keeps the last rows");
        assert_eq!(v.error.as_deref(), Some("store gone"));
        v.loaded(Ok(vec![row("a")]));
        assert_eq!(v.sel, 0);
        assert!(v.error.is_none());
        assert!(!v.toggle(t0), "closing asks for nothing");
        assert!(!v.due(t0 + Duration::seconds(60)));
    }
}

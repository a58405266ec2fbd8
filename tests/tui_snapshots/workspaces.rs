//! The workspaces view (`W`, the reconcile status board): snapshots at 80×24 and 200×50 with
//! an in-sync, a drifted and a failing workspace (the reason's first line on the row, every
//! line under the table), the empty board, and what the keys do (open asks the backend, the
//! tick refreshes, j/k move, Esc and W close, help lists the view's keys).

use chrono::Duration;
use crossterm::event::KeyCode;
use tfdrift::reconcile::board::BoardRow;
use tfdrift::store::workspace_runs::RunResult;
use tfdrift::tui::app::{Action, App, Effect};
use tfdrift::tui::ui;

use super::{app, key, keys, now, screen};

/// Snapshots beside the others, in `tests/snapshots/`.
macro_rules! snap {
    ($name:expr, $s:expr) => {
        insta::with_settings!({ snapshot_path => "../snapshots" }, {
            insta::assert_snapshot!($name, $s);
        })
    };
}

fn rows() -> Vec<BoardRow> {
    vec![
        BoardRow {
            workspace: "network".into(),
            started_at: now() - Duration::minutes(12),
            duration_ms: 8_400,
            result: RunResult::InSync,
            drifted: 0,
            unattributed: 0,
            error: None,
            open_drifts: 0,
        },
        BoardRow {
            workspace: "shop".into(),
            started_at: now() - Duration::minutes(3),
            duration_ms: 41_250,
            result: RunResult::Drifted,
            drifted: 6,
            unattributed: 4,
            error: None,
            open_drifts: 5,
        },
        BoardRow {
            workspace: "shop-expired".into(),
            started_at: now() - Duration::seconds(30),
            duration_ms: 2_100,
            result: RunResult::Error,
            drifted: 0,
            unattributed: 0,
            error: Some(
                "No valid credential sources found\nError: failed to refresh cached credentials, no EC2 IMDS role found"
                    .into(),
            ),
            open_drifts: 0,
        },
    ]
}

/// The app with the view open and the board loaded.
fn opened() -> App {
    let mut app = app();
    app.effects.clear();
    key(&mut app, KeyCode::Char('W'));
    assert!(app.workspaces.open);
    assert!(
        app.effects.contains(&Effect::LoadWorkspaces),
        "opening the view asks the backend for the board: {:?}",
        app.effects
    );
    app.update(Action::WorkspaceRuns(Ok(rows())));
    app
}

#[test]
fn workspaces_80x24() {
    let mut app = opened();
    keys(&mut app, "jj");
    let s = screen(&app, 80, 24);
    assert!(s.contains("shop-expired"), "{s}");
    assert!(s.contains("error: No valid credential"), "{s}");
    // The selected workspace's reason in full under the table.
    assert!(s.contains("  No valid credential sources found"), "{s}");
    assert!(
        s.contains("Error: failed to refresh cached credentials"),
        "{s}"
    );
    snap!("workspaces_80x24", s);
}

#[test]
fn workspaces_200x50() {
    let mut app = opened();
    key(&mut app, KeyCode::Char('j'));
    let s = screen(&app, 200, 50);
    for want in [
        "in sync",
        "6 drifted",
        "error: No valid credential",
        "12m ago",
    ] {
        assert!(s.contains(want), "{want} missing:\n{s}");
    }
    snap!("workspaces_200x50", s);
}

#[test]
fn workspaces_empty_and_unreadable_say_so() {
    let mut app = app();
    key(&mut app, KeyCode::Char('W'));
    assert!(screen(&app, 80, 24).contains("Reading the reconcile board"));
    app.update(Action::WorkspaceRuns(Ok(Vec::new())));
    let s = screen(&app, 80, 24);
    assert!(s.contains("No reconcile run yet"), "{s}");
    app.update(Action::WorkspaceRuns(Err(
        "cannot read the reconcile board from the daemon: unavailable".into(),
    )));
    let s = screen(&app, 200, 50);
    assert!(s.contains("cannot read the reconcile board"), "{s}");
    snap!("workspaces_error_200x50", s);
}

#[test]
fn workspaces_keys_refresh_move_and_close() {
    let mut app = opened();
    assert_eq!(app.workspaces.sel, 0);
    keys(&mut app, "jjj");
    assert_eq!(app.workspaces.sel, 2, "j stops at the last row");
    key(&mut app, KeyCode::Char('k'));
    assert_eq!(app.workspaces.selected().unwrap().workspace, "shop");
    // While open, the tick asks for the board again (every 5 s), and r asks at once.
    app.effects.clear();
    app.update(Action::Tick(now() + Duration::seconds(1)));
    assert!(!app.effects.contains(&Effect::LoadWorkspaces));
    app.update(Action::Tick(now() + Duration::seconds(6)));
    assert!(app.effects.contains(&Effect::LoadWorkspaces));
    app.effects.clear();
    key(&mut app, KeyCode::Char('r'));
    assert_eq!(app.effects, vec![Effect::LoadWorkspaces]);
    // Feed keys do nothing here (a stray `a` acknowledges nothing).
    app.effects.clear();
    keys(&mut app, "ax");
    assert!(app.effects.is_empty(), "{:?}", app.effects);
    key(&mut app, KeyCode::Esc);
    assert!(!app.workspaces.open);
    key(&mut app, KeyCode::Char('W'));
    assert!(app.workspaces.open);
    key(&mut app, KeyCode::Char('W'));
    assert!(!app.workspaces.open, "W closes it too");
    // Closed: the tick asks for nothing.
    app.effects.clear();
    app.update(Action::Tick(now() + Duration::seconds(60)));
    assert!(!app.effects.contains(&Effect::LoadWorkspaces));
    // The help popup lists the view's keys.
    let help = ui::help_text(&app);
    assert!(
        help.contains("Workspaces (the reconcile status board, W)"),
        "{help}"
    );
    assert!(help.contains("Read the board again"), "{help}");
}

//! The team-mode monitor without a daemon: the header's link states at 80×24 and 200×50
//! (insta snapshots), a viewer token's refusal naming the role, and a snapshot / status
//! change from the stream landing in the feed with the token's name.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use chrono::{DateTime, TimeZone as _, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::{DaemonLink, LinkState};
use crate::alert::Alert;
use crate::tui::app::{Action, App, Meta};
use crate::tui::editor::{RuleEditor, YamlSyntax};
use crate::tui::feed::{Handled, Status};
use crate::tui::keymap::Keymap;
use crate::tui::theme::Theme;
use crate::tui::ui;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

fn alerts() -> Vec<Alert> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/aws-ec2/alerts.jsonl");
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn link(state: LinkState, role: &str) -> DaemonLink {
    DaemonLink {
        addr: "tfdrift.internal:7443".into(),
        state,
        caller: Some(("alice".into(), role.into())),
        version: "0.1.0".into(),
        profile: "prod".into(),
        started: Some(now() - chrono::Duration::minutes(42)),
    }
}

/// A monitor attached to a daemon, as the runtime sets it up, before the snapshot.
fn bare(l: DaemonLink) -> App {
    let editor = RuleEditor::with_text(
        PathBuf::from("rules/local.yaml"),
        "",
        "new file".into(),
        Box::new(YamlSyntax),
    );
    let meta = Meta {
        profile: "tfdrift.internal:7443".into(),
        store: Some("daemon https://tfdrift.internal:7443".into()),
        daemon: Some(DaemonLink::connecting("https://tfdrift.internal:7443")),
        ..Meta::default()
    };
    let mut app = App::new(
        meta,
        Keymap::default_keymap(),
        Theme::default_theme(),
        editor,
        now(),
    );
    crate::tui::run::apply_link(&mut app, l);
    app
}

/// The same with the daemon's alerts.
fn attached(l: DaemonLink) -> App {
    let mut app = bare(l);
    let list = alerts()
        .into_iter()
        .map(|a| (a, Status::New, None))
        .collect();
    app.update(Action::Restored(list));
    // The header is what these snapshots are about; the feed under it shows the alerts.
    app.update(Action::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char('v'),
    )));
    assert_eq!(app.view, crate::tui::app::View::Feed);
    app.message = None;
    app
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, app)).unwrap();
    t.backend().to_string()
}

fn both(name: &str, app: &App) {
    insta::assert_snapshot!(format!("{name}_80x24"), screen(app, 80, 24));
    insta::assert_snapshot!(format!("{name}_200x50"), screen(app, 200, 50));
}

#[test]
fn header_connected() {
    let app = attached(link(LinkState::Connected, "responder"));
    let s = screen(&app, 200, 50);
    assert!(
        s.contains("⇄ daemon tfdrift.internal:7443 · alice (responder)"),
        "{s}"
    );
    assert!(!s.contains("READ-ONLY"), "{s}");
    both("header_connected", &app);
}

#[test]
fn header_reconnecting() {
    let app = attached(link(
        LinkState::Reconnecting {
            at: now() + chrono::Duration::seconds(4),
            why: "cannot connect to the daemon at https://tfdrift.internal:7443: connection refused (is `tfdrift serve` running there?)".into(),
        },
        "responder",
    ));
    let s = screen(&app, 200, 50);
    assert!(
        s.contains("reconnecting in 4 s (connection refused)"),
        "{s}"
    );
    both("header_reconnecting", &app);
}

#[test]
fn header_refused() {
    let mut l = link(
        LinkState::Refused(
            "refused by the daemon (UNAUTHENTICATED): the API token is not known to this daemon (mistyped, revoked, or made for another daemon): ask its admin for a token".into(),
        ),
        "responder",
    );
    l.caller = None;
    let app = attached(l);
    let s = screen(&app, 200, 50);
    assert!(
        s.contains("refused: the API token is not known to this daemon"),
        "{s}"
    );
    both("header_refused", &app);
}

#[test]
fn header_viewer_is_read_only_and_refuses_the_ack_naming_the_role() {
    let mut app = attached(link(LinkState::Connected, "viewer"));
    assert!(app.meta.readonly, "a viewer token forces read-only");
    let s = screen(&app, 200, 50);
    assert!(s.contains("READ-ONLY"), "{s}");
    assert!(s.contains("alice (viewer)"), "{s}");
    both("header_viewer", &app);
    let before = app.feed.at(app.sel).unwrap().status;
    app.update(Action::Key(KeyEvent::new(
        KeyCode::Char('a'),
        KeyModifiers::NONE,
    )));
    assert_eq!(app.feed.at(app.sel).unwrap().status, before);
    assert!(app.effects.is_empty(), "nothing is sent to the daemon");
    let (msg, err) = app.message.clone().unwrap();
    assert!(
        err && msg.contains("viewer role") && msg.contains("'alice'"),
        "{msg}"
    );
}

#[test]
fn a_status_change_from_the_stream_shows_who_the_daemon_recorded() {
    let mut app = attached(link(LinkState::Connected, "responder"));
    let id = app.feed.at(0).unwrap().alert.id.clone();
    let at = now();
    app.update(Action::StatusChanged(
        id.clone(),
        Status::Acked,
        Some(Handled {
            who: "rita".into(),
            at,
        }),
    ));
    let e = (0..app.feed.total())
        .filter_map(|i| app.feed.entry(u32::try_from(i).unwrap()))
        .find(|e| e.alert.id == id)
        .unwrap();
    assert_eq!(e.status, Status::Acked);
    assert_eq!(e.by.as_ref().unwrap().who, "rita");
    // An unknown id changes nothing.
    assert!(!app.update(Action::StatusChanged("nope".into(), Status::Acked, None)));
}

#[test]
fn a_snapshot_fills_the_feed_with_statuses_drifts_and_counters() {
    use crate::api::proto as pb;
    let list = alerts();
    let first = list[0].clone();
    let snap = pb::Snapshot {
        cursor: 7,
        alerts: list
            .iter()
            .rev()
            .map(|a| pb::Alert {
                id: a.id.clone(),
                json: serde_json::to_string(a).unwrap(),
                status: Some(pb::AlertStatus {
                    state: if a.id == first.id {
                        pb::AlertState::Acknowledged.into()
                    } else {
                        pb::AlertState::New.into()
                    },
                    who: if a.id == first.id {
                        "rita".into()
                    } else {
                        String::new()
                    },
                    at: "2026-11-27T11:00:00Z".into(),
                    ..pb::AlertStatus::default()
                }),
            })
            .collect(),
        stats_json: r#"{"records_read": 12, "parsed": 11}"#.into(),
        ..pb::Snapshot::default()
    };
    let events = super::remote::translate(pb::WatchEvent {
        cursor: 7,
        item: Some(pb::watch_event::Item::Snapshot(snap)),
    });
    let mut app = bare(link(LinkState::Connected, "responder"));
    for e in events {
        if let super::Event::Action(a) = e {
            app.update(a);
        }
    }
    assert_eq!(app.feed.total(), list.len());
    assert_eq!(app.stats.records_read, 12);
    let e = (0..app.feed.total())
        .filter_map(|i| app.feed.entry(u32::try_from(i).unwrap()))
        .find(|e| e.alert.id == first.id)
        .unwrap();
    assert_eq!(e.status, Status::Acked);
    assert_eq!(e.by.as_ref().unwrap().who, "rita");
}

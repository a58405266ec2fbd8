//! The Now board (open drifts, worst first, grouped by resource), the feed grouped by drift and
//! by actor session, the "N new ↑" badge and copy as Markdown: snapshots at 80×24 and 200×50,
//! and what each key does to the state.

use chrono::Duration;
use crossterm::event::KeyCode;
use tfdrift::alert::{Alert, Severity, Via};
use tfdrift::drift::{Drift, Status as DriftStatus};
use tfdrift::store::DriftAction;
use tfdrift::tui::app::{Action, App, Effect, Focus, InputKind, View};
use tfdrift::tui::feed::{Handled, Status};
use tfdrift::tui::group::GroupBy;
use tfdrift::tui::now::BoardRow;

use super::{app, app_with, golden_alerts, key, keys, now, render, screen};

/// Snapshots beside the others, in `tests/snapshots/`.
macro_rules! snap {
    ($name:expr, $s:expr) => {
        insta::with_settings!({ snapshot_path => "../snapshots" }, {
            insta::assert_snapshot!($name, $s);
        })
    };
}

/// The drifts the store would hold for these alerts: one per `drift_id`, occurrences counted,
/// the newest alert the latest.
pub fn drifts_from(alerts: &[Alert]) -> Vec<Drift> {
    let mut sorted: Vec<&Alert> = alerts.iter().collect();
    sorted.sort_by_key(|a| a.time);
    let mut out: Vec<Drift> = Vec::new();
    for a in sorted {
        let id = a.drift_id.clone().expect("golden alerts carry drift ids");
        let actor = tfdrift::tui::feed::actor_label(a).to_string();
        if let Some(d) = out.iter_mut().find(|d| d.id == id) {
            d.occurrences += 1;
            d.last_seen = a.time;
            d.last_alert_id.clone_from(&a.id);
            if let Some(diff) = a.diffs.first() {
                d.observed.clone_from(&diff.observed);
            }
            d.severity = d.severity.max(a.severity);
            d.actors.retain(|x| *x != actor);
            d.actors.push(actor);
            d.updated_at = a.time;
            continue;
        }
        let diff = a.diffs.first();
        out.push(Drift {
            id,
            key: String::new(),
            kind: a.kind.as_str().into(),
            provider: a.provider.clone(),
            rtype: a.resource.rtype.clone(),
            resource_id: a.resource.id.clone(),
            address: a.resource.address.clone(),
            attribute: diff.map(|d| d.path.clone()).unwrap_or_default(),
            status: DriftStatus::Open,
            snoozed_until: None,
            first_seen: a.time,
            last_seen: a.time,
            occurrences: 1,
            episode: 1,
            actors: vec![actor],
            observed: diff.map(|d| d.observed.clone()).unwrap_or_default(),
            state_value: diff.map(|d| d.state.clone()).unwrap_or_default(),
            severity: a.severity,
            rules: a.rules.clone(),
            last_alert_id: a.id.clone(),
            resolved_at: None,
            resolved_reason: None,
            resolved_by: None,
            updated_at: a.time,
            channels: Vec::new(),
        });
    }
    out
}

fn drift_mut<'a>(drifts: &'a mut [Drift], addr: &str, attr: &str) -> &'a mut Drift {
    drifts
        .iter_mut()
        .find(|d| d.address.as_deref() == Some(addr) && d.attribute == attr)
        .unwrap_or_else(|| panic!("no drift {addr} {attr}"))
}

/// A board with every status: a critical open security group (two drifts), an acknowledged
/// instance type, a snoozed role policy, unmanaged and deleted resources.
fn mixed() -> App {
    let mut app = app();
    app.view = View::Now;
    let mut drifts = drifts_from(&golden_alerts());
    drift_mut(&mut drifts, "aws_security_group.myapp-sg", "ingress").severity = Severity::Critical;
    let acked = drift_mut(&mut drifts, "aws_instance.web", "instance_type");
    acked.status = DriftStatus::Acknowledged;
    acked.updated_at = now() - Duration::minutes(20);
    let acked_id = acked.id.clone();
    let snoozed = drift_mut(&mut drifts, "aws_iam_role.role", "assume_role_policy");
    snoozed.status = DriftStatus::Snoozed;
    snoozed.severity = Severity::High;
    snoozed.snoozed_until = Some(now() + Duration::hours(2));
    let snoozed_id = snoozed.id.clone();
    app.update(Action::Drifts(drifts));
    // Who handled them (this monitor remembers what it did; the stored row keeps no name).
    for (id, who) in [(acked_id, "alice (tui)"), (snoozed_id, "bob (tui)")] {
        app.now_board.known.entry(id).or_default().by = Some(Handled {
            who: who.into(),
            at: now() - Duration::minutes(20),
        });
    }
    app
}

fn drift_acts(app: &App) -> Vec<(String, DriftAction)> {
    app.effects
        .iter()
        .filter_map(|e| match e {
            Effect::DriftAct { id, action, .. } => Some((id.clone(), *action)),
            _ => None,
        })
        .collect()
}

/// Selects the first row of the drift `attr` of `addr`.
fn select_drift(app: &mut App, addr: &str, attr: &str) -> String {
    key(app, KeyCode::Char('g'));
    for _ in 0..app.now_board.rows.len() {
        if let Some(BoardRow::Drift(i)) = app.now_board.rows.get(app.now_board.sel) {
            let d = &app.drifts[*i];
            if d.address.as_deref() == Some(addr) && d.attribute == attr {
                return d.id.clone();
            }
        }
        key(app, KeyCode::Char('j'));
    }
    panic!("no row for {addr} {attr}");
}

#[test]
fn now_board_empty() {
    let mut app = app();
    app.view = View::Now;
    let s = screen(&app, 80, 24);
    assert!(s.contains("No open drifts — 20 alerts in the feed"), "{s}");
    snap!("now_board_empty_80x24", s);
    let mut fresh = app_with("");
    fresh.meta.store = Some("/tmp/x.db".into());
    fresh.view = View::Now;
    let s = screen(&fresh, 200, 50);
    assert!(s.contains("No open drifts — 0 alerts in the feed"), "{s}");
    assert!(s.contains("42 events read, 40 parsed"), "{s}");
    snap!("now_board_empty_200x50", s);
}

#[test]
fn now_board_mixed() {
    let mut app = mixed();
    let s = screen(&app, 200, 50);
    let title = s.lines().nth(1).unwrap();
    assert!(
        title.contains("Now board · 18 open · 2 critical · 1 acknowledged · 1 snoozed"),
        "{title}"
    );
    // Worst first: the critical security group leads; its two drifts follow its row.
    let body: Vec<&str> = s.lines().skip(3).take(4).collect();
    assert!(
        body[0].contains("aws_security_group.myapp-sg · 2 drifts"),
        "{s}"
    );
    assert!(
        body[1].contains("├ ingress") && body[1].contains("×3"),
        "{s}"
    );
    assert!(body[2].contains("└ tags.Name"), "{s}");
    assert!(s.contains("A acked by alice 11:40"), "{s}");
    assert!(s.contains("Z until 14:00 by bob"), "{s}");
    snap!("now_board_mixed_200x50", s);
    select_drift(&mut app, "aws_security_group.myapp-sg", "ingress");
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("Drift  aws_security_group.myapp-sg ingress"),
        "{s}"
    );
    snap!("now_board_mixed_80x24", s);
}

#[test]
fn now_board_group_row() {
    let mut app = mixed();
    key(&mut app, KeyCode::Char('g'));
    assert!(app.board_on_resource());
    let s80 = screen(&app, 80, 24);
    assert!(s80.contains("▶ "), "{s80}");
    snap!("now_board_group_row_80x24", s80);
    // Down to the acknowledged instance's resource row (a group of four drifts).
    while !matches!(
        app.now_board.rows.get(app.now_board.sel),
        Some(BoardRow::Resource { label, .. }) if label == "aws_instance.web"
    ) {
        key(&mut app, KeyCode::Char('j'));
    }
    snap!("now_board_group_row_200x50", screen(&app, 200, 50));
}

#[test]
fn board_order_is_worst_then_unhandled_then_newest() {
    let app = mixed();
    let order: Vec<(Severity, bool)> = app
        .now_board
        .rows
        .iter()
        .filter_map(|r| match r {
            BoardRow::Drift(i) => Some(&app.drifts[*i]),
            BoardRow::Resource { .. } => None,
        })
        .map(|d| (d.severity, d.status == DriftStatus::Open))
        .collect();
    assert_eq!(order.len(), app.drifts.len(), "every drift has a row");
    // Resource rows follow their worst drift: the first row of each group is no better than
    // the previous group's first.
    let firsts: Vec<_> = app
        .now_board
        .rows
        .iter()
        .filter_map(|r| match r {
            BoardRow::Resource { members, .. } => {
                Some(tfdrift::tui::now::rank(&app.drifts[members[0]]))
            }
            BoardRow::Drift(_) => None,
        })
        .collect();
    assert!(firsts.windows(2).all(|w| w[0] <= w[1]), "{firsts:?}");
    assert_eq!(order[0], (Severity::Critical, true));
}

/// Each write key on the board emits `Effect::DriftAct` for the selected drift; on a resource
/// row, one per drift of the resource. `s` asks for the duration first.
#[test]
fn board_write_keys_emit_drift_act() {
    let mut app = mixed();
    let id = select_drift(&mut app, "aws_security_group.myapp-sg", "ingress");
    key(&mut app, KeyCode::Char('a'));
    assert_eq!(
        drift_acts(&app),
        vec![(id.clone(), DriftAction::Acknowledge)]
    );
    app.effects.clear();
    key(&mut app, KeyCode::Char('x'));
    assert_eq!(drift_acts(&app), vec![(id.clone(), DriftAction::Resolve)]);
    app.effects.clear();
    key(&mut app, KeyCode::Char('s'));
    assert!(drift_acts(&app).is_empty(), "s asks how long first");
    assert_eq!(app.input, Some((InputKind::Command, "snooze 1h".into())));
    for _ in 0.."1h".len() {
        key(&mut app, KeyCode::Backspace);
    }
    keys(&mut app, "30m");
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        drift_acts(&app),
        vec![(
            id.clone(),
            DriftAction::Snooze(now() + Duration::minutes(30))
        )]
    );
    assert!(
        app.message.as_ref().unwrap().0.contains("snoozed for 30m"),
        "{:?}",
        app.message
    );
    app.effects.clear();
    // A resource row: each of its drifts.
    key(&mut app, KeyCode::Char('g'));
    key(&mut app, KeyCode::Char('a'));
    let acts = drift_acts(&app);
    assert_eq!(acts.len(), 2, "{acts:?}");
    assert!(acts.iter().all(|(_, a)| *a == DriftAction::Acknowledge));
    // The store answers: the drift comes back acknowledged and the row says by whom.
    let mut d = app.drifts.iter().find(|d| d.id == id).unwrap().clone();
    d.status = DriftStatus::Acknowledged;
    d.updated_at = now();
    app.update(Action::DriftChanged(Box::new(d)));
    let s = screen(&app, 200, 50);
    let who = tfdrift::tui::run::who();
    let who = who.trim_end_matches(" (tui)");
    assert!(s.contains(&format!("A acked by {who} 12:00")), "{s}");
    // An acknowledged drift is not acknowledged again.
    app.effects.clear();
    select_drift(&mut app, "aws_instance.web", "instance_type");
    key(&mut app, KeyCode::Char('a'));
    assert!(drift_acts(&app).is_empty());
    assert!(
        app.message
            .as_ref()
            .unwrap()
            .0
            .contains("Already acknowledged")
    );
    // Resolved: the drift stays, fading, and is not acted on again; it leaves after FADE.
    let mut gone = app.drifts.iter().find(|d| d.id == id).unwrap().clone();
    gone.status = DriftStatus::Resolved;
    let before = app.drifts.len();
    app.update(Action::DriftChanged(Box::new(gone)));
    assert_eq!(app.drifts.len(), before);
    app.effects.clear();
    select_drift(&mut app, "aws_security_group.myapp-sg", "ingress");
    key(&mut app, KeyCode::Char('x'));
    assert!(drift_acts(&app).is_empty(), "{:?}", app.effects);
    app.update(Action::Tick(now() + tfdrift::tui::now::FADE));
    assert_eq!(app.drifts.len(), before - 1);
    assert!(app.drifts.iter().all(|d| d.id != id));
}

#[test]
fn board_write_keys_are_refused_read_only() {
    let mut app = mixed();
    app.meta.readonly = true;
    select_drift(&mut app, "aws_security_group.myapp-sg", "ingress");
    for k in ['a', 's', 'x'] {
        key(&mut app, KeyCode::Char(k));
        assert!(app.input.is_none(), "{k}: no prompt");
        assert!(
            app.message
                .as_ref()
                .is_some_and(|m| m.0.starts_with("Read-only")),
            "{k}: {:?}",
            app.message
        );
    }
    app.run_command(":snooze 2h");
    app.run_command(":ack");
    app.run_command(":resolve");
    assert!(drift_acts(&app).is_empty(), "{:?}", app.effects);
    let hints = tfdrift::tui::ui::hint_text(&app);
    assert!(
        !hints.contains("a ack") && hints.contains("v now/feed"),
        "{hints}"
    );
}

/// Enter lists the drift's occurrences (asked of the backend), newest first, with time, actor,
/// via, event and the value observed; the details follow the selected one, Enter focuses them,
/// Esc goes back to the list, Esc again to the board.
#[test]
fn enter_lists_the_drifts_occurrences() {
    let mut app = mixed();
    let id = select_drift(&mut app, "aws_security_group.myapp-sg", "ingress");
    let board_sel = app.now_board.sel;
    // Without Enter the details show the drift's latest alert, as before.
    let last = app
        .drifts
        .iter()
        .find(|d| d.id == id)
        .unwrap()
        .last_alert_id
        .clone();
    assert_eq!(app.selected().unwrap().id, last);
    app.effects.clear();
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        app.effects,
        vec![Effect::LoadOccurrences {
            drift_id: id.clone()
        }]
    );
    assert_eq!(app.focus, Focus::Feed, "the list first, not the details");
    let s = screen(&app, 80, 24);
    assert!(s.contains("Reading the drift's occurrences"), "{s}");
    // The backend answers (in any order): the drift's alerts.
    let mut mine: Vec<Alert> = golden_alerts()
        .into_iter()
        .filter(|a| a.drift_id.as_deref() == Some(id.as_str()))
        .collect();
    assert_eq!(
        mine.len(),
        3,
        "the golden ingress drift has three occurrences"
    );
    mine.sort_by_key(|a| a.time);
    let oldest = mine[0].id.clone();
    // An answer for another drift is dropped.
    assert!(!app.update(Action::Occurrences {
        drift_id: "drf-other".into(),
        result: Ok(Vec::new()),
    }));
    app.update(Action::Occurrences {
        drift_id: id.clone(),
        result: Ok(mine.clone()),
    });
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("Occurrences · aws_security_group.myapp-sg ingress · ×3"),
        "{s}"
    );
    assert!(s.contains("TIME") && s.contains("OBSERVED"), "{s}");
    snap!("now_board_occurrences_80x24", s);
    // Newest first; the details follow the selection.
    assert_eq!(app.selected().unwrap().id, last);
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(app.selected().unwrap().id, oldest);
    snap!("now_board_occurrences_200x50", screen(&app, 200, 50));
    // Enter: the details of that occurrence; Esc back to the list, Esc again to the board.
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.focus, Focus::Detail);
    assert_eq!(app.selected().unwrap().id, oldest);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.focus, Focus::Feed);
    assert!(app.now_board.occurrences.is_some(), "back on the list");
    key(&mut app, KeyCode::Esc);
    assert!(app.now_board.occurrences.is_none());
    assert_eq!(
        app.now_board.sel, board_sel,
        "the board keeps its selection"
    );
    assert_eq!(app.selected().unwrap().id, last);
    // A failure says why.
    key(&mut app, KeyCode::Enter);
    app.update(Action::Occurrences {
        drift_id: id.clone(),
        result: Err("the daemon: connection refused".into()),
    });
    let s = screen(&app, 200, 50);
    assert!(
        s.contains("The occurrences cannot be read: the daemon: connection refused"),
        "{s}"
    );
}

/// The drift's latest alert, when the feed does not hold it, is re-read from the store for the
/// details (the board's selection, before any Enter).
#[test]
fn board_rereads_a_latest_alert_the_feed_lacks() {
    let mut other = app_with("");
    other.view = View::Now;
    let alerts = golden_alerts();
    other.update(Action::Drifts(drifts_from(&alerts)));
    key(&mut other, KeyCode::Char('j'));
    let wanted = other
        .now_board
        .target
        .as_ref()
        .map(|t| t.alert_id.clone())
        .unwrap();
    assert!(
        other
            .effects
            .iter()
            .any(|e| matches!(e, Effect::LoadAlert { id } if *id == wanted)),
        "{:?}",
        other.effects
    );
    assert!(other.selected().is_none());
    let alert = alerts.iter().find(|a| a.id == wanted).unwrap().clone();
    other.update(Action::AlertLoaded(Box::new(alert)));
    assert_eq!(other.selected().unwrap().id, wanted);
    assert!(other.detail.is_some(), "the diff is computed");
}

/// A drift that resolves while the monitor is open stays on the board, dimmed, below the open
/// drifts, with how and by whom it ended ("resolved · reverted by bob 2m ago"), then leaves
/// after `FADE`. One that comes back open is an open drift again.
#[test]
fn resolved_drifts_fade_out_with_their_reason() {
    use tfdrift::drift::Reason;
    let mut app = mixed();
    let open_before = tfdrift::tui::now::NowBoard::counts(&app.drifts).0;
    let mut d = drift_mut(
        &mut app.drifts.clone(),
        "aws_security_group.myapp-sg",
        "ingress",
    )
    .clone();
    d.status = DriftStatus::Resolved;
    d.resolved_reason = Some(Reason::Reverted);
    d.resolved_by = Some("bob".into());
    d.resolved_at = Some(now() - Duration::minutes(2));
    app.update(Action::DriftChanged(Box::new(d.clone())));
    // Still there, counted as neither open nor critical.
    assert!(app.drifts.iter().any(|x| x.id == d.id));
    let (open, critical, _, _) = tfdrift::tui::now::NowBoard::counts(&app.drifts);
    assert_eq!(open, open_before - 1);
    assert_eq!(critical, 1, "the resolved critical drift no longer counts");
    // Below every open drift: its resource row (now only resolved) comes last.
    let last_drift = app
        .now_board
        .rows
        .iter()
        .rev()
        .find_map(|r| match r {
            BoardRow::Drift(i) => Some(&app.drifts[*i]),
            BoardRow::Resource { .. } => None,
        })
        .unwrap();
    assert_eq!(last_drift.id, d.id, "resolved sorts below open drifts");
    // The last rows: the resolved drift under its own resource row (selected, not dimmed).
    key(&mut app, KeyCode::Char('G'));
    let _ = screen(&app, 200, 50); // scrolls the last row into view
    key(&mut app, KeyCode::Char('k'));
    assert!(app.board_on_resource());
    let s = screen(&app, 200, 50);
    assert!(s.contains("resolved · reverted by bob 2m ago"), "{s}");
    snap!("now_board_resolved_fading_200x50", s);
    // Dimmed: the row's cells carry DIM (unless selected).
    let t = render(&app, 200, 50);
    let buf = t.backend().buffer();
    let row = (0..50u16)
        .find(|y| {
            (0..200u16)
                .map(|x| buf[(x, *y)].symbol().to_string())
                .collect::<String>()
                .contains("└ ingress")
        })
        .unwrap();
    let cell = (0..200u16)
        .map(|x| &buf[(x, row)])
        .find(|c| c.symbol() == "r")
        .unwrap();
    assert!(
        cell.modifier.contains(ratatui::style::Modifier::DIM),
        "{cell:?}"
    );
    // At 80 columns the reason still shows on the row.
    key(&mut app, KeyCode::Char('j'));
    let s = screen(&app, 80, 24);
    let row = s
        .lines()
        .find(|l| l.contains("└ ingress"))
        .unwrap_or_else(|| panic!("{s}"));
    assert!(row.contains("resolved · reverted by bob 2m"), "{s}");
    snap!("now_board_resolved_fading_80x24", s);
    // A reload of the open set (which no longer holds it) keeps it while it fades.
    let open_set: Vec<Drift> = app
        .drifts
        .iter()
        .filter(|x| x.is_unresolved())
        .cloned()
        .collect();
    app.update(Action::Drifts(open_set.clone()));
    assert!(app.drifts.iter().any(|x| x.id == d.id));
    // Nine minutes on: still there; ten: gone.
    app.update(Action::Tick(now() + Duration::minutes(9)));
    assert!(app.drifts.iter().any(|x| x.id == d.id));
    let s = screen(&app, 200, 50);
    assert!(s.contains("resolved · reverted by bob 11m ago"), "{s}");
    app.update(Action::Tick(now() + tfdrift::tui::now::FADE));
    assert!(app.drifts.iter().all(|x| x.id != d.id), "faded out");
    assert!(!screen(&app, 200, 50).contains("reverted by bob"));
    // The in-process backend reports a drift that left the open set as stored (resolved).
    let mut app = mixed();
    let mut e = drift_mut(&mut app.drifts.clone(), "aws_instance.web", "instance_type").clone();
    let mut list: Vec<Drift> = app
        .drifts
        .iter()
        .filter(|x| x.id != e.id)
        .cloned()
        .collect();
    e.status = DriftStatus::Resolved;
    e.resolved_reason = Some(Reason::Applied);
    e.resolved_by = Some("terraform".into());
    e.resolved_at = Some(now());
    list.push(e.clone());
    app.update(Action::Drifts(list));
    let shown = app.drifts.iter().find(|x| x.id == e.id).unwrap();
    assert_eq!(
        tfdrift::tui::now::status_text(shown, &tfdrift::tui::now::Known::default(), app.now),
        "resolved · applied by terraform 0s ago"
    );
    // A resolved drift the board never showed open is not shown.
    let mut stranger = e.clone();
    stranger.id = "drf-never-seen".into();
    app.update(Action::DriftChanged(Box::new(stranger)));
    assert!(app.drifts.iter().all(|x| x.id != "drf-never-seen"));
    // It recurs: open again, no longer fading.
    let mut back = e.clone();
    back.status = DriftStatus::Open;
    back.resolved_reason = None;
    app.update(Action::DriftChanged(Box::new(back)));
    app.update(Action::Tick(now() + tfdrift::tui::now::FADE * 2));
    assert!(app.drifts.iter().any(|x| x.id == e.id && x.is_unresolved()));
}

#[test]
fn view_key_switches_board_and_feed_and_hints_follow() {
    let mut app = mixed();
    let hints = tfdrift::tui::ui::hint_text(&app);
    assert!(
        hints.contains("a ack") && hints.contains("v now/feed") && hints.contains("enter open"),
        "{hints}"
    );
    key(&mut app, KeyCode::Char('v'));
    assert_eq!(app.view, View::Feed);
    assert!(screen(&app, 80, 24).contains("Drift feed"));
    let hints = tfdrift::tui::ui::hint_text(&app);
    assert!(hints.contains("b group"), "{hints}");
    key(&mut app, KeyCode::Char('v'));
    assert_eq!(app.view, View::Now);
    let help = tfdrift::tui::ui::help_text(&app);
    assert!(help.contains("Now board (open drifts"), "{help}");
    // No key of the board or the feed shadows a global one, and none is bound twice.
    for ctx in [
        tfdrift::tui::keymap::Context::Now,
        tfdrift::tui::keymap::Context::Feed,
        tfdrift::tui::keymap::Context::Detail,
    ] {
        let mut seen = std::collections::HashSet::new();
        for b in app.keymap.bindings(ctx) {
            for k in &b.keys {
                assert!(
                    seen.insert(k.clone()),
                    "{} bound twice in {}",
                    k,
                    ctx.as_str()
                );
                let global = app
                    .keymap
                    .bindings(tfdrift::tui::keymap::Context::Global)
                    .any(|g| g.keys.contains(k));
                // The details' `i` edits the Rules tab (elsewhere: the enrichment tab).
                assert!(
                    !global || (k == "i" && b.action == "edit"),
                    "{k} in {} shadows a global key",
                    ctx.as_str()
                );
            }
        }
    }
}

fn console_session() -> Vec<Alert> {
    let base = golden_alerts();
    let mut out = Vec::new();
    // alice clicks through the console for 12 minutes: 40 changes.
    for i in 0..40u32 {
        let mut a = base[(i as usize) % base.len()].clone();
        a.id = format!("alice-{i}");
        a.time = now() - Duration::hours(2) + Duration::seconds(i64::from(i) * 18);
        a.actor.session = Some("alice".into());
        a.actor.email = None;
        a.actor.via = Via::Console;
        a.severity = if i % 10 == 0 {
            Severity::Critical
        } else {
            Severity::Medium
        };
        out.push(a);
    }
    // bob from the CLI meanwhile, and alice again an hour later.
    for (i, (who, via, min)) in [
        ("bob", Via::Cli, 3),
        ("bob", Via::Cli, 5),
        ("alice", Via::Console, 75),
    ]
    .into_iter()
    .enumerate()
    {
        let mut a = base[i].clone();
        a.id = format!("{who}-late-{i}");
        a.time = now() - Duration::hours(2) + Duration::minutes(min);
        a.actor.session = Some(who.into());
        a.actor.email = None;
        a.actor.via = via;
        a.severity = Severity::Low;
        out.push(a);
    }
    out
}

/// Issue 16: a 40-change console session is one row; Enter expands it; ack applies to its
/// alerts.
#[test]
fn feed_grouped_by_session() {
    let mut app = app_with("");
    app.update(Action::Alerts(console_session()));
    key(&mut app, KeyCode::Char('b'));
    assert_eq!(app.groups.by, GroupBy::Drift);
    key(&mut app, KeyCode::Char('b'));
    assert_eq!(app.groups.by, GroupBy::Session);
    assert_eq!(app.groups.rows.len(), 3, "{:?}", app.groups.groups);
    let s = screen(&app, 200, 50);
    assert!(
        s.contains("alice · console · 10:00–10:11 · 40 changes · 4 critical · 40 new"),
        "{s}"
    );
    snap!("feed_grouped_by_session_200x50", s);
    // The session row; Enter expands it.
    while app
        .groups
        .selected_group()
        .is_none_or(|g| g.members.len() != 40)
    {
        key(&mut app, KeyCode::Char('j'));
    }
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.groups.rows.len(), 43);
    snap!(
        "feed_grouped_by_session_expanded_80x24",
        screen(&app, 80, 24)
    );
    // Ack on the group: its 40 alerts; again: back to new.
    key(&mut app, KeyCode::Char('a'));
    assert_eq!(app.feed.counts().unhandled, 3);
    assert!(
        app.message
            .as_ref()
            .unwrap()
            .0
            .starts_with("40 alerts of the group acknowledged")
    );
    key(&mut app, KeyCode::Char('a'));
    assert_eq!(app.feed.counts().unhandled, 43);
    // Snooze on the group, with a store: one save per alert.
    app.meta.store = Some("/tmp/x.db".into());
    app.effects.clear();
    key(&mut app, KeyCode::Char('s'));
    let saved = app
        .effects
        .iter()
        .filter(|e| {
            matches!(
                e,
                Effect::Persist {
                    status: Status::Snoozed(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(saved, 40);
    // A member row acts on that alert only.
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('x'));
    assert_eq!(
        app.feed
            .entry(app.selected_index().unwrap())
            .unwrap()
            .status,
        Status::Resolved
    );
    key(&mut app, KeyCode::Char('b'));
    assert_eq!(app.groups.by, GroupBy::None);
    assert!(screen(&app, 80, 24).contains("Drift feed"));
}

#[test]
fn feed_grouped_by_drift() {
    let mut app = app();
    key(&mut app, KeyCode::Char('b'));
    // 20 alerts of 18 drifts: the security group's ingress is one row × 3.
    assert_eq!(app.groups.groups.len(), 18);
    let s = screen(&app, 200, 50);
    assert!(
        s.contains("× 3 · aws_security_group.myapp-sg · ingress · first 09:01 · last 09:45"),
        "{s}"
    );
    snap!("feed_grouped_by_drift_200x50", s);
    snap!("feed_grouped_by_drift_80x24", screen(&app, 80, 24));
}

/// "N new ↑" when follow is off and alerts arrived.
#[test]
fn new_alerts_badge_when_not_following() {
    let mut app = app_with("");
    let mut alerts = golden_alerts();
    let later = alerts.split_off(10);
    app.update(Action::Alerts(alerts));
    assert!(!screen(&app, 120, 24).contains("new ↑"));
    key(&mut app, KeyCode::Char('j'));
    assert!(!app.follow);
    app.update(Action::Alerts(later));
    let s = screen(&app, 120, 24);
    assert!(s.contains("· 10 new ↑"), "{s}");
    key(&mut app, KeyCode::Char('f'));
    assert!(!screen(&app, 120, 24).contains("new ↑"));
}

fn copied(app: &App) -> (&'static str, String) {
    app.effects
        .iter()
        .find_map(|e| match e {
            Effect::Copy { what, text } => Some((*what, text.clone())),
            _ => None,
        })
        .expect("a copy")
}

#[test]
fn copy_as_markdown_from_board_feed_and_alert() {
    let mut app = mixed();
    key(&mut app, KeyCode::Char('M'));
    let (what, text) = copied(&app);
    assert_eq!(what, "Now board as Markdown");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "**Open drifts (test): 18 open · 2 critical · 1 acknowledged · 1 snoozed — 2026-11-27 12:00 UTC**"
    );
    assert!(lines[2].starts_with("| Severity | Resource | Attribute | Status |"));
    assert!(
        lines[4].starts_with("| critical | `aws_security_group.myapp-sg` | `ingress` | ● open |"),
        "{text}"
    );
    assert_eq!(lines.len(), 4 + 18, "one row per drift:\n{text}");
    assert!(text.contains("| A acked by alice 11:40 |"), "{text}");
    // The feed, filtered.
    app.effects.clear();
    key(&mut app, KeyCode::Char('v'));
    app.set_filter_text("sev:high");
    key(&mut app, KeyCode::Char('M'));
    let (what, text) = copied(&app);
    assert_eq!(what, "feed as Markdown");
    assert!(
        text.starts_with("**Drift feed (test): 2 of 20 alerts, filter `sev:high`**"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 4 + 2, "{text}");
    // One alert, from the details.
    app.effects.clear();
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('M'));
    let (what, text) = copied(&app);
    assert_eq!(what, "alert as Markdown");
    let a = app.selected().unwrap();
    assert!(text.starts_with("| Field | Value |\n|---|---|\n"), "{text}");
    assert!(text.contains(&format!("| Alert | {} |", a.id)), "{text}");
    assert!(text.contains("| Fix | `"), "{text}");
}

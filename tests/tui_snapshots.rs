//! Whole-screen snapshots of every pane and popup (ratatui `TestBackend`, fixed sizes, fixed
//! clock, alerts from the golden fixtures) plus behaviour checks on the `App` state.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![cfg(feature = "tui")]

use crate::common::tier;

#[path = "tui_snapshots/board.rs"]
mod board;
#[path = "tui_snapshots/workspaces.rs"]
mod workspaces;
use board::drifts_from;

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tfdrift::alert::{Alert, Severity};
use tfdrift::pipeline::Stats;
use tfdrift::tui::app::{Action, App, Effect, Focus, Meta, Tab, View};
use tfdrift::tui::editor::{RuleEditor, YamlSyntax};
use tfdrift::tui::keymap::Keymap;
use tfdrift::tui::logs::LogLine;
use tfdrift::tui::theme::Theme;
use tfdrift::tui::ui;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

fn golden_alerts() -> Vec<Alert> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut out = Vec::new();
    for case in ["aws-ec2", "aws-policies", "gcp"] {
        let text = std::fs::read_to_string(root.join(case).join("alerts.jsonl")).unwrap();
        out.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Alert>(l).unwrap()),
        );
    }
    // Vary severities so every badge shows.
    let sevs = [
        Severity::Critical,
        Severity::High,
        Severity::Low,
        Severity::Info,
    ];
    for (a, s) in out.iter_mut().zip(sevs) {
        a.severity = s;
    }
    out
}

fn app_with(text: &str) -> App {
    let editor = RuleEditor::with_text(
        PathBuf::from("rules/local.yaml"),
        text,
        "new file".into(),
        Box::new(YamlSyntax),
    );
    let meta = Meta {
        profile: "test".into(),
        sources: vec!["replay golden/events.jsonl (loop 300 ms)".into()],
        state_resources: 26,
        state: None,
        ..Meta::default()
    };
    let mut app = App::new(
        meta,
        Keymap::default_keymap(),
        Theme::default_theme(),
        editor,
        now(),
    );
    assert_eq!(app.view, View::Now, "the Now board is the default view");
    // These tests are about the live feed (the Now board's own tests switch back).
    app.view = View::Feed;
    app.update(Action::Stats(Box::new(Stats {
        records_read: 42,
        parsed: 40,
        unparseable: 2,
        unsupported: 3,
        ..Stats::default()
    })));
    app
}

fn app() -> App {
    let mut app = app_with("");
    app.update(Action::Alerts(golden_alerts()));
    app
}

fn key(app: &mut App, code: KeyCode) {
    app.update(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn keys(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn render(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, app)).unwrap();
    t
}

fn screen(app: &App, w: u16, h: u16) -> String {
    render(app, w, h).backend().to_string()
}

fn select_resource(app: &mut App, needle: &str) {
    key(app, KeyCode::Char('g'));
    for _ in 0..app.feed.shown() {
        if app.selected().is_some_and(|a| {
            a.resource
                .address
                .as_deref()
                .is_some_and(|x| x.contains(needle))
        }) {
            return;
        }
        key(app, KeyCode::Char('j'));
    }
    panic!("no alert for {needle}");
}

#[test]
fn feed_80x24() {
    let app = app();
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn feed_200x50() {
    let app = app();
    insta::assert_snapshot!(screen(&app, 200, 50));
}

#[test]
fn wide_300x50_puts_details_beside_the_feed() {
    let mut app = app();
    select_resource(&mut app, "aws_s3_bucket_policy");
    let s = screen(&app, 300, 50);
    let first = s.lines().nth(1).unwrap();
    assert!(
        first.contains("Drift feed") && first.contains("1 Diff"),
        "{first}"
    );
    insta::assert_snapshot!(s);
}

#[test]
fn empty_feed_waits() {
    let app = app_with("");
    let s = screen(&app, 80, 24);
    assert!(s.contains("Waiting for alerts"));
    insta::assert_snapshot!(s);
}

#[test]
fn diff_side_by_side_policy() {
    let mut app = app();
    select_resource(&mut app, "aws_s3_bucket_policy");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.focus, Focus::Detail);
    let s = screen(&app, 120, 40);
    assert!(s.contains("state (Terraform)") && s.contains("observed (event)"));
    insta::assert_snapshot!(s);
}

#[test]
fn diff_unified_policy() {
    let mut app = app();
    select_resource(&mut app, "aws_s3_bucket_policy");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('u'));
    assert!(app.unified);
    let s = screen(&app, 100, 40);
    assert!(s.contains("- state (Terraform)"));
    insta::assert_snapshot!(s);
}

#[test]
fn enrichment() {
    let mut app = app();
    let Some(path) =
        tier::extended("tfstate/hari-44456__multi-cloud-terraform/aws/terraform.tfstate")
    else {
        return;
    };
    let (state, failures) = tfdrift::state::load_states(&[path.display().to_string()]);
    assert!(failures.is_empty());
    app.meta.state = Some(std::sync::Arc::new(state));
    select_resource(&mut app, "aws_security_group");
    key(&mut app, KeyCode::Char('2'));
    assert_eq!(app.tab, Tab::Enrichment);
    let s = screen(&app, 120, 60);
    assert!(!s.contains("not configured yet"), "{s}");
    assert!(s.contains("Name=prathamesh-default-sg"), "{s}");
    assert!(s.contains("terraform apply -target="));
    let text = tfdrift::tui::ui::enrich::lines(&app, app.selected().unwrap())
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for want in [
        "History (7 days)",
        "1 resource, depth 1",
        "restore ",
        "accept ",
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}");
    }
    insta::assert_snapshot!(s);
}

/// An alert with every enrichment field set: identity with delegation, tool and SDK, tags and
/// owner, 7 days of history, the actor's other changes, a blast radius, rule and enrichment
/// remediation lines, a runbook.
fn enriched_alert() -> Alert {
    use tfdrift::alert::{HistoryItem, Via};
    let mut a = golden_alerts()
        .into_iter()
        .find(|a| a.resource.address.is_some())
        .unwrap();
    let e = &mut a.enrichment;
    e.identity.kind = "assumed_role".into();
    e.identity.human = Some("bob@example.com".into());
    e.identity.display = "bob@example.com (role deployer) via sdk boto3".into();
    e.identity.role = Some("deployer".into());
    e.identity.account = Some("111122223333".into());
    e.identity.invoked_by = Some("lambda.amazonaws.com".into());
    e.identity.delegation = vec!["bob@example.com".into(), "role/deployer".into()];
    e.identity.via = Via::Sdk;
    e.identity.tool = Some("boto3".into());
    e.identity.sdk_language = Some("python".into());
    e.identity.source_ip = Some("10.0.3.7".into());
    e.identity.source_kind = "private".into();
    e.identity.mfa = Some(false);
    e.owner = Some("alice@example.com".into());
    e.team = Some("payments".into());
    e.environment = Some("prod".into());
    e.cost_center = Some("cc-42".into());
    e.tags.insert("Team".into(), "payments".into());
    e.tags.insert("Env".into(), "prod".into());
    e.history.days = [0, 1, 0, 3, 0, 2, 5];
    let item = |hours: i64, name: &str, addr: &str| HistoryItem {
        time: now() - chrono::Duration::hours(hours),
        resource: format!("aws_instance:{name}"),
        address: Some(addr.into()),
        actor: Some("arn:aws:sts::111122223333:assumed-role/deployer/bob".into()),
        kind: "attribute_drift".into(),
        event_name: name.into(),
        alert_id: format!("a-{hours}"),
    };
    e.history.recent = (1..=7)
        .map(|h| item(h * 5, "ModifyInstanceAttribute", "aws_instance.web"))
        .collect();
    e.history.actor_recent = vec![item(2, "PutBucketPolicy", "aws_s3_bucket_policy.logs")];
    e.blast_radius.count = 3;
    e.blast_radius.max_depth = 2;
    e.blast_radius.dependents = vec![
        "aws_eip.web".into(),
        "aws_route53_record.web".into(),
        "aws_lb_target_group_attachment.web".into(),
    ];
    a.rules = vec!["prod-changes".into()];
    a.runbook = Some("https://wiki.example.com/runbooks/drift".into());
    a.remediation = vec![
        "page the payments on-call before touching prod".into(),
        "terraform apply -target='aws_instance.web'   # restore Terraform's configuration".into(),
        "terraform apply -refresh-only -target='aws_instance.web'   # accept the change into state, then update the code to match".into(),
    ];
    a.time = now() - chrono::Duration::minutes(3);
    a
}

#[test]
fn enrichment_full() {
    let mut app = app_with("");
    app.meta.store = Some("/tmp/tfdrift.db".into());
    app.update(Action::Alerts(vec![enriched_alert()]));
    key(&mut app, KeyCode::Char('2'));
    app.focus = Focus::Detail;
    app.zoom = true;
    let s = screen(&app, 130, 70);
    for want in [
        "bob@example.com",
        "sdk · tool boto3 · SDK python",
        "10.0.3.7  (private)",
        "lambda.amazonaws.com",
        "bob@example.com → role/deployer",
        "payments",
        "cc-42",
        "Env=prod",
        "team payments · env prod · cost centre cc-42",
        "11 earlier changes in 7 days",
        "… 6 more",
        "PutBucketPolicy on aws_s3_bucket_policy.logs",
        "3 resources, depth 2",
        "← aws_route53_record.web",
        "rule            page the payments",
        "restore         terraform apply -target=",
        "accept          terraform apply -refresh-only",
        "runbook",
        "(saved in the store)",
    ] {
        assert!(s.contains(want), "missing {want:?} in\n{s}");
    }
    assert!(!s.contains("not configured"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn sparkline_draws_seven_days() {
    let t = tfdrift::tui::ui::enrich::sparkline_text(&[0, 1, 0, 3, 0, 2, 5]);
    assert_eq!(t.chars().count(), 7, "{t}");
    assert!(t.starts_with('·') && t.ends_with('█'), "{t}");
    assert_eq!(tfdrift::tui::ui::enrich::sparkline_text(&[0; 7]), "·······");
}

#[test]
fn remediation_labels() {
    use tfdrift::tui::ui::enrich::remediation_label;
    assert_eq!(
        remediation_label("terraform apply -target='x'   # restore Terraform's configuration"),
        "restore"
    );
    assert_eq!(
        remediation_label("terraform apply -target='x'   # recreate it as configured"),
        "restore"
    );
    assert_eq!(
        remediation_label(
            "terraform apply -refresh-only -target='x'   # accept the change into state"
        ),
        "accept"
    );
    assert_eq!(
        remediation_label("import {\n  to = a.b\n  id = \"i\"\n}"),
        "import"
    );
    assert_eq!(
        remediation_label(
            "terraform plan -generate-config-out=generated.tf   # write its configuration"
        ),
        "import"
    );
    assert_eq!(remediation_label("# no loaded state manages x"), "note");
    assert_eq!(remediation_label("ask #payments first"), "rule");
}

#[test]
fn enrichment_without_store_or_data_says_not_configured() {
    let mut app = app_with("");
    let mut a = enriched_alert();
    a.enrichment = tfdrift::alert::Enrichment::default();
    a.remediation.clear();
    a.runbook = None;
    app.update(Action::Alerts(vec![a]));
    key(&mut app, KeyCode::Char('2'));
    let s = screen(&app, 130, 60);
    assert!(
        s.contains("history         not configured (no store"),
        "{s}"
    );
    assert!(s.contains("runbook         not configured"), "{s}");
    assert!(s.contains("(in memory only: no store)"), "{s}");
}

#[test]
fn ack_with_a_store_asks_the_runtime_to_save_it() {
    let mut app = app();
    key(&mut app, KeyCode::Char('a'));
    assert!(app.effects.is_empty(), "no store: nothing to save");
    assert!(app.message.as_ref().unwrap().0.contains("in memory only"));
    app.meta.store = Some("/tmp/x.db".into());
    key(&mut app, KeyCode::Char('x'));
    let id = app.selected().unwrap().id.clone();
    assert!(
        matches!(
            app.effects.as_slice(),
            [Effect::Persist { alert_id, status: tfdrift::tui::feed::Status::Resolved, .. }] if *alert_id == id
        ),
        "{:?}",
        app.effects
    );
    assert!(app.message.as_ref().unwrap().0.contains("saving"));
}

#[test]
fn statuses_survive_a_restart_through_the_store() {
    use tfdrift::store::Store as _;
    use tfdrift::tui::feed::Status;
    use tfdrift::tui::run::{load_recent, persist_status};
    let dir = tempfile::tempdir().unwrap();
    let store = tfdrift::store::open(&dir.path().join("t.db")).unwrap();
    let mut alerts = golden_alerts();
    for a in &mut alerts {
        a.time = now() - chrono::Duration::hours(1);
    }
    let keys: Vec<String> = alerts.iter().map(|a| format!("ev-{}", a.id)).collect();
    for (a, k) in alerts.iter().zip(&keys) {
        assert!(
            store
                .record_alerts(&[k.as_str()], Some(a.time), std::slice::from_ref(a), &[])
                .unwrap()
        );
    }
    let t = now() - chrono::Duration::minutes(30);
    persist_status(&store, &alerts[0].id, Status::Acked, "me", t).unwrap();
    persist_status(&store, &alerts[1].id, Status::Resolved, "me", t).unwrap();
    let until = now() + chrono::Duration::hours(2);
    persist_status(&store, &alerts[2].id, Status::Snoozed(until), "me", t).unwrap();
    // Acknowledged, then snoozed: snoozed (the later one wins).
    persist_status(&store, &alerts[4].id, Status::Acked, "me", t).unwrap();
    persist_status(
        &store,
        &alerts[4].id,
        Status::Snoozed(until),
        "me",
        t + chrono::Duration::seconds(1),
    )
    .unwrap();
    // Snoozed, then reopened: new again.
    persist_status(&store, &alerts[3].id, Status::Snoozed(until), "me", t).unwrap();
    persist_status(
        &store,
        &alerts[3].id,
        Status::New,
        "me",
        t + chrono::Duration::seconds(1),
    )
    .unwrap();
    let loaded = load_recent(&store, now()).unwrap();
    assert_eq!(loaded.len(), alerts.len());
    let status = |id: &str| loaded.iter().find(|(a, _, _)| a.id == id).unwrap().1;
    let by = |id: &str| {
        loaded
            .iter()
            .find(|(a, _, _)| a.id == id)
            .unwrap()
            .2
            .clone()
    };
    assert_eq!(by(&alerts[2].id).map(|h| h.who), Some("me".to_string()));
    assert_eq!(by(&alerts[3].id), None, "reopened: nobody handles it");
    assert_eq!(status(&alerts[0].id), Status::Acked);
    assert_eq!(status(&alerts[1].id), Status::Resolved);
    assert_eq!(status(&alerts[2].id), Status::Snoozed(until));
    assert_eq!(status(&alerts[3].id), Status::New);
    assert_eq!(status(&alerts[4].id), Status::Snoozed(until));
    // A restarted UI shows them with their status, and skips alerts it already has.
    let mut app = app_with("");
    app.update(Action::Alerts(vec![alerts[0].clone()]));
    app.update(Action::Restored(loaded));
    assert_eq!(app.feed.total(), alerts.len());
    // alerts[0] came from the pipeline first (kept as delivered); 1 resolved, 2 and 4 snoozed.
    assert_eq!(app.feed.counts().unhandled, alerts.len() - 3);
    // Recorded before the load but delivered after it: not shown twice.
    app.update(Action::Alerts(vec![alerts[5].clone()]));
    assert_eq!(app.feed.total(), alerts.len());
}

#[test]
fn rule_tests_key_and_reload_status_show_in_the_editor() {
    let mut app = app();
    key(&mut app, KeyCode::Char('3'));
    assert!(!app.editing);
    key(&mut app, KeyCode::Char('i'));
    assert!(app.editing);
    app.update(Action::Key(KeyEvent::new(
        KeyCode::Char('t'),
        KeyModifiers::CONTROL,
    )));
    assert_eq!(app.effects, vec![Effect::RunRuleTests]);
    app.effects.clear();
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('t'));
    assert_eq!(app.effects, vec![Effect::RunRuleTests]);
    let s = screen(&app, 100, 30);
    assert!(s.contains("Running the rule tests"), "{s}");
    app.update(Action::RuleTests(
        "Rule tests: 4 passed, 0 failed".into(),
        false,
    ));
    assert!(screen(&app, 100, 30).contains("4 passed, 0 failed"));
    // Not watched: saving says so.
    app.update(Action::RulesSaved(Ok("rules/local.yaml".into())));
    let s = screen(&app, 160, 30);
    assert!(s.contains("not watched by the pipeline"), "{s}");
    app.meta.rules_watched = true;
    app.update(Action::RulesSaved(Ok("rules/local.yaml".into())));
    app.update(Action::RulesReloaded(
        "Reloaded: 3 rules in force · reloads 1, rejected 0".into(),
        false,
    ));
    let s = screen(&app, 160, 30);
    assert!(s.contains("Reloaded: 3 rules in force"), "{s}");
    insta::assert_snapshot!("rule_editor_reloaded", s);
}

#[test]
fn rule_editor_with_error_then_fixed() {
    let mut app = app_with("rules:\n  - id: a\n    name: [oops\n");
    app.update(Action::Alerts(golden_alerts()));
    key(&mut app, KeyCode::Char('e'));
    assert!(!app.editing, "the rules tab opens in view mode");
    key(&mut app, KeyCode::Char('i'));
    assert!(app.editing);
    assert!(!app.editor.diagnostics.is_empty());
    let s = screen(&app, 100, 30);
    assert!(s.contains("✗ line"), "{s}");
    insta::assert_snapshot!("rule_editor_error", s);
    // Fix: go to the end of line 3 and close the bracket.
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::End);
    key(&mut app, KeyCode::Char(']'));
    assert!(
        app.editor.diagnostics.is_empty(),
        "{:?}",
        app.editor.diagnostics
    );
    assert!(screen(&app, 100, 30).contains("✓ valid YAML"));
    app.update(Action::Key(KeyEvent::new(
        KeyCode::Char('s'),
        KeyModifiers::CONTROL,
    )));
    assert_eq!(app.effects, vec![Effect::SaveRules]);
}

#[test]
fn new_rules_from_alert() {
    let mut app = app();
    select_resource(&mut app, "aws_security_group");
    key(&mut app, KeyCode::Char('n'));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('N'));
    let text = app.editor.text();
    assert!(
        text.contains("ignore:\n  - id: ignore-aws-security-group-")
            && text.contains("    address: \"aws_security_group."),
        "{text}"
    );
    assert!(text.contains("expires: 2026-12-27"), "{text}");
    assert!(text.contains("operator: changed"), "{text}");
    assert!(
        app.editor.diagnostics.is_empty(),
        "{:?}",
        app.editor.diagnostics
    );
    insta::assert_snapshot!(screen(&app, 100, 40));
}

#[test]
fn help_popup_lists_the_keymap() {
    let mut app = app();
    key(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    let s = screen(&app, 120, 50);
    let text = ui::help_text(&app);
    for (_, bindings) in &app.keymap.sections {
        for b in bindings {
            assert!(text.contains(&b.desc), "help lacks '{}'", b.desc);
            assert!(
                text.contains(&b.keys.join(", ")),
                "help lacks keys {:?}",
                b.keys
            );
        }
    }
    assert!(text.contains("not persisted"));
    insta::assert_snapshot!(s);
    key(&mut app, KeyCode::Esc);
    assert!(!app.help);
}

#[test]
fn filter_and_command_lines() {
    let mut app = app();
    key(&mut app, KeyCode::Char('/'));
    keys(&mut app, "sev:high");
    assert_eq!(app.feed.shown(), 2, "critical + high");
    insta::assert_snapshot!("filter_line", screen(&app, 100, 24));
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char(':'));
    keys(&mut app, "sort sev");
    insta::assert_snapshot!("command_line", screen(&app, 100, 24));
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.feed.sort().0.as_str(), "severity");
    assert_eq!(app.selected().unwrap().severity, Severity::Critical);
}

#[test]
fn log_pane() {
    let mut app = app();
    app.update(Action::Logs(vec![
        LogLine {
            time: now(),
            level: tracing::Level::INFO,
            target: "tfdrift::tui".into(),
            text: "Terminal UI started profile=test".into(),
        },
        LogLine {
            time: now(),
            level: tracing::Level::WARN,
            target: "tfdrift::pipeline".into(),
            text: "Cannot read input; skipping it input=x".into(),
        },
    ]));
    key(&mut app, KeyCode::Char('4'));
    let s = screen(&app, 100, 24);
    assert!(s.contains("Cannot read input"));
    insta::assert_snapshot!(s);
}

#[test]
fn zoomed_detail() {
    let mut app = app();
    select_resource(&mut app, "aws_iam_role.role");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('z'));
    let s = screen(&app, 80, 24);
    assert!(!s.contains("Drift feed"));
    insta::assert_snapshot!(s);
}

#[test]
fn ack_snooze_resolve_and_hide_handled() {
    let mut app = app();
    let total = app.feed.shown();
    key(&mut app, KeyCode::Char('a'));
    assert!(app.message.as_ref().unwrap().0.contains("in memory only"));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('s'));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('x'));
    assert_eq!(app.feed.counts().unhandled, total - 3);
    key(&mut app, KeyCode::Char('H'));
    assert_eq!(app.feed.shown(), total - 3);
    key(&mut app, KeyCode::Char('H'));
    assert_eq!(app.feed.shown(), total);
    // Snoozes run out.
    app.update(Action::Tick(now() + chrono::Duration::hours(2)));
    assert_eq!(app.feed.counts().unhandled, total - 2);
}

#[test]
fn incremental_filtering_matches_a_full_rebuild() {
    let mut app = app();
    // Acknowledge a few so the status facet has something to do.
    key(&mut app, KeyCode::Char('a'));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('a'));
    let ids = |app: &App| -> Vec<String> {
        app.feed
            .window(0, app.feed.shown())
            .map(|e| e.alert.id.clone())
            .collect()
    };
    let mut typed = String::new();
    for c in "status:new aws_s3 polic".chars() {
        typed.push(c);
        app.set_filter_text(&typed);
        let mut fresh = app_with("");
        fresh.update(Action::Alerts(golden_alerts()));
        for i in 0..u32::try_from(app.feed.total()).unwrap() {
            fresh.feed.set_status(i, app.feed.entry(i).unwrap().status);
        }
        fresh.set_filter_text(&typed);
        assert_eq!(ids(&app), ids(&fresh), "after typing {typed:?}");
    }
    assert_eq!(app.feed.shown(), 1, "one S3 bucket policy alert");
}

#[test]
fn mouse_click_selects_a_row() {
    let mut app = app();
    render(&app, 100, 30);
    let area = app.feed_area.get();
    app.update(Action::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: 10,
        row: area.y + 2 + 3,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(app.sel, 3);
    assert!(!app.follow);
    // Clicking a tab title in the detail pane's border switches tabs.
    let detail = app.detail_area.get();
    let s = screen(&app, 100, 30);
    let border = s.lines().nth(usize::from(detail.y)).unwrap();
    let col = border.find("2 Enrichment").unwrap();
    let x = u16::try_from(border[..col].chars().count()).unwrap() - 1; // quote char
    app.update(Action::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: detail.x + x,
        row: detail.y,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(app.tab, Tab::Enrichment);
    key(&mut app, KeyCode::Char(']'));
    assert_eq!(app.tab, Tab::Rules);
    key(&mut app, KeyCode::Char('['));
    key(&mut app, KeyCode::Char('['));
    assert_eq!(app.tab, Tab::Diff);
}

#[test]
fn follow_keeps_newest_and_selection_sticks_when_not_following() {
    let mut app = app();
    let mut extra = golden_alerts()[0].clone();
    extra.time = now();
    extra.id = "new-1".into();
    app.update(Action::Alerts(vec![extra.clone()]));
    assert_eq!(app.selected().unwrap().id, "new-1");
    key(&mut app, KeyCode::Char('j'));
    let selected = app.selected().unwrap().id.clone();
    extra.id = "new-2".into();
    app.update(Action::Alerts(vec![extra]));
    assert_eq!(app.selected().unwrap().id, selected);
}

#[test]
fn copy_effects_carry_text() {
    let mut app = app();
    select_resource(&mut app, "aws_instance.web");
    key(&mut app, KeyCode::Char('c'));
    key(&mut app, KeyCode::Char('y'));
    key(&mut app, KeyCode::Char('Y'));
    let Effect::Copy { text, .. } = &app.effects[0] else {
        panic!()
    };
    // Command 1 (restore Terraform's configuration): the command alone, no comment or prose.
    assert_eq!(text, "terraform apply -target='aws_instance.web'");
    let Effect::Copy { text, .. } = &app.effects[1] else {
        panic!()
    };
    assert!(text.contains("\"schema\": \"tfdrift.alert/v1\""));
    let Effect::Copy { text, .. } = &app.effects[2] else {
        panic!()
    };
    assert!(text.contains("--- state:"));
}

#[test]
fn severity_badges_are_coloured_and_labelled() {
    let mut app = app();
    app.run_command(":sort severity");
    let t = render(&app, 100, 50);
    let buf = t.backend().buffer();
    let s = t.backend().to_string();
    assert!(s.contains("▲▲ CRIT") && s.contains("▲ HIGH") && s.contains("▽ LOW"));
    // Find the CRIT cell and check it has a background (not colour alone: the label is there too).
    let (x, y) = (0..buf.area.height)
        .flat_map(|y| (0..buf.area.width).map(move |x| (x, y)))
        .find(|&(x, y)| buf[(x, y)].symbol() == "C" && buf[(x + 1, y)].symbol() == "R")
        .unwrap();
    assert_ne!(buf[(x, y)].bg, ratatui::style::Color::Reset);
}

#[test]
fn plain_theme_marks_selection_without_colour() {
    let mut app = app();
    app.theme = Theme::plain();
    let t = render(&app, 100, 30);
    let buf = t.backend().buffer();
    let (x, y) = (0..buf.area.height)
        .flat_map(|y| (0..buf.area.width).map(move |x| (x, y)))
        .find(|&(x, y)| buf[(x, y)].symbol() == "▶")
        .expect("a selection marker");
    let cell = &buf[(x + 5, y)];
    assert!(
        cell.modifier.contains(ratatui::style::Modifier::REVERSED),
        "selected row is reverse video in the plain theme"
    );
    assert_eq!(cell.fg, ratatui::style::Color::Reset);
    assert_eq!(cell.bg, ratatui::style::Color::Reset);
}

#[test]
fn editor_file_is_watched_when_a_rule_path_covers_it() {
    use tfdrift::tui::run::watched;
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let file = rules.join("local.yaml");
    std::fs::write(&file, "rules: []\n").unwrap();
    assert!(watched(std::slice::from_ref(&rules), &file));
    assert!(watched(std::slice::from_ref(&file), &file));
    // Not yet created: the directory still covers it.
    assert!(watched(
        std::slice::from_ref(&rules),
        &rules.join("new.yaml")
    ));
    assert!(!watched(&[dir.path().join("other.yaml")], &file));
    assert!(!watched(&[], &file));
}

#[test]
fn status_bar_shows_state_age_per_backend_and_notification_failures() {
    let notify = std::sync::Arc::new(tfdrift::notify::worker::NotifyStats::default());
    notify.bump("slack", |c| c.failed += 2);
    let mut app = app_with("");
    app.meta.state_backends = vec!["local".into(), "s3".into()];
    app.meta.notify = Some(notify);
    app.update(Action::Stats(Box::new(Stats {
        state_loaded_at: Some(now() - chrono::Duration::seconds(42)),
        ..Stats::default()
    })));
    let s = screen(&app, 200, 50);
    assert!(s.contains("(local+s3, 42s old)"), "{s}");
    assert!(s.contains("notify failed 2"), "{s}");
}

fn ctrl(app: &mut App, c: char) {
    app.update(Action::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )));
}

/// Defect: `3` (or `e`) dropped straight into insert mode, so `3` then `q` typed a `q` into the
/// rule file. The tab opens in view mode; `i` / Enter edit; Esc leaves.
#[test]
fn rules_tab_opens_in_view_mode_and_q_quits() {
    for open in ['3', 'e'] {
        let mut app = app_with("rules: []\n");
        app.update(Action::Alerts(golden_alerts()));
        let before = app.editor.text();
        key(&mut app, KeyCode::Char(open));
        assert_eq!(app.tab, Tab::Rules);
        assert!(!app.editing, "'{open}' must not start editing");
        assert!(ui::help_text(&app).contains("i, enter"));
        key(&mut app, KeyCode::Char('q'));
        assert!(app.quit, "'q' quits in view mode");
        assert_eq!(app.editor.text(), before, "nothing typed into the rules");
    }
    let mut app = app_with("rules: []\n");
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::Char('i'));
    assert!(app.editing);
    key(&mut app, KeyCode::Char('x'));
    assert!(app.editor.text().starts_with('x'));
    key(&mut app, KeyCode::Esc);
    assert!(!app.editing);
    key(&mut app, KeyCode::Enter);
    assert!(app.editing, "Enter edits too");
    key(&mut app, KeyCode::Esc);
    // `i` elsewhere keeps its global meaning (the enrichment tab).
    key(&mut app, KeyCode::Char('1'));
    key(&mut app, KeyCode::Char('i'));
    assert_eq!(app.tab, Tab::Enrichment);
    assert!(!app.editing);
}

/// Defect: `u` only worked after Tab to the diff, and the hint bar never changed with focus.
#[test]
fn unified_from_the_feed_and_hints_follow_focus() {
    let mut app = app();
    assert_eq!(app.focus, Focus::Feed);
    key(&mut app, KeyCode::Char('u'));
    assert!(app.unified, "u works from the feed");
    let feed_hints = tfdrift::tui::ui::hint_text(&app);
    assert!(feed_hints.contains("a ack"), "{feed_hints}");
    key(&mut app, KeyCode::Tab);
    let detail_hints = tfdrift::tui::ui::hint_text(&app);
    assert!(
        detail_hints.contains("u unified") && detail_hints.contains("esc feed"),
        "{detail_hints}"
    );
    assert!(!detail_hints.contains("a ack"), "{detail_hints}");
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::Char('i'));
    let editor_hints = tfdrift::tui::ui::hint_text(&app);
    assert!(
        editor_hints.contains("ctrl-s save") && !editor_hints.contains("q quit"),
        "while editing, q types: {editor_hints}"
    );
    // Every hint is a real binding of the context it is shown in.
    for (ctx, bindings) in &app.keymap.sections {
        for b in bindings.iter().filter(|b| !b.hint.is_empty()) {
            assert_eq!(
                app.keymap
                    .key_for(*ctx, &b.action)
                    .map(|k| tfdrift::tui::keymap::Key::parse(k).is_ok()),
                Some(true)
            );
        }
    }
    let s = screen(&app, 80, 24);
    assert!(s.lines().last().unwrap().contains("ctrl-s save"), "{s}");
}

/// Defect: `N`/`n` drafted `resource:` (not a key the engine knows) and ctrl-s saved it. The
/// draft now compiles and ignores the very alert it came from; broken text is not saved.
#[test]
fn ignore_draft_compiles_ignores_its_alert_and_broken_text_is_not_saved() {
    use tfdrift::rules::RuleSet;
    use tfdrift::rules::eval::{EvalContext, Verdict};
    for a in golden_alerts() {
        let mut app = app_with("");
        app.editor
            .set_validator(Box::new(tfdrift::tui::editor::RuleCompiler));
        app.update(Action::Alerts(vec![a.clone()]));
        key(&mut app, KeyCode::Char('n'));
        assert!(app.editing);
        assert!(
            app.editor.diagnostics.is_empty(),
            "{}: {:?}\n{}",
            a.id,
            app.editor.diagnostics,
            app.editor.text()
        );
        let set = RuleSet::from_str("draft.yaml", &app.editor.text())
            .unwrap_or_else(|d| panic!("{d:?}\n{}", app.editor.text()));
        let ctx = EvalContext {
            default_severity: Severity::Medium,
            today: now().date_naive(),
            tags: None,
        };
        assert!(
            matches!(set.evaluate(&a, &ctx).verdict, Verdict::Ignored { .. }),
            "the draft does not ignore its own alert {}:\n{}",
            a.id,
            app.editor.text()
        );
        ctrl(&mut app, 's');
        assert_eq!(app.effects, vec![Effect::SaveRules]);
    }
    let mut app = app_with("rules: []\n");
    app.editor
        .set_validator(Box::new(tfdrift::tui::editor::RuleCompiler));
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::Char('i'));
    keys(&mut app, "x: [");
    assert!(!app.editor.diagnostics.is_empty());
    ctrl(&mut app, 's');
    assert!(app.effects.is_empty(), "broken rules must not be saved");
    assert!(
        app.message.as_ref().unwrap().0.starts_with("Not saved"),
        "{:?}",
        app.message
    );
    app.run_command(":w");
    assert!(app.effects.is_empty(), ":w refuses too");
}

/// Defect: filters failed silently. Data: (filter, expected rows, text the bottom line holds).
#[test]
fn filters_accept_shown_labels_facets_negation_and_explain_misses() {
    let mut alerts = golden_alerts();
    alerts[5].actor.via = tfdrift::alert::Via::Console;
    alerts[6]
        .enrichment
        .tags
        .insert("Environment".into(), "production".into());
    let total = alerts.len();
    let count = |f: &dyn Fn(&Alert) -> bool| alerts.iter().filter(|a| f(a)).count();
    let bob = count(&|a| a.actor.session.as_deref() == Some("bob"));
    let cli = count(&|a| a.actor.via == tfdrift::alert::Via::Cli);
    let us_east = count(&|a| a.event.region.as_deref() == Some("us-east-1"));
    let console = count(&|a| a.actor.via == tfdrift::alert::Via::Console);
    let production = count(&|a| a.enrichment.tags.values().any(|v| v.contains("production")));
    let env_prod = count(&|a| {
        a.enrichment
            .tags
            .iter()
            .any(|(k, v)| k.to_lowercase().contains("environment") && v.contains("prod"))
    });
    assert!(bob > 0 && cli > 0 && us_east > 0);
    let cases: Vec<(&str, usize, Option<&str>)> = vec![
        ("sev:crit", 1, None),
        ("sev:CRIT", 1, None),
        ("sev:=med", count(&|a| a.severity == Severity::Medium), None),
        ("sev:high", 2, None),
        ("actor:bob", bob, None),
        ("console", console, None),
        ("via:console", console, None),
        ("production", production, None),
        ("tag:environment=prod", env_prod, None),
        ("-via:cli", total - cli, None),
        ("region:us-east-1", us_east, None),
        (
            "acct:111122223333",
            count(&|a| a.event.account.as_deref() == Some("111122223333")),
            None,
        ),
        (
            "kind:unmanaged",
            count(&|a| a.kind == tfdrift::alert::AlertKind::UnmanagedChange),
            None,
        ),
        ("nosuchthing", 0, Some("'nosuchthing' is in no alert field")),
        ("sev:urgent", total, Some("unknown severity")),
        ("actor:nobody", 0, Some("'actor:nobody' matches no alert")),
        (
            "kind:unmanaged kind:drift",
            0,
            Some("no alert matches them all"),
        ),
    ];
    for (filter, rows, says) in cases {
        let mut app = app_with("");
        app.update(Action::Alerts(alerts.clone()));
        app.set_filter_text(filter);
        assert_eq!(app.feed.shown(), rows, "filter '{filter}'");
        match says {
            Some(text) => {
                let msg = app.message.clone().map(|m| m.0).unwrap_or_default();
                assert!(msg.contains(text), "filter '{filter}': {msg:?}");
                assert!(screen(&app, 200, 50).contains(text), "filter '{filter}'");
            }
            None => assert!(
                app.message.as_ref().is_none_or(|m| !m.1),
                "filter '{filter}': {:?}",
                app.message
            ),
        }
    }
}

/// Defect: `c` copied prose for unmanaged resources and offered `revoke … --protocol all` for
/// a security group whose diff shows one tcp port. Only commands, built from the diff.
#[test]
fn copy_offers_only_commands_built_from_the_diff() {
    let mut alerts = golden_alerts();
    let sg = alerts
        .iter_mut()
        .find(|a| {
            a.resource.rtype == "aws_security_group"
                && a.diffs
                    .iter()
                    .any(|d| d.observed.to_string().contains("3389"))
        })
        .expect("the golden SG alert that opens 3389");
    // What the bundled rule renders: a command with prose in it; never offered.
    sg.remediation.insert(
        0,
        "aws ec2 revoke-security-group-ingress --group-id sg-1 --cidr 0.0.0.0/0 --protocol all --region us-east-1 (narrow --protocol/--port to the added rule)".into(),
    );
    sg.remediation.insert(
        0,
        "Decide: codify and terraform import, or delete it".into(),
    );
    sg.remediation.insert(
        0,
        "terraform apply -target='aws_security_group.myapp-sg' to restore the rules".into(),
    );
    let sg_id = sg.id.clone();
    let mut app = app_with("");
    app.update(Action::Alerts(alerts.clone()));
    app.run_command(":follow off");
    let pos = (0..app.feed.shown())
        .find(|p| app.feed.at(*p).unwrap().alert.id == sg_id)
        .unwrap();
    app.sel = pos;
    app.update(Action::Resize);
    key(&mut app, KeyCode::Char('c'));
    let Effect::Copy { text, what } = app.effects.pop().unwrap() else {
        panic!()
    };
    assert_eq!(what, "remediation command 1");
    assert_eq!(
        text,
        "aws ec2 revoke-security-group-ingress --group-id 'sg-01d9b49ed0cbe770f' --region 'us-east-1' --ip-permissions 'IpProtocol=tcp,FromPort=3389,ToPort=3389,IpRanges=[{CidrIp=0.0.0.0/0}]'"
    );
    key(&mut app, KeyCode::Char('c'));
    key(&mut app, KeyCode::Char('2'));
    assert_eq!(
        app.tab,
        Tab::Diff,
        "c2 copies; the digit does not switch tabs"
    );
    let Effect::Copy { text, what } = app.effects.pop().unwrap() else {
        panic!()
    };
    assert_eq!(what, "remediation command 2");
    assert_eq!(
        text,
        "terraform apply -target='aws_security_group.myapp-sg'"
    );
    let s = screen(&app, 200, 50);
    assert!(
        s.contains("c1 aws ec2 revoke-security-group-ingress"),
        "{s}"
    );
    assert!(
        s.contains("+ingress tcp/3389 0.0.0.0/0 — open to the world"),
        "{s}"
    );
    // Every alert: whatever is offered is a command, never prose, never `--protocol all`.
    for a in &alerts {
        for c in tfdrift::tui::app::remediation_commands(a) {
            let first = c.line.split_whitespace().next().unwrap();
            assert!(
                ["terraform", "aws", "printf", "gcloud"].contains(&first),
                "{}: {:?}",
                a.id,
                c.line
            );
            assert!(
                !c.line.contains("--protocol all")
                    && !c.line.contains("Decide")
                    && !c.line.contains("to restore"),
                "{:?}",
                c.line
            );
        }
    }
    // An unmanaged resource gets the import command (a command, not prose).
    let unmanaged = alerts
        .iter()
        .find(|a| a.kind == tfdrift::alert::AlertKind::UnmanagedChange && a.provider == "aws")
        .unwrap();
    let cmds = tfdrift::tui::app::remediation_commands(unmanaged);
    assert!(
        cmds[0].line.starts_with("printf '%s' 'import {")
            && cmds[0]
                .line
                .contains("terraform plan -generate-config-out=generated.tf"),
        "{cmds:?}"
    );
}

/// Defect 9: statuses that look alike, snoozes without until/by, undated old times, help that
/// promised persistence of an in-memory store, half/whole page mismatch, no `G` in details.
#[test]
fn statuses_times_paging_and_help_tell_the_truth() {
    let mut alerts = golden_alerts();
    alerts[0].time = now() - chrono::Duration::days(1);
    let mut app = app_with("");
    app.update(Action::Alerts(alerts));
    app.run_command(":follow off");
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Char('a'));
    key(&mut app, KeyCode::Char('k'));
    key(&mut app, KeyCode::Char('x'));
    key(&mut app, KeyCode::Char('k'));
    app.run_command(":snooze 2h");
    // Tall enough for every golden alert in the feed pane.
    let s = screen(&app, 200, 70);
    let feed: Vec<&str> = s.lines().take(40).collect();
    let marks: Vec<char> = feed
        .iter()
        .filter_map(|l| l.chars().nth(3).filter(|c| "●AZR".contains(*c)))
        .collect();
    assert!(
        marks.contains(&'A') && marks.contains(&'R') && marks.contains(&'Z'),
        "acknowledged, resolved and snoozed have distinct symbols: {marks:?}\n{s}"
    );
    assert!(
        s.contains("Z snoozed until 14:00 by "),
        "the snooze says until when and by whom:\n{s}"
    );
    assert!(
        s.contains("Nov 26 "),
        "yesterday's alert shows its date:\n{s}"
    );
    // Help: an in-memory store does not survive a restart.
    app.meta.store = Some(":memory:".into());
    let help = ui::help_text(&app);
    assert!(!help.contains("survive a restart"), "{help}");
    assert!(help.contains("lost when the monitor exits"), "{help}");
    // Details page like the feed: ctrl-d is half a page, G the end.
    let _ = screen(&app, 80, 40);
    let page = usize::from(app.feed_area.get().height.saturating_sub(3));
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Tab);
    ctrl(&mut app, 'd');
    assert_eq!(usize::from(app.detail_scroll), (page / 2).max(1));
    key(&mut app, KeyCode::Char('G'));
    assert!(app.detail_scroll > 10);
    let s = screen(&app, 80, 40);
    assert!(
        s.contains("alert id"),
        "G shows the end of the enrichment:\n{s}"
    );
    // README and keymap agree on n / N.
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let n = app.keymap.action(
        tfdrift::tui::keymap::Context::Feed,
        &KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE),
    );
    let big_n = app.keymap.action(
        tfdrift::tui::keymap::Context::Feed,
        &KeyEvent::new(KeyCode::Char('N'), KeyModifiers::SHIFT),
    );
    assert_eq!(
        (n, big_n),
        (Some("new_ignore_rule"), Some("new_severity_rule"))
    );
    assert!(
        readme.contains("`n` drafts\nan `ignore:` entry")
            || readme.contains("`n` drafts an `ignore:` entry"),
        "README on n"
    );
    assert!(
        readme.contains("`N` a `rules:` entry raising its severity"),
        "README on N"
    );
}

fn dead_sources_app() -> App {
    let mut app = app_with("");
    app.meta.live_sources = vec![
        "sqs:http://127.0.0.1:9/000000000000/q".into(),
        "falco_grpc:unix:///nonexistent/falco.sock".into(),
    ];
    let mut sources = std::collections::BTreeMap::new();
    sources.insert(
        "sqs:http://127.0.0.1:9/000000000000/q".to_string(),
        tfdrift::collect::health::SourceHealth {
            kind: "sqs".into(),
            connected: false,
            errors: 3,
            last_error: Some(
                "dispatch failure: io error: Connection refused (os error 111): connection refused"
                    .into(),
            ),
            ..Default::default()
        },
    );
    sources.insert(
        "falco_grpc:unix:///nonexistent/falco.sock".to_string(),
        tfdrift::collect::health::SourceHealth {
            kind: "falco_grpc".into(),
            connected: false,
            errors: 1,
            last_error: Some("transport error: No such file or directory (os error 2)".into()),
            ..Default::default()
        },
    );
    app.update(Action::Stats(Box::new(Stats {
        sources,
        ..Stats::default()
    })));
    app
}

/// Defect 3: an SQS source on a closed port and a Falco source with a missing socket showed a
/// green `● running`, "no sources" and "Waiting for alerts…".
#[test]
fn dead_sources_are_shown_red_in_the_header() {
    let app = dead_sources_app();
    let s = screen(&app, 200, 50);
    assert!(!s.contains("● running") && !s.contains("no sources"), "{s}");
    assert!(s.contains("✗ 2 of 2 sources failing"), "{s}");
    assert!(s.contains("sqs ✗ connection refused (3 errors)"), "{s}");
    assert!(s.contains("falco_grpc ✗ No such file or directory"), "{s}");
    assert!(!s.contains("Waiting for alerts"), "{s}");
    assert!(
        s.contains("it may not be quiet: 2 of 2 sources failing"),
        "{s}"
    );
    let t = render(&app, 200, 50);
    let buf = t.backend().buffer();
    let x = s
        .lines()
        .next()
        .unwrap()
        .chars()
        .position(|c| c == '✗')
        .unwrap();
    assert_eq!(
        buf[(u16::try_from(x).unwrap(), 0)].fg,
        app.theme.error.fg.unwrap()
    );
    insta::assert_snapshot!("dead_sources_80x24", screen(&app, 80, 24));
    insta::assert_snapshot!("dead_sources_200x50", s);
    // Healthy and connected: green running, a chip with its lag.
    let mut ok = dead_sources_app();
    let mut stats = ok.stats.clone();
    for h in stats.sources.values_mut() {
        h.connected = true;
        h.lag_ms = Some(3000);
    }
    ok.update(Action::Stats(Box::new(stats)));
    let s = screen(&ok, 200, 50);
    assert!(s.contains("● running") && s.contains("sqs ✓ lag 3s"), "{s}");
    // A live pipeline that stops reporting goes silent (red).
    ok.update(Action::Tick(now() + chrono::Duration::seconds(60)));
    let s = screen(&ok, 200, 50);
    assert!(s.contains("✗ silent"), "{s}");
}

/// Read-only mode: every write action of the keymap and every writing command is refused; the
/// header says so and the hint bar and help leave write keys out.
#[test]
fn readonly_refuses_every_write_action() {
    use tfdrift::tui::keymap::Keymap;
    let fresh = || {
        let mut app = app_with("rules: []\n");
        app.meta.readonly = true;
        app.meta.store = Some("/tmp/x.db".into());
        app.update(Action::Alerts(golden_alerts()));
        app.update(Action::Drifts(drifts_from(&golden_alerts())));
        app
    };
    let app0 = fresh();
    let s = screen(&app0, 200, 50);
    assert!(s.lines().next().unwrap().contains("READ-ONLY"), "{s}");
    let mut writes = 0;
    for (ctx, bindings) in &app0.keymap.sections {
        for b in bindings {
            let mut app = fresh();
            let text = app.editor.text();
            let statuses: Vec<_> = (0..app.feed.total())
                .map(|i| app.feed.entry(u32::try_from(i).unwrap()).unwrap().status)
                .collect();
            app.show_tab(Tab::Rules);
            app.run_action(*ctx, &b.action);
            if Keymap::is_write(*ctx, &b.action) {
                writes += 1;
                assert!(
                    app.message
                        .as_ref()
                        .is_some_and(|m| m.0.starts_with("Read-only")),
                    "{}/{}: {:?}",
                    ctx.as_str(),
                    b.action,
                    app.message
                );
                assert!(
                    !tfdrift::tui::ui::hint_text(&app)
                        .contains(&format!("{} {}", b.keys[0], b.hint))
                        || b.hint.is_empty()
                );
            }
            assert!(
                !app.editing,
                "{}/{} started editing",
                ctx.as_str(),
                b.action
            );
            assert_eq!(app.editor.text(), text, "{}/{}", ctx.as_str(), b.action);
            assert!(
                !app.effects.iter().any(|e| matches!(
                    e,
                    Effect::Persist { .. } | Effect::SaveRules | Effect::DriftAct { .. }
                )),
                "{}/{}: {:?}",
                ctx.as_str(),
                b.action,
                app.effects
            );
            let after: Vec<_> = (0..app.feed.total())
                .map(|i| app.feed.entry(u32::try_from(i).unwrap()).unwrap().status)
                .collect();
            assert_eq!(after, statuses, "{}/{}", ctx.as_str(), b.action);
        }
    }
    assert!(
        writes >= 10,
        "write actions walked (the board's ack, snooze, resolve too): {writes}"
    );
    for cmd in [
        ":ack",
        ":resolve",
        ":reopen",
        ":snooze 2h",
        ":w",
        ":wq",
        ":rule ignore",
        ":rule severity",
    ] {
        let mut app = fresh();
        app.run_command(cmd);
        assert!(app.effects.is_empty() && !app.editing && !app.quit, "{cmd}");
        assert_eq!(app.feed.counts().unhandled, app.feed.total(), "{cmd}");
        // The same on the Now board (the commands act on drifts there).
        let mut board = fresh();
        board.view = View::Now;
        board.run_command(cmd);
        assert!(
            !board
                .effects
                .iter()
                .any(|e| matches!(e, Effect::DriftAct { .. } | Effect::Persist { .. })),
            "{cmd} on the board: {:?}",
            board.effects
        );
        assert!(
            app.message
                .as_ref()
                .is_some_and(|m| m.0.starts_with("Read-only")),
            "{cmd}: {:?}",
            app.message
        );
    }
    let mut app = fresh();
    key(&mut app, KeyCode::Char('a'));
    key(&mut app, KeyCode::Char('?'));
    let help = ui::help_text(&app);
    assert!(!help.contains("Acknowledge / un-acknowledge"), "{help}");
    insta::assert_snapshot!("readonly_80x24", screen(&fresh(), 80, 24));
}

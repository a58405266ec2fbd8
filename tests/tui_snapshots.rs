//! Whole-screen snapshots of every pane and popup (ratatui `TestBackend`, fixed sizes, fixed
//! clock, alerts from the golden fixtures) plus behaviour checks on the `App` state.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![cfg(feature = "tui")]

#[path = "common/tier.rs"]
mod tier;

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tfdrift::alert::{Alert, Severity};
use tfdrift::pipeline::Stats;
use tfdrift::tui::app::{Action, App, Effect, Focus, Meta, Tab};
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
    let first = s.lines().next().unwrap();
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
    let status = |id: &str| loaded.iter().find(|(a, _)| a.id == id).unwrap().1;
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
        text.contains("ignore:\n  - resource: \"aws_security_group."),
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
    // The alert's first remediation line (enrichment: restore Terraform's configuration).
    assert_eq!(
        text,
        "terraform apply -target='aws_instance.web'   # restore Terraform's configuration"
    );
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

//! Evaluation semantics: ordering, defaults, filters, ignores, templates, operators, context tags,
//! event fixtures without the pipeline, sibling test files.

use chrono::NaiveDate;
use serde_json::json;
use tfdrift::alert::{Alert, Severity};
use tfdrift::rules::rule_tests::build_test_alert;
use tfdrift::rules::{EvalContext, IgnoreStats, RuleSet, Verdict};

fn day(d: &str) -> NaiveDate {
    NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("valid date")
}

fn ctx() -> EvalContext<'static> {
    EvalContext {
        default_severity: Severity::Medium,
        today: day("2026-06-01"),
        tags: None,
    }
}

fn alert(partial: &serde_json::Value) -> Alert {
    build_test_alert(partial, Some("aws_security_group")).expect("valid alert")
}

const RULES: &str = r#"
rules:
  - id: any-sg
    severity: low
    resource_types: ["aws_security_*"]
    actions: [{type: alert, channels: [slack]}]
  - id: world
    severity: critical
    resource_types: [aws_security_group]
    conditions:
      - attribute: ingress.*.cidr_blocks
        operator: cidr_contains
        value: 0.0.0.0/0
    actions: [{type: alert, channels: [pagerduty, slack]}]
    remediation:
      - "aws ec2 revoke-security-group-ingress --group-id {resource.id} --region {event.region}"
      - "terraform apply -target='{resource.address}' # {diff.path} {{literal}}"
    runbook: "https://runbooks/{resource.type}"
    filters:
      - user_identity: {arn: "arn:aws:iam::*:role/terraform-*"}
        action: skip
  - id: high-port
    severity: high
    resource_types: [aws_security_group]
    conditions:
      - attribute: ingress.*.from_port
        operator: gt
        value: 1024
      - any:
          - field: event.region
            operator: in
            value: [eu-west-1, us-east-1]
          - field: actor.via
            operator: equals
            value: console
ignore:
  - id: sandbox
    address: "module.sandbox.*"
    reason: "sandbox is hand-managed"
  - id: old
    type: aws_security_group
    user_identity: {session: "breakglass-*"}
    reason: "break-glass window"
    expires: 2026-05-01
"#;

fn open_sg() -> Alert {
    alert(&json!({
        "resource": {"id": "sg-1", "address": "aws_security_group.web"},
        "diffs": [{"path": "ingress", "state": [], "observed": [{"cidr_blocks": ["0.0.0.0/0"], "from_port": 8080}]}]
    }))
}

#[test]
fn highest_severity_wins_and_all_matches_are_listed_highest_first() {
    let set = RuleSet::from_str("t.yaml", RULES).unwrap();
    let eval = set.evaluate(&open_sg(), &ctx());
    let ids: Vec<&str> = eval.matched.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["world", "high-port", "any-sg"]);
    assert_eq!(eval.severity, Severity::Critical);
    assert_eq!(eval.channels, ["pagerduty", "slack"]);
    assert_eq!(eval.verdict, Verdict::Keep);
    assert_eq!(
        eval.remediation,
        [
            "aws ec2 revoke-security-group-ingress --group-id sg-1 --region us-east-1",
            "terraform apply -target='aws_security_group.web' # ingress {literal}"
        ]
    );
    assert_eq!(
        eval.runbook.as_deref(),
        Some("https://runbooks/aws_security_group")
    );
}

#[test]
fn apply_writes_the_alert_and_unmatched_drift_gets_the_default() {
    let set = RuleSet::from_str("t.yaml", RULES).unwrap();
    let mut a = open_sg();
    assert_eq!(set.apply(&mut a, &ctx()), Verdict::Keep);
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.rules, ["world", "high-port", "any-sg"]);
    assert_eq!(a.remediation.len(), 2);

    let mut other = build_test_alert(
        &json!({"diffs": [{"path": "tags.Name", "state": "a", "observed": "b"}]}),
        Some("aws_instance"),
    )
    .unwrap();
    let quiet = EvalContext {
        default_severity: Severity::Info,
        ..ctx()
    };
    assert_eq!(set.apply(&mut other, &quiet), Verdict::Keep);
    assert_eq!(other.severity, Severity::Info);
    assert!(other.rules.is_empty() && other.remediation.is_empty() && other.runbook.is_none());
}

#[test]
fn identity_filter_skips_only_its_rule() {
    let set = RuleSet::from_str("t.yaml", RULES).unwrap();
    let mut a = open_sg();
    a.actor.arn = Some("arn:aws:iam::123456789012:role/terraform-ci".into());
    let eval = set.evaluate(&a, &ctx());
    assert_eq!(eval.skipped_by, ["world"]);
    assert_eq!(eval.severity, Severity::High, "other rules still apply");
    assert_eq!(eval.verdict, Verdict::Keep);

    let only = RuleSet::from_str(
        "t.yaml",
        &RULES.replace(
            "resource_types: [\"aws_security_*\"]",
            "resource_types: [aws_vpc]",
        ),
    )
    .unwrap();
    a.event.region = Some("ap-south-1".into());
    assert_eq!(
        only.evaluate(&a, &ctx()).verdict,
        Verdict::Skipped {
            rule: "world".into()
        }
    );
}

#[test]
fn ignores_apply_expire_and_are_counted() {
    let set = RuleSet::from_str("t.yaml", RULES).unwrap();
    let mut stats = IgnoreStats::default();

    let mut a = open_sg();
    a.resource.address = Some("module.sandbox.aws_security_group.x".into());
    let verdict = set.apply(&mut a, &ctx());
    assert_eq!(
        verdict,
        Verdict::Ignored {
            entry: "sandbox".into(),
            reason: "sandbox is hand-managed".into()
        }
    );
    assert_eq!(
        a.severity,
        Severity::Critical,
        "ignored alerts still say what they would have been"
    );
    stats.record(&verdict, &a);

    let mut b = open_sg();
    b.actor.session = Some("breakglass-42".into());
    let before = EvalContext {
        today: day("2026-04-30"),
        ..ctx()
    };
    assert!(
        matches!(set.evaluate(&b, &before).verdict, Verdict::Ignored { ref entry, .. } if entry == "old")
    );
    let after = set.evaluate(&b, &ctx());
    assert_eq!(
        after.verdict,
        Verdict::Keep,
        "expired ignores stop applying"
    );
    assert_eq!(after.expired_ignores, ["old"]);
    stats.record(&after.verdict, &b);
    assert_eq!(stats.total(), 1);
    assert_eq!(stats.entries["sandbox"].count, 1);
}

#[test]
fn operators_and_sides() {
    let rules = r#"
rules:
  - {id: state-side, severity: low, conditions: [{attribute: instance_type, operator: equals, value: t3.micro, on: state}]}
  - {id: observed-side, severity: low, conditions: [{attribute: instance_type, operator: equals, value: t3.micro}]}
  - {id: not-in, severity: low, conditions: [{attribute: instance_type, operator: not_in, value: [t3.micro, t3.small]}]}
  - {id: glob, severity: low, conditions: [{attribute: instance_type, operator: glob, value: "m5.*"}]}
  - {id: lt, severity: low, conditions: [{attribute: volume_size, operator: lt, value: "10"}]}
  - {id: exists, severity: low, conditions: [{attribute: volume_size, operator: exists}]}
  - {id: absent, severity: low, conditions: [{attribute: iops, operator: absent}]}
  - {id: contains, severity: low, conditions: [{attribute: security_groups, operator: contains, value: sg-2}]}
  - {id: from-only, severity: low, conditions: [{attribute: instance_type, operator: changed, from: t3.micro}]}
  - {id: to-wrong, severity: low, conditions: [{attribute: instance_type, operator: changed, to: t3.micro}]}
  - {id: managed, severity: low, conditions: [{field: resource.managed, operator: equals, value: "true"}]}
"#;
    let set = RuleSet::from_str("ops.yaml", rules).unwrap();
    let a = build_test_alert(
        &json!({"diffs": [
            {"path": "instance_type", "state": "t3.micro", "observed": "m5.large"},
            {"path": "volume_size", "state": 20, "observed": "8"},
            {"path": "security_groups", "state": ["sg-1"], "observed": ["sg-1", "sg-2"]}
        ]}),
        Some("aws_instance"),
    )
    .unwrap();
    let mut ids: Vec<String> = set
        .evaluate(&a, &ctx())
        .matched
        .into_iter()
        .map(|m| m.id)
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "absent",
            "contains",
            "exists",
            "from-only",
            "glob",
            "lt",
            "managed",
            "not-in",
            "state-side"
        ]
    );
}

#[test]
fn context_tags_fill_in_unchanged_tags() {
    let set = RuleSet::from_str("t.yaml", "rules:\n  - {id: prod, severity: high, conditions: [{attribute: tags.Environment, operator: equals, value: production}]}\n").unwrap();
    let a = build_test_alert(
        &json!({"diffs": [{"path": "instance_type", "state": "a", "observed": "b"}]}),
        None,
    )
    .unwrap();
    assert!(set.evaluate(&a, &ctx()).matched.is_empty());
    let tags = json!({"Environment": "production"});
    let with = EvalContext {
        tags: tags.as_object(),
        ..ctx()
    };
    assert_eq!(set.evaluate(&a, &with).matched.len(), 1);
    // A tags diff wins over the context (the tag changed away from production).
    let b = build_test_alert(&json!({"diffs": [{"path": "tags", "state": {"Environment": "production"}, "observed": {"Environment": "dev"}}]}), None).unwrap();
    assert!(set.evaluate(&b, &with).matched.is_empty());
}

#[test]
fn event_fixtures_need_the_pipeline() {
    let text = "rules:\n  - id: r\n    severity: high\n    tests:\n      - {name: raw, expect: match, event: {eventName: DeleteTrail}}\n";
    let set = RuleSet::from_str("t.yaml", text).unwrap();
    let report = set.run_tests(None, day("2026-06-01"));
    assert!(!report.passed());
    assert!(report.rows[0].why.starts_with("needs pipeline"), "{report}");
    let convert = |_: &serde_json::Value| vec![build_test_alert(&json!({}), None).unwrap()];
    let report = set.run_tests(Some(&convert), day("2026-06-01"));
    assert!(report.passed(), "{report}");
    assert!(report.to_string().contains("1 tests, 1 passed, 0 failed"));
}

#[test]
fn sibling_tests_file_and_directory_loading() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), "rules:\n  - {id: a1, severity: high, resource_types: [aws_instance], conditions: [{attribute: x, operator: changed}]}\n").unwrap();
    std::fs::write(
        dir.path().join("a.tests.yaml"),
        "tests:\n  - {rule: a1, name: hit, expect: match, alert: {diffs: [{path: x, state: 1, observed: 2}]}}\n  - {rule: a1, name: wrong, expect: match, alert: {}}\n  - {rule: a2, name: unknown rule, expect: match, alert: {}}\n",
    )
    .unwrap();
    let err = RuleSet::load(&[dir.path().to_path_buf()]).unwrap_err();
    assert_eq!(err.len(), 1);
    assert!(
        err[0]
            .message
            .contains("unknown rule 'a2' (did you mean 'a1'?)"),
        "{}",
        err[0]
    );

    let tests = dir.path().join("a.tests.yaml");
    let text = std::fs::read_to_string(&tests).unwrap();
    std::fs::write(&tests, text.lines().take(3).collect::<Vec<_>>().join("\n")).unwrap();
    // Loading the rule file alone picks up its sibling tests file.
    let report = tfdrift::rules::run_tests(&[dir.path().join("a.yaml")], None, day("2026-06-01"));
    assert_eq!(report.rows.len(), 2);
    assert!(report.rows[0].passed);
    assert!(!report.rows[1].passed);
    assert_eq!(report.rows[1].why, "expected match, got no_match");
}

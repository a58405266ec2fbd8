//! Rule evaluation hot path: 200 compiled rules against one security-group drift alert.
//! Target: under 20 µs median per alert.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::fmt::Write as _;
use std::hint::black_box;
use tfdrift::alert::Severity;
use tfdrift::rules::rule_tests::build_test_alert;
use tfdrift::rules::{EvalContext, RuleSet};

/// 200 rules: 60 on the alert's own type (mixed operators), 100 on other types, 40 generic (globs
/// or no type, with field conditions) — a realistic worst-ish case where many rules are checked.
fn rules_text() -> String {
    let mut s = String::from("rules:\n");
    for i in 0..200 {
        let (types, cond) = match i % 10 {
            0..=2 => (
                "[aws_security_group]",
                match i % 3 {
                    0 => "[{attribute: ingress.*.cidr_blocks, operator: changed}, {attribute: ingress.*.cidr_blocks, operator: cidr_contains, value: 0.0.0.0/0}]".to_owned(),
                    1 => format!("[{{attribute: ingress.*.from_port, operator: gt, value: {i}}}, {{any: [{{field: event.region, operator: in, value: [eu-west-1, us-east-1]}}, {{field: actor.via, operator: equals, value: console}}]}}]"),
                    _ => format!("[{{attribute: description, operator: matches, value: '^rule-{i}-[a-z]+$'}}]"),
                },
            ),
            3..=7 => ("[aws_instance, aws_s3_bucket]", format!("[{{attribute: instance_type, operator: changed, from: t3.micro, to: m5.{i}xlarge}}]")),
            _ => (
                "[\"aws_*\"]",
                format!("[{{field: actor.arn, operator: glob, value: 'arn:aws:iam::*:role/ops-{i}'}}, {{field: kind, operator: equals, value: attribute_drift}}]"),
            ),
        };
        let sev = ["critical", "high", "medium", "low", "info"][i % 5];
        let _ = write!(
            s,
            "  - id: r{i}\n    severity: {sev}\n    resource_types: {types}\n    conditions: {cond}\n    remediation: [\"terraform apply -target='{{resource.address}}'\", \"aws ec2 revoke-security-group-ingress --group-id {{resource.id}}\"]\n    runbook: \"https://runbooks/{{resource.type}}\"\n"
        );
    }
    s
}

fn bench(c: &mut Criterion) {
    let set = RuleSet::from_str("bench.yaml", &rules_text()).expect("bench rules load");
    assert_eq!(set.len(), 200);
    let alert = build_test_alert(
        &json!({
            "resource": {"type": "aws_security_group", "id": "sg-0123", "address": "aws_security_group.web"},
            "diffs": [
                {"path": "ingress", "state": [{"cidr_blocks": ["10.0.0.0/8"], "from_port": 22, "to_port": 22, "protocol": "tcp"}],
                 "observed": [{"cidr_blocks": ["10.0.0.0/8"], "from_port": 22, "to_port": 22, "protocol": "tcp"},
                              {"cidr_blocks": ["0.0.0.0/0"], "from_port": 443, "to_port": 443, "protocol": "tcp"}]},
                {"path": "tags.Owner", "state": "team-a", "observed": "team-b"}
            ]
        }),
        None,
    )
    .expect("bench alert");
    let ctx = EvalContext {
        default_severity: Severity::Medium,
        today: NaiveDate::from_ymd_opt(2026, 6, 1).expect("date"),
        tags: None,
    };
    let eval = set.evaluate(&alert, &ctx);
    assert!(!eval.matched.is_empty());
    c.bench_function("rules/evaluate_200_rules_one_alert", |b| {
        b.iter(|| black_box(set.evaluate(black_box(&alert), &ctx)));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The shipped rule packs in `rules/`: they validate cleanly, every rule has passing match and
//! no_match tests, and the packs cover what the issue asks for.

use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tfdrift::rules::{self, RuleSet};

fn packs() -> Vec<PathBuf> {
    vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules")]
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid date")
}

#[test]
fn packs_validate_without_errors_or_warnings() {
    let diags = rules::validate_paths_at(
        &packs(),
        &["slack".to_owned(), "pagerduty".to_owned()],
        today(),
    );
    let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
    assert!(
        diags.is_empty(),
        "diagnostics on shipped packs:\n{}",
        text.join("\n")
    );
}

#[test]
fn every_shipped_rule_test_passes() {
    let report = rules::run_tests(&packs(), None, today());
    assert!(report.passed(), "{report}");
    assert!(report.rows.len() >= 100, "only {} tests", report.rows.len());
}

#[test]
fn every_rule_has_match_and_no_match_tests_runbook_and_remediation() {
    let set = RuleSet::load(&packs()).unwrap();
    let mut seen: BTreeMap<&str, (bool, bool)> =
        set.rule_ids().map(|id| (id, (false, false))).collect();
    for t in set.tests() {
        let entry = seen.get_mut(t.rule.as_str()).unwrap();
        match t.expect {
            rules::rule_tests::Expect::Match => entry.0 = true,
            rules::rule_tests::Expect::NoMatch => entry.1 = true,
            rules::rule_tests::Expect::Skip => {}
        }
    }
    let missing: Vec<_> = seen
        .iter()
        .filter(|(_, (m, n))| !(*m && *n))
        .map(|(id, _)| *id)
        .collect();
    assert!(
        missing.is_empty(),
        "rules without both match and no_match tests: {missing:?}"
    );
    for rule in set.rules() {
        assert!(rule.runbook.is_some(), "{} has no runbook", rule.id);
        assert!(
            !rule.remediation.is_empty(),
            "{} has no remediation",
            rule.id
        );
        let text: String = rule.remediation.iter().map(|t| t.source.as_str()).collect();
        assert!(
            text.contains("terraform"),
            "{} remediation names no terraform command",
            rule.id
        );
    }
}

#[test]
fn packs_are_big_enough() {
    let count = |file: &str| {
        let path = packs()[0].join(file);
        RuleSet::load(&[path]).unwrap().len()
    };
    assert!(count("aws-security-critical.yaml") >= 27);
    assert!(count("gcp-security-critical.yaml") >= 17);
    assert!(count("operations.yaml") >= 4);
}

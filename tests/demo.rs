//! The embedded demo: a state Terraform really wrote (against moto) and CloudTrail records of
//! real out-of-band calls. Its expectations (`assets/demo/expected-alerts.json`) were written by
//! the script that made the calls, independently of the pipeline.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use assert_cmd::Command;
use serde_json::Value;
use tfdrift::compare::equivalent;
use tfdrift::pipeline::EngineOptions;

#[test]
fn demo_events_give_exactly_the_expected_alerts() {
    let state = tfdrift::assets::file("demo/terraform.tfstate").expect("embedded demo state");
    let events = tfdrift::assets::file("demo/events.jsonl").expect("embedded demo events");
    let expected: Vec<Value> =
        serde_json::from_slice(tfdrift::assets::file("demo/expected-alerts.json").unwrap())
            .unwrap();
    let mut engine = common::engine(&[("demo", state)], &EngineOptions::default());
    let (alerts, stats) = common::replay(&mut engine, "events.jsonl", events);
    assert_eq!(stats.records_read, 15);
    let mut want_alerts = 0;
    for e in &expected {
        let id = e["eventID"].as_str().unwrap();
        let got: Vec<_> = alerts.iter().filter(|a| a.event.id == id).collect();
        if e["expect"] == "silent" {
            assert!(
                got.is_empty(),
                "line {}: expected silence, got {got:?}",
                e["line"]
            );
            continue;
        }
        want_alerts += 1;
        assert_eq!(got.len(), 1, "line {}: one alert", e["line"]);
        let a = got[0];
        assert_eq!(
            a.kind.as_str(),
            e["kind"].as_str().unwrap(),
            "line {}",
            e["line"]
        );
        assert_eq!(a.resource.rtype, e["resource_type"].as_str().unwrap());
        assert_eq!(a.resource.id, e["resource_id"].as_str().unwrap());
        assert_eq!(a.resource.address.as_deref(), e["address"].as_str());
        if let Some(attr) = e["attribute"].as_str() {
            let path = attr.replace('[', ".").replace(']', "");
            let diff =
                a.diffs.iter().find(|d| d.path == path).unwrap_or_else(|| {
                    panic!("line {}: no diff on {path}: {:?}", e["line"], a.diffs)
                });
            assert!(
                equivalent(&diff.observed, &e["observed_value"])
                    || contains_all(&diff.observed, &e["observed_value"]),
                "line {}: observed {} vs expected {}",
                e["line"],
                diff.observed,
                e["observed_value"]
            );
            assert!(
                equivalent(&diff.state, &e["state_value"]),
                "line {}: state",
                e["line"]
            );
        }
    }
    assert_eq!(alerts.len(), want_alerts);
    assert_eq!(
        stats.terraform_originated, 2,
        "Terraform's own apply stays silent"
    );
}

/// For additive changes (a rule added to a set) the expectation may list only what was added.
fn contains_all(observed: &Value, expected: &Value) -> bool {
    match (observed.as_array(), expected.as_array()) {
        (Some(o), Some(e)) => e.iter().all(|x| o.iter().any(|y| equivalent(x, y))),
        _ => false,
    }
}

/// Runs `tfdrift tui --profile demo --no-ui --once` in an empty home (no config, no network):
/// the alerts on stdout and the summary on stderr.
fn run_headless_demo() -> (Vec<Value>, String) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("tfdrift")
        .unwrap()
        .args([
            "tui",
            "--profile",
            "demo",
            "--no-ui",
            "--once",
            "--replay-interval-ms",
            "0",
        ])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env_remove("TFDRIFT_CONFIG")
        .current_dir(home.path())
        .timeout(std::time::Duration::from_mins(2))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let alerts = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (alerts, stderr)
}

#[test]
fn headless_demo_runs_with_no_config_and_no_network() {
    let (lines, stderr) = run_headless_demo();
    assert_eq!(lines.len(), 10, "alerts");
    assert!(lines.iter().all(|a| a["schema"] == "tfdrift.alert/v1"));
    assert!(stderr.contains("15 records"), "{stderr}");
}

#[test]
fn demo_with_shipped_rules_ranks_the_dangerous_changes_first() {
    let (alerts, _) = run_headless_demo();
    let by_addr = |addr: &str| {
        alerts
            .iter()
            .find(|a| a["resource"]["address"] == addr)
            .unwrap_or_else(|| panic!("no alert for {addr}"))
    };
    // Port 22 opened to the world, a public bucket policy, a trust policy opened to any AWS
    // principal: critical, with the rule named and remediation rendered for that resource.
    for addr in [
        "aws_security_group.web",
        "aws_s3_bucket_policy.data",
        "aws_iam_role.app",
    ] {
        let a = by_addr(addr);
        assert_eq!(a["severity"], "critical", "{addr}: {a}");
        assert!(!a["rules"].as_array().unwrap().is_empty());
        let remediation = a["remediation"].to_string();
        assert!(
            remediation.contains(addr),
            "{addr}: remediation names the address: {remediation}"
        );
    }
    // Unmanaged resources are reported, at the operations pack's low severity.
    assert!(
        alerts
            .iter()
            .any(|a| a["kind"] == "unmanaged_change" && a["severity"] == "low")
    );
}

#[test]
fn rules_validate_reports_errors_with_position_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "rules:\n  - id: r1\n    name: x\n    resource_types: [aws_instance]\n    conditions:\n      - attribute: instance_type\n        operator: chnaged\n    severity: high\n",
    )
    .unwrap();
    let out = Command::cargo_bin("tfdrift")
        .unwrap()
        .args(["rules", "validate"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml:7:"), "{stderr}");
    assert!(stderr.contains("did you mean 'changed'"), "{stderr}");
}

#[test]
fn rules_validate_checks_channels_against_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tfdrift.yaml");
    std::fs::write(
        &cfg,
        "profiles:\n  p:\n    notify:\n      channels:\n        slack: { type: slack, url_env: SLACK_URL }\n",
    )
    .unwrap();
    let rules = dir.path().join("r.yaml");
    std::fs::write(
        &rules,
        "rules:\n  - id: r1\n    name: x\n    severity: high\n    actions:\n      - type: alert\n        channels: [slack, pagerduty]\n",
    )
    .unwrap();
    let out = Command::cargo_bin("tfdrift")
        .unwrap()
        .args(["rules", "validate", "--profile", "p", "--config"])
        .arg(&cfg)
        .arg(&rules)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("r.yaml:7:27: error[R007]: unknown channel 'pagerduty'"),
        "{stderr}"
    );
}

/// Load errors name the real problem: a missing state is "not found" (not "not valid JSON at
/// line 0"), a wrong structure names its key, a newer format names the supported versions
/// (not "upgrade"), and a self-linked rule or state file is a symlink loop (not "no such file").
#[test]
fn state_and_rule_load_errors_name_the_real_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("shape.tfstate"),
        r#"{"version":4,"resources":{"aws_vpc":{}}}"#,
    )
    .unwrap();
    std::fs::write(d.join("v5.tfstate"), r#"{"version":5,"resources":[]}"#).unwrap();
    std::os::unix::fs::symlink(d.join("loop.tfstate"), d.join("loop.tfstate")).unwrap();
    std::os::unix::fs::symlink(d.join("loop.yaml"), d.join("loop.yaml")).unwrap();
    std::fs::write(d.join("events.jsonl"), "").unwrap();
    let state_error = |name: &str| {
        let out = Command::cargo_bin("tfdrift")
            .unwrap()
            .args(["replay", "--state"])
            .arg(d.join(name))
            .arg(d.join("events.jsonl"))
            .env_remove("TFDRIFT_CONFIG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        stderr
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not named: {stderr}"))
            .to_string()
    };
    for (name, want, not) in [
        ("missing.tfstate", "not found", "not valid JSON"),
        (
            "shape.tfstate",
            "`resources` should be a list, found an object",
            "not valid JSON",
        ),
        (
            "v5.tfstate",
            "format version 5, which this tfdrift does not read; supported: format version 4",
            "upgrade",
        ),
        ("loop.tfstate", "symlink loop", "not valid JSON"),
    ] {
        let line = state_error(name);
        assert!(line.contains(want), "{line}");
        assert!(!line.contains(not), "{line}");
    }
    let out = Command::cargo_bin("tfdrift")
        .unwrap()
        .args(["rules", "validate"])
        .arg(d.join("loop.yaml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("symlink loop"), "{stderr}");
    assert!(!stderr.contains("no such file"), "{stderr}");
}

//! Proof against Terraform itself: tfdrift's diffs name the attributes and values that
//! `terraform plan -refresh-only` reports as `resource_drift`.
//!
//! `scripts/proof/run.sh` applies `scripts/proof/main.tf` (27 resources of 23 types) with
//! terraform and the mirrored AWS provider 5.100.0 against a local moto server, makes 31
//! out-of-band changes through the AWS API with boto3 (`scripts/proof/out_of_band.py`), writes
//! the CloudTrail record of each call, and extracts Terraform's own `resource_drift` per attribute
//! path (`scripts/proof/refresh_drift.py`). This test replays the records through the `tfdrift`
//! binary against the state Terraform wrote, and checks both directions:
//!
//! * every attribute path Terraform reports as drifted is covered by a tfdrift diff on the same
//!   address with equivalent state and observed values (`tfdrift::compare::equivalent`), and
//!   every resource Terraform reports as deleted has a `managed_resource_deleted` alert;
//! * every tfdrift diff is one Terraform reports too.
//!
//! Exceptions are explicit, each with its reason: [`NOISE`] (what Terraform reports that is not
//! an out-of-band change: computed or mirrored attributes), [`CATALOG_GAPS`] (changes the catalog
//! on this branch does not map yet: tolerated only as *missing*; once mapped they must match) and
//! [`KNOWN_DEFECTS`] (tfdrift diffs Terraform does not report; each entry must still reproduce, so
//! a fix forces the entry out). Anything else fails, with a table of every comparison.
//!
//! Needs terraform, the provider mirror at /opt/tf-plugins and python with moto[server] + boto3
//! (`scripts/ci-deps.sh`); the test fails, naming what is missing, when they are not there.
//! Terraform's side is checked with `tests/tf_support` (as every terraform test), and the script
//! runs terraform with the same mirror (`TF_PLUGIN_MIRROR`) and the same CLI config file
//! (`tests/tf_support/cli.tfrc`).
//! Runtime: 70-90 s on two cores (apply ~45-55 s, refresh-only plan ~20 s), see `scripts/proof/run.sh`.
//!
//! To debug the comparison without re-running Terraform, `TFDRIFT_PROOF_REUSE=DIR` compares the
//! outputs a previous `scripts/proof/run.sh DIR` left there.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::tf_support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command as Process;
use std::time::Instant;

use assert_cmd::Command;
use serde_json::Value;
use tfdrift::compare::{equivalent, get_path};

/// What Terraform reports that is not an out-of-band change: (resource type, attribute path or
/// path prefix, reason). Matched on whole path segments.
const NOISE: &[(&str, &str, &str)] = &[
    (
        "aws_iam_role",
        "inline_policy",
        "computed mirror of the aws_iam_role_policy resources, empty when the role was created and filled by any refresh; the change itself is compared on aws_iam_role_policy.policy",
    ),
    (
        "aws_iam_role",
        "managed_policy_arns",
        "computed mirror of the aws_iam_role_policy_attachment resources (filled by any refresh); attachments are compared as resources",
    ),
    (
        "aws_iam_policy",
        "attachment_count",
        "computed count of attachments, 0 when the policy was created before its attachment",
    ),
    (
        "aws_s3_bucket",
        "policy",
        "deprecated computed mirror of aws_s3_bucket_policy (\"\" at create, filled by any refresh); the change is compared on aws_s3_bucket_policy.policy",
    ),
    (
        "aws_s3_bucket",
        "versioning",
        "deprecated computed mirror of aws_s3_bucket_versioning; compared on aws_s3_bucket_versioning",
    ),
    (
        "aws_s3_bucket",
        "server_side_encryption_configuration",
        "deprecated computed mirror of aws_s3_bucket_server_side_encryption_configuration",
    ),
    (
        "aws_kms_alias",
        "target_key_arn",
        "computed: the ARN of target_key_id, which is compared",
    ),
    (
        "aws_ssm_parameter",
        "version",
        "computed: SSM increments the version on every PutParameter",
    ),
    (
        "aws_dynamodb_table",
        "point_in_time_recovery.0.recovery_period_in_days",
        "computed: the service's default (35) once point-in-time recovery is on; the request does not carry it",
    ),
];

/// Changes the catalog on this branch does not map with attribute values: (resource type,
/// attribute path, event, reason). A missing tfdrift diff is tolerated; a present one must match.
const CATALOG_GAPS: &[(&str, &str, &str, &str)] = &[
    (
        "aws_sqs_queue",
        "visibility_timeout_seconds",
        "sqs:SetQueueAttributes",
        "no sqs catalog on this branch",
    ),
    (
        "aws_cloudwatch_log_group",
        "retention_in_days",
        "logs:PutRetentionPolicy",
        "no logs catalog on this branch",
    ),
    (
        "aws_dynamodb_table",
        "point_in_time_recovery.0.enabled",
        "dynamodb:UpdateContinuousBackups",
        "no dynamodb catalog on this branch",
    ),
    (
        "aws_sns_topic",
        "display_name",
        "sns:SetTopicAttributes",
        "no sns catalog on this branch (the attribute name is a request value: attributeName/attributeValue)",
    ),
    (
        "aws_ssm_parameter",
        "description",
        "ssm:PutParameter",
        "no ssm catalog on this branch",
    ),
];

/// tfdrift diffs Terraform does not report: (address, attribute path, reason). Each must still
/// occur; when one is fixed the test fails until the entry is removed.
const KNOWN_DEFECTS: &[(&str, &str, &str)] = &[];

/// Terraform's report for one resource (`drift.json`, written by scripts/proof/refresh_drift.py).
struct TfDrift {
    address: String,
    rtype: String,
    action: String,
    changes: BTreeMap<String, (Value, Value)>,
    before: Value,
    after: Value,
}

/// A tfdrift diff, with the event that revealed it.
#[derive(Clone)]
struct Seen {
    path: String,
    state: Value,
    observed: Value,
    event: String,
}

#[derive(Default)]
struct Report {
    rows: Vec<[String; 6]>,
    failures: usize,
    matched: usize,
    matched_types: std::collections::BTreeSet<String>,
}

impl Report {
    fn row(&mut self, status: &str, address: &str, path: &str, tf: String, td: String, note: &str) {
        if matches!(status, "MISMATCH" | "MISSING" | "EXTRA" | "STALE") {
            self.failures += 1;
        }
        self.rows.push([
            status.to_string(),
            address.to_string(),
            path.to_string(),
            tf,
            td,
            note.to_string(),
        ]);
    }

    fn table(&self) -> String {
        let headers = [
            "status",
            "address",
            "attribute",
            "terraform (before -> after)",
            "tfdrift (state -> observed) [event]",
            "note",
        ];
        let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(5) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        let line = |cells: &[&str], out: &mut String| {
            for (i, c) in cells.iter().enumerate() {
                if i < 5 {
                    let _ = write!(out, "{c:<w$} | ", w = widths[i]);
                } else {
                    let _ = write!(out, "{c}");
                }
            }
            out.push('\n');
        };
        line(&headers, &mut out);
        let _ = writeln!(
            out,
            "{}",
            "-".repeat(widths.iter().sum::<usize>() + 3 * widths.len() + 4)
        );
        for r in &self.rows {
            let cells: Vec<&str> = r.iter().map(String::as_str).collect();
            line(&cells, &mut out);
        }
        out
    }
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if s.chars().count() > 48 {
        format!("{}…", s.chars().take(47).collect::<String>())
    } else {
        s
    }
}

/// `a` equals `b` or is a whole-segment prefix of it.
fn covers(prefix: &str, path: &str) -> bool {
    path == prefix || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'.'))
}

fn noise_reason(rtype: &str, path: &str) -> Option<&'static str> {
    NOISE
        .iter()
        .find(|(t, p, _)| *t == rtype && covers(p, path))
        .map(|(_, _, r)| *r)
}

fn run_proof(out: &Path) {
    tf_support::require();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/proof/run.sh");
    let started = Instant::now();
    let status = Process::new("bash")
        .arg(&script)
        .arg(out)
        .env("TF_PLUGIN_MIRROR", tf_support::mirror())
        .status()
        .expect("bash must be on PATH to run scripts/proof/run.sh");
    match status.code() {
        Some(0) => {}
        Some(3) => panic!(
            "scripts/proof/run.sh: prerequisites missing (listed above). Install terraform >= 1.5, \
             the hashicorp/aws 5.100.0 provider in the filesystem mirror /opt/tf-plugins \
             (or set TF_PLUGIN_MIRROR), and python with moto[server] + boto3 \
             (scripts/ci-deps.sh installs them into .venv)"
        ),
        _ => panic!("scripts/proof/run.sh failed ({status}); its log is above"),
    }
    eprintln!(
        "[proof] run.sh took {:.0}s",
        started.elapsed().as_secs_f64()
    );
}

fn load_terraform_drift(out: &Path) -> Vec<TfDrift> {
    let drift: Vec<Value> =
        serde_json::from_slice(&std::fs::read(out.join("drift.json")).unwrap()).unwrap();
    drift
        .into_iter()
        .map(|d| TfDrift {
            address: d["address"].as_str().unwrap().to_string(),
            rtype: d["type"].as_str().unwrap_or_default().to_string(),
            action: d["action"].as_str().unwrap().to_string(),
            changes: d["changes"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, c)| (k.clone(), (c["before"].clone(), c["after"].clone())))
                        .collect()
                })
                .unwrap_or_default(),
            before: d["before"].clone(),
            after: d["after"].clone(),
        })
        .collect()
}

fn run_tfdrift(out: &Path) -> Vec<Value> {
    let output = Command::cargo_bin("tfdrift")
        .unwrap()
        .arg("replay")
        .arg("--state")
        .arg(out.join("terraform.tfstate"))
        .arg(out.join("events.jsonl"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "tfdrift replay failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "[proof] tfdrift: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("alert JSON line"))
        .collect()
}

#[test]
fn tfdrift_diffs_match_terraform_refresh_only() {
    let tmp = tempfile::tempdir().unwrap();
    let reuse = std::env::var_os("TFDRIFT_PROOF_REUSE").map(std::path::PathBuf::from);
    let out = match &reuse {
        Some(dir) => {
            eprintln!(
                "[proof] TFDRIFT_PROOF_REUSE: comparing the outputs in {}",
                dir.display()
            );
            dir.as_path()
        }
        None => {
            run_proof(tmp.path());
            tmp.path()
        }
    };

    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    let record_count = events.lines().count();
    let terraform = load_terraform_drift(out);
    let alerts = run_tfdrift(out);

    // tfdrift's view per address: attribute diffs (the latest event wins per path) and deletions.
    let mut observed: BTreeMap<String, BTreeMap<String, Seen>> = BTreeMap::new();
    let mut deleted: BTreeMap<String, String> = BTreeMap::new();
    let mut report = Report::default();
    for a in &alerts {
        let kind = a["kind"].as_str().unwrap();
        let event = a["event"]["name"].as_str().unwrap().to_string();
        let Some(address) = a["resource"]["address"].as_str() else {
            report.row(
                "EXTRA",
                "-",
                "-",
                "-".into(),
                format!("{kind} {} [{event}]", a["resource"]["id"]),
                "no out-of-band call here creates or touches an unmanaged resource",
            );
            continue;
        };
        match kind {
            "attribute_drift" => {
                let per = observed.entry(address.to_string()).or_default();
                for d in a["diffs"].as_array().unwrap() {
                    let path = d["path"].as_str().unwrap().to_string();
                    per.insert(
                        path.clone(),
                        Seen {
                            path,
                            state: d["state"].clone(),
                            observed: d["observed"].clone(),
                            event: event.clone(),
                        },
                    );
                }
                if a["diffs"].as_array().unwrap().is_empty() {
                    per.entry(String::new()).or_insert(Seen {
                        path: String::new(),
                        state: Value::Null,
                        observed: Value::Null,
                        event: event.clone(),
                    });
                }
            }
            "managed_resource_deleted" => {
                deleted.insert(address.to_string(), event);
            }
            other => report.row(
                "EXTRA",
                address,
                "-",
                "-".into(),
                format!("{other} [{event}]"),
                "unexpected alert kind",
            ),
        }
    }

    // Terraform → tfdrift: every drifted attribute is covered with equivalent values.
    let mut used: Vec<(String, String)> = Vec::new();
    for tf in &terraform {
        let empty = BTreeMap::new();
        let mine = observed.get(&tf.address).unwrap_or(&empty);
        if tf.action == "delete" {
            if let Some(event) = deleted.get(&tf.address) {
                report.row(
                    "MATCH",
                    &tf.address,
                    "(deleted)",
                    "resource gone".into(),
                    format!("managed_resource_deleted [{event}]"),
                    "",
                );
                report.matched += 1;
                report.matched_types.insert(tf.rtype.clone());
            } else {
                report.row(
                    "MISSING",
                    &tf.address,
                    "(deleted)",
                    "resource gone".into(),
                    "-".into(),
                    "tfdrift raised no managed_resource_deleted",
                );
            }
            continue;
        }
        for (path, (before, after)) in &tf.changes {
            let tf_cell = format!("{} -> {}", short(before), short(after));
            if equivalent(before, after) {
                report.row(
                    "EMPTY",
                    &tf.address,
                    path,
                    tf_cell,
                    "-".into(),
                    "representation only (null vs empty): the provider normalising after create",
                );
                continue;
            }
            if let Some(reason) = noise_reason(&tf.rtype, path) {
                report.row("NOISE", &tf.address, path, tf_cell, "-".into(), reason);
                continue;
            }
            if let Some(key) = path.strip_prefix("tags_all.") {
                let tags_path = format!("tags.{key}");
                if tf
                    .changes
                    .get(&tags_path)
                    .is_some_and(|(_, a)| equivalent(a, after))
                {
                    report.row(
                        "NOISE",
                        &tf.address,
                        path,
                        tf_cell,
                        "-".into(),
                        "tags_all mirrors tags (plus provider default_tags); compared on tags",
                    );
                    continue;
                }
            }
            // tfdrift diffs at this path, above it (a whole list or block) or below it.
            let hits: Vec<&Seen> = mine
                .values()
                .filter(|o| !o.path.is_empty() && (covers(&o.path, path) || covers(path, &o.path)))
                .collect();
            let gap = CATALOG_GAPS
                .iter()
                .find(|(t, p, _, _)| *t == tf.rtype && covers(p, path));
            if hits.is_empty() {
                if let Some((_, _, event, reason)) = gap {
                    report.row(
                        "GAP",
                        &tf.address,
                        path,
                        tf_cell,
                        "-".into(),
                        &format!("catalog gap: {event} ({reason})"),
                    );
                } else {
                    report.row(
                        "MISSING",
                        &tf.address,
                        path,
                        tf_cell,
                        "-".into(),
                        "Terraform reports drift, tfdrift has no diff for it",
                    );
                }
                continue;
            }
            for o in hits {
                used.push((tf.address.clone(), o.path.clone()));
                // Compare at the more specific of the two paths.
                let at = if o.path.len() >= path.len() {
                    o.path.as_str()
                } else {
                    path.as_str()
                };
                let tf_before = get_path(&tf.before, at);
                let tf_after = get_path(&tf.after, at);
                let td_state = if at == o.path {
                    &o.state
                } else {
                    get_path(&o.state, &at[o.path.len() + 1..])
                };
                let td_obs = if at == o.path {
                    &o.observed
                } else {
                    get_path(&o.observed, &at[o.path.len() + 1..])
                };
                let td_cell = format!("{} -> {} [{}]", short(td_state), short(td_obs), o.event);
                let ok_after = equivalent(td_obs, tf_after);
                let ok_before = equivalent(td_state, tf_before);
                if ok_after && ok_before {
                    report.matched += 1;
                    report.matched_types.insert(tf.rtype.clone());
                    let note = if at == path.as_str() {
                        ""
                    } else {
                        "compared at tfdrift's path"
                    };
                    report.row("MATCH", &tf.address, path, tf_cell.clone(), td_cell, note);
                } else {
                    let why = match (ok_before, ok_after) {
                        (false, false) => "state and observed values differ",
                        (false, true) => "state value differs",
                        _ => "observed value differs",
                    };
                    report.row("MISMATCH", &tf.address, path, tf_cell.clone(), td_cell, why);
                }
            }
        }
    }

    // tfdrift → Terraform: every diff and deletion is one Terraform reports.
    let tf_by_address: BTreeMap<&str, &TfDrift> =
        terraform.iter().map(|t| (t.address.as_str(), t)).collect();
    let mut defects_seen = vec![false; KNOWN_DEFECTS.len()];
    for (address, per) in &observed {
        for o in per.values() {
            if used.iter().any(|(a, p)| a == address && *p == o.path) {
                continue;
            }
            let td_cell = format!(
                "{} -> {} [{}]",
                short(&o.state),
                short(&o.observed),
                o.event
            );
            if let Some(i) = KNOWN_DEFECTS
                .iter()
                .position(|(a, p, _)| a == address && *p == o.path)
            {
                defects_seen[i] = true;
                report.row(
                    "KNOWN-DEFECT",
                    address,
                    &o.path,
                    "(not reported)".into(),
                    td_cell,
                    KNOWN_DEFECTS[i].2,
                );
                continue;
            }
            let reported = tf_by_address.contains_key(address.as_str());
            let note = if o.path.is_empty() {
                "an attribute_drift alert without diffs"
            } else if reported {
                "tfdrift diff Terraform does not report on this resource"
            } else {
                "Terraform reports no drift on this resource"
            };
            report.row(
                "EXTRA",
                address,
                &o.path,
                "(not reported)".into(),
                td_cell,
                note,
            );
        }
    }
    for (address, event) in &deleted {
        let reported_deleted = tf_by_address
            .get(address.as_str())
            .is_some_and(|t| t.action == "delete");
        if !reported_deleted {
            report.row(
                "EXTRA",
                address,
                "(deleted)",
                "(not reported)".into(),
                format!("managed_resource_deleted [{event}]"),
                "Terraform does not report the resource as deleted",
            );
        }
    }
    for (i, seen) in defects_seen.iter().enumerate() {
        if !seen {
            let (a, p, _) = KNOWN_DEFECTS[i];
            report.row(
                "STALE",
                a,
                p,
                "-".into(),
                "-".into(),
                "listed in KNOWN_DEFECTS but no longer happens: remove the entry",
            );
        }
    }

    let gaps = report.rows.iter().filter(|r| r[0] == "GAP").count();
    eprintln!(
        "\n{}\n[proof] {record_count} CloudTrail records, {} alerts; Terraform reports {} drifted resources; \
         {} matched attribute paths/deletions on {} resource types, {gaps} catalog gaps, {} failures\n",
        report.table(),
        alerts.len(),
        terraform.len(),
        report.matched,
        report.matched_types.len(),
        report.failures,
    );
    assert_eq!(
        report.failures, 0,
        "tfdrift disagrees with terraform plan -refresh-only: see the MISMATCH / MISSING / EXTRA / STALE rows above"
    );
    // Not vacuous: the proof must really exercise many attributes and types.
    assert!(
        report.matched >= 20 && report.matched_types.len() >= 10,
        "too little compared: {} matches on {} types",
        report.matched,
        report.matched_types.len()
    );
}

//! Remediation behind approval, end to end: terraform + the mirrored AWS provider + a moto
//! server this test starts, a real `tfdrift serve` with a tokens file (responder `rita`, admins
//! `ada` and `bob`) and `remediation: {enabled: true, plan_ttl: 25s}`, driven with the
//! `tfdrift remediation` CLI.
//!
//! One scenario (terraform is slow): an SQS queue's visibility timeout is changed out of band
//! (boto3), a reconcile opens the drift; the admin `ada` requests a restore and cannot approve
//! her own request, the responder cannot approve at all, and after the plan's ttl `bob`'s
//! approval is refused as expired; `rita` requests twice (the first request is superseded and
//! its approval refused); `bob` approves the newest: the daemon applies the saved plan, moto
//! has the configured value again and the next reconcile is in sync and resolves the drift.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::live_support;
use crate::team_support::{self, BIN, Proc, free_port, wait_for};
use crate::tf_support;

const MAIN_TF: &str = r#"
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}

variable "moto_endpoint" {
  type = string
}

provider "aws" {
  access_key                  = "test"
  secret_key                  = "test"
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {
    sqs = var.moto_endpoint
    sts = var.moto_endpoint
  }
}

resource "aws_sqs_queue" "jobs" {
  name                       = "acme-remedy-jobs"
  visibility_timeout_seconds = 30
}
"#;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// boto3 against moto: `set N` changes the queue's visibility timeout, `get` prints it.
fn queue(endpoint: &str, args: &[&str]) -> String {
    let py = repo().join(".venv/bin/python");
    assert!(
        py.exists(),
        "python with boto3 is missing at {}: run scripts/ci-deps.sh",
        py.display()
    );
    let script = "import sys, boto3
c = boto3.client('sqs', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test')
url = c.get_queue_url(QueueName='acme-remedy-jobs')['QueueUrl']
if sys.argv[2] == 'set':
    c.set_queue_attributes(QueueUrl=url, Attributes={'VisibilityTimeout': sys.argv[3]})
print(c.get_queue_attributes(QueueUrl=url, AttributeNames=['VisibilityTimeout'])['Attributes']['VisibilityTimeout'])
";
    let out = Command::new(&py)
        .args(["-c", script, endpoint])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boto3 {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn yaml_str(p: &Path) -> String {
    serde_json::to_string(&p.display().to_string()).unwrap()
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.out.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.out, self.err))
    }
}

fn tfdrift(args: &[&str], token: Option<&str>) -> Run {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("TFDRIFT_CONFIG");
    match token {
        Some(t) => c.env("TFDRIFT_TOKEN", t),
        None => c.env_remove("TFDRIFT_TOKEN"),
    };
    let out = c.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_behind_approval_refuses_self_expired_and_superseded_then_applies() {
    tf_support::require();
    let moto = live_support::moto();
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let tf = tf_support::Terraform::new(&ws, MAIN_TF);
    let endpoint_var = format!("-var=moto_endpoint={}", moto.url);
    tf.run(&["init", "-input=false", "-no-color"]).await;
    tf.run(&["apply", "-auto-approve", "-no-color", &endpoint_var])
        .await;
    assert_eq!(queue(&moto.url, &["get"]), "30");

    let (rita, rita_line) = team_support::token("rita", "responder");
    let (ada, ada_line) = team_support::token("ada", "admin");
    let (bob, bob_line) = team_support::token("bob", "admin");
    let tokens = tmp.path().join("tokens.yaml");
    std::fs::write(&tokens, format!("{rita_line}\n{ada_line}\n{bob_line}\n")).unwrap();
    let port = free_port();
    let cfg = tmp.path().join("tfdrift.yaml");
    let cfg_s = cfg.display().to_string();
    std::fs::write(
        &cfg,
        format!(
            "profiles:
  rem:
    state: [{state}]
    store: {{path: {db}}}
    sources: [{{type: falco_http, listen: \"127.0.0.1:0\"}}]
    workspaces:
      - dir: {ws}
        name: shop
        env:
          TF_CLI_CONFIG_FILE: {cli}
          TF_VAR_moto_endpoint: \"{url}\"
          CHECKPOINT_DISABLE: \"1\"
    reconcile: {{timeout: 10m}}
    api: {{listen: \"127.0.0.1:{port}\", tokens_file: {tokens}}}
    remediation: {{enabled: true, approvals: 1, plan_ttl: 25s}}
",
            state = yaml_str(&ws.join("terraform.tfstate")),
            db = yaml_str(&tmp.path().join("store.db")),
            ws = yaml_str(&ws),
            cli = yaml_str(&ws.join("cli.tfrc")),
            url = moto.url,
            tokens = yaml_str(&tokens),
        ),
    )
    .unwrap();

    // Out of band, unlogged: the reconcile opens the drift.
    assert_eq!(queue(&moto.url, &["set", "45"]), "45");
    let rec = tfdrift(
        &[
            "reconcile",
            "--json",
            "--profile",
            "rem",
            "--config",
            &cfg_s,
        ],
        None,
    );
    assert_eq!(rec.code, 2, "drift found: {}\n{}", rec.out, rec.err);
    let report = rec.json();
    let drift = report["drifts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            d["address"] == "aws_sqs_queue.jobs" && d["attribute"] == "visibility_timeout_seconds"
        })
        .unwrap_or_else(|| panic!("no queue drift: {report:#}"))
        .clone();
    let drift_id = drift["drift_id"].as_str().unwrap().to_string();

    let mut serve = Command::new(BIN);
    serve
        .args([
            "serve",
            "--no-stdout",
            "--profile",
            "rem",
            "--config",
            &cfg_s,
        ])
        .env_remove("TFDRIFT_CONFIG");
    let daemon = Proc::spawn(serve);
    let url = format!("http://127.0.0.1:{port}");
    let remote = |args: &[&str], token: &str| -> Run {
        let mut a = vec!["remediation"];
        a.extend_from_slice(args);
        a.extend(["--connect", url.as_str()]);
        tfdrift(&a, Some(token))
    };
    wait_for("the daemon's API", Duration::from_mins(1), || {
        let r = remote(&["list"], &rita);
        if r.code == 0 {
            Ok(())
        } else {
            Err(format!("{}\ndaemon: {}", r.err, daemon.err()))
        }
    });

    // 1. An admin requests a restore: a saved plan, pending.
    let r1 = remote(
        &[
            "request",
            &drift_id,
            "--kind",
            "restore",
            "--note",
            "console change",
            "--json",
        ],
        &ada,
    );
    assert_eq!(r1.code, 0, "{}\n{}\n{}", r1.out, r1.err, daemon.err());
    let r1 = r1.json();
    assert_eq!(r1["status"], "pending", "{r1:#}");
    assert_eq!(r1["workspace"], "shop", "{r1:#}");
    assert_eq!(r1["address"], "aws_sqs_queue.jobs", "{r1:#}");
    assert_eq!(r1["requested_by"], "ada", "{r1:#}");
    assert_eq!(r1["plan_sha256"].as_str().unwrap().len(), 64, "{r1:#}");
    let plan = r1["plan_text"].as_str().unwrap();
    assert!(
        plan.contains("visibility_timeout_seconds") && plan.contains("45 -> 30"),
        "the plan restores 30: {plan}"
    );
    let id1 = r1["id"].as_i64().unwrap().to_string();
    let planned = Instant::now();

    // Her own approval is refused, naming why; a responder cannot approve at all.
    let own = remote(&["approve", &id1], &ada);
    assert_eq!(own.code, 1, "{}", own.out);
    assert!(
        own.err.contains("PermissionDenied")
            && own.err.contains("requested by 'ada'")
            && own.err.contains("another admin"),
        "{}",
        own.err
    );
    let resp = remote(&["approve", &id1], &rita);
    assert_eq!(resp.code, 1);
    assert!(resp.err.contains("needs the admin role"), "{}", resp.err);
    assert_eq!(
        remote(&["show", &id1, "--json"], &rita).json()["status"],
        "pending"
    );

    // Past plan_ttl another admin's approval is refused: the plan expired.
    let ttl = Duration::from_secs(26);
    if let Some(rest) = ttl.checked_sub(planned.elapsed()) {
        std::thread::sleep(rest);
    }
    let late = remote(&["approve", &id1], &bob);
    assert_eq!(late.code, 1, "{}", late.out);
    assert!(
        late.err.contains("expired") && late.err.contains("request a new plan"),
        "{}",
        late.err
    );
    let shown = remote(&["show", &id1, "--json"], &bob).json();
    assert_eq!(shown["status"], "expired", "{shown:#}");
    assert_eq!(queue(&moto.url, &["get"]), "45", "nothing applied yet");

    // 2. The responder requests twice: the older plan is superseded.
    let r2 = remote(
        &["request", &drift_id, "--kind", "restore", "--json"],
        &rita,
    );
    assert_eq!(r2.code, 0, "{}\n{}", r2.out, r2.err);
    let id2 = r2.json()["id"].as_i64().unwrap().to_string();
    let r3 = remote(
        &["request", &drift_id, "--kind", "restore", "--json"],
        &rita,
    );
    assert_eq!(r3.code, 0, "{}\n{}", r3.out, r3.err);
    let id3 = r3.json()["id"].as_i64().unwrap().to_string();
    let stale = remote(&["approve", &id2], &bob);
    assert_eq!(stale.code, 1, "{}", stale.out);
    assert!(stale.err.contains("superseded"), "{}", stale.err);

    // 3. Another admin approves the newest: applied, exactly that plan.
    let ok = remote(&["approve", &id3, "--json"], &bob);
    assert_eq!(ok.code, 0, "{}\n{}\n{}", ok.out, ok.err, daemon.err());
    let ok = ok.json();
    assert_eq!(ok["status"], "applied", "{ok:#}");
    assert_eq!(ok["approvers"], serde_json::json!(["bob"]), "{ok:#}");
    assert_eq!(ok["decided_by"], "bob", "{ok:#}");
    assert!(
        ok["output"].as_str().unwrap().contains("Apply complete"),
        "{ok:#}"
    );
    assert_eq!(
        queue(&moto.url, &["get"]),
        "30",
        "the attribute is restored"
    );
    let again = remote(&["approve", &id3], &ada);
    assert_eq!(again.code, 1);
    assert!(again.err.contains("not pending"), "{}", again.err);

    let list = remote(&["list", "--json", "--drift", &drift_id], &rita);
    assert_eq!(list.code, 0, "{}", list.err);
    let statuses: Vec<String> = list
        .out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["status"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        statuses,
        ["applied", "superseded", "expired"],
        "{}",
        list.out
    );

    // The next reconcile is in sync and ends the drift.
    drop(daemon);
    let rec = tfdrift(
        &[
            "reconcile",
            "--json",
            "--profile",
            "rem",
            "--config",
            &cfg_s,
        ],
        None,
    );
    assert_eq!(rec.code, 0, "in sync: {}\n{}", rec.out, rec.err);
    let report = rec.json();
    assert_eq!(report["result"], "in_sync", "{report:#}");
    assert!(
        report["resolved"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| *d == *drift_id),
        "{report:#}"
    );
}

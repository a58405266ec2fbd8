//! A drift closed by `terraform apply`, end to end against Terraform itself: the real
//! `terraform` CLI with the mirrored AWS provider applies an IAM role to a local moto server;
//! a person changes the role's description out of band with boto3 (its CloudTrail record is
//! replayed into the pipeline, whose state is the file Terraform wrote) and the drift opens and
//! is notified; `terraform apply` puts the description back for real, its own (Terraform
//! user-agent) record arrives, and the state file Terraform rewrote is loaded as the daemon's
//! refresh does: the drift resolves `applied`, by Terraform's identity, and the channel that
//! was told it opened is told it is resolved.
//!
//! Needs terraform, the provider mirror (see `tests/tf_support`) and the repository's `.venv`
//! with moto[server] + boto3 (`scripts/ci-deps.sh`); fails, naming what is missing, without
//! them. Runtime: ~30 s (two applies of one resource).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
use crate::drift_support;
use crate::tf_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tfdrift::drift::{Reason, Status};
use tfdrift::notify::worker::WorkerConfig;
use tfdrift::notify::{Channels, Notifier, NotifyRouter, NotifySettings};
use tfdrift::pipeline::engine::OutboxRouter;
use tfdrift::pipeline::{EngineOptions, Stats};
use tfdrift::rules::RuleSet;
use tfdrift::state::{StateIndex, parse_state};
use tfdrift::store::{SqliteStore, Store};

const CODE_DESCRIPTION: &str = "Instance role for the web tier";
const HAND_DESCRIPTION: &str = "web tier role (edited by hand)";
const ALICE: &str = "arn:aws:iam::123456789012:user/alice";

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python() -> PathBuf {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import boto3, moto.server"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} with moto[server] and boto3 is needed: run scripts/ci-deps.sh",
        py.display()
    );
    py
}

fn moto(py: &Path) -> (Moto, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(py)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting moto");
    let m = Moto(child);
    let deadline = Instant::now() + Duration::from_mins(1);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not listen within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    (m, format!("http://127.0.0.1:{port}"))
}

fn main_tf(endpoint: &str) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    aws = {{
      source  = "hashicorp/aws"
      version = "{ver}"
    }}
  }}
}}

provider "aws" {{
  access_key                  = "test"
  secret_key                  = "test"
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  endpoints {{
    iam = "{endpoint}"
    sts = "{endpoint}"
  }}
}}

resource "aws_iam_role" "app" {{
  name        = "acme-applied-app-role"
  description = "{CODE_DESCRIPTION}"
  assume_role_policy = jsonencode({{
    Version   = "2012-10-17"
    Statement = [{{ Effect = "Allow", Principal = {{ Service = "ec2.amazonaws.com" }}, Action = "sts:AssumeRole" }}]
  }})
}}
"#,
        ver = tf_support::AWS_PROVIDER
    )
}

/// `aws_iam_role.app`'s attributes in a state file.
fn role(state: &Value) -> &Value {
    &state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "aws_iam_role" && r["name"] == "app")
        .expect("aws_iam_role.app in the state")["instances"][0]["attributes"]
}

/// The CloudTrail record of `UpdateRole` (as out_of_band.py writes them).
fn update_role(
    id: &str,
    minute: u32,
    role: &str,
    description: &str,
    who: &Value,
    ua: &str,
) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": who,
        "eventTime": format!("2026-12-01T10:{minute:02}:00Z"),
        "eventSource": "iam.amazonaws.com",
        "eventName": "UpdateRole",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.23",
        "userAgent": ua,
        "requestParameters": {"roleName": role, "description": description},
        "responseElements": null,
        "requestID": format!("req-{id}"),
        "eventID": id,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "123456789012",
        "eventCategory": "Management"
    })
}

async fn deliver(store: &Arc<dyn Store>, channels: &Channels) {
    let n = Notifier::start(
        store.clone(),
        channels,
        WorkerConfig {
            poll: Duration::from_millis(50),
            ..WorkerConfig::default()
        },
    );
    assert!(n.drain(Duration::from_secs(30)).await);
}

fn index(bytes: &[u8]) -> Arc<StateIndex> {
    Arc::new(StateIndex::new(
        parse_state("terraform.tfstate", bytes).unwrap(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_apply_resolves_the_drift_as_applied_and_the_channel_hears_it() {
    tf_support::require();
    let py = python();
    let (_moto, endpoint) = moto(&py);
    let dir = tempfile::tempdir().unwrap();
    let tf = tf_support::Terraform::new(&dir.path().join("tf"), &main_tf(&endpoint));
    tf.run(&["init", "-no-color"]).await;
    tf.run(&["apply", "-auto-approve", "-no-color"]).await;
    let state_file = tf.dir.join("terraform.tfstate");
    let state_bytes = std::fs::read(&state_file).unwrap();
    let state: Value = serde_json::from_slice(&state_bytes).unwrap();
    let role_name = role(&state)["name"].as_str().unwrap().to_string();
    assert_eq!(role(&state)["description"], CODE_DESCRIPTION);

    // The pipeline over that state file, a store, and a webhook channel on a real listener.
    let (got, base) = drift_support::server().await;
    let settings: NotifySettings = serde_saphyr::from_str(&format!(
        "channels:\n  hook: {{type: webhook, url: \"{base}/hook\"}}\ndefaults: [hook]\n"
    ))
    .unwrap();
    let channels = Arc::new(Channels::from_settings(&settings).unwrap());
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("tfdrift.db")).unwrap());
    let router = Arc::new(NotifyRouter::new(
        channels.clone(),
        &RuleSet::empty(),
        Duration::ZERO,
    ));
    let mut engine = common::engine(
        &[("terraform.tfstate", &state_bytes)],
        &EngineOptions::default(),
    )
    .with_store(store.clone())
    .with_outbox_router(router as Arc<dyn OutboxRouter>);

    // Alice edits the description with boto3, for real; its CloudTrail record opens a drift.
    let out = Command::new(&py)
        .args([
            "-c",
            "import sys, boto3\n\
             iam = boto3.client('iam', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test')\n\
             iam.update_role(RoleName=sys.argv[2], Description=sys.argv[3])\n\
             print(iam.get_role(RoleName=sys.argv[2])['Role']['Description'])",
            &endpoint,
            &role_name,
            HAND_DESCRIPTION,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        HAND_DESCRIPTION
    );
    let alice = json!({"type": "IAMUser", "principalId": "AIDAEXAMPLEALICE", "arn": ALICE, "accountId": "123456789012", "userName": "alice"});
    let rec = update_role(
        "ev-alice",
        1,
        &role_name,
        HAND_DESCRIPTION,
        &alice,
        "aws-cli/2.15.30 Python/3.11.8",
    );
    let (alerts, stats) = common::replay(&mut engine, "trail.jsonl", rec.to_string().as_bytes());
    assert_eq!(stats.store_errors, 0);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(
        alerts[0].resource.address.as_deref(),
        Some("aws_iam_role.app")
    );
    let id = alerts[0].drift_id.clone().unwrap();
    let d = store.drift(&id).unwrap().unwrap();
    assert_eq!(
        (d.status, d.attribute.as_str(), d.observed.clone()),
        (Status::Open, "description", json!(HAND_DESCRIPTION))
    );
    deliver(&store, &channels).await;

    // `terraform apply` puts the code's description back (it really changes the role).
    let applied = tf.run(&["apply", "-auto-approve", "-no-color"]).await;
    assert!(
        applied.contains("1 changed"),
        "terraform found the drift and changed it back:\n{applied}"
    );
    // Terraform's own call arrives in the trail: no alert, the drift waits for the state.
    let terraform = json!({"type": "AssumedRole", "principalId": "AROAEXAMPLETF:run-42", "arn": drift_support::TF_ROLE, "accountId": "123456789012"});
    let rec = update_role(
        "ev-terraform",
        3,
        &role_name,
        CODE_DESCRIPTION,
        &terraform,
        drift_support::TF_UA,
    );
    let (alerts, stats) = common::replay(&mut engine, "trail.jsonl", rec.to_string().as_bytes());
    assert!(alerts.is_empty(), "{alerts:#?}");
    assert_eq!(stats.terraform_originated, 1);
    assert_eq!(store.drift(&id).unwrap().unwrap().status, Status::Open);

    // The state file Terraform rewrote, loaded as the daemon's refresh does.
    let refreshed = std::fs::read(&state_file).unwrap();
    let refreshed_v: Value = serde_json::from_slice(&refreshed).unwrap();
    assert_eq!(role(&refreshed_v)["description"], CODE_DESCRIPTION);
    assert!(refreshed_v["serial"].as_u64() > state["serial"].as_u64());
    engine.set_state(index(&refreshed));
    let done = engine.reconcile_drifts(&mut Stats::default());
    assert_eq!(done.len(), 1, "{done:#?}");
    let d = store.drift(&id).unwrap().unwrap();
    assert_eq!(d.status, Status::Resolved);
    assert_eq!(d.resolved_reason, Some(Reason::Applied));
    assert_eq!(d.resolved_by.as_deref(), Some(drift_support::TF_ROLE));

    deliver(&store, &channels).await;
    let got = got.lock().unwrap();
    let hook: Vec<&Value> = got
        .iter()
        .filter(|(p, _, _)| p == "hook")
        .map(|(_, v, _)| v)
        .collect();
    assert_eq!(hook.len(), 2, "opened, then resolved: {hook:#?}");
    assert_eq!(hook[0]["drift"]["event"], "drift.opened");
    assert_eq!(hook[1]["event"], "drift.resolved");
    assert_eq!(hook[1]["drift"]["id"], id.as_str());
    assert_eq!(hook[1]["drift"]["reason"], "applied");
    assert_eq!(hook[1]["drift"]["resolved_by"], drift_support::TF_ROLE);
}

//! Real Terraform writing to the S3 backend on moto, read by tfdrift's live pipeline.
//!
//! `terraform apply` (terraform 1.11, hashicorp/aws 5.100.0 from the filesystem mirror) with
//! `backend "s3"` pointed at a moto server (`use_lockfile`: S3-native locks) in two workspaces,
//! `default` and `staging`. tfdrift discovers both objects (`app/terraform.tfstate` and
//! `env:/staging/app/terraform.tfstate`), indexes them (events on resources of both workspaces
//! raise alerts with their addresses), and a further `terraform apply` is picked up by the timer
//! refresh: an out-of-band call setting the value that apply wrote is then in sync. Takes
//! ~1-2 minutes, nearly all of it terraform (three applies of a few IAM/SSM resources).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::live_support;
use crate::tf_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tfdrift::catalog::Catalog;
use tfdrift::collect::SourceSpec;
use tfdrift::collect::falco_http::FalcoHttpSettings;
use tfdrift::pipeline::{PipelineConfig, PipelineHandle, Stats, spawn};
use tfdrift::state::StateIndex;
use tfdrift::state::remote::{RemoteStateConfig, S3States};

/// The configuration applied; `ENDPOINT` is moto's URL (a backend block takes no variables).
const MAIN_TF: &str = r#"terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
  backend "s3" {
    bucket                      = "tfstate"
    key                         = "app/terraform.tfstate"
    region                      = "us-east-1"
    access_key                  = "test"
    secret_key                  = "test"
    endpoints                   = { s3 = "ENDPOINT" }
    use_path_style              = true
    use_lockfile                = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
    skip_s3_checksum            = true
  }
}

variable "role_description" {
  type    = string
  default = "tfdrift test: v1"
}

provider "aws" {
  access_key                  = "test"
  secret_key                  = "test"
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {
    iam = "ENDPOINT"
    ssm = "ENDPOINT"
    sts = "ENDPOINT"
  }
}

resource "aws_iam_role" "app" {
  name        = "tfd-app-${terraform.workspace}"
  description = var.role_description
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "ec2.amazonaws.com" } }]
  })
}

resource "aws_ssm_parameter" "release" {
  name  = "/tfd/${terraform.workspace}/release"
  type  = "String"
  value = "v1"
}

resource "aws_iam_role" "canary" {
  count              = terraform.workspace == "staging" ? 1 : 0
  name               = "tfd-canary-${terraform.workspace}"
  assume_role_policy = aws_iam_role.app.assume_role_policy
}
"#;

const LOCATION: &str = "s3://tfstate/app/terraform.tfstate";
const DEFAULT_OBJECT: &str = "s3://tfstate/app/terraform.tfstate";
const STAGING_OBJECT: &str = "s3://tfstate/env:/staging/app/terraform.tfstate";

fn addresses(states: &S3States, object: &str) -> BTreeSet<String> {
    states
        .resources()
        .into_iter()
        .filter(|r| &*r.state_file == object)
        .map(|r| r.address)
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(ToString::to_string).collect()
}

async fn wait_for(handle: &PipelineHandle, what: &str, f: &dyn Fn(&Stats) -> bool) {
    let deadline = Instant::now() + Duration::from_mins(1);
    let mut rx = handle.stats.clone();
    loop {
        if f(&rx.borrow()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            *rx.borrow()
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), rx.changed()).await;
    }
}

/// An out-of-band `UpdateRoleDescription` as Falco's cloudtrail plugin reports it.
async fn post_update_role(port: u16, id: &str, role: &str, description: &str) {
    let mut ev = live_support::falco_ct(id);
    let f = &mut ev["output_fields"];
    f["ct.name"] = "UpdateRoleDescription".into();
    f["ct.src"] = "iam.amazonaws.com".into();
    f["ct.useragent"] = "aws-cli/2.15.30 Python/3.11.6 Linux/6.1 exe/x86_64".into();
    f["ct.request"] = serde_json::json!({"roleName": role, "description": description})
        .to_string()
        .into();
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/"))
        .header("content-type", "application/json")
        .body(ev.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn next_alert(handle: &mut PipelineHandle) -> serde_json::Value {
    let alert = tokio::time::timeout(Duration::from_secs(30), handle.alerts.recv())
        .await
        .expect("an alert within 30 s")
        .expect("alert channel open");
    serde_json::to_value(&alert).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_workspaces_on_s3_are_indexed_and_a_new_apply_is_picked_up() {
    let moto = live_support::moto();
    let sdk = live_support::sdk(&moto.url).await;
    let s3 = tfdrift::collect::s3_client(&sdk);
    s3.create_bucket().bucket("tfstate").send().await.unwrap();

    let work = tempfile::tempdir().unwrap();
    let tf = tf_support::Terraform::new(work.path(), &MAIN_TF.replace("ENDPOINT", &moto.url));
    tf.run(&["init", "-no-color"]).await;
    tf.run(&["apply", "-auto-approve", "-no-color"]).await;
    tf.run(&["workspace", "new", "staging", "-no-color"]).await;
    tf.run(&["apply", "-auto-approve", "-no-color"]).await;
    tf.run(&["workspace", "select", "default", "-no-color"])
        .await;

    // Discovery: the key and its env:/ workspace (the S3-native lock objects are gone).
    let mut states = S3States::new(s3.clone(), &[LOCATION.to_string()]);
    let r = states.refresh().await;
    assert!(states.stale().is_empty(), "{:?}", states.stale());
    assert_eq!(r.fetched, 2);
    assert_eq!(states.objects(), vec![DEFAULT_OBJECT, STAGING_OBJECT]);
    assert_eq!(
        addresses(&states, DEFAULT_OBJECT),
        set(&["aws_iam_role.app", "aws_ssm_parameter.release"])
    );
    assert_eq!(
        addresses(&states, STAGING_OBJECT),
        set(&[
            "aws_iam_role.app",
            "aws_iam_role.canary[0]",
            "aws_ssm_parameter.release"
        ])
    );

    // The live pipeline: remote state refreshed every 2 s, Falco HTTP as the event source.
    let port = live_support::free_port();
    let cfg = PipelineConfig {
        sources: vec![SourceSpec::FalcoHttp(FalcoHttpSettings {
            listen: format!("127.0.0.1:{port}"),
            max_body_bytes: 65536,
            ..FalcoHttpSettings::default()
        })],
        remote_state: Some(RemoteStateConfig {
            remote: vec![LOCATION.into()],
            region: "us-east-1".into(),
            endpoint_url: Some(moto.url.clone()),
            interval: Duration::from_secs(2),
            ..RemoteStateConfig::default()
        }),
        aws: Some(sdk.clone()),
        ..PipelineConfig::default()
    };
    let mut handle = spawn(
        Arc::new(Catalog::embedded().unwrap()),
        Arc::new(StateIndex::new(Vec::new())),
        &cfg,
    )
    .unwrap();
    // Sources start once the first load is in the engine's queue.
    wait_for(&handle, "the receiver's health", &|s| !s.sources.is_empty()).await;

    // Both workspaces are indexed: out-of-band changes to a role of each raise alerts.
    post_update_role(port, "oob-1", "tfd-app-default", "tfdrift test: v2").await;
    let a = next_alert(&mut handle).await;
    assert_eq!(a["kind"], "attribute_drift", "{a}");
    assert_eq!(a["resource"]["address"], "aws_iam_role.app");
    assert_eq!(a["resource"]["id"], "tfd-app-default");
    assert_eq!(a["diffs"][0]["path"], "description");
    assert_eq!(a["diffs"][0]["state"], "tfdrift test: v1");
    assert_eq!(a["diffs"][0]["observed"], "tfdrift test: v2");
    post_update_role(port, "oob-2", "tfd-canary-staging", "changed by hand").await;
    let a = next_alert(&mut handle).await;
    assert_eq!(a["resource"]["address"], "aws_iam_role.canary[0]", "{a}");

    // A further apply (the description becomes v2) is picked up by the timer refresh…
    let loaded = handle.stats.borrow().state_loaded_at;
    tf.run(&[
        "apply",
        "-auto-approve",
        "-no-color",
        "-var",
        "role_description=tfdrift test: v2",
    ])
    .await;
    wait_for(&handle, "a refreshed state index", &|s| {
        s.state_loaded_at > loaded && s.state_stale.is_empty()
    })
    .await;
    // …so the same value set out of band is now in sync: no alert.
    let in_sync = handle.stats.borrow().in_sync;
    post_update_role(port, "oob-3", "tfd-app-default", "tfdrift test: v2").await;
    wait_for(&handle, "the event in sync with the new state", &|s| {
        s.in_sync > in_sync
    })
    .await;
    assert!(
        handle.alerts.try_recv().is_err(),
        "no alert after the apply"
    );
    assert_eq!(handle.stats.borrow().alerts, 2);

    // Only the changed workspace is read again (ETag-conditional).
    let r = states.refresh().await;
    assert_eq!((r.fetched, r.changed), (1, true));
    handle.cancel();
    handle.join().await;
}

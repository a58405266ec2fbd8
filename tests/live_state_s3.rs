//! Terraform state from S3 (moto): a key plus its `env:/<ws>/` workspaces, a prefix of
//! `*.tfstate`, ETag-conditional refresh, a corrupt refresh keeping the last good copy, and
//! the pipeline refreshing right after a Terraform-originated event.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
use crate::live_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tfdrift::catalog::Catalog;
use tfdrift::collect::SourceSpec;
use tfdrift::collect::falco_http::FalcoHttpSettings;
use tfdrift::pipeline::{PipelineConfig, spawn};
use tfdrift::state::StateIndex;
use tfdrift::state::parse_state;
use tfdrift::state::remote::{RemoteStateConfig, S3Location, S3States};

const BUCKET: &str = "tfstate";

fn state(rel: &str) -> Vec<u8> {
    std::fs::read(common::corpus().join("tfstate").join(rel)).unwrap()
}

fn count(bytes: &[u8]) -> usize {
    parse_state("x", bytes).unwrap().len()
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, body: &[u8]) {
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap();
}

#[test]
fn s3_locations_parse_and_match_workspaces() {
    let l = S3Location::parse("s3://b/app/terraform.tfstate").unwrap();
    assert!(!l.is_prefix);
    assert!(l.matches("app/terraform.tfstate"));
    assert!(l.matches("env:/staging/app/terraform.tfstate"));
    assert!(!l.matches("env:/staging/other/terraform.tfstate"));
    assert!(!l.matches("app/terraform.tfstate.tflock"));
    let p = S3Location::parse("s3://b/states/").unwrap();
    assert!(p.is_prefix && p.matches("states/x/y.tfstate") && !p.matches("states/readme.md"));
    assert!(S3Location::parse("s3://b").unwrap().is_prefix);
    assert!(S3Location::parse("gs://b/k").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::many_single_char_names)]
async fn s3_state_workspaces_prefix_etag_and_corrupt_refresh() {
    let moto = live_support::moto();
    let sdk = live_support::sdk(&moto.url).await;
    let s3 = tfdrift::collect::s3_client(&sdk);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();

    let a = state("bufbuild__terraform-modules-bufstream/aws/terraform.tfstate");
    let b = state("nl253__TerraformInfrastructure/iam-role/terraform.tfstate");
    let c = state("nl253__TerraformInfrastructure/sns/terraform.tfstate");
    let d = state("nl253__TerraformInfrastructure/s3/terraform.tfstate");
    put(&s3, "app/terraform.tfstate", &a).await;
    put(&s3, "env:/staging/app/terraform.tfstate", &b).await;
    put(&s3, "env:/staging/other/terraform.tfstate", &d).await; // another key: not ours
    put(&s3, "app/terraform.tfstate.tflock", b"{}").await; // lock: ignored
    put(&s3, "modules/net.tfstate", &c).await;
    put(&s3, "modules/deep/db.tfstate", &d).await;
    put(&s3, "modules/README.md", b"not state").await;

    let mut states = S3States::new(
        s3.clone(),
        &[
            "s3://tfstate/app/terraform.tfstate".into(),
            "s3://tfstate/modules/".into(),
        ],
    );
    let r = states.refresh().await;
    assert_eq!(r.fetched, 4, "{:?}", states.objects());
    assert!(states.stale().is_empty(), "{:?}", states.stale());
    assert_eq!(
        states.objects(),
        vec![
            "s3://tfstate/app/terraform.tfstate",
            "s3://tfstate/env:/staging/app/terraform.tfstate",
            "s3://tfstate/modules/deep/db.tfstate",
            "s3://tfstate/modules/net.tfstate",
        ]
    );
    let total = count(&a) + count(&b) + count(&c) + count(&d);
    assert_eq!(states.resources().len(), total);

    // Unchanged ETags: nothing fetched.
    let r = states.refresh().await;
    assert_eq!((r.fetched, r.changed), (0, false));

    // A corrupt write keeps the last good copy and marks the object stale.
    put(
        &s3,
        "app/terraform.tfstate",
        b"{\"version\": 4, \"resources\": [",
    )
    .await;
    let r = states.refresh().await;
    assert!(!r.changed);
    assert!(
        states
            .stale()
            .contains_key("s3://tfstate/app/terraform.tfstate"),
        "{:?}",
        states.stale()
    );
    assert_eq!(states.resources().len(), total);

    // Repaired (same bytes as the last good copy: same ETag, not fetched again) and a
    // workspace changed (fetched); stale cleared.
    put(&s3, "app/terraform.tfstate", &a).await;
    put(&s3, "env:/staging/app/terraform.tfstate", &c).await;
    let r = states.refresh().await;
    assert_eq!(r.fetched, 1);
    assert!(states.stale().is_empty());
    assert_eq!(
        states.resources().len(),
        count(&a) + 2 * count(&c) + count(&d)
    );

    // A deleted workspace disappears.
    s3.delete_object()
        .bucket(BUCKET)
        .key("modules/deep/db.tfstate")
        .send()
        .await
        .unwrap();
    let r = states.refresh().await;
    assert_eq!(r.removed, 1);
    assert_eq!(states.resources().len(), count(&a) + 2 * count(&c));

    // A missing bucket is stale, not fatal.
    let mut gone = S3States::new(s3, &["s3://no-such-bucket/x.tfstate".into()]);
    gone.refresh().await;
    assert!(gone.stale().contains_key("s3://no-such-bucket/x.tfstate"));
}

async fn wait_for(
    handle: &tfdrift::pipeline::PipelineHandle,
    what: &str,
    f: &dyn Fn(&tfdrift::pipeline::Stats) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_refreshes_s3_state_after_a_terraform_event() {
    let moto = live_support::moto();
    let sdk = live_support::sdk(&moto.url).await;
    let s3 = tfdrift::collect::s3_client(&sdk);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let a = state("bufbuild__terraform-modules-bufstream/aws/terraform.tfstate");
    put(&s3, "app/terraform.tfstate", &a).await;

    let port = live_support::free_port();
    let cfg = PipelineConfig {
        sources: vec![SourceSpec::FalcoHttp(FalcoHttpSettings {
            listen: format!("127.0.0.1:{port}"),
            max_body_bytes: 65536,
            ..FalcoHttpSettings::default()
        })],
        remote_state: Some(RemoteStateConfig {
            local: Vec::new(),
            remote: vec!["s3://tfstate/app/terraform.tfstate".into()],
            region: "us-east-1".into(),
            endpoint_url: Some(moto.url.clone()),
            // Far longer than the test: only the Terraform event can trigger the refresh.
            interval: Duration::from_hours(1),
            ..RemoteStateConfig::default()
        }),
        aws: Some(sdk.clone()),
        ..PipelineConfig::default()
    };
    let handle = spawn(
        Arc::new(Catalog::embedded().unwrap()),
        Arc::new(StateIndex::new(Vec::new())),
        &cfg,
    )
    .unwrap();
    // Ticks publish counters even while idle; the first state load leaves nothing stale.
    wait_for(&handle, "the receiver's health", &|s| !s.sources.is_empty()).await;
    assert!(handle.stats.borrow().state_stale.is_empty());

    // Corrupt the state, then a Terraform-originated event arrives: refresh at once → stale.
    put(&s3, "app/terraform.tfstate", b"garbage").await;
    let mut ev = live_support::falco_ct("tf-1");
    ev["output_fields"]["ct.useragent"] = "APN/1.0 HashiCorp/1.0 Terraform/1.11.0".into();
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/"))
        .header("content-type", "application/json")
        .body(ev.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_for(&handle, "state_stale after the Terraform event", &|s| {
        s.terraform_originated == 1
            && s.state_stale
                .contains_key("s3://tfstate/app/terraform.tfstate")
    })
    .await;
    handle.cancel();
    handle.join().await;
}

//! Terraform state from GCS (fake-gcs-server): Terraform's gcs backend layout
//! (`<prefix>/default.tfstate`, `<prefix>/<ws>.tfstate`, `*.tflock` ignored) with real corpus
//! states, listing through the JSON API with paging, generation-conditional refresh, a corrupt
//! upload keeping the last good copy, and the live pipeline alerting on corpus GCP audit events
//! against resources of both workspaces.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
use crate::gcs_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gcs_support::FakeGcs;
use tfdrift::catalog::Catalog;
use tfdrift::pipeline::{PipelineConfig, PipelineHandle, Stats, spawn};
use tfdrift::state::StateIndex;
use tfdrift::state::parse_state;
use tfdrift::state::remote::{GcsBackend, GcsLocation, GcsStates, RemoteStateConfig};

const BUCKET: &str = "tfstate";
/// Two workspaces of a gcs backend with `prefix = "app"` whose resources the corpus's GCP audit
/// entries name (extended tier: these repositories declare no licence).
const DEFAULT_WS: &str = "isagues__terraform-demo/gcp/terraform.tfstate";
const STAGING_WS: &str = "luisrivas35__test_SRE/gcp/terraform.tfstate.backup";

/// A corpus state's bytes; `None` when it is only in the extended tier and that is not set.
fn state(rel: &str) -> Option<Vec<u8>> {
    common::corpus_file(&format!("tfstate/{rel}")).map(|p| std::fs::read(p).unwrap())
}

/// Addresses of the managed resources of a state.
fn addresses(bytes: &[u8]) -> BTreeSet<String> {
    parse_state("x", bytes)
        .unwrap()
        .into_iter()
        .map(|r| r.address)
        .collect()
}

/// Test-side client of the JSON API (uploads and deletes, as Terraform's backend does).
struct Gcs {
    http: reqwest::Client,
    url: String,
}

impl Gcs {
    async fn create_bucket(&self, name: &str) {
        let r = self
            .http
            .post(format!("{}/storage/v1/b", self.url))
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }

    /// Uploads `name`; returns its new generation.
    async fn put(&self, name: &str, body: &[u8]) -> String {
        let r = self
            .http
            .post(format!(
                "{}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={}",
                self.url,
                name.replace('/', "%2F")
            ))
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "upload {name}: {}", r.status());
        let v: serde_json::Value = r.json().await.unwrap();
        v["generation"].as_str().unwrap().to_string()
    }

    async fn delete(&self, name: &str) {
        let r = self
            .http
            .delete(format!(
                "{}/storage/v1/b/{BUCKET}/o/{}",
                self.url,
                name.replace('/', "%2F")
            ))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "delete {name}: {}", r.status());
    }
}

/// Addresses indexed from one object.
fn by_file(states: &GcsStates, file: &str) -> BTreeSet<String> {
    states
        .resources()
        .into_iter()
        .filter(|r| &*r.state_file == file)
        .map(|r| r.address)
        .collect()
}

async fn setup() -> (FakeGcs, Gcs) {
    let server = gcs_support::fake_gcs();
    let gcs = Gcs {
        http: reqwest::Client::new(),
        url: server.url.clone(),
    };
    gcs.create_bucket(BUCKET).await;
    (server, gcs)
}

#[test]
fn gcs_locations_parse_and_match_the_backend_layout() {
    let l = GcsLocation::parse("gs://b/app").unwrap();
    assert_eq!((l.key.as_str(), l.is_prefix), ("app/", true));
    assert!(l.matches("app/default.tfstate"));
    assert!(l.matches("app/staging.tfstate"));
    assert!(!l.matches("app/default.tflock"));
    assert!(!l.matches("app2/default.tfstate"));
    assert!(!l.matches("app/README.md"));
    assert_eq!(GcsLocation::parse("gs://b/app/").unwrap(), l);
    let whole = GcsLocation::parse("gs://b").unwrap();
    assert!(whole.is_prefix && whole.matches("x/y/default.tfstate"));
    let one = GcsLocation::parse("gs://b/path/x.tfstate").unwrap();
    assert!(!one.is_prefix);
    assert!(one.matches("path/x.tfstate") && !one.matches("path/y.tfstate"));
    assert!(GcsLocation::parse("gs:///app").is_err());
    assert!(GcsLocation::parse("s3://b/app").is_err());
    assert!(tfdrift::state::remote::is_remote("gs://b/app"));
}

#[test]
fn gcs_settings_come_from_the_profile() {
    let yaml = "profiles:\n  p:\n    state: [./a.tfstate, gs://b/app, s3://c/k.tfstate]\n    \
                remote_state: {gcs_endpoint_url: 'http://127.0.0.1:4443', refresh_seconds: 5}\n";
    let cfg = tfdrift::config::parse_config("t.yaml", yaml).unwrap();
    let r = cfg.profiles["p"].remote_state().unwrap();
    assert_eq!(r.remote, vec!["gs://b/app", "s3://c/k.tfstate"]);
    assert_eq!(r.local, vec!["./a.tfstate"]);
    assert_eq!(r.gcs_endpoint_url.as_deref(), Some("http://127.0.0.1:4443"));
    assert_eq!(r.interval, Duration::from_secs(5));
    let typo = "profiles:\n  p:\n    remote_state: {gcs_endpoint: x}\n";
    assert!(tfdrift::config::parse_config("t.yaml", typo).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::many_single_char_names)]
async fn gcs_state_workspaces_generation_and_corrupt_refresh() {
    let (_server, gcs) = setup().await;
    let Some(a) = state(DEFAULT_WS) else {
        return;
    };
    let Some(b) = state(STAGING_WS) else {
        return;
    };
    let Some(c) = state("omenking__cloud-resume-challenge/gcp/terraform.tfstate") else {
        return;
    };
    let Some(d) = state("flakor__challeger-sre/gcp/terraform.tfstate") else {
        return;
    };
    gcs.put("app/default.tfstate", &a).await;
    let staging_gen = gcs.put("app/staging.tfstate", &b).await;
    gcs.put("app/default.tflock", b"{\"ID\":\"lock\"}").await; // lock: ignored
    gcs.put("app/README.md", b"not state").await;
    gcs.put("app2/default.tfstate", &d).await; // another backend's prefix: not ours
    gcs.put("single/site.tfstate", &c).await;
    gcs.put("single/other.tfstate", &d).await; // not the named object

    // Page size 2: the 3 objects of gs://tfstate/app take two pages.
    let backend = GcsBackend::new(Some(gcs.url.clone())).with_page_size(2);
    let mut states = GcsStates::new(
        backend,
        &[
            "gs://tfstate/app".into(),
            "gs://tfstate/single/site.tfstate".into(),
        ],
    );
    let r = states.refresh().await;
    assert!(states.stale().is_empty(), "{:?}", states.stale());
    assert_eq!(r.fetched, 3, "{:?}", states.objects());
    assert_eq!(
        states.objects(),
        vec![
            "gs://tfstate/app/default.tfstate",
            "gs://tfstate/app/staging.tfstate",
            "gs://tfstate/single/site.tfstate",
        ]
    );
    // Both workspaces indexed, each resource under its own object, ids included.
    let index = StateIndex::new(states.resources());
    assert_eq!(
        by_file(&states, "gs://tfstate/app/default.tfstate"),
        addresses(&a)
    );
    assert_eq!(
        by_file(&states, "gs://tfstate/app/staging.tfstate"),
        addresses(&b)
    );
    assert_eq!(
        by_file(&states, "gs://tfstate/single/site.tfstate"),
        addresses(&c)
    );
    let found = |rtype: &str, id: &str| index.find(rtype, id).map(|r| r.address.clone());
    assert_eq!(
        found(
            "google_compute_firewall",
            "projects/redes-demo-2022-353122/global/firewalls/web-fw-lb-allow-ssh-http"
        )
        .as_deref(),
        Some("google_compute_firewall.weblb")
    );
    assert_eq!(
        found(
            "google_compute_instance",
            "projects/deploy-test-388716/zones/us-central1-a/instances/bastion-host"
        )
        .as_deref(),
        Some("google_compute_instance.bastion_host")
    );
    assert_eq!(index.len(), states.resources().len());
    assert_eq!(
        states.version("gs://tfstate/app/staging.tfstate"),
        Some(staging_gen.as_str())
    );

    // Unchanged generations: nothing fetched.
    let r = states.refresh().await;
    assert_eq!((r.fetched, r.changed), (0, false));

    // A new generation of one workspace is fetched; the others are not.
    let new_gen = gcs.put("app/staging.tfstate", &d).await;
    assert_ne!(new_gen, staging_gen);
    let r = states.refresh().await;
    assert_eq!((r.fetched, r.changed), (1, true));
    assert_eq!(
        states.version("gs://tfstate/app/staging.tfstate"),
        Some(new_gen.as_str())
    );
    assert_eq!(
        by_file(&states, "gs://tfstate/app/staging.tfstate"),
        addresses(&d)
    );

    // A corrupt upload keeps the last good copy and marks the object stale.
    let before = states.resources().len();
    let good_gen = states
        .version("gs://tfstate/app/default.tfstate")
        .unwrap()
        .to_string();
    gcs.put("app/default.tfstate", b"{\"version\": 4, \"resources\": [")
        .await;
    let r = states.refresh().await;
    assert!(!r.changed);
    let why = &states.stale()["gs://tfstate/app/default.tfstate"];
    assert!(!why.is_empty());
    assert_eq!(states.resources().len(), before);
    assert_eq!(
        by_file(&states, "gs://tfstate/app/default.tfstate"),
        addresses(&a)
    );
    assert_eq!(
        states.version("gs://tfstate/app/default.tfstate"),
        Some(good_gen.as_str())
    );

    // Repaired: fetched again, stale cleared.
    gcs.put("app/default.tfstate", &a).await;
    let r = states.refresh().await;
    assert_eq!(r.fetched, 1);
    assert!(states.stale().is_empty(), "{:?}", states.stale());

    // A deleted workspace disappears; its resources leave the index.
    gcs.delete("app/staging.tfstate").await;
    let r = states.refresh().await;
    assert_eq!((r.removed, r.changed), (1, true));
    assert!(by_file(&states, "gs://tfstate/app/staging.tfstate").is_empty());

    // A missing bucket is stale (with the API's reason), not fatal.
    let mut gone = GcsStates::new(
        GcsBackend::new(Some(gcs.url.clone())),
        &["gs://no-such-bucket/app".into()],
    );
    gone.refresh().await;
    let why = &gone.stale()["gs://no-such-bucket/app"];
    assert!(why.contains("list gs://no-such-bucket/app/"), "{why}");
}

async fn wait_for(handle: &PipelineHandle, what: &str, f: &dyn Fn(&Stats) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
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

/// Real corpus audit events (panther-analysis samples: a console `instances.delete` and a
/// `firewalls.delete`), re-pointed at resources of the two workspaces: the name in the log is
/// the only change.
fn corpus_gcp_events() -> String {
    let records = std::fs::read_to_string(
        common::corpus().join("gcpaudit/panther-labs__panther-analysis/records.jsonl"),
    )
    .unwrap();
    let pick = |method: &str, from: &str, to: &str| -> String {
        let line = records
            .lines()
            .find(|l| l.contains(method) && l.contains(from))
            .unwrap_or_else(|| panic!("corpus record {method} {from} not found"));
        line.replace(from, to)
    };
    [
        pick(
            "\"v1.compute.instances.delete\"",
            "projects/western-verve-225918/zones/europe-north1-a/instances/instance-3",
            "projects/deploy-test-388716/zones/us-central1-a/instances/bastion-host",
        ),
        pick(
            "\"v1.compute.firewalls.delete\"",
            "projects/test-project-123456/global/firewalls/firewall-create",
            "projects/redes-demo-2022-353122/global/firewalls/web-fw-lb-allow-ssh-http",
        ),
    ]
    .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_alerts_against_gcs_workspaces_and_refreshes_on_the_timer() {
    let (Some(default_ws), Some(staging_ws)) = (state(DEFAULT_WS), state(STAGING_WS)) else {
        return;
    };
    let (_server, gcs) = setup().await;
    gcs.put("app/default.tfstate", &default_ws).await;
    gcs.put("app/staging.tfstate", &staging_ws).await;
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("audit.jsonl");
    std::fs::write(&events, corpus_gcp_events()).unwrap();

    let cfg = PipelineConfig {
        inputs: vec![events.display().to_string()],
        remote_state: Some(RemoteStateConfig {
            remote: vec!["gs://tfstate/app".into()],
            gcs_endpoint_url: Some(gcs.url.clone()),
            interval: Duration::from_secs(1),
            ..RemoteStateConfig::default()
        }),
        ..PipelineConfig::default()
    };
    // Started with an empty index: every match below comes from the GCS workspaces.
    let mut handle = spawn(
        Arc::new(Catalog::embedded().unwrap()),
        Arc::new(StateIndex::new(Vec::new())),
        &cfg,
    )
    .unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        let alert = tokio::time::timeout(Duration::from_secs(30), handle.alerts.recv())
            .await
            .expect("two alerts within 30 s")
            .expect("alert channel open");
        got.push(serde_json::to_value(&alert).unwrap());
    }
    let mut seen: Vec<(String, String, String)> = got
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_string(),
                a["resource"]["address"].as_str().unwrap_or("-").to_string(),
                a["event"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (
                "managed_resource_deleted".to_string(),
                "google_compute_firewall.weblb".to_string(),
                "v1.compute.firewalls.delete".to_string()
            ),
            (
                "managed_resource_deleted".to_string(),
                "google_compute_instance.bastion_host".to_string(),
                "v1.compute.instances.delete".to_string()
            ),
        ]
    );
    assert!(handle.stats.borrow().state_stale.is_empty());

    // The timer refresh (1 s) sees a corrupt upload: stale, and the last good copy stays.
    gcs.put("app/staging.tfstate", b"not json").await;
    wait_for(&handle, "state_stale from the timer refresh", &|s| {
        s.state_stale
            .contains_key("gs://tfstate/app/staging.tfstate")
    })
    .await;
    // Repaired: the next refresh clears it.
    gcs.put("app/staging.tfstate", &staging_ws).await;
    wait_for(&handle, "state_stale cleared", &|s| {
        s.state_stale.is_empty()
    })
    .await;
    handle.cancel();
    handle.join().await;
}

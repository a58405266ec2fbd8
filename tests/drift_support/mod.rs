//! Shared by `drift_lifecycle`: the demo's state and recorded records varied per scenario, a
//! real HTTP listener, every HTTP channel kind, and a rig (engine + SQLite store + router).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tfdrift::alert::Alert;
use tfdrift::drift::{Drift, EventKind};
use tfdrift::notify::worker::WorkerConfig;
use tfdrift::notify::{Channels, Notifier, NotifyRouter, NotifySettings};
use tfdrift::pipeline::engine::OutboxRouter;
use tfdrift::pipeline::{Engine, EngineOptions, Stats};
use tfdrift::rules::RuleSet;
use tfdrift::state::{StateIndex, parse_state};
use tfdrift::store::{OutboxStatus, SqliteStore, Store};

use crate::common;

pub const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo");
pub const STATE_NAME: &str = "demo/terraform.tfstate";
pub const TF_UA: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.11.4 (+https://www.terraform.io) terraform-provider-aws/5.100.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.36.3";
pub const BOB: &str = "arn:aws:iam::123456789012:user/bob";
pub const TF_ROLE: &str = "arn:aws:sts::123456789012:assumed-role/terraform-ci/run-42";

pub fn demo_state() -> Value {
    serde_json::from_slice(&std::fs::read(format!("{DEMO}/terraform.tfstate")).unwrap()).unwrap()
}

/// Line `n` (1-based) of the demo's CloudTrail records.
pub fn demo_record(n: usize) -> Value {
    let text = std::fs::read_to_string(format!("{DEMO}/events.jsonl")).unwrap();
    serde_json::from_str(text.lines().nth(n - 1).unwrap()).unwrap()
}

/// The demo's record `n` as a new event (id, time `minute` minutes after 10:00), edited by `f`.
pub fn variant(n: usize, id: &str, minute: u32, f: impl FnOnce(&mut Value)) -> Value {
    let mut r = demo_record(n);
    r["eventID"] = json!(id);
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z").unwrap()
        + chrono::Duration::minutes(i64::from(minute));
    r["eventTime"] = json!(at.to_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string());
    f(&mut r);
    r
}

pub fn by(actor_arn: &str, ua: &str) -> impl FnOnce(&mut Value) {
    let (arn, ua) = (actor_arn.to_string(), ua.to_string());
    move |r| {
        r["userIdentity"] = json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": arn, "accountId": "123456789012", "userName": "x"});
        r["userAgent"] = json!(ua);
    }
}

/// `aws_instance.web` set to `instance_type` (the demo's first record sets t3.large).
pub fn instance_type(t: &'static str) -> impl FnOnce(&mut Value) {
    move |r| r["requestParameters"]["instanceType"]["value"] = json!(t)
}

pub fn index(state: &Value) -> Arc<StateIndex> {
    Arc::new(StateIndex::new(
        parse_state(STATE_NAME, &serde_json::to_vec(state).unwrap()).unwrap(),
    ))
}

/// The demo state with `f` applied to the attributes of `address`.
pub fn edited(address: &str, f: impl FnOnce(&mut Value)) -> Value {
    let mut s = demo_state();
    let (rtype, name) = address.split_once('.').unwrap();
    let r = s["resources"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["type"] == rtype && r["name"] == name)
        .unwrap();
    f(&mut r["instances"][0]["attributes"]);
    s
}

/// The demo state without `address`.
pub fn without(address: &str) -> Value {
    let mut s = demo_state();
    let (rtype, name) = address.split_once('.').unwrap();
    s["resources"]
        .as_array_mut()
        .unwrap()
        .retain(|r| !(r["type"] == rtype && r["name"] == name));
    s
}

/// (path and query without the leading `/`, JSON body, `Authorization` header).
pub type Got = Arc<Mutex<Vec<(String, Value, Option<String>)>>>;

/// A real HTTP server recording every POST: path and query, body, `Authorization`.
pub async fn server() -> (Got, String) {
    let got: Got = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().fallback(axum::routing::post(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
            let g = g.clone();
            async move {
                let path = uri.path_and_query().map_or("", |p| p.as_str());
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                g.lock().unwrap().push((
                    path.trim_start_matches('/').to_string(),
                    serde_json::from_str(&body).unwrap(),
                    auth,
                ));
                (
                    axum::http::StatusCode::ACCEPTED,
                    "{\"result\":\"Request will be processed\"}",
                )
            }
        },
    ));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (got, base)
}

pub const CHANNELS: [&str; 7] = ["discord", "falco", "hook", "og", "pager", "slack", "teams"];

/// The Opsgenie API key the rig's `og` channel reads from a file.
pub const GENIE_KEY: &str = "0a1b2c3d-0000-4000-8000-opsgeniekey0";

/// Every HTTP channel kind, pointed at `base` (no server needed until delivery).
pub fn channels(base: &str, dir: &Path) -> Arc<Channels> {
    let key = dir.join("pd.key");
    std::fs::write(&key, "R0UTINGKEY0000000000000000000000").unwrap();
    let genie = dir.join("og.key");
    std::fs::write(&genie, GENIE_KEY).unwrap();
    let yaml = format!(
        "channels:\n  pager: {{type: pagerduty, url: \"{base}/pager\", secret_file: \"{}\"}}\n  slack: {{type: slack, url: \"{base}/slack\"}}\n  discord: {{type: discord, url: \"{base}/discord\"}}\n  hook: {{type: webhook, url: \"{base}/hook\"}}\n  falco: {{type: falco, output: http, url: \"{base}/falco\"}}\n  og: {{type: opsgenie, url: \"{base}/og\", secret_file: \"{}\"}}\n  teams: {{type: teams, url: \"{base}/teams\"}}\ndefaults: [pager, slack, discord, hook, falco, og, teams]\n",
        key.display(),
        genie.display()
    );
    let settings: NotifySettings = serde_saphyr::from_str(&yaml).unwrap();
    Arc::new(Channels::from_settings(&settings).unwrap())
}

pub struct Rig {
    pub engine: Engine,
    pub store: Arc<dyn Store>,
    pub channels: Arc<Channels>,
    pub dir: tempfile::TempDir,
}

impl Rig {
    pub fn new(base: &str) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        Rig::at(base, dir)
    }

    pub fn at(base: &str, dir: tempfile::TempDir) -> Rig {
        let channels = channels(base, dir.path());
        Rig::with_channels(channels, dir)
    }

    /// A rig notifying `channels`.
    pub fn with_channels(channels: Arc<Channels>, dir: tempfile::TempDir) -> Rig {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("tfdrift.db")).unwrap());
        // The router's own dedupe window is off: what notifies is the drift's decision.
        let router = Arc::new(NotifyRouter::new(
            channels.clone(),
            &RuleSet::empty(),
            Duration::ZERO,
        ));
        let state = serde_json::to_vec(&demo_state()).unwrap();
        let engine = common::engine(&[(STATE_NAME, &state)], &EngineOptions::default())
            .with_store(store.clone())
            .with_outbox_router(router as Arc<dyn OutboxRouter>);
        Rig {
            engine,
            store,
            channels,
            dir,
        }
    }

    pub fn feed(&mut self, records: &[Value]) -> Vec<Alert> {
        let text: Vec<String> = records.iter().map(Value::to_string).collect();
        let (alerts, stats) =
            common::replay(&mut self.engine, "x.jsonl", text.join("\n").as_bytes());
        assert_eq!(stats.store_errors, 0);
        alerts
    }

    pub fn refresh(&mut self, state: &Value) -> Vec<Drift> {
        self.engine.set_state(index(state));
        self.engine.reconcile_drifts(&mut Stats::default())
    }

    pub fn drift(&self, id: &str) -> Drift {
        self.store.drift(id).unwrap().expect("drift stored")
    }

    pub fn events(&self, id: &str) -> Vec<EventKind> {
        self.store
            .drift_events(id)
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect()
    }

    /// Pending outbox items: (channel, payload).
    pub fn outbox(&self) -> Vec<(String, Value)> {
        self.store
            .outbox_list(OutboxStatus::Pending, 10_000)
            .unwrap()
            .into_iter()
            .map(|e| (e.channel, serde_json::from_str(&e.payload).unwrap()))
            .collect()
    }

    /// Channels with a pending item of `type` (`alert` / `resolve`).
    pub fn told(&self, kind: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .outbox()
            .into_iter()
            .filter(|(_, p)| p["type"] == kind)
            .map(|(c, _)| c)
            .collect();
        v.sort();
        v
    }

    pub async fn deliver(&self) {
        let n = Notifier::start(
            self.store.clone(),
            &self.channels,
            WorkerConfig {
                poll: Duration::from_millis(50),
                ..WorkerConfig::default()
            },
        );
        assert!(n.drain(Duration::from_secs(30)).await);
    }
}

pub fn one_drift(alerts: &[Alert]) -> String {
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    alerts[0].drift_id.clone().expect("alerts carry drift_id")
}

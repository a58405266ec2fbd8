//! The daemon's reconcile schedule seen from outside: a reconciled drift is notified through the
//! persisted outbox like an event's (its first notification, with the attribution line, then
//! its `reconciled` resolution) to a real HTTP listener (a webhook channel), and `/metrics`
//! serves the per-workspace reconcile gauges of the latest run.
//!
//! Terraform is played by a stand-in script (`reconcile.terraform`) whose `show -json` prints
//! a plan document the test rewrites between rounds (drifted, then in sync): the real terraform
//! and its attribution to a replayed event are exercised by `reconcile.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

type Got = Arc<Mutex<Vec<Value>>>;

/// A webhook receiver: every body it is posted, parsed.
async fn receiver() -> (Got, String) {
    let got: Got = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let g = g.clone();
            async move {
                g.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap_or(Value::String(body)));
                axum::http::StatusCode::OK
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (got, url)
}

fn yaml_str(p: &Path) -> String {
    serde_json::to_string(&p.display().to_string()).unwrap()
}

/// `terraform show -json` of a refresh-only plan (the stand-in's `$1` is `-chdir=…`, `$2` the
/// subcommand): the queue's visibility timeout drifted (or
/// not), the queue is in the prior state either way.
fn plan_doc(drifted: bool) -> String {
    let queue = |timeout: u64| json!({"id": "https://sqs.local/1/jobs", "name": "jobs", "visibility_timeout_seconds": timeout});
    let drift = if drifted {
        vec![json!({
            "address": "aws_sqs_queue.jobs",
            "mode": "managed",
            "type": "aws_sqs_queue",
            "name": "jobs",
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "change": {"actions": ["update"], "before": queue(30), "after": queue(45)},
        })]
    } else {
        Vec::new()
    };
    json!({
        "format_version": "1.2",
        "resource_drift": drift,
        "resource_changes": [],
        "prior_state": {"values": {"root_module": {"resources": [
            {"address": "aws_sqs_queue.jobs", "mode": "managed", "type": "aws_sqs_queue", "name": "jobs"}
        ]}}},
    })
    .to_string()
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `f` every 200 ms until it gives a value; panics after `limit` with the daemon's log.
async fn until<T>(
    what: &str,
    limit: Duration,
    log: &Path,
    daemon: &mut Daemon,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        let exited = daemon.0.try_wait().unwrap();
        if Instant::now() > deadline || exited.is_some() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what}: not within {limit:?} (daemon exited: {exited:?})\ndaemon log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn scrape(addr: &str) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciled_drift_is_notified_resolved_and_on_metrics() {
    use std::os::unix::fs::PermissionsExt as _;
    let (got, url) = receiver().await;
    let tmp = tempfile::tempdir().unwrap();
    let doc = tmp.path().join("plan.json");
    std::fs::write(&doc, plan_doc(true)).unwrap();
    let fake = tmp.path().join("terraform");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\ncase \"$2\" in\n  show) cat {};;\n  plan)\n    for a in \"$@\"; do case \"$a\" in -out=*) : > \"${{a#-out=}}\";; esac; done\n    echo '{{\"type\":\"change_summary\",\"changes\":{{}}}}';;\nesac\nexit 0\n",
            yaml_str(&doc)
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ws = tmp.path().join("queue");
    std::fs::create_dir_all(ws.join(".terraform")).unwrap();
    let cfg = tmp.path().join("tfdrift.yaml");
    std::fs::write(
        &cfg,
        format!(
            "profiles:
  rec:
    store: {{path: {db}}}
    sources: [{{type: falco_http, listen: \"127.0.0.1:0\"}}]
    metrics: {{listen: \"127.0.0.1:0\"}}
    api: {{listen: \"127.0.0.1:0\"}}
    notify:
      defaults: [hook]
      channels:
        hook: {{type: webhook, url: \"{url}\"}}
    workspaces:
      - {{dir: {ws}, name: queue}}
    reconcile: {{every: 1s, concurrency: 1, timeout: 20s, terraform: {fake}}}
",
            db = yaml_str(&tmp.path().join("store.db")),
            ws = yaml_str(&ws),
            fake = yaml_str(&fake),
        ),
    )
    .unwrap();
    let log = tmp.path().join("daemon.log");
    let mut daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_tfdrift"))
            .args(["serve", "--no-stdout", "--profile", "rec", "--config"])
            .arg(&cfg)
            .env_remove("TFDRIFT_CONFIG")
            .env("TFDRIFT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let limit = Duration::from_mins(1);
    let logged_addr = |needle: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| {
                v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(needle))
            })
            .and_then(|v| v["fields"]["addr"].as_str().map(str::to_string))
    };
    let addr = until(
        "the metrics address in the log",
        limit,
        &log,
        &mut daemon,
        || logged_addr("/metrics"),
    )
    .await;
    let api = until(
        "the API address in the log",
        limit,
        &log,
        &mut daemon,
        || logged_addr("team API"),
    )
    .await;

    // The first notification of the drift, with the attribution line.
    let opened = until(
        "the drift.opened notification",
        limit,
        &log,
        &mut daemon,
        || {
            got.lock()
                .unwrap()
                .iter()
                .find(|b| b["drift"]["event"] == "drift.opened")
                .cloned()
        },
    )
    .await;
    assert_eq!(
        opened["resource"]["address"], "aws_sqs_queue.jobs",
        "{opened:#}"
    );
    assert_eq!(opened["event"]["service"], "reconcile", "{opened:#}");
    assert_eq!(opened["attribution"], "no event seen", "{opened:#}");
    assert_eq!(opened["drift"]["attribute"], "visibility_timeout_seconds");
    let drift_id = opened["drift"]["id"].as_str().unwrap().to_string();

    // The gauges of the latest run, from the daemon's own /metrics.
    let metrics = {
        let deadline = Instant::now() + limit;
        loop {
            let last = scrape(&addr).await;
            if last.contains("tfdrift_reconcile_drifted{workspace=\"queue\"} 1") {
                break last;
            }
            assert!(
                Instant::now() < deadline,
                "no reconcile gauges on /metrics:\n{last}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    for line in [
        "# TYPE tfdrift_reconcile_drifted gauge",
        "tfdrift_reconcile_error{workspace=\"queue\"} 0",
        "tfdrift_reconcile_unattributed{workspace=\"queue\"} 1",
    ] {
        assert!(
            metrics.contains(line),
            "{line} missing from /metrics:\n{metrics}"
        );
    }
    assert!(
        metrics
            .lines()
            .any(|l| l
                .starts_with("tfdrift_reconcile_last_run_timestamp_seconds{workspace=\"queue\"} ")),
        "{metrics}"
    );

    // The board over the API (the monitor's workspaces view in team mode).
    let mut client = tfdrift::api::client::Client::connect(&tfdrift::api::client::ClientOptions {
        url: format!("http://{api}"),
        token: None,
        ca_cert: None,
    })
    .await
    .unwrap();
    let reply = client.list_workspace_runs().await.unwrap();
    assert_eq!(reply.runs.len(), 1, "{reply:?}");
    let row = tfdrift::api::workspaces::from_proto(&reply.runs[0]).unwrap();
    assert_eq!(row.workspace, "queue");
    assert_eq!(row.result_line(), "1 drifted", "{row:?}");
    assert_eq!((row.open_drifts, row.unattributed), (1, 1), "{row:?}");

    // Later rounds find the same drift: no second notification for it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let opened_count = got
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b["drift"]["id"] == drift_id.as_str() && b.get("type").is_none())
        .count();
    assert_eq!(
        opened_count,
        1,
        "one notification per drift: {:#?}",
        got.lock().unwrap()
    );

    // The queue is back in line: the next round resolves the drift `reconciled` and tells the
    // channel that was told.
    std::fs::write(&doc, plan_doc(false)).unwrap();
    let resolved = until(
        "the drift.resolved notification",
        limit,
        &log,
        &mut daemon,
        || {
            got.lock()
                .unwrap()
                .iter()
                .find(|b| b["type"] == "resolve" && b["drift"]["id"] == drift_id.as_str())
                .cloned()
        },
    )
    .await;
    assert_eq!(resolved["event"], "drift.resolved", "{resolved:#}");
    assert_eq!(resolved["drift"]["reason"], "reconciled", "{resolved:#}");
    let deadline = Instant::now() + limit;
    loop {
        let m = scrape(&addr).await;
        if m.contains("tfdrift_reconcile_drifted{workspace=\"queue\"} 0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the in-sync run is not on /metrics:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

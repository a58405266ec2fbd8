//! `tfdrift reconcile`, `workspaces` and `explain` against Terraform itself: a 12-resource
//! workspace (tests/reconcile/main.tf) applied with terraform 1.x and the mirrored AWS provider
//! to a moto server this test starts; out-of-band boto3 changes, some with CloudTrail records
//! replayed into tfdrift's store and some never logged (tests/reconcile/out_of_band.py).
//!
//! One test function shares the workspace (each terraform run costs seconds): apply, replay,
//! reconcile (JSON, both workspaces: the real one and one with no credentials), reconcile again
//! (text), the board, a drift resolved `reconciled`, and `explain` over a saved plan. A webhook
//! channel (a real HTTP listener) receives each reconciled drift's first notification with its
//! attribution line.
//!
//! Needs terraform, the provider mirror (/opt/tf-plugins or TF_PLUGIN_MIRROR) and .venv with
//! moto[server] + boto3 (scripts/ci-deps.sh); fails naming what is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::live_support;
use crate::tf_support;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

const MAIN_TF: &str = include_str!("reconcile/main.tf");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python(args: &[&str]) {
    let py = repo().join(".venv/bin/python");
    assert!(
        py.exists(),
        "python with boto3 is missing at {}: run scripts/ci-deps.sh",
        py.display()
    );
    let out = std::process::Command::new(&py)
        .arg(repo().join("tests/reconcile/out_of_band.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "out_of_band.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tfdrift(cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("tfdrift")
        .unwrap()
        .args(args)
        .arg("--config")
        .arg(cfg)
        .args(["--profile", "rec"])
        .env_remove("TFDRIFT_CONFIG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lines(s: &str) -> Vec<Value> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn drift<'a>(report: &'a Value, address: &str, attribute: &str) -> Option<&'a Value> {
    report["drifts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["address"] == address && d["attribute"] == attribute)
}

type Posted = std::sync::Arc<std::sync::Mutex<Vec<Value>>>;

/// A webhook receiver (a real HTTP listener): every body posted to it, parsed.
async fn receiver() -> (Posted, String) {
    let got: Posted = Posted::default();
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

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_attributes_ignores_resolves_boards_and_explains() {
    tf_support::require();
    let moto = live_support::moto();
    let (hook, hook_url) = receiver().await;
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let tf = tf_support::Terraform::new(&ws, MAIN_TF);
    let endpoint_var = format!("-var=moto_endpoint={}", moto.url);
    tf.run(&["init", "-input=false", "-no-color"]).await;
    tf.run(&[
        "apply",
        "-auto-approve",
        "-no-color",
        &endpoint_var,
        "-var=access_key=test",
        "-var=secret_key=test",
    ])
    .await;
    let state = ws.join("terraform.tfstate");
    let db = tmp.path().join("store.db");
    let cli_config = ws.join("cli.tfrc");
    let cfg = tmp.path().join("tfdrift.yaml");
    std::fs::write(
        &cfg,
        format!(
            "profiles:
  rec:
    state: [{state}]
    store: {{path: {db}}}
    workspaces:
      - dir: {ws}
        name: shop
        env:
          TF_CLI_CONFIG_FILE: {cli}
          TF_VAR_moto_endpoint: \"{url}\"
          TF_VAR_access_key: test
          TF_VAR_secret_key: test
          CHECKPOINT_DISABLE: \"1\"
      - dir: {ws}
        name: shop-expired
        env:
          TF_CLI_CONFIG_FILE: {cli}
          TF_VAR_moto_endpoint: \"{url}\"
          CHECKPOINT_DISABLE: \"1\"
          AWS_ACCESS_KEY_ID: \"\"
          AWS_SECRET_ACCESS_KEY: \"\"
          AWS_SESSION_TOKEN: \"\"
          AWS_SHARED_CREDENTIALS_FILE: /nonexistent/credentials
          AWS_CONFIG_FILE: /nonexistent/config
          AWS_EC2_METADATA_DISABLED: \"true\"
    reconcile: {{concurrency: 2, timeout: 10m}}
    notify:
      defaults: [hook]
      channels:
        hook: {{type: webhook, url: \"{hook}\"}}
",
            hook = hook_url,
            state = yaml_str(&state),
            db = yaml_str(&db),
            ws = yaml_str(&ws),
            cli = yaml_str(&cli_config),
            url = moto.url,
        ),
    )
    .unwrap();

    // Out-of-band changes; three of them logged and replayed into the store.
    let events = tmp.path().join("events.jsonl");
    let s = state.display().to_string();
    python(&[
        "drift",
        "--endpoint",
        &moto.url,
        "--state",
        &s,
        "--out",
        &events.display().to_string(),
    ]);
    let stats = tmp.path().join("stats.json");
    let (code, out, err) = tfdrift(
        &cfg,
        &[
            "replay",
            "--store",
            &db.display().to_string(),
            "--stats-json",
            &stats.display().to_string(),
            &events.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "replay failed: {err}");
    let alerts = lines(&out);
    let find = |address: &str, path: &str| -> Value {
        alerts
            .iter()
            .find(|a| {
                a["resource"]["address"] == address
                    && a["diffs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|d| d["path"] == path)
            })
            .unwrap_or_else(|| panic!("no alert for {address} {path} in {alerts:#?}"))
            .clone()
    };
    let sg_alert = find("aws_security_group.web", "ingress");
    let vpc_alert = find("aws_vpc.main", "tags.Env");
    assert!(
        !alerts
            .iter()
            .any(|a| a["resource"]["address"] == "aws_subnet.app"),
        "the subnet's tags are under lifecycle.ignore_changes: no alert expected, got {alerts:#?}"
    );
    let stats: Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    assert_eq!(
        stats["ignored"]["ignored_by_config aws_subnet.app tags.Owner"], 1,
        "the ignored event is counted: {stats:#}"
    );
    let vpc_drift = vpc_alert["drift_id"].as_str().unwrap().to_string();
    // The VPC tag goes back by hand, unlogged: only a reconcile can tell it is over.
    python(&["revert", "--endpoint", &moto.url, "--state", &s]);

    // Reconcile both workspaces.
    let (code, out, err) = tfdrift(&cfg, &["reconcile", "--json"]);
    assert_eq!(
        code, 3,
        "a workspace with no credentials makes the run an error (exit 3): {out}\n{err}"
    );
    let reports = lines(&out);
    assert_eq!(reports.len(), 2, "{out}");
    let shop = reports.iter().find(|r| r["workspace"] == "shop").unwrap();
    let expired = reports
        .iter()
        .find(|r| r["workspace"] == "shop-expired")
        .unwrap();
    assert_eq!(shop["result"], "drifted", "{shop:#}");

    let sg = drift(shop, "aws_security_group.web", "ingress").expect("SG ingress drift");
    assert_eq!(sg["attribution"]["seen"], true, "{sg:#}");
    assert!(
        sg["attribution"]["actor"]
            .as_str()
            .unwrap()
            .contains("alice"),
        "{sg:#}"
    );
    assert_eq!(sg["attribution"]["via"], "console", "{sg:#}");
    assert_eq!(sg["attribution"]["alert_id"], sg_alert["id"], "{sg:#}");
    assert_eq!(sg["attribution"]["at"], sg_alert["event"]["time"], "{sg:#}");
    assert_eq!(
        sg["drift_id"], sg_alert["drift_id"],
        "the same drift as the event's: {sg:#}"
    );
    for (address, attribute) in [
        ("aws_sqs_queue.jobs", "visibility_timeout_seconds"),
        ("aws_sns_topic.alerts", "display_name"),
        ("aws_cloudwatch_log_group.app", "retention_in_days"),
        ("aws_sns_topic.legacy", ""),
    ] {
        let d = drift(shop, address, attribute)
            .unwrap_or_else(|| panic!("reconcile missed {address} {attribute}: {shop:#}"));
        assert_eq!(d["attribution"]["seen"], false, "{d:#}");
    }
    assert_eq!(
        drift(shop, "aws_sns_topic.legacy", "").unwrap()["kind"],
        "managed_resource_deleted"
    );
    assert!(
        !shop["drifts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["address"] == "aws_subnet.app"),
        "ignore_changes: no reconcile drift on the subnet: {shop:#}"
    );
    assert!(
        shop["ignored_by_config"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["address"] == "aws_subnet.app" && i["attribute"] == "tags.Owner"),
        "the ignored attribute is counted: {shop:#}"
    );
    assert!(
        !shop["drifts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["address"] == "aws_vpc.main"),
        "the VPC is back in sync: {shop:#}"
    );
    assert!(
        shop["resolved"]
            .as_array()
            .unwrap()
            .iter()
            .any(|id| *id == *vpc_drift),
        "the VPC tag drift is resolved as reconciled: {shop:#}"
    );
    let unseen: u64 = shop["unattributed_by_service"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(unseen >= 4, "{shop:#}");
    assert_eq!(expired["result"], "error", "{expired:#}");
    let reason = expired["error"].as_str().unwrap().to_lowercase();
    assert!(
        reason.contains("credential"),
        "the reason is on the board: {reason}"
    );

    // Notified through the outbox (the CLI delivers before it exits): each drift's first
    // notification carries who changed it, or "no event seen".
    let posted = |address: &str| -> Vec<Value> {
        hook.lock()
            .unwrap()
            .iter()
            .filter(|b| b["resource"]["address"] == address && b.get("type").is_none())
            .cloned()
            .collect()
    };
    let sg_posts = posted("aws_security_group.web");
    assert_eq!(sg_posts.len(), 1, "{sg_posts:#?}");
    assert_eq!(
        sg_posts[0]["drift"]["event"], "drift.opened",
        "{sg_posts:#?}"
    );
    assert_eq!(sg_posts[0]["event"]["service"], "reconcile");
    let line = sg_posts[0]["attribution"].as_str().unwrap();
    assert!(
        line.contains("changed by alice")
            && line.contains("via console at")
            && line.contains(sg_alert["id"].as_str().unwrap()),
        "{line}"
    );
    let sqs_posts = posted("aws_sqs_queue.jobs");
    assert_eq!(sqs_posts.len(), 1, "{sqs_posts:#?}");
    assert_eq!(sqs_posts[0]["attribution"], "no event seen");
    assert_eq!(
        posted("aws_sns_topic.legacy")[0]["kind"],
        "managed_resource_deleted"
    );
    assert!(
        posted("aws_subnet.app").is_empty(),
        "ignore_changes: nothing notified for the subnet"
    );

    // The drift the VPC revert ended.
    let (code, out, err) = tfdrift(&cfg, &["drifts", "show", &vpc_drift, "--json"]);
    assert_eq!(code, 0, "{err}");
    let shown: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(shown["drift"]["status"], "resolved", "{shown:#}");
    assert_eq!(shown["drift"]["resolved_reason"], "reconciled", "{shown:#}");

    // Again, in text, one workspace: attribution survives reconcile's own alerts.
    let (code, out, err) = tfdrift(&cfg, &["reconcile", "--workspace", "shop"]);
    assert_eq!(code, 2, "drift found: exit 2\n{out}\n{err}");
    let sg_line = out
        .lines()
        .find(|l| l.contains("aws_security_group.web ingress"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        sg_line.contains("changed by alice")
            && sg_line.contains("via console at")
            && sg_line.contains(sg_alert["id"].as_str().unwrap()),
        "{sg_line}"
    );
    let sqs_line = out
        .lines()
        .find(|l| l.contains("aws_sqs_queue.jobs"))
        .unwrap();
    assert!(sqs_line.contains("no event seen"), "{sqs_line}");
    assert!(out.contains("no event seen, by service:"), "{out}");
    assert_eq!(
        posted("aws_security_group.web").len(),
        1,
        "a drift already told about is not notified again by the next reconcile"
    );

    // The board.
    let (code, out, err) = tfdrift(&cfg, &["workspaces", "--json"]);
    assert_eq!(code, 0, "{err}");
    let board = lines(&out);
    assert_eq!(board.len(), 2, "{out}");
    let b_shop = board.iter().find(|r| r["workspace"] == "shop").unwrap();
    let b_exp = board
        .iter()
        .find(|r| r["workspace"] == "shop-expired")
        .unwrap();
    assert_eq!(b_shop["result"], "drifted");
    assert!(b_shop["open_drifts"].as_u64().unwrap() >= 5, "{b_shop:#}");
    assert_eq!(b_exp["result"], "error");
    assert!(
        b_exp["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("credential")
    );
    let (_, text, _) = tfdrift(&cfg, &["workspaces"]);
    assert!(
        text.contains("shop-expired") && text.contains("error"),
        "{text}"
    );
    let (_, metrics, _) = tfdrift(&cfg, &["workspaces", "--metrics"]);
    assert!(
        metrics.contains("tfdrift_reconcile_error{workspace=\"shop-expired\"} 1"),
        "{metrics}"
    );

    // explain: a saved plan that reverts alice's console change and adds a code change.
    std::fs::write(
        ws.join("main.tf"),
        format!(
            "{MAIN_TF}\nresource \"aws_sns_topic\" \"code\" {{\n  name = \"acme-rec-code\"\n}}\n"
        ),
    )
    .unwrap();
    tf.run(&[
        "plan",
        "-input=false",
        "-no-color",
        "-lock=false",
        &endpoint_var,
        "-var=access_key=test",
        "-var=secret_key=test",
        "-target=aws_security_group.web",
        "-target=aws_sns_topic.code",
        "-out=explain.tfplan",
    ])
    .await;
    let plan_json = tf.run(&["show", "-json", "explain.tfplan"]).await;
    let plan = tmp.path().join("plan.json");
    std::fs::write(&plan, plan_json).unwrap();
    let p = plan.display().to_string();
    let (code, out, err) = tfdrift(&cfg, &["explain", &p]);
    assert_eq!(
        code, 2,
        "an apply that reverts an open drift exits 2\n{out}\n{err}"
    );
    let revert = out
        .lines()
        .find(|l| l.starts_with("REVERT") && l.contains("aws_security_group.web ingress"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        revert.contains("alice") && revert.contains("console change of"),
        "{revert}"
    );
    let code_line = out
        .lines()
        .find(|l| l.contains("aws_sns_topic.code"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        code_line.starts_with("CODE") && !code_line.contains("alice"),
        "{code_line}"
    );
    assert!(
        !out.lines()
            .any(|l| l.starts_with("REVERT") && l.contains("aws_sns_topic.code")),
        "{out}"
    );
    let (code, _, _) = tfdrift(&cfg, &["explain", &p, "--allow-revert"]);
    assert_eq!(code, 0);
    let severity = sg["severity"].as_str().unwrap();
    let (code, _, _) = tfdrift(&cfg, &["explain", &p, "--min-severity", "critical"]);
    assert_eq!(
        code,
        if severity == "critical" { 2 } else { 0 },
        "severity {severity}"
    );
    let (_, md, _) = tfdrift(
        &cfg,
        &["explain", &p, "--format", "markdown", "--allow-revert"],
    );
    assert!(
        md.starts_with("### tfdrift explain") && md.contains(":warning:"),
        "{md}"
    );
}

/// The daemon's schedule (`reconcile: {every}` in `tfdrift serve`): every workspace is planned at
/// start-up and lands on the board; a failing plan and one past `reconcile.timeout` are errors
/// with their reason, never "in sync". Terraform's failure modes (a held state lock, a hung
/// provider) are played by a stand-in `terraform` (`reconcile.terraform`), a shell script: the
/// real terraform is exercised by the test above.
#[test]
fn daemon_schedule_puts_errors_and_timeouts_on_the_board() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("terraform");
    std::fs::write(
        &fake,
        "#!/bin/sh\ncase \"$*\" in\n  *plan*)\n    case \"$FAKE_TF\" in\n      lock)\n        echo '{\"@level\":\"error\",\"type\":\"diagnostic\",\"diagnostic\":{\"severity\":\"error\",\"summary\":\"Error acquiring the state lock\",\"detail\":\"ConditionalCheckFailedException: the state is locked by ci-runner-7\"}}'\n        echo 'Error: Error acquiring the state lock' >&2\n        exit 1;;\n      slow) exec sleep 120;;\n    esac;;\nesac\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    for d in ["a", "b"] {
        std::fs::create_dir_all(tmp.path().join(d).join(".terraform")).unwrap();
    }
    let db = tmp.path().join("store.db");
    let cfg = tmp.path().join("tfdrift.yaml");
    std::fs::write(
        &cfg,
        format!(
            "profiles:
  rec:
    store: {{path: {db}}}
    sources: [{{type: falco_http, listen: \"127.0.0.1:0\"}}]
    workspaces:
      - {{dir: {a}, name: locked, env: {{FAKE_TF: lock}}}}
      - {{dir: {b}, name: hung, env: {{FAKE_TF: slow}}}}
    reconcile: {{every: 1h, concurrency: 2, timeout: 2s, terraform: {fake}}}
",
            db = yaml_str(&db),
            a = yaml_str(&tmp.path().join("a")),
            b = yaml_str(&tmp.path().join("b")),
            fake = yaml_str(&fake),
        ),
    )
    .unwrap();
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_tfdrift"))
        .args(["serve", "--no-stdout", "--profile", "rec", "--config"])
        .arg(&cfg)
        .env_remove("TFDRIFT_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(tmp.path().join("daemon.log")).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(2);
    let board = loop {
        let (code, out, _) = tfdrift(&cfg, &["workspaces", "--json"]);
        if code == 0 && lines(&out).len() == 2 {
            break lines(&out);
        }
        if std::time::Instant::now() > deadline || daemon.try_wait().unwrap().is_some() {
            let _ = daemon.kill();
            let log = std::fs::read_to_string(tmp.path().join("daemon.log")).unwrap_or_default();
            panic!(
                "the daemon put no runs on the board within 120 s, or exited (board: {out})\ndaemon log:\n{log}"
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    let _ = daemon.kill();
    let _ = daemon.wait();
    let locked = board.iter().find(|r| r["workspace"] == "locked").unwrap();
    let hung = board.iter().find(|r| r["workspace"] == "hung").unwrap();
    assert_eq!(locked["result"], "error", "{locked:#}");
    assert!(
        locked["error"]
            .as_str()
            .unwrap()
            .contains("Error acquiring the state lock"),
        "{locked:#}"
    );
    assert_eq!(hung["result"], "error", "{hung:#}");
    assert!(
        hung["error"]
            .as_str()
            .unwrap()
            .contains("did not finish within 2s"),
        "{hung:#}"
    );
}

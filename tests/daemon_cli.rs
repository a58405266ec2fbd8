//! The headless daemon as a real process (`tfdrift tui --profile P --no-ui` with a config file):
//! `/healthz` and `/metrics` on loopback with a bearer token, Falco (file and falcosidekick
//! HTTP) and JSON-lines channels, SIGTERM draining within its bound and exiting 3 when a dead
//! channel leaves notifications undelivered, secrets absent from logs and stored errors,
//! `tfdrift notify test` against real listeners, and `tfdrift alerts resolve` resolving a
//! PagerDuty incident through a later daemon run.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tfdrift::store::{OutboxStatus, SqliteStore, Store};

const BIN: &str = env!("CARGO_BIN_EXE_tfdrift");

type Got = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// A capturing HTTP server: `/hang` never answers, `/fail` answers 500, others 200.
fn server(rt: &tokio::runtime::Runtime) -> (Got, String) {
    let got: Got = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/{*p}",
        axum::routing::post(
            move |axum::extract::Path(p): axum::extract::Path<String>, body: String| {
                let g = g.clone();
                async move {
                    if p.starts_with("hang") {
                        tokio::time::sleep(Duration::from_hours(1)).await;
                    }
                    let v = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                    g.lock().unwrap().push((p.clone(), v));
                    if p.starts_with("fail") {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            },
        ),
    );
    let l = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    rt.spawn(async move { axum::serve(l, app).await.unwrap() });
    (got, base)
}

/// A profile over the bundled demo (real Terraform state and CloudTrail records), no rules
/// (so the channel defaults apply), an on-disk store.
fn config(dir: &Path, looping: bool, notify: &str, metrics: &str) -> std::path::PathBuf {
    let yaml = format!(
        "profiles:\n  d:\n    state: [\"embedded:demo/terraform.tfstate\"]\n    rules: []\n    inputs: [\"embedded:demo/events.jsonl\"]\n    replay: {{loop: {looping}, interval_ms: 200}}\n    store: {{path: \"{}\"}}\n    notify:\n{notify}{metrics}",
        dir.join("store.db").display()
    );
    let p = dir.join("tfdrift.yaml");
    std::fs::write(&p, yaml).unwrap();
    p
}

struct Daemon {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

fn pump(r: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let out: Arc<Mutex<Vec<String>>> = Arc::default();
    let o = out.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            o.lock().unwrap().push(line);
        }
    });
    out
}

fn start(cfg: &Path, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
    let mut cmd = Command::new(BIN);
    cmd.args(["tui", "--no-ui", "--profile", "d", "--config"])
        .arg(cfg)
        .args(extra)
        .env("TFDRIFT_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = pump(child.stdout.take().unwrap());
    let stderr = pump(child.stderr.take().unwrap());
    Daemon {
        child,
        stdout,
        stderr,
    }
}

impl Daemon {
    fn wait_log(
        &mut self,
        what: &str,
        f: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_mins(1);
        loop {
            if let Some(v) = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|v| f(v))
            {
                return v;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "daemon exited ({st}) before {what}: {:?}",
                    self.stderr.lock().unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no log for {what}: {:?}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn sigterm(&self) {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits for exit (bounded); returns the exit code and how long it took.
    fn wait_exit(&mut self, limit: Duration) -> (i32, Duration) {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                // Let the pump threads read the last lines.
                std::thread::sleep(Duration::from_millis(200));
                return (st.code().expect("exit code, not a signal"), t.elapsed());
            }
            if t.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "daemon did not exit within {limit:?}: {:?}",
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn lines(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn check_falco(e: &serde_json::Value) {
    assert_eq!(e["source"], "tfdrift", "{e}");
    assert!(e["rule"].as_str().is_some_and(|r| !r.is_empty()), "{e}");
    assert!(
        ["Critical", "Error", "Warning", "Notice", "Informational"]
            .contains(&e["priority"].as_str().unwrap()),
        "{e}"
    );
    assert!(e["output"].as_str().is_some_and(|o| !o.is_empty()));
    assert!(
        e["output_fields"]
            .as_object()
            .is_some_and(|m| !m.is_empty()),
        "{e}"
    );
    assert!(chrono::DateTime::parse_from_rfc3339(e["time"].as_str().unwrap()).is_ok());
    assert!(e["tags"].as_array().unwrap().contains(&"tfdrift".into()));
}

#[test]
fn daemon_serves_metrics_and_delivers_to_file_and_sidekick_channels() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (got, base) = server(&rt);
    let dir = tempfile::tempdir().unwrap();
    let notify = format!(
        "      defaults: [archive, falco-file, sidekick]\n      channels:\n        archive: {{type: jsonl, path: \"{a}\"}}\n        falco-file: {{type: falco, output: file, path: \"{f}\"}}\n        sidekick: {{type: falco, output: http, url: \"{base}/sidekick\"}}\n",
        a = dir.path().join("alerts.jsonl").display(),
        f = dir.path().join("falco.jsonl").display(),
    );
    let metrics = "    metrics: {listen: \"127.0.0.1:0\", token_env: TFDRIFT_TEST_METRICS_TOKEN}\n";
    let cfg = config(dir.path(), true, &notify, metrics);
    let mut d = start(
        &cfg,
        &[],
        &[("TFDRIFT_TEST_METRICS_TOKEN", "m3trics-t0ken")],
    );
    let log = d.wait_log("the metrics address", |v| v["fields"]["addr"].is_string());
    let addr: std::net::SocketAddr = log["fields"]["addr"].as_str().unwrap().parse().unwrap();
    assert!(addr.ip().is_loopback(), "{addr}");

    let client = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut rq = client.get(format!("http://{addr}{path}"));
        if let Some(t) = token {
            rq = rq.bearer_auth(t);
        }
        rt.block_on(async {
            let r = rq.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let (st, body) = get("/healthz", None);
    assert_eq!((st, body.trim()), (200, "ok"));
    assert_eq!(get("/metrics", None).0, 401);
    assert_eq!(get("/metrics", Some("wrong")).0, 401);

    // Wait until alerts were delivered on every channel, then read the metrics.
    let deadline = Instant::now() + Duration::from_mins(1);
    let body = loop {
        let (st, body) = get("/metrics", Some("m3trics-t0ken"));
        assert_eq!(st, 200);
        if ["archive", "falco-file", "sidekick"].iter().all(|c| {
            body.lines()
                .find(|l| l.starts_with(&format!("tfdrift_notify_sent_total{{channel=\"{c}\"}}")))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n > 0)
        }) {
            break body;
        }
        assert!(Instant::now() < deadline, "no deliveries: {body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    for name in [
        "tfdrift_events_read_total ",
        "tfdrift_events_parsed_total ",
        "# TYPE tfdrift_events_skipped_total counter",
        "tfdrift_alerts_total{kind=\"attribute_drift\"} ",
        "tfdrift_outbox_depth{status=\"pending\"} ",
        "tfdrift_outbox_depth{status=\"delivered\"} ",
        "tfdrift_notify_failed_total{channel=\"sidekick\"} 0",
        "tfdrift_notify_deduped_total ",
        "# TYPE tfdrift_source_lag_seconds gauge",
    ] {
        assert!(body.contains(name), "missing {name} in\n{body}");
    }
    let delivered: u64 = body
        .lines()
        .find(|l| l.starts_with("tfdrift_outbox_depth{status=\"delivered\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(delivered >= 3, "{body}");

    d.sigterm();
    let (code, _) = d.wait_exit(Duration::from_secs(30));
    assert_eq!(code, 0, "clean stop: {:?}", d.stderr.lock().unwrap());

    // Alerts on stdout as JSON lines; the same alerts in the JSONL archive.
    let stdout: Vec<serde_json::Value> = d
        .stdout
        .lock()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!stdout.is_empty());
    let archive = lines(&dir.path().join("alerts.jsonl"));
    assert!(!archive.is_empty());
    for a in &archive {
        assert_eq!(a["schema"], "tfdrift.alert/v1");
        assert!(
            stdout.iter().any(|s| s["id"] == a["id"]),
            "archived alert was printed"
        );
    }
    let falco = lines(&dir.path().join("falco.jsonl"));
    assert!(!falco.is_empty());
    for e in &falco {
        check_falco(e);
    }
    let g = got.lock().unwrap();
    let side: Vec<_> = g.iter().filter(|(p, _)| p == "sidekick").collect();
    assert!(!side.is_empty());
    for (_, e) in &side {
        check_falco(e);
    }
    // Logs are JSON, one object per line (the closing summary is the only plain text).
    let stderr = d.stderr.lock().unwrap();
    let json_lines = stderr
        .iter()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .count();
    assert!(json_lines >= 3, "{stderr:?}");
}

#[test]
fn sigterm_drains_within_the_bound_and_exits_3_when_undelivered() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_got, base) = server(&rt);
    let dir = tempfile::tempdir().unwrap();
    let notify = "      defaults: [stuck]\n      channels:\n        stuck: {type: webhook, url_env: TFDRIFT_TEST_HOOK, timeout_ms: 60000}\n";
    let cfg = config(dir.path(), true, notify, "");
    let url = format!("{base}/hang/T0PSECRET-path?token=T0PSECRET-query");
    let mut d = start(&cfg, &["--no-stdout"], &[("TFDRIFT_TEST_HOOK", &url)]);
    // Wait until an alert was recorded (and so a notification is in flight to the hanging
    // endpoint).
    let db = dir.path().join("store.db");
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let store = SqliteStore::open(&db).ok();
        if store
            .and_then(|s| s.outbox_list(OutboxStatus::Sending, 10).ok())
            .is_some_and(|v| !v.is_empty())
        {
            break;
        }
        assert!(Instant::now() < deadline, "no notification in flight");
        std::thread::sleep(Duration::from_millis(100));
    }
    d.sigterm();
    let (code, took) = d.wait_exit(Duration::from_secs(40));
    assert_eq!(
        code,
        3,
        "undelivered at exit: {:?}",
        d.stderr.lock().unwrap()
    );
    // The documented bound is 10 s of drain; allow for stopping sources and process exit.
    assert!(took < Duration::from_secs(25), "drain took {took:?}");
    assert!(d.stdout.lock().unwrap().is_empty(), "--no-stdout");
    let stderr = d.stderr.lock().unwrap().join("\n");
    assert!(stderr.contains("drain timed out"), "{stderr}");
    assert!(!stderr.contains("T0PSECRET"), "secret in logs:\n{stderr}");
    // What was not delivered stays in the outbox for the next start.
    let store = SqliteStore::open(&db).unwrap();
    let left = store.outbox_list(OutboxStatus::Sending, 100).unwrap().len()
        + store.outbox_list(OutboxStatus::Pending, 100).unwrap().len();
    assert!(left > 0);
}

#[test]
fn failing_deliveries_never_reveal_secrets() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (got, base) = server(&rt);
    let dir = tempfile::tempdir().unwrap();
    // A closed port (connection refused), a 500 with a secret routing key, and a webhook
    // secret: every failure path that could echo a URL or token.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    std::fs::write(dir.path().join("pd-key"), "PDSECRETKEY\n").unwrap();
    let notify = format!(
        "      defaults: [refused, pager, hook]\n      max_attempts: 2\n      channels:\n        refused: {{type: slack, url_env: TFDRIFT_TEST_SLACK}}\n        pager: {{type: pagerduty, url: \"{base}/fail-pd\", secret_file: \"{}\"}}\n        hook: {{type: webhook, url_env: TFDRIFT_TEST_FAIL_HOOK, secret_env: TFDRIFT_TEST_HMAC}}\n",
        dir.path().join("pd-key").display()
    );
    let cfg = config(dir.path(), false, &notify, "");
    let slack = format!("http://127.0.0.1:{closed_port}/services/SLACKSECRET/XYZ");
    let hook = format!("{base}/fail-hook/HOOKSECRET?sig=HOOKSECRET");
    let mut d = start(
        &cfg,
        &["--once"],
        &[
            ("TFDRIFT_TEST_SLACK", slack.as_str()),
            ("TFDRIFT_TEST_FAIL_HOOK", hook.as_str()),
            ("TFDRIFT_TEST_HMAC", "HMACSECRET"),
            ("TFDRIFT_LOG", "debug"),
        ],
    );
    // --once: one pass, then the drain (retries back off, so items may still be pending).
    let (code, _) = d.wait_exit(Duration::from_mins(1));
    assert!(code == 0 || code == 3, "{code}");
    let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
    let mut errors: Vec<String> = Vec::new();
    for st in [
        OutboxStatus::Pending,
        OutboxStatus::Sending,
        OutboxStatus::Failed,
    ] {
        errors.extend(
            store
                .outbox_list(st, 1000)
                .unwrap()
                .into_iter()
                .filter_map(|e| e.last_error),
        );
    }
    assert!(
        errors.iter().any(|e| e.contains("HTTP 500")),
        "the 500s were recorded: {errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains(&format!("127.0.0.1:{closed_port}"))),
        "the refused connection was recorded (host and port only): {errors:?}"
    );
    assert!(
        got.lock()
            .unwrap()
            .iter()
            .any(|(p, _)| p.starts_with("fail-pd")),
        "the server saw the attempts"
    );
    let stderr = d.stderr.lock().unwrap().join("\n");
    assert!(stderr.contains("Notification failed"), "{stderr}");
    for secret in ["SLACKSECRET", "PDSECRETKEY", "HOOKSECRET", "HMACSECRET"] {
        assert!(!stderr.contains(secret), "{secret} in stderr:\n{stderr}");
        for e in &errors {
            assert!(!e.contains(secret), "{secret} in stored error {e}");
        }
    }
}

#[test]
fn notify_test_reports_each_channel() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (got, base) = server(&rt);
    let dir = tempfile::tempdir().unwrap();
    let notify = format!(
        "      channels:\n        hook: {{type: webhook, url: \"{base}/hook\", secret_env: TFDRIFT_TEST_HMAC}}\n        broken: {{type: slack, url: \"{base}/fail-slack\"}}\n        archive: {{type: jsonl, path: \"{a}\"}}\n        falco-out: {{type: falco, output: stdout}}\n        sidekick: {{type: falco, output: http, url: \"{base}/sidekick\"}}\n",
        a = dir.path().join("a.jsonl").display()
    );
    let cfg = config(dir.path(), false, &notify, "");
    let run = |extra: &[&str]| {
        let out = Command::new(BIN)
            .args(["notify", "test", "--profile", "d", "--config"])
            .arg(&cfg)
            .args(extra)
            .env("TFDRIFT_TEST_HMAC", "s3cret")
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
        )
    };
    let (code, out) = run(&[]);
    assert_eq!(code, 1, "a failing channel fails the command:\n{out}");
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{out}"))
            .to_string()
    };
    for ok in ["hook", "archive", "falco-out", "sidekick"] {
        assert!(row(ok).trim_end().ends_with(" ok"), "{}", row(ok));
    }
    assert!(row("broken").contains("FAILED") && row("broken").contains("HTTP 500"));
    // Falco to stdout: the event line itself.
    let falco: serde_json::Value = out
        .lines()
        .find(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .expect("the falco stdout event");
    check_falco(&falco);
    assert_eq!(
        lines(&dir.path().join("a.jsonl"))[0]["id"],
        "tfd-test-notification"
    );
    {
        let g = got.lock().unwrap();
        let hook: Vec<_> = g.iter().filter(|(p, _)| p == "hook").collect();
        assert_eq!(hook.len(), 1);
        assert_eq!(hook[0].1["id"], "tfd-test-notification");
        let side: Vec<_> = g.iter().filter(|(p, _)| p == "sidekick").collect();
        check_falco(&side[0].1);
    }

    let (code, out) = run(&["--channel", "hook"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_eq!(
        got.lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == "hook")
            .count(),
        2
    );
    let (code, _) = run(&["--channel", "nope"]);
    assert_eq!(code, 1);
}

#[test]
fn alerts_resolve_resolves_the_pagerduty_incident_through_the_daemon() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (got, base) = server(&rt);
    let dir = tempfile::tempdir().unwrap();
    let notify = format!(
        "      defaults: [pager]\n      channels:\n        pager: {{type: pagerduty, url: \"{base}/pd\", secret_env: TFDRIFT_TEST_PD}}\n"
    );
    let cfg = config(dir.path(), false, &notify, "");
    let env = [("TFDRIFT_TEST_PD", "PDKEY")];
    let mut d = start(&cfg, &["--once"], &env);
    assert_eq!(d.wait_exit(Duration::from_mins(1)).0, 0);
    let alerts: Vec<serde_json::Value> = d
        .stdout
        .lock()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let triggers: Vec<serde_json::Value> =
        got.lock().unwrap().iter().map(|(_, v)| v.clone()).collect();
    assert!(!triggers.is_empty());
    assert!(triggers.iter().all(|t| t["event_action"] == "trigger"));
    let id = alerts[0]["id"].as_str().unwrap();
    let trig = triggers
        .iter()
        .find(|t| t["payload"]["custom_details"]["alert_id"] == id)
        .expect("the alert's trigger");

    let out = Command::new(BIN)
        .args([
            "alerts",
            "resolve",
            id,
            "--profile",
            "d",
            "--who",
            "carol",
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 resolve notification"), "{text}");
    let unknown = Command::new(BIN)
        .args(["alerts", "ack", "tfd-nope", "--profile", "d", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no alert 'tfd-nope'"));

    // The next daemon run (same recorded events: already processed, no new alerts) delivers it.
    let mut d = start(&cfg, &["--once"], &env);
    assert_eq!(d.wait_exit(Duration::from_mins(1)).0, 0);
    assert!(d.stdout.lock().unwrap().is_empty(), "no alert twice");
    let g = got.lock().unwrap();
    let resolves: Vec<_> = g
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v["event_action"] == "resolve")
        .collect();
    assert_eq!(resolves.len(), 1, "{resolves:?}");
    assert_eq!(resolves[0]["dedup_key"], trig["dedup_key"]);
    assert_eq!(resolves[0]["routing_key"], "PDKEY");
}

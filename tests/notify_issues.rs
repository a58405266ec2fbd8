//! Issue-tracker channels against a real local HTTP server playing the GitHub (and GitLab) REST
//! API: one issue per drift (title, Markdown body with the marker, diff and remediation,
//! labels, the token in its header), kept one across a redelivery and across a create whose
//! answer was lost (the client timed out after the server created it); a comment when the
//! drift occurs again, at most one per interval; closed with the reason when it resolves;
//! reopened when it recurs; 403 (rate limit) and 429 retried after the time the headers give;
//! the token never in logs or stored errors, although the server echoes it back.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::drift_support;

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use drift_support::{BOB, Rig, by, instance_type, one_drift, variant};
use serde_json::{Value, json};
use tfdrift::drift::{Reason, Status};
use tfdrift::notify::worker::WorkerConfig;
use tfdrift::notify::{Channels, Notifier, NotifySettings};
use tfdrift::store::OutboxStatus;

const GH_TOKEN: &str = "ghp_T0KENnotForLogs0123456789abcdefABCD";
const GL_TOKEN: &str = "glpat-T0KENnotForLogs0123456789";

#[derive(Debug, Clone)]
struct Issue {
    open: bool,
    title: String,
    body: String,
    labels: Value,
    comments: Vec<String>,
}

#[derive(Debug, Clone)]
struct Hit {
    at: Instant,
    method: String,
    /// Path and query.
    uri: String,
    op: &'static str,
    auth: Option<String>,
    body: Value,
}

enum Fault {
    /// Do the operation, then answer only after this long (the client has given up).
    SlowAfter(Duration),
    /// Answer this status with these headers (the body echoes the request's headers).
    Status(u16, Vec<(&'static str, String)>),
}

#[derive(Default)]
struct Fake {
    issues: Vec<Issue>,
    hits: Vec<Hit>,
    faults: VecDeque<(&'static str, Fault)>,
}

type Shared = Arc<Mutex<Fake>>;

/// The operation of a request on either API: (op, issue number).
fn route(method: &Method, path: &str) -> Option<(&'static str, Option<usize>)> {
    let rest = path
        .strip_prefix("/repos/acme/infra/issues")
        .or_else(|| path.strip_prefix("/api/v4/projects/acme%2Finfra/issues"))?;
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let n = parts.first().and_then(|p| p.parse::<usize>().ok());
    Some(match (method.as_str(), parts.len()) {
        ("POST", 0) => ("create", None),
        ("GET", 0) => ("list", None),
        ("PATCH" | "PUT", 1) => ("state", n),
        ("POST", 2) if parts[1] == "comments" || parts[1] == "notes" => ("comment", n),
        _ => return None,
    })
}

async fn handle(
    fake: Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    let gitlab = uri.path().starts_with("/api/v4/");
    let auth = if gitlab {
        headers.get("private-token")
    } else {
        headers.get("authorization")
    }
    .and_then(|v| v.to_str().ok())
    .map(str::to_string);
    let Some((op, n)) = route(&method, uri.path()) else {
        return (StatusCode::NOT_FOUND, "no such route").into_response();
    };
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let fault = {
        let mut f = fake.lock().unwrap();
        f.hits.push(Hit {
            at: Instant::now(),
            method: method.to_string(),
            uri: uri.path_and_query().unwrap().to_string(),
            op,
            auth: auth.clone(),
            body: body.clone(),
        });
        match f.faults.front() {
            Some((o, _)) if *o == op => f.faults.pop_front().map(|(_, x)| x),
            _ => None,
        }
    };
    if auth.is_none() {
        return (
            StatusCode::UNAUTHORIZED,
            "{\"message\":\"Requires authentication\"}",
        )
            .into_response();
    }
    if let Some(Fault::Status(code, hs)) = &fault {
        // An echoing server: hands the request's headers back.
        let echo: Vec<String> = headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("")))
            .collect();
        let mut resp = (
            StatusCode::from_u16(*code).unwrap(),
            json!({"message": "API rate limit exceeded", "request": echo}).to_string(),
        )
            .into_response();
        for (k, v) in hs {
            resp.headers_mut().insert(*k, v.parse().unwrap());
        }
        return resp;
    }
    let answer = {
        let mut f = fake.lock().unwrap();
        match op {
            "create" => {
                let (b, labels) = if gitlab {
                    (
                        body["description"].as_str().unwrap_or("").to_string(),
                        body["labels"].clone(),
                    )
                } else {
                    (
                        body["body"].as_str().unwrap_or("").to_string(),
                        body["labels"].clone(),
                    )
                };
                f.issues.push(Issue {
                    open: true,
                    title: body["title"].as_str().unwrap_or("").to_string(),
                    body: b,
                    labels,
                    comments: Vec::new(),
                });
                let num = f.issues.len();
                (
                    StatusCode::CREATED,
                    json!({"number": num, "iid": num, "id": 9000 + num}),
                )
            }
            "list" => {
                let list: Vec<Value> = f
                    .issues
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(i, x)| {
                        if gitlab {
                            json!({"iid": i + 1, "state": if x.open {"opened"} else {"closed"}, "description": x.body})
                        } else {
                            json!({"number": i + 1, "state": if x.open {"open"} else {"closed"}, "body": x.body})
                        }
                    })
                    .collect();
                (StatusCode::OK, Value::Array(list))
            }
            "comment" => {
                let Some(issue) = n.and_then(|n| f.issues.get_mut(n - 1)) else {
                    return (StatusCode::NOT_FOUND, "no such issue").into_response();
                };
                issue
                    .comments
                    .push(body["body"].as_str().unwrap_or("").to_string());
                (StatusCode::CREATED, json!({"id": 1}))
            }
            _ => {
                let Some(issue) = n.and_then(|n| f.issues.get_mut(n - 1)) else {
                    return (StatusCode::NOT_FOUND, "no such issue").into_response();
                };
                issue.open = if gitlab {
                    body["state_event"] == "reopen"
                } else {
                    body["state"] == "open"
                };
                (StatusCode::OK, json!({"state": body["state"]}))
            }
        }
    };
    if let Some(Fault::SlowAfter(d)) = fault {
        tokio::time::sleep(d).await;
    }
    (answer.0, answer.1.to_string()).into_response()
}

async fn fake_api() -> (Shared, String) {
    let fake: Shared = Arc::default();
    let f = fake.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
            handle(f.clone(), method, uri, headers, body)
        },
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (fake, base)
}

/// A two-worker runtime whose threads log (DEBUG) into a buffer of this test's own, with the
/// dispatch to run it under: a global subscriber would collect every other test's logs in this
/// binary (all integration tests share one).
fn capturing_runtime() -> (
    tokio::runtime::Runtime,
    tracing::Dispatch,
    Arc<Mutex<Vec<u8>>>,
) {
    struct W(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for W {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf: Arc<Mutex<Vec<u8>>> = Arc::default();
    let b = buf.clone();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || W(b.clone()))
            .finish(),
    );
    let d = dispatch.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // The runtime's threads end with it; the guard lives as long as they do.
            std::mem::forget(tracing::dispatcher::set_default(&d));
        })
        .build()
        .unwrap();
    (rt, dispatch, buf)
}

/// Runs one of this file's test bodies with its logs captured.
fn run_capturing<F: std::future::Future<Output = ()>>(body: impl FnOnce(Arc<Mutex<Vec<u8>>>) -> F) {
    let (rt, dispatch, logs) = capturing_runtime();
    tracing::dispatcher::with_default(&dispatch, || rt.block_on(body(logs)));
}

/// The one channel `issues` of `kind` against `api`, its token in a file under `dir`.
fn issue_channels(
    kind: &str,
    api: &str,
    dir: &Path,
    timeout_ms: u64,
    extra: &str,
) -> Arc<Channels> {
    let token = dir.join("token");
    let mut f = std::fs::File::create(&token).unwrap();
    writeln!(f, "{}", if kind == "github" { GH_TOKEN } else { GL_TOKEN }).unwrap();
    let yaml = format!(
        "channels:\n  issues:\n    type: {kind}\n    repo: acme/infra\n    api_url: \"{api}\"\n    token_file: \"{}\"\n    labels: [tfdrift, drift]\n    timeout_ms: {timeout_ms}\n{extra}defaults: [issues]\n",
        token.display()
    );
    let settings: NotifySettings = serde_saphyr::from_str(&yaml).unwrap();
    Arc::new(Channels::from_settings(&settings).unwrap())
}

fn rig(kind: &str, api: &str, comment_secs: u64, extra: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("    comment_interval_secs: {comment_secs}\n{extra}");
    let channels = issue_channels(kind, api, dir.path(), 1000, &extra);
    Rig::with_channels(channels, dir)
}

/// Runs the outbox worker until nothing is pending or being sent (retries included).
async fn settle(rig: &Rig) {
    settle_failing(rig, 0).await;
}

/// [`settle`], expecting `failed` items given up on.
async fn settle_failing(rig: &Rig, failed: usize) {
    let n = Notifier::start(
        rig.store.clone(),
        &rig.channels,
        WorkerConfig {
            poll: Duration::from_millis(20),
            backoff_base: Duration::from_millis(100),
            ..WorkerConfig::default()
        },
    );
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let busy: u64 = rig
            .store
            .outbox_counts()
            .unwrap()
            .iter()
            .filter(|(s, _)| matches!(s, OutboxStatus::Pending | OutboxStatus::Sending))
            .map(|(_, n)| n)
            .sum();
        if busy == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the outbox did not empty");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(n.drain(Duration::from_secs(20)).await);
    let given_up = rig.store.outbox_list(OutboxStatus::Failed, 10).unwrap();
    assert_eq!(given_up.len(), failed, "{given_up:?}");
}

fn hits(fake: &Shared, op: &str) -> Vec<Hit> {
    fake.lock()
        .unwrap()
        .hits
        .iter()
        .filter(|h| h.op == op)
        .cloned()
        .collect()
}

fn issues(fake: &Shared) -> Vec<Issue> {
    fake.lock().unwrap().issues.clone()
}

fn fault(fake: &Shared, op: &'static str, f: Fault) {
    fake.lock().unwrap().faults.push_back((op, f));
}

#[test]
fn github_one_issue_per_drift_commented_closed_and_reopened() {
    run_capturing(github_one_issue_per_drift_commented_closed_and_reopened_body);
}

async fn github_one_issue_per_drift_commented_closed_and_reopened_body(logs: Arc<Mutex<Vec<u8>>>) {
    let (fake, api) = fake_api().await;
    let mut rig = rig("github", &api, 2, "");

    // Opened. The server creates the issue but answers after the client gave up (1 s): the
    // retry finds the issue by its marker instead of creating a second one.
    // Seen again at once: within the comment interval, so no comment (not even an outbox item).
    fault(&fake, "create", Fault::SlowAfter(Duration::from_secs(3)));
    let first = rig.feed(&[variant(1, "e1", 0, instance_type("t3.large"))]);
    let id = one_drift(&first);
    rig.feed(&[variant(1, "e2", 1, instance_type("t3.large"))]);
    assert_eq!(rig.drift(&id).occurrences, 2);
    assert_eq!(rig.outbox().len(), 1, "{:#?}", rig.outbox());
    settle(&rig).await;
    assert!(hits(&fake, "comment").is_empty());
    let created = hits(&fake, "create");
    assert_eq!(created.len(), 1, "one create request: {created:#?}");
    assert_eq!(issues(&fake).len(), 1);
    let c = &created[0];
    assert_eq!(
        (c.method.as_str(), c.uri.as_str()),
        ("POST", "/repos/acme/infra/issues")
    );
    assert_eq!(
        c.auth.as_deref(),
        Some(format!("Bearer {GH_TOKEN}").as_str())
    );
    let sev = first[0].severity.as_str().to_ascii_uppercase();
    assert_eq!(
        c.body["title"],
        format!("{sev} drift: aws_instance.web instance_type")
    );
    assert_eq!(c.body["labels"], json!(["tfdrift", "drift"]));
    let body = c.body["body"].as_str().unwrap();
    assert!(
        body.starts_with(&format!("<!-- tfdrift:{id} -->")),
        "{body}"
    );
    assert!(
        body.contains("@@ instance_type @@\n- t3.micro\n+ t3.large"),
        "{body}"
    );
    assert!(body.contains("### Remediation\n\n```sh\n"), "{body}");
    assert!(
        body.contains(&format!("`{}`", first[0].id)),
        "alert id: {body}"
    );
    let lists = hits(&fake, "list");
    assert_eq!(lists.len(), 2, "searched before creating, and on the retry");
    assert!(
        lists[0].uri.contains("state=all") && lists[0].uri.contains("labels=tfdrift%2Cdrift"),
        "{}",
        lists[0].uri
    );

    // A redelivery of the delivered item (the mark lost in a crash) changes nothing.
    let before = fake.lock().unwrap().hits.len();
    let delivered = rig.store.outbox_list(OutboxStatus::Delivered, 10).unwrap();
    assert_eq!(delivered.len(), 1);
    rig.store
        .outbox_enqueue(
            &[tfdrift::store::OutboxItem {
                channel: delivered[0].channel.clone(),
                alert_id: delivered[0].alert_id.clone(),
                payload: delivered[0].payload.clone(),
            }],
            chrono::Utc::now(),
        )
        .unwrap();
    settle(&rig).await;
    assert_eq!(
        fake.lock().unwrap().hits.len(),
        before,
        "the link makes a redelivery a no-op"
    );

    // After the interval: one comment; the first attempt hits GitHub's rate limit (403,
    // remaining 0) and waits for the reset the headers give.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let reset = chrono::Utc::now().timestamp() + 2;
    fault(
        &fake,
        "comment",
        Fault::Status(
            403,
            vec![
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", reset.to_string()),
            ],
        ),
    );
    rig.feed(&[variant(1, "e3", 2, instance_type("t3.large"))]);
    assert_eq!(rig.drift(&id).occurrences, 3);
    settle(&rig).await;
    let comments = hits(&fake, "comment");
    assert_eq!(comments.len(), 2, "{comments:#?}");
    assert_eq!(comments[0].uri, "/repos/acme/infra/issues/1/comments");
    assert!(
        comments[1].at.duration_since(comments[0].at) >= Duration::from_millis(900),
        "retried after the reset, not at once"
    );
    assert_eq!(issues(&fake)[0].comments.len(), 1);
    assert!(
        issues(&fake)[0].comments[0].starts_with("**Seen again.** Occurrence 3"),
        "{:?}",
        issues(&fake)[0].comments
    );

    // Bob reverts it: a comment naming the reason, then closed; the close is throttled once
    // (429, Retry-After: 1).
    fault(
        &fake,
        "state",
        Fault::Status(429, vec![("retry-after", "1".into())]),
    );
    assert!(
        rig.feed(&[variant(1, "e4", 3, |r| {
            instance_type("t3.micro")(r);
            by(BOB, "aws-cli/2.15.30 Python/3.11.8")(r);
        })])
        .is_empty()
    );
    assert_eq!(rig.drift(&id).resolved_reason, Some(Reason::Reverted));
    settle(&rig).await;
    let states = hits(&fake, "state");
    assert_eq!(states.len(), 2, "{states:#?}");
    assert!(states[1].at.duration_since(states[0].at) >= Duration::from_millis(900));
    assert_eq!(
        (states[1].method.as_str(), states[1].uri.as_str()),
        ("PATCH", "/repos/acme/infra/issues/1")
    );
    assert_eq!(
        states[1].body,
        json!({"state": "closed", "state_reason": "completed"})
    );
    let issue = &issues(&fake)[0];
    assert!(!issue.open);
    assert_eq!(issue.title, c.body["title"].as_str().unwrap());
    assert_eq!(issue.labels, json!(["tfdrift", "drift"]));
    let closing = issue.comments.last().unwrap();
    assert!(
        closing.starts_with(&format!("**Resolved: reverted** by `{BOB}`")),
        "{closing}"
    );

    // It recurs: the same issue is reopened with a comment; still one issue.
    rig.feed(&[variant(1, "e5", 4, instance_type("t3.large"))]);
    assert_eq!(rig.drift(&id).status, Status::Open);
    assert_eq!(rig.drift(&id).episode, 2);
    settle(&rig).await;
    let issues_now = issues(&fake);
    assert_eq!(issues_now.len(), 1, "never a second issue for the drift");
    assert!(issues_now[0].open, "reopened");
    assert!(
        issues_now[0]
            .comments
            .last()
            .unwrap()
            .starts_with("**Reopened**: the drift recurred (episode 2)."),
        "{:?}",
        issues_now[0].comments
    );
    assert_eq!(hits(&fake, "create").len(), 1);
    let link = rig.store.issue_link("issues", &id).unwrap().unwrap();
    assert_eq!((link.number, link.open, link.episode), (1, true, 2));

    // Late deliveries of episode 1 (a retry overtaken by the reopening): its resolution and a
    // "seen again" do not touch the reopened issue.
    let before = fake.lock().unwrap().hits.len();
    let delivered = rig.store.outbox_list(OutboxStatus::Delivered, 100).unwrap();
    let episode_one: Vec<tfdrift::store::OutboxItem> = delivered
        .iter()
        .filter(|e| {
            let p: Value = serde_json::from_str(&e.payload).unwrap();
            p["drift"]["episode"] == 1
                && (p["type"] == "resolve" || p["drift"]["event"] == "drift.occurred")
        })
        .map(|e| tfdrift::store::OutboxItem {
            channel: e.channel.clone(),
            alert_id: e.alert_id.clone(),
            payload: e.payload.clone(),
        })
        .collect();
    assert_eq!(episode_one.len(), 2, "{delivered:#?}");
    rig.store
        .outbox_enqueue(&episode_one, chrono::Utc::now())
        .unwrap();
    settle(&rig).await;
    assert_eq!(fake.lock().unwrap().hits.len(), before, "nothing sent");
    assert!(issues(&fake)[0].open);

    // The store says the severity rose (`drift.updated`): a comment, whatever the interval.
    let reopened = delivered
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.payload).unwrap())
        .find(|p| p["drift"]["episode"] == 2 && p["drift"]["event"] == "drift.opened")
        .unwrap();
    let mut raised = reopened.clone();
    raised["drift"]["event"] = json!("drift.updated");
    raised["drift"]["occurrences"] = json!(reopened["drift"]["occurrences"].as_u64().unwrap() + 1);
    raised["alert"]["severity"] = json!("critical");
    rig.store
        .outbox_enqueue(
            &[tfdrift::store::OutboxItem {
                channel: "issues".into(),
                alert_id: raised["alert"]["id"].as_str().unwrap().into(),
                payload: raised.to_string(),
            }],
            chrono::Utc::now(),
        )
        .unwrap();
    settle(&rig).await;
    let last = issues(&fake)[0].comments.last().unwrap().clone();
    assert!(last.starts_with("**Updated**: now **CRITICAL**"), "{last}");

    // Every request carried the token; no log line or stored error does, though the server
    // echoed it back on the 403 and 429.
    assert!(
        fake.lock()
            .unwrap()
            .hits
            .iter()
            .all(|h| h.auth.as_deref() == Some(format!("Bearer {GH_TOKEN}").as_str()))
    );
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(text.contains("HTTP 403"), "the failure is logged: {text}");
    assert!(!text.contains(GH_TOKEN), "token in the logs");
    for s in [OutboxStatus::Delivered, OutboxStatus::Failed] {
        for e in rig.store.outbox_list(s, 100).unwrap() {
            assert!(!e.last_error.unwrap_or_default().contains(GH_TOKEN));
        }
    }
}

#[test]
fn gitlab_one_issue_per_drift_closed_and_reopened() {
    run_capturing(gitlab_one_issue_per_drift_closed_and_reopened_body);
}

async fn gitlab_one_issue_per_drift_closed_and_reopened_body(logs: Arc<Mutex<Vec<u8>>>) {
    let (fake, base) = fake_api().await;
    let mut rig = rig(
        "gitlab",
        &format!("{base}/api/v4"),
        3600,
        "    max_new_issues: 1\n",
    );
    let id = one_drift(&rig.feed(&[variant(1, "e1", 0, instance_type("t3.large"))]));
    settle(&rig).await;
    let created = hits(&fake, "create");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].uri, "/api/v4/projects/acme%2Finfra/issues");
    assert_eq!(created[0].auth.as_deref(), Some(GL_TOKEN));
    assert_eq!(created[0].body["labels"], "tfdrift,drift");
    assert!(
        created[0].body["description"]
            .as_str()
            .unwrap()
            .starts_with(&format!("<!-- tfdrift:{id} -->"))
    );
    // Resolved, then recurring: closed and reopened by iid.
    rig.feed(&[variant(1, "e2", 3, |r| {
        instance_type("t3.micro")(r);
        by(BOB, "aws-cli/2.15.30 Python/3.11.8")(r);
    })]);
    settle(&rig).await;
    assert!(!issues(&fake)[0].open);
    rig.feed(&[variant(1, "e3", 4, instance_type("t3.large"))]);
    settle(&rig).await;
    let states = hits(&fake, "state");
    assert_eq!(
        states
            .iter()
            .map(|h| (
                h.method.as_str(),
                h.uri.as_str(),
                h.body["state_event"].clone()
            ))
            .collect::<Vec<_>>(),
        [
            (
                "PUT",
                "/api/v4/projects/acme%2Finfra/issues/1",
                json!("close")
            ),
            (
                "PUT",
                "/api/v4/projects/acme%2Finfra/issues/1",
                json!("reopen")
            ),
        ]
    );
    let notes = hits(&fake, "comment");
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0].uri, "/api/v4/projects/acme%2Finfra/issues/1/notes");
    assert_eq!(issues(&fake).len(), 1);
    // A second drift is over this run's cap of one new issue: not opened, left failed with
    // the reason.
    let other = one_drift(&rig.feed(&[variant(2, "g1", 5, |_| {})]));
    assert_ne!(other, id);
    settle_failing(&rig, 1).await;
    assert_eq!(issues(&fake).len(), 1);
    let failed = rig.store.outbox_list(OutboxStatus::Failed, 10).unwrap();
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("`max_new_issues`"),
        "{failed:?}"
    );
    assert!(!String::from_utf8_lossy(&logs.lock().unwrap()).contains(GL_TOKEN));
}

const KILL9_DIR: &str = "TFDRIFT_ISSUES_KILL9_DIR";
const KILL9_API: &str = "TFDRIFT_ISSUES_KILL9_API";

/// A real crash between the tracker creating the issue and the outbox marking the item sent:
/// a child process records a drift and starts delivering; the server creates the issue and
/// never answers; the child is killed with SIGKILL. A fresh worker over the same store takes
/// the dead process's lease back, redelivers, and finds the issue by its marker: one issue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_one_issue_across_kill_9_between_create_and_mark() {
    if let Ok(parent) = std::env::var(KILL9_DIR) {
        let api = std::env::var(KILL9_API).unwrap();
        let dir = tempfile::tempdir_in(parent).unwrap();
        let channels = issue_channels("github", &api, dir.path(), 120_000, "");
        let mut rig = Rig::with_channels(channels, dir);
        one_drift(&rig.feed(&[variant(1, "e1", 0, instance_type("t3.large"))]));
        // The harness prints `test NAME ... ` on the same line first.
        println!("\nKILL9DB {}", rig.dir.path().join("tfdrift.db").display());
        let _worker = Notifier::start(
            rig.store.clone(),
            &rig.channels,
            WorkerConfig {
                poll: Duration::from_millis(20),
                ..WorkerConfig::default()
            },
        );
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let (fake, api) = fake_api().await;
    fault(&fake, "create", Fault::SlowAfter(Duration::from_hours(1)));
    let parent = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &crate::common::harness_name(
                module_path!(),
                "github_one_issue_across_kill_9_between_create_and_mark",
            ),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(KILL9_DIR, parent.path())
        .env(KILL9_API, &api)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let db = loop {
        let mut line = String::new();
        assert!(
            std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
            "the child ended before recording"
        );
        if let Some(i) = line.find("KILL9DB ") {
            break std::path::PathBuf::from(line[i + 8..].trim());
        }
    };
    let deadline = Instant::now() + Duration::from_mins(1);
    while issues(&fake).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the child never created the issue"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(hits(&fake, "create").len(), 1);

    let store: Arc<dyn tfdrift::store::Store> =
        Arc::new(tfdrift::store::SqliteStore::open(&db).unwrap());
    let sending = store.outbox_list(OutboxStatus::Sending, 10).unwrap();
    assert_eq!(
        sending.len(),
        1,
        "the item was in flight when the child died"
    );
    assert!(store.issue_link("issues", "x").unwrap().is_none());
    let channels = issue_channels("github", &api, parent.path(), 5_000, "");
    let n = Notifier::start(
        store.clone(),
        &channels,
        WorkerConfig {
            poll: Duration::from_millis(20),
            ..WorkerConfig::default()
        },
    );
    while store
        .outbox_list(OutboxStatus::Delivered, 10)
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "not redelivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(n.drain(Duration::from_secs(20)).await);
    assert_eq!(hits(&fake, "create").len(), 1, "no second create");
    assert_eq!(issues(&fake).len(), 1, "one issue for the drift");
    assert!(
        hits(&fake, "list").len() >= 2,
        "the redelivery looked for the marker"
    );
    let id = sending[0].payload.clone();
    let id: Value = serde_json::from_str(&id).unwrap();
    let link = store
        .issue_link("issues", id["alert"]["drift_id"].as_str().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!((link.number, link.open), (1, true));
}

//! The drift lifecycle over real state (the demo's Terraform state and a corpus state) and real
//! recorded CloudTrail records, varied per scenario: a change opens a drift; the same change
//! again is one drift with two occurrences and one notification; a revert resolves it
//! `reverted` and every channel is told (delivered to a real local HTTP server: PagerDuty
//! `resolve` with the trigger's `dedup_key`, Slack / Discord follow-ups naming the drift, the
//! webhook's `drift.resolved`, Falco output); Terraform's change resolves it `applied` once the
//! refreshed state shows the state value; a refreshed state holding the observed value accepts
//! it; a deleted resource Terraform re-creates is `applied`, one that left the state `gone`; a
//! recurrence reopens the same drift. A writer killed with SIGKILL between an occurrence and
//! its resolution loses neither.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
use crate::drift_support;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use drift_support::{
    BOB, CHANNELS, GENIE_KEY, Rig, TF_ROLE, TF_UA, by, demo_state, edited, instance_type,
    one_drift, server, variant, without,
};
use serde_json::{Value, json};
use tfdrift::drift::{EventKind, Reason, Status};
use tfdrift::pipeline::EngineOptions;
use tfdrift::store::{DriftAction, OutboxStatus, SqliteStore, Store};

#[test]
fn the_same_change_twice_is_one_drift_with_two_occurrences_and_one_notification() {
    let mut rig = Rig::new("http://127.0.0.1:9");
    let first = rig.feed(&[variant(1, "e1", 0, instance_type("t3.large"))]);
    let id = one_drift(&first);
    assert!(id.starts_with("drf-"));
    let d = rig.drift(&id);
    assert_eq!(
        (d.status, d.occurrences, d.episode, d.attribute.as_str()),
        (Status::Open, 1, 1, "instance_type")
    );
    assert_eq!(d.address.as_deref(), Some("aws_instance.web"));
    assert_eq!(d.observed, json!("t3.large"));
    assert_eq!(d.state_value, json!("t3.micro"));
    assert_eq!(rig.told("alert"), CHANNELS);
    for (_, p) in rig.outbox() {
        assert_eq!(p["drift"]["event"], "drift.opened");
        assert_eq!(p["drift"]["id"], id.as_str());
        assert_eq!(p["alert"]["drift_id"], id.as_str());
    }

    let again = rig.feed(&[variant(1, "e2", 5, instance_type("t3.large"))]);
    assert_eq!(one_drift(&again), id, "the same drift");
    assert_ne!(again[0].id, first[0].id, "a second alert (occurrence)");
    let d = rig.drift(&id);
    assert_eq!((d.status, d.occurrences), (Status::Open, 2));
    assert_eq!(
        rig.told("alert"),
        CHANNELS,
        "one notification per channel, not two"
    );
    assert_eq!(rig.events(&id), [EventKind::Opened, EventKind::Occurred]);
    assert_eq!(d.last_alert_id, again[0].id);
    // A revert older than the latest occurrence (delivered late) does not end it.
    assert!(
        rig.feed(&[variant(1, "late", 3, instance_type("t3.micro"))])
            .is_empty()
    );
    assert_eq!(rig.drift(&id).status, Status::Open);
    // A redelivery of the first record changes nothing.
    assert!(
        rig.feed(&[variant(1, "e1", 0, instance_type("t3.large"))])
            .is_empty()
    );
    assert_eq!(rig.drift(&id).occurrences, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_resolves_reverted_and_every_channel_is_told() {
    let (got, base) = server().await;
    let mut rig = Rig::new(&base);
    let id = one_drift(&rig.feed(&[variant(1, "e1", 0, instance_type("t3.large"))]));
    rig.deliver().await;
    // Bob sets it back to what the state says: no alert, the drift ends.
    let back = rig.feed(&[variant(1, "e2", 7, |r| {
        instance_type("t3.micro")(r);
        by(BOB, "aws-cli/2.15.30 Python/3.11.8")(r);
    })]);
    assert!(back.is_empty(), "{back:#?}");
    let d = rig.drift(&id);
    assert_eq!(d.status, Status::Resolved);
    assert_eq!(d.resolved_reason, Some(Reason::Reverted));
    assert_eq!(d.resolved_by.as_deref(), Some(BOB));
    assert_eq!(rig.told("resolve"), CHANNELS);
    rig.deliver().await;

    let got = got.lock().unwrap();
    let at = |path: &str| -> Vec<&Value> {
        got.iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, v, _)| v)
            .collect()
    };
    let pager = at("pager");
    assert_eq!(pager.len(), 2);
    assert_eq!(pager[0]["event_action"], "trigger");
    assert_eq!(pager[1]["event_action"], "resolve");
    assert_eq!(pager[1]["dedup_key"], pager[0]["dedup_key"]);
    let slack = at("slack");
    assert_eq!(slack.len(), 2);
    let resolved = slack[1]["text"].as_str().unwrap();
    assert!(
        resolved.starts_with(&format!("Resolved (reverted by {BOB})")),
        "{resolved}"
    );
    assert!(
        slack[1].to_string().contains(&id),
        "the follow-up names the drift"
    );
    assert!(slack[0].to_string().contains(&id), "so does the original");
    let discord = at("discord");
    assert!(
        discord[1]["embeds"][0]["title"]
            .as_str()
            .unwrap()
            .starts_with("Resolved (reverted")
    );
    let hook = at("hook");
    assert_eq!(hook[0]["drift"]["event"], "drift.opened");
    assert_eq!(hook[1]["event"], "drift.resolved");
    assert_eq!(hook[1]["drift"]["reason"], "reverted");
    assert_eq!(hook[1]["drift"]["resolved_by"], BOB);
    let falco = at("falco");
    assert_eq!(falco.len(), 2);
    assert_eq!(falco[1]["rule"], "tfdrift drift resolved");
    assert_eq!(
        falco[1]["output_fields"]["tfdrift.drift.reason"],
        "reverted"
    );
    // Opsgenie (Alert API v2): created with alias = the drift id, closed by that alias.
    let og: Vec<_> = got
        .iter()
        .filter(|(p, _, _)| p.starts_with("og/"))
        .collect();
    assert_eq!(og.len(), 2);
    let (path, create, auth) = og[0];
    assert_eq!(path, "og/v2/alerts");
    assert_eq!(
        auth.as_deref(),
        Some(format!("GenieKey {GENIE_KEY}").as_str())
    );
    assert_eq!(create["alias"], id.as_str());
    assert_eq!(create["priority"], "P3");
    assert_eq!(create["source"], "tfdrift");
    assert_eq!(create["entity"], "aws_instance.web");
    assert!(create["message"].as_str().unwrap().chars().count() <= 130);
    assert_eq!(create["details"]["drift_event"], "drift.opened");
    let (path, close, auth) = og[1];
    assert_eq!(
        path,
        &format!(
            "og/v2/alerts/{}/close?identifierType=alias",
            id.replace('-', "%2D")
        )
    );
    assert!(auth.is_some());
    assert_eq!(close["note"], format!("resolved: reverted by {BOB}"));
    // Teams: an Adaptive Card message; the resolution is a second card naming the drift.
    let teams = at("teams");
    assert_eq!(teams.len(), 2);
    for t in &teams {
        assert_eq!(t["type"], "message");
        let att = &t["attachments"][0];
        assert_eq!(
            att["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(att["content"]["type"], "AdaptiveCard");
        assert_eq!(att["content"]["version"], "1.4");
    }
    let head = |i: usize| teams[i]["attachments"][0]["content"]["body"][0]["text"].clone();
    assert!(
        head(0)
            .as_str()
            .unwrap()
            .starts_with("MEDIUM attribute_drift aws_instance.web")
    );
    assert!(
        head(1)
            .as_str()
            .unwrap()
            .starts_with("Resolved (reverted by")
    );
    assert!(teams[0].to_string().contains("instance_type") && teams[1].to_string().contains(&id));
}

#[test]
fn terraform_apply_resolves_applied_after_the_refresh_shows_the_state_value() {
    let mut rig = Rig::new("http://127.0.0.1:9");
    let id = one_drift(&rig.feed(&[variant(1, "e1", 0, instance_type("t3.large"))]));
    // A refresh of the same state (nothing applied): still open.
    assert!(rig.refresh(&demo_state()).is_empty());
    assert_eq!(rig.drift(&id).status, Status::Open);
    // Terraform sets it back: its own change raises nothing and resolves nothing yet.
    let tf = rig.feed(&[variant(1, "tf1", 10, |r| {
        instance_type("t3.micro")(r);
        by(TF_ROLE, TF_UA)(r);
    })]);
    assert!(tf.is_empty());
    assert_eq!(
        rig.drift(&id).status,
        Status::Open,
        "waits for the refreshed state"
    );
    // The refreshed state holds Terraform's value: applied, by Terraform's identity.
    let done = rig.refresh(&demo_state());
    assert_eq!(done.len(), 1);
    let d = rig.drift(&id);
    assert_eq!(d.resolved_reason, Some(Reason::Applied));
    assert_eq!(d.resolved_by.as_deref(), Some(TF_ROLE));
    assert_eq!(rig.told("resolve"), CHANNELS);
}

#[test]
fn a_refreshed_state_holding_the_observed_value_accepts_the_drift() {
    let mut rig = Rig::new("http://127.0.0.1:9");
    let id = one_drift(&rig.feed(&[variant(1, "e1", 0, instance_type("t3.large"))]));
    let other = one_drift(&rig.feed(&[variant(2, "e2", 1, |_| {})]));
    // An empty state (a failed or pending load) settles nothing: not "gone".
    let mut empty = demo_state();
    empty["resources"] = json!([]);
    assert!(rig.refresh(&empty).is_empty());
    assert_eq!(rig.drift(&id).status, Status::Open);
    let done = rig.refresh(&edited("aws_instance.web", |a| {
        a["instance_type"] = json!("t3.large");
    }));
    assert_eq!(done.len(), 1, "only the accepted drift");
    assert_eq!(rig.drift(&id).resolved_reason, Some(Reason::Accepted));
    assert_eq!(rig.drift(&other).status, Status::Open);
    let resolves: Vec<_> = rig
        .outbox()
        .into_iter()
        .filter(|(_, p)| p["type"] == "resolve")
        .collect();
    assert_eq!(resolves.len(), CHANNELS.len());
    assert!(
        resolves
            .iter()
            .all(|(_, p)| p["drift"]["reason"] == "accepted")
    );
}

#[test]
fn a_deleted_resource_terraform_recreates_is_applied_and_one_that_left_the_state_is_gone() {
    let mut rig = Rig::new("http://127.0.0.1:9");
    // Line 10: the bucket's public access block deleted out of band.
    let pab = one_drift(&rig.feed(&[variant(10, "d1", 0, |_| {})]));
    let d = rig.drift(&pab);
    assert_eq!(d.kind, "managed_resource_deleted");
    assert_eq!(d.attribute, "");
    // Line 15: the role's policy attachment detached out of band.
    let attach = one_drift(&rig.feed(&[variant(15, "d2", 1, |_| {})]));
    // Terraform puts the public access block back (same id: the bucket name).
    let recreate = variant(10, "tf1", 5, |r| {
        r["eventName"] = json!("PutBucketPublicAccessBlock");
        r["requestParameters"]["PublicAccessBlockConfiguration"] = json!({
            "BlockPublicAcls": true, "IgnorePublicAcls": true,
            "BlockPublicPolicy": false, "RestrictPublicBuckets": true
        });
        by(TF_ROLE, TF_UA)(r);
    });
    assert!(rig.feed(&[recreate]).is_empty());
    assert_eq!(
        rig.drift(&pab).status,
        Status::Open,
        "until the state is refreshed"
    );
    // The refreshed state: the block is back, the attachment was removed from the code.
    let done = rig.refresh(&without("aws_iam_role_policy_attachment.app_readonly"));
    assert_eq!(done.len(), 2);
    let d = rig.drift(&pab);
    assert_eq!(
        (d.resolved_reason, d.resolved_by.as_deref()),
        (Some(Reason::Applied), Some(TF_ROLE))
    );
    assert_eq!(rig.drift(&attach).resolved_reason, Some(Reason::Gone));
}

#[test]
fn terraform_recreating_a_terminated_instance_under_a_new_id_is_applied() {
    let mut rig = Rig::new("http://127.0.0.1:9");
    // Line 11 terminates an unmanaged instance; pointed at the managed one it is a deletion.
    let gone = one_drift(&rig.feed(&[variant(11, "t1", 0, |r| {
        r["requestParameters"]["instancesSet"]["items"][0]["instanceId"] =
            json!("i-1cd73cb9f90ce7504");
        if let Some(items) = r["responseElements"]["instancesSet"]["items"].as_array_mut() {
            items[0]["instanceId"] = json!("i-1cd73cb9f90ce7504");
        }
    })]));
    assert_eq!(rig.drift(&gone).kind, "managed_resource_deleted");
    // The state Terraform writes after re-creating it: the same address, a new id.
    let done = rig.refresh(&edited("aws_instance.web", |a| {
        a["id"] = json!("i-0f00000000000000d");
    }));
    assert_eq!(done.len(), 1);
    assert_eq!(rig.drift(&gone).resolved_reason, Some(Reason::Applied));
}

#[test]
fn a_recurrence_after_resolution_reopens_the_same_drift() {
    let mut rig = Rig::new("http://127.0.0.1:9");
    let id = one_drift(&rig.feed(&[variant(1, "e1", 0, instance_type("t3.large"))]));
    rig.feed(&[variant(1, "e2", 1, instance_type("t3.micro"))]);
    assert_eq!(rig.drift(&id).status, Status::Resolved);
    let again = rig.feed(&[variant(1, "e3", 2, instance_type("t3.xlarge"))]);
    assert_eq!(one_drift(&again), id);
    let d = rig.drift(&id);
    assert_eq!((d.status, d.episode, d.occurrences), (Status::Open, 2, 2));
    assert_eq!(d.observed, json!("t3.xlarge"));
    assert!(d.resolved_reason.is_none());
    assert_eq!(
        rig.events(&id),
        [EventKind::Opened, EventKind::Resolved, EventKind::Reopened]
    );
    // The new episode is told again.
    let opened: Vec<_> = rig
        .outbox()
        .into_iter()
        .filter(|(_, p)| p["type"] == "alert")
        .map(|(_, p)| p["drift"]["episode"].as_u64().unwrap())
        .collect();
    assert_eq!(opened.iter().filter(|e| **e == 2).count(), CHANNELS.len());
    // A person resolves it: manual, and the channels of episode 2 are told.
    let before = rig.told("resolve").len();
    let d = rig
        .store
        .drift_act(&id, DriftAction::Resolve, "carol", chrono::Utc::now())
        .unwrap()
        .unwrap();
    assert_eq!(
        (d.resolved_reason, d.resolved_by.as_deref()),
        (Some(Reason::Manual), Some("carol"))
    );
    assert_eq!(rig.told("resolve").len(), before + CHANNELS.len());
    assert!(
        rig.store
            .drift_act(&id, DriftAction::Resolve, "carol", chrono::Utc::now())
            .unwrap()
            .is_none()
    );
}

/// `/metrics` (the daemon's endpoint, served for real) carries the time-to-resolve histogram by
/// severity and reason, one observation per resolved episode, timed from the episode's opening:
/// 7 minutes (reverted), then, reopened at minute 10, 2 minutes (reverted again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_time_to_resolve_by_severity_and_reason() {
    use tfdrift::notify::metrics::{MetricsState, serve};
    let mut rig = Rig::new("http://127.0.0.1:9");
    let first = rig.feed(&[variant(1, "e1", 0, instance_type("t3.large"))]);
    let id = one_drift(&first);
    let sev = first[0].severity.as_str();
    rig.feed(&[variant(1, "e2", 7, instance_type("t3.micro"))]);
    rig.feed(&[variant(1, "e3", 10, instance_type("t3.large"))]);
    rig.feed(&[variant(1, "e4", 12, instance_type("t3.micro"))]);
    let d = rig.drift(&id);
    assert_eq!((d.status, d.episode), (Status::Resolved, 2));

    let (_tx, stats) = tokio::sync::watch::channel(tfdrift::pipeline::Stats::default());
    let stop = tokio_util::sync::CancellationToken::new();
    let addr = serve(
        "127.0.0.1:0",
        MetricsState {
            stats,
            notify: None,
            store: Some(rig.store.clone()),
            deduped: None,
            token: None,
        },
        stop.clone(),
    )
    .await
    .unwrap();
    let body = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    stop.cancel();
    let series = format!("severity=\"{sev}\",reason=\"reverted\"");
    for (le, n) in [
        ("60", 0),
        ("300", 1),
        ("900", 2),
        ("604800", 2),
        ("+Inf", 2),
    ] {
        let line =
            format!("tfdrift_drift_time_to_resolve_seconds_bucket{{{series},le=\"{le}\"}} {n}\n");
        assert!(body.contains(&line), "{line} in:\n{body}");
    }
    assert!(
        body.contains(&format!(
            "tfdrift_drift_time_to_resolve_seconds_sum{{{series}}} 540\n"
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "tfdrift_drift_time_to_resolve_seconds_count{{{series}}} 2\n"
        )),
        "{body}"
    );
    assert!(body.contains("# TYPE tfdrift_drift_time_to_resolve_seconds histogram\n"));
}

/// Real corpus state (not the demo's): the golden EC2 records against a community state
/// (extended tier: its repository declares no licence).
#[test]
fn corpus_state_changes_open_drifts_with_ids_on_every_alert() {
    let Some(path) =
        common::extended("tfstate/hari-44456__multi-cloud-terraform/aws/terraform.tfstate")
    else {
        return;
    };
    let state = std::fs::read(path).unwrap();
    let events = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/aws-ec2/events.jsonl"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
    let mut engine =
        common::engine(&[("s", &state)], &EngineOptions::default()).with_store(store.clone());
    let (alerts, _) = common::replay(&mut engine, "a.jsonl", &events);
    assert!(!alerts.is_empty());
    for a in &alerts {
        let id = a.drift_id.as_deref().expect("every alert carries drift_id");
        let d = store.drift(id).unwrap().expect("its drift is stored");
        assert_eq!(d.rtype, a.resource.rtype);
        if a.diffs.len() > 1 {
            assert_eq!(a.drift_ids.len(), a.diffs.len());
            assert_eq!(a.drift_ids[0], id);
        }
    }
    let drifts = store
        .drifts(&tfdrift::store::DriftFilter::default())
        .unwrap();
    let occurrences: u64 = drifts.iter().map(|d| d.occurrences).sum();
    let per_alert: usize = alerts.iter().map(|a| a.diffs.len().max(1)).sum();
    assert_eq!(
        occurrences, per_alert as u64,
        "every occurrence counted once"
    );
}

const CHILD_ENV: &str = "TFDRIFT_DRIFT_KILL_CHILD_DIR";
const KILL_TEST: &str = "kill_9_between_an_occurrence_and_its_resolution_loses_neither";

/// The writer: opens and reverts the same drift over and over, printing each step after the
/// engine committed it, until killed.
fn child(dir: &Path) {
    let mut rig = Rig::at(
        "http://127.0.0.1:9",
        tempfile::TempDir::new_in(dir).unwrap(),
    );
    let mut out = std::io::stdout().lock();
    // On its own line: the test harness has printed "test … " without a newline.
    writeln!(out, "\ndb {}", rig.dir.path().join("tfdrift.db").display()).unwrap();
    for i in 0..1_000_000u32 {
        let minute = i * 2;
        rig.feed(&[variant(
            1,
            &format!("o{i}"),
            minute,
            instance_type("t3.large"),
        )]);
        writeln!(out, "occurred {i}").unwrap();
        out.flush().unwrap();
        rig.feed(&[variant(
            1,
            &format!("r{i}"),
            minute + 1,
            instance_type("t3.micro"),
        )]);
        writeln!(out, "resolved {i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn kill_9_between_an_occurrence_and_its_resolution_loses_neither() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &crate::common::harness_name(module_path!(), KILL_TEST),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(proc.stdout.take().unwrap()).lines();
    let (mut db, mut occurred, mut resolved) = (None, 0u32, 0u32);
    let mut killed = false;
    for line in lines {
        let line = line.unwrap();
        if let Some(p) = line.strip_prefix("db ") {
            db = Some(std::path::PathBuf::from(p));
        } else if line.starts_with("occurred ") {
            occurred += 1;
        } else if line.starts_with("resolved ") {
            resolved += 1;
        }
        // Kill after an occurrence was reported, before its resolution is.
        if !killed && occurred >= 40 && occurred > resolved {
            proc.kill().unwrap();
            killed = true;
        }
    }
    let status = proc.wait().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(status.signal(), Some(9), "the writer died by SIGKILL");
    }
    assert!(killed);
    let store = SqliteStore::open(&db.expect("the child named its database")).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let all = store
        .drifts(&tfdrift::store::DriftFilter::default())
        .unwrap();
    assert_eq!(all.len(), 1, "one drift, however often it recurred");
    let d = &all[0];
    let events = store.drift_events(&d.id).unwrap();
    let opened = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Opened | EventKind::Reopened))
        .count();
    let ended = events
        .iter()
        .filter(|e| e.kind == EventKind::Resolved)
        .count();
    // Everything reported is there; at most the one step in flight at the kill is extra.
    assert!(
        opened >= occurred as usize && opened <= occurred as usize + 1,
        "{opened} vs {occurred}"
    );
    assert!(
        ended >= resolved as usize && ended <= resolved as usize + 1,
        "{ended} vs {resolved}"
    );
    assert_eq!(u64::try_from(opened).unwrap(), d.occurrences);
    assert_eq!(d.episode as usize, opened);
    // The drift's status agrees with its last event; the outbox with its episodes.
    let last = events.last().unwrap().kind;
    assert_eq!(d.status == Status::Resolved, last == EventKind::Resolved);
    let items = store.outbox_list(OutboxStatus::Pending, 1_000_000).unwrap();
    let opens = items
        .iter()
        .filter(|e| e.payload.contains("\"type\":\"alert\""))
        .count();
    let resolves = items
        .iter()
        .filter(|e| e.payload.contains("\"type\":\"resolve\""))
        .count();
    assert_eq!(opens, opened * CHANNELS.len());
    assert_eq!(resolves, ended * CHANNELS.len());
}

/// `tfdrift drifts list|show|resolve` on a profile's store, with the CI gate's exit status.
#[test]
fn the_drifts_cli_lists_shows_gates_and_resolves() {
    let mut rig = Rig::new("http://127.0.0.1:9");
    let id = one_drift(&rig.feed(&[variant(1, "e1", 0, instance_type("t3.large"))]));
    let db = rig.dir.path().join("tfdrift.db");
    let config = rig.dir.path().join("tfdrift.yaml");
    std::fs::write(
        &config,
        format!(
            "profiles:\n  p:\n    store: {{path: \"{}\"}}\n",
            db.display()
        ),
    )
    .unwrap();
    let tfdrift = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tfdrift"))
            .args(args)
            .args(["--profile", "p", "--config"])
            .arg(&config)
            .env("TFDRIFT_LOG", "off")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (code, out, _) = tfdrift(&["drifts", "list"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains(&id) && out.contains("aws_instance.web instance_type"),
        "{out}"
    );
    let (code, out, _) = tfdrift(&["drifts", "list", "--json"]);
    assert_eq!(code, Some(0));
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "open");
    assert_eq!(rows[0]["occurrences"], 1);
    // The CI gate: an open medium drift fails `--fail-on-open`, not with `--min-severity high`.
    assert_eq!(tfdrift(&["drifts", "list", "--fail-on-open"]).0, Some(2));
    let (code, out, _) = tfdrift(&["drifts", "list", "--fail-on-open", "--min-severity", "high"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out, _) = tfdrift(&["drifts", "show", &id]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("status:      open (episode 1)") && out.contains("opened"),
        "{out}"
    );
    let (code, _, err) = tfdrift(&["drifts", "show", "drf-nope"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no drift 'drf-nope'"), "{err}");
    let (code, out, _) = tfdrift(&["drifts", "resolve", &id, "--who", "dana"]);
    assert_eq!(code, Some(0), "{out}");
    let d = rig.drift(&id);
    assert_eq!(
        (d.resolved_reason, d.resolved_by.as_deref()),
        (Some(Reason::Manual), Some("dana"))
    );
    assert_eq!(
        rig.told("resolve"),
        CHANNELS,
        "the person's resolve tells every channel"
    );
    assert_eq!(tfdrift(&["drifts", "list", "--fail-on-open"]).0, Some(0));
    let (_, out, _) = tfdrift(&["drifts", "list", "--status", "all"]);
    assert!(out.contains("resolved:manual"), "{out}");
    assert_eq!(
        tfdrift(&["drifts", "resolve", &id]).0,
        Some(1),
        "already resolved"
    );
}

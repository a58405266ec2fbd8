//! CloudTrail backfill from S3 against moto: real corpus log files (invictus-ir) laid out as
//! CloudTrail writes them, on several days, for an account trail and an organisation trail.
//! Some files are moved to other days (their records' times shifted by whole days, their event
//! ids tagged so they stay distinct); corrupt objects sit on days outside the window, so
//! listing or fetching them would show up as unparseable. Only the window's records may be
//! processed, the alerts must equal an offline replay of exactly those records, and the
//! counters must account for every record of every file read. A file whose alerts the store
//! failed to record is retried once, then reported in the source's health.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
use crate::gcp_support;
use crate::live_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tfdrift::catalog::Catalog;
use tfdrift::collect::SourceSpec;
use tfdrift::collect::s3_backfill::S3BackfillSettings;
use tfdrift::pipeline::{EngineOptions, PipelineConfig, spawn};
use tfdrift::state::StateIndex;

const BUCKET: &str = "trail-logs";
const ACCOUNT: &str = "218007301253";
const SINCE: &str = "2023-07-09T12:00:00Z";
const UNTIL: &str = "2023-07-10T12:10:00Z";

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// What was uploaded: key → the records of that object.
struct Layout {
    files: BTreeMap<String, Vec<Value>>,
}

impl Layout {
    fn in_window(&self) -> Vec<Value> {
        let (since, until) = (time(SINCE), time(UNTIL));
        self.files
            .values()
            .flatten()
            .filter(|r| {
                let t = time(r["eventTime"].as_str().unwrap());
                since <= t && t <= until
            })
            .cloned()
            .collect()
    }

    /// Event id → key of the file holding it.
    fn file_of(&self) -> BTreeMap<String, String> {
        self.files
            .iter()
            .flat_map(|(k, rs)| {
                rs.iter()
                    .map(move |r| (r["eventID"].as_str().unwrap().to_string(), k.clone()))
            })
            .collect()
    }
}

/// Moves a corpus file by `days`: record times, the name's delivery time; event ids tagged.
fn shifted(name: &str, records: &[Value], days: i64) -> (String, Vec<Value>) {
    let delivered = name.split('_').nth(3).unwrap();
    let t = chrono::NaiveDateTime::parse_from_str(delivered, "%Y%m%dT%H%MZ").unwrap()
        + chrono::Duration::days(days);
    let new_name = name.replace(delivered, &t.format("%Y%m%dT%H%MZ").to_string());
    let records = records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let t = time(r["eventTime"].as_str().unwrap()) + chrono::Duration::days(days);
            r["eventTime"] = json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            r["eventID"] = json!(format!("{}-d{days}", r["eventID"].as_str().unwrap()));
            r
        })
        .collect();
    (new_name, records)
}

fn day_dir(base: &str, name: &str) -> String {
    let d = &name.split('_').nth(3).unwrap()[..8];
    format!("{base}/{}/{}/{}", &d[..4], &d[4..6], &d[6..8])
}

async fn upload(s3: &aws_sdk_s3::Client) -> Layout {
    let dir = common::corpus().join("cloudtrail/invictus-ir__aws_dataset/CloudTrail");
    let mut corpus: Vec<(String, Vec<Value>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            (name, v["Records"].as_array().unwrap().clone())
        })
        .collect();
    corpus.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        corpus.len() > 40,
        "CloudTrail corpus missing at {}",
        dir.display()
    );

    let account = format!("AWSLogs/{ACCOUNT}/CloudTrail/us-east-1");
    let org = format!("AWSLogs/o-exampleorg1/{ACCOUNT}/CloudTrail/eu-west-1");
    let mut files = BTreeMap::new();
    for (i, (name, records)) in corpus.iter().enumerate() {
        let (name, records, base) = if i < 10 {
            // The day before, straddling the window's start.
            let (n, r) = shifted(name, records, -1);
            (n, r, &account)
        } else if i % 4 == 0 {
            (name.clone(), records.clone(), &org)
        } else {
            (name.clone(), records.clone(), &account)
        };
        files.insert(format!("{}/{name}.gz", day_dir(base, &name)), records);
    }
    // Two days after the window: never listed.
    for (name, records) in corpus.iter().take(5) {
        let (name, records) = shifted(name, records, 2);
        files.insert(format!("{}/{name}.gz", day_dir(&account, &name)), records);
    }
    for (key, records) in &files {
        let body = json!({ "Records": records }).to_string();
        put(s3, key, live_support::gzip(body.as_bytes())).await;
    }
    // Corrupt objects where the backfill must not look: a day before the window, a day after,
    // a file of the window's last day delivered long after it, a digest, a non-trail folder.
    for key in [
        format!(
            "{account}/2023/07/08/{ACCOUNT}_CloudTrail_us-east-1_20230708T1200Z_corruptAAAAAAAAAA.json.gz"
        ),
        format!(
            "{account}/2023/07/12/{ACCOUNT}_CloudTrail_us-east-1_20230712T0000Z_corruptBBBBBBBBBB.json.gz"
        ),
        format!(
            "{account}/2023/07/10/{ACCOUNT}_CloudTrail_us-east-1_20230710T1400Z_corruptCCCCCCCCCC.json.gz"
        ),
        format!(
            "AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2023/07/10/{ACCOUNT}_CloudTrail-Digest_us-east-1_x_20230710T1200Z.json.gz"
        ),
        "AWSLogs/notes/2023/07/10/readme.json.gz".to_string(),
    ] {
        put(s3, &key, b"not a log file".to_vec()).await;
    }
    Layout { files }
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, body: Vec<u8>) {
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap();
}

/// The alert ids an offline replay of exactly the window's records yields.
fn expected_alert_ids(layout: &Layout, keep: impl Fn(&Value) -> bool) -> (BTreeSet<String>, usize) {
    let records: Vec<Value> = layout.in_window().into_iter().filter(|r| keep(r)).collect();
    let mut engine = common::engine(&[], &EngineOptions::default());
    let body = json!({ "Records": records }).to_string();
    let (alerts, _) = common::replay(&mut engine, "window", body.as_bytes());
    (alerts.into_iter().map(|a| a.id).collect(), records.len())
}

async fn setup() -> (live_support::Moto, aws_config::SdkConfig, Layout) {
    let moto = live_support::moto();
    let sdk = live_support::sdk(&moto.url).await;
    let s3 = tfdrift::collect::s3_client(&sdk);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let layout = upload(&s3).await;
    (moto, sdk, layout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_s3_backfills_only_the_window_in_time_order_per_file() {
    let (moto, _sdk, layout) = setup().await;
    let (expected, in_window) = expected_alert_ids(&layout, |_| true);
    assert!(
        expected.len() >= 3,
        "the window should alert: {}",
        expected.len()
    );
    let total: usize = layout.files.values().map(Vec::len).sum();
    assert!(
        in_window > 100 && in_window < total,
        "{in_window} of {total}"
    );

    let home = tempfile::tempdir().unwrap();
    let stats_path = home.path().join("stats.json");
    let url = moto.url.clone();
    let stats_arg = stats_path.display().to_string();
    let home_path = home.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::cargo_bin("tfdrift")
            .unwrap()
            .args([
                "replay",
                &format!("s3://{BUCKET}/"),
                "--since",
                SINCE,
                "--until",
                UNTIL,
            ])
            .args([
                "--endpoint-url",
                &url,
                "--region",
                "us-east-1",
                "--stats-json",
                &stats_arg,
            ])
            .env("HOME", &home_path)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("TFDRIFT_CONFIG")
            .current_dir(&home_path)
            .timeout(Duration::from_mins(3))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let alerts: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: BTreeSet<String> = alerts
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got.len(), alerts.len(), "an alert came twice");
    assert_eq!(
        got, expected,
        "alerts differ from a replay of the window's records"
    );

    // Within each file, events went through in time order.
    let file_of = layout.file_of();
    let mut last: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for a in &alerts {
        let t = time(a["event"]["time"].as_str().unwrap());
        let file = file_of[a["event"]["id"].as_str().unwrap()].as_str();
        assert!(
            last.get(file).is_none_or(|prev| *prev <= t),
            "{file}: {t} after a later event"
        );
        last.insert(file, t);
    }

    let stats: Value = serde_json::from_slice(&std::fs::read(&stats_path).unwrap()).unwrap();
    assert_eq!(stats["parsed"], json!(in_window), "{stats}");
    assert_eq!(
        stats["unparseable"],
        json!(0),
        "a file outside the window was read: {stats}"
    );
    let outside = stats["skipped"]["outside_window"].as_u64().unwrap();
    assert!(
        outside > 0,
        "the window's edge files hold records outside it: {stats}"
    );
    assert!(
        outside < (total - in_window) as u64,
        "files wholly outside the window were fetched: {outside}"
    );
    assert_eq!(
        stats["records_read"],
        json!(in_window as u64 + outside),
        "{stats}"
    );
    assert_eq!(stats["alerts"], json!(expected.len()), "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backfill_source_feeds_the_live_pipeline_and_reports_health() {
    let (moto, sdk, layout) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(tfdrift::store::open(&dir.path().join("store.db")).unwrap());
    // The organisation trail's account only.
    let mut handle = backfill(
        &moto.url,
        sdk,
        &format!("AWSLogs/o-exampleorg1/{ACCOUNT}/"),
        store,
    );
    // Expected for this prefix: the window's records of the organisation trail's files.
    let org_ids: BTreeSet<String> = layout
        .files
        .iter()
        .filter(|(k, _)| k.contains("/o-exampleorg1/"))
        .flat_map(|(_, rs)| {
            rs.iter()
                .map(|r| r["eventID"].as_str().unwrap().to_string())
        })
        .collect();
    let mut got = BTreeSet::new();
    let mut n = 0;
    while let Ok(Some(a)) = tokio::time::timeout(Duration::from_secs(5), handle.alerts.recv()).await
    {
        assert!(
            org_ids.contains(&a.event.id),
            "{} is not from the org trail",
            a.event.id
        );
        got.insert(a.id);
        n += 1;
    }
    handle.cancel();
    handle.join().await;
    assert_eq!(n, got.len(), "an alert came twice");
    assert!(!got.is_empty(), "the organisation trail's window alerts");
    let (expected, org_in_window) = expected_alert_ids(&layout, |r| {
        org_ids.contains(r["eventID"].as_str().unwrap())
    });
    assert_eq!(
        got, expected,
        "alerts differ from a replay of the org trail's window"
    );
    let stats = handle.stats.borrow().clone();
    assert!(org_in_window > 0 && org_in_window < layout.in_window().len());
    assert_eq!(stats.parsed, org_in_window as u64, "{stats:?}");
    assert_eq!(stats.unparseable, 0, "{stats:?}");
    let h = stats.sources.values().next().expect("backfill health");
    assert_eq!(h.kind, "s3_backfill");
    assert!(h.connected && h.errors == 0, "{h:?}");
    assert_eq!(h.events, org_in_window as u64, "{h:?}");
}

/// The whole bucket's backfill over `store` until no alert came for 5 s; the alerts' ids, the
/// final counters and the ids expected from an offline replay of the window.
async fn window_backfill(
    store: Arc<dyn tfdrift::store::Store>,
) -> (BTreeSet<String>, tfdrift::pipeline::Stats, BTreeSet<String>) {
    let (moto, sdk, layout) = setup().await;
    let mut handle = backfill(&moto.url, sdk, "", store);
    let mut got = BTreeSet::new();
    while let Ok(Some(a)) = tokio::time::timeout(Duration::from_secs(5), handle.alerts.recv()).await
    {
        got.insert(a.id);
    }
    handle.cancel();
    handle.join().await;
    let (expected, _) = expected_alert_ids(&layout, |_| true);
    assert!(expected.len() >= 3, "the window should alert: {expected:?}");
    let stats = handle.stats.borrow().clone();
    (got, stats, expected)
}

/// Alert ids recorded in `store`.
fn stored_ids(store: &dyn tfdrift::store::Store) -> BTreeSet<String> {
    store
        .recent_alerts(DateTime::<Utc>::UNIX_EPOCH, 100_000)
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect()
}

/// A file whose alerts the store failed to record is handed to the engine once more: every
/// alert of the window ends up recorded, and the source stays healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backfill_retries_a_file_whose_alerts_were_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn tfdrift::store::Store> =
        Arc::new(tfdrift::store::open(&dir.path().join("store.db")).unwrap());
    let flaky = Arc::new(gcp_support::FlakyStore::new(inner.clone(), 1));
    let (got, stats, expected) = window_backfill(flaky.clone()).await;
    assert_eq!(got, expected, "alerts differ from a replay of the window");
    assert_eq!(flaky.failed.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(stats.store_errors, 1, "{stats:?}");
    assert_eq!(
        stored_ids(inner.as_ref()),
        expected,
        "the retried file's alerts were not recorded"
    );
    let h = stats.sources.values().next().expect("backfill health");
    assert!(h.errors == 0 && h.last_error.is_none(), "{h:?}");
}

/// A file whose alerts cannot be recorded even on the retry is a health error naming the
/// file and counted; the backfill goes on with the other files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backfill_reports_a_file_whose_alerts_could_not_be_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn tfdrift::store::Store> =
        Arc::new(tfdrift::store::open(&dir.path().join("store.db")).unwrap());
    let flaky = Arc::new(gcp_support::FlakyStore::new(inner.clone(), 2));
    let (got, stats, expected) = window_backfill(flaky.clone()).await;
    // Alerts are shown even when they could not be recorded.
    assert_eq!(got, expected, "alerts differ from a replay of the window");
    assert_eq!(flaky.failed.load(std::sync::atomic::Ordering::SeqCst), 2);
    let h = stats.sources.values().next().expect("backfill health");
    assert_eq!(h.errors, 1, "{h:?}");
    let e = h.last_error.as_deref().unwrap_or_default();
    assert!(
        e.starts_with(&format!("s3://{BUCKET}/AWSLogs/"))
            && e.contains("/CloudTrail/")
            && e.contains("not recorded")
            && e.contains("run the backfill again"),
        "{e}"
    );
    // The other files went on: every alert but the one whose write failed twice (the same
    // event both times: the retry's first alerting event) is recorded.
    let stored = stored_ids(inner.as_ref());
    assert!(stored.is_subset(&expected));
    assert_eq!(
        stored.len() + 1,
        expected.len(),
        "{stored:?} of {expected:?}"
    );
}

/// The live pipeline with one S3 backfill source over `prefix` of the test bucket's window.
fn backfill(
    endpoint: &str,
    sdk: aws_config::SdkConfig,
    prefix: &str,
    store: Arc<dyn tfdrift::store::Store>,
) -> tfdrift::pipeline::PipelineHandle {
    let cfg = PipelineConfig {
        sources: vec![SourceSpec::S3Backfill(S3BackfillSettings {
            bucket: BUCKET.into(),
            prefix: prefix.into(),
            region: "us-east-1".into(),
            endpoint_url: Some(endpoint.into()),
            since: SINCE.into(),
            until: Some(UNTIL.into()),
            concurrency: 4,
        })],
        store: Some(store),
        aws: Some(sdk),
        ..PipelineConfig::default()
    };
    spawn(
        Arc::new(Catalog::embedded().unwrap()),
        Arc::new(StateIndex::new(Vec::new())),
        &cfg,
    )
    .unwrap()
}

//! CloudTrail over SQS against moto: real CloudTrail log files (gzipped) in a bucket, every
//! notification shape of `FORMATS.md` §4.3 on the queue; the alerts must equal an offline
//! replay of the same files, and every message must be deleted afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
use crate::live_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use live_support::cloudtrail::{self, BUCKET, DIR, queue_depth, sns};
use serde_json::json;
use tfdrift::catalog::Catalog;
use tfdrift::collect::SourceSpec;
use tfdrift::collect::sqs::SqsSettings;
use tfdrift::pipeline::{EngineOptions, PipelineConfig, PipelineHandle, spawn};
use tfdrift::state::StateIndex;

fn corpus_files() -> Vec<(String, Vec<u8>)> {
    let dir = common::corpus().join("cloudtrail/invictus-ir__aws_dataset/CloudTrail");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() > 10,
        "CloudTrail corpus missing at {}",
        dir.display()
    );
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

fn s3_notification(key_encoded: &str) -> String {
    json!({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
      "eventTime":"2024-05-01T14:16:02.345Z","eventName":"ObjectCreated:Put",
      "s3":{"s3SchemaVersion":"1.0","configurationId":"ct-to-sqs",
        "bucket":{"name":BUCKET,"arn":format!("arn:aws:s3:::{BUCKET}")},
        "object":{"key":key_encoded,"size":2445,"eTag":"ETAG","sequencer":"SEQ"}}}]})
    .to_string()
}

fn eventbridge() -> (String, String) {
    let record = json!({"eventVersion":"1.08","eventSource":"ec2.amazonaws.com",
      "eventName":"AuthorizeSecurityGroupIngress","awsRegion":"us-east-1",
      "eventTime":"2024-05-01T14:11:38Z","eventID":"eb-0000-1111","eventType":"AwsApiCall",
      "readOnly":false,"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/alice",
        "userName":"alice","accountId":"123456789012"},
      "requestParameters":{"groupId":"sg-0123456789abcdef0"},"responseElements":null,
      "recipientAccountId":"123456789012"});
    let body = json!({"version":"0","id":"e1","detail-type":"AWS API Call via CloudTrail",
      "source":"aws.ec2","account":"123456789012","time":"2024-05-01T14:11:38Z",
      "region":"us-east-1","resources":[],"detail":record});
    (body.to_string(), json!({"Records":[record]}).to_string())
}

struct Env {
    _moto: live_support::Moto,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    sdk: aws_config::SdkConfig,
    endpoint: String,
}

async fn env() -> Env {
    let moto = live_support::moto();
    let sdk = live_support::sdk(&moto.url).await;
    let s3 = tfdrift::collect::s3_client(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let queue_url = sqs
        .create_queue()
        .queue_name("cloudtrail")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    Env {
        endpoint: moto.url.clone(),
        _moto: moto,
        s3,
        sqs,
        queue_url,
        sdk,
    }
}

fn pipeline(e: &Env, dir: &std::path::Path, visibility: i32, max_receives: i32) -> PipelineHandle {
    let store = Arc::new(tfdrift::store::open(&dir.join("store.db")).unwrap());
    let cfg = PipelineConfig {
        sources: vec![SourceSpec::Sqs(SqsSettings {
            queue_url: e.queue_url.clone(),
            region: "us-east-1".into(),
            endpoint_url: Some(e.endpoint.clone()),
            wait_time_seconds: 1,
            visibility_timeout_seconds: visibility,
            max_receives,
        })],
        store: Some(store),
        aws: Some(e.sdk.clone()),
        ..PipelineConfig::default()
    };
    spawn(
        Arc::new(Catalog::embedded().unwrap()),
        Arc::new(StateIndex::new(Vec::new())),
        &cfg,
    )
    .unwrap()
}

async fn collect_ids(handle: &mut PipelineHandle, n: usize, quiet: Duration) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let wait = if out.len() >= n {
            quiet
        } else {
            Duration::from_mins(1)
        };
        match tokio::time::timeout(wait, handle.alerts.recv()).await {
            Ok(Some(a)) => out.push(a.event.id),
            _ => return out,
        }
    }
}

async fn wait_empty(e: &Env) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = queue_depth(&e.sqs, &e.queue_url).await;
        if d == (0, 0) {
            return;
        }
        assert!(Instant::now() < deadline, "queue not empty: {d:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_every_notification_shape_alerts_like_replay_and_empties_the_queue() {
    let e = env().await;
    let files = corpus_files();
    let (eb_body, eb_records) = eventbridge();

    // Expected: an offline replay of the same records.
    let mut engine = common::engine(&[], &EngineOptions::default());
    let mut expected = Vec::new();
    for (name, bytes) in &files {
        expected.extend(common::replay(&mut engine, name, bytes).0);
    }
    expected.extend(common::replay(&mut engine, "eb", eb_records.as_bytes()).0);
    let expected: Vec<String> = expected.into_iter().map(|a| a.event.id).collect();
    assert!(
        expected.len() > 5,
        "the corpus should alert: {}",
        expected.len()
    );

    // Upload every file gzipped; the first one under a prefix with a space (URL-encoded key).
    let mut keys = Vec::new();
    for (i, (name, bytes)) in files.iter().enumerate() {
        let key = if i == 0 {
            format!("my logs/{DIR}/{name}.gz")
        } else {
            format!("{DIR}/{name}.gz")
        };
        e.s3.put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(live_support::gzip(bytes).into())
            .send()
            .await
            .unwrap();
        keys.push(key);
    }
    let digest_key = "AWSLogs/218007301253/CloudTrail-Digest/us-east-1/2023/07/10/d.json.gz";
    let digest = json!({"digestStartTime":"2023-07-10T11:00:00Z","logFiles":[]}).to_string();
    e.s3.put_object()
        .bucket(BUCKET)
        .key(digest_key)
        .body(live_support::gzip(digest.as_bytes()).into())
        .send()
        .await
        .unwrap();

    // One message per file, rotating through the shapes; CloudTrail's own notification
    // carries two keys at a time.
    let mut bodies = vec![
        json!({"Service":"Amazon S3","Event":"s3:TestEvent","Time":"t","Bucket":BUCKET,
          "RequestId":"r","HostId":"h"})
        .to_string(),
        s3_notification(digest_key),
        eb_body,
    ];
    let mut i = 0;
    while i < keys.len() {
        let encoded = keys[i].replace(' ', "+");
        match i % 4 {
            0 => bodies.push(s3_notification(&encoded)),
            1 => bodies.push(sns(&s3_notification(&encoded))),
            2 => {
                let mut ks = vec![keys[i].clone()];
                if i + 1 < keys.len() {
                    i += 1;
                    ks.push(keys[i].clone());
                }
                bodies.push(sns(&json!({"s3Bucket":BUCKET,"s3ObjectKey":ks}).to_string()));
            }
            _ => bodies.push(json!({"s3Bucket":BUCKET,"s3ObjectKey":[keys[i]]}).to_string()),
        }
        i += 1;
    }
    // At-least-once: the first file announced twice.
    bodies.push(s3_notification(&keys[0].replace(' ', "+")));
    for b in &bodies {
        e.sqs
            .send_message()
            .queue_url(&e.queue_url)
            .message_body(b)
            .send()
            .await
            .unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let mut handle = pipeline(&e, dir.path(), 30, 5);
    let got = collect_ids(&mut handle, expected.len(), Duration::from_secs(3)).await;
    wait_empty(&e).await;
    handle.cancel();
    handle.join().await;

    let got_set: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(got.len(), got_set.len(), "an event alerted twice");
    assert_eq!(
        got_set,
        expected.iter().cloned().collect::<BTreeSet<_>>(),
        "alerts differ from an offline replay"
    );
    let stats = handle.stats.borrow().clone();
    assert_eq!(
        stats.skipped.get("s3_test_event"),
        Some(&1),
        "{:?}",
        stats.skipped
    );
    assert_eq!(stats.skipped.get("digest"), Some(&1), "{:?}", stats.skipped);
    assert!(
        stats.duplicates > 0,
        "the repeated notification was deduplicated"
    );
    let h = stats.sources.values().next().expect("sqs health");
    assert!(h.connected && h.errors == 0 && h.events > 0, "{h:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_failed_message_stays_is_reported_then_succeeds_once() {
    let e = env().await;
    let files = corpus_files();
    let (name, bytes) = files.iter().max_by_key(|(_, b)| b.len()).cloned().unwrap();
    let key = format!("{DIR}/{name}.gz");
    e.sqs
        .send_message()
        .queue_url(&e.queue_url)
        .message_body(s3_notification(&key))
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut handle = pipeline(&e, dir.path(), 1, 1);
    // The object is not there yet: the fetch fails, the message stays, and after more than
    // one receive it is reported as poison.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = handle.stats.borrow().clone();
        if s.sources.values().any(|h| h.poison > 0 && h.errors > 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no poison report: {:?}",
            s.sources
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (visible, in_flight) = queue_depth(&e.sqs, &e.queue_url).await;
    assert_eq!(
        visible + in_flight,
        1,
        "the failed message stays on the queue"
    );

    // Now the object arrives: the redelivered message is processed once and deleted.
    e.s3.put_object()
        .bucket(BUCKET)
        .key(&key)
        .body(live_support::gzip(&bytes).into())
        .send()
        .await
        .unwrap();
    let mut engine = common::engine(&[], &EngineOptions::default());
    let expected = common::replay(&mut engine, &name, &bytes).0.len();
    let got = collect_ids(&mut handle, expected, Duration::from_secs(3)).await;
    wait_empty(&e).await;
    handle.cancel();
    handle.join().await;
    assert_eq!(got.len(), expected);
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), expected);
}

/// The crash window between "alerts recorded" and "message deleted": after a restart the
/// same notifications come again (redelivery) to a new process over the same store; they are
/// processed and deleted, and none alerts a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_redelivery_after_restart_never_alerts_twice() {
    let e = env().await;
    let files = corpus_files();
    let mut keys = Vec::new();
    for (name, bytes) in files.iter().take(12) {
        let key = format!("{DIR}/{name}.gz");
        e.s3.put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(live_support::gzip(bytes).into())
            .send()
            .await
            .unwrap();
        keys.push(key);
    }
    let send_all = async || {
        for k in &keys {
            e.sqs
                .send_message()
                .queue_url(&e.queue_url)
                .message_body(s3_notification(k))
                .send()
                .await
                .unwrap();
        }
    };
    let dir = tempfile::tempdir().unwrap();

    send_all().await;
    let mut first = pipeline(&e, dir.path(), 30, 5);
    let got = collect_ids(&mut first, 1, Duration::from_secs(3)).await;
    wait_empty(&e).await;
    first.cancel();
    first.join().await;
    drop(first);
    assert!(!got.is_empty(), "the first run alerts");

    send_all().await;
    let mut second = pipeline(&e, dir.path(), 30, 5);
    let again = collect_ids(&mut second, 0, Duration::from_secs(3)).await;
    wait_empty(&e).await;
    second.cancel();
    second.join().await;
    assert!(
        again.is_empty(),
        "redelivered records alerted again: {again:?}"
    );
    let stats = second.stats.borrow().clone();
    assert_eq!(stats.alerts, 0, "{stats:?}");
    assert!(stats.duplicates >= got.len() as u64, "{stats:?}");
}

/// CloudTrail's own notification naming several log files: they are fetched in parallel, yet
/// the engine gets them in the notification's order (the alerts come out exactly as an offline
/// replay of the files in that order). One file missing fails the whole message: nothing of it
/// reaches the engine, it stays on the queue, and once the file exists the redelivered message
/// is processed once and deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_multi_key_notification_keeps_file_order_and_fails_whole() {
    let e = env().await;
    // Alerting files, biggest first, so that parallel fetches tend to finish out of order.
    let mut files: Vec<_> = cloudtrail::corpus_files(1, usize::MAX)
        .into_iter()
        .filter(|f| {
            let mut engine = common::engine(&[], &EngineOptions::default());
            !common::replay(&mut engine, &f.key, f.body().as_bytes())
                .0
                .is_empty()
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.body().len()));
    files.truncate(6);
    assert_eq!(files.len(), 6, "the corpus should have 6 alerting files");
    let mut engine = common::engine(&[], &EngineOptions::default());
    let expected: Vec<String> = files
        .iter()
        .flat_map(|f| common::replay(&mut engine, &f.key, f.body().as_bytes()).0)
        .map(|a| a.event.id)
        .collect();
    let records: usize = files.iter().map(|f| f.records.len()).sum();

    // The third file is not there yet.
    let (missing, present): (Vec<_>, Vec<_>) = files
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| *i == 2);
    let present: Vec<_> = present.into_iter().map(|(_, f)| f).collect();
    let missing: Vec<_> = missing.into_iter().map(|(_, f)| f).collect();
    cloudtrail::upload(&e.s3, &present).await;
    let keys: Vec<&str> = files.iter().map(|f| f.key.as_str()).collect();
    e.sqs
        .send_message()
        .queue_url(&e.queue_url)
        .message_body(sns(&cloudtrail::trail_notification(&keys)))
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut handle = pipeline(&e, dir.path(), 1, 5);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = handle.stats.borrow().clone();
        if s.sources.values().any(|h| h.errors > 1) {
            assert_eq!(
                s.parsed, 0,
                "records of a failed message reached the engine"
            );
            let h = s.sources.values().next().unwrap();
            assert!(
                h.last_error
                    .as_deref()
                    .unwrap_or_default()
                    .contains(&files[2].key),
                "the error names the missing object: {h:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no error reported: {:?}",
            s.sources
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (visible, in_flight) = queue_depth(&e.sqs, &e.queue_url).await;
    assert_eq!(
        visible + in_flight,
        1,
        "the failed message stays on the queue"
    );

    cloudtrail::upload(&e.s3, &missing).await;
    let got = collect_ids(&mut handle, expected.len(), Duration::from_secs(3)).await;
    wait_empty(&e).await;
    handle.cancel();
    handle.join().await;
    assert_eq!(
        got, expected,
        "alerts in the notification's file order, once"
    );
    let stats = handle.stats.borrow().clone();
    assert_eq!(stats.parsed, records as u64, "every record once: {stats:?}");
}

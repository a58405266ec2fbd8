//! CloudTrail over SQS, end to end against moto: real corpus log files (invictus-ir, copied
//! with tagged event ids) gzipped in a bucket, one S3 notification per file on a queue, the
//! live pipeline (SQS source, engine, on-disk store) run until every record is processed and
//! every message deleted. Reports records/s as the median of several runs, next to the
//! in-run baseline: the same receive + get + gunzip + delete done with the SDK alone, one
//! message after another (what moto serves to a plain sequential consumer).
//!
//! `cargo bench --bench live_sqs` measures; without `--bench` (as `cargo test --all-targets`
//! runs it) it does one small smoke run and checks that every record came through.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    missing_docs
)]

#[path = "../tests/live_support/mod.rs"]
mod live_support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};
use tfdrift::catalog::Catalog;
use tfdrift::collect::SourceSpec;
use tfdrift::collect::sqs::SqsSettings;
use tfdrift::pipeline::{PipelineConfig, spawn};
use tfdrift::state::StateIndex;

const BUCKET: &str = "trail-logs";

/// Gzipped log files (key, body, record count): the corpus, `copies` times.
fn log_files(copies: usize, limit: usize) -> Vec<(String, Vec<u8>, usize)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/cloudtrail/invictus-ir__aws_dataset/CloudTrail");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("CloudTrail corpus missing at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths.truncate(limit);
    let mut out = Vec::new();
    for copy in 0..copies {
        for p in &paths {
            let mut v: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            let records = v["Records"].as_array_mut().unwrap();
            for r in records.iter_mut() {
                r["eventID"] = json!(format!("{}-c{copy}", r["eventID"].as_str().unwrap()));
            }
            let n = records.len();
            let stem = p.file_stem().unwrap().to_str().unwrap();
            let key = format!(
                "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/{stem}-c{copy}.json.gz"
            );
            out.push((key, live_support::gzip(v.to_string().as_bytes()), n));
        }
    }
    out
}

async fn fill_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    files: &[(String, Vec<u8>, usize)],
) -> String {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    for chunk in files.chunks(10) {
        let mut b = sqs.send_message_batch().queue_url(&url);
        for (i, (key, ..)) in chunk.iter().enumerate() {
            b = b.entries(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(json!({"s3Bucket": BUCKET, "s3ObjectKey": [key]}).to_string())
                    .build()
                    .unwrap(),
            );
        }
        b.send().await.unwrap();
    }
    url
}

async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> i64 {
    let a = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|n| {
        a.attributes()
            .and_then(|m| m.get(n))
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    })
    .sum()
}

/// The SDK alone, one message after another: receive, get, gunzip, delete.
async fn baseline(
    sqs: &aws_sdk_sqs::Client,
    s3: &aws_sdk_s3::Client,
    url: &str,
    messages: usize,
) -> Duration {
    let start = Instant::now();
    let mut done = 0;
    while done < messages {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            let key = body["s3ObjectKey"][0].as_str().unwrap();
            let obj = s3
                .get_object()
                .bucket(BUCKET)
                .key(key)
                .send()
                .await
                .unwrap();
            let bytes = obj.body.collect().await.unwrap().into_bytes().to_vec();
            let json = tfdrift::input::maybe_gunzip(bytes).unwrap();
            assert!(json.starts_with(b"{"));
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            done += 1;
        }
    }
    start.elapsed()
}

/// The SDK alone with `workers` consumers at once: what moto allows a concurrent client.
async fn baseline_concurrent(
    sqs: &aws_sdk_sqs::Client,
    s3: &aws_sdk_s3::Client,
    url: &str,
    messages: usize,
    workers: usize,
) -> Duration {
    let start = Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (sqs, s3, url, done) = (sqs.clone(), s3.clone(), url.to_string(), done.clone());
        set.spawn(async move {
            while done.load(std::sync::atomic::Ordering::SeqCst) < messages {
                let out = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(0)
                    .send()
                    .await
                    .unwrap();
                for m in out.messages() {
                    let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                    let key = body["s3ObjectKey"][0].as_str().unwrap();
                    let obj = s3
                        .get_object()
                        .bucket(BUCKET)
                        .key(key)
                        .send()
                        .await
                        .unwrap();
                    let bytes = obj.body.collect().await.unwrap().into_bytes().to_vec();
                    assert!(
                        tfdrift::input::maybe_gunzip(bytes)
                            .unwrap()
                            .starts_with(b"{")
                    );
                    sqs.delete_message()
                        .queue_url(&url)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .send()
                        .await
                        .unwrap();
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    start.elapsed()
}

/// The live pipeline until every record is parsed and the queue is empty.
async fn pipeline(
    sdk: &aws_config::SdkConfig,
    endpoint: &str,
    url: &str,
    records: u64,
) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(tfdrift::store::open(&dir.path().join("store.db")).unwrap());
    let cfg = PipelineConfig {
        sources: vec![SourceSpec::Sqs(SqsSettings {
            queue_url: url.to_string(),
            region: "us-east-1".into(),
            endpoint_url: Some(endpoint.to_string()),
            wait_time_seconds: 1,
            visibility_timeout_seconds: 60,
            max_receives: 5,
        })],
        store: Some(store),
        aws: Some(sdk.clone()),
        ..PipelineConfig::default()
    };
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let start = Instant::now();
    let mut handle = spawn(
        Arc::new(Catalog::embedded().unwrap()),
        Arc::new(StateIndex::new(Vec::new())),
        &cfg,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_mins(5);
    let elapsed = loop {
        while handle.alerts.try_recv().is_ok() {}
        let parsed = handle.stats.borrow().parsed;
        if parsed >= records && depth(&sqs, url).await == 0 {
            break start.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "the pipeline did not drain the queue: {parsed} of {records} records"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    handle.cancel();
    while handle.alerts.recv().await.is_some() {}
    handle.join().await;
    let stats = handle.stats.borrow().clone();
    assert_eq!(stats.parsed, records, "every record exactly once");
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    elapsed
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (copies, limit, runs) = if full { (4, usize::MAX, 5) } else { (1, 6, 1) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let moto = live_support::moto();
        let sdk = live_support::sdk(&moto.url).await;
        let s3 = tfdrift::collect::s3_client(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        let files = log_files(copies, limit);
        for (key, body, _) in &files {
            s3.put_object()
                .bucket(BUCKET)
                .key(key)
                .body(body.clone().into())
                .send()
                .await
                .unwrap();
        }
        let records: usize = files.iter().map(|f| f.2).sum();
        println!(
            "live_sqs: {} messages, {records} CloudTrail records per run, {runs} runs",
            files.len()
        );
        let (mut base, mut conc, mut live) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..runs {
            let url = fill_queue(&sqs, &format!("base-{run}"), &files).await;
            let t = baseline(&sqs, &s3, &url, files.len()).await;
            base.push(records as f64 / t.as_secs_f64());
            let url = fill_queue(&sqs, &format!("conc-{run}"), &files).await;
            let t = baseline_concurrent(&sqs, &s3, &url, files.len(), 8).await;
            conc.push(records as f64 / t.as_secs_f64());
            let url = fill_queue(&sqs, &format!("live-{run}"), &files).await;
            let t = pipeline(&sdk, &moto.url, &url, records as u64).await;
            live.push(records as f64 / t.as_secs_f64());
            println!(
                "  run {run}: pipeline {:.0} rec/s; SDK alone: sequential {:.0} rec/s, 8 consumers {:.0} rec/s",
                live[run], base[run], conc[run]
            );
        }
        println!(
            "live_sqs median: pipeline {:.0} records/s (end to end, messages deleted); baselines, SDK alone: sequential {:.0} records/s, 8 consumers {:.0} records/s",
            median(live),
            median(base),
            median(conc)
        );
    });
}

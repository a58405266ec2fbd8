//! CloudTrail log files built from the real corpus (invictus-ir), uploaded gzipped to a moto
//! bucket and announced on an SQS queue: what the SQS tests and the `live_sqs` bench feed the
//! pipeline. Event ids are tagged per copy so that every record is distinct (the engine
//! deduplicates by event id).

use std::path::PathBuf;

use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use serde_json::{Value, json};

/// The trail's bucket.
pub const BUCKET: &str = "trail-logs";
/// Where CloudTrail writes one region's log files of one day.
pub const DIR: &str = "AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10";

/// One log file: its object key and its records.
#[derive(Clone)]
pub struct LogFile {
    pub key: String,
    pub records: Vec<Value>,
}

impl LogFile {
    /// The file's JSON, as CloudTrail writes it: `{"Records": [...]}`.
    pub fn body(&self) -> String {
        json!({ "Records": self.records }).to_string()
    }
}

/// The corpus's CloudTrail log files (sorted by name); fails when the corpus is missing.
fn corpus_paths() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/cloudtrail/invictus-ir__aws_dataset/CloudTrail");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "CloudTrail corpus missing at {}: it is part of the repository (tests/corpus) ({e})",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(
        paths.len() > 40,
        "CloudTrail corpus incomplete at {}",
        dir.display()
    );
    paths
}

fn tag(record: &Value, copy: usize) -> Value {
    let mut r = record.clone();
    r["eventID"] = json!(format!("{}-c{copy}", r["eventID"].as_str().unwrap()));
    r
}

fn records_of(p: &PathBuf) -> Vec<Value> {
    let v: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    v["Records"].as_array().unwrap().clone()
}

/// The corpus's first `limit` files as they are (about 50 records each), `copies` times,
/// event ids tagged by copy.
pub fn corpus_files(copies: usize, limit: usize) -> Vec<LogFile> {
    let mut paths = corpus_paths();
    paths.truncate(limit);
    let originals: Vec<(String, Vec<Value>)> = paths
        .iter()
        .map(|p| {
            let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
            (stem, records_of(p))
        })
        .collect();
    let mut out = Vec::new();
    for copy in 0..copies {
        for (stem, records) in &originals {
            out.push(LogFile {
                key: format!("{DIR}/{stem}-c{copy}.json.gz"),
                records: records.iter().map(|r| tag(r, copy)).collect(),
            });
        }
    }
    out
}

/// `files` log files of `per_file` records each, as a busy account's trail writes them (one
/// file per region every ~5 minutes, hundreds to thousands of records): the corpus's records
/// one after another, again and again, event ids tagged by pass.
pub fn busy_files(files: usize, per_file: usize) -> Vec<LogFile> {
    let all: Vec<Value> = corpus_paths().iter().flat_map(records_of).collect();
    let mut next = (0..).map(|i: usize| tag(&all[i % all.len()], i / all.len()));
    (0..files)
        .map(|f| LogFile {
            key: format!(
                "{DIR}/218007301253_CloudTrail_us-east-1_20230710T1200Z_busy{f:04}.json.gz"
            ),
            records: next.by_ref().take(per_file).collect(),
        })
        .collect()
}

/// Uploads every file gzipped under its key.
pub async fn upload(s3: &aws_sdk_s3::Client, files: &[LogFile]) {
    for f in files {
        s3.put_object()
            .bucket(BUCKET)
            .key(&f.key)
            .body(super::gzip(f.body().as_bytes()).into())
            .send()
            .await
            .unwrap();
    }
}

/// CloudTrail's own notification (`FORMATS.md` §4.3): the bucket and the new log files' keys.
pub fn trail_notification(keys: &[&str]) -> String {
    json!({"s3Bucket": BUCKET, "s3ObjectKey": keys}).to_string()
}

/// `inner` as SNS delivers it to an SQS subscription (raw delivery off).
pub fn sns(inner: &str) -> String {
    json!({"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:123456789012:t",
      "Subject":"Amazon S3 Notification","Message":inner,"Timestamp":"2024-05-01T14:16:03.000Z",
      "SignatureVersion":"1","Signature":"x","SigningCertURL":"x","UnsubscribeURL":"x"})
    .to_string()
}

/// One CloudTrail notification per file (one key each).
pub fn one_key_each(files: &[LogFile]) -> Vec<String> {
    files
        .iter()
        .map(|f| trail_notification(&[&f.key]))
        .collect()
}

/// Creates queue `name` and sends every body, ten per `SendMessageBatch`; returns its URL.
pub async fn fill_queue(sqs: &aws_sdk_sqs::Client, name: &str, bodies: &[String]) -> String {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    for chunk in bodies.chunks(10) {
        let mut b = sqs.send_message_batch().queue_url(&url);
        for (i, body) in chunk.iter().enumerate() {
            b = b.entries(
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .unwrap(),
            );
        }
        let out = b.send().await.unwrap();
        assert!(out.failed().is_empty(), "send failed: {:?}", out.failed());
    }
    url
}

/// (visible, in flight) messages on the queue.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> (i64, i64) {
    let a = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let get = |n: QueueAttributeName| -> i64 {
        a.attributes()
            .and_then(|m| m.get(&n))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

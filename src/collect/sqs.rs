//! CloudTrail over SQS: long polling, every notification shape of `FORMATS.md` §4.3.
//!
//! S3 notifications (direct, SNS-wrapped, raw) and CloudTrail's own SNS notification name log
//! objects, which are fetched from S3 and gunzipped; digest and Insight objects and
//! `s3:TestEvent` are acknowledged and dropped; EventBridge bodies carry the record itself.
//! A message is deleted only after the engine acknowledged every record it carried (the
//! engine records alerts in the store before it acknowledges) and no store write failed;
//! anything that fails stays on the queue for redelivery, and redelivered records never
//! alert twice (event-id dedupe in the engine and the store). The visibility timeout is
//! extended while a message is being processed; messages received more than `max_receives`
//! times are reported as poison. Several messages are processed at once (see
//! [`SqsSource::run`]), and the log files of one notification are fetched at once too, then
//! handed to the engine in the notification's order.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::health::HealthRegistry;
use super::{event_summary, normalize_bytes, s3_client};
use crate::pipeline::{BatchAck, SourceItem};

const KIND: &str = "sqs";

/// Messages processed at once (each fetches its log files and waits for the engine).
pub const MAX_IN_FLIGHT: usize = 32;

/// Log files fetched and parsed at once, all messages together. CloudTrail's own notification
/// can name several files, each fetched in parallel; this bound keeps memory where one file
/// per message in flight would put it, however many keys the notifications carry.
pub const MAX_FETCHES: usize = MAX_IN_FLIGHT;

fn default_wait() -> i32 {
    20
}
fn default_visibility() -> i32 {
    120
}
fn default_max_receives() -> i32 {
    5
}

/// `sources: [{type: sqs, …}]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsSettings {
    /// Queue URL.
    pub queue_url: String,
    /// AWS region of the queue (and the log bucket).
    pub region: String,
    /// Custom endpoint (a local server); path-style S3 is used with it.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Long-poll wait, seconds (0-20, default 20).
    #[serde(default = "default_wait")]
    pub wait_time_seconds: i32,
    /// Visibility timeout asked for on receive and on each extension, seconds (default 120).
    #[serde(default = "default_visibility")]
    pub visibility_timeout_seconds: i32,
    /// Receives after which a message is reported as poison (default 5).
    #[serde(default = "default_max_receives")]
    pub max_receives: i32,
}

/// What one message body asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Work {
    /// Understood, nothing to do (test event …).
    Drop(&'static str),
    /// Log objects to fetch: (bucket, key), keys decoded.
    Objects(Vec<(String, String)>),
    /// The body itself holds records (EventBridge, a raw record …).
    Inline(String),
}

/// S3 notification keys are form-encoded: `+` is a space, then `%xx`.
#[must_use]
pub fn decode_key(key: &str) -> String {
    let plus = key.replace('+', " ");
    percent_decode_str(&plus).decode_utf8_lossy().into_owned()
}

/// Sniffs a body in the order of `FORMATS.md` §4.3.
#[must_use]
pub fn sniff(body: &str) -> Work {
    sniff_at(body, 0)
}

fn sniff_at(body: &str, depth: u8) -> Work {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return Work::Inline(body.to_string());
    };
    if depth < 4
        && v.get("Type").and_then(Value::as_str) == Some("Notification")
        && let Some(inner) = v.get("Message").and_then(Value::as_str)
    {
        return sniff_at(inner, depth + 1);
    }
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Work::Drop("s3_test_event");
    }
    if let Some(bucket) = v.get("s3Bucket").and_then(Value::as_str) {
        let keys = v
            .get("s3ObjectKey")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>())
            .unwrap_or_default();
        return Work::Objects(
            keys.into_iter()
                .map(|k| (bucket.to_string(), k.to_string()))
                .collect(),
        );
    }
    if let Some(records) = v.get("Records").and_then(Value::as_array)
        && !records.is_empty()
        && records
            .iter()
            .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:s3"))
    {
        let objects = records
            .iter()
            .filter(|r| {
                r.get("eventName")
                    .and_then(Value::as_str)
                    .is_none_or(|n| n.starts_with("ObjectCreated"))
            })
            .filter_map(|r| {
                let s3 = r.get("s3")?;
                let bucket = s3.pointer("/bucket/name")?.as_str()?;
                let key = s3.pointer("/object/key")?.as_str()?;
                Some((bucket.to_string(), decode_key(key)))
            })
            .collect();
        return Work::Objects(objects);
    }
    Work::Inline(body.to_string())
}

/// Why an object key is not read, if it is not a CloudTrail log file.
#[must_use]
pub fn skip_object(key: &str) -> Option<&'static str> {
    if key.contains("/CloudTrail-Digest/") {
        Some("digest")
    } else if key.contains("/CloudTrail-Insight/") {
        Some("insight_file")
    } else if key.contains("/CloudTrail/") && key.ends_with(".json.gz") {
        None
    } else {
        Some("not_cloudtrail_object")
    }
}

/// A fetched log object (gzipped or not) as source items, each naming the object.
/// A truncated object is no error (it would be redelivered for ever): its complete records and
/// one unparseable item naming the cut (see [`super::log_object_items`]).
fn parse_log_object(bucket: &str, key: &str, raw: Vec<u8>) -> Vec<SourceItem> {
    super::log_object_items(bucket, key, raw)
}

/// The SQS source.
pub struct SqsSource {
    settings: SqsSettings,
    sqs: aws_sdk_sqs::Client,
    s3: aws_sdk_s3::Client,
    fetches: Arc<Semaphore>,
}

impl SqsSource {
    /// A source with clients built from `sdk`.
    #[must_use]
    pub fn new(settings: SqsSettings, sdk: &aws_config::SdkConfig) -> Self {
        Self {
            settings,
            sqs: aws_sdk_sqs::Client::new(sdk),
            s3: s3_client(sdk),
            fetches: Arc::new(Semaphore::new(MAX_FETCHES)),
        }
    }

    /// Polls until `cancel`; each message is processed, acknowledged by the engine, deleted.
    /// Up to [`MAX_IN_FLIGHT`] messages are processed at once (their log files fetched in
    /// parallel), and the next receive is issued as soon as ten slots are free, so the
    /// queue's and the bucket's round trips overlap. On cancel, messages in flight finish.
    pub async fn run(
        self,
        name: &str,
        tx: mpsc::Sender<SourceItem>,
        health: HealthRegistry,
        cancel: CancellationToken,
    ) {
        let this = Arc::new(self);
        let (deletes, to_delete) = mpsc::channel::<String>(MAX_IN_FLIGHT);
        let deleter = tokio::spawn(this.clone().deleter(
            name.to_string(),
            health.clone(),
            to_delete,
        ));
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let mut tasks = JoinSet::new();
        let mut backoff = Duration::from_millis(200);
        loop {
            while tasks.try_join_next().is_some() {}
            // Only this loop takes slots: once ten are free, each message below gets one.
            let ten = tokio::select! {
                () = cancel.cancelled() => break,
                p = slots.clone().acquire_many_owned(10) => p,
            };
            drop(ten);
            let recv = this
                .sqs
                .receive_message()
                .queue_url(&this.settings.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(this.settings.wait_time_seconds)
                .visibility_timeout(this.settings.visibility_timeout_seconds)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send();
            let out = tokio::select! {
                () = cancel.cancelled() => break,
                out = recv => out,
            };
            let messages = match out {
                Ok(o) => {
                    health.ok(name, KIND);
                    backoff = Duration::from_millis(200);
                    o.messages.unwrap_or_default()
                }
                Err(e) => {
                    let msg = format!("receive: {}", aws_sdk_sqs::error::DisplayErrorContext(&e));
                    tracing::warn!(source = %name, error = %msg, "SQS receive failed; retrying");
                    health.error(name, KIND, &msg);
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            for m in messages {
                if tx.is_closed() {
                    break;
                }
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                let (this, tx, health, name, deletes) = (
                    this.clone(),
                    tx.clone(),
                    health.clone(),
                    name.to_string(),
                    deletes.clone(),
                );
                tasks.spawn(async move {
                    let _slot = slot;
                    Box::pin(this.handle(&name, &m, &tx, &health, &deletes)).await;
                });
            }
            if tx.is_closed() {
                break;
            }
        }
        while tasks.join_next().await.is_some() {}
        drop(deletes);
        let _ = deleter.await;
    }

    /// Deletes acknowledged messages, up to ten per `DeleteMessageBatch` call: whatever was
    /// acknowledged while the previous call was in flight goes into the next one (no timer,
    /// no added latency). A failed delete only means a redelivery, which is deduplicated.
    async fn deleter(
        self: Arc<Self>,
        name: String,
        health: HealthRegistry,
        mut rx: mpsc::Receiver<String>,
    ) {
        while let Some(first) = rx.recv().await {
            let mut receipts = vec![first];
            while receipts.len() < 10
                && let Ok(r) = rx.try_recv()
            {
                receipts.push(r);
            }
            let entries: Vec<DeleteMessageBatchRequestEntry> = receipts
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .build()
                        .ok()
                })
                .collect();
            let out = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.settings.queue_url)
                .set_entries(Some(entries))
                .send()
                .await;
            let failures: Vec<String> = match out {
                Ok(o) => o
                    .failed()
                    .iter()
                    .map(|f| format!("delete: {} {}", f.code(), f.message().unwrap_or_default()))
                    .collect(),
                Err(e) => vec![format!(
                    "delete: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )],
            };
            for msg in failures {
                tracing::warn!(source = %name, error = %msg, "SQS delete failed; the message will be redelivered (deduplicated)");
                health.error(&name, KIND, &msg);
            }
        }
    }

    /// Processes one message; deletes it only after a clean acknowledgement.
    async fn handle(
        &self,
        name: &str,
        m: &Message,
        tx: &mpsc::Sender<SourceItem>,
        health: &HealthRegistry,
        deletes: &mpsc::Sender<String>,
    ) {
        let Some(receipt) = m.receipt_handle() else {
            return;
        };
        let receives: i32 = m
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        if receives > self.settings.max_receives {
            tracing::error!(source = %name, message_id = ?m.message_id(), receives,
                "SQS message keeps failing; it stays for redelivery (configure a dead-letter queue)");
            health.update(name, KIND, |h| h.poison += 1);
        }
        let work = Box::pin(self.process(m.body().unwrap_or_default(), tx));
        let outcome = Box::pin(self.with_heartbeat(receipt, work)).await;
        match outcome {
            Ok((ack, n, newest)) if ack.store_errors == 0 => {
                health.events(name, KIND, n, newest);
                if deletes.send(receipt.to_string()).await.is_err() {
                    tracing::warn!(source = %name, "SQS deleter stopped; the message will be redelivered (deduplicated)");
                }
            }
            Ok((ack, ..)) => {
                let msg = format!(
                    "{} store errors; message left for redelivery",
                    ack.store_errors
                );
                health.error(name, KIND, &msg);
            }
            Err(e) => {
                tracing::warn!(source = %name, message_id = ?m.message_id(), error = %e, "SQS message not processed; left for redelivery");
                health.error(name, KIND, &e);
            }
        }
    }

    /// Reads everything the body names and waits for the engine's acknowledgement.
    async fn process(
        &self,
        body: &str,
        tx: &mpsc::Sender<SourceItem>,
    ) -> Result<(BatchAck, u64, Option<chrono::DateTime<chrono::Utc>>), String> {
        let items = match sniff(body) {
            Work::Drop(kind) => vec![SourceItem::Skipped(kind)],
            Work::Inline(text) => normalize_bytes("sqs", text.as_bytes()),
            Work::Objects(objects) => self.fetch_all(objects).await?,
        };
        let (n, newest) = event_summary(&items);
        let ack = super::send_batch(tx, items).await?;
        Ok((ack, n, newest))
    }

    /// The items of every log file `objects` names, in that order. The files are fetched,
    /// gunzipped and parsed at once (bounded by [`MAX_FETCHES`] across the source); the first
    /// failure fails the whole message (it stays on the queue) and cancels the other fetches.
    async fn fetch_all(&self, objects: Vec<(String, String)>) -> Result<Vec<SourceItem>, String> {
        let mut parts: Vec<Option<Vec<SourceItem>>> = Vec::with_capacity(objects.len());
        let mut fetches = JoinSet::new();
        for (i, (bucket, key)) in objects.into_iter().enumerate() {
            if let Some(kind) = skip_object(&key) {
                parts.push(Some(vec![SourceItem::Skipped(kind)]));
                continue;
            }
            parts.push(None);
            let (s3, permits) = (self.s3.clone(), self.fetches.clone());
            fetches.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .map_err(|_| "SQS source stopped".to_string())?;
                let raw = super::get_object_bytes(&s3, &bucket, &key).await?;
                // Inline on the async worker: `spawn_blocking` measured no better here.
                let items = parse_log_object(&bucket, &key, raw);
                Ok::<_, String>((i, items))
            });
        }
        while let Some(done) = fetches.join_next().await {
            let (i, items) = done.map_err(|e| format!("log file fetch task failed: {e}"))??;
            parts[i] = Some(items);
        }
        Ok(parts.into_iter().flatten().flatten().collect())
    }

    /// Runs `fut`, extending the message's visibility every half timeout meanwhile.
    async fn with_heartbeat<F: Future>(&self, receipt: &str, fut: F) -> F::Output {
        let vis = self.settings.visibility_timeout_seconds.max(2);
        let period = Duration::from_secs(u64::try_from(vis / 2).unwrap_or(1));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return out,
                _ = tick.tick() => {
                    let r = self.sqs.change_message_visibility()
                        .queue_url(&self.settings.queue_url)
                        .receipt_handle(receipt)
                        .visibility_timeout(vis)
                        .send().await;
                    if let Err(e) = r {
                        tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "Extending SQS visibility failed");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    const LOG: &str = r#"{"Records":[
      {"eventVersion":"1.08","eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress",
       "awsRegion":"us-east-1","eventTime":"2024-05-01T14:11:38Z","eventID":"e-1","eventType":"AwsApiCall",
       "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/alice"},
       "requestParameters":{"groupId":"sg-1"},"recipientAccountId":"123456789012"},
      {"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy",
       "awsRegion":"us-east-1","eventTime":"2024-05-01T14:11:39Z","eventID":"e-2","eventType":"AwsApiCall",
       "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/alice"},
       "requestParameters":{"bucketName":"b"},"recipientAccountId":"123456789012"}]}"#;

    #[test]
    fn a_gzipped_log_object_becomes_its_events_in_order() {
        let items = parse_log_object("b", "k.json.gz", gzip(LOG.as_bytes()));
        let ids: Vec<&str> = items
            .iter()
            .filter_map(|i| match i {
                SourceItem::Event(ev) => Some(ev.id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(ids, ["e-1", "e-2"]);
        // Not gzipped: read as is.
        assert_eq!(parse_log_object("b", "k.json", LOG.into()).len(), 2);
    }

    #[test]
    fn a_truncated_gzip_object_is_counted_naming_it_not_retried() {
        let mut bad = gzip(LOG.as_bytes());
        bad.truncate(bad.len() / 2);
        let items = parse_log_object("trail", "AWSLogs/x.json.gz", bad);
        let Some(SourceItem::Unparseable { origin, reason }) = items.last() else {
            panic!("no item names the cut: {items:?}");
        };
        assert_eq!(origin, "s3://trail/AWSLogs/x.json.gz");
        assert!(reason.starts_with("truncated_gzip: "), "{reason}");
    }

    #[test]
    fn a_record_without_a_time_takes_the_log_file_names() {
        let log = LOG.replace(r#""eventTime":"2024-05-01T14:11:38Z","#, "");
        let key = "AWSLogs/1/CloudTrail/us-east-1/2024/05/01/1_CloudTrail_us-east-1_20240501T1415Z_x.json.gz";
        let items = parse_log_object("b", key, gzip(log.as_bytes()));
        let SourceItem::Event(ev) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(
            ev.time.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-05-01T14:15:00+00:00")
        );
        assert_eq!(ev.time_source, Some(crate::event::TimeSource::FileName));
    }
}

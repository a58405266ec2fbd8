//! Live event sources: CloudTrail over SQS (log files fetched from S3), a CloudTrail backfill
//! from S3, Falco's `http_output`, Falco's legacy gRPC output API and GCP audit logs from a
//! Pub/Sub subscription. Each runs as a task of the pipeline, hands what it reads to the engine on
//! the bounded source channel (backpressure, nothing dropped) and reports its health.

pub mod falco_grpc;
pub mod falco_http;
pub mod health;
pub mod listener;
pub mod pubsub;
pub mod s3_backfill;
pub mod sqs;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::input::{Document, split_documents};
use crate::normalize::{Normalized, normalize_document};
use crate::pipeline::SourceItem;
use health::HealthRegistry;

/// One live source in a profile (`sources:`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceSpec {
    /// CloudTrail notifications on an SQS queue.
    Sqs(sqs::SqsSettings),
    /// Falco `http_output` receiver.
    FalcoHttp(falco_http::FalcoHttpSettings),
    /// Falco legacy gRPC output client (Falco ≤ 0.43).
    FalcoGrpc(falco_grpc::FalcoGrpcSettings),
    /// GCP Cloud Audit Logs from a log sink's Pub/Sub subscription.
    Pubsub(pubsub::PubsubSettings),
    /// A time window of CloudTrail log files read once from the trail's bucket.
    S3Backfill(s3_backfill::S3BackfillSettings),
}

impl SourceSpec {
    /// Name used in health reports.
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            SourceSpec::Sqs(s) => format!("sqs:{}", s.queue_url),
            SourceSpec::FalcoHttp(s) => format!("falco_http:{}", s.listen),
            SourceSpec::FalcoGrpc(s) => format!("falco_grpc:{}", s.address),
            SourceSpec::Pubsub(s) => format!("pubsub:{}", s.subscription),
            SourceSpec::S3Backfill(s) => format!("s3_backfill:s3://{}/{}", s.bucket, s.prefix),
        }
    }
}

/// Starts one source on the pipeline's task tracker. Errors (a port in use, a bad token
/// variable) are logged and reported in the source's health; the rest of the pipeline runs.
pub fn spawn_source(
    spec: &SourceSpec,
    tx: &mpsc::Sender<SourceItem>,
    cancel: &CancellationToken,
    health: &HealthRegistry,
    tasks: &TaskTracker,
    sdk_base: Option<&aws_config::SdkConfig>,
) {
    let name = spec.name();
    let (tx, cancel, health) = (tx.clone(), cancel.clone(), health.clone());
    let sdk_base = sdk_base.cloned();
    match spec.clone() {
        SourceSpec::Sqs(s) => {
            tasks.spawn(async move {
                let sdk =
                    aws_sdk_config(&s.region, s.endpoint_url.as_deref(), sdk_base.as_ref()).await;
                Box::pin(sqs::SqsSource::new(s, &sdk).run(&name, tx, health, cancel)).await;
            });
        }
        SourceSpec::FalcoHttp(s) => {
            tasks.spawn(async move {
                if let Err(e) = falco_http::serve(&s, tx, health.clone(), &name, cancel).await {
                    tracing::error!(source = %name, error = %e, "Falco HTTP receiver stopped");
                    health.error(&name, "falco_http", &e.to_string());
                }
            });
        }
        SourceSpec::FalcoGrpc(s) => {
            tracing::warn!(source = %name, "Falco's gRPC output has no acknowledgement: alerts Falco sent just before tfdrift stops or crashes can be lost, and Falco does not resend them. Use the falco_http source (answered only once recorded) where that matters");
            tasks.spawn(async move { falco_grpc::run(s, tx, health, &name, cancel).await });
        }
        SourceSpec::Pubsub(s) => {
            tasks.spawn(async move {
                Box::pin(pubsub::PubsubSource::new(s).run(&name, tx, health, cancel)).await;
            });
        }
        SourceSpec::S3Backfill(s) => {
            tasks.spawn(async move {
                let sdk =
                    aws_sdk_config(&s.region, s.endpoint_url.as_deref(), sdk_base.as_ref()).await;
                s3_backfill::run_source(s, &sdk, &name, tx, health, cancel).await;
            });
        }
    }
}

/// AWS SDK configuration from the environment (credentials chain), or from `base` when given
/// (tests, embedding), with an explicit region and optionally a custom endpoint (a local
/// S3/SQS server).
pub async fn aws_sdk_config(
    region: &str,
    endpoint_url: Option<&str>,
    base: Option<&aws_config::SdkConfig>,
) -> aws_config::SdkConfig {
    if let Some(base) = base {
        let mut b = base
            .to_builder()
            .region(aws_config::Region::new(region.to_string()));
        if let Some(url) = endpoint_url {
            b = b.endpoint_url(url);
        }
        return b.build();
    }
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()));
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// An S3 client; path-style addressing when a custom endpoint is set (local servers).
#[must_use]
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Hands a batch to the engine and waits for its answer, sent once the batch's alerts are
/// recorded: what every source that acknowledges upstream (SQS, Pub/Sub, S3 backfill) needs.
pub async fn send_batch(
    tx: &mpsc::Sender<SourceItem>,
    items: Vec<SourceItem>,
) -> Result<crate::pipeline::BatchAck, String> {
    let (ack_tx, ack_rx) = tokio::sync::oneshot::channel();
    tx.send(SourceItem::Batch { items, ack: ack_tx })
        .await
        .map_err(|_| "pipeline stopped".to_string())?;
    ack_rx
        .await
        .map_err(|_| "pipeline stopped before acknowledging".to_string())
}

/// Fetches a CloudTrail log object and gunzips it when it is gzipped. Errors name the object
/// and the permission to check (they become `unparseable` reasons and health errors). An object
/// whose gzip stream breaks off (or expands like a bomb) is no error: S3 objects do not change,
/// so a retry would fail the same way for ever; its bytes up to the cut are returned (their
/// complete records are read) and the cut is logged with the object's name and byte offset.
pub async fn get_log_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, String> {
    let bytes = get_object_bytes(s3, bucket, key).await?;
    let (bytes, cut) = crate::input::gunzip_lenient(bytes);
    if let Some(cut) = cut {
        tracing::warn!(object = %format!("s3://{bucket}/{key}"), kind = cut.kind(), detail = %cut,
            "Log object cut short; its complete records are read");
    }
    Ok(bytes)
}

/// A fetched log object (gzipped or not) as source items, each naming the object; a cut gzip
/// stream (truncated, corrupt, a bomb) keeps the records before it and adds one unparseable
/// item naming the object, the kind of cut and its byte offset.
#[must_use]
pub fn log_object_items(bucket: &str, key: &str, raw: Vec<u8>) -> Vec<SourceItem> {
    let origin = format!("s3://{bucket}/{key}");
    let (bytes, cut) = crate::input::gunzip_lenient(raw);
    let mut items = normalize_bytes(&origin, &bytes);
    // A record without a time takes its log file's (CloudTrail names carry the delivery time).
    if let Some(t) = crate::normalize::time::time_from_file_name(key) {
        for item in &mut items {
            if let SourceItem::Event(ev) = item
                && ev.time.is_none()
            {
                ev.time = Some(t);
                ev.time_source = Some(crate::event::TimeSource::FileName);
            }
        }
    }
    if let Some(cut) = cut {
        tracing::warn!(object = %origin, kind = cut.kind(), detail = %cut,
            "Log object cut short; its complete records are read");
        items.push(SourceItem::Unparseable {
            origin,
            reason: format!("{}: {cut}", cut.kind()),
        });
    }
    items
}

/// An object's bytes as stored (still gzipped), for a caller that decodes them itself.
/// Errors as [`get_log_object`]'s.
pub async fn get_object_bytes(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, String> {
    let obj = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            format!(
                "get s3://{bucket}/{key} (check s3:GetObject permission): {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        })?;
    Ok(obj
        .body
        .collect()
        .await
        .map_err(|e| format!("read s3://{bucket}/{key}: {e}"))?
        .into_bytes()
        .to_vec())
}

/// Splits a body into documents and normalises each, in order.
#[must_use]
pub fn normalize_bytes(origin: &str, bytes: &[u8]) -> Vec<SourceItem> {
    let mut items = Vec::new();
    let mut units = Vec::new();
    split_documents(bytes, |doc| match doc {
        Document::Json(raw, line) => {
            units.clear();
            normalize_document(raw, &mut units);
            for u in units.drain(..) {
                items.push(to_item(u, || format!("{origin}:{line}")));
            }
        }
        Document::Malformed { line, reason } => items.push(SourceItem::Unparseable {
            origin: format!("{origin}:{line}"),
            reason: format!("malformed JSON: {reason}"),
        }),
    });
    items
}

/// A normalised unit as a source item.
pub fn to_item(u: Normalized, origin: impl FnOnce() -> String) -> SourceItem {
    match u {
        Normalized::Event(ev) => SourceItem::Event(ev),
        Normalized::Skipped(k) => SourceItem::Skipped(k.as_str()),
        Normalized::Unparseable(reason) => SourceItem::Unparseable {
            origin: origin(),
            reason,
        },
    }
}

/// Event count and newest event time among `items`.
#[must_use]
pub fn event_summary(items: &[SourceItem]) -> (u64, Option<chrono::DateTime<chrono::Utc>>) {
    let mut n = 0;
    let mut newest = None;
    for i in items {
        if let SourceItem::Event(ev) = i {
            n += 1;
            newest = newest.max(ev.time);
        }
    }
    (n, newest)
}

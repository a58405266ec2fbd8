//! CloudTrail backfill from S3: the log files of a time window, read straight from the trail's
//! bucket (a profile source `{type: s3_backfill, …}` and `tfdrift replay s3://… --since 2h`).
//!
//! CloudTrail writes `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz`
//! (organisation trails `AWSLogs/<org-id>/<account>/…`). Accounts and regions are discovered
//! with delimiter listings and only the days of the window are listed, never the whole bucket;
//! a file's name carries its delivery time, so files delivered before the window (or long after
//! it) are not even fetched. Digest and Insight files are never listed. Each file is fetched
//! (several in parallel, handed on in order), gunzipped, its records outside the window counted
//! as `outside_window`, the rest handed to the engine in `eventTime` order. A file whose alerts
//! the store failed to record (the ack's `store_errors`) is handed over once more; failing again,
//! it becomes a health error naming the file.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::event_summary;
use super::health::HealthRegistry;
use super::sqs::skip_object;
use crate::pipeline::SourceItem;

const KIND: &str = "s3_backfill";

/// How long after the window a log file may still carry its records. CloudTrail delivers
/// within about 15 minutes; an hour leaves room for late deliveries.
const DELIVERY_SLACK: Duration = Duration::hours(1);

fn default_region() -> String {
    "us-east-1".to_string()
}
fn default_concurrency() -> usize {
    8
}

/// `sources: [{type: s3_backfill, …}]`: read a window of a trail's bucket once, then stop.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3BackfillSettings {
    /// The trail's bucket.
    pub bucket: String,
    /// Key prefix: empty, anything above `AWSLogs/`, or down to `…/CloudTrail/<region>/`.
    #[serde(default)]
    pub prefix: String,
    /// Region of the bucket (default us-east-1).
    #[serde(default = "default_region")]
    pub region: String,
    /// Custom endpoint (a local S3); path-style addressing is used with it.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Start of the window: a duration back from now (`2h`, `30m`, `7d`) or an RFC 3339 time.
    pub since: String,
    /// End of the window (same forms); default now.
    #[serde(default)]
    pub until: Option<String>,
    /// Log files fetched in parallel (default 8).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

/// Why a backfill cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// `since` / `until` is neither a duration nor a time.
    #[error(
        "{field} '{value}' is not a time: use a duration back from now (`2h`, `30m`, `7d`) or an RFC 3339 time (`2024-05-01T14:00:00Z`, `2024-05-01`)"
    )]
    Time {
        /// `since` or `until`.
        field: &'static str,
        /// What was given.
        value: String,
    },
    /// `since` is not before `until`.
    #[error("the window is empty: since {since} is not before until {until}; swap them")]
    EmptyWindow {
        /// Start.
        since: DateTime<Utc>,
        /// End.
        until: DateTime<Utc>,
    },
    /// Listing failed (bucket, region, permissions, endpoint).
    #[error(
        "listing s3://{bucket}/{prefix}: {reason} (check the bucket name, its region, the endpoint and s3:ListBucket permission)"
    )]
    List {
        /// Bucket.
        bucket: String,
        /// Prefix listed.
        prefix: String,
        /// The SDK's error.
        reason: String,
    },
}

/// The time window of a backfill, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start.
    pub since: DateTime<Utc>,
    /// End.
    pub until: DateTime<Utc>,
}

impl Window {
    /// Parses `since` / `until` (durations count back from `now`; `until` defaults to `now`).
    pub fn parse(
        since: &str,
        until: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Self, BackfillError> {
        let at = |field, value: &str| {
            parse_time(value, now).ok_or_else(|| BackfillError::Time {
                field,
                value: value.to_string(),
            })
        };
        let since = at("since", since)?;
        let until = until.map_or(Ok(now), |u| at("until", u))?;
        if since >= until {
            return Err(BackfillError::EmptyWindow { since, until });
        }
        Ok(Self { since, until })
    }

    /// Whether `t` falls in the window.
    #[must_use]
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.since <= t && t <= self.until
    }

    /// The day folders that can hold the window's log files (delivery slack included).
    #[must_use]
    pub fn days(&self) -> Vec<NaiveDate> {
        let last = (self.until + DELIVERY_SLACK).date_naive();
        let mut d = self.since.date_naive();
        let mut out = Vec::new();
        while d <= last {
            out.push(d);
            match d.succ_opt() {
                Some(n) => d = n,
                None => break,
            }
        }
        out
    }

    /// Whether a log file delivered at `delivered` may hold records of the window: it holds
    /// records written before its delivery minute ended, and is delivered within the slack.
    #[must_use]
    pub fn may_hold(&self, delivered: DateTime<Utc>) -> bool {
        delivered + Duration::minutes(1) > self.since && delivered <= self.until + DELIVERY_SLACK
    }
}

/// `2h`, `30m`, `45s`, `7d`, `1w` back from `now`; `now`; RFC 3339; or a date (`2024-05-01`,
/// midnight UTC).
#[must_use]
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s == "now" {
        return Some(now);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc());
    }
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    let d = match unit {
        's' => Duration::try_seconds(n)?,
        'm' => Duration::try_minutes(n)?,
        'h' => Duration::try_hours(n)?,
        'd' => Duration::try_days(n)?,
        'w' => Duration::try_weeks(n)?,
        _ => return None,
    };
    now.checked_sub_signed(d)
}

/// A log file's delivery time from its name
/// (`<account>_CloudTrail_<region>_YYYYMMDDTHHmmZ_<unique>.json.gz`).
#[must_use]
pub fn delivery_time(key: &str) -> Option<DateTime<Utc>> {
    let name = key.rsplit('/').next()?;
    name.split('_').find_map(|part| {
        (part.len() == 14 && part.as_bytes()[8] == b'T' && part.ends_with('Z'))
            .then(|| chrono::NaiveDateTime::parse_from_str(part, "%Y%m%dT%H%MZ").ok())
            .flatten()
            .map(|t| t.and_utc())
    })
}

/// Where a prefix sits in CloudTrail's key layout (each variant holds the prefix, `/`-ended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    /// `…AWSLogs/`: children are accounts and organisation ids.
    Root(String),
    /// `…AWSLogs/o-xxxx/`: children are accounts.
    Org(String),
    /// `…AWSLogs/[o-xxxx/]<account>/`.
    Account(String),
    /// `…/<account>/CloudTrail/`: children are regions.
    Trail(String),
    /// `…/CloudTrail/<region>/`: day folders below.
    Region(String),
    /// Inside a region (a year or a day): listed as a whole.
    Deeper(String),
    /// Something else (`CloudTrail-Digest/`, a non-account folder): not read.
    Other(String),
}

/// Classifies a prefix (pure; a prefix above `AWSLogs/` becomes its `AWSLogs/`).
#[must_use]
pub fn classify(prefix: &str) -> Level {
    let mut p = prefix.trim_start_matches('/').to_string();
    if !p.is_empty() && !p.ends_with('/') {
        p.push('/');
    }
    let start = if p.starts_with("AWSLogs/") {
        Some(0)
    } else {
        p.find("/AWSLogs/").map(|i| i + 1)
    };
    let Some(start) = start else {
        p.push_str("AWSLogs/");
        return Level::Root(p);
    };
    let segs: Vec<&str> = p[start + "AWSLogs/".len()..]
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if segs.is_empty() {
        return Level::Root(p);
    }
    if let Some(i) = segs.iter().position(|s| *s == "CloudTrail") {
        return match segs.len() - i {
            1 => Level::Trail(p),
            2 => Level::Region(p),
            _ => Level::Deeper(p),
        };
    }
    let is_account = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    match segs.as_slice() {
        [org] if org.starts_with("o-") => Level::Org(p),
        [acct] if is_account(acct) => Level::Account(p),
        [org, acct] if org.starts_with("o-") && is_account(acct) => Level::Account(p),
        _ => Level::Other(p),
    }
}

/// One fetched log file, ready for the engine.
#[derive(Debug)]
pub struct FileBatch {
    /// `s3://bucket/key`.
    pub origin: String,
    /// The object's key (to fetch it again); empty when the fetch task itself failed.
    pub key: String,
    /// Skipped / unparseable items first, then the window's events in time order.
    pub items: Vec<SourceItem>,
    /// Why the file could not be read (it is also an `Unparseable` item).
    pub error: Option<String>,
}

/// Orders a file's items for the engine: its events outside `window` become `outside_window`
/// skips, the rest follow sorted by event time (stable: records without a time keep their place
/// at the front).
#[must_use]
pub fn window_items(items: Vec<SourceItem>, window: &Window) -> Vec<SourceItem> {
    let mut out = Vec::with_capacity(items.len());
    let mut events = Vec::new();
    for item in items {
        match item {
            SourceItem::Event(ev) => match ev.time {
                Some(t) if !window.contains(t) => out.push(SourceItem::Skipped("outside_window")),
                _ => events.push(ev),
            },
            other => out.push(other),
        }
    }
    events.sort_by_key(|ev| ev.time);
    out.extend(events.into_iter().map(SourceItem::Event));
    out
}

/// A backfill over one bucket and prefix.
#[derive(Clone)]
pub struct Backfill {
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    window: Window,
    concurrency: usize,
}

impl Backfill {
    /// A backfill of `s3://bucket/prefix` over `window`, `concurrency` files at a time.
    #[must_use]
    pub fn new(
        s3: aws_sdk_s3::Client,
        bucket: &str,
        prefix: &str,
        window: Window,
        concurrency: usize,
    ) -> Self {
        Self {
            s3,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            window,
            concurrency: concurrency.max(1),
        }
    }

    /// The window's log files, oldest delivery first: accounts and regions discovered with
    /// delimiter listings, then only the window's day folders listed.
    pub async fn list(&self) -> Result<Vec<String>, BackfillError> {
        let mut todo = vec![self.prefix.clone()];
        let mut keys = Vec::new();
        while let Some(p) = todo.pop() {
            match classify(&p) {
                Level::Root(p) | Level::Org(p) | Level::Trail(p) => {
                    todo.extend(self.children(&p).await?);
                }
                Level::Account(p) => todo.push(format!("{p}CloudTrail/")),
                Level::Region(p) => {
                    for day in self.window.days() {
                        keys.extend(
                            self.keys(&format!("{p}{}/", day.format("%Y/%m/%d")))
                                .await?,
                        );
                    }
                }
                Level::Deeper(p) => keys.extend(self.keys(&p).await?),
                Level::Other(p) => tracing::debug!(prefix = %p, "Not a CloudTrail log folder"),
            }
        }
        keys.retain(|k| delivery_time(k).is_none_or(|t| self.window.may_hold(t)));
        keys.sort_by(|a, b| (delivery_time(a), a).cmp(&(delivery_time(b), b)));
        keys.dedup();
        Ok(keys)
    }

    async fn list_page(
        &self,
        prefix: &str,
        delimiter: bool,
        token: Option<String>,
    ) -> Result<aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output, BackfillError> {
        let mut req = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_continuation_token(token);
        if delimiter {
            req = req.delimiter("/");
        }
        req.send().await.map_err(|e| BackfillError::List {
            bucket: self.bucket.clone(),
            prefix: prefix.to_string(),
            reason: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
        })
    }

    /// Sub-folders of `prefix` (delimiter listing).
    async fn children(&self, prefix: &str) -> Result<Vec<String>, BackfillError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self.list_page(prefix, true, token.take()).await?;
            out.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|c| c.prefix().map(str::to_string)),
            );
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// Every key below `prefix`.
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, BackfillError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self.list_page(prefix, false, token.take()).await?;
            out.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// Fetches `keys` (`concurrency` at a time) and sends them on `tx` in the order given.
    /// Stops early when `tx` is closed.
    pub async fn fetch_all(&self, keys: Vec<String>, tx: mpsc::Sender<FileBatch>) {
        let mut inflight = VecDeque::new();
        let mut keys = keys.into_iter();
        loop {
            while inflight.len() < self.concurrency
                && let Some(key) = keys.next()
            {
                let this = self.clone();
                inflight.push_back(tokio::spawn(async move { this.fetch_one(&key).await }));
            }
            let Some(next) = inflight.pop_front() else {
                return;
            };
            let batch = next.await.unwrap_or_else(|e| FileBatch {
                origin: format!("s3://{}", self.bucket),
                key: String::new(),
                items: Vec::new(),
                error: Some(format!("fetch task failed: {e}")),
            });
            if tx.send(batch).await.is_err() {
                inflight.iter().for_each(tokio::task::JoinHandle::abort);
                return;
            }
        }
    }

    /// One log file as a batch; a failure becomes an `Unparseable` item naming the object.
    pub async fn fetch_one(&self, key: &str) -> FileBatch {
        let origin = format!("s3://{}/{key}", self.bucket);
        let key = key.to_string();
        if let Some(kind) = skip_object(&key) {
            return FileBatch {
                origin,
                key,
                items: vec![SourceItem::Skipped(kind)],
                error: None,
            };
        }
        match super::get_object_bytes(&self.s3, &self.bucket, &key).await {
            Ok(raw) => {
                // A cut gzip stream keeps its complete records plus one item naming the cut.
                let items = window_items(
                    super::log_object_items(&self.bucket, &key, raw),
                    &self.window,
                );
                FileBatch {
                    origin,
                    key,
                    items,
                    error: None,
                }
            }
            Err(reason) => FileBatch {
                items: vec![SourceItem::Unparseable {
                    origin: origin.clone(),
                    reason: reason.clone(),
                }],
                origin,
                key,
                error: Some(reason),
            },
        }
    }
}

/// The profile source: lists the window, hands each file to the engine as a batch and waits for
/// its acknowledgement (progress in the source's health), then stops.
pub async fn run_source(
    settings: S3BackfillSettings,
    sdk: &aws_config::SdkConfig,
    name: &str,
    tx: mpsc::Sender<SourceItem>,
    health: HealthRegistry,
    cancel: CancellationToken,
) {
    let window = match Window::parse(&settings.since, settings.until.as_deref(), Utc::now()) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(source = %name, error = %e, "S3 backfill not started");
            health.error(name, KIND, &e.to_string());
            return;
        }
    };
    let bf = Backfill::new(
        super::s3_client(sdk),
        &settings.bucket,
        &settings.prefix,
        window,
        settings.concurrency,
    );
    let keys = tokio::select! {
        () = cancel.cancelled() => return,
        k = bf.list() => k,
    };
    let keys = match keys {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(source = %name, error = %e, "S3 backfill listing failed");
            health.error(name, KIND, &e.to_string());
            return;
        }
    };
    health.ok(name, KIND);
    tracing::info!(source = %name, files = keys.len(), since = %window.since, until = %window.until, "S3 backfill started");
    let (ftx, mut frx) = mpsc::channel::<FileBatch>(settings.concurrency.max(1));
    let consume = async {
        let mut files = 0u64;
        let mut unrecorded = Vec::new();
        while let Some(file) = frx.recv().await {
            if let Some(e) = &file.error {
                tracing::warn!(source = %name, object = %file.origin, error = %e, "Log file not read; counted as unparseable");
                health.error(name, KIND, &format!("{}: {e}", file.origin));
            }
            let origin = file.origin.clone();
            let (n, newest) = event_summary(&file.items);
            // Boxed: a retry holds a fetch and two hand-overs, too large to keep inline.
            let Ok(recorded) = Box::pin(send_recorded(&bf, &tx, file, name)).await else {
                return (files, unrecorded);
            };
            files += 1;
            if !recorded {
                let msg = format!(
                    "{origin}: its alerts were not recorded in the store (failed twice); check the store (disk space, permissions, the log), then run the backfill again (alerts already recorded are not repeated)"
                );
                tracing::error!(source = %name, object = %origin, "Log file's alerts not recorded; backfill it again");
                health.error(name, KIND, &msg);
                unrecorded.push(origin);
            }
            health.events(name, KIND, n, newest);
        }
        (files, unrecorded)
    };
    let (files, unrecorded) = tokio::select! {
        () = cancel.cancelled() => return,
        ((), done) = async { tokio::join!(bf.fetch_all(keys, ftx), consume) } => done,
    };
    if unrecorded.is_empty() {
        tracing::info!(source = %name, files, "S3 backfill done");
    } else {
        tracing::error!(source = %name, files, unrecorded = unrecorded.len(), objects = %unrecorded.join(", "),
            "S3 backfill done, but some files' alerts were not recorded; backfill them again");
    }
}

/// Hands one file to the engine; when its alerts could not all be recorded (the ack's
/// `store_errors`), fetches and hands it once more (the engine deduplicates what was recorded
/// the first time). `Ok(false)`: still not recorded after the retry. `Err`: the pipeline
/// stopped.
async fn send_recorded(
    bf: &Backfill,
    tx: &mpsc::Sender<SourceItem>,
    file: FileBatch,
    name: &str,
) -> Result<bool, String> {
    let ack = super::send_batch(tx, file.items).await?;
    if ack.store_errors == 0 {
        return Ok(true);
    }
    tracing::warn!(source = %name, object = %file.origin, store_errors = ack.store_errors,
        "Log file's alerts not all recorded; handing it to the engine once more");
    if file.key.is_empty() {
        return Ok(false);
    }
    let again = bf.fetch_one(&file.key).await;
    let ack = super::send_batch(tx, again.items).await?;
    Ok(ack.store_errors == 0)
}

#[cfg(test)]
mod tests;

//! Turns any supported input document into normalised [`CloudEvent`]s.
//!
//! One document may be a CloudTrail S3 log file (`{"Records":[…]}`), one record, an EventBridge
//! envelope, a LookupEvents page or row, an SNS envelope, a GCP LogEntry (or an array of them), a
//! Pub/Sub push or pull body, or a Falco alert. The shape is sniffed from the keys present, in the
//! order given in `FORMATS.md` §4.3; whatever is not understood is reported with a reason.

pub mod cloudtrail;
pub mod falco;
pub mod gcp;
pub mod lenient;
pub mod prefilter;
pub mod time;

use base64::Engine as _;
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

use crate::event::CloudEvent;

/// Documents that are understood but carry no API call (counted, never alerts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// CloudTrail digest file (integrity hashes, no records).
    Digest,
    /// `s3:TestEvent` sent when an S3 notification is configured.
    S3TestEvent,
    /// S3 event notification: the log file must be fetched by a live source.
    S3Notification,
    /// CloudTrail's own SNS notification (`s3ObjectKey` list): needs a live source too.
    CloudTrailNotification,
    /// EventBridge event that is not an API call (Insight, console action …).
    EventBridgeOther,
    /// A GCP LogEntry that is not an audit log (no `methodName`).
    NotAuditLog,
    /// Falco health message (`source: internal`).
    FalcoInternal,
    /// Falco alert from a source we do not read (syscall, k8s_audit …).
    FalcoOtherSource,
}

impl Skip {
    /// Stable name used in stats.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Digest => "digest",
            Skip::S3TestEvent => "s3_test_event",
            Skip::S3Notification => "s3_notification",
            Skip::CloudTrailNotification => "cloudtrail_notification",
            Skip::EventBridgeOther => "eventbridge_other",
            Skip::NotAuditLog => "not_audit_log",
            Skip::FalcoInternal => "falco_internal",
            Skip::FalcoOtherSource => "falco_other_source",
        }
    }
}

/// What one unit of input became.
#[derive(Debug)]
pub enum Normalized {
    /// A cloud API call.
    Event(Box<CloudEvent>),
    /// Understood, not an API call.
    Skipped(Skip),
    /// Not understood; the reason names what was missing or malformed.
    Unparseable(String),
}

/// Nesting limit for envelopes inside envelopes (SNS → EventBridge → …), so a crafted input
/// cannot recurse without bound.
const MAX_DEPTH: u8 = 4;

/// Longest event id kept as is: ids are remembered for dedupe (in memory and in the store), so
/// a longer one (hostile input) is replaced by its hash, which dedupes the same way.
pub const MAX_ID_BYTES: usize = 256;

/// Normalises one top-level JSON document, appending every record it carries to `out`.
pub fn normalize_document(raw: &RawValue, out: &mut Vec<Normalized>) {
    let start = out.len();
    normalize_at(raw, out, 0);
    cap_ids(&mut out[start..]);
}

/// Normalises a document given as text (envelopes carry documents as JSON strings).
pub fn normalize_str(text: &str, out: &mut Vec<Normalized>) {
    let start = out.len();
    normalize_text(text, out, 0);
    cap_ids(&mut out[start..]);
}

fn cap_ids(units: &mut [Normalized]) {
    for u in units {
        if let Normalized::Event(ev) = u
            && ev.id.len() > MAX_ID_BYTES
        {
            ev.id = fallback_id(&ev.id);
        }
    }
}

fn normalize_text(text: &str, out: &mut Vec<Normalized>, depth: u8) {
    match serde_json::from_str::<&RawValue>(text) {
        Ok(raw) => normalize_at(raw, out, depth),
        Err(e) => out.push(Normalized::Unparseable(format!("embedded JSON: {e}"))),
    }
}

fn fallback_id(raw: &str) -> String {
    let digest = Sha256::digest(raw.as_bytes());
    let mut s = String::with_capacity(40);
    s.push_str("sha256:");
    for b in &digest[..16] {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn normalize_at(raw: &RawValue, out: &mut Vec<Normalized>, depth: u8) {
    if depth > MAX_DEPTH {
        out.push(Normalized::Unparseable(
            "envelopes nested more than 4 deep".into(),
        ));
        return;
    }
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'[') => {
            match serde_json::from_str::<Vec<&RawValue>>(text) {
                Ok(items) => {
                    for item in items {
                        normalize_at(item, out, depth + 1);
                    }
                }
                Err(e) => out.push(Normalized::Unparseable(format!("array: {e}"))),
            }
            return;
        }
        Some(b'{') => {}
        _ => {
            out.push(Normalized::Unparseable("not a JSON object or array".into()));
            return;
        }
    }
    let doc: cloudtrail::Doc<'_> = match serde_json::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            out.push(Normalized::Unparseable(format!(
                "unexpected field type: {e}"
            )));
            return;
        }
    };
    if doc.is_record() {
        out.push(Normalized::Event(Box::new(cloudtrail::to_event(
            &doc,
            || fallback_id(text),
        ))));
        return;
    }
    if let Some(records) = doc.records {
        normalize_records(records, out, depth);
        return;
    }
    if doc.digest_start_time.is_some() {
        out.push(Normalized::Skipped(Skip::Digest));
        return;
    }
    if lenient::text(doc.sns_type.as_ref()) == Some("Notification") {
        match lenient::text(doc.sns_message.as_ref()) {
            Some(msg) => normalize_text(msg, out, depth + 1),
            None => out.push(Normalized::Unparseable(
                "SNS envelope without Message".into(),
            )),
        }
        return;
    }
    if lenient::text(doc.s3_event.as_ref()) == Some("s3:TestEvent") {
        out.push(Normalized::Skipped(Skip::S3TestEvent));
        return;
    }
    if doc.s3_bucket.is_some() {
        out.push(Normalized::Skipped(Skip::CloudTrailNotification));
        return;
    }
    if let Some(dt) = lenient::text(doc.detail_type.as_ref()) {
        match (dt, doc.detail) {
            ("AWS API Call via CloudTrail" | "AWS Console Signin via CloudTrail", Some(detail)) => {
                normalize_at(detail, out, depth + 1);
            }
            (_, None) => out.push(Normalized::Unparseable(
                "EventBridge envelope without detail".into(),
            )),
            _ => out.push(Normalized::Skipped(Skip::EventBridgeOther)),
        }
        return;
    }
    if let Some(events) = doc.events {
        normalize_at(events, out, depth + 1);
        return;
    }
    if let Some(ct) = lenient::text(doc.cloudtrail_event.as_ref()) {
        normalize_text(ct, out, depth + 1);
        return;
    }
    if doc.proto_payload.is_some() || doc.log_name.is_some() {
        normalize_log_entry(text, out);
        return;
    }
    if doc.output_fields.is_some() {
        normalize_falco(text, out);
        return;
    }
    if let Some(msg) = doc.message {
        normalize_pubsub_message(msg, out, depth);
        return;
    }
    if let Some(msgs) = doc.received_messages {
        match serde_json::from_str::<Vec<PulledMessage<'_>>>(msgs.get()) {
            Ok(items) => {
                for m in items {
                    match m.message {
                        Some(msg) => normalize_pubsub_message(msg, out, depth),
                        None => out.push(Normalized::Unparseable(
                            "Pub/Sub pull row without message".into(),
                        )),
                    }
                }
            }
            Err(e) => out.push(Normalized::Unparseable(format!("Pub/Sub pull body: {e}"))),
        }
        return;
    }
    if let Some(body) = lenient::text(doc.body.as_ref()) {
        // Lambda SQS trigger row: the SQS body as a string.
        normalize_text(body, out, depth + 1);
        return;
    }
    out.push(Normalized::Unparseable(
        "unknown document shape: no eventName, Records, protoPayload, output_fields or envelope key"
            .into(),
    ));
}

#[derive(serde::Deserialize)]
struct PulledMessage<'a> {
    #[serde(borrow)]
    message: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct RecordHead<'a> {
    #[serde(borrow, rename = "eventSource")]
    event_source: Option<std::borrow::Cow<'a, str>>,
}

fn normalize_records(records: &RawValue, out: &mut Vec<Normalized>, depth: u8) {
    let items = match record_items(records) {
        Ok(items) => items,
        Err(unit) => {
            out.push(unit);
            return;
        }
    };
    for item in items {
        normalize_record_item(item, out, depth);
    }
}

/// The elements of a `Records` array, or the unit that says it is none.
fn record_items(records: &RawValue) -> Result<Vec<&RawValue>, Normalized> {
    serde_json::from_str(records.get())
        .map_err(|e| Normalized::Unparseable(format!("Records is not an array: {e}")))
}

/// One element of a `Records` array (of a document at `depth`).
fn normalize_record_item(item: &RawValue, out: &mut Vec<Normalized>, depth: u8) {
    // S3 event notifications share the `Records` key; their records say `aws:s3`.
    let head: Option<RecordHead<'_>> = serde_json::from_str(item.get()).ok();
    if head.as_ref().and_then(|h| h.event_source.as_deref()) == Some("aws:s3") {
        out.push(Normalized::Skipped(Skip::S3Notification));
    } else {
        normalize_at(item, out, depth + 1);
    }
}

fn normalize_log_entry(text: &str, out: &mut Vec<Normalized>) {
    let mut notes = Vec::new();
    match lenient::value(text, "LogEntry", &mut notes) {
        Some(entry) => match gcp::to_event(&entry, || fallback_id(text)) {
            Ok(mut ev) => {
                lenient::mark(&mut ev, notes);
                out.push(Normalized::Event(Box::new(ev)));
            }
            Err(gcp::NotAudit::NoMethod) => out.push(Normalized::Skipped(Skip::NotAuditLog)),
        },
        None => out.push(Normalized::Unparseable(format!(
            "LogEntry: {}",
            notes.join("; ")
        ))),
    }
}

fn normalize_falco(text: &str, out: &mut Vec<Normalized>) {
    let mut notes = Vec::new();
    let Some(Value::Object(top)) = lenient::value(text, "alert", &mut notes) else {
        out.push(Normalized::Unparseable(format!(
            "Falco alert: {}",
            notes.join("; ")
        )));
        return;
    };
    out.push(match falco::to_event(&top, || fallback_id(text)) {
        falco::FalcoAlert::Event(mut ev) => {
            lenient::mark(&mut ev, notes);
            Normalized::Event(ev)
        }
        falco::FalcoAlert::Internal => Normalized::Skipped(Skip::FalcoInternal),
        falco::FalcoAlert::OtherSource(_) => Normalized::Skipped(Skip::FalcoOtherSource),
        falco::FalcoAlert::Incomplete(what) => {
            Normalized::Unparseable(format!("Falco alert without {what}"))
        }
    });
}

#[derive(serde::Deserialize)]
struct PubSubMessage<'a> {
    #[serde(borrow)]
    data: Option<std::borrow::Cow<'a, str>>,
}

fn normalize_pubsub_message(msg: &RawValue, out: &mut Vec<Normalized>, depth: u8) {
    let Ok(m) = serde_json::from_str::<PubSubMessage<'_>>(msg.get()) else {
        out.push(Normalized::Unparseable(
            "Pub/Sub message is not an object".into(),
        ));
        return;
    };
    let Some(data) = m.data else {
        out.push(Normalized::Unparseable(
            "Pub/Sub message without data".into(),
        ));
        return;
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(data.trim()));
    match decoded.map(String::from_utf8) {
        Ok(Ok(text)) => normalize_text(&text, out, depth + 1),
        Ok(Err(_)) => out.push(Normalized::Unparseable("Pub/Sub data is not UTF-8".into())),
        Err(e) => out.push(Normalized::Unparseable(format!(
            "Pub/Sub data is not base64: {e}"
        ))),
    }
}

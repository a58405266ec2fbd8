//! The replay fast path's reading of a document: one borrowed pass over its text (the
//! [`cloudtrail::Doc`] fields as slices, the rest skipped), and for a CloudTrail record that can
//! never drift (failed, data plane, read-only: most of a trail) only its id and why, with no
//! event built. Every other unit is what [`super::normalize_document`] gives, in the same order.
//!
//! The contract is equality with the full path: for any input the engine counts and alerts the
//! same (the replay equivalence test runs the corpus through both; the `replay_engine` fuzz
//! target compares them on arbitrary bytes). A record the prefilter cannot decide exactly (a
//! field of an unexpected type, a payload that might not parse) takes the full path.

use serde_json::value::RawValue;

use super::cloudtrail::{self, Doc};
use super::lenient::text;
use super::{
    MAX_DEPTH, MAX_ID_BYTES, Normalized, Skip, cap_ids, fallback_id, normalize_at,
    normalize_record_item, record_items,
};
use crate::pipeline::classify::Silent;

/// Where the prefilter's units go, in input order.
pub trait Sink {
    /// A unit exactly as [`super::normalize_document`] gives it.
    fn unit(&mut self, unit: Normalized);
    /// A CloudTrail record that can never drift: its dedupe id (capped like every id) and why.
    fn silent(&mut self, id: &str, kind: Silent);
}

/// Reads `text` when it is exactly one JSON object that reads as a document, sending its units
/// to `sink`; `false` (and nothing sent) otherwise, so the caller splits and reads it the usual
/// way. `true` means `text` was validated whole: it is one complete JSON value.
pub fn document(text: &str, sink: &mut impl Sink) -> bool {
    if !text.starts_with('{') {
        return false;
    }
    let Ok(doc) = serde_json::from_str::<Doc<'_>>(text) else {
        return false;
    };
    dispatch(&doc, text, None, 0, sink);
    true
}

/// Reads a document already split out of its input, sending its units to `sink`.
pub fn raw_document(raw: &RawValue, sink: &mut impl Sink) {
    let text = raw.get();
    // Checked first: serde would also read an array as a `Doc`, by position.
    let doc = if text.starts_with('{') {
        serde_json::from_str::<Doc<'_>>(text).ok()
    } else {
        None
    };
    match doc {
        Some(doc) => dispatch(&doc, text, Some(raw), 0, sink),
        None => general(raw, 0, sink),
    }
}

/// A parsed object at `depth`: records and `Records` files here, anything else the usual way.
fn dispatch(doc: &Doc<'_>, text: &str, raw: Option<&RawValue>, depth: u8, sink: &mut impl Sink) {
    if depth <= MAX_DEPTH {
        if doc.is_record() {
            record(doc, text, sink);
            return;
        }
        if let Some(records) = doc.records {
            records_array(records, depth, sink);
            return;
        }
    }
    match raw {
        Some(raw) => general(raw, depth, sink),
        // `text` parsed whole as a document, so it is one valid JSON value.
        None => match serde_json::from_str::<&RawValue>(text) {
            Ok(raw) => general(raw, depth, sink),
            Err(e) => sink.unit(Normalized::Unparseable(format!("malformed JSON: {e}"))),
        },
    }
}

/// What `normalize_at` makes of `raw` at `depth`, ids capped.
fn general(raw: &RawValue, depth: u8, sink: &mut impl Sink) {
    let mut units = Vec::new();
    normalize_at(raw, &mut units, depth);
    cap_ids(&mut units);
    for u in units {
        sink.unit(u);
    }
}

/// A CloudTrail record: silent ones by id, the rest as events.
fn record(doc: &Doc<'_>, text: &str, sink: &mut impl Sink) {
    if let Some(quiet) = cloudtrail::quiet(doc) {
        match quiet.id {
            Some(id) if id.len() <= MAX_ID_BYTES => sink.silent(id, quiet.kind),
            Some(id) => sink.silent(&fallback_id(id), quiet.kind),
            None => sink.silent(&fallback_id(text), quiet.kind),
        }
        return;
    }
    let mut ev = cloudtrail::to_event(doc, || fallback_id(text));
    if ev.id.len() > MAX_ID_BYTES {
        ev.id = fallback_id(&ev.id);
    }
    sink.unit(Normalized::Event(Box::new(ev)));
}

/// The `Records` of a CloudTrail log file (of a document at `depth`), record by record.
fn records_array(records: &RawValue, depth: u8, sink: &mut impl Sink) {
    let items = match record_items(records) {
        Ok(items) => items,
        Err(unit) => {
            sink.unit(unit);
            return;
        }
    };
    for item in items {
        let item_text = item.get();
        // Checked first: serde would also read an array as a `Doc`, by position.
        let doc = if item_text.starts_with('{') {
            serde_json::from_str::<Doc<'_>>(item_text).ok()
        } else {
            None
        };
        match doc {
            // As `normalize_record_item` decides from `eventSource` alone.
            Some(doc) if text(doc.event_source.as_ref()) == Some("aws:s3") => {
                sink.unit(Normalized::Skipped(Skip::S3Notification));
            }
            Some(doc) => dispatch(&doc, item_text, Some(item), depth + 1, sink),
            None => {
                let mut units = Vec::new();
                normalize_record_item(item, &mut units, depth);
                cap_ids(&mut units);
                for u in units {
                    sink.unit(u);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        silent: Vec<(String, Silent)>,
        units: Vec<Normalized>,
    }

    impl Sink for Collect {
        fn unit(&mut self, unit: Normalized) {
            self.units.push(unit);
        }
        fn silent(&mut self, id: &str, kind: Silent) {
            self.silent.push((id.to_string(), kind));
        }
    }

    #[test]
    fn silent_records_give_only_their_id_and_the_rest_give_events() {
        let mut c = Collect::default();
        let line = r#"{"eventName":"DescribeVpcs","readOnly":true,"eventID":"e1","eventSource":"ec2.amazonaws.com"}"#;
        assert!(document(line, &mut c));
        assert_eq!(c.silent, vec![("e1".to_string(), Silent::ReadOnly)]);
        let file = r#"{"Records":[{"eventName":"Decrypt","eventID":"e2"},{"eventName":"CreateVpc","eventID":"e3"},{"eventSource":"aws:s3"}]}"#;
        assert!(document(file, &mut c));
        assert_eq!(c.silent[1], ("e2".to_string(), Silent::DataPlane));
        assert!(matches!(&c.units[0], Normalized::Event(ev) if ev.id == "e3"));
        assert!(matches!(
            c.units[1],
            Normalized::Skipped(Skip::S3Notification)
        ));
        // A field that would be noted takes the full path, which notes it.
        let noted =
            r#"{"eventName":"DescribeVpcs","readOnly":true,"eventID":"e4","awsRegion":[1]}"#;
        assert!(document(noted, &mut c));
        assert!(matches!(&c.units[2], Normalized::Event(ev) if ev.id == "e4"));
        // Not one whole object: left to the splitter, nothing sent.
        for other in [
            r#"{"eventName":"DescribeVpcs"} {"eventName":"x"}"#,
            r#"{"eventName":"#,
            "[1]",
        ] {
            assert!(!document(other, &mut c), "{other}");
        }
        assert_eq!((c.silent.len(), c.units.len()), (2, 3));
    }
}

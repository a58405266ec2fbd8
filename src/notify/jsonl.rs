//! Alert JSON lines appended to a file (SIEM pickup), and the file writer Falco `file` output
//! shares. Each write is one `write_all` on an `O_APPEND` file, then an fsync.
//!
//! Idempotent delivery: the worker writes a line, then records the delivery in the store; a
//! `kill -9` between the two leaves a line whose outbox item is still `sending`, and it is sent
//! again after the restart. So every line the worker writes carries its delivery id
//! (`"delivery_id"`, or `tfdrift.delivery_id` in a Falco event's `output_fields`), and a
//! repeated attempt first looks for its id in the file's tail (where the lines of the last
//! moments before a crash are) and skips what is already there. A line torn by the crash is
//! ended before anything is appended, so it never glues onto the next one.

use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;

use super::{Message, SendError};
use crate::store::OutboxEntry;

/// How much of a file's end is searched for delivery ids already written.
const TAIL_BYTES: u64 = 4 * 1024 * 1024;

/// Lines for a message: one alert per line (a digest writes every held-back alert).
#[must_use]
pub fn render(msg: &Message) -> Vec<String> {
    match msg {
        Message::Alert { alert, .. } => vec![alert.to_json_line()],
        Message::Resolve { alert, .. } => {
            vec![serde_json::json!({"type": "resolve", "alert_id": alert.id}).to_string()]
        }
        Message::Digest { alerts } => alerts
            .iter()
            .map(crate::alert::Alert::to_json_line)
            .collect(),
    }
}

/// The id of one delivery of an outbox item: the alert and the outbox row (a resolve for the
/// same alert is another row, so another id).
#[must_use]
pub fn delivery_id(e: &OutboxEntry) -> String {
    format!("{}/{}", e.alert_id, e.id)
}

/// `line` (a JSON object) with `"delivery_id"` as its first key.
#[must_use]
pub fn with_delivery_id(line: &str, id: &str) -> String {
    let key = format!("\"delivery_id\":{}", serde_json::Value::from(id));
    match line.strip_prefix('{') {
        Some(rest) if rest.trim_start().starts_with('}') => format!("{{{key}}}"),
        Some(rest) => format!("{{{key},{rest}"),
        // Not an object (never rendered so): keep it whole, id first.
        None => format!("{{{key},\"line\":{}}}", serde_json::Value::from(line)),
    }
}

/// What a file line carries for delivery `id` (as serialised: no spaces).
fn marker(id: &str) -> String {
    format!("delivery_id\":{}", serde_json::Value::from(id))
}

/// Appends lines to `path` (created if missing) and syncs.
pub fn append(path: &Path, lines: &[String]) -> Result<(), SendError> {
    append_once(path, &[], lines, false).map(|_| ())
}

/// Appends `lines` (each carrying the delivery id at the same index of `ids`) and syncs. With
/// `check` (a repeated attempt: the item may have been written before a crash), lines whose id
/// is already in the file's last [`TAIL_BYTES`] are skipped. Returns how many were written.
pub fn append_once(
    path: &Path,
    ids: &[String],
    lines: &[String],
    check: bool,
) -> Result<usize, SendError> {
    let fail =
        |e: std::io::Error| SendError::retry(format!("appending to '{}': {e}", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(fail)?;
    let len = f.metadata().map_err(fail)?.len();
    let mut buf = String::new();
    let mut tail = Vec::new();
    if len > 0 {
        let from = if check {
            len.saturating_sub(TAIL_BYTES)
        } else {
            len - 1
        };
        f.seek(SeekFrom::Start(from)).map_err(fail)?;
        f.read_to_end(&mut tail).map_err(fail)?;
        if tail.last() != Some(&b'\n') {
            // The last line was cut (a crash mid-write): end it, so it stays one bad line.
            buf.push('\n');
        }
    }
    let tail = String::from_utf8_lossy(&tail);
    let mut written = 0;
    for (i, l) in lines.iter().enumerate() {
        if check
            && let Some(id) = ids.get(i)
            && tail.contains(&marker(id))
        {
            tracing::info!(file = %path.display(), delivery_id = %id, "Already written before a restart; not writing it again");
            continue;
        }
        buf.push_str(l);
        buf.push('\n');
        written += 1;
    }
    if written == 0 && buf.is_empty() {
        return Ok(0);
    }
    f.write_all(buf.as_bytes()).map_err(fail)?;
    f.sync_data().map_err(fail)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_id_goes_first_and_repeats_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let ids = vec!["tfd-1/7".to_string()];
        let line = vec![with_delivery_id(r#"{"id":"tfd-1"}"#, &ids[0])];
        assert_eq!(line[0], r#"{"delivery_id":"tfd-1/7","id":"tfd-1"}"#);
        assert_eq!(append_once(&p, &ids, &line, false).unwrap(), 1);
        // A torn line after it (a crash mid-write), then the repeat of the first delivery.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(br#"{"delivery_id":"tfd-2/8","id""#)
            .unwrap();
        assert_eq!(append_once(&p, &ids, &line, true).unwrap(), 0);
        let other = vec!["tfd-3/9".to_string()];
        let l3 = vec![with_delivery_id(r#"{"id":"tfd-3"}"#, &other[0])];
        assert_eq!(append_once(&p, &other, &l3, true).unwrap(), 1);
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0].matches("tfd-1/7").count(), 1);
        assert!(serde_json::from_str::<serde_json::Value>(lines[2]).is_ok());
        assert_eq!(with_delivery_id("{}", "x"), r#"{"delivery_id":"x"}"#);
    }
}

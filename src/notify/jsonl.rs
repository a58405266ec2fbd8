//! Alert JSON lines appended to a file (SIEM pickup), and the file writer Falco `file` output
//! shares. Each line is written with one `write_all` on an `O_APPEND` file.

use std::io::Write as _;
use std::path::Path;

use super::{Message, SendError};

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

/// Appends lines to `path` (created if missing) and syncs.
pub fn append(path: &Path, lines: &[String]) -> Result<(), SendError> {
    let mut buf = String::new();
    for l in lines {
        buf.push_str(l);
        buf.push('\n');
    }
    let res = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| {
            f.write_all(buf.as_bytes())?;
            f.sync_data()
        });
    res.map_err(|e| SendError::retry(format!("appending to '{}': {e}", path.display())))
}

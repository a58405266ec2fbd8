//! `tfdrift rules validate`: every problem in every rule file, at once.

use super::diag::{Code, Diagnostic};
use chrono::NaiveDate;
use std::path::PathBuf;

/// Validates rule files and directories. `known_channels` are the notification channels the
/// profile configures; when empty, the unknown-channel check is skipped. Expired ignore entries
/// are warned about relative to the local date. Sorted by file, line, column.
#[must_use]
pub fn validate_paths(paths: &[PathBuf], known_channels: &[String]) -> Vec<Diagnostic> {
    validate_paths_at(paths, known_channels, chrono::Local::now().date_naive())
}

/// [`validate_paths`] with an explicit "today" (for tests).
#[must_use]
pub fn validate_paths_at(
    paths: &[PathBuf],
    known_channels: &[String],
    today: NaiveDate,
) -> Vec<Diagnostic> {
    let channels = (!known_channels.is_empty()).then_some(known_channels);
    let (set, mut diags) = super::load_all(paths, channels);
    for entry in &set.ignores {
        if let Some(expires) = entry.expires.filter(|d| today > *d) {
            diags.push(
                Diagnostic::warning(
                    &entry.file,
                    entry.pos,
                    Code::ExpiredIgnore,
                    format!(
                        "ignore entry '{}' expired on {expires}; it no longer applies",
                        entry.id
                    ),
                )
                .with_hint("remove it, or extend 'expires' if the exception is still justified"),
            );
        }
    }
    diags.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    diags
}

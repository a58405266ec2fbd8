//! Replay: recorded files (or stdin) through the engine, in order.

use std::path::PathBuf;

use super::engine::{Engine, Signals};
use super::stats::Stats;
use crate::alert::Alert;
use crate::input::{Document, InputError, expand_inputs, read_input, split_documents};
use crate::normalize::{Normalized, normalize_document};

/// Runs one buffer (a file's contents) through the engine.
pub fn replay_bytes(
    engine: &mut Engine,
    file: &str,
    bytes: &[u8],
    stats: &mut Stats,
    on_alert: &mut dyn FnMut(Alert),
) {
    let mut units = Vec::new();
    let mut signals = Signals::default();
    split_documents(bytes, |doc| match doc {
        Document::Json(raw, line) => {
            units.clear();
            normalize_document(raw, &mut units);
            for unit in units.drain(..) {
                match unit {
                    Normalized::Event(ev) => {
                        for alert in engine.process(&ev, stats, &mut signals) {
                            on_alert(alert);
                        }
                    }
                    Normalized::Skipped(kind) => stats.skipped(kind.as_str()),
                    Normalized::Unparseable(reason) => {
                        stats.unparseable(&format!("{file}:{line}"), &reason);
                    }
                }
            }
        }
        Document::Malformed { line, reason } => {
            stats.unparseable(
                &format!("{file}:{line}"),
                &format!("malformed JSON: {reason}"),
            );
        }
    });
}

/// Replays every input (files, directories, `-`). A file that cannot be read is an error
/// for the caller to report; the caller decides whether to go on.
pub fn replay_paths(
    engine: &mut Engine,
    inputs: &[PathBuf],
    stats: &mut Stats,
    on_alert: &mut dyn FnMut(Alert),
) -> Result<(), InputError> {
    for path in expand_inputs(inputs)? {
        let bytes = read_input(&path)?;
        replay_bytes(engine, &path.display().to_string(), &bytes, stats, on_alert);
    }
    Ok(())
}

//! Replay: recorded files (or stdin) through the engine, in order, streamed in chunks so memory
//! stays flat however long a JSON-lines input is.

use std::path::PathBuf;

use super::engine::{Engine, Signals};
use super::stats::Stats;
use crate::alert::Alert;
use crate::input::{
    Document, InputError, expand_inputs, open_input, split_documents, stream_documents,
};
use crate::normalize::{Normalized, normalize_document};

/// Bytes read per chunk when streaming an input.
const CHUNK: usize = 8 << 20;

/// Processes one document: normalises it and runs every record through the engine.
fn process_document(
    engine: &mut Engine,
    file: &str,
    doc: Document<'_>,
    units: &mut Vec<Normalized>,
    stats: &mut Stats,
    on_alert: &mut dyn FnMut(Alert),
) {
    let mut signals = Signals::default();
    match doc {
        Document::Json(raw, line) => {
            units.clear();
            normalize_document(raw, units);
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
    }
}

/// Runs one in-memory buffer (a file's contents) through the engine.
pub fn replay_bytes(
    engine: &mut Engine,
    file: &str,
    bytes: &[u8],
    stats: &mut Stats,
    on_alert: &mut dyn FnMut(Alert),
) {
    let mut units = Vec::new();
    split_documents(bytes, |doc| {
        process_document(engine, file, doc, &mut units, stats, on_alert);
    });
}

/// Replays every input (files, directories, `-`), streaming each. A file that cannot be opened
/// or read is an error for the caller to report.
pub fn replay_paths(
    engine: &mut Engine,
    inputs: &[PathBuf],
    stats: &mut Stats,
    on_alert: &mut dyn FnMut(Alert),
) -> Result<(), InputError> {
    let mut units = Vec::new();
    for path in expand_inputs(inputs)? {
        let name = path.display().to_string();
        let reader = open_input(&path)?;
        stream_documents(reader, CHUNK, |doc| {
            process_document(engine, &name, doc, &mut units, stats, on_alert);
        })
        .map_err(|source| InputError::Io {
            path: name.clone(),
            source,
        })?;
    }
    Ok(())
}

//! Replay: recorded files (or stdin) through the engine, in order, streamed in chunks so memory
//! stays flat however long a JSON-lines input is.
//!
//! A file that breaks off (truncated gzip), expands like a bomb, or cannot be opened is counted
//! with its name in [`Stats`] and the replay goes on with the next file; what it held before the
//! cut is read. A record without a time gets its file's (from a CloudTrail file name, else the
//! file's modification time), so two replays of the same log agree.
//!
//! Records are read by the prefilter ([`crate::normalize::prefilter`]) on `threads` threads in
//! chunks (see [`parallel`]); [`ReplayOptions::full_parse`] keeps the path that builds a full
//! event for every record, which gives the same output and exists to be compared against.

mod parallel;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::engine::{Engine, Signals};
use super::stats::Stats;
use crate::alert::Alert;
use crate::event::TimeSource;
use crate::input::{
    Document, InputError, expand_inputs_report, open_input, split_documents, stream_documents,
};
use crate::normalize::time::time_from_file_name;
use crate::normalize::{Normalized, normalize_document};

/// Bytes read per chunk when streaming an input (the full path; the fast path's largest).
const CHUNK: usize = 8 << 20;

/// The fast path's smallest chunk: below it, the hand-over per chunk starts to show.
const MIN_CHUNK: usize = 1 << 20;

/// Memory the fast path may give to chunks in flight, raw and parsed (issue 19: a replay of
/// any length stays under 100 MB with the state index, the catalog and the 200,000-id dedupe
/// window, which take about 70 MB of their own: measured with `/usr/bin/time -v` over 1M
/// corpus records, 8 MiB chunks gave 94 MB at 1 thread and 126 MB at 2; a 32 MiB budget 97 MiB
/// at 1 thread, 93 MiB at 2).
pub const CHUNK_BUDGET: usize = 24 << 20;

/// The fast path's chunk size with `threads` parsing threads: the budget over the chunks in
/// flight. With T threads at most T + 3 raw chunks and 2T parsed ones are held (see
/// [`parallel`]); a parsed chunk is counted at its raw size, which holds for a trail of mostly
/// silent records (only their ids are kept) — an input of nothing but mutating records holds
/// more, each parsed event keeping its payloads. So `3 (T + 1)` chunks: 4 MiB for 1 thread,
/// about 2.7 MiB for 2, 1 MiB (the floor) from 8 threads up, where memory grows past the
/// budget by 3 MiB per thread.
#[must_use]
pub fn chunk_size(threads: usize) -> usize {
    (CHUNK_BUDGET / (3 * (threads.max(1) + 1))).clamp(MIN_CHUNK, CHUNK)
}

/// `--threads`' default: the available cores, at most as many as [`CHUNK_BUDGET`] holds chunks
/// of the smallest size for (7).
#[must_use]
pub fn default_threads() -> usize {
    let in_budget = CHUNK_BUDGET / (3 * MIN_CHUNK) - 1;
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(in_budget)
}

/// The time given to a file's records that carry none.
pub type FallbackTime = Option<(DateTime<Utc>, TimeSource)>;

/// The stand-in time for `path`'s records that carry none: the delivery time in a CloudTrail
/// file name, else the file's modification time; none for stdin.
#[must_use]
pub fn fallback_time(path: &Path) -> FallbackTime {
    if path.as_os_str() == "-" {
        return None;
    }
    if let Some(t) = time_from_file_name(&path.to_string_lossy()) {
        return Some((t, TimeSource::FileName));
    }
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    Some((DateTime::<Utc>::from(modified), TimeSource::FileModified))
}

/// Processes one document: normalises it and runs every record through the engine.
fn process_document(
    engine: &mut Engine,
    file: &str,
    fallback: FallbackTime,
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
                    Normalized::Event(mut ev) => {
                        if ev.time.is_none()
                            && let Some((t, source)) = fallback
                        {
                            ev.time = Some(t);
                            ev.time_source = Some(source);
                        }
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

/// Runs one in-memory buffer (named `file`) through the engine as a replay of a file reads it:
/// cut into chunks of about `chunk` bytes at document boundaries, with `options`. Whatever the
/// options and the chunk size, the alerts and stats are the same (the fuzz target checks it).
pub fn replay_bytes_with(
    engine: &mut Engine,
    file: &str,
    bytes: &[u8],
    chunk: usize,
    options: ReplayOptions,
    stats: &mut Stats,
    on_alert: &mut dyn FnMut(Alert),
) {
    if options.full_parse {
        let mut units = Vec::new();
        let fallback = time_from_file_name(file).map(|t| (t, TimeSource::FileName));
        let read = stream_documents(bytes, chunk, |doc| {
            process_document(engine, file, fallback, doc, &mut units, stats, on_alert);
        });
        // Reading from memory cannot fail.
        debug_assert!(read.is_ok());
        return;
    }
    let inputs = vec![parallel::Input::Bytes {
        name: file.to_string(),
        bytes,
    }];
    parallel::replay(engine, inputs, chunk, options.threads, stats, on_alert);
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
    let fallback = time_from_file_name(file).map(|t| (t, TimeSource::FileName));
    split_documents(bytes, |doc| {
        process_document(engine, file, fallback, doc, &mut units, stats, on_alert);
    });
}

/// How a replay reads its inputs. Whatever the options, the alerts, their order and the stats
/// are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Threads that parse (the engine runs on the caller's); 1 parses on the caller's thread.
    /// Inputs are read (and gunzipped) on one more thread, whatever the number.
    pub threads: usize,
    /// Build a full event for every record, one document at a time, as before the prefilter
    /// existed: slower, kept to compare the fast path against (tests, `--full-parse`).
    pub full_parse: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            threads: 1,
            full_parse: false,
        }
    }
}

/// Replays every input (files, directories, `-`), streaming each. A named input that does not
/// exist is an error (before anything is read); a file that cannot be opened or read, or whose
/// content is cut short, is counted in `stats` (with its name) and the replay goes on.
pub fn replay_paths(
    engine: &mut Engine,
    inputs: &[PathBuf],
    stats: &mut Stats,
    on_alert: &mut dyn FnMut(Alert),
) -> Result<(), InputError> {
    replay_paths_with(engine, inputs, ReplayOptions::default(), stats, on_alert)
}

/// [`replay_paths`] with explicit [`ReplayOptions`].
pub fn replay_paths_with(
    engine: &mut Engine,
    inputs: &[PathBuf],
    options: ReplayOptions,
    stats: &mut Stats,
    on_alert: &mut dyn FnMut(Alert),
) -> Result<(), InputError> {
    let expanded = expand_inputs_report(inputs)?;
    for u in &expanded.unread {
        tracing::warn!(path = %u.path, kind = u.kind, detail = %u.detail, "Input not read");
        stats.input_unread(&u.path, u.kind, &u.detail);
    }
    if !options.full_parse {
        let inputs = expanded
            .files
            .into_iter()
            .map(parallel::Input::Path)
            .collect();
        let chunk = chunk_size(options.threads);
        parallel::replay(engine, inputs, chunk, options.threads, stats, on_alert);
        return Ok(());
    }
    let mut units = Vec::new();
    for path in expanded.files {
        let name = path.display().to_string();
        let mut reader = match open_input(&path) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(path = %name, error = %e, "Input not read");
                stats.input_unread(&name, "unreadable", &e.to_string());
                continue;
            }
        };
        let fallback = fallback_time(&path);
        let read = stream_documents(&mut reader, CHUNK, |doc| {
            process_document(engine, &name, fallback, doc, &mut units, stats, on_alert);
        });
        if let Err(e) = read {
            tracing::warn!(path = %name, error = %e, "Input read failed; what came before was read");
            stats.input_cut(&name, "read_error", &e.to_string());
        }
        if let Some(cut) = reader.cut() {
            tracing::warn!(path = %name, kind = cut.kind(), detail = %cut, "Input cut short");
            stats.input_cut(&name, cut.kind(), &cut.to_string());
        }
    }
    Ok(())
}

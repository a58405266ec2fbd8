//! The replay fast path: each input cut into chunks of whole documents ([`Chunker`]), each
//! chunk read by the prefilter ([`prefilter`]) into what the engine needs, and the chunks fed to
//! the engine strictly in input order, so the alerts, their order, dedupe and every counter are
//! those of a one-document-at-a-time replay.
//!
//! A reader thread opens the inputs and cuts chunks (decompressing gzip meanwhile, in parallel
//! with the parse). With one thread the caller's thread reads each chunk and runs the engine on
//! it; with `threads` > 1, `threads` workers read chunks and the caller's thread runs the engine
//! on the results in order. What is in flight is bounded whatever the input's length: with one
//! thread, three raw chunks (the one filled, the one handed over, the one parsed) and one parsed;
//! with `threads` = T, at most T + 3 raw chunks (filled, queued, one per worker, one handed to
//! the queue) and 2T parsed ones (one per worker, T − 1 waiting in order, the engine's). See
//! [`super::chunk_size`] for how the chunk size keeps that within a memory budget.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::{FallbackTime, fallback_time};
use crate::alert::Alert;
use crate::input::{
    Chunk, Chunker, Document, DocumentSink, InputReader, MAX_DOCUMENT, open_input,
    oversized_reason, split_documents_fast,
};
use crate::normalize::Normalized;
use crate::normalize::prefilter::{self, Sink};
use crate::pipeline::classify::Silent;
use crate::pipeline::engine::{Engine, Signals};
use crate::pipeline::stats::Stats;

/// An input to replay.
pub(super) enum Input<'b> {
    /// A file (gzip by magic bytes) or `-` for stdin.
    Path(PathBuf),
    /// Bytes in memory, named (the name gives the records' fallback time), read as they are.
    Bytes {
        /// The name in origins (`name:line`).
        name: String,
        /// The content.
        bytes: &'b [u8],
    },
}

/// One chunk's documents as the engine needs them, in order.
#[derive(Default)]
struct Parsed {
    items: Vec<Item>,
    /// The silent records' ids, end to end.
    ids: String,
}

enum Item {
    /// A record that can never drift: its id is `ids[start..end]`.
    Silent {
        start: usize,
        end: usize,
        kind: Silent,
    },
    /// Any other unit, with the line of its document.
    Unit { line: usize, unit: Normalized },
    /// A span that is not JSON.
    Malformed { line: usize, reason: String },
}

/// Reads one chunk's documents into [`Parsed`].
struct ChunkSink {
    out: Parsed,
    /// Line of the document being read.
    line: usize,
}

impl Sink for ChunkSink {
    fn unit(&mut self, unit: Normalized) {
        self.out.items.push(Item::Unit {
            line: self.line,
            unit,
        });
    }

    fn silent(&mut self, id: &str, kind: Silent) {
        let start = self.out.ids.len();
        self.out.ids.push_str(id);
        self.out.items.push(Item::Silent {
            start,
            end: self.out.ids.len(),
            kind,
        });
    }
}

impl<'a> DocumentSink<'a> for ChunkSink {
    fn fast(&mut self, text: &'a str, line: usize) -> bool {
        self.line = line;
        prefilter::document(text, self)
    }

    fn document(&mut self, doc: Document<'a>) {
        match doc {
            Document::Json(raw, line) => {
                self.line = line;
                prefilter::raw_document(raw, self);
            }
            Document::Malformed { line, reason } => {
                self.out.items.push(Item::Malformed { line, reason });
            }
        }
    }
}

fn parse_chunk(bytes: &[u8], line: usize) -> Parsed {
    let mut sink = ChunkSink {
        out: Parsed::default(),
        line,
    };
    split_documents_fast(bytes, line, &mut sink);
    sink.out
}

/// What the reader produces, in input order.
enum Step<C> {
    /// The next chunks belong to this file.
    File {
        name: String,
        fallback: FallbackTime,
    },
    /// A file that could not be opened.
    Unreadable { name: String, error: String },
    /// Whole documents (raw, or already read by a worker).
    Chunk(C),
    /// A document past the size cap, skipped.
    Oversized { line: usize },
    /// Reading the current file failed; what came before was read.
    ReadError(String),
    /// The current file's content was cut short (gzip).
    Cut { kind: &'static str, detail: String },
}

/// A chunk for a worker, and where its result goes.
type Job = (RawChunk, SyncSender<Parsed>);

/// A raw chunk: its bytes and the line of its first byte.
struct RawChunk {
    bytes: Vec<u8>,
    line: usize,
}

/// An opened input.
enum Source<'b> {
    File(InputReader),
    Bytes(&'b [u8]),
}

impl Read for Source<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Source::File(r) => r.read(buf),
            Source::Bytes(b) => b.read(buf),
        }
    }
}

/// Opens and cuts every input in order, handing each step to `step`, which returns `false` to
/// stop reading.
fn read_inputs(inputs: Vec<Input<'_>>, chunk: usize, mut step: impl FnMut(Step<RawChunk>) -> bool) {
    for input in inputs {
        let (name, fallback, source) = match input {
            Input::Path(path) => {
                let name = path.display().to_string();
                match open_input(&path) {
                    Ok(r) => (name, fallback_time(&path), Source::File(r)),
                    Err(e) => {
                        if !step(Step::Unreadable {
                            name,
                            error: e.to_string(),
                        }) {
                            return;
                        }
                        continue;
                    }
                }
            }
            Input::Bytes { name, bytes } => {
                let fallback = crate::normalize::time::time_from_file_name(&name)
                    .map(|t| (t, crate::event::TimeSource::FileName));
                (name, fallback, Source::Bytes(bytes))
            }
        };
        if !step(Step::File { name, fallback }) {
            return;
        }
        let mut chunks = Chunker::new(source, chunk, MAX_DOCUMENT);
        loop {
            let s = match chunks.next_chunk() {
                Ok(Some(Chunk::Text { bytes, line })) => Step::Chunk(RawChunk { bytes, line }),
                Ok(Some(Chunk::Oversized { line })) => Step::Oversized { line },
                Ok(None) => break,
                Err(e) => {
                    if !step(Step::ReadError(e.to_string())) {
                        return;
                    }
                    break;
                }
            };
            if !step(s) {
                return;
            }
        }
        if let Source::File(r) = chunks.reader()
            && let Some(cut) = r.cut()
            && !step(Step::Cut {
                kind: cut.kind(),
                detail: cut.to_string(),
            })
        {
            return;
        }
    }
}

/// Replays `inputs` on `threads` parsing threads (1: the caller's), reading chunks of about
/// `chunk` bytes.
pub(super) fn replay(
    engine: &mut Engine,
    inputs: Vec<Input<'_>>,
    chunk: usize,
    threads: usize,
    stats: &mut Stats,
    on_alert: &mut dyn FnMut(Alert),
) {
    let mut feeder = Feeder {
        engine,
        stats,
        on_alert,
        name: String::new(),
        fallback: None,
    };
    if threads <= 1 {
        // Reading (and gunzipping) on a thread of its own, one chunk ahead of the parse: a
        // rendezvous channel, so the reader holds at most the chunk it hands over and the one
        // it fills.
        let (tx, rx) = sync_channel::<Step<RawChunk>>(0);
        std::thread::scope(|scope| {
            scope.spawn(move || read_inputs(inputs, chunk, |s| tx.send(s).is_ok()));
            for s in rx {
                feeder.step(s.map(|raw| parse_chunk(&raw.bytes, raw.line)));
            }
        });
        return;
    }
    // In flight: the chunk the engine runs, `threads` more read or queued, one being cut.
    let (job_tx, job_rx) = sync_channel::<Job>(1);
    let job_rx = Mutex::new(job_rx);
    let (order_tx, order_rx) = sync_channel::<Step<Receiver<Parsed>>>(threads - 1);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let job_rx = &job_rx;
            scope.spawn(move || {
                loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((raw, done)) = job else { return };
                    // The engine side may be gone (it failed): nothing left to do then.
                    let _ = done.send(parse_chunk(&raw.bytes, raw.line));
                }
            });
        }
        scope.spawn(move || {
            read_inputs(inputs, chunk, |s| {
                let mut queued = true;
                let s = s.map(|raw| {
                    let (done, result) = sync_channel(1);
                    queued = job_tx.send((raw, done)).is_ok();
                    result
                });
                queued && order_tx.send(s).is_ok()
            });
        });
        for s in order_rx {
            let parsed = s.map(|result| result.recv());
            if let Step::Chunk(Err(_)) = parsed {
                // A worker panicked; the scope reports it.
                break;
            }
            feeder.step(parsed.map(Result::unwrap_or_default));
        }
    });
}

impl<A> Step<A> {
    /// The same step with its chunk (if it is one) mapped.
    fn map<B>(self, f: impl FnOnce(A) -> B) -> Step<B> {
        match self {
            Step::File { name, fallback } => Step::File { name, fallback },
            Step::Unreadable { name, error } => Step::Unreadable { name, error },
            Step::Chunk(c) => Step::Chunk(f(c)),
            Step::Oversized { line } => Step::Oversized { line },
            Step::ReadError(e) => Step::ReadError(e),
            Step::Cut { kind, detail } => Step::Cut { kind, detail },
        }
    }
}

/// Runs the steps through the engine in order.
struct Feeder<'e, 'c> {
    engine: &'e mut Engine,
    stats: &'e mut Stats,
    on_alert: &'e mut (dyn FnMut(Alert) + 'c),
    name: String,
    fallback: FallbackTime,
}

impl Feeder<'_, '_> {
    fn step(&mut self, step: Step<Parsed>) {
        match step {
            Step::File { name, fallback } => {
                self.name = name;
                self.fallback = fallback;
            }
            Step::Unreadable { name, error } => {
                tracing::warn!(path = %name, error = %error, "Input not read");
                self.stats.input_unread(&name, "unreadable", &error);
            }
            Step::Chunk(parsed) => self.chunk(parsed),
            Step::Oversized { line } => self.stats.unparseable(
                &format!("{}:{line}", self.name),
                &format!("malformed JSON: {}", oversized_reason(MAX_DOCUMENT)),
            ),
            Step::ReadError(e) => {
                tracing::warn!(path = %self.name, error = %e, "Input read failed; what came before was read");
                self.stats.input_cut(&self.name, "read_error", &e);
            }
            Step::Cut { kind, detail } => {
                tracing::warn!(path = %self.name, kind, detail = %detail, "Input cut short");
                self.stats.input_cut(&self.name, kind, &detail);
            }
        }
    }

    fn chunk(&mut self, parsed: Parsed) {
        let mut signals = Signals::default();
        for item in parsed.items {
            match item {
                Item::Silent { start, end, kind } => {
                    self.engine
                        .stage_silent(&parsed.ids[start..end], kind, self.stats);
                }
                Item::Unit { line, unit } => match unit {
                    Normalized::Event(mut ev) => {
                        if ev.time.is_none()
                            && let Some((t, source)) = self.fallback
                        {
                            ev.time = Some(t);
                            ev.time_source = Some(source);
                        }
                        for alert in self.engine.process(&ev, self.stats, &mut signals) {
                            (self.on_alert)(alert);
                        }
                    }
                    Normalized::Skipped(kind) => self.stats.skipped(kind.as_str()),
                    Normalized::Unparseable(reason) => {
                        self.stats
                            .unparseable(&format!("{}:{line}", self.name), &reason);
                    }
                },
                Item::Malformed { line, reason } => self.stats.unparseable(
                    &format!("{}:{line}", self.name),
                    &format!("malformed JSON: {reason}"),
                ),
            }
        }
    }
}

//! Reading recorded inputs: files, directories (recursed), stdin; gzip detected by magic bytes;
//! each buffer split into top-level JSON documents (one document, a concatenation, or JSON lines).
//!
//! Splitting is lenient: a malformed document is reported with its line and skipped, and reading
//! resumes at the next line that starts a new top-level value, so one bad line never hides the rest.
//! A document cut off at the end (a truncated file) still gives its complete records.
//!
//! Hostile input is bounded: a gzip stream that breaks off ends the read with a [`Cut`] naming
//! the byte (what came before is read), decompression stops past an expansion ratio (gzip
//! bombs), one document is held only up to [`MAX_DOCUMENT`] bytes, and a directory walk reads
//! only regular files, each file and directory once (symlink loops end, FIFOs never block).

mod chunks;
mod reader;
mod walk;

use std::io::Read;

use serde_json::value::RawValue;

pub use chunks::{Chunk, Chunker};
pub use reader::{
    Cut, InputReader, MAX_DOCUMENT, MAX_EXPANSION_RATIO, RATIO_FLOOR, gunzip_lenient, maybe_gunzip,
    open_input, read_input, read_input_cut,
};
pub use walk::{Expanded, Unread, expand_inputs, expand_inputs_report};

/// Where a document came from, for error messages that name the file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// File path, or `-` for stdin.
    pub file: String,
    /// 1-based line of the document's first byte.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Errors reading inputs (not errors inside documents: those are counted, not fatal).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The path does not exist or cannot be read.
    #[error("cannot read input '{path}': {source} (check the path and its permissions)")]
    Io {
        /// Offending path.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A gzip input that breaks off or expands past the ratio cap, read whole.
    #[error("input '{path}': {cut}")]
    Cut {
        /// Offending path.
        path: String,
        /// Where and why.
        cut: Cut,
    },
}

/// One top-level JSON document, or the reason a span could not be read as one.
#[derive(Debug)]
pub enum Document<'a> {
    /// A syntactically valid JSON value (borrowed; not yet interpreted).
    Json(&'a RawValue, usize),
    /// A span that is not valid JSON: line and parser message.
    Malformed {
        /// 1-based line where the bad document starts.
        line: usize,
        /// What the JSON parser said.
        reason: String,
    },
}

/// Splits a buffer into top-level JSON documents (a single value, concatenated values or JSON
/// lines), calling `f` for each in order. Invalid UTF-8 and malformed spans are reported, not fatal.
pub fn split_documents<'a>(bytes: &'a [u8], f: impl FnMut(Document<'a>)) {
    split_documents_at(bytes, 1, f);
}

/// [`split_documents`] for a buffer whose first byte is on line `first_line` (streamed chunks).
pub fn split_documents_at<'a>(bytes: &'a [u8], first_line: usize, f: impl FnMut(Document<'a>)) {
    split_utf8(bytes, first_line, &mut Plain(f), false);
}

/// Receives the documents of [`split_documents_fast`], in input order.
pub trait DocumentSink<'a> {
    /// Offered the rest of a line where a top-level document starts with `{`, without the JSON
    /// whitespace around it, and its line. Returns `true` only when it consumed exactly that
    /// text as ONE complete JSON value (it validated it whole, e.g. by deserializing it with
    /// serde_json); splitting goes on after it. `false`: it is split the usual way.
    fn fast(&mut self, text: &'a str, line: usize) -> bool;
    /// Every other document, as [`split_documents`] gives it.
    fn document(&mut self, doc: Document<'a>);
}

/// [`split_documents_at`] with a fast path for JSON lines: a line that holds one document is
/// first offered whole to [`DocumentSink::fast`], so the common case is parsed once, by the
/// sink, instead of validated here and parsed again there. Documents, lines and the handling of
/// malformed spans are exactly those of [`split_documents_at`].
pub fn split_documents_fast<'a>(
    bytes: &'a [u8],
    first_line: usize,
    sink: &mut impl DocumentSink<'a>,
) {
    split_utf8(bytes, first_line, sink, true);
}

/// A plain callback as a sink that takes no fast path.
struct Plain<F>(F);

impl<'a, F: FnMut(Document<'a>)> DocumentSink<'a> for Plain<F> {
    fn fast(&mut self, _: &'a str, _: usize) -> bool {
        false
    }
    fn document(&mut self, doc: Document<'a>) {
        (self.0)(doc);
    }
}

fn split_utf8<'a>(bytes: &'a [u8], first_line: usize, sink: &mut dyn DocumentSink<'a>, fast: bool) {
    let split = |text: &'a str, line: usize, sink: &mut dyn DocumentSink<'a>| {
        if fast {
            split_text_fast(text, line, sink);
        } else {
            split_text(text, line, &mut |d| sink.document(d));
        }
    };
    let mut start = 0usize;
    let mut line = first_line;
    while start < bytes.len() {
        match std::str::from_utf8(&bytes[start..]) {
            Ok(text) => {
                split(text, line, sink);
                return;
            }
            Err(e) => {
                // Process the valid lines before the bad byte, report its line, go on after it.
                let bad = start + e.valid_up_to();
                let line_start = bytes[start..bad]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(start, |i| start + i + 1);
                let prefix = std::str::from_utf8(&bytes[start..line_start]).unwrap_or_default();
                split(prefix, line, sink);
                let bad_line = line
                    + bytes[start..line_start]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count();
                sink.document(Document::Malformed {
                    line: bad_line,
                    reason: format!("invalid UTF-8 at byte {}", bad - line_start),
                });
                let next = bytes[bad..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |i| bad + i + 1);
                line = bad_line + 1;
                start = next;
            }
        }
    }
}

/// Streams documents out of a reader in chunks of about `chunk` bytes, cutting only where a
/// line starts a new top-level value, so memory stays flat for JSON-lines input of any length.
/// A single document is read whole up to [`MAX_DOCUMENT`] bytes (it has to be parsed whole);
/// past that it is reported and skipped.
pub fn stream_documents(
    reader: impl Read,
    chunk: usize,
    f: impl FnMut(Document<'_>),
) -> std::io::Result<()> {
    stream_documents_capped(reader, chunk, MAX_DOCUMENT, f)
}

/// [`stream_documents`] with an explicit document size cap: a document longer than
/// `max_document` bytes becomes one [`Document::Malformed`] naming its line, and reading resumes
/// at the next line that starts a new top-level value (the skipped bytes are never held).
pub fn stream_documents_capped(
    reader: impl Read,
    chunk: usize,
    max_document: usize,
    mut f: impl FnMut(Document<'_>),
) -> std::io::Result<()> {
    let mut chunks = Chunker::new(reader, chunk, max_document);
    while let Some(c) = chunks.next_chunk()? {
        match c {
            Chunk::Text { bytes, line } => split_documents_at(&bytes, line, &mut f),
            Chunk::Oversized { line } => f(Document::Malformed {
                line,
                reason: oversized_reason(max_document),
            }),
        }
    }
    Ok(())
}

/// Why a document past the size cap was skipped.
#[must_use]
pub fn oversized_reason(max_document: usize) -> String {
    format!(
        "document larger than the {max_document}-byte limit: skipped up to the next line that \
         starts a value (split the input into JSON lines)"
    )
}

fn count_lines(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}

/// The first offset where a line begins with `{` or `[` (after a newline), if any.
fn first_document_boundary(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(nl) = buf[i..].iter().position(|&b| b == b'\n') {
        let at = i + nl + 1;
        if matches!(buf.get(at), Some(b'{' | b'[')) {
            return Some(at);
        }
        i = at;
    }
    None
}

/// The last offset where a line begins with `{` or `[` (a top-level value starts), or 0.
fn last_document_boundary(buf: &[u8]) -> usize {
    let mut i = buf.len();
    while let Some(nl) = buf[..i].iter().rposition(|&b| b == b'\n') {
        if matches!(buf.get(nl + 1), Some(b'{' | b'[')) {
            return nl + 1;
        }
        i = nl;
    }
    0
}

fn split_text<'a>(text: &'a str, first_line: usize, f: &mut impl FnMut(Document<'a>)) {
    let mut pos = 0usize;
    // Line counting is incremental: `line_base` is the line number at byte `line_pos`.
    let mut line_base = first_line;
    let mut line_pos = 0usize;
    let mut line_at = |at: usize| {
        line_base += text.as_bytes()[line_pos..at]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        line_pos = at;
        line_base
    };
    while pos < text.len() {
        let rest = &text[pos..];
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
        loop {
            let before = stream.byte_offset();
            match stream.next() {
                None => return,
                Some(Ok(value)) => {
                    let start = pos + value_offset(rest, value);
                    f(Document::Json(value, line_at(start)));
                }
                Some(Err(e)) => {
                    let bad_start = pos + before + leading_ws(&rest[before..]);
                    pos = malformed(text, bad_start, &e, &mut line_at, f);
                    break;
                }
            }
        }
    }
}

/// Reports the malformed document at `bad_start` (salvaging the complete records of one cut off
/// at the end); returns where splitting resumes.
fn malformed<'a>(
    text: &'a str,
    bad_start: usize,
    e: &serde_json::Error,
    line_at: &mut impl FnMut(usize) -> usize,
    f: &mut impl FnMut(Document<'a>),
) -> usize {
    let line = line_at(bad_start);
    // serde's own position is relative to this span: the origin carries the line.
    let msg = e.to_string();
    let mut reason = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    let mut resume = bad_start;
    if e.is_eof() {
        // Cut off at the end (a truncated file): keep its complete records.
        let (items, end) = salvage_items(&text[bad_start..]);
        if !items.is_empty() {
            let n = items.len();
            for item in items {
                let at = bad_start + value_offset(&text[bad_start..], item);
                f(Document::Json(item, line_at(at)));
            }
            reason = format!("document cut off after {n} complete records (read): {reason}");
            resume = bad_start + end;
        }
    }
    f(Document::Malformed { line, reason });
    next_document_start(text, resume)
}

/// [`split_text`] one document at a time, offering each line that starts a document to the
/// sink's fast path first. Between documents only JSON whitespace is skipped, as serde's
/// stream does, so both give the same documents at the same lines.
fn split_text_fast<'a>(text: &'a str, first_line: usize, sink: &mut dyn DocumentSink<'a>) {
    let bytes = text.as_bytes();
    let mut line_base = first_line;
    let mut line_pos = 0usize;
    let mut line_at = |at: usize| {
        line_base += memchr::memchr_iter(b'\n', &bytes[line_pos..at]).count();
        line_pos = at;
        line_base
    };
    let mut pos = 0usize;
    loop {
        while pos < bytes.len() && matches!(bytes[pos], b' ' | b'\t' | b'\r' | b'\n') {
            pos += 1;
        }
        if pos >= bytes.len() {
            return;
        }
        if bytes[pos] == b'{' {
            let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
            let line = text[pos..end].trim_end_matches([' ', '\t', '\r']);
            if sink.fast(line, line_at(pos)) {
                pos += line.len();
                continue;
            }
        }
        let rest = &text[pos..];
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
        match stream.next() {
            None => return,
            Some(Ok(value)) => {
                let start = pos + value_offset(rest, value);
                sink.document(Document::Json(value, line_at(start)));
                pos += stream.byte_offset();
            }
            Some(Err(e)) => {
                let bad_start = pos + leading_ws(rest);
                pos = malformed(text, bad_start, &e, &mut line_at, &mut |d| sink.document(d));
            }
        }
    }
}

/// The complete records of a document cut off at the end: the elements of a top-level array,
/// or of the `Records` array of a CloudTrail log file (`{"Records":[…`), that parse whole.
/// Empty when the document is neither. With the offset just after the last one.
fn salvage_items(text: &str) -> (Vec<&RawValue>, usize) {
    let bytes = text.as_bytes();
    let mut pos = 0;
    match bytes.first() {
        Some(b'[') => {}
        Some(b'{') => {
            // Walk the top-level members up to `"Records": [`.
            pos = 1;
            loop {
                pos += leading_ws(&text[pos..]);
                let Some((key, end)) = next_value::<std::borrow::Cow<'_, str>>(text, pos) else {
                    return (Vec::new(), 0);
                };
                pos = end + leading_ws(&text[end..]);
                if bytes.get(pos) != Some(&b':') {
                    return (Vec::new(), 0);
                }
                pos += 1;
                pos += leading_ws(&text[pos..]);
                if key == "Records" {
                    if bytes.get(pos) != Some(&b'[') {
                        return (Vec::new(), 0);
                    }
                    break;
                }
                let Some((_, end)) = next_value::<&RawValue>(text, pos) else {
                    return (Vec::new(), 0);
                };
                pos = end + leading_ws(&text[end..]);
                if bytes.get(pos) != Some(&b',') {
                    return (Vec::new(), 0);
                }
                pos += 1;
            }
        }
        _ => return (Vec::new(), 0),
    }
    // `pos` is at the array's `[`.
    let mut items = Vec::new();
    pos += 1;
    loop {
        pos += leading_ws(&text[pos..]);
        let Some((item, end)) = next_value::<&RawValue>(text, pos) else {
            return (items, pos);
        };
        items.push(item);
        pos = end + leading_ws(&text[end..]);
        if bytes.get(pos) != Some(&b',') {
            return (items, pos);
        }
        pos += 1;
    }
}

/// Parses one JSON value starting at `pos`; the value and the offset just after it.
fn next_value<'a, T: serde::Deserialize<'a>>(text: &'a str, pos: usize) -> Option<(T, usize)> {
    let rest = text.get(pos..)?;
    let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<T>();
    let value = stream.next()?.ok()?;
    Some((value, pos + stream.byte_offset()))
}

/// Byte offset of a borrowed raw value inside `base` (both point into the same buffer).
fn value_offset(base: &str, value: &RawValue) -> usize {
    (value.get().as_ptr() as usize).saturating_sub(base.as_ptr() as usize)
}

fn leading_ws(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

/// After a malformed document, resume at the next line that starts a top-level value.
fn next_document_start(text: &str, from: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = from;
    while let Some(nl) = bytes[i..].iter().position(|&b| b == b'\n') {
        i += nl + 1;
        if matches!(bytes.get(i), Some(b'{' | b'[')) {
            return i;
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &str) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        split_documents(text.as_bytes(), |d| match d {
            Document::Json(v, line) => out.push((v.get().to_string(), line)),
            Document::Malformed { line, .. } => out.push(("BAD".into(), line)),
        });
        out
    }

    #[test]
    fn json_lines_with_a_bad_line_keep_going() {
        let docs = collect("{\"a\":1}\n{\"b\":\n{\"c\":3}\n");
        assert_eq!(
            docs,
            vec![
                ("{\"a\":1}".into(), 1),
                ("BAD".into(), 2),
                ("{\"c\":3}".into(), 3)
            ]
        );
    }

    #[test]
    fn pretty_document_is_one_value() {
        let docs = collect("{\n  \"Records\": [\n    {}\n  ]\n}\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].1, 1);
    }

    #[test]
    fn truncated_pretty_document_keeps_its_complete_records_and_reports_once() {
        let docs = collect("{\n  \"Records\": [\n    {\"a\": 1},\n    {\"b\"");
        assert_eq!(docs, vec![("{\"a\": 1}".into(), 3), ("BAD".into(), 1)]);
        let docs = collect("{\"x\": {\"Records\": 1}, \"Records\": [{\"a\":1}, {\"a\":2}, {");
        assert_eq!(
            docs,
            vec![
                ("{\"a\":1}".into(), 1),
                ("{\"a\":2}".into(), 1),
                ("BAD".into(), 1)
            ]
        );
        // The cut-off tail is part of the document: not reported a second time.
        let docs = collect("[{\"a\":1},\n{\"a\":");
        assert_eq!(docs, vec![("{\"a\":1}".into(), 1), ("BAD".into(), 1)]);
        // Not cut off at the end: no salvage.
        assert_eq!(
            collect("{\"Records\": [{\"a\":1}, x]}\n"),
            vec![("BAD".into(), 1)]
        );
    }

    #[test]
    fn an_oversized_document_is_skipped_to_the_next_value() {
        let mut text = String::from("{\"a\":1}\n{\"big\":\"");
        text.push_str(&"x".repeat(5000));
        text.push_str("\"}\n{\"c\":3}\n");
        let mut out = Vec::new();
        stream_documents_capped(text.as_bytes(), 64, 1000, |d| match d {
            Document::Json(v, line) => out.push((v.get().to_string(), line)),
            Document::Malformed { line, reason } => {
                assert!(reason.contains("1000-byte limit"), "{reason}");
                out.push(("BAD".into(), line));
            }
        })
        .unwrap();
        assert_eq!(
            out,
            vec![
                ("{\"a\":1}".into(), 1),
                ("BAD".into(), 2),
                ("{\"c\":3}".into(), 3)
            ]
        );
    }

    #[test]
    fn invalid_utf8_loses_only_its_line() {
        let mut bytes = b"{\"a\":1}\n{\"b\":\"".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(b"\"}\n{\"c\":3}\n");
        let mut out = Vec::new();
        split_documents(&bytes, |d| match d {
            Document::Json(v, line) => out.push((v.get().to_string(), line)),
            Document::Malformed { line, .. } => out.push(("BAD".into(), line)),
        });
        assert_eq!(
            out,
            vec![
                ("{\"a\":1}".into(), 1),
                ("BAD".into(), 2),
                ("{\"c\":3}".into(), 3)
            ]
        );
    }

    #[test]
    fn streaming_in_small_chunks_matches_whole_buffer() {
        let text = "{\"a\":1}\n{\n  \"b\": [1,\n 2]\n}\nnot json\n{\"c\":3}\n";
        let whole = collect(text);
        let mut streamed = Vec::new();
        stream_documents(text.as_bytes(), 5, |d| match d {
            Document::Json(v, line) => streamed.push((v.get().to_string(), line)),
            Document::Malformed { line, .. } => streamed.push(("BAD".into(), line)),
        })
        .unwrap();
        assert_eq!(streamed, whole);
        assert_eq!(whole.len(), 4);
    }
}

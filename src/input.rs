//! Reading recorded inputs: files, directories (recursed), stdin; gzip detected by magic bytes;
//! each buffer split into top-level JSON documents (one document, a concatenation, or JSON lines).
//!
//! Splitting is lenient: a malformed document is reported with its line and skipped, and reading
//! resumes at the next line that starts a new top-level value, so one bad line never hides the rest.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::value::RawValue;

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
    /// A `.gz` (or gzip-magic) file that does not decompress.
    #[error(
        "input '{path}' looks gzip-compressed but does not decompress: {source} (is the file truncated?)"
    )]
    Gzip {
        /// Offending path.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// Expands inputs: files stay, directories are walked recursively (sorted, hidden files skipped),
/// `-` means stdin.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let mut out = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            out.push(input.clone());
            continue;
        }
        let meta = std::fs::metadata(input).map_err(|source| InputError::Io {
            path: input.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            walk(input, &mut out)?;
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let io = |source| InputError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'))
        })
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if is_event_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Files a directory walk picks up: JSON, JSON lines and their gzipped forms.
fn is_event_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(name);
    name.ends_with(".json") || name.ends_with(".jsonl") || name.ends_with(".ndjson")
}

/// Reads a whole input into memory, decompressing gzip when the magic bytes say so.
pub fn read_input(path: &Path) -> Result<Vec<u8>, InputError> {
    let display = path.display().to_string();
    let raw = if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|source| InputError::Io {
                path: "-".into(),
                source,
            })?;
        buf
    } else {
        std::fs::read(path).map_err(|source| InputError::Io {
            path: display.clone(),
            source,
        })?
    };
    maybe_gunzip(raw).map_err(|source| InputError::Gzip {
        path: display,
        source,
    })
}

/// Decompresses `raw` if it starts with the gzip magic `1f 8b`, else returns it unchanged.
pub fn maybe_gunzip(raw: Vec<u8>) -> std::io::Result<Vec<u8>> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 8);
        flate2::read::MultiGzDecoder::new(raw.as_slice()).read_to_end(&mut out)?;
        Ok(out)
    } else {
        Ok(raw)
    }
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
pub fn split_documents_at<'a>(bytes: &'a [u8], first_line: usize, mut f: impl FnMut(Document<'a>)) {
    let mut start = 0usize;
    let mut line = first_line;
    while start < bytes.len() {
        match std::str::from_utf8(&bytes[start..]) {
            Ok(text) => {
                split_text(text, line, &mut f);
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
                split_text(prefix, line, &mut f);
                let bad_line = line
                    + bytes[start..line_start]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count();
                f(Document::Malformed {
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
/// line starts a new top-level value, so memory stays flat for JSON-lines input of any length
/// (a single huge document is still read whole: it has to be parsed whole).
pub fn stream_documents(
    mut reader: impl Read,
    chunk: usize,
    mut f: impl FnMut(Document<'_>),
) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(chunk + 4096);
    let mut line = 1usize;
    let mut eof = false;
    while !eof {
        // Fill up to `chunk` bytes beyond what is carried over.
        let target = buf.len() + chunk;
        while buf.len() < target {
            let before = buf.len();
            buf.resize(target, 0);
            let n = match reader.read(&mut buf[before..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
                Err(e) => return Err(e),
            };
            buf.truncate(before + n);
            if n == 0 {
                eof = true;
                break;
            }
        }
        let cut = if eof {
            buf.len()
        } else {
            last_document_boundary(&buf)
        };
        if cut == 0 {
            continue; // one document larger than the chunk: keep reading
        }
        split_documents_at(&buf[..cut], line, &mut f);
        line += buf[..cut].iter().filter(|&&b| b == b'\n').count();
        buf.drain(..cut);
    }
    Ok(())
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

/// Opens an input for streaming: a file (gzip detected by magic bytes) or `-` for stdin.
pub fn open_input(path: &Path) -> Result<Box<dyn Read + Send>, InputError> {
    let display = path.display().to_string();
    let io = |source| InputError::Io {
        path: display.clone(),
        source,
    };
    let mut reader: Box<dyn std::io::BufRead + Send> = if path.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(path).map_err(io)?,
        ))
    };
    let head = reader.fill_buf().map_err(io)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else {
        Ok(reader)
    }
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
                    let line = line_at(bad_start);
                    // serde's own position is relative to this span: the origin carries the line.
                    let msg = e.to_string();
                    let reason = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                    f(Document::Malformed { line, reason });
                    pos = next_document_start(text, bad_start);
                    break;
                }
            }
        }
    }
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
    fn truncated_pretty_document_reports_once() {
        let docs = collect("{\n  \"Records\": [\n    {\"a\": 1},\n    {\"b\"");
        assert_eq!(docs, vec![("BAD".into(), 1)]);
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

    #[test]
    fn gzip_roundtrip() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"{\"x\":1}").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(maybe_gunzip(gz).unwrap(), b"{\"x\":1}");
        assert_eq!(maybe_gunzip(b"plain".to_vec()).unwrap(), b"plain");
    }
}

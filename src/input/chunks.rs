//! Cutting a stream into owned chunks of whole documents: each chunk ends where a line starts a
//! new top-level value, so chunks split into documents independently (and in parallel) and
//! memory stays flat for JSON-lines input of any length. A document longer than the cap is
//! skipped (never held), reported by its line.

use std::io::Read;

use super::{count_lines, first_document_boundary, last_document_boundary};

/// One step of a [`Chunker`].
#[derive(Debug)]
pub enum Chunk {
    /// Whole documents, and the line of their first byte.
    Text {
        /// The bytes (about the chunk size; one document may make it longer).
        bytes: Vec<u8>,
        /// 1-based line of `bytes[0]` in the input.
        line: usize,
    },
    /// A document past the size cap starts at this line; it was skipped up to the next line
    /// that starts a value.
    Oversized {
        /// 1-based line where it starts.
        line: usize,
    },
}

/// Reads a stream in chunks of about `chunk` bytes cut at document boundaries (see the module
/// doc). What [`super::stream_documents_capped`] splits, as owned buffers.
pub struct Chunker<R> {
    reader: R,
    chunk: usize,
    max_document: usize,
    buf: Vec<u8>,
    line: usize,
    eof: bool,
    /// Skipping an oversized document: discard until a line starts a new value.
    skipping: bool,
}

impl<R: Read> Chunker<R> {
    /// Chunks of about `chunk` bytes from `reader`; one document is held up to `max_document`.
    pub fn new(reader: R, chunk: usize, max_document: usize) -> Self {
        Chunker {
            reader,
            chunk,
            max_document,
            buf: Vec::with_capacity(chunk + 4096),
            line: 1,
            eof: false,
            skipping: false,
        }
    }

    /// The reader (to ask a gzip reader whether it was cut short).
    pub fn reader(&self) -> &R {
        &self.reader
    }

    /// The next chunk; `None` at the end of the input. An I/O error ends the input: what came
    /// before it was returned.
    pub fn next_chunk(&mut self) -> std::io::Result<Option<Chunk>> {
        while !self.eof {
            self.fill()?;
            if self.skipping {
                if let Some(at) = first_document_boundary(&self.buf) {
                    self.line += count_lines(&self.buf[..at]);
                    self.buf.drain(..at);
                    self.skipping = false;
                } else {
                    // Keep the last byte: it may be the newline before the next value.
                    let keep = if self.eof { 0 } else { 1.min(self.buf.len()) };
                    let drop = self.buf.len() - keep;
                    self.line += count_lines(&self.buf[..drop]);
                    self.buf.drain(..drop);
                    continue;
                }
            }
            let cut = if self.eof {
                self.buf.len()
            } else {
                last_document_boundary(&self.buf)
            };
            if cut == 0 {
                if self.buf.len() > self.max_document {
                    let line = self.line;
                    self.skipping = true;
                    // Keep the last byte: it may be the newline before the next value.
                    let drop = self.buf.len() - 1;
                    self.line += count_lines(&self.buf[..drop]);
                    self.buf.drain(..drop);
                    self.buf.shrink_to(self.chunk + 4096);
                    return Ok(Some(Chunk::Oversized { line }));
                }
                continue; // one document larger than the chunk: keep reading
            }
            let mut rest = Vec::with_capacity(self.chunk + 4096);
            rest.extend_from_slice(&self.buf[cut..]);
            let mut bytes = std::mem::replace(&mut self.buf, rest);
            bytes.truncate(cut);
            let line = self.line;
            self.line += count_lines(&bytes);
            return Ok(Some(Chunk::Text { bytes, line }));
        }
        Ok(None)
    }

    /// Reads up to `chunk` bytes beyond what is carried over (less at the end of the input).
    fn fill(&mut self) -> std::io::Result<()> {
        let target = self.buf.len() + self.chunk;
        while self.buf.len() < target {
            let before = self.buf.len();
            self.buf.resize(target, 0);
            let n = match self.reader.read(&mut self.buf[before..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
                Err(e) => {
                    self.buf.truncate(before);
                    return Err(e);
                }
            };
            self.buf.truncate(before + n);
            if n == 0 {
                self.eof = true;
                break;
            }
        }
        Ok(())
    }
}

//! Opening inputs with bounds: gzip sniffed by magic bytes and decompressed as a stream that
//! ends cleanly where the data breaks off (truncated, corrupt) or expands past a ratio (a gzip
//! bomb), with a [`Cut`] saying where and why, so callers count it and keep what came before.

use std::io::Read;
use std::path::Path;

use super::InputError;

/// Largest single document read into memory; a longer one is skipped (counted, named) up to the
/// next line that starts a new value. CloudTrail log files are far smaller.
pub const MAX_DOCUMENT: usize = 64 << 20;

/// Gzip input may expand past [`RATIO_FLOOR`] bytes only while it stays under this many times
/// its compressed size: real logs compress 10-30×, a gzip bomb about 1000×.
pub const MAX_EXPANSION_RATIO: u64 = 200;

/// Decompressed bytes always allowed, whatever the ratio (small files compress very well).
pub const RATIO_FLOOR: u64 = 64 << 20;

/// Why an input's content was cut short. What came before the cut was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// The gzip stream stopped decompressing: the file ends early (truncated upload, copy
    /// interrupted) or is corrupt from that byte on.
    Gzip {
        /// The stream simply ended (truncated) rather than holding bad data.
        truncated: bool,
        /// Compressed byte offset where decoding stopped.
        at: u64,
        /// Decompressed bytes read before it.
        decompressed: u64,
        /// What the decoder said.
        reason: String,
    },
    /// Decompression passed [`MAX_EXPANSION_RATIO`]: reading stopped (a gzip bomb).
    Ratio {
        /// Compressed bytes read.
        compressed: u64,
        /// Decompressed bytes read.
        decompressed: u64,
    },
}

impl Cut {
    /// Stable counter name.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Cut::Gzip {
                truncated: true, ..
            } => "truncated_gzip",
            Cut::Gzip { .. } => "corrupt_gzip",
            Cut::Ratio { .. } => "expansion_ratio",
        }
    }
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cut::Gzip {
                truncated,
                at,
                decompressed,
                reason,
            } => write!(
                f,
                "gzip stream {} at compressed byte {at} ({reason}); the {decompressed} bytes before \
                 it were read (re-fetch or re-copy the file to read the rest)",
                if *truncated {
                    "ends early"
                } else {
                    "is corrupt"
                }
            ),
            Cut::Ratio {
                compressed,
                decompressed,
            } => write!(
                f,
                "decompressed to more than {MAX_EXPANSION_RATIO}x its size ({decompressed} bytes \
                 from {compressed}): reading stopped there (a gzip bomb? real logs expand 10-30x)"
            ),
        }
    }
}

/// Counts the bytes read from the underlying file, for offsets and the expansion ratio.
struct Counting {
    inner: Box<dyn Read + Send>,
    n: u64,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

enum Inner {
    Plain(std::io::BufReader<Counting>),
    Gz(Box<flate2::bufread::MultiGzDecoder<std::io::BufReader<Counting>>>),
}

/// An opened input: plain or gzip (by magic bytes). A gzip stream that breaks off or expands
/// past the ratio cap ends the read cleanly instead of failing it; [`InputReader::cut`] then
/// says where and why, so the caller counts it and goes on with the next file.
pub struct InputReader {
    inner: Inner,
    out: u64,
    max_ratio: u64,
    floor: u64,
    cut: Option<Cut>,
}

impl InputReader {
    /// Wraps `raw`, sniffing gzip from its first bytes.
    pub fn new(raw: Box<dyn Read + Send>) -> std::io::Result<Self> {
        Self::with_limits(raw, MAX_EXPANSION_RATIO, RATIO_FLOOR)
    }

    /// [`InputReader::new`] with explicit expansion limits (tests).
    pub fn with_limits(
        raw: Box<dyn Read + Send>,
        max_ratio: u64,
        floor: u64,
    ) -> std::io::Result<Self> {
        use std::io::BufRead as _;
        let mut reader = std::io::BufReader::new(Counting { inner: raw, n: 0 });
        let gz = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
        let inner = if gz {
            Inner::Gz(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
        } else {
            Inner::Plain(reader)
        };
        Ok(Self {
            inner,
            out: 0,
            max_ratio,
            floor,
            cut: None,
        })
    }

    /// Why the content was cut short, if it was.
    #[must_use]
    pub fn cut(&self) -> Option<&Cut> {
        self.cut.as_ref()
    }

    /// Gives up the cut (the reader is done with).
    #[must_use]
    pub fn into_cut(self) -> Option<Cut> {
        self.cut
    }
}

impl Read for InputReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cut.is_some() {
            return Ok(0);
        }
        let dec = match &mut self.inner {
            Inner::Plain(r) => return r.read(buf),
            Inner::Gz(d) => d,
        };
        match dec.read(buf) {
            Ok(n) => {
                self.out += n as u64;
                let compressed = dec.get_ref().get_ref().n.max(1);
                if self.out > self.floor && self.out > compressed.saturating_mul(self.max_ratio) {
                    self.cut = Some(Cut::Ratio {
                        compressed,
                        decompressed: self.out,
                    });
                }
                Ok(n)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let src = dec.get_ref();
                let at = src.get_ref().n - src.buffer().len() as u64;
                self.cut = Some(Cut::Gzip {
                    truncated: e.kind() == std::io::ErrorKind::UnexpectedEof,
                    at,
                    decompressed: self.out,
                    reason: e.to_string(),
                });
                Ok(0)
            }
        }
    }
}

/// Reads a whole input into memory, decompressing gzip when the magic bytes say so. A gzip
/// stream that breaks off or expands past the ratio cap is an error here; see
/// [`read_input_cut`] to keep what came before.
pub fn read_input(path: &Path) -> Result<Vec<u8>, InputError> {
    match read_input_cut(path)? {
        (bytes, None) => Ok(bytes),
        (_, Some(cut)) => Err(InputError::Cut {
            path: path.display().to_string(),
            cut,
        }),
    }
}

/// Reads a whole input into memory with [`InputReader`]: the bytes up to any cut, and the cut.
pub fn read_input_cut(path: &Path) -> Result<(Vec<u8>, Option<Cut>), InputError> {
    let display = path.display().to_string();
    let io = |source| InputError::Io {
        path: display.clone(),
        source,
    };
    let mut reader = open_input(path)?;
    let mut buf = Vec::new();
    reader.read_to_end(&mut buf).map_err(io)?;
    Ok((buf, reader.into_cut()))
}

/// Decompresses `raw` if it starts with the gzip magic `1f 8b`, else returns it unchanged. A
/// cut (truncated, corrupt, past the ratio cap) is an error; [`gunzip_lenient`] keeps the rest.
pub fn maybe_gunzip(raw: Vec<u8>) -> std::io::Result<Vec<u8>> {
    match gunzip_lenient(raw) {
        (bytes, None) => Ok(bytes),
        (_, Some(cut)) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            cut.to_string(),
        )),
    }
}

/// Decompresses `raw` if gzip (else returns it as is), bounded by the expansion-ratio cap: the
/// bytes before any cut, and the cut.
#[must_use]
pub fn gunzip_lenient(raw: Vec<u8>) -> (Vec<u8>, Option<Cut>) {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return (raw, None);
    }
    let len = raw.len();
    let mut out = Vec::with_capacity(len.saturating_mul(8).min(64 << 20));
    let mut reader = match InputReader::new(Box::new(std::io::Cursor::new(raw))) {
        Ok(r) => r,
        Err(e) => {
            return (
                out,
                Some(Cut::Gzip {
                    truncated: false,
                    at: 0,
                    decompressed: 0,
                    reason: e.to_string(),
                }),
            );
        }
    };
    // Reading from memory only fails through the decoder, which the reader turns into a cut.
    let _ = reader.read_to_end(&mut out);
    (out, reader.into_cut())
}

/// Opens an input for streaming: a file (gzip detected by magic bytes) or `-` for stdin.
pub fn open_input(path: &Path) -> Result<InputReader, InputError> {
    let display = path.display().to_string();
    let io = |source| InputError::Io {
        path: display.clone(),
        source,
    };
    let raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(io)?)
    };
    InputReader::new(raw).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn a_truncated_gzip_ends_the_read_with_a_cut_naming_the_offset() {
        let text = (0..2000).fold(String::new(), |mut s, i| {
            use std::fmt::Write as _;
            let _ = writeln!(s, "{{\"n\":{i}}}");
            s
        });
        let mut gz = gzip(text.as_bytes());
        gz.truncate(gz.len() - 40);
        let len = gz.len() as u64;
        let mut reader = InputReader::new(Box::new(std::io::Cursor::new(gz))).unwrap();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert!(out.len() > 1000 && text.as_bytes().starts_with(&out));
        match reader.cut() {
            Some(Cut::Gzip {
                truncated: true,
                at,
                decompressed,
                ..
            }) => {
                assert_eq!(*at, len);
                assert_eq!(*decompressed, out.len() as u64);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(reader.cut().unwrap().kind(), "truncated_gzip");
    }

    #[test]
    fn expansion_past_the_ratio_stops_the_read() {
        let zeros = vec![b'0'; 4 << 20];
        let gz = gzip(&zeros);
        let mut reader =
            InputReader::with_limits(Box::new(std::io::Cursor::new(gz)), 100, 1 << 20).unwrap();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert!(out.len() < 4 << 20, "{}", out.len());
        assert_eq!(reader.cut().map(Cut::kind), Some("expansion_ratio"));
        // Plain input has no ratio.
        let mut plain =
            InputReader::with_limits(Box::new(std::io::Cursor::new(zeros)), 100, 1 << 20).unwrap();
        let mut out = Vec::new();
        plain.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 4 << 20);
        assert!(plain.cut().is_none());
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

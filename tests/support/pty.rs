//! A pseudo-terminal harness for the monitor: runs the real binary on a pty (its own session,
//! the pty as its controlling terminal), writes keystrokes, and times each keystroke until the
//! frame that shows it arrives on the master side. Shared by `tests/tui_e2e.rs` (reports the
//! figures, asserts correctness only) and `benches/tui_frame.rs` (the figures).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything the monitor wrote, with when each chunk arrived.
#[derive(Default)]
struct Output {
    bytes: Vec<u8>,
    /// (end offset in `bytes`, arrival).
    chunks: Vec<(usize, Instant)>,
    closed: bool,
}

/// The monitor on a pty.
pub struct Pty {
    master: std::fs::File,
    child: Child,
    out: Arc<Mutex<Output>>,
}

/// Percentile (0–100) of sorted samples.
#[must_use]
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted[i.min(sorted.len() - 1)]
}

impl Pty {
    /// Starts `bin args…` on a `cols`×`rows` pty with `env` set.
    pub fn spawn(bin: &str, args: &[String], env: &[(&str, &str)], cols: u16, rows: u16) -> Pty {
        let ws = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(&ws, None).expect("openpty");
        let slave = std::fs::File::from(pty.slave);
        // `setsid -c`: a new session whose controlling terminal is the pty, so the monitor's
        // /dev/tty is this pty, never the terminal running the tests.
        let mut cmd = Command::new("setsid");
        cmd.arg("-c")
            .arg(bin)
            .args(args)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("TERM", "xterm-256color")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .expect("running setsid (util-linux) and the tfdrift binary");
        let master = std::fs::File::from(pty.master);
        let mut reader = master.try_clone().unwrap();
        let out = Arc::new(Mutex::new(Output::default()));
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        sink.lock().unwrap().closed = true;
                        return;
                    }
                    Ok(n) => {
                        let at = Instant::now();
                        let mut o = sink.lock().unwrap();
                        o.bytes.extend_from_slice(&buf[..n]);
                        let end = o.bytes.len();
                        o.chunks.push((end, at));
                    }
                }
            }
        });
        Pty { master, child, out }
    }

    /// Bytes received so far.
    pub fn len(&self) -> usize {
        self.out.lock().unwrap().bytes.len()
    }

    /// Writes raw bytes (a keystroke) and returns when they were written.
    pub fn send(&mut self, bytes: &[u8]) -> Instant {
        self.master.write_all(bytes).unwrap();
        self.master.flush().unwrap();
        Instant::now()
    }

    /// Waits until `needle` appears in the output after byte `from`; returns the arrival of
    /// the chunk that completed it, or `None` after `timeout`.
    pub fn wait_for(&self, needle: &[u8], from: usize, timeout: Duration) -> Option<Instant> {
        let start = Instant::now();
        loop {
            {
                let o = self.out.lock().unwrap();
                let from = from.min(o.bytes.len());
                if let Some(pos) = o.bytes[from..]
                    .windows(needle.len())
                    .position(|w| w == needle)
                {
                    let end = from + pos + needle.len();
                    let at = o
                        .chunks
                        .iter()
                        .find(|(e, _)| *e >= end)
                        .map(|(_, t)| *t)
                        .unwrap();
                    return Some(at);
                }
                if o.closed {
                    return None;
                }
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// The output so far as text (escape sequences included), for failure messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap().bytes).into_owned()
    }

    /// Types `n` characters into the `:` command line, timing each from the write to the frame
    /// that echoes it (`c▏`: the character, then the input cursor). Returns the samples and
    /// how many echoes never came.
    pub fn command_line_echo(&mut self, n: usize, timeout: Duration) -> (Vec<Duration>, usize) {
        let from = self.len();
        self.send(b":");
        assert!(
            self.wait_for(":▏".as_bytes(), from, timeout).is_some(),
            "the command line did not open:\n{}",
            self.text()
        );
        let mut samples = Vec::with_capacity(n);
        let mut missed = 0;
        for i in 0..n {
            if i > 0 && i % 40 == 0 {
                // ctrl-u clears the line so it never scrolls.
                let from = self.len();
                self.send(&[0x15]);
                let _ = self.wait_for(":▏".as_bytes(), from, timeout);
            }
            let c = b'a' + u8::try_from(i % 26).unwrap();
            let marker = [&[c][..], "▏".as_bytes()].concat();
            let from = self.len();
            let t0 = self.send(&[c]);
            match self.wait_for(&marker, from, timeout) {
                Some(t) => samples.push(t.saturating_duration_since(t0)),
                None => missed += 1,
            }
            // A human-like gap, so each key is its own wake-up (not a batch).
            std::thread::sleep(Duration::from_millis(7));
        }
        // Leave the command line.
        self.send(&[0x15]);
        self.send(b"\x1b");
        std::thread::sleep(Duration::from_millis(50));
        (samples, missed)
    }

    /// Sends `q` and returns how long the process took to exit (`None`: not within `timeout`).
    pub fn quit(&mut self, timeout: Duration) -> Option<Duration> {
        let t0 = self.send(b"q");
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Some(t0.elapsed());
            }
            if t0.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `p50 … p99 … max` of samples, for reports.
#[must_use]
pub fn summary(samples: &[Duration]) -> String {
    let mut s = samples.to_vec();
    s.sort();
    format!(
        "n={} p50={:.1} ms p90={:.1} ms p99={:.1} ms max={:.1} ms",
        s.len(),
        percentile(&s, 50).as_secs_f64() * 1e3,
        percentile(&s, 90).as_secs_f64() * 1e3,
        percentile(&s, 99).as_secs_f64() * 1e3,
        s.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    )
}

impl Pty {
    /// Waits until nothing arrived for `quiet` (at most `max`); false when it never settled.
    pub fn wait_quiet(&self, quiet: Duration, max: Duration) -> bool {
        let start = Instant::now();
        let mut last_len = self.len();
        let mut since = Instant::now();
        while start.elapsed() < max {
            std::thread::sleep(Duration::from_millis(20));
            let n = self.len();
            if n != last_len {
                last_len = n;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return true;
            }
        }
        false
    }
}

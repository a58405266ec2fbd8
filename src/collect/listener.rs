//! Hardened HTTP/1 serving for tfdrift's own listeners (the Falco `http_output` receiver and
//! the `/metrics` endpoint).
//!
//! `axum::serve` has no read timeouts and no connection limit: a few hundred clients that send
//! half a request header and then nothing hold their connections (and tasks) forever. Here each
//! connection is served by hyper with a header read timeout (which also closes idle keep-alive
//! connections), the number of open connections is capped (one over the cap is answered `503`
//! and closed at once, before anything is read), and every refusal and timeout is counted in
//! [`ConnCounters`] and logged (the first, then at powers of two, so a flood does not flood the
//! log). Body read timeouts are the handlers' job (they know when they read a body; see
//! [`read_body`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Default time a client has to send a complete request header.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a client has to send a request body, once its header is in.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on open connections per listener.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// How long clients may take and how many may be connected at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenLimits {
    /// A request header not complete after this closes the connection (also ends idle
    /// keep-alive connections).
    pub header_timeout: Duration,
    /// A request body not complete after this is answered `408` and the connection closed.
    pub body_timeout: Duration,
    /// Open connections beyond this are answered `503` and closed at once.
    pub max_connections: usize,
}

impl Default for ListenLimits {
    fn default() -> Self {
        ListenLimits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// A listener's connection counters (read by `/metrics` and the source health).
#[derive(Debug, Default)]
pub struct ConnCounters {
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections refused because [`ListenLimits::max_connections`] were open.
    pub refused: AtomicU64,
    /// Connections closed because the header or body did not arrive in time.
    pub timed_out: AtomicU64,
    /// Requests refused for a missing or wrong bearer token.
    pub unauthorized: AtomicU64,
}

/// A plain copy of [`ConnCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnSnapshot {
    /// Connections open now.
    pub open: u64,
    /// Connections refused over the cap.
    pub refused: u64,
    /// Connections closed for a slow header or body.
    pub timed_out: u64,
    /// Requests refused for a missing or wrong token.
    pub unauthorized: u64,
}

impl ConnCounters {
    /// The counters now.
    #[must_use]
    pub fn snapshot(&self) -> ConnSnapshot {
        ConnSnapshot {
            open: self.open.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
        }
    }

    /// Counts a slow header or body; true when this one should be logged.
    pub fn count_timeout(&self) -> bool {
        (self.timed_out.fetch_add(1, Ordering::Relaxed) + 1).is_power_of_two()
    }

    /// Counts a request without the right token; true when this one should be logged.
    pub fn count_unauthorized(&self) -> bool {
        (self.unauthorized.fetch_add(1, Ordering::Relaxed) + 1).is_power_of_two()
    }
}

/// Called whenever the counters change (the Falco receiver copies them into its health).
pub type OnChange = Arc<dyn Fn(&ConnCounters) + Send + Sync>;

/// Answer to a connection over the cap: written without reading anything, then closed.
const OVER_CAP: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 38\r\n\r\n{\"error\":\"too many open connections\"}";

/// Serves `app` on `listener` until `cancel`, within `limits`; then waits for open requests to
/// finish (each is bounded by the timeouts). `name` labels the log lines.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ListenLimits,
    counters: Arc<ConnCounters>,
    on_change: Option<OnChange>,
    name: &str,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let conns = TaskTracker::new();
    let changed = |c: &ConnCounters| {
        if let Some(f) = &on_change {
            f(c);
        }
    };
    loop {
        let (stream, peer) = tokio::select! {
            () = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(listener = %name, error = %e, "Accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            let n = counters.refused.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(listener = %name, %peer, max_connections = limits.max_connections, refused = n, "Too many open connections; refusing new ones (raise max_connections, or look for clients that connect and send nothing)");
            }
            changed(&counters);
            // Best effort, never waits: a client that does not read gets the close alone.
            let _ = stream.try_write(OVER_CAP);
            drop(stream);
            continue;
        };
        counters.open.fetch_add(1, Ordering::Relaxed);
        changed(&counters);
        let (app, counters, on_change, cancel) = (
            app.clone(),
            counters.clone(),
            on_change.clone(),
            cancel.clone(),
        );
        let name = name.to_string();
        conns.spawn(async move {
            let _slot = slot;
            let seen = Arc::new(Activity::default());
            let stream = Tracked {
                inner: stream,
                seen: seen.clone(),
            };
            let svc = TowerToHyperService::new(app);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            let res = tokio::select! {
                r = conn.as_mut() => r,
                () = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            // A keep-alive connection closed while idle is the normal end of a client's visit,
            // not a slow client: only a header started and not finished (or a connection that
            // never sent anything) counts.
            let slow = seen.partial.load(Ordering::Relaxed) || !seen.answered.load(Ordering::Relaxed);
            if let Err(e) = res
                && e.is_timeout()
                && slow
                && counters.count_timeout()
            {
                tracing::warn!(listener = %name, %peer, timeout_ms = u64::try_from(limits.header_timeout.as_millis()).unwrap_or(u64::MAX), timed_out = counters.timed_out.load(Ordering::Relaxed), "A client did not send its request header in time; connection closed");
            }
            counters.open.fetch_sub(1, Ordering::Relaxed);
            if let Some(f) = &on_change {
                f(&counters);
            }
        });
    }
    conns.close();
    conns.wait().await;
    Ok(())
}

/// What a connection did, for telling a slow client from an idle keep-alive one.
#[derive(Debug, Default)]
struct Activity {
    /// Bytes arrived since the last answer was written.
    partial: std::sync::atomic::AtomicBool,
    /// At least one answer was written.
    answered: std::sync::atomic::AtomicBool,
}

/// A TCP stream that records [`Activity`].
struct Tracked {
    inner: tokio::net::TcpStream,
    seen: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.seen.partial.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.seen.partial.store(false, Ordering::Relaxed);
        self.seen.answered.store(true, Ordering::Relaxed);
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.seen.partial.store(false, Ordering::Relaxed);
        self.seen.answered.store(true, Ordering::Relaxed);
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Why [`read_body`] gave up.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the limit.
    TooLarge,
    /// Not complete within the body timeout.
    TimedOut,
    /// The client went away or sent a broken body.
    Broken(String),
}

/// Reads a request body of at most `limit` bytes within `timeout`.
pub async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(BodyError::TimedOut),
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => {
            // `to_bytes` reports the limit as a `LengthLimitError` somewhere in the source chain.
            let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = src {
                if s.is::<http_body_util::LengthLimitError>() {
                    return Err(BodyError::TooLarge);
                }
                src = s.source();
            }
            Err(BodyError::Broken(e.to_string()))
        }
    }
}

/// Whether an `Authorization` header value carries `token` as a bearer token. The scheme is
/// case-insensitive (RFC 7235 §2.1); the token is compared in time independent of where the
/// first difference is.
#[must_use]
pub fn bearer_matches(header: Option<&str>, token: &str) -> bool {
    let Some((scheme, given)) = header.and_then(|h| h.trim().split_once(' ')) else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && same(given.trim_start().as_bytes(), token.as_bytes())
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_token_exact() {
        assert!(bearer_matches(Some("Bearer t0k"), "t0k"));
        assert!(bearer_matches(Some("bearer t0k"), "t0k"));
        assert!(bearer_matches(Some("BEARER  t0k"), "t0k"));
        assert!(!bearer_matches(Some("Bearer T0K"), "t0k"));
        assert!(!bearer_matches(Some("Basic t0k"), "t0k"));
        assert!(!bearer_matches(Some("Bearer"), "t0k"));
        assert!(!bearer_matches(None, "t0k"));
    }
}

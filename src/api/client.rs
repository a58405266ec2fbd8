//! The client side of team mode, for scripts (`tfdrift watch`, `tfdrift alerts ack --connect`)
//! and the monitor: [`Client`] makes single calls, [`WatchSession`] is a watch that reconnects
//! with backoff and resumes from its cursor, reporting its connection state as it goes (what a
//! monitor's header shows: connected, reconnecting in N s, refused: reason).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::proto::{self as pb, daemon_client::DaemonClient, watch_event::Item};
use super::{PROTOCOL_HEADER, protocol};

/// Environment variable read for the token when none is given otherwise.
pub const TOKEN_ENV: &str = "TFDRIFT_TOKEN";

/// Where and how to connect.
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// `https://host:port` or `http://127.0.0.1:port`.
    pub url: String,
    /// Bearer token (never printed).
    pub token: Option<String>,
    /// CA certificate (PEM) for the daemon's certificate; default: the system roots.
    pub ca_cert: Option<PathBuf>,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_cert", &self.ca_cert)
            .finish()
    }
}

impl ClientOptions {
    /// Options from the command line: the token from `token_file`, else `$token_env`
    /// (default [`TOKEN_ENV`]).
    pub fn new(
        url: &str,
        token_file: Option<&Path>,
        token_env: Option<&str>,
        ca_cert: Option<&Path>,
    ) -> Result<Self, ClientError> {
        let token = match token_file {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| {
                        ClientError::Setup(format!(
                            "cannot read --token-file '{}': {e}",
                            p.display()
                        ))
                    })?
                    .trim()
                    .to_string(),
            ),
            None => std::env::var(token_env.unwrap_or(TOKEN_ENV))
                .ok()
                .filter(|t| !t.trim().is_empty()),
        };
        Ok(ClientOptions {
            url: url.to_string(),
            token,
            ca_cert: ca_cert.map(Path::to_path_buf),
        })
    }
}

/// What went wrong talking to the daemon; messages say what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// Bad options (URL, files).
    #[error("{0}")]
    Setup(String),
    /// The daemon cannot be reached (retrying may help).
    #[error("{0}")]
    Unreachable(String),
    /// The daemon refused (token, role, version): retrying will not help.
    #[error("{0}")]
    Refused(String),
    /// The call failed for another reason.
    #[error("{0}")]
    Call(String),
}

impl ClientError {
    /// Whether a retry can succeed (the daemon is away, not refusing).
    #[must_use]
    pub fn retryable(&self) -> bool {
        matches!(self, ClientError::Unreachable(_))
    }
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        src = s.source();
    }
    parts.join(": ")
}

fn transport_error(url: &str, detail: &str) -> ClientError {
    let lower = detail.to_ascii_lowercase();
    if lower.contains("unknownissuer")
        || lower.contains("invalid peer certificate")
        || lower.contains("certificate")
    {
        return ClientError::Refused(format!(
            "TLS: the daemon's certificate at {url} is not trusted ({detail}); pass --ca-cert FILE \
             with the CA that signed it (or `daemon.ca_cert` in the profile)"
        ));
    }
    if lower.contains("connection refused") {
        return ClientError::Unreachable(format!(
            "cannot connect to the daemon at {url}: connection refused (is `tfdrift serve` running there, with `api:` in its profile?)"
        ));
    }
    ClientError::Unreachable(format!("cannot reach the daemon at {url}: {detail}"))
}

fn status_error(url: &str, s: &tonic::Status) -> ClientError {
    let msg = s.message();
    match s.code() {
        Code::Unauthenticated => {
            ClientError::Refused(format!("refused by the daemon (UNAUTHENTICATED): {msg}"))
        }
        Code::PermissionDenied => {
            ClientError::Refused(format!("refused by the daemon (PERMISSION_DENIED): {msg}"))
        }
        Code::FailedPrecondition => ClientError::Refused(format!("refused by the daemon: {msg}")),
        Code::Unavailable | Code::Unknown | Code::Cancelled => {
            let detail = std::error::Error::source(s).map_or_else(|| msg.to_string(), chain);
            transport_error(url, &format!("{msg} {detail}"))
        }
        Code::NotFound | Code::InvalidArgument => ClientError::Call(msg.to_string()),
        code => ClientError::Call(format!("{code:?}: {msg}")),
    }
}

/// [`status_error`], naming an older daemon that lacks the Drift calls.
fn drift_call_error(url: &str, s: &tonic::Status) -> ClientError {
    if s.code() == Code::Unimplemented {
        return ClientError::Refused(format!(
            "the daemon at {url} has no drift calls (ListDrifts, GetDrift): it runs an older tfdrift; upgrade it, or read its store with --profile"
        ));
    }
    status_error(url, s)
}

/// Adds the protocol version and the token to every call.
#[derive(Clone)]
pub struct Credentials {
    token: Option<MetadataValue<tonic::metadata::Ascii>>,
    protocol: MetadataValue<tonic::metadata::Ascii>,
}

impl tonic::service::Interceptor for Credentials {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let md = req.metadata_mut();
        md.insert(PROTOCOL_HEADER, self.protocol.clone());
        if let Some(t) = &self.token {
            md.insert("authorization", t.clone());
        }
        Ok(req)
    }
}

/// A connection to a daemon.
#[derive(Clone)]
pub struct Client {
    url: String,
    inner: DaemonClient<InterceptedService<Channel, Credentials>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects (TCP and, for `https://`, the TLS handshake happen here).
    pub async fn connect(opts: &ClientOptions) -> Result<Self, ClientError> {
        let url = opts.url.trim_end_matches('/').to_string();
        let https = url.starts_with("https://");
        if !https && !url.starts_with("http://") {
            return Err(ClientError::Setup(format!(
                "--connect '{url}' must start with https:// (TLS) or http:// (a plaintext loopback daemon)"
            )));
        }
        let mut ep = Endpoint::from_shared(url.clone())
            .map_err(|e| ClientError::Setup(format!("--connect '{url}' is not a URL: {e}")))?
            .connect_timeout(Duration::from_secs(10))
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true)
            .tcp_nodelay(true)
            // At most this much of a watch stream in flight: beyond it the daemon's bounded
            // per-watcher buffer takes over (and tells a stalled watcher it lagged).
            .initial_stream_window_size(256 * 1024)
            .initial_connection_window_size(1024 * 1024);
        if https {
            let mut tls = ClientTlsConfig::new();
            tls = match &opts.ca_cert {
                Some(p) => {
                    let pem = std::fs::read(p).map_err(|e| {
                        ClientError::Setup(format!("cannot read --ca-cert '{}': {e}", p.display()))
                    })?;
                    tls.ca_certificate(Certificate::from_pem(pem))
                }
                None => tls.with_native_roots(),
            };
            ep = ep
                .tls_config(tls)
                .map_err(|e| ClientError::Setup(format!("TLS setup for {url}: {}", chain(&e))))?;
        } else if opts.ca_cert.is_some() {
            return Err(ClientError::Setup(format!(
                "--ca-cert given but '{url}' is plaintext http://: use https://"
            )));
        }
        let channel = ep
            .connect()
            .await
            .map_err(|e| transport_error(&url, &chain(&e)))?;
        let token = match &opts.token {
            Some(t) => Some(format!("Bearer {}", t.trim()).parse().map_err(|_| {
                ClientError::Setup("the token has characters a header cannot carry".into())
            })?),
            None => None,
        };
        let creds = Credentials {
            token,
            protocol: protocol()
                .parse()
                .map_err(|_| ClientError::Setup("protocol version".into()))?,
        };
        Ok(Client {
            inner: DaemonClient::with_interceptor(channel, creds),
            url,
        })
    }

    /// The generated client, for the calls this type has no method for (the Rules calls).
    pub fn daemon(&mut self) -> &mut DaemonClient<InterceptedService<Channel, Credentials>> {
        &mut self.inner
    }

    /// The daemon's URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Who the daemon is and who we are to it.
    pub async fn hello(&mut self) -> Result<pb::HelloReply, ClientError> {
        self.inner
            .hello(pb::HelloRequest {})
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| status_error(&self.url, &s))
    }

    /// Acts on an alert (`until` RFC 3339 for a snooze).
    pub async fn act(
        &mut self,
        alert_id: &str,
        action: pb::Action,
        note: Option<&str>,
        until: Option<&str>,
    ) -> Result<pb::ActReply, ClientError> {
        self.inner
            .act(pb::ActRequest {
                alert_id: alert_id.to_string(),
                action: action.into(),
                note: note.unwrap_or_default().to_string(),
                until: until.unwrap_or_default().to_string(),
                drift_id: String::new(),
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| status_error(&self.url, &s))
    }

    /// Acts on a drift: `Ack`, `Snooze` (`until` RFC 3339) or `Resolve`.
    pub async fn act_drift(
        &mut self,
        drift_id: &str,
        action: pb::Action,
        until: Option<&str>,
    ) -> Result<pb::ActReply, ClientError> {
        self.inner
            .act(pb::ActRequest {
                alert_id: String::new(),
                action: action.into(),
                note: String::new(),
                until: until.unwrap_or_default().to_string(),
                drift_id: drift_id.to_string(),
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| status_error(&self.url, &s))
    }

    /// Pipeline counters and the sources' health.
    pub async fn stats(&mut self) -> Result<pb::StatsReply, ClientError> {
        self.inner
            .get_stats(pb::StatsRequest {})
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| status_error(&self.url, &s))
    }

    /// The reconcile status board (the latest run of every workspace).
    pub async fn list_workspace_runs(&mut self) -> Result<pb::ListWorkspaceRunsReply, ClientError> {
        self.inner
            .list_workspace_runs(pb::ListWorkspaceRunsRequest {})
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| status_error(&self.url, &s))
    }

    /// One alert with its acknowledgements.
    pub async fn get_alert(&mut self, id: &str) -> Result<pb::AlertDetail, ClientError> {
        self.inner
            .get_alert(pb::GetAlertRequest { id: id.to_string() })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| status_error(&self.url, &s))
    }

    /// Drifts by status and severity (`ListDrifts`).
    pub async fn list_drifts(
        &mut self,
        req: pb::ListDriftsRequest,
    ) -> Result<pb::ListDriftsReply, ClientError> {
        self.inner
            .list_drifts(req)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| drift_call_error(&self.url, &s))
    }

    /// One drift with its events and up to `occurrences` of its alerts (`GetDrift`).
    pub async fn get_drift(
        &mut self,
        id: &str,
        occurrences: u32,
    ) -> Result<pb::GetDriftReply, ClientError> {
        self.inner
            .get_drift(pb::GetDriftRequest {
                id: id.to_string(),
                occurrences,
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| drift_call_error(&self.url, &s))
    }

    /// A page of alerts.
    pub async fn list_alerts(
        &mut self,
        req: pb::ListAlertsRequest,
    ) -> Result<pb::ListAlertsReply, ClientError> {
        self.inner
            .list_alerts(req)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| status_error(&self.url, &s))
    }

    /// Opens a watch stream after `since`; a snapshot (when one comes) carries the newest
    /// `snapshot_alerts` alerts (0: the daemon's default).
    pub async fn watch(
        &mut self,
        since: i64,
        snapshot_alerts: u32,
    ) -> Result<tonic::Streaming<pb::WatchEvent>, ClientError> {
        self.inner
            .watch(pb::WatchRequest {
                since,
                snapshot_alerts,
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| status_error(&self.url, &s))
    }
}

/// What a [`WatchSession`] reports.
#[derive(Debug)]
pub enum Update {
    /// (Re)connected; the daemon's identity.
    Connected(pb::HelloReply),
    /// An item of the stream.
    Event(Box<pb::WatchEvent>),
    /// The connection dropped or could not be made; retrying after `retry_in`.
    Reconnecting {
        /// Why.
        error: ClientError,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// The daemon refuses this client (token, role, version, TLS trust): no retry.
    Refused(ClientError),
}

/// A watch that reconnects with backoff and resumes from the last cursor it delivered.
pub struct WatchSession {
    opts: ClientOptions,
    cursor: i64,
    attempt: u32,
    stream: Option<tonic::Streaming<pb::WatchEvent>>,
    snapshot_alerts: u32,
}

impl std::fmt::Debug for WatchSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchSession")
            .field("opts", &self.opts)
            .field("cursor", &self.cursor)
            .field("attempt", &self.attempt)
            .field("connected", &self.stream.is_some())
            .field("snapshot_alerts", &self.snapshot_alerts)
            .finish()
    }
}

/// First reconnect delay, doubled per failed attempt up to [`RECONNECT_MAX`].
pub const RECONNECT_BASE: Duration = Duration::from_millis(200);
/// Longest reconnect delay.
pub const RECONNECT_MAX: Duration = Duration::from_secs(10);

impl WatchSession {
    /// A session that starts after `since` (0: with a snapshot).
    #[must_use]
    pub fn new(opts: ClientOptions, since: i64) -> Self {
        WatchSession {
            opts,
            cursor: since,
            attempt: 0,
            stream: None,
            snapshot_alerts: 0,
        }
    }

    /// How many alerts a snapshot should carry (a monitor wants more than a script).
    #[must_use]
    pub fn with_snapshot_alerts(mut self, n: u32) -> Self {
        self.snapshot_alerts = n;
        self
    }

    /// The last cursor delivered (what a reconnect resumes after).
    #[must_use]
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    async fn open(&mut self) -> Result<pb::HelloReply, ClientError> {
        let mut c = Client::connect(&self.opts).await?;
        let hello = c.hello().await?;
        self.stream = Some(c.watch(self.cursor, self.snapshot_alerts).await?);
        Ok(hello)
    }

    fn failed(&mut self, error: ClientError) -> Update {
        self.stream = None;
        if !error.retryable() {
            return Update::Refused(error);
        }
        self.attempt = self.attempt.saturating_add(1);
        let base = crate::backoff::exponential(RECONNECT_BASE, self.attempt, RECONNECT_MAX);
        let jitter = crate::backoff::jitter(u64::from(self.attempt) ^ (self.cursor.unsigned_abs()));
        Update::Reconnecting {
            error,
            retry_in: base.mul_f64(1.0 + jitter * 0.5),
        }
    }

    /// The next update. After `Reconnecting` it sleeps the delay itself on the next call;
    /// after `Refused` the caller should stop.
    pub async fn next(&mut self) -> Update {
        if self.stream.is_none() {
            return match self.open().await {
                Ok(h) => Update::Connected(h),
                Err(e) => self.failed(e),
            };
        }
        let url = self.opts.url.clone();
        let Some(stream) = self.stream.as_mut() else {
            return self.failed(ClientError::Unreachable("no stream".into()));
        };
        match stream.message().await {
            Ok(Some(ev)) => {
                self.attempt = 0;
                self.cursor = match &ev.item {
                    Some(Item::Snapshot(s)) => s.cursor,
                    _ => ev.cursor.max(self.cursor),
                };
                Update::Event(Box::new(ev))
            }
            Ok(None) => self.failed(ClientError::Unreachable(format!(
                "the daemon at {url} closed the stream (stopping or restarting)"
            ))),
            Err(s) => {
                let e = status_error(&url, &s);
                self.failed(e)
            }
        }
    }

    /// Sleeps a reconnect delay (convenience for loops: `Reconnecting` → `wait` → `next`).
    pub async fn wait(delay: Duration) {
        tokio::time::sleep(delay).await;
    }
}

//! Issue-tracker channels (GitHub, GitLab): one issue per drift, in a configured repository.
//!
//! - A drift's first notification (or the first this channel hears of it) creates the issue:
//!   title with severity, address and attribute; body with who, when, the diff, remediation,
//!   ids and the drift's hidden marker; the channel's labels.
//! - A severity rise or end of snooze (`drift.updated`) comments; a quiet occurrence
//!   (`drift.occurred`, flagged by the router) comments at most once per
//!   `comment_interval_secs` per drift.
//! - A resolution comments the reason and closes the issue; a reopened drift (a new episode)
//!   reopens it with a comment.
//!
//! Exactly one issue per drift, although the outbox delivers at least once: the drift → issue
//! link is kept in the store ([`crate::store::IssueLink`]) with the key of the last message
//! applied, so a redelivery changes nothing; when the store has no link (a crash between the
//! tracker creating the issue and the link being written, or a timeout after the tracker
//! created it) the repository's issues are searched for the drift's marker before one is
//! created.
//!
//! At most `max_new_issues` issues are opened per run (default 50): over the cap the item fails
//! with a message saying so, and `tfdrift notify retry` sends it later.
//!
//! Rate limits: 429, and 403 with `x-ratelimit-remaining: 0` or `Retry-After` (GitHub's primary
//! and secondary limits), are retried by the outbox worker after `Retry-After` or until
//! `x-ratelimit-reset` (`RateLimit-Reset` on GitLab). The token is sent only in its header,
//! never logged; error texts mask it (see [`super::http::response_excerpt`]).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use serde_json::Value;

use super::issue_text::{issue_body, issue_title, marker, resolved_comment, update_comment};
use super::settings::{ChannelSettings, read_secret};
use super::{Message, SendError, github, gitlab};
use crate::alert::Alert;
use crate::drift::DriftNote;
use crate::store::{IssueLink, Store};

/// Which tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    /// GitHub or GitHub Enterprise Server.
    GitHub,
    /// GitLab.
    GitLab,
}

/// One HTTP request of a tracker.
#[derive(Debug, Clone, PartialEq)]
pub struct Req {
    /// Method.
    pub method: Method,
    /// Full URL.
    pub url: String,
    /// JSON body.
    pub body: Option<Value>,
}

/// An issue found in a list page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Number (GitHub) or iid (GitLab).
    pub number: u64,
    /// Open now.
    pub open: bool,
    /// Body / description.
    pub body: String,
}

/// Default cap on new issues per run.
pub const DEFAULT_MAX_NEW_ISSUES: u32 = 50;
/// Default interval between "seen again" comments on one drift.
pub const DEFAULT_COMMENT_INTERVAL: Duration = Duration::from_hours(1);
/// List pages searched for a drift's marker (100 issues each, newest first).
const SEARCH_PAGES: u32 = 5;
/// Longest response read (a list page of 100 issues with long bodies).
const MAX_RESPONSE: usize = 16 * 1024 * 1024;
/// Longest wait for a rate limit to reset that is honoured.
const MAX_RESET_WAIT: Duration = Duration::from_hours(1);

/// A configured tracker.
pub struct Tracker {
    forge: Forge,
    api: String,
    repo: String,
    token: String,
    labels: Vec<String>,
    /// Interval between "seen again" comments on one drift.
    pub comment_interval: Duration,
    max_new: u32,
    created: AtomicU32,
    links: OnceLock<Arc<dyn Store>>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        write!(f, "Tracker({:?}, {}, {})", self.forge, self.api, self.repo)
    }
}

impl Tracker {
    /// Reads the settings and the token. Errors name the setting, never the token.
    pub fn new(name: &str, s: &ChannelSettings, forge: Forge) -> Result<Tracker, String> {
        let kind = match forge {
            Forge::GitHub => "github",
            Forge::GitLab => "gitlab",
        };
        let repo = s.repo.clone().filter(|r| !r.trim().is_empty()).ok_or_else(|| {
            format!("channel '{name}': {kind} needs `repo` (`owner/name`; on GitLab the project path or id)")
        })?;
        if forge == Forge::GitHub && repo.split('/').filter(|p| !p.is_empty()).count() != 2 {
            return Err(format!(
                "channel '{name}': github `repo: {repo}` is not `owner/name`"
            ));
        }
        let token = read_secret(
            name,
            "token",
            s.token_env.as_deref(),
            s.token_file.as_deref(),
        )?
        .ok_or_else(|| {
            format!(
                "channel '{name}': {kind} needs `token_env` (or `token_file`) naming the API token"
            )
        })?;
        if s.rate_limit.is_some() {
            return Err(format!(
                "channel '{name}': {kind} does not take `rate_limit` (one issue per drift; the tracker's own rate limits are honoured)"
            ));
        }
        let api = s
            .api_url
            .clone()
            .unwrap_or_else(|| {
                match forge {
                    Forge::GitHub => github::API_URL,
                    Forge::GitLab => gitlab::API_URL,
                }
                .to_string()
            })
            .trim_end_matches('/')
            .to_string();
        if reqwest::Url::parse(&api).is_err() {
            return Err(format!(
                "channel '{name}': `api_url: {api}` is not a URL (e.g. https://github.example.com/api/v3)"
            ));
        }
        Ok(Tracker {
            forge,
            api,
            repo,
            token,
            labels: s.labels.clone().unwrap_or_else(|| vec!["tfdrift".into()]),
            comment_interval: s
                .comment_interval_secs
                .map_or(DEFAULT_COMMENT_INTERVAL, Duration::from_secs),
            max_new: s.max_new_issues.unwrap_or(DEFAULT_MAX_NEW_ISSUES),
            created: AtomicU32::new(0),
            links: OnceLock::new(),
        })
    }

    /// Keeps the drift → issue links in `store` (the outbox worker's). Without it (`notify
    /// test`) issues are found by their marker.
    pub fn attach_store(&self, store: Arc<dyn Store>) {
        let _ = self.links.set(store);
    }

    fn headers(&self) -> Vec<(String, String)> {
        match self.forge {
            Forge::GitHub => github::headers(&self.token),
            Forge::GitLab => gitlab::headers(&self.token),
        }
    }

    /// Sends one message.
    pub async fn send(
        &self,
        channel: &str,
        client: &reqwest::Client,
        timeout: Duration,
        msg: &Message,
    ) -> Result<(), SendError> {
        let io = Io {
            t: self,
            client,
            timeout,
        };
        match msg {
            Message::Alert { alert, drift, .. } => {
                let note = drift.clone().unwrap_or_else(|| note_of(alert));
                self.on_alert(&io, channel, alert, &note).await
            }
            Message::Resolve {
                drift: Some(note), ..
            } => self.on_resolve(&io, channel, note).await,
            // An acknowledgement closes nothing: the drift is still out of line.
            Message::Resolve { drift: None, .. } => Ok(()),
            // Issue channels take no rate limit (refused at load), so no digest reaches them.
            Message::Digest { alerts } => Err(SendError::permanent(format!(
                "an issue tracker channel does not send digests ({} alerts)",
                alerts.len()
            ))),
        }
    }

    async fn link(&self, channel: &str, drift_id: &str) -> Result<Option<IssueLink>, SendError> {
        let Some(store) = self.links.get().cloned() else {
            return Ok(None);
        };
        let (c, d) = (channel.to_string(), drift_id.to_string());
        tokio::task::spawn_blocking(move || store.issue_link(&c, &d))
            .await
            .map_err(|e| SendError::retry(e.to_string()))?
            .map_err(|e| SendError::retry(format!("reading the issue link: {e}")))
    }

    async fn save(&self, link: IssueLink) -> Result<(), SendError> {
        let Some(store) = self.links.get().cloned() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || store.put_issue_link(&link))
            .await
            .map_err(|e| SendError::retry(e.to_string()))?
            .map_err(|e| SendError::retry(format!("writing the issue link: {e}")))
    }

    /// The drift's link, from the store or, failing that, the tracker (by marker).
    async fn find(
        &self,
        io: &Io<'_>,
        channel: &str,
        note: &DriftNote,
    ) -> Result<Option<IssueLink>, SendError> {
        if let Some(l) = self.link(channel, &note.id).await? {
            return Ok(Some(l));
        }
        let mark = marker(&note.id);
        for page in 1..=SEARCH_PAGES {
            let req = match self.forge {
                Forge::GitHub => github::list(&self.api, &self.repo, &self.labels, page),
                Forge::GitLab => gitlab::list(&self.api, &self.repo, &self.labels, page),
            };
            let v = io.call(&req).await?;
            let issues = match self.forge {
                Forge::GitHub => github::listed(&v),
                Forge::GitLab => gitlab::listed(&v),
            };
            if let Some(f) = issues.iter().find(|i| i.body.contains(&mark)) {
                tracing::info!(channel, drift = %note.id, issue = f.number, "Found the drift's issue by its marker");
                return Ok(Some(IssueLink {
                    channel: channel.to_string(),
                    drift_id: note.id.clone(),
                    number: f.number,
                    open: f.open,
                    // An open issue is taken as this episode's; a closed one is reopened.
                    episode: if f.open { note.episode } else { 0 },
                    last_sent: None,
                    commented_at: None,
                }));
            }
            if v.as_array().is_none_or(|a| a.len() < 100) {
                break;
            }
        }
        Ok(None)
    }

    async fn on_alert(
        &self,
        io: &Io<'_>,
        channel: &str,
        a: &Alert,
        note: &DriftNote,
    ) -> Result<(), SendError> {
        let key = key(note);
        let now = Utc::now();
        let Some(mut l) = self.find(io, channel, note).await? else {
            if self.created.load(Ordering::Relaxed) >= self.max_new {
                return Err(SendError::permanent(format!(
                    "not opening an issue for drift {}: this run already opened {} (`max_new_issues`); raise the cap or run `tfdrift notify retry` later",
                    note.id, self.max_new
                )));
            }
            let req = match self.forge {
                Forge::GitHub => github::create(
                    &self.api,
                    &self.repo,
                    &issue_title(a, note),
                    &issue_body(a, note),
                    &self.labels,
                ),
                Forge::GitLab => gitlab::create(
                    &self.api,
                    &self.repo,
                    &issue_title(a, note),
                    &issue_body(a, note),
                    &self.labels,
                ),
            };
            let v = io.call(&req).await?;
            let number = match self.forge {
                Forge::GitHub => github::created(&v),
                Forge::GitLab => gitlab::created(&v),
            }
            .ok_or_else(|| {
                SendError::retry("the tracker's answer to creating the issue has no number")
            })?;
            self.created.fetch_add(1, Ordering::Relaxed);
            tracing::info!(channel, drift = %note.id, issue = number, "Opened an issue for the drift");
            return self
                .save(IssueLink {
                    channel: channel.to_string(),
                    drift_id: note.id.clone(),
                    number,
                    open: true,
                    episode: note.episode,
                    last_sent: Some(key),
                    commented_at: Some(now),
                })
                .await;
        };
        if l.last_sent.as_deref() == Some(key.as_str()) {
            return Ok(());
        }
        if note.episode < l.episode || (!l.open && note.episode == l.episode) {
            // A late message (a retry overtaken by later ones) about an episode that is over.
            tracing::info!(channel, drift = %note.id, episode = note.episode, "Skipping a notification of an episode the issue is past");
            return Ok(());
        }
        let reopen = note.episode > l.episode;
        if reopen {
            io.call(&self.set_open(l.number, true)).await?;
            io.call(&self.comment(l.number, &update_comment(a, note, true)))
                .await?;
            l.open = true;
            l.episode = note.episode;
            l.commented_at = Some(now);
        } else if note.event == "drift.updated" {
            io.call(&self.comment(l.number, &update_comment(a, note, false)))
                .await?;
            l.commented_at = Some(now);
        } else if note.event == "drift.occurred" {
            let due = l.commented_at.is_none_or(|t| {
                (now - t).to_std().unwrap_or(Duration::ZERO) >= self.comment_interval
            });
            if due {
                io.call(&self.comment(l.number, &update_comment(a, note, false)))
                    .await?;
                l.commented_at = Some(now);
            }
        }
        // `drift.opened` of the episode the issue is open for: a redelivery, nothing to do.
        l.last_sent = Some(key);
        self.save(l).await
    }

    async fn on_resolve(
        &self,
        io: &Io<'_>,
        channel: &str,
        note: &DriftNote,
    ) -> Result<(), SendError> {
        let key = key(note);
        let Some(mut l) = self.find(io, channel, note).await? else {
            tracing::warn!(channel, drift = %note.id, "The resolved drift has no issue to close");
            return Ok(());
        };
        if l.last_sent.as_deref() == Some(key.as_str()) || note.episode < l.episode {
            // A redelivery, or the end of an earlier episode arriving after the reopening.
            return Ok(());
        }
        io.call(&self.comment(l.number, &resolved_comment(note)))
            .await?;
        io.call(&self.set_open(l.number, false)).await?;
        tracing::info!(channel, drift = %note.id, issue = l.number, "Closed the drift's issue");
        l.open = false;
        l.last_sent = Some(key);
        self.save(l).await
    }

    fn comment(&self, n: u64, body: &str) -> Req {
        match self.forge {
            Forge::GitHub => github::comment(&self.api, &self.repo, n, body),
            Forge::GitLab => gitlab::comment(&self.api, &self.repo, n, body),
        }
    }

    fn set_open(&self, n: u64, open: bool) -> Req {
        match self.forge {
            Forge::GitHub => github::set_open(&self.api, &self.repo, n, open),
            Forge::GitLab => gitlab::set_open(&self.api, &self.repo, n, open),
        }
    }
}

/// What a message did to the drift: `{event}:{episode}:{occurrences}`.
fn key(note: &DriftNote) -> String {
    format!("{}:{}:{}", note.event, note.episode, note.occurrences)
}

/// The note of an alert sent without one (`tfdrift notify test`, alerts of stores without
/// drifts): the alert's drift, else the alert itself, opened.
fn note_of(a: &Alert) -> DriftNote {
    DriftNote {
        event: "drift.opened".into(),
        id: a.drift_id.clone().unwrap_or_else(|| a.id.clone()),
        episode: 1,
        occurrences: 1,
        attribute: a.diffs.first().map(|d| d.path.clone()).unwrap_or_default(),
        first_seen: a.time,
        reason: None,
        resolved_by: None,
    }
}

struct Io<'a> {
    t: &'a Tracker,
    client: &'a reqwest::Client,
    timeout: Duration,
}

impl Io<'_> {
    /// One request; the JSON answer (`Null` when empty).
    async fn call(&self, req: &Req) -> Result<Value, SendError> {
        let headers = self.t.headers();
        let body = req
            .body
            .as_ref()
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        let mut rb = self
            .client
            .request(req.method.clone(), &req.url)
            .timeout(self.timeout);
        if req.body.is_some() {
            rb = rb
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        for (k, v) in &headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        // The API URL holds no secret; the query does not matter in messages.
        let shown = req.url.split('?').next().unwrap_or_default();
        let what = format!("{} {shown}", req.method);
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                let e = e.without_url();
                let why = if e.is_timeout() {
                    format!("timed out after {} ms", self.timeout.as_millis())
                } else if e.is_connect() {
                    "connection failed".to_string()
                } else {
                    e.to_string()
                };
                return Err(SendError::retry(format!("{what}: {why}")));
            }
        };
        let status = resp.status();
        let wait = rate_limit_wait(resp.headers());
        let limited = resp
            .headers()
            .get("x-ratelimit-remaining")
            .or_else(|| resp.headers().get("ratelimit-remaining"))
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == "0");
        let got = read_bounded(resp, MAX_RESPONSE).await;
        if status.is_success() {
            if got.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&got)
                .map_err(|e| SendError::retry(format!("{what}: the answer is not JSON ({e})")));
        }
        let detail = super::http::response_excerpt(&got, &req.url, &headers, &body);
        let message = format!("{what}: HTTP {} {detail}", status.as_u16());
        let code = status.as_u16();
        let rate_limited = code == 429 || (code == 403 && (limited || wait.is_some()));
        if rate_limited || status.is_server_error() || code == 408 {
            Err(SendError {
                message,
                retryable: true,
                retry_after: wait,
            })
        } else {
            Err(SendError::permanent(message))
        }
    }
}

/// How long the tracker asks to wait: `Retry-After`, else until `x-ratelimit-reset`
/// (`RateLimit-Reset`), epoch seconds — at most an hour.
#[must_use]
pub fn rate_limit_wait(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(d) = text("retry-after").and_then(super::http::parse_retry_after) {
        return Some(d);
    }
    let reset = text("x-ratelimit-reset")
        .or_else(|| text("ratelimit-reset"))?
        .parse::<i64>()
        .ok()?;
    let secs = (reset - Utc::now().timestamp()).max(1);
    Some(Duration::from_secs(secs.unsigned_abs()).min(MAX_RESET_WAIT))
}

async fn read_bounded(mut resp: reqwest::Response, max: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    while buf.len() < max {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c[..c.len().min(max - buf.len())]),
            _ => break,
        }
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_retry_after_or_the_reset() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(rate_limit_wait(&h), None);
        let reset = Utc::now().timestamp() + 30;
        h.insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
        let w = rate_limit_wait(&h).unwrap();
        assert!(
            w > Duration::from_secs(25) && w <= Duration::from_secs(30),
            "{w:?}"
        );
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(rate_limit_wait(&h), Some(Duration::from_secs(7)));
    }

    #[test]
    fn settings_errors_name_the_field_not_the_token() {
        let s: ChannelSettings = serde_saphyr::from_str(
            "type: github\nrepo: acme\ntoken_env: TFDRIFT_UNSET_TOKEN_VAR\n",
        )
        .unwrap();
        let e = Tracker::new("gh", &s, Forge::GitHub).unwrap_err();
        assert!(e.contains("owner/name"), "{e}");
        let s: ChannelSettings = serde_saphyr::from_str(
            "type: github\nrepo: acme/infra\ntoken_env: TFDRIFT_UNSET_TOKEN_VAR\n",
        )
        .unwrap();
        let e = Tracker::new("gh", &s, Forge::GitHub).unwrap_err();
        assert!(e.contains("TFDRIFT_UNSET_TOKEN_VAR"), "{e}");
    }
}

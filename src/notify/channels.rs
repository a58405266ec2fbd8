//! Configured channels: settings resolved (secrets read once at start) into something that
//! sends a [`Message`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::email::Email;
use super::settings::{ChannelKind, ChannelSettings, NotifySettings, RateLimit};
use super::{Message, SendError, discord, falco, http, jsonl, pagerduty, slack, webhook};
use crate::alert::{Alert, Severity};

/// Where Falco JSON goes.
#[derive(Debug, Clone)]
enum FalcoOut {
    Stdout,
    File(PathBuf),
    Http(String),
}

/// How a channel delivers.
enum Transport {
    Slack(String),
    Discord(String),
    Webhook {
        url: String,
        secret: Option<String>,
        headers: Vec<(String, String)>,
    },
    Email(Box<Email>),
    PagerDuty {
        url: String,
        routing_key: String,
    },
    Opsgenie {
        base: String,
        key: String,
    },
    Teams(String),
    Issues(Box<super::issues::Tracker>),
    Falco(FalcoOut),
    Jsonl(PathBuf),
}

/// One configured channel.
pub struct Channel {
    /// Name from the profile.
    pub name: String,
    /// Type.
    pub kind: ChannelKind,
    /// Minimum severity.
    pub min_severity: Severity,
    /// Rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Request timeout.
    pub timeout: Duration,
    kinds: Vec<crate::alert::AlertKind>,
    types: Option<GlobSet>,
    providers: Vec<String>,
    accounts: Vec<String>,
    environments: Vec<String>,
    transport: Transport,
    client: reqwest::Client,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL or secret.
        write!(f, "Channel({}, {:?})", self.name, self.kind)
    }
}

fn need_url(name: &str, s: &ChannelSettings) -> Result<String, String> {
    s.resolve_url(name)?
        .ok_or_else(|| format!("channel '{name}': set `url_env` (or `url_file`) to the variable or file holding the URL"))
}

impl Channel {
    /// Resolves settings (reads secrets). Errors never contain secret values.
    pub fn new(
        name: &str,
        s: &ChannelSettings,
        client: reqwest::Client,
    ) -> Result<Channel, String> {
        let transport = match s.kind {
            ChannelKind::Slack => Transport::Slack(need_url(name, s)?),
            ChannelKind::Discord => Transport::Discord(need_url(name, s)?),
            ChannelKind::Webhook => Transport::Webhook {
                url: need_url(name, s)?,
                secret: s.resolve_secret(name)?,
                headers: s.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            },
            ChannelKind::Email => Transport::Email(Box::new(Email::new(name, s)?)),
            ChannelKind::Pagerduty => Transport::PagerDuty {
                url: s.resolve_url(name)?.unwrap_or_else(|| pagerduty::EVENTS_URL.to_string()),
                routing_key: s.resolve_secret(name)?.ok_or_else(|| {
                    format!("channel '{name}': pagerduty needs `secret_env` (or `secret_file`) naming the routing key")
                })?,
            },
            ChannelKind::Teams => Transport::Teams(need_url(name, s)?),
            ChannelKind::Opsgenie => Transport::Opsgenie {
                base: s.resolve_url(name)?.unwrap_or_else(|| super::opsgenie::US_URL.to_string()),
                key: s.resolve_secret(name)?.ok_or_else(|| {
                    format!("channel '{name}': opsgenie needs `secret_env` (or `secret_file`) naming the API key")
                })?,
            },
            ChannelKind::Github => Transport::Issues(Box::new(super::issues::Tracker::new(name, s, super::issues::Forge::GitHub)?)),
            ChannelKind::Gitlab => Transport::Issues(Box::new(super::issues::Tracker::new(name, s, super::issues::Forge::GitLab)?)),
            ChannelKind::Falco => Transport::Falco(match s.output.as_deref().unwrap_or("stdout") {
                "stdout" => FalcoOut::Stdout,
                "file" => FalcoOut::File(PathBuf::from(s.path.clone().ok_or_else(|| format!("channel '{name}': falco `output: file` needs `path`"))?)),
                "http" => FalcoOut::Http(need_url(name, s)?),
                other => return Err(format!("channel '{name}': falco `output: {other}` is not one of stdout, file, http")),
            }),
            ChannelKind::Jsonl => Transport::Jsonl(PathBuf::from(
                s.path.clone().ok_or_else(|| format!("channel '{name}': jsonl needs `path`"))?,
            )),
        };
        let types =
            if s.filters.resource_types.is_empty() {
                None
            } else {
                let mut b = GlobSetBuilder::new();
                for g in &s.filters.resource_types {
                    b.add(Glob::new(g).map_err(|e| {
                        format!("channel '{name}': filters.resource_types '{g}': {e}")
                    })?);
                }
                Some(b.build().map_err(|e| format!("channel '{name}': {e}"))?)
            };
        Ok(Channel {
            name: name.to_string(),
            kind: s.kind,
            min_severity: s.min_severity.unwrap_or(Severity::Info),
            rate_limit: s.rate_limit,
            timeout: s.timeout(),
            kinds: s.filters.kinds.clone(),
            types,
            providers: s.filters.providers.clone(),
            accounts: s.filters.accounts.clone(),
            environments: s.filters.environments.clone(),
            transport,
            client,
        })
    }

    /// Whether this channel takes the alert (severity and filters).
    #[must_use]
    pub fn accepts(&self, a: &Alert) -> bool {
        a.severity >= self.min_severity
            && (self.kinds.is_empty() || self.kinds.contains(&a.kind))
            && self
                .types
                .as_ref()
                .is_none_or(|g| g.is_match(&a.resource.rtype))
            && (self.providers.is_empty() || self.providers.contains(&a.provider))
            && (self.accounts.is_empty()
                || a.event
                    .account
                    .as_ref()
                    .is_some_and(|x| self.accounts.contains(x)))
            && (self.environments.is_empty()
                || a.enrichment
                    .environment
                    .as_ref()
                    .is_some_and(|x| self.environments.contains(x)))
    }

    /// For file channels (jsonl, Falco `output: file`): the file, and whether it takes Falco
    /// events. The outbox worker writes those itself, idempotently (see [`super::jsonl`]).
    #[must_use]
    pub fn file_sink(&self) -> Option<(&std::path::Path, bool)> {
        match &self.transport {
            Transport::Jsonl(p) => Some((p, false)),
            Transport::Falco(FalcoOut::File(p)) => Some((p, true)),
            _ => None,
        }
    }

    /// Issue trackers: the interval between "seen again" comments on one drift (the router
    /// flags quiet occurrences for them); `None` for other channels.
    #[must_use]
    pub fn comment_interval(&self) -> Option<Duration> {
        match &self.transport {
            Transport::Issues(t) => Some(t.comment_interval),
            _ => None,
        }
    }

    /// Gives channels that keep state in the store (issue trackers: drift → issue links) the
    /// outbox worker's store.
    pub fn attach_store(&self, store: &Arc<dyn crate::store::Store>) {
        if let Transport::Issues(t) = &self.transport {
            t.attach_store(store.clone());
        }
    }

    /// Sends one message.
    pub async fn send(&self, msg: &Message) -> Result<(), SendError> {
        let t = self.timeout;
        match &self.transport {
            Transport::Slack(url) => self.post(url, &slack::render(msg), &[]).await,
            Transport::Discord(url) => self.post(url, &discord::render(msg), &[]).await,
            Transport::Webhook {
                url,
                secret,
                headers,
            } => {
                let body = serde_json::to_vec(&webhook::render(msg)).unwrap_or_default();
                let mut hs = headers.clone();
                if let Some(sec) = secret {
                    let now = chrono::Utc::now().timestamp();
                    hs.extend(webhook::signature_headers(sec.as_bytes(), &body, now));
                }
                http::post_json(&self.client, url, body, &hs, t).await
            }
            Transport::Email(e) => e.send(msg).await,
            Transport::PagerDuty { url, routing_key } => {
                self.post(url, &pagerduty::render(routing_key, msg), &[])
                    .await
            }
            Transport::Teams(url) => self.post(url, &super::teams::render(msg), &[]).await,
            Transport::Issues(tr) => tr.send(&self.name, &self.client, t, msg).await,
            Transport::Opsgenie { base, key } => {
                let (url, body) = super::opsgenie::request(base, msg);
                self.post(
                    &url,
                    &body,
                    &[("Authorization".into(), format!("GenieKey {key}"))],
                )
                .await
            }
            Transport::Falco(out) => {
                let events = falco::render(msg);
                match out {
                    FalcoOut::Stdout => {
                        use std::io::Write as _;
                        let mut o = std::io::stdout().lock();
                        for e in &events {
                            writeln!(o, "{e}")
                                .map_err(|e| SendError::retry(format!("stdout: {e}")))?;
                        }
                        o.flush()
                            .map_err(|e| SendError::retry(format!("stdout: {e}")))
                    }
                    FalcoOut::File(p) => {
                        let lines: Vec<String> = events.iter().map(ToString::to_string).collect();
                        let p = p.clone();
                        tokio::task::spawn_blocking(move || jsonl::append(&p, &lines))
                            .await
                            .map_err(|e| SendError::retry(e.to_string()))?
                    }
                    FalcoOut::Http(url) => {
                        for e in &events {
                            self.post(url, e, &[]).await?;
                        }
                        Ok(())
                    }
                }
            }
            Transport::Jsonl(p) => {
                let lines = jsonl::render(msg);
                let p = p.clone();
                tokio::task::spawn_blocking(move || jsonl::append(&p, &lines))
                    .await
                    .map_err(|e| SendError::retry(e.to_string()))?
            }
        }
    }

    async fn post(
        &self,
        url: &str,
        v: &serde_json::Value,
        headers: &[(String, String)],
    ) -> Result<(), SendError> {
        let body = serde_json::to_vec(v).unwrap_or_default();
        http::post_json(&self.client, url, body, headers, self.timeout).await
    }
}

/// Every configured channel, by name.
#[derive(Debug, Default)]
pub struct Channels {
    /// Channels by name.
    pub by_name: BTreeMap<String, Arc<Channel>>,
    /// Names used when no rule names a channel.
    pub defaults: Vec<String>,
}

impl Channels {
    /// Builds every channel; all problems are reported together.
    pub fn from_settings(s: &NotifySettings) -> Result<Channels, Vec<String>> {
        let client = http::client();
        let mut by_name = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, cs) in &s.channels {
            match Channel::new(name, cs, client.clone()) {
                Ok(c) => {
                    by_name.insert(name.clone(), Arc::new(c));
                }
                Err(e) => errors.push(e),
            }
        }
        for d in &s.defaults {
            if !s.channels.contains_key(d) {
                errors.push(format!(
                    "notify.defaults names '{d}', which is not under notify.channels"
                ));
            }
        }
        if errors.is_empty() {
            Ok(Channels {
                by_name,
                defaults: s.defaults.clone(),
            })
        } else {
            Err(errors)
        }
    }

    /// Whether no channel is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

//! `notify:` and `metrics:` in a profile. Secrets are named, never written: `url_env` /
//! `url_file`, `secret_env` / `secret_file`, `password_env` / `password_file`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::alert::{AlertKind, Severity};

/// `notify:` in a profile.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// Channels by name (the names rule `actions` use).
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelSettings>,
    /// Channels used when no matching rule names one.
    #[serde(default)]
    pub defaults: Vec<String>,
    /// Identical drift (resource, attribute, observed value) within this many seconds notifies
    /// once; the next notification carries the count (default 300; 0 turns dedupe off).
    #[serde(default)]
    pub dedupe_window_secs: Option<u64>,
    /// Delivery attempts before an item is marked failed (default 8).
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

/// Channel type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Slack incoming webhook (Block Kit).
    Slack,
    /// Discord webhook (embed).
    Discord,
    /// Generic webhook: the alert JSON, HMAC-signed.
    Webhook,
    /// Email over SMTP.
    Email,
    /// PagerDuty Events API v2.
    Pagerduty,
    /// Opsgenie Alert API v2 (alias = drift id; closed on resolve).
    Opsgenie,
    /// Microsoft Teams Workflows / incoming webhook (Adaptive Card).
    Teams,
    /// GitHub issues: one issue per drift in `repo` (commented, closed, reopened with it).
    Github,
    /// GitLab issues: one issue per drift in the project `repo`, the same way.
    Gitlab,
    /// Falco-format JSON to stdout, a file or falcosidekick.
    Falco,
    /// Alert JSON lines appended to a file (SIEM).
    Jsonl,
}

/// SMTP transport security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Upgrade with STARTTLS (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption (local relays and tests only).
    None,
}

/// Per-channel alert filters (all must hold; empty = any).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChannelFilters {
    /// Alert kinds.
    #[serde(default)]
    pub kinds: Vec<AlertKind>,
    /// Terraform type globs (`aws_iam_*`).
    #[serde(default)]
    pub resource_types: Vec<String>,
    /// `aws`, `gcp`.
    #[serde(default)]
    pub providers: Vec<String>,
    /// Accounts or projects.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Environment tag values (`enrichment.environment`).
    #[serde(default)]
    pub environments: Vec<String>,
}

/// Token bucket: `per_minute` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Messages per minute.
    pub per_minute: u32,
    /// Bucket size (default: `per_minute`).
    #[serde(default)]
    pub burst: Option<u32>,
}

/// One channel.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    /// Channel type.
    #[serde(rename = "type")]
    pub kind: ChannelKind,
    /// Alerts below this severity are not sent here (default: info, everything).
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Further filters.
    #[serde(default)]
    pub filters: ChannelFilters,
    /// Endpoint URL (not secret: falcosidekick, a PagerDuty or Slack override in tests).
    #[serde(default)]
    pub url: Option<String>,
    /// Environment variable holding the endpoint URL (Slack / Discord webhook URLs are secret).
    #[serde(default)]
    pub url_env: Option<String>,
    /// File holding the endpoint URL.
    #[serde(default)]
    pub url_file: Option<String>,
    /// Environment variable holding the secret (webhook HMAC key, PagerDuty routing key).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// File holding the secret.
    #[serde(default)]
    pub secret_file: Option<String>,
    /// Extra HTTP headers (webhook). Values may use `${ENV}` (substituted at load).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request timeout, milliseconds (default 10000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Rate limit; over it, alerts are held and sent as one digest.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Falco: `stdout`, `file` (with `path`) or `http` (with `url`: falcosidekick).
    #[serde(default)]
    pub output: Option<String>,
    /// File for `jsonl` and Falco `file` output.
    #[serde(default)]
    pub path: Option<String>,
    /// SMTP host.
    #[serde(default)]
    pub smtp_host: Option<String>,
    /// SMTP port (default by `tls`: 587, 465, 25).
    #[serde(default)]
    pub smtp_port: Option<u16>,
    /// SMTP security.
    #[serde(default)]
    pub tls: SmtpTls,
    /// SMTP user.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the SMTP password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the SMTP password.
    #[serde(default)]
    pub password_file: Option<String>,
    /// Sender address.
    #[serde(default)]
    pub from: Option<String>,
    /// Recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// Issue trackers: the repository (`owner/name` on GitHub; the project path
    /// `group/project` or numeric id on GitLab).
    #[serde(default)]
    pub repo: Option<String>,
    /// Issue trackers: the REST API base (default `https://api.github.com` or
    /// `https://gitlab.com/api/v4`; GitHub Enterprise: `https://HOST/api/v3`).
    #[serde(default)]
    pub api_url: Option<String>,
    /// Issue trackers: environment variable holding the API token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Issue trackers: file holding the API token.
    #[serde(default)]
    pub token_file: Option<String>,
    /// Issue trackers: labels put on every issue (default `[tfdrift]`).
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// Issue trackers: at most one "seen again" comment per drift per this many seconds
    /// (default 3600; severity rises and reopenings always comment).
    #[serde(default)]
    pub comment_interval_secs: Option<u64>,
    /// Issue trackers: at most this many new issues per run (default 50), so a first run
    /// against a long-drifted account cannot flood the repository; drifts over the cap are left
    /// failed in the outbox (`tfdrift notify retry` sends them).
    #[serde(default)]
    pub max_new_issues: Option<u32>,
}

/// `metrics:` in a profile: the daemon's `/healthz` and `/metrics`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Listen address (default `127.0.0.1:9464`; loopback unless you say otherwise).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Environment variable holding a bearer token `/metrics` requires.
    #[serde(default)]
    pub token_env: Option<String>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            listen: default_listen(),
            token_env: None,
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:9464".into()
}

/// Reads a secret from the named variable or file. The error names the variable or file,
/// never the value.
pub fn read_secret(
    channel: &str,
    what: &str,
    env: Option<&str>,
    file: Option<&str>,
) -> Result<Option<String>, String> {
    if let Some(var) = env {
        return match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_string())),
            _ => Err(format!(
                "channel '{channel}': {what} variable '{var}' is not set (export it)"
            )),
        };
    }
    if let Some(path) = file {
        return match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_string())),
            Ok(_) => Err(format!(
                "channel '{channel}': {what} file '{path}' is empty"
            )),
            Err(e) => Err(format!(
                "channel '{channel}': cannot read {what} file '{path}': {}",
                e.kind()
            )),
        };
    }
    Ok(None)
}

impl ChannelSettings {
    /// The endpoint URL from `url`, `url_env` or `url_file`.
    pub fn resolve_url(&self, name: &str) -> Result<Option<String>, String> {
        if let Some(u) = &self.url {
            return Ok(Some(u.clone()));
        }
        read_secret(
            name,
            "URL",
            self.url_env.as_deref(),
            self.url_file.as_deref(),
        )
    }

    /// The shared secret / routing key.
    pub fn resolve_secret(&self, name: &str) -> Result<Option<String>, String> {
        read_secret(
            name,
            "secret",
            self.secret_env.as_deref(),
            self.secret_file.as_deref(),
        )
    }

    /// Request timeout.
    #[must_use]
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms.unwrap_or(10_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_channels_and_rejects_unknown_keys() {
        let yaml = "channels:\n  slack-oncall:\n    type: slack\n    url_env: SLACK_URL\n    min_severity: high\n    filters: {kinds: [attribute_drift], resource_types: ['aws_*']}\n    rate_limit: {per_minute: 10}\ndefaults: [slack-oncall]\n";
        let s: NotifySettings = serde_saphyr::from_str(yaml).unwrap();
        let c = &s.channels["slack-oncall"];
        assert_eq!(c.kind, ChannelKind::Slack);
        assert_eq!(c.min_severity, Some(Severity::High));
        let bad = "channels:\n  x:\n    type: slack\n    webhook: https://x\n";
        assert!(serde_saphyr::from_str::<NotifySettings>(bad).is_err());
    }

    #[test]
    fn secret_errors_never_hold_the_value() {
        let e = read_secret("c", "URL", Some("TFDRIFT_SURELY_UNSET_VAR"), None).unwrap_err();
        assert!(e.contains("TFDRIFT_SURELY_UNSET_VAR"));
    }

    #[test]
    fn metrics_listen_on_loopback_by_default() {
        let m: MetricsSettings = serde_saphyr::from_str("token_env: T\n").unwrap();
        let addr: std::net::SocketAddr = m.listen.parse().unwrap();
        assert!(addr.ip().is_loopback(), "{addr}");
        assert_eq!(
            m,
            MetricsSettings {
                token_env: Some("T".into()),
                ..MetricsSettings::default()
            }
        );
    }
}

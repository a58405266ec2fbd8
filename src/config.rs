//! Configuration: a YAML file of named profiles, with `${ENV}` substitution for secrets and an
//! embedded `demo` profile so `tfdrift tui --profile demo` needs no file at all.
//!
//! Unknown keys are errors that name the key and its position: a typo must never silently turn
//! a setting off.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::alert::Severity;

/// The embedded defaults (the demo profile).
pub const EMBEDDED_CONFIG: &str = include_str!("../config/embedded.yaml");

/// Prefix for paths that point into the binary's embedded assets.
pub const EMBEDDED_PREFIX: &str = "embedded:";

/// Configuration errors: each names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config '{path}': {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// YAML or schema problem.
    #[error("config '{path}': {message}")]
    Parse {
        /// Path.
        path: String,
        /// Parser message with line and column.
        message: String,
    },
    /// `${VAR}` names an unset variable.
    #[error(
        "config '{path}' line {line}: environment variable '{var}' is not set (export it, or remove the ${{{var}}} reference)"
    )]
    Env {
        /// Path.
        path: String,
        /// 1-based line.
        line: usize,
        /// Variable.
        var: String,
    },
    /// The profile does not exist.
    #[error(
        "no profile '{name}' in {source_desc}; available: {available} (add it under `profiles:`)"
    )]
    NoProfile {
        /// Requested name.
        name: String,
        /// Where we looked.
        source_desc: String,
        /// Known names.
        available: String,
    },
}

/// The whole file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Named profiles.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// Replay pacing for file inputs (the demo loops its bundled events).
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReplaySettings {
    /// Start again at the end (with fresh event ids and times).
    #[serde(default, rename = "loop")]
    pub looping: bool,
    /// Pause between events, milliseconds (0 = as fast as possible).
    #[serde(default)]
    pub interval_ms: u64,
}

/// One profile: what to watch, against which state, with which rules.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// What the profile is for.
    #[serde(default)]
    pub description: Option<String>,
    /// State files or directories (`embedded:` for bundled ones).
    #[serde(default)]
    pub state: Vec<String>,
    /// Rule files or directories.
    #[serde(default)]
    pub rules: Vec<String>,
    /// The profile's own event-catalog files or directories (the built-in YAML format): they
    /// add mappings and override built-in ones for the same call.
    #[serde(default)]
    pub catalog: Vec<String>,
    /// Recorded event files replayed as a source.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Pacing of `inputs`.
    #[serde(default)]
    pub replay: ReplaySettings,
    /// Severity for drift that matches no rule.
    #[serde(default)]
    pub default_severity: Option<String>,
    /// Identities (globs over ARN, principal id, email) whose changes are Terraform's own.
    #[serde(default)]
    pub terraform_principals: Vec<String>,
    /// Where history, acknowledgements and the outbox live, and for how long.
    #[serde(default)]
    pub store: Option<crate::store::StoreSettings>,
    /// Enrichment settings: which tag keys name the owner, team, environment, cost centre.
    #[serde(default)]
    pub enrich: crate::enrich::EnrichSettings,
    /// Notification channels and routing defaults.
    #[serde(default)]
    pub notify: crate::notify::NotifySettings,
    /// The daemon's `/healthz` and `/metrics` endpoint (off unless set).
    #[serde(default)]
    pub metrics: Option<crate::notify::settings::MetricsSettings>,
    /// Live event sources (`{type: sqs, …}`, `{type: falco_http, …}`).
    #[serde(default)]
    pub sources: Vec<crate::collect::SourceSpec>,
    /// How `s3://` and `gs://` entries of `state` are read and refreshed.
    #[serde(default)]
    pub remote_state: RemoteStateSettings,
    /// Team mode, daemon side: serve the gRPC API (`tfdrift serve`).
    #[serde(default)]
    pub api: Option<crate::api::settings::ApiSettings>,
    /// Team mode, client side: the daemon a monitor attaches to.
    #[serde(default)]
    pub daemon: Option<crate::api::settings::DaemonSettings>,
    /// Terraform root modules `tfdrift reconcile` plans (see `crate::reconcile`).
    #[serde(default)]
    pub workspaces: Vec<crate::reconcile::WorkspaceSpec>,
    /// How often, how many at once and how long a reconcile may take.
    #[serde(default)]
    pub reconcile: crate::reconcile::ReconcileSettings,
    /// Remediation behind approval (`{enabled, approvals, plan_ttl}`; off unless enabled).
    #[serde(default)]
    pub remediation: crate::remediation::RemediationSettings,
}

fn default_refresh_seconds() -> u64 {
    60
}

fn default_region() -> String {
    "us-east-1".into()
}

/// `remote_state:` in a profile.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RemoteStateSettings {
    /// Region of the state buckets (default `us-east-1`).
    #[serde(default = "default_region")]
    pub region: String,
    /// Custom S3 endpoint (a local server).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Custom GCS endpoint for `gs://` entries (a local fake-gcs-server; with `http://`
    /// requests are anonymous, otherwise Application Default Credentials are used).
    #[serde(default)]
    pub gcs_endpoint_url: Option<String>,
    /// Seconds between refreshes (default 60); a Terraform-originated event refreshes at once.
    #[serde(default = "default_refresh_seconds")]
    pub refresh_seconds: u64,
}

impl Default for RemoteStateSettings {
    fn default() -> Self {
        Self {
            region: default_region(),
            endpoint_url: None,
            gcs_endpoint_url: None,
            refresh_seconds: default_refresh_seconds(),
        }
    }
}

impl Profile {
    /// The remote state configuration for the live pipeline, when `state` names `s3://` or
    /// `gs://` locations (the local paths come along: the refreshed index merges both).
    #[must_use]
    pub fn remote_state(&self) -> Option<crate::state::remote::RemoteStateConfig> {
        use crate::state::remote::is_remote;
        let (remote, local): (Vec<String>, Vec<String>) =
            self.state.iter().cloned().partition(|s| is_remote(s));
        if remote.is_empty() {
            return None;
        }
        Some(crate::state::remote::RemoteStateConfig {
            local,
            remote,
            region: self.remote_state.region.clone(),
            endpoint_url: self.remote_state.endpoint_url.clone(),
            gcs_endpoint_url: self.remote_state.gcs_endpoint_url.clone(),
            interval: std::time::Duration::from_secs(self.remote_state.refresh_seconds.max(1)),
        })
    }
}

impl Profile {
    /// The default severity, validated.
    pub fn severity(&self) -> Result<Severity, String> {
        match &self.default_severity {
            None => Ok(Severity::Medium),
            Some(s) => Severity::parse(s).ok_or_else(|| {
                format!("default_severity '{s}' is not one of critical, high, medium, low, info")
            }),
        }
    }
}

/// Replaces `${VAR}` with the environment's value.
fn substitute_env(path: &str, text: &str) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            let var = &rest[start + 2..start + end];
            let value = std::env::var(var).map_err(|_| ConfigError::Env {
                path: path.to_string(),
                line: i + 1,
                var: var.to_string(),
            })?;
            out.push_str(&value);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

/// Parses config text. `path` names it in errors.
pub fn parse_config(path: &str, text: &str) -> Result<ConfigFile, ConfigError> {
    let text = substitute_env(path, text)?;
    serde_saphyr::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// Where a config comes from, in order: `--config`, `$TFDRIFT_CONFIG`, `./tfdrift.yaml`,
/// `$XDG_CONFIG_HOME/tfdrift/config.yaml` (or `~/.config/…`). `None` = embedded defaults only.
#[must_use]
pub fn find_config(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Ok(p) = std::env::var("TFDRIFT_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let local = PathBuf::from("tfdrift.yaml");
    if local.exists() {
        return Some(local);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let p = base.join("tfdrift").join("config.yaml");
    p.exists().then_some(p)
}

/// Loads the config (embedded defaults overlaid by the user's file) and picks a profile.
pub fn load_profile(explicit: Option<&Path>, name: &str) -> Result<Profile, ConfigError> {
    let mut merged = parse_config("<embedded>", EMBEDDED_CONFIG)?;
    let mut desc = "the embedded defaults".to_string();
    if let Some(path) = find_config(explicit) {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
            path: display.clone(),
            source,
        })?;
        let user = parse_config(&display, &text)?;
        merged.profiles.extend(user.profiles);
        desc = format!("'{display}' or the embedded defaults");
    }
    merged
        .profiles
        .remove(name)
        .ok_or_else(|| ConfigError::NoProfile {
            name: name.to_string(),
            source_desc: desc,
            available: merged
                .profiles
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_has_demo() {
        let cfg = parse_config("<embedded>", EMBEDDED_CONFIG).unwrap();
        assert!(cfg.profiles.contains_key("demo"));
    }

    #[test]
    fn unknown_keys_are_errors_with_position() {
        let err = parse_config("t.yaml", "profiles:\n  prod:\n    staet: [a]\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("staet"), "{msg}");
        assert!(msg.contains("t.yaml"), "{msg}");
    }

    #[test]
    fn env_substitution() {
        // SAFETY-free: tests set a variable only this test reads.
        let err = parse_config(
            "t.yaml",
            "profiles:\n  p:\n    state: [\"${TFDRIFT_TEST_UNSET_VAR}\"]\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("TFDRIFT_TEST_UNSET_VAR"));
        assert!(err.to_string().contains("line 3"));
    }
}

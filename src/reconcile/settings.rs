//! The profile's `workspaces:` and `reconcile:` keys: which Terraform root modules a reconcile
//! plans, with what environment, how often, how many at once and for how long at most.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// One entry of `workspaces:`: a root module on disk and the workspaces to plan in it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceSpec {
    /// The root module's directory (the daemon's checkout).
    pub dir: String,
    /// Label on the board (default: the directory, plus `#workspace` unless `default`).
    #[serde(default)]
    pub name: Option<String>,
    /// `default`, a list of names, or `"*"` for every workspace the backend has.
    #[serde(default)]
    pub workspace: WorkspaceSelect,
    /// `-var-file` arguments, relative to `dir`.
    #[serde(default)]
    pub var_files: Vec<String>,
    /// Extra environment for terraform (`AWS_PROFILE: prod-readonly`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Which workspaces of a root module to plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceSelect {
    /// These names.
    Named(Vec<String>),
    /// Every workspace `terraform workspace list` shows.
    All,
}

impl Default for WorkspaceSelect {
    fn default() -> Self {
        WorkspaceSelect::Named(vec!["default".into()])
    }
}

impl<'de> Deserialize<'de> for WorkspaceSelect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::One(s) if s == "*" => WorkspaceSelect::All,
            Raw::One(s) => WorkspaceSelect::Named(vec![s]),
            Raw::Many(v) => WorkspaceSelect::Named(v),
        })
    }
}

/// `reconcile:` in a profile.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReconcileSettings {
    /// How often the daemon reconciles (`6h`, `30m`); absent: only on demand.
    #[serde(default, deserialize_with = "opt_duration")]
    pub every: Option<Duration>,
    /// Workspaces planned at once (default 2).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Longest one plan may take before it is killed and reported as an error (default 20m).
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// The terraform binary (default `terraform` on PATH).
    #[serde(default)]
    pub terraform: Option<String>,
}

fn default_concurrency() -> usize {
    2
}

fn default_timeout() -> Duration {
    Duration::from_mins(20)
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            every: None,
            concurrency: default_concurrency(),
            timeout: default_timeout(),
            terraform: None,
        }
    }
}

/// Parses `90s`, `20m`, `6h`, `1d`, `1h30m`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => {
                return Err(format!(
                    "'{s}' is not a duration: use e.g. 90s, 20m, 6h, 1d"
                ));
            }
        };
        let n: u64 = num
            .parse()
            .map_err(|_| format!("'{s}' is not a duration: a number must precede '{c}'"))?;
        total = total.saturating_add(n.saturating_mul(unit));
        num.clear();
    }
    if !num.is_empty() || t.is_empty() {
        return Err(format!(
            "'{s}' is not a duration: end it with a unit (s, m, h, d)"
        ));
    }
    Ok(Duration::from_secs(total))
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// One workspace to plan: a root module and a workspace name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Board label.
    pub name: String,
    /// The root module.
    pub dir: PathBuf,
    /// Terraform workspace.
    pub workspace: String,
    /// `-var-file`s.
    pub var_files: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
}

impl WorkspaceSpec {
    /// The label of one of this entry's workspaces.
    #[must_use]
    pub fn label(&self, workspace: &str) -> String {
        let base = self.name.clone().unwrap_or_else(|| {
            Path::new(&self.dir)
                .components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        });
        if workspace == "default" {
            base
        } else {
            format!("{base}#{workspace}")
        }
    }

    /// The targets of this entry, given the workspaces the backend has (for `"*"`).
    #[must_use]
    pub fn targets(&self, listed: &[String]) -> Vec<Target> {
        let names = match &self.workspace {
            WorkspaceSelect::Named(n) => n.clone(),
            WorkspaceSelect::All => listed.to_vec(),
        };
        names
            .into_iter()
            .map(|w| Target {
                name: self.label(&w),
                dir: PathBuf::from(&self.dir),
                workspace: w,
                var_files: self.var_files.clone(),
                env: self.env.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (s, secs) in [
            ("90s", 90),
            ("20m", 1200),
            ("6h", 21_600),
            ("1h30m", 5400),
            ("45", 45),
            ("1d", 86_400),
        ] {
            assert_eq!(parse_duration(s), Ok(Duration::from_secs(secs)), "{s}");
        }
        for bad in ["", "6x", "h", "10m5"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn profile_keys_parse() {
        #[derive(Deserialize)]
        struct P {
            workspaces: Vec<WorkspaceSpec>,
            reconcile: ReconcileSettings,
        }
        let yaml = "workspaces:\n  - dir: ./infra/network\n    workspace: \"*\"\n    var_files: [prod.tfvars]\n    env: {AWS_PROFILE: ro}\n  - dir: app\n    workspace: [a, b]\nreconcile: {every: 6h, concurrency: 3, timeout: 20m}\n";
        let p: P = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(p.workspaces[0].workspace, WorkspaceSelect::All);
        assert_eq!(p.workspaces[0].env["AWS_PROFILE"], "ro");
        assert_eq!(p.reconcile.every, Some(Duration::from_hours(6)));
        assert_eq!(p.reconcile.concurrency, 3);
        let t = p.workspaces[1].targets(&[]);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].name, "app#b");
        assert_eq!(
            p.workspaces[0].targets(&["default".into()])[0].name,
            "infra/network"
        );
    }
}

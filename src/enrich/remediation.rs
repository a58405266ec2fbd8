//! Remediation commands: restore Terraform's intent, accept reality, or import what Terraform
//! does not manage yet.

use crate::alert::{Alert, AlertKind};
use crate::catalog::ChangeKind;

/// Quotes a Terraform address for a POSIX shell (addresses may hold `"` and `[ ]`).
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A resource name for an import block from a cloud id: the last ARN / path segment, lower
/// case, `[a-z0-9_]` only, starting with a letter.
#[must_use]
pub fn suggested_name(id: &str) -> String {
    let last = id.rsplit(['/', ':']).find(|s| !s.is_empty()).unwrap_or(id);
    let mut name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    name = name.trim_matches('_').to_string();
    while name.contains("__") {
        name = name.replace("__", "_");
    }
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name = format!("r_{name}");
    }
    name.truncate(48);
    name
}

/// The remediation lines for an alert (appended after any rule's own lines).
#[must_use]
pub fn lines(alert: &Alert, change: ChangeKind) -> Vec<String> {
    let r = &alert.resource;
    match (&r.address, alert.kind) {
        (Some(addr), AlertKind::ManagedResourceDeleted) => {
            let q = shell_quote(addr);
            vec![
                format!("terraform apply -target={q}   # recreate it as configured"),
                format!(
                    "terraform apply -refresh-only -target={q}   # accept the deletion into state, then remove it from the code"
                ),
            ]
        }
        (Some(addr), _) => {
            let q = shell_quote(addr);
            vec![
                format!("terraform apply -target={q}   # restore Terraform's configuration"),
                format!(
                    "terraform apply -refresh-only -target={q}   # accept the change into state, then update the code to match"
                ),
            ]
        }
        (None, _) if change == ChangeKind::Delete => vec![format!(
            "# no loaded state manages {} '{}': nothing for Terraform to restore",
            r.rtype, r.id
        )],
        (None, _) => {
            let name = suggested_name(&r.id);
            let id = r.id.replace('\\', "\\\\").replace('"', "\\\"");
            vec![
                format!("import {{\n  to = {}.{name}\n  id = \"{id}\"\n}}", r.rtype),
                "terraform plan -generate-config-out=generated.tf   # write its configuration, review, then apply".to_string(),
            ]
        }
    }
}

/// A command to copy: the shell line and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// One shell command line, ready to paste (no prose, no placeholders).
    pub line: String,
    /// What it does, for the list shown next to it.
    pub why: String,
}

/// One security-group rule as Terraform's state (and the mapped event) writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SgRule {
    /// `tcp`, `udp`, `icmp`, `-1` (all).
    pub protocol: String,
    /// First port.
    pub from_port: i64,
    /// Last port.
    pub to_port: i64,
    /// IPv4 ranges.
    pub cidrs: Vec<String>,
    /// IPv6 ranges.
    pub cidrs6: Vec<String>,
    /// Source security groups.
    pub groups: Vec<String>,
}

impl SgRule {
    fn from_value(v: &serde_json::Value) -> Option<SgRule> {
        let strs = |k: &str| -> Vec<String> {
            v.get(k)
                .and_then(serde_json::Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let port = |k: &str| {
            v.get(k).and_then(|p| {
                p.as_i64()
                    .or_else(|| p.as_str().and_then(|s| s.parse().ok()))
            })
        };
        let protocol = match v.get("protocol")? {
            serde_json::Value::String(s) => s.clone(),
            n @ serde_json::Value::Number(_) => n.to_string(),
            _ => return None,
        };
        Some(SgRule {
            protocol,
            from_port: port("from_port").unwrap_or(0),
            to_port: port("to_port").unwrap_or(0),
            cidrs: strs("cidr_blocks"),
            cidrs6: strs("ipv6_cidr_blocks"),
            groups: strs("security_groups"),
        })
    }

    /// `tcp/22`, `tcp/1000-2000`, `all`.
    #[must_use]
    pub fn ports(&self) -> String {
        if self.protocol == "-1" || self.protocol == "all" {
            return "all traffic".to_string();
        }
        if self.from_port == self.to_port {
            format!("{}/{}", self.protocol, self.from_port)
        } else {
            format!("{}/{}-{}", self.protocol, self.from_port, self.to_port)
        }
    }

    /// Sources (CIDRs, groups), comma-separated.
    #[must_use]
    pub fn sources(&self) -> String {
        self.cidrs
            .iter()
            .chain(&self.cidrs6)
            .chain(&self.groups)
            .cloned()
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Open to the whole internet.
    #[must_use]
    pub fn is_world_open(&self) -> bool {
        self.cidrs.iter().any(|c| c == "0.0.0.0/0") || self.cidrs6.iter().any(|c| c == "::/0")
    }

    /// The AWS CLI shorthand for `--ip-permissions` matching exactly this rule.
    fn ip_permissions(&self) -> String {
        let mut parts = vec![format!(
            "IpProtocol={}",
            if self.protocol == "all" {
                "-1"
            } else {
                self.protocol.as_str()
            }
        )];
        if self.protocol != "-1" && self.protocol != "all" {
            parts.push(format!("FromPort={}", self.from_port));
            parts.push(format!("ToPort={}", self.to_port));
        }
        let list = |key: &str, field: &str, items: &[String]| {
            format!(
                "{key}=[{}]",
                items
                    .iter()
                    .map(|c| format!("{{{field}={c}}}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        if !self.cidrs.is_empty() {
            parts.push(list("IpRanges", "CidrIp", &self.cidrs));
        }
        if !self.cidrs6.is_empty() {
            parts.push(list("Ipv6Ranges", "CidrIpv6", &self.cidrs6));
        }
        if !self.groups.is_empty() {
            parts.push(list("UserIdGroupPairs", "GroupId", &self.groups));
        }
        parts.join(",")
    }
}

/// Rules added and removed by a security-group `ingress` / `egress` diff: observed minus
/// state, and state minus observed. `None` when the diff is not a rule list.
#[must_use]
pub fn sg_rule_changes(diff: &crate::alert::Diff) -> Option<(Vec<SgRule>, Vec<SgRule>)> {
    let rules = |v: &serde_json::Value| -> Option<Vec<SgRule>> {
        match v {
            serde_json::Value::Null => Some(Vec::new()),
            serde_json::Value::Array(a) => a.iter().map(SgRule::from_value).collect(),
            _ => None,
        }
    };
    let state = rules(&diff.state)?;
    let observed = rules(&diff.observed)?;
    let added = observed
        .iter()
        .filter(|r| !state.contains(r))
        .cloned()
        .collect();
    let removed = state
        .iter()
        .filter(|r| !observed.contains(r))
        .cloned()
        .collect();
    Some((added, removed))
}

/// Commands for an alert, most specific first, built from its own values: for a security
/// group, revoke exactly the rules the diff added (and re-authorize the ones it removed);
/// then Terraform's restore and accept. Never prose: an alert with nothing to run gets none.
#[must_use]
pub fn commands(alert: &Alert) -> Vec<Command> {
    let r = &alert.resource;
    let mut out = Vec::new();
    let region = alert
        .event
        .region
        .as_deref()
        .map(|reg| format!(" --region {}", shell_quote(reg)))
        .unwrap_or_default();
    if alert.provider == "aws"
        && r.rtype == "aws_security_group"
        && alert.kind == AlertKind::AttributeDrift
    {
        for d in &alert.diffs {
            let dir = match d.path.as_str() {
                "ingress" => "ingress",
                "egress" => "egress",
                _ => continue,
            };
            let Some((added, removed)) = sg_rule_changes(d) else {
                continue;
            };
            for rule in &added {
                out.push(Command {
                    line: format!(
                        "aws ec2 revoke-security-group-{dir} --group-id {}{region} --ip-permissions {}",
                        shell_quote(&r.id),
                        shell_quote(&rule.ip_permissions())
                    ),
                    why: format!("remove the added {dir} rule {} from {}", rule.ports(), rule.sources()),
                });
            }
            for rule in &removed {
                out.push(Command {
                    line: format!(
                        "aws ec2 authorize-security-group-{dir} --group-id {}{region} --ip-permissions {}",
                        shell_quote(&r.id),
                        shell_quote(&rule.ip_permissions())
                    ),
                    why: format!("put back the removed {dir} rule {} from {}", rule.ports(), rule.sources()),
                });
            }
        }
    }
    match (&r.address, alert.kind) {
        (Some(addr), kind) => {
            let q = shell_quote(addr);
            out.push(Command {
                line: format!("terraform apply -target={q}"),
                why: if kind == AlertKind::ManagedResourceDeleted {
                    "recreate it as configured".into()
                } else {
                    "restore Terraform's configuration".into()
                },
            });
            out.push(Command {
                line: format!("terraform apply -refresh-only -target={q}"),
                why: "accept the change into state (then update the code to match)".into(),
            });
        }
        (None, AlertKind::UnmanagedChange) => {
            let name = suggested_name(&r.id);
            let id = r.id.replace('\\', "\\\\").replace('"', "\\\"");
            let block = format!(
                "import {{\n  to = {}.{name}\n  id = \"{id}\"\n}}\n",
                r.rtype
            );
            out.push(Command {
                line: format!(
                    "printf '%s' {} >> import.tf && terraform plan -generate-config-out=generated.tf",
                    shell_quote(&block)
                ),
                why: "bring it under Terraform: write an import block, generate its configuration to review".into(),
            });
        }
        (None, _) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_quotes() {
        assert_eq!(suggested_name("sg-0a1B2c"), "sg_0a1b2c");
        assert_eq!(
            suggested_name("arn:aws:iam::123:role/Admin-Role"),
            "admin_role"
        );
        assert_eq!(suggested_name("123abc"), "r_123abc");
        assert_eq!(
            shell_quote("aws_s3_bucket.b[\"logs\"]"),
            "'aws_s3_bucket.b[\"logs\"]'"
        );
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}

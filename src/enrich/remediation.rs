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

//! `lifecycle { ignore_changes = [...] | all }` read from the workspaces' Terraform
//! configuration (HCL, with `hcl-rs`): drift on those attributes is what the configuration's
//! authors said Terraform should not fight, so tfdrift does not alert on it either — from
//! events or from reconcile — and counts it as `ignored_by_config` instead.
//!
//! Modules are resolved through `.terraform/modules/modules.json` (written by `terraform init`):
//! a resource `module.net.module.sub.aws_x.y[0]` is looked up in the module whose key is
//! `net.sub`. `count`/`for_each` instances inherit their block's setting (instance keys are
//! dropped from the address).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl::{Expression, TraversalOperator};

use super::plan::covers;

/// What one resource block ignores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    /// `ignore_changes = all`.
    All,
    /// These attribute paths (dotted: `tags.Env`, `ingress`).
    Paths(Vec<String>),
}

/// Every `ignore_changes` of the configured workspaces, by (module key, type, name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreSet {
    entries: BTreeMap<(String, String, String), Ignored>,
    /// Files that could not be read or parsed (the rest of the configuration still counts).
    pub warnings: Vec<String>,
}

/// A resource address without instance keys: (module key, type, name); `None` for data
/// sources and what is not a resource address.
#[must_use]
pub fn split_address(address: &str) -> Option<(String, String, String)> {
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    let mut quoted = false;
    let mut prev = '\0';
    for c in address.chars() {
        match c {
            '"' if depth > 0 && prev != '\\' => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted => depth = depth.saturating_sub(1),
            '.' if depth == 0 && !quoted => {
                segs.push(std::mem::take(&mut cur));
                prev = c;
                continue;
            }
            _ => {}
        }
        if depth == 0 && c != ']' {
            cur.push(c);
        }
        prev = c;
    }
    segs.push(cur);
    let mut modules = Vec::new();
    let mut i = 0;
    while segs.get(i).map(String::as_str) == Some("module") {
        modules.push(segs.get(i + 1)?.clone());
        i += 2;
    }
    if segs.get(i).map(String::as_str) == Some("data") {
        return None;
    }
    let (rtype, name) = (segs.get(i)?, segs.get(i + 1)?);
    if segs.len() != i + 2 || rtype.is_empty() || name.is_empty() {
        return None;
    }
    Some((modules.join("."), rtype.clone(), name.clone()))
}

fn traversal_path(e: &Expression) -> Option<String> {
    match e {
        Expression::Variable(v) => Some(v.as_str().to_string()),
        Expression::String(s) => Some(s.clone()),
        Expression::Traversal(t) => {
            let mut p = traversal_path(&t.expr)?;
            for op in &t.operators {
                let step = match op {
                    TraversalOperator::GetAttr(id) => id.as_str().to_string(),
                    TraversalOperator::LegacyIndex(n) => n.to_string(),
                    TraversalOperator::Index(Expression::Number(n)) => n.to_string(),
                    TraversalOperator::Index(Expression::String(s)) => s.clone(),
                    _ => return None,
                };
                p.push('.');
                p.push_str(&step);
            }
            Some(p)
        }
        _ => None,
    }
}

/// The `ignore_changes` value of a `lifecycle` block.
fn ignored(e: &Expression) -> Option<Ignored> {
    match e {
        Expression::Variable(v) if v.as_str() == "all" => Some(Ignored::All),
        Expression::String(s) if s == "all" || s == "*" => Some(Ignored::All),
        Expression::Array(items) => {
            if items
                .iter()
                .any(|i| matches!(i, Expression::String(s) if s == "*"))
            {
                return Some(Ignored::All);
            }
            Some(Ignored::Paths(
                items.iter().filter_map(traversal_path).collect(),
            ))
        }
        _ => None,
    }
}

impl IgnoreSet {
    /// Adds the resource blocks of one module's HCL text (`module`: its key, "" for the root).
    pub fn add_hcl(&mut self, module: &str, file: &str, text: &str) {
        let body = match hcl::parse(text) {
            Ok(b) => b,
            Err(e) => {
                self.warnings.push(format!(
                    "{file}: not readable as HCL ({}); its lifecycle.ignore_changes are not applied",
                    e.to_string().lines().next().unwrap_or_default()
                ));
                return;
            }
        };
        for block in body.blocks().filter(|b| b.identifier() == "resource") {
            let [rtype, name] = block.labels() else {
                continue;
            };
            for lc in block
                .body()
                .blocks()
                .filter(|b| b.identifier() == "lifecycle")
            {
                let Some(attr) = lc.body().attributes().find(|a| a.key() == "ignore_changes")
                else {
                    continue;
                };
                match ignored(attr.expr()) {
                    Some(ig) => {
                        self.entries.insert(
                            (
                                module.to_string(),
                                rtype.as_str().to_string(),
                                name.as_str().to_string(),
                            ),
                            ig,
                        );
                    }
                    None => self.warnings.push(format!(
                        "{file}: resource \"{}\" \"{}\": ignore_changes is neither a list of attributes nor `all`; not applied",
                        rtype.as_str(),
                        name.as_str()
                    )),
                }
            }
        }
    }

    /// Reads every `*.tf` file of `dir` as module `module`.
    pub fn add_dir(&mut self, module: &str, dir: &Path) {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.warnings.push(format!(
                    "{}: cannot list the configuration ({e}); its lifecycle.ignore_changes are not applied",
                    dir.display()
                ));
                return;
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "tf"))
            .collect();
        files.sort();
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(text) => self.add_hcl(module, &f.display().to_string(), &text),
                Err(e) => self
                    .warnings
                    .push(format!("{}: cannot read ({e})", f.display())),
            }
        }
    }

    /// Reads a root module and, through `.terraform/modules/modules.json`, its modules.
    pub fn add_root(&mut self, root: &Path) {
        self.add_dir("", root);
        let manifest = root.join(".terraform/modules/modules.json");
        let Ok(bytes) = std::fs::read(&manifest) else {
            return;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            self.warnings.push(format!(
                "{}: not JSON; modules' ignore_changes are not applied (run terraform init again)",
                manifest.display()
            ));
            return;
        };
        for m in v
            .get("Modules")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = m
                .get("Key")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            let Some(dir) = m.get("Dir").and_then(serde_json::Value::as_str) else {
                continue;
            };
            if key.is_empty() {
                continue;
            }
            self.add_dir(key, &root.join(dir));
        }
    }

    /// Whether drift on `attribute` of `address` is ignored by the configuration (an empty
    /// attribute, a resource-level drift, only under `all`).
    #[must_use]
    pub fn ignores(&self, address: &str, attribute: &str) -> bool {
        let Some(k) = split_address(address) else {
            return false;
        };
        match self.entries.get(&k) {
            Some(Ignored::All) => true,
            Some(Ignored::Paths(paths)) => {
                !attribute.is_empty() && paths.iter().any(|p| covers(p, attribute))
            }
            None => false,
        }
    }

    /// Whether nothing is ignored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many resource blocks have `ignore_changes`.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

impl IgnoreSet {
    /// The event pipeline's hook: takes the ignored diffs out of an attribute-drift alert,
    /// counting each under [`counter_key`] in `counts`; true when nothing is left (the alert is
    /// not raised). Deletions and unmanaged changes are never ignored (Terraform would re-create
    /// a deleted resource whatever `ignore_changes` says).
    pub fn suppress(
        &self,
        alert: &mut crate::alert::Alert,
        counts: &mut BTreeMap<String, u64>,
    ) -> bool {
        if self.is_empty() || alert.kind != crate::alert::AlertKind::AttributeDrift {
            return false;
        }
        let Some(address) = alert.resource.address.clone() else {
            return false;
        };
        let before = alert.diffs.len();
        alert.diffs.retain(|d| {
            let ignored = self.ignores(&address, &d.path);
            if ignored {
                *counts.entry(counter_key(&address, &d.path)).or_insert(0) += 1;
            }
            !ignored
        });
        before > 0 && alert.diffs.is_empty()
    }
}

/// The `ignored_by_config` counter key for one attribute.
#[must_use]
pub fn counter_key(address: &str, attribute: &str) -> String {
    format!("ignored_by_config {address} {attribute}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        type Case<'a> = (&'a str, Option<(&'a str, &'a str, &'a str)>);
        let cases: &[Case<'_>] = &[
            ("aws_s3_bucket.b", Some(("", "aws_s3_bucket", "b"))),
            ("aws_s3_bucket.b[\"a.b\"]", Some(("", "aws_s3_bucket", "b"))),
            (
                "module.net.aws_subnet.a[0]",
                Some(("net", "aws_subnet", "a")),
            ),
            (
                "module.net[\"x\"].module.sub.aws_vpc.v",
                Some(("net.sub", "aws_vpc", "v")),
            ),
            ("data.aws_caller_identity.me", None),
            ("aws_s3_bucket", None),
            ("", None),
            ("a.b.c", None),
        ];
        for (a, want) in cases {
            let got = split_address(a);
            let want = want.map(|(m, t, n)| (m.to_string(), t.to_string(), n.to_string()));
            assert_eq!(got, want, "{a}");
        }
    }

    #[test]
    fn hcl_cases() {
        let tf = r#"
resource "aws_security_group" "web" {
  name = "web"
  lifecycle {
    ignore_changes = [tags, ingress, tags_all["Env"], versioning[0].enabled]
  }
}
resource "aws_instance" "app" {
  count = 2
  lifecycle { ignore_changes = all }
}
resource "aws_sqs_queue" "q" {
  lifecycle { create_before_destroy = true }
}
resource "aws_s3_bucket" "legacy" {
  lifecycle { ignore_changes = ["tags"] }
}
resource "aws_kms_key" "odd" {
  lifecycle { ignore_changes = var.x }
}
"#;
        let mut s = IgnoreSet::default();
        s.add_hcl("", "main.tf", tf);
        // (address, attribute, ignored)
        let cases = [
            ("aws_security_group.web", "tags.Owner", true),
            ("aws_security_group.web", "ingress", true),
            ("aws_security_group.web", "egress", false),
            ("aws_security_group.web", "tags_all.Env", true),
            ("aws_security_group.web", "tags_all.Team", false),
            ("aws_security_group.web", "versioning.0.enabled", true),
            ("aws_security_group.web", "", false),
            ("aws_instance.app[1]", "instance_type", true),
            ("aws_instance.app[0]", "", true),
            ("aws_sqs_queue.q", "delay_seconds", false),
            ("aws_s3_bucket.legacy", "tags.Env", true),
            ("module.x.aws_security_group.web", "tags.Owner", false),
        ];
        for (a, attr, want) in cases {
            assert_eq!(s.ignores(a, attr), want, "{a} {attr}");
        }
        assert_eq!(s.len(), 3);
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("aws_kms_key"), "{:?}", s.warnings);

        let mut bad = IgnoreSet::default();
        bad.add_hcl("", "broken.tf", "resource \"a\" {");
        assert!(bad.is_empty());
        assert!(
            bad.warnings[0].starts_with("broken.tf"),
            "{:?}",
            bad.warnings
        );
    }

    #[test]
    fn modules_resolved_through_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join("main.tf"),
            "module \"net\" {\n  source = \"./modules/net\"\n}\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("modules/net")).unwrap();
        std::fs::write(
            root.join("modules/net/vpc.tf"),
            "resource \"aws_vpc\" \"v\" {\n  lifecycle {\n    ignore_changes = [tags]\n  }\n}\n",
        )
        .unwrap();
        std::fs::create_dir_all(root.join(".terraform/modules")).unwrap();
        std::fs::write(
            root.join(".terraform/modules/modules.json"),
            r#"{"Modules":[{"Key":"","Source":"","Dir":"."},{"Key":"net","Source":"./modules/net","Dir":"modules/net"}]}"#,
        )
        .unwrap();
        let mut s = IgnoreSet::default();
        s.add_root(root);
        assert!(s.ignores("module.net.aws_vpc.v", "tags.Env"));
        assert!(!s.ignores("aws_vpc.v", "tags.Env"));
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }
}

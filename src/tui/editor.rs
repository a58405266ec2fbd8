//! The rule editor's state: a `ratatui-textarea` buffer over one YAML rule file, live
//! validation through a [`RuleValidator`] (YAML syntax for now; the lead wires
//! `tfdrift::rules` in later), atomic save, and "new rule from this alert" templates.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use ratatui_textarea::{CursorMove, TextArea};

use crate::alert::{Alert, Severity};

/// A problem found in the rule text, 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Line (1-based).
    pub line: usize,
    /// Column (1-based).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Checks rule text. Swap in the rule engine's compiler when it lands.
pub trait RuleValidator: Send {
    /// Problems in `text` (empty = valid).
    fn validate(&self, text: &str) -> Vec<Diagnostic>;
    /// Name shown in the editor title (`YAML syntax`, `rules`).
    fn name(&self) -> &'static str;
    /// What the editor shows when there is nothing to report.
    fn ok_text(&self) -> &'static str {
        "✓ valid YAML"
    }
}

/// The rule engine's own checks (everything `tfdrift rules validate` reports), after YAML syntax.
#[derive(Debug, Default, Clone, Copy)]
pub struct RuleCompiler;

impl RuleValidator for RuleCompiler {
    fn validate(&self, text: &str) -> Vec<Diagnostic> {
        let syntax = YamlSyntax.validate(text);
        if !syntax.is_empty() || text.trim().is_empty() {
            return syntax;
        }
        match crate::rules::RuleSet::from_str("editor", text) {
            Ok(_) => Vec::new(),
            Err(diags) => diags
                .into_iter()
                .filter(crate::rules::Diagnostic::is_error)
                .map(|d| Diagnostic {
                    line: d.line.max(1) as usize,
                    column: d.column.max(1) as usize,
                    message: match &d.hint {
                        Some(h) => format!("{} ({h})", d.message),
                        None => d.message.clone(),
                    },
                })
                .collect(),
        }
    }

    fn name(&self) -> &'static str {
        "rule engine (same checks as `tfdrift rules validate`)"
    }

    fn ok_text(&self) -> &'static str {
        "✓ valid rules"
    }
}

/// YAML syntax only (serde-saphyr), until `tfdrift::rules` is merged.
#[derive(Debug, Default, Clone, Copy)]
pub struct YamlSyntax;

impl RuleValidator for YamlSyntax {
    fn validate(&self, text: &str) -> Vec<Diagnostic> {
        if text.trim().is_empty() {
            return Vec::new();
        }
        match serde_saphyr::from_str::<serde_json::Value>(text) {
            Ok(_) => Vec::new(),
            Err(e) => {
                let (line, column) = e.location().map_or((1, 1), |l| {
                    (
                        usize::try_from(l.line()).unwrap_or(1),
                        usize::try_from(l.column()).unwrap_or(1),
                    )
                });
                let full = e.to_string();
                let first = full
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("invalid YAML")
                    .trim();
                let first = first.strip_prefix("error: ").unwrap_or(first);
                // The position is shown separately: drop a leading `line N column M: `.
                let message = match first.find(": ") {
                    Some(i) if first.starts_with("line ") && first[..i].contains(" column ") => {
                        first[i + 2..].to_string()
                    }
                    _ => first.to_string(),
                };
                vec![Diagnostic {
                    line: line.max(1),
                    column: column.max(1),
                    message,
                }]
            }
        }
    }

    fn name(&self) -> &'static str {
        "YAML syntax only; rule checks arrive with the rule engine"
    }
}

/// The editor.
pub struct RuleEditor {
    /// The buffer.
    pub textarea: TextArea<'static>,
    /// The file edited.
    pub path: PathBuf,
    /// Unsaved changes.
    pub modified: bool,
    /// Current problems.
    pub diagnostics: Vec<Diagnostic>,
    /// Where the text came from (`new file`, `loaded`).
    pub origin: String,
    validator: Box<dyn RuleValidator>,
}

impl std::fmt::Debug for RuleEditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleEditor")
            .field("path", &self.path)
            .field("modified", &self.modified)
            .field("diagnostics", &self.diagnostics)
            .finish_non_exhaustive()
    }
}

impl RuleEditor {
    /// Opens `path` (missing file = empty buffer).
    #[must_use]
    pub fn open(path: PathBuf, validator: Box<dyn RuleValidator>) -> RuleEditor {
        let (text, origin) = match std::fs::read_to_string(&path) {
            Ok(t) => (t, "loaded".to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                (String::new(), "new file".to_string())
            }
            Err(e) => (String::new(), format!("cannot read: {e}")),
        };
        RuleEditor::with_text(path, &text, origin, validator)
    }

    /// An editor over given text (tests, scratch).
    #[must_use]
    pub fn with_text(
        path: PathBuf,
        text: &str,
        origin: String,
        validator: Box<dyn RuleValidator>,
    ) -> RuleEditor {
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut ed = RuleEditor {
            textarea: TextArea::new(lines),
            path,
            modified: false,
            diagnostics: Vec::new(),
            origin,
            validator,
        };
        ed.validate();
        ed
    }

    /// Replaces the validator (the lead wires the rule compiler here).
    pub fn set_validator(&mut self, v: Box<dyn RuleValidator>) {
        self.validator = v;
        self.validate();
    }

    /// Validator name.
    #[must_use]
    pub fn validator_ok_text(&self) -> &'static str {
        self.validator.ok_text()
    }

    /// Name of the active validator.
    #[must_use]
    pub fn validator_name(&self) -> &'static str {
        self.validator.name()
    }

    /// The whole text.
    #[must_use]
    pub fn text(&self) -> String {
        let mut s = self.textarea.lines().join("\n");
        s.push('\n');
        s
    }

    /// Re-runs validation.
    pub fn validate(&mut self) {
        self.diagnostics = self.validator.validate(&self.text());
    }

    /// Feeds a key to the buffer; re-validates when the text changed.
    pub fn input(&mut self, input: impl Into<ratatui_textarea::Input>) {
        if self.textarea.input(input) {
            self.modified = true;
            self.validate();
        }
    }

    /// Writes the file atomically (temp file in the same directory, then rename).
    pub fn save(&mut self) -> std::io::Result<()> {
        write_atomic(&self.path, self.text().as_bytes())?;
        self.modified = false;
        self.origin = "saved".to_string();
        Ok(())
    }

    /// Inserts a list item under a top-level `section:` key (added at the end when missing) and
    /// moves the cursor there.
    pub fn insert_item(&mut self, section: &str, item_lines: &[String]) {
        let mut lines: Vec<String> = self.textarea.lines().to_vec();
        if lines.len() == 1 && lines[0].is_empty() {
            lines.clear();
        }
        let key = format!("{section}:");
        let at = lines.iter().position(|l| {
            l.starts_with(&key) && {
                let rest = l[key.len()..].trim();
                rest.is_empty() || rest == "[]" || rest.starts_with('#')
            }
        });
        let insert_at = if let Some(i) = at {
            if lines[i][key.len()..].trim() == "[]" {
                lines[i].clone_from(&key);
            }
            i + 1
        } else {
            if lines.last().is_some_and(|l| !l.trim().is_empty()) {
                lines.push(String::new());
            }
            lines.push(key);
            lines.len()
        };
        for (n, l) in item_lines.iter().enumerate() {
            lines.insert(insert_at + n, l.clone());
        }
        let row = u16::try_from(insert_at).unwrap_or(u16::MAX);
        let mut ta = TextArea::new(lines);
        ta.move_cursor(CursorMove::Jump(row, 0));
        self.textarea = ta;
        self.modified = true;
        self.validate();
    }
}

/// Writes `bytes` to `path` via a temp file and rename, so readers never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "rules".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tfdrift-tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn slug(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_string()
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// `ignore:` entry for an alert (expires in 30 days), in the rule schema the engine loads
/// (`address` / `type` / `attribute` / `user_identity` select; `reason` is mandatory):
/// a managed resource by its address (and the changed attributes), an unmanaged one by its
/// type and the actor who changed it (an ignore entry cannot name a cloud id).
#[must_use]
pub fn ignore_item(a: &Alert, now: DateTime<Utc>) -> Vec<String> {
    let expires = (now + Duration::days(30)).format("%Y-%m-%d");
    let mut out = vec![format!(
        "  - id: {}",
        slug(&format!(
            "ignore-{}-{}",
            a.resource.rtype,
            crate::enrich::remediation::suggested_name(&a.resource.id)
        ))
    )];
    match &a.resource.address {
        Some(addr) => {
            out.push(format!("    address: {}", yaml_str(&glob_escape(addr))));
            let paths: Vec<&str> = a.diffs.iter().map(|d| d.path.as_str()).collect();
            match paths.as_slice() {
                [] => {}
                [one] => out.push(format!("    attribute: {}", yaml_str(&glob_escape(one)))),
                many => out.push(format!(
                    "    attribute: {}",
                    yaml_str(&format!(
                        "{{{}}}",
                        many.iter()
                            .map(|p| glob_escape(p).replace(',', "\\,"))
                            .collect::<Vec<_>>()
                            .join(",")
                    ))
                )),
            }
        }
        None => {
            out.push(format!(
                "    type: {}   # unmanaged: no address; narrowed by who changed it",
                yaml_str(&glob_escape(&a.resource.rtype))
            ));
            let act = &a.actor;
            let who = act
                .arn
                .as_deref()
                .map(|v| ("arn", v))
                .or(act.email.as_deref().map(|v| ("email", v)))
                .or(act.session.as_deref().map(|v| ("session", v)))
                .or(act.principal.as_deref().map(|v| ("principal_id", v)));
            if let Some((field, value)) = who {
                out.push("    user_identity:".to_string());
                out.push(format!("      {field}: {}", yaml_str(&glob_escape(value))));
            }
        }
    }
    out.push(format!(
        "    reason: {}",
        yaml_str(&format!(
            "TODO: why {} by {} is expected",
            a.event.name,
            super::feed::actor_label(a)
        ))
    ));
    out.push(format!("    expires: {expires}"));
    out
}

/// Escapes glob metacharacters so a literal value matches only itself (`b["x"]` holds `[`).
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One severity step up (critical stays critical).
#[must_use]
pub fn raised(s: Severity) -> Severity {
    match s {
        Severity::Info => Severity::Low,
        Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    }
}

/// `rules:` entry raising the severity of this kind of change.
#[must_use]
pub fn severity_item(a: &Alert) -> Vec<String> {
    let attrs: Vec<&str> = a.diffs.iter().map(|d| d.path.as_str()).collect();
    let what = if attrs.is_empty() {
        a.kind.as_str().to_string()
    } else {
        attrs.join("-")
    };
    let sev = raised(a.severity);
    let mut out = vec![
        format!(
            "  - id: {}",
            slug(&format!("raise-{}-{what}", a.resource.rtype))
        ),
        format!(
            "    name: {}",
            yaml_str(&format!("{} changes on {}", what, a.resource.rtype))
        ),
        format!("    resource_types: [{}]", a.resource.rtype),
    ];
    if attrs.is_empty() {
        out.push("    conditions: []  # any change of this type".to_string());
    } else {
        out.push("    conditions:".to_string());
        for p in attrs {
            out.push(format!("      - attribute: {}", yaml_str(p)));
            out.push("        operator: changed".to_string());
        }
    }
    out.push(format!("    severity: {}", sev.as_str()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_errors_carry_line_and_column() {
        let d = YamlSyntax.validate("rules:\n  - id: x\n    name: [unclosed\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].line >= 3, "{d:?}");
        assert!(YamlSyntax.validate("rules:\n  - id: x\n").is_empty());
    }

    #[test]
    fn insert_item_goes_under_the_section() {
        let mut ed = RuleEditor::with_text(
            PathBuf::from("/nonexistent/r.yaml"),
            "rules: []\n",
            "t".into(),
            Box::new(YamlSyntax),
        );
        ed.insert_item(
            "ignore",
            &["  - resource: a.b".into(), "    reason: r".into()],
        );
        ed.insert_item("rules", &["  - id: x".into()]);
        assert_eq!(
            ed.text(),
            "rules:\n  - id: x\n\nignore:\n  - resource: a.b\n    reason: r\n"
        );
        assert!(ed.diagnostics.is_empty(), "{:?}", ed.diagnostics);
    }

    #[test]
    fn atomic_save_replaces_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("r.yaml");
        std::fs::write(&p, "old\n").expect("write");
        let mut ed = RuleEditor::open(p.clone(), Box::new(YamlSyntax));
        ed.insert_item("rules", &["  - id: y".into()]);
        ed.save().expect("save");
        assert_eq!(
            std::fs::read_to_string(&p).expect("read"),
            "old\n\nrules:\n  - id: y\n"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("dir").count(),
            1,
            "no temp file left"
        );
    }
}

//! Rule engine: decides severity, routing, remediation and what is ignored.
//!
//! Rules are YAML data (`rules/*.yaml`): conditions on drift attributes and alert fields,
//! `resource_types` globs, identity `filters`, `actions` routing to channels, remediation and
//! runbook templates, top-level `ignore:` entries and `tests:`. Files are read into a
//! position-carrying tree ([`yaml`]), checked and compiled once ([`parse`], [`compile`]) into an
//! immutable [`RuleSet`], and evaluated per alert ([`eval`]). `validate_paths` reports every
//! problem at once; [`RuleSet::run_tests`] runs the tests; [`watch::RuleWatcher`] hot-reloads.

pub mod compile;
pub mod diag;
pub mod eval;
pub mod model;
pub mod parse;
pub mod rule_tests;
pub mod template;
pub mod types;
pub mod validate;
pub mod value;
pub mod watch;
pub mod yaml;

pub use diag::{Code, DiagSeverity, Diagnostic};
pub use eval::{EvalContext, Evaluation, IgnoreCount, IgnoreStats, RuleMatch, Verdict};
pub use rule_tests::{EventConverter, TestReport, TestRow, run_tests};
pub use validate::{validate_paths, validate_paths_at};
pub use watch::RuleWatcher;

use model::{IgnoreEntry, Rule, TypePattern};
use rule_tests::RuleTest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A compiled, immutable set of rules, ignore entries and rule tests. `Send + Sync`; share it
/// behind an `Arc` and swap it whole on reload.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    pub(crate) ignores: Vec<IgnoreEntry>,
    pub(crate) tests: Vec<RuleTest>,
    /// Rule indices by exact resource type (fast path: most rules name exact types).
    pub(crate) by_type: HashMap<String, Vec<usize>>,
    /// Rules with a glob or no resource type: checked for every alert.
    pub(crate) generic: Vec<usize>,
    /// Every distinct resource-type glob, matched once per alert.
    pub(crate) type_globs: globset::GlobSet,
    /// Per rule: indices into `type_globs` of its globs.
    pub(crate) rule_globs: Vec<Vec<usize>>,
    /// Number of distinct attribute paths (size of the per-evaluation path cache).
    pub(crate) path_count: usize,
    warnings: Vec<Diagnostic>,
}

impl RuleSet {
    /// No rules: every alert gets the default severity.
    #[must_use]
    pub fn empty() -> RuleSet {
        RuleSet::default()
    }

    /// Loads rule files and directories (`*.yaml`, `*.yml`; `*.tests.yaml` are test files; a
    /// file's sibling `NAME.tests.yaml` is loaded with it). Errors reject the whole set.
    pub fn load(paths: &[PathBuf]) -> Result<RuleSet, Vec<Diagnostic>> {
        let (set, diags) = load_all(paths, None);
        if diag::has_errors(&diags) {
            Err(diags)
        } else {
            Ok(set)
        }
    }

    /// Loads disk paths plus in-memory files (the packs embedded in the binary), as one set.
    pub fn load_with_texts(
        paths: &[PathBuf],
        texts: &[(String, String)],
    ) -> Result<RuleSet, Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let mut parsed: Vec<parse::Parsed> = texts
            .iter()
            .map(|(name, text)| parse::parse_text(name, text, None))
            .collect();
        for file in collect_files(paths, &mut diags) {
            let name = file.display().to_string();
            match read_limited(&file) {
                Ok(text) => parsed.push(parse::parse_text(&name, &text, None)),
                Err(d) => diags.push(d),
            }
        }
        let (set, more) = assemble(parsed);
        diags.extend(more);
        if diag::has_errors(&diags) {
            Err(diags)
        } else {
            Ok(set)
        }
    }

    /// Parses one file's text (tests included).
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(file_name: &str, text: &str) -> Result<RuleSet, Vec<Diagnostic>> {
        let parsed = parse::parse_text(file_name, text, None);
        let (set, diags) = assemble(vec![parsed]);
        if diag::has_errors(&diags) {
            Err(diags)
        } else {
            Ok(set)
        }
    }

    /// Number of rules.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// No rules at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Rule ids in load order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.id.as_str())
    }

    /// The compiled rules (read-only).
    #[must_use]
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Ignore entries (read-only).
    #[must_use]
    pub fn ignores(&self) -> &[IgnoreEntry] {
        &self.ignores
    }

    /// Loaded rule tests.
    #[must_use]
    pub fn tests(&self) -> &[RuleTest] {
        &self.tests
    }

    /// Warnings from loading (legacy template aliases …).
    #[must_use]
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }
}

/// Loads everything, returning the set built from what parsed plus all diagnostics.
pub(crate) fn load_all(
    paths: &[PathBuf],
    known_channels: Option<&[String]>,
) -> (RuleSet, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let files = collect_files(paths, &mut diags);
    let mut parsed = Vec::new();
    for file in files {
        let name = file.display().to_string();
        match read_limited(&file) {
            Ok(text) => parsed.push(parse::parse_text(&name, &text, known_channels)),
            Err(d) => diags.push(d),
        }
    }
    let (set, more) = assemble(parsed);
    diags.extend(more);
    (set, diags)
}

/// Why a rule path could not be read, in words: a symlink loop and a missing file are
/// different problems with different fixes.
fn io_reason(e: &std::io::Error) -> String {
    if crate::state::parse::is_symlink_loop(e) {
        return "symlink loop: the link leads back to itself (point it at a rule file)".into();
    }
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (check its permissions and the user tfdrift runs as)".into()
        }
        _ => format!("cannot read: {e}"),
    }
}

/// The diagnostic for a path that is neither a file nor a directory.
fn not_regular(name: &str) -> Diagnostic {
    Diagnostic::error(
        name,
        yaml::Pos::default(),
        Code::Io,
        "not a regular file (a FIFO, socket or device): rules are read from files",
    )
}

fn read_limited(path: &Path) -> Result<String, Diagnostic> {
    let name = path.display().to_string();
    let at = yaml::Pos { line: 0, column: 0 };
    let meta = std::fs::metadata(path)
        .map_err(|e| Diagnostic::error(&name, at, Code::Io, io_reason(&e)))?;
    if !meta.is_file() {
        // Reading a FIFO would block for ever.
        return Err(not_regular(&name));
    }
    if meta.len() > yaml::MAX_FILE_BYTES as u64 {
        return Err(Diagnostic::error(
            &name,
            at,
            Code::YamlSyntax,
            format!(
                "file is {} bytes, more than the {}-byte limit",
                meta.len(),
                yaml::MAX_FILE_BYTES
            ),
        )
        .with_hint("split the rules into several files"));
    }
    let bytes =
        std::fs::read(path).map_err(|e| Diagnostic::error(&name, at, Code::Io, io_reason(&e)))?;
    String::from_utf8(bytes).map_err(|e| {
        Diagnostic::error(
            &name,
            at,
            Code::YamlSyntax,
            format!("file is not UTF-8: {e}"),
        )
    })
}

fn is_yaml(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

fn is_tests_file(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".tests.yaml") || n.ends_with(".tests.yml"))
}

/// Expands directories (recursively, sorted) and adds each rule file's sibling tests file.
fn collect_files(paths: &[PathBuf], diags: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => walk_dir(path, 0, &mut out, diags),
            Ok(m) if m.is_file() => {
                out.push(path.clone());
                if !is_tests_file(path) {
                    for ext in ["tests.yaml", "tests.yml"] {
                        let sibling = path.with_extension(ext);
                        if sibling.is_file() {
                            out.push(sibling);
                        }
                    }
                }
            }
            Ok(_) => diags.push(not_regular(&path.display().to_string())),
            Err(e) => diags.push(Diagnostic::error(
                &path.display().to_string(),
                yaml::Pos::default(),
                Code::Io,
                io_reason(&e),
            )),
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

fn walk_dir(dir: &Path, depth: usize, out: &mut Vec<PathBuf>, diags: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.push(Diagnostic::error(
                &dir.display().to_string(),
                yaml::Pos::default(),
                Code::Io,
                format!("cannot read directory: {e}"),
            ));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            if depth < 8
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                walk_dir(&p, depth + 1, out, diags);
            }
        } else if is_yaml(&p) {
            out.push(p);
        }
    }
}

/// Joins parsed files: duplicate ids, tests naming unknown rules, the type index.
fn assemble(parsed: Vec<parse::Parsed>) -> (RuleSet, Vec<Diagnostic>) {
    let mut set = RuleSet::default();
    let mut diags = Vec::new();
    let mut first_seen: HashMap<String, (String, yaml::Pos)> = HashMap::new();
    for p in parsed {
        diags.extend(p.diags);
        let mut duplicates = Vec::new();
        for (id, pos) in p.rule_ids {
            if let Some((first_file, first)) = first_seen.get(&id) {
                diags.push(
                    Diagnostic::error(
                        &p.file,
                        pos,
                        Code::DuplicateId,
                        format!("duplicate rule id '{id}'"),
                    )
                    .with_hint(format!(
                        "first defined at {first_file}:{}:{}",
                        first.line, first.column
                    )),
                );
                duplicates.push((id, pos));
            } else {
                first_seen.insert(id, (p.file.clone(), pos));
            }
        }
        set.rules.extend(p.rules.into_iter().filter(|r| {
            !duplicates
                .iter()
                .any(|(id, pos)| *id == r.id && *pos == r.pos)
        }));
        set.ignores.extend(p.ignores);
        set.tests.extend(p.tests);
    }
    for t in &set.tests {
        if !first_seen.contains_key(&t.rule) {
            let ids: Vec<&str> = first_seen.keys().map(String::as_str).collect();
            diags.push(Diagnostic::error(
                &t.file,
                t.pos,
                Code::BadTest,
                format!(
                    "test '{}' names unknown rule '{}'{}",
                    t.name,
                    t.rule,
                    diag::suggestion_suffix(&t.rule, ids)
                ),
            ));
        }
    }
    index(&mut set);
    diags.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    set.warnings = diags.iter().filter(|d| !d.is_error()).cloned().collect();
    (set, diags)
}

/// Builds the evaluation indexes: rules by exact type, distinct type globs, attribute path ids.
fn index(set: &mut RuleSet) {
    let mut glob_ids: HashMap<String, usize> = HashMap::new();
    let mut builder = globset::GlobSetBuilder::new();
    for (i, rule) in set.rules.iter().enumerate() {
        let mut mine = Vec::new();
        for t in &rule.resource_types {
            if let TypePattern::Glob(g) = t {
                let next = glob_ids.len();
                let id = *glob_ids
                    .entry(g.glob().glob().to_owned())
                    .or_insert_with(|| {
                        builder.add(g.glob().clone());
                        next
                    });
                mine.push(id);
            }
        }
        if rule.resource_types.is_empty() || !mine.is_empty() {
            set.generic.push(i);
        } else {
            for t in &rule.resource_types {
                if let TypePattern::Exact(s) = t {
                    let list = set.by_type.entry(s.clone()).or_default();
                    if !list.contains(&i) {
                        list.push(i);
                    }
                }
            }
        }
        set.rule_globs.push(mine);
    }
    // Globs were each compiled on their own already, so building the set cannot fail in practice;
    // if it did, fall back to an empty set and per-rule matching.
    set.type_globs = builder
        .build()
        .unwrap_or_else(|_| globset::GlobSet::empty());
    let mut path_ids: HashMap<String, usize> = HashMap::new();
    for rule in &mut set.rules {
        for c in &mut rule.conditions {
            assign_path_ids(c, &mut path_ids);
        }
    }
    set.path_count = path_ids.len();
}

fn assign_path_ids(c: &mut model::Condition, ids: &mut HashMap<String, usize>) {
    match c {
        model::Condition::All(cs) | model::Condition::Any(cs) => {
            for c in cs {
                assign_path_ids(c, ids);
            }
        }
        model::Condition::Leaf(leaf) => {
            if let model::Target::Attribute(path) = &mut leaf.target {
                let next = ids.len();
                path.id = *ids.entry(path.text.clone()).or_insert(next);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each read failure says what it is: as root a permission error cannot be made with file
    /// modes, so the errors are built here.
    #[test]
    fn read_failures_say_what_they_are() {
        let e = |kind| std::io::Error::from(kind);
        assert!(
            io_reason(&e(std::io::ErrorKind::PermissionDenied)).starts_with("permission denied")
        );
        assert_eq!(
            io_reason(&e(std::io::ErrorKind::NotFound)),
            "no such file or directory"
        );
        #[cfg(target_os = "linux")]
        assert!(io_reason(&std::io::Error::from_raw_os_error(40)).starts_with("symlink loop"));
        let dir = tempfile::tempdir().expect("tmp");
        let link = dir.path().join("self.yaml");
        std::os::unix::fs::symlink(&link, &link).expect("symlink");
        let mut diags = Vec::new();
        assert!(collect_files(std::slice::from_ref(&link), &mut diags).is_empty());
        assert!(diags[0].message.starts_with("symlink loop"), "{}", diags[0]);
    }
}

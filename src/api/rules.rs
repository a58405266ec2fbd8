//! The Rules calls of the team API: list the rule files and the rules in force, read a file with
//! its version, validate and test a text with the daemon's own compiler (in place of one of its
//! files, so cross-file problems show), and save a file (admin only).
//!
//! A save is refused when the file changed since the version the client edited (optimistic
//! concurrency: FAILED_PRECONDITION naming who saved it and when, when this daemon knows) and
//! when the text does not validate; otherwise it is written atomically (temporary file in the
//! same directory, fsync, rename), the daemon's rule watcher reloads it as it does any edit, and
//! the reply carries the reload's outcome. Every save is logged with who, when and both versions.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};
use tonic::{Request, Response, Status};

use super::auth::require;
use super::proto as pb;
use super::server::ApiState;
use super::tokens::Role;
use crate::alert::Alert;
use crate::rules::watch::WatchStatus;
use crate::rules::{Code, Diagnostic, RuleSet, TestReport, yaml};

/// Turns a rule test's raw event fixture into alerts (the daemon's catalog, as `tfdrift rules
/// test` does); without it event fixtures fail with "needs pipeline".
pub type Converter = Arc<dyn Fn(&serde_json::Value) -> Vec<Alert> + Send + Sync>;

/// How long a save waits for the rule watcher to reload the file it wrote.
pub const RELOAD_WAIT: Duration = Duration::from_secs(15);

/// The last save of a file through the API (who changed it, for a refused stale save).
#[derive(Debug, Clone)]
struct Saved {
    who: String,
    at: DateTime<Utc>,
    version: String,
}

/// What the Rules calls need from the daemon: its rule paths, the rules it started with and
/// its rule watcher.
pub struct RulesApi {
    /// Rule files and directories on disk, as the profile names them.
    paths: Vec<PathBuf>,
    /// The rules loaded at start (embedded packs included); in force until the first reload.
    initial: Arc<RuleSet>,
    /// The pipeline's rule watcher; `None` when hot reload is off (then saves are refused).
    watch: Option<WatchStatus>,
    /// The profile's notification channels (a rule routing elsewhere is an error).
    channels: Vec<String>,
    /// Event fixtures → alerts, for rule tests.
    converter: Option<Converter>,
    /// Serialises saves (check, write, reload wait).
    save_lock: tokio::sync::Mutex<()>,
    /// The last save of each file through the API (readers never wait for a save).
    saves: std::sync::Mutex<HashMap<PathBuf, Saved>>,
}

impl std::fmt::Debug for RulesApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RulesApi")
            .field("paths", &self.paths)
            .field("watching", &self.watch.is_some())
            .finish_non_exhaustive()
    }
}

impl RulesApi {
    /// The daemon's rules: `paths` on disk (watched by `watch`), `initial` as loaded at start.
    #[must_use]
    pub fn new(
        paths: Vec<PathBuf>,
        initial: Arc<RuleSet>,
        watch: Option<WatchStatus>,
        channels: Vec<String>,
        converter: Option<Converter>,
    ) -> Self {
        RulesApi {
            paths,
            initial,
            watch,
            channels,
            converter,
            save_lock: tokio::sync::Mutex::default(),
            saves: std::sync::Mutex::default(),
        }
    }

    /// The rules the engine applies: the watcher's set once it has reloaded, else the start set.
    fn in_force(&self) -> Arc<RuleSet> {
        match &self.watch {
            Some(w) if w.counters().0 > 0 => w.current(),
            _ => self.initial.clone(),
        }
    }

    /// The file the client names, if it is one of the daemon's (no other path is ever read
    /// or written).
    fn find(&self, name: &str) -> Result<PathBuf, Status> {
        if name.is_empty() {
            return Err(Status::invalid_argument(
                "path is empty: name one of the daemon's rule files (ListRules lists them)",
            ));
        }
        let files = rule_files(&self.paths);
        files
            .iter()
            .find(|p| p.display().to_string() == name)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                Status::not_found(format!(
                    "'{name}' is not one of the daemon's rule files ({})",
                    if known.is_empty() {
                        "it has none on disk".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            })
    }

    /// Every rule file's text with `replace` in place of its own (the set the watcher will load
    /// after a save).
    fn texts_with(&self, replace: &Path, text: &str) -> (Vec<(String, String)>, Vec<Diagnostic>) {
        let mut texts = Vec::new();
        let mut diags = Vec::new();
        for p in rule_files(&self.paths) {
            let name = p.display().to_string();
            if p == replace {
                texts.push((name, text.to_string()));
            } else {
                match read_text(&p) {
                    Ok(t) => texts.push((name, t)),
                    Err(d) => diags.push(d),
                }
            }
        }
        (texts, diags)
    }

    /// Diagnostics of `text`, in place of `path` when given (duplicate ids across files, tests
    /// of rules elsewhere), else on its own.
    fn check(&self, path: Option<&Path>, text: &str) -> Vec<Diagnostic> {
        let name = path.map_or_else(|| "<text>".to_string(), |p| p.display().to_string());
        let (texts, mut diags) = match path {
            Some(p) => self.texts_with(p, text),
            None => (vec![(name.clone(), text.to_string())], Vec::new()),
        };
        match RuleSet::load_with_texts(&[], &texts) {
            Ok(set) => diags.extend(set.warnings().iter().cloned()),
            Err(d) => diags.extend(d),
        }
        if !self.channels.is_empty() {
            let own = crate::rules::parse::parse_text(&name, text, Some(&self.channels));
            diags.extend(
                own.diags
                    .into_iter()
                    .filter(|d| d.code == Code::UnknownChannel),
            );
        }
        diags.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        diags.dedup();
        diags
    }

    /// The rule tests with `text` in place of `path` (or the text's own tests).
    fn test(&self, path: Option<&Path>, text: &str) -> TestReport {
        let (texts, io) = match path {
            Some(p) => self.texts_with(p, text),
            None => (vec![("<text>".to_string(), text.to_string())], Vec::new()),
        };
        if !io.is_empty() {
            return TestReport {
                rows: Vec::new(),
                diagnostics: io,
            };
        }
        match RuleSet::load_with_texts(&[], &texts) {
            Ok(set) => {
                let convert = self.converter.as_deref().map(|f| f as _);
                let mut report = set.run_tests(convert, chrono::Local::now().date_naive());
                report.diagnostics = set.warnings().to_vec();
                report
            }
            Err(diagnostics) => TestReport {
                rows: Vec::new(),
                diagnostics,
            },
        }
    }

    /// The last saves, copied (a poisoned lock still holds good records).
    fn saved(&self) -> HashMap<PathBuf, Saved> {
        self.saves
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn reload_state(&self) -> pb::RuleReload {
        let (reloads, failures) = self.watch.as_ref().map_or((0, 0), WatchStatus::counters);
        pb::RuleReload {
            watching: self.watch.is_some(),
            reloads,
            failures,
            errors: self
                .watch
                .as_ref()
                .map(WatchStatus::last_errors)
                .unwrap_or_default()
                .iter()
                .map(diagnostic)
                .collect(),
            rules_in_force: u32::try_from(self.in_force().len()).unwrap_or(u32::MAX),
        }
    }
}

impl ApiState {
    /// Serves the Rules calls over the daemon's rules (without it they answer UNAVAILABLE).
    #[must_use]
    pub fn with_rules(mut self, rules: RulesApi) -> Self {
        self.rules = Some(Arc::new(rules));
        self
    }

    fn rules_api(&self) -> Result<Arc<RulesApi>, Status> {
        self.rules
            .clone()
            .ok_or_else(|| Status::unavailable("this daemon does not serve its rules over the API"))
    }
}

/// `sha256:` + hex of the bytes: the version a save must start from.
#[must_use]
pub fn version(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Every rule file under `paths` as the loader reads them: directories recursively (sorted,
/// hidden directories skipped), a named file with its sibling `NAME.tests.yaml`.
fn rule_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    fn is_yaml(p: &Path) -> bool {
        p.extension().is_some_and(|e| e == "yaml" || e == "yml")
    }
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                let hidden = p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'));
                if depth < 8 && !hidden {
                    walk(&p, depth + 1, out);
                }
            } else if is_yaml(&p) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, 0, &mut out);
        } else {
            out.push(p.clone());
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            if name.is_some_and(|n| !n.ends_with(".tests.yaml") && !n.ends_with(".tests.yml")) {
                for ext in ["tests.yaml", "tests.yml"] {
                    let sibling = p.with_extension(ext);
                    if sibling.is_file() {
                        out.push(sibling);
                    }
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

fn is_tests(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().contains(".tests."))
}

/// A rule file's text (bounded, UTF-8), or the diagnostic saying why not.
fn read_text(path: &Path) -> Result<String, Diagnostic> {
    let name = path.display().to_string();
    let io = |msg: String| Diagnostic::error(&name, yaml::Pos::default(), Code::Io, msg);
    let meta = std::fs::metadata(path).map_err(|e| io(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(io("not a regular file: rules are read from files".into()));
    }
    if meta.len() > yaml::MAX_FILE_BYTES as u64 {
        return Err(io(format!(
            "file is {} bytes, more than the {}-byte limit (split the rules into several files)",
            meta.len(),
            yaml::MAX_FILE_BYTES
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| io(format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| io(format!("file is not UTF-8: {e}")))
}

fn diagnostic(d: &Diagnostic) -> pb::RuleDiagnostic {
    pb::RuleDiagnostic {
        file: d.file.clone(),
        line: d.line,
        column: d.column,
        code: d.code.id().to_string(),
        severity: if d.is_error() { "error" } else { "warning" }.to_string(),
        message: d.message.clone(),
        hint: d.hint.clone().unwrap_or_default(),
        text: d.to_string(),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("rules task failed: {e}")))
}

fn too_big(text: &str) -> Result<(), Status> {
    if text.len() > yaml::MAX_FILE_BYTES {
        return Err(Status::invalid_argument(format!(
            "the text is {} bytes, more than the {}-byte rule file limit (split the rules into several files)",
            text.len(),
            yaml::MAX_FILE_BYTES
        )));
    }
    Ok(())
}

/// `ListRules`: the files (with versions) and the rules in force, then the disabled ones.
pub async fn list(
    state: &Arc<ApiState>,
    req: Request<pb::ListRulesRequest>,
) -> Result<Response<pb::ListRulesReply>, Status> {
    require(&req, Role::Viewer, "listing rules")?;
    let api = state.rules_api()?;
    let saves = api.saved();
    let a = api.clone();
    let (files, disabled) = blocking(move || {
        let mut files = Vec::new();
        let mut disabled = Vec::new();
        for p in rule_files(&a.paths) {
            let text = read_text(&p).ok();
            let v = text.as_deref().map(|t| version(t.as_bytes()));
            let saved = saves.get(&p).filter(|s| Some(&s.version) == v.as_ref());
            if let Some(t) = &text {
                let name = p.display().to_string();
                let parsed = crate::rules::parse::parse_text(&name, t, None);
                if !crate::rules::diag::has_errors(&parsed.diags) {
                    for (id, pos) in &parsed.rule_ids {
                        if !parsed.rules.iter().any(|r| &r.id == id) {
                            disabled.push(pb::RuleInfo {
                                id: id.clone(),
                                name: id.clone(),
                                severity: String::new(),
                                file: name.clone(),
                                enabled: false,
                                line: pos.line,
                            });
                        }
                    }
                }
            }
            files.push(pb::RuleFileInfo {
                path: p.display().to_string(),
                version: v.unwrap_or_default(),
                editable: a.watch.is_some(),
                tests: is_tests(&p),
                saved_by: saved.map(|s| s.who.clone()).unwrap_or_default(),
                saved_at: saved.map(|s| s.at.to_rfc3339()).unwrap_or_default(),
            });
        }
        (files, disabled)
    })
    .await?;
    let mut rules: Vec<pb::RuleInfo> = api
        .in_force()
        .rules()
        .iter()
        .map(|r| pb::RuleInfo {
            id: r.id.clone(),
            name: r.name.clone(),
            severity: r.severity.as_str().to_string(),
            file: r.file.clone(),
            enabled: true,
            line: r.pos.line,
        })
        .collect();
    rules.extend(disabled);
    Ok(Response::new(pb::ListRulesReply {
        files,
        rules,
        reload: Some(api.reload_state()),
    }))
}

/// `GetRuleFile`: the text and its version.
pub async fn get(
    state: &Arc<ApiState>,
    req: Request<pb::GetRuleFileRequest>,
) -> Result<Response<pb::RuleFile>, Status> {
    require(&req, Role::Viewer, "reading rule files")?;
    let api = state.rules_api()?;
    let path = api.find(&req.into_inner().path)?;
    let p = path.clone();
    let text = blocking(move || read_text(&p))
        .await?
        .map_err(|d| Status::failed_precondition(d.to_string()))?;
    let v = version(text.as_bytes());
    let saves = api.saved();
    let saved = saves.get(&path).filter(|s| s.version == v);
    Ok(Response::new(pb::RuleFile {
        path: path.display().to_string(),
        text,
        version: v,
        saved_by: saved.map(|s| s.who.clone()).unwrap_or_default(),
        saved_at: saved.map(|s| s.at.to_rfc3339()).unwrap_or_default(),
    }))
}

/// `ValidateRules`: the compiler's diagnostics for a text.
pub async fn validate(
    state: &Arc<ApiState>,
    req: Request<pb::ValidateRulesRequest>,
) -> Result<Response<pb::ValidateRulesReply>, Status> {
    require(&req, Role::Viewer, "validating rules")?;
    let api = state.rules_api()?;
    let r = req.into_inner();
    too_big(&r.text)?;
    let path = (!r.path.is_empty())
        .then(|| api.find(&r.path))
        .transpose()?;
    let diags = blocking(move || api.check(path.as_deref(), &r.text)).await?;
    Ok(Response::new(pb::ValidateRulesReply {
        ok: !crate::rules::diag::has_errors(&diags),
        diagnostics: diags.iter().map(diagnostic).collect(),
    }))
}

/// `TestRules`: the rule tests with a text in place of a file.
pub async fn test(
    state: &Arc<ApiState>,
    req: Request<pb::TestRulesRequest>,
) -> Result<Response<pb::TestRulesReply>, Status> {
    require(&req, Role::Viewer, "running rule tests")?;
    let api = state.rules_api()?;
    let r = req.into_inner();
    too_big(&r.text)?;
    let path = (!r.path.is_empty())
        .then(|| api.find(&r.path))
        .transpose()?;
    let report = blocking(move || api.test(path.as_deref(), &r.text)).await?;
    Ok(Response::new(pb::TestRulesReply {
        passed: report.passed(),
        rows: report
            .rows
            .iter()
            .map(|t| pb::RuleTestRow {
                rule: t.rule.clone(),
                name: t.name.clone(),
                passed: t.passed,
                why: t.why.clone(),
                location: t.location.clone(),
            })
            .collect(),
        diagnostics: report.diagnostics.iter().map(diagnostic).collect(),
        report: report.to_string(),
    }))
}

/// Writes `text` to `path` atomically: a temporary file beside it (no rule extension, so the
/// watcher ignores it), fsynced, with the old file's permissions, renamed over it.
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tfdrift-save-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(meta.permissions())?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(d) = std::fs::File::open(dir) {
        // The rename is durable once the directory is.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Who changed a file the client's version is stale for, in words.
fn changed_by(saved: Option<&Saved>, now_version: &str, path: &Path) -> String {
    if let Some(s) = saved.filter(|s| s.version == now_version) {
        return format!(
            "saved by {} at {} through the API",
            s.who,
            s.at.to_rfc3339()
        );
    }
    let when = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(|t| DateTime::<Utc>::from(t).to_rfc3339());
    match when {
        Ok(t) => format!("changed on the daemon's disk outside the API (modified {t})"),
        Err(_) => "changed on the daemon's disk outside the API".to_string(),
    }
}

/// `SaveRuleFile` (admin): version check, validation, atomic write, reload.
pub async fn save(
    state: &Arc<ApiState>,
    req: Request<pb::SaveRuleFileRequest>,
) -> Result<Response<pb::SaveRuleFileReply>, Status> {
    let caller = require(&req, Role::Admin, "saving rule files")?;
    let api = state.rules_api()?;
    let r = req.into_inner();
    too_big(&r.text)?;
    let path = api.find(&r.path)?;
    let Some(watch) = api.watch.clone() else {
        return Err(Status::failed_precondition(
            "the daemon does not watch its rule files (hot reload is off; see its log), so a \
             saved file would not come into force: edit the file on the daemon's host and restart it",
        ));
    };
    if r.base_version.is_empty() {
        return Err(Status::invalid_argument(
            "base_version is empty: read the file first (GetRuleFile, `tfdrift rules pull`) and \
             send the version your edit started from",
        ));
    }
    let serial = api.save_lock.lock().await;
    let p = path.clone();
    let current = blocking(move || read_text(&p))
        .await?
        .map_err(|d| Status::failed_precondition(d.to_string()))?;
    let old = version(current.as_bytes());
    if r.base_version != old {
        let who = changed_by(api.saved().get(&path), &old, &path);
        return Err(Status::failed_precondition(format!(
            "rule file '{}' changed since the version you edited ({}): it is now {old}, {who}; \
             pull it again, redo your edit on it and save",
            path.display(),
            r.base_version
        )));
    }
    let name = path.display().to_string();
    if current == r.text {
        return Ok(Response::new(pb::SaveRuleFileReply {
            version: old,
            changed: false,
            reloaded: false,
            reload: Some(api.reload_state()),
            message: format!("'{name}' already has this text: nothing written"),
        }));
    }
    let (a, p, text) = (api.clone(), path.clone(), r.text.clone());
    let diags = blocking(move || a.check(Some(&p), &text)).await?;
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    if !errors.is_empty() {
        return Err(Status::invalid_argument(format!(
            "the text does not validate ({} error(s)); nothing written:\n{}",
            errors.len(),
            errors.join("\n")
        )));
    }
    let before = watch.counters();
    let (p, text) = (path.clone(), r.text.clone());
    blocking(move || write_atomic(&p, &text))
        .await?
        .map_err(|e| {
            Status::internal(format!(
                "cannot write '{name}': {e} (check the daemon's permissions on its rule directory)"
            ))
        })?;
    let new = version(r.text.as_bytes());
    let at = Utc::now();
    api.saves
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(
            path.clone(),
            Saved {
                who: caller.name.clone(),
                at,
                version: new.clone(),
            },
        );
    tracing::info!(file = %name, who = %caller.name, at = %at.to_rfc3339(), old_version = %old, new_version = %new, "Rule file saved through the API");
    let deadline = Instant::now() + RELOAD_WAIT;
    let mut reloaded = false;
    while Instant::now() < deadline {
        if watch.counters() != before {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    drop(serial);
    let reload = api.reload_state();
    let message = if !reloaded {
        format!(
            "'{name}' saved; the rule watcher has not reloaded it within {} s (the daemon's log says why)",
            RELOAD_WAIT.as_secs()
        )
    } else if watch.counters().1 > before.1 {
        format!(
            "'{name}' saved, but the reload was rejected; the previous rules stay in force ({} error(s))",
            reload.errors.len()
        )
    } else {
        format!(
            "'{name}' saved and reloaded: {} rule(s) in force",
            reload.rules_in_force
        )
    };
    tracing::info!(file = %name, who = %caller.name, reloaded, rules_in_force = reload.rules_in_force, "{message}");
    Ok(Response::new(pb::SaveRuleFileReply {
        version: new,
        changed: true,
        reloaded,
        reload: Some(reload),
        message,
    }))
}

//! Hot reload: watch rule files and directories, swap in a valid new [`RuleSet`] atomically, keep
//! the old one (and surface the diagnostics) when the change is invalid.
//!
//! Readers call [`RuleWatcher::current`] once per alert (a lock-free `arc-swap` load), so an
//! evaluation always sees one whole rule set, never a half-loaded one.
//!
//! Only content changes trigger a reload (create, write, close-after-write, rename, remove):
//! opening or reading a rule file — the reload itself, an editor, `cat` — does not. A change
//! that leaves every rule file's bytes as they were is not reloaded nor announced.

use super::{Diagnostic, RuleSet, diag};
use arc_swap::ArcSwap;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shared state between the watcher thread and readers.
#[derive(Debug)]
struct Shared {
    /// The rules in force.
    current: ArcSwap<RuleSet>,
    /// What the paths were configured as (files or directories).
    paths: Vec<PathBuf>,
    /// Diagnostics of the last failed reload (empty after a good one).
    last_errors: Mutex<Vec<Diagnostic>>,
    /// Successful reloads.
    reloads: AtomicU64,
    /// Rejected reloads (old rules kept).
    failures: AtomicU64,
    /// Digest of the rule files' paths and bytes at the last load attempt: an event that
    /// leaves them as they were (a `touch`, a save of the same text) reloads nothing.
    fingerprint: Mutex<[u8; 32]>,
}

/// Every rule file under `paths` (directories recursively), sorted.
fn rule_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if is_rule_file(&p) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out);
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    out
}

/// Digest of the rule files' names and contents (a missing file counts as its absence).
fn fingerprint(paths: &[PathBuf]) -> [u8; 32] {
    let mut h = Sha256::new();
    crate::fswatch::digest_files(&mut h, &rule_files(paths));
    h.finalize().into()
}

impl Shared {
    /// Reloads when the rule files' content changed since the last attempt; `Ok(false)` when
    /// it did not (nothing logged, nothing counted).
    fn reload_if_changed(&self) -> Result<bool, Vec<Diagnostic>> {
        let now = fingerprint(&self.paths);
        {
            let mut last = match self.fingerprint.lock() {
                Ok(l) => l,
                Err(p) => p.into_inner(),
            };
            if *last == now {
                return Ok(false);
            }
            *last = now;
        }
        self.reload().map(|()| true)
    }

    fn reload(&self) -> Result<(), Vec<Diagnostic>> {
        match RuleSet::load(&self.paths) {
            Ok(set) => {
                tracing::info!(rules = set.len(), "Rules reloaded.");
                self.current.store(Arc::new(set));
                self.reloads.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut errors) = self.last_errors.lock() {
                    errors.clear();
                }
                Ok(())
            }
            Err(diags) => {
                let errors: Vec<Diagnostic> =
                    diags.into_iter().filter(Diagnostic::is_error).collect();
                for d in &errors {
                    tracing::warn!(diagnostic = %d, "Rule reload rejected; keeping the previous rules.");
                }
                self.failures.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.last_errors.lock() {
                    last.clone_from(&errors);
                }
                Err(errors)
            }
        }
    }
}

/// Watches rule paths and keeps the current [`RuleSet`].
pub struct RuleWatcher {
    shared: Arc<Shared>,
    /// Dropping the debouncer stops watching.
    _debouncer: crate::fswatch::FileWatcher,
}

impl std::fmt::Debug for RuleWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleWatcher")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

/// A cheap, cloneable view of a watcher's counters and last errors, for front ends (the rule
/// editor shows whether a save was reloaded).
#[derive(Debug, Clone)]
pub struct WatchStatus(Arc<Shared>);

impl WatchStatus {
    /// (successful reloads, rejected reloads).
    #[must_use]
    pub fn counters(&self) -> (u64, u64) {
        (
            self.0.reloads.load(Ordering::Relaxed),
            self.0.failures.load(Ordering::Relaxed),
        )
    }

    /// Errors of the last rejected reload (empty after a successful one).
    #[must_use]
    pub fn last_errors(&self) -> Vec<Diagnostic> {
        self.0
            .last_errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// The watched paths (files and directories), as configured.
    #[must_use]
    pub fn paths(&self) -> &[PathBuf] {
        &self.0.paths
    }

    /// The rule set the watcher holds (what the engine takes at its next event).
    #[must_use]
    pub fn current(&self) -> Arc<RuleSet> {
        self.0.current.load_full()
    }

    /// Rules currently in force.
    #[must_use]
    pub fn rule_count(&self) -> usize {
        self.0.current.load().len()
    }
}

/// Why a watcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The initial rules do not load.
    #[error("rules do not load ({} problems)", .0.len())]
    Invalid(Vec<Diagnostic>),
    /// The OS watcher failed.
    #[error("cannot watch rule files: {0}")]
    Notify(#[from] notify_debouncer_full::notify::Error),
}

fn is_rule_file(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

impl RuleWatcher {
    /// Loads `paths` (must be valid) and starts watching them; `debounce` groups editor bursts
    /// (200 ms is a good value).
    pub fn start(paths: &[PathBuf], debounce: Duration) -> Result<RuleWatcher, WatchError> {
        let initial_print = fingerprint(paths);
        let initial = RuleSet::load(paths).map_err(WatchError::Invalid)?;
        let shared = Arc::new(Shared {
            fingerprint: Mutex::new(initial_print),
            current: ArcSwap::from_pointee(initial),
            paths: paths.to_vec(),
            last_errors: Mutex::new(Vec::new()),
            reloads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        });
        let handler_shared = Arc::clone(&shared);
        // Errors are logged, counted and kept in `last_errors` by the reload.
        let debouncer = crate::fswatch::watch(paths, debounce, is_rule_file, "Rule", move || {
            let _ = handler_shared.reload_if_changed();
        })?;
        Ok(RuleWatcher {
            shared,
            _debouncer: debouncer,
        })
    }

    /// The rules in force now (cheap; call per evaluation).
    #[must_use]
    pub fn current(&self) -> Arc<RuleSet> {
        self.shared.current.load_full()
    }

    /// A view of the counters for front ends.
    #[must_use]
    pub fn status(&self) -> WatchStatus {
        WatchStatus(Arc::clone(&self.shared))
    }

    /// Reloads now (e.g. on SIGHUP). On error the previous rules stay in force.
    pub fn reload_now(&self) -> Result<(), Vec<Diagnostic>> {
        self.shared.reload()
    }

    /// Errors of the last rejected reload (empty after a successful one).
    #[must_use]
    pub fn last_errors(&self) -> Vec<Diagnostic> {
        self.shared
            .last_errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// `(successful reloads, rejected reloads)` since start.
    #[must_use]
    pub fn counters(&self) -> (u64, u64) {
        (
            self.shared.reloads.load(Ordering::Relaxed),
            self.shared.failures.load(Ordering::Relaxed),
        )
    }

    /// Whether the last reload was rejected.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        diag::has_errors(&self.last_errors())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        false
    }

    const RULE: &str =
        "rules:\n  - id: r1\n    severity: high\n    resource_types: [aws_instance]\n";

    #[test]
    fn valid_change_is_swapped_in_and_invalid_change_keeps_old_rules() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.yaml");
        std::fs::write(&file, RULE).unwrap();
        let w = RuleWatcher::start(&[dir.path().to_path_buf()], Duration::from_millis(50)).unwrap();
        assert_eq!(w.current().rule_ids().collect::<Vec<_>>(), ["r1"]);

        std::fs::write(&file, RULE.replace("r1", "r2")).unwrap();
        assert!(
            wait_for(|| w.current().rule_ids().any(|id| id == "r2")),
            "valid change was not picked up"
        );
        assert_eq!(w.counters().1, 0);

        std::fs::write(&file, "rules:\n  - id: r3\n    severity: urgent\n").unwrap();
        assert!(
            wait_for(|| w.counters().1 >= 1),
            "invalid change was not noticed"
        );
        assert!(w.has_errors());
        assert_eq!(w.last_errors()[0].code, diag::Code::BadSeverity);
        assert_eq!(
            w.current().rule_ids().collect::<Vec<_>>(),
            ["r2"],
            "old rules must stay in force"
        );

        std::fs::write(&file, RULE.replace("r1", "r4")).unwrap();
        assert!(wait_for(|| w.current().rule_ids().any(|id| id == "r4")));
        assert!(!w.has_errors());
    }

    /// Reading the rule files (the reload's own reads, an editor, `cat`) must not reload, and a
    /// write of the same bytes is not a change: an idle watcher announces nothing.
    #[test]
    fn reads_and_same_content_writes_reload_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.yaml");
        std::fs::write(&file, RULE).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b.yml"), RULE.replace("r1", "b1")).unwrap();
        let w = RuleWatcher::start(&[dir.path().to_path_buf()], Duration::from_millis(50)).unwrap();
        // One real change: exactly one reload, then quiet (no reload feeding on its own reads).
        std::fs::write(&file, RULE.replace("r1", "r2")).unwrap();
        assert!(
            wait_for(|| w.counters().0 >= 1),
            "the change was not reloaded"
        );
        let settle = Instant::now() + Duration::from_secs(2);
        while Instant::now() < settle {
            let _ = std::fs::read_to_string(&file).unwrap();
            let _ = std::fs::read_to_string(dir.path().join("sub/b.yml")).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        // Same bytes written again, and a touch: not content changes.
        std::fs::write(&file, RULE.replace("r1", "r2")).unwrap();
        std::fs::File::options()
            .append(true)
            .open(&file)
            .unwrap()
            .set_modified(std::time::SystemTime::now())
            .unwrap();
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(
            w.counters(),
            (1, 0),
            "an idle watcher reloaded (or announced) again"
        );
    }

    #[test]
    fn invalid_initial_rules_refuse_to_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "rules: [").unwrap();
        assert!(matches!(
            RuleWatcher::start(&[dir.path().to_path_buf()], Duration::from_millis(50)),
            Err(WatchError::Invalid(_))
        ));
    }
}

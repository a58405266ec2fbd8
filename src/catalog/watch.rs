//! Hot reload of a profile's own catalog files (`catalog: [./my-mappings/]`), like rule files:
//! a changed, added or removed file under the configured paths is re-validated with the
//! embedded catalog beneath it and swapped in whole (an `arc-swap`, so a lookup always sees
//! one complete catalog); an invalid change keeps the previous catalog, logs every problem as
//! `file:line:column: …` and counts a failure. No restart, no event lost.
//!
//! Only content changes reload: a digest of the files' paths and bytes is compared first, so
//! a `touch`, an editor opening the file or the reload's own reads do nothing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use sha2::{Digest as _, Sha256};

use super::{Catalog, user};

/// Builds the catalog the user files are laid over (the embedded one in production).
pub type BaseFn = dyn Fn() -> Result<Catalog, super::CatalogError> + Send + Sync;

/// Shared between the watcher thread and readers.
struct Shared {
    base: Box<BaseFn>,
    specs: Vec<String>,
    current: ArcSwap<Catalog>,
    reloads: AtomicU64,
    failures: AtomicU64,
    last_errors: Mutex<Vec<String>>,
    fingerprint: Mutex<[u8; 32]>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("specs", &self.specs)
            .field("reloads", &self.reloads)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

/// Digest of the catalog files' names and bytes (a listing problem counts by its text).
fn fingerprint(specs: &[String]) -> [u8; 32] {
    let mut h = Sha256::new();
    match user::files(specs) {
        Ok(files) => crate::fswatch::digest_files(&mut h, &files),
        Err(e) => h.update(e.to_string().as_bytes()),
    }
    h.finalize().into()
}

fn is_catalog_file(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

impl Shared {
    fn build(&self) -> Result<Catalog, Vec<String>> {
        let mut cat = (self.base)().map_err(|e| vec![e.to_string()])?;
        user::load(&mut cat, &self.specs).map_err(|e| e.problems)?;
        Ok(cat)
    }

    fn reload_if_changed(&self) -> Result<bool, Vec<String>> {
        let now = fingerprint(&self.specs);
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

    fn reload(&self) -> Result<(), Vec<String>> {
        match self.build() {
            Ok(cat) => {
                tracing::info!(
                    mappings = cat.len(),
                    "Catalog files reloaded; the next event uses them."
                );
                self.current.store(Arc::new(cat));
                self.reloads.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut e) = self.last_errors.lock() {
                    e.clear();
                }
                Ok(())
            }
            Err(problems) => {
                for p in &problems {
                    tracing::warn!(problem = %p, "Catalog change rejected; keeping the previous catalog.");
                }
                self.failures.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut e) = self.last_errors.lock() {
                    e.clone_from(&problems);
                }
                Err(problems)
            }
        }
    }
}

/// Why a catalog watcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum CatalogWatchError {
    /// The OS watcher failed.
    #[error("cannot watch the catalog files: {0}")]
    Notify(#[from] notify_debouncer_full::notify::Error),
}

/// Watches a profile's catalog paths and holds the catalog in force.
pub struct CatalogWatcher {
    shared: Arc<Shared>,
    /// Dropping the debouncer stops watching.
    _debouncer: crate::fswatch::FileWatcher,
}

impl std::fmt::Debug for CatalogWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogWatcher")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl CatalogWatcher {
    /// Watches `initial.user_specs()` (the paths its user files came from), starting from
    /// `initial` (already loaded and valid); reloads lay the files over the embedded catalog.
    /// `debounce` groups an editor's burst of writes (200 ms is a good value).
    ///
    /// # Errors
    /// The OS file watcher cannot be started.
    pub fn start(
        initial: Arc<Catalog>,
        debounce: Duration,
    ) -> Result<CatalogWatcher, CatalogWatchError> {
        Self::start_with_base(initial, Box::new(Catalog::embedded), debounce)
    }

    /// [`CatalogWatcher::start`] over another base catalog (tests use a small one).
    ///
    /// # Errors
    /// The OS file watcher cannot be started.
    pub fn start_with_base(
        initial: Arc<Catalog>,
        base: Box<BaseFn>,
        debounce: Duration,
    ) -> Result<CatalogWatcher, CatalogWatchError> {
        let specs = initial.user_specs().to_vec();
        let shared = Arc::new(Shared {
            fingerprint: Mutex::new(fingerprint(&specs)),
            base,
            specs: specs.clone(),
            current: ArcSwap::new(initial),
            reloads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_errors: Mutex::new(Vec::new()),
        });
        let handler = Arc::clone(&shared);
        let paths: Vec<PathBuf> = specs.iter().map(PathBuf::from).collect();
        // Errors are logged, counted and kept in `last_errors` by the reload.
        let debouncer =
            crate::fswatch::watch(&paths, debounce, is_catalog_file, "Catalog", move || {
                let _ = handler.reload_if_changed();
            })?;
        Ok(CatalogWatcher {
            shared,
            _debouncer: debouncer,
        })
    }

    /// The catalog in force (cheap; the engine takes it when the counters move).
    #[must_use]
    pub fn current(&self) -> Arc<Catalog> {
        self.shared.current.load_full()
    }

    /// `(successful reloads, rejected reloads)` since start.
    #[must_use]
    pub fn counters(&self) -> (u64, u64) {
        (
            self.shared.reloads.load(Ordering::Relaxed),
            self.shared.failures.load(Ordering::Relaxed),
        )
    }

    /// Problems of the last rejected change (`file:line:column: …`), empty after a good one.
    #[must_use]
    pub fn last_errors(&self) -> Vec<String> {
        self.shared
            .last_errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// Reloads now whatever the files hold (e.g. on SIGHUP); on error the previous catalog
    /// stays in force.
    ///
    /// # Errors
    /// Every problem of every file.
    pub fn reload_now(&self) -> Result<(), Vec<String>> {
        self.shared.reload()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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

    const MAPPING: &str = "provider: aws\nsource: example.amazonaws.com\nevents:\n  - name: CreateWidget\n    kind: create\n    id: request.widgetId\n    type: aws_instance\n";

    /// Which of the test's event names `cat` maps.
    fn names(cat: &Catalog) -> Vec<String> {
        ["CreateWidget", "DeleteWidget", "UpdateWidget"]
            .into_iter()
            .filter(|n| !cat.explain(n).is_empty())
            .map(String::from)
            .collect()
    }

    #[test]
    fn valid_change_swaps_in_invalid_change_keeps_the_old_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mine.yaml");
        std::fs::write(&file, MAPPING).unwrap();
        let mut initial = Catalog::default();
        user::load(&mut initial, &[dir.path().display().to_string()]).unwrap();
        let w = CatalogWatcher::start_with_base(
            Arc::new(initial),
            Box::new(|| Ok(Catalog::default())),
            Duration::from_millis(50),
        )
        .unwrap();
        assert_eq!(names(&w.current()), ["CreateWidget"]);

        // A second file added: both are in force.
        std::fs::write(
            dir.path().join("more.yaml"),
            MAPPING.replace("CreateWidget", "DeleteWidget"),
        )
        .unwrap();
        assert!(
            wait_for(|| names(&w.current()).len() == 2),
            "the added file was not loaded: {:?}",
            names(&w.current())
        );

        // An invalid change: rejected with its position, the previous catalog kept.
        std::fs::write(&file, MAPPING.replace("aws_instance", "aws_instanse")).unwrap();
        assert!(
            wait_for(|| w.counters().1 >= 1),
            "invalid change not noticed"
        );
        let errors = w.last_errors().join("\n");
        assert!(errors.contains("mine.yaml:7:11"), "{errors}");
        assert!(errors.contains("aws_instance"), "{errors}");
        assert_eq!(names(&w.current()), ["CreateWidget", "DeleteWidget"]);

        // Fixed: swapped in, errors cleared.
        std::fs::write(&file, MAPPING.replace("CreateWidget", "UpdateWidget")).unwrap();
        assert!(wait_for(
            || names(&w.current()).contains(&"UpdateWidget".to_string())
        ));
        assert!(w.last_errors().is_empty());
        assert_eq!(names(&w.current()), ["DeleteWidget", "UpdateWidget"]);
        assert_eq!(w.counters().1, 1);
    }

    #[test]
    fn same_bytes_reload_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mine.yaml");
        std::fs::write(&file, MAPPING).unwrap();
        let mut initial = Catalog::default();
        user::load(&mut initial, &[dir.path().display().to_string()]).unwrap();
        let w = CatalogWatcher::start_with_base(
            Arc::new(initial),
            Box::new(|| Ok(Catalog::default())),
            Duration::from_millis(50),
        )
        .unwrap();
        std::fs::write(&file, MAPPING).unwrap();
        let _ = std::fs::read_to_string(&file).unwrap();
        std::thread::sleep(Duration::from_millis(800));
        assert_eq!(w.counters(), (0, 0));
    }
}

//! Watching user-edited files for hot reload (rule files, catalog files): one debounced OS
//! watcher over files and directories, woken only by events that can change a file's content,
//! and a digest of the files' paths and bytes so a reload happens only when that content did
//! change. The rule and catalog watchers differ only in what they load.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_debouncer_full::notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify_debouncer_full::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use sha2::{Digest as _, Sha256};

/// A running watcher; dropping it stops watching.
pub type FileWatcher = Debouncer<RecommendedWatcher, RecommendedCache>;

/// Whether a file-system event can change a file's content. Opens, reads and closes without a
/// write (the reload's own reads, an editor opening the file) cannot, nor can metadata.
#[must_use]
pub fn changes_content(kind: EventKind) -> bool {
    match kind {
        EventKind::Modify(m) => !matches!(m, ModifyKind::Metadata(_)),
        EventKind::Create(_)
        | EventKind::Remove(_)
        | EventKind::Any
        | EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Other => false,
    }
}

/// Adds each file's path and bytes to `h` (an unreadable file as a marker), so two digests are
/// equal exactly when the same files hold the same bytes.
pub fn digest_files(h: &mut Sha256, files: &[PathBuf]) {
    for f in files {
        h.update(f.as_os_str().as_encoded_bytes());
        h.update([0]);
        match std::fs::read(f) {
            Ok(bytes) => {
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
            }
            Err(_) => h.update([0xff]),
        }
    }
}

/// Watches `paths` (directories recursively; a file through its directory, since editors
/// replace files by rename) and calls `on_change` after each debounced burst of events that can
/// change the content of a file `relevant` accepts. `what` names the files in log lines.
///
/// # Errors
/// The OS watcher cannot be started or a path cannot be watched.
pub fn watch(
    paths: &[PathBuf],
    debounce: Duration,
    relevant: fn(&Path) -> bool,
    what: &'static str,
    mut on_change: impl FnMut() + Send + 'static,
) -> notify_debouncer_full::notify::Result<FileWatcher> {
    let mut debouncer =
        new_debouncer(
            debounce,
            None,
            move |result: DebounceEventResult| match result {
                Ok(events) => {
                    if events.iter().any(|e| {
                        changes_content(e.event.kind) && e.event.paths.iter().any(|p| relevant(p))
                    }) {
                        on_change();
                    }
                }
                Err(errors) => {
                    for e in errors {
                        tracing::warn!(error = %e, "{what} file watcher error.");
                    }
                }
            },
        )?;
    for path in paths {
        if path.is_dir() {
            debouncer.watch(path, RecursiveMode::Recursive)?;
        } else {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            debouncer.watch(dir, RecursiveMode::NonRecursive)?;
        }
    }
    Ok(debouncer)
}

//! Pipeline counters: every record is accounted for, by what happened to it.
//!
//! `records_read` = `parsed` + `unparseable` + Σ`skipped`; every parsed event lands in exactly
//! one of `duplicates`, `operation_continuations`, `failed_calls`, `read_only`, `data_plane`,
//! `terraform_originated`, `operational`, `unsupported`, `ambiguous`, `no_resource` or `mapped`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// How many examples of unparseable input to keep (with their origin) for the report.
const MAX_EXAMPLES: usize = 20;

/// Distinct keys a by-name counter keeps; later new names count under [`OTHER`]. Names come
/// from the input (event names, reasons quoting values), so without a cap a stream of unique
/// names grows memory without bound.
pub const MAX_KEYS: usize = 500;

/// Characters of a counter key kept; longer keys are cut and end in `…`.
pub const MAX_KEY_CHARS: usize = 160;

/// The bucket that counts names past [`MAX_KEYS`].
pub const OTHER: &str = "(other)";

/// Adds `n` to `key` in a by-name counter, within [`MAX_KEYS`] and [`MAX_KEY_CHARS`].
pub fn bump_by(map: &mut BTreeMap<String, u64>, key: &str, n: u64) {
    let key = cap_key(key);
    if let Some(v) = map.get_mut(key.as_ref()) {
        *v += n;
    } else if map.len() < MAX_KEYS {
        map.insert(key.into_owned(), n);
    } else {
        *map.entry(OTHER.to_string()).or_default() += n;
    }
}

/// Adds one to `key` in a by-name counter (see [`bump_by`]).
pub fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    bump_by(map, key, 1);
}

fn cap_key(key: &str) -> std::borrow::Cow<'_, str> {
    match key.char_indices().nth(MAX_KEY_CHARS) {
        None => key.into(),
        Some((at, _)) => format!("{}…", &key[..at]).into(),
    }
}

/// `s` with control characters escaped (`\n`, `\u{1b}`), for printing names that come from the
/// input on a terminal.
#[must_use]
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()
            .into()
    } else {
        s.into()
    }
}

/// An example of input that could not be read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Example {
    /// `file:line`.
    pub origin: String,
    /// What was wrong.
    pub reason: String,
}

/// Counters for one pipeline run (replay) or since start (live).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Stats {
    /// Input units seen (records inside log files, documents elsewhere).
    pub records_read: u64,
    /// Became a normalised event.
    pub parsed: u64,
    /// Could not be read.
    pub unparseable: u64,
    /// Reasons (positions stripped) → count.
    pub unparseable_reasons: BTreeMap<String, u64>,
    /// First few unparseable inputs with their origin.
    pub unparseable_examples: Vec<Example>,
    /// Understood but not API calls (digest files, test events …), by kind.
    pub skipped: BTreeMap<String, u64>,
    /// Event ids already seen.
    pub duplicates: u64,
    /// Later entries of a GCP long-running operation already reported.
    pub operation_continuations: u64,
    /// Calls that failed.
    pub failed_calls: u64,
    /// Read-only calls.
    pub read_only: u64,
    /// Data-plane calls.
    pub data_plane: u64,
    /// Changes Terraform made itself.
    pub terraform_originated: u64,
    /// Runtime operations (reboot, start/stop): mutating, but not configuration.
    pub operational: u64,
    /// Mutating events the catalog does not know.
    pub unsupported: u64,
    /// … by event name (`source:name`).
    pub unsupported_by_name: BTreeMap<String, u64>,
    /// Catalogued names that could not be told apart by source, by name.
    pub ambiguous: BTreeMap<String, u64>,
    /// Catalogued events whose resource id was not in the record, by name.
    pub no_resource: BTreeMap<String, u64>,
    /// Events the catalog mapped to resource changes.
    pub mapped: u64,
    /// … by the catalog file whose mapping matched (`aws/ec2.yaml`, a profile's own file):
    /// `tfdrift catalog check`'s per-file coverage.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub mapped_by_file: BTreeMap<String, u64>,
    /// Touched resources whose state agrees with the event.
    pub in_sync: u64,
    /// Drift suppressed by a rule filter (`action: skip`), by rule id.
    pub filtered: BTreeMap<String, u64>,
    /// Drift matched by an ignore entry, by reason.
    pub ignored: BTreeMap<String, u64>,
    /// Alerts raised.
    pub alerts: u64,
    /// … by kind.
    pub alerts_by_kind: BTreeMap<String, u64>,
    /// Store reads or writes that failed (alerts were still delivered, but not recorded).
    pub store_errors: u64,
    /// Store transactions that recorded alerts: fewer than events with alerts when the engine
    /// groups a backlog into one commit.
    pub store_commits: u64,
    /// State files that failed to load (file → reason).
    pub state_errors: BTreeMap<String, String>,
    /// When the state index in use was loaded (start, or the last remote refresh).
    pub state_loaded_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Rule files reloaded and swapped in since start.
    pub rule_reloads: u64,
    /// Rule file changes rejected (the previous rules stayed in force).
    pub rule_reload_failures: u64,
    /// Diagnostics of the last rejected rule change (`file:line:col: error[code]: …`).
    pub rule_errors: Vec<String>,
    /// Catalog file changes (the profile's `catalog:` paths) swapped in since start.
    pub catalog_reloads: u64,
    /// Catalog file changes rejected (the previous catalog stayed in force).
    pub catalog_reload_failures: u64,
    /// Problems of the last rejected catalog change (`file:line:column: …`).
    pub catalog_errors: Vec<String>,
    /// Remote states whose last refresh failed (location → reason); the last good copy is used.
    pub state_stale: BTreeMap<String, String>,
    /// Fields of parsed events that could not be read (a number out of range, nesting past the
    /// limit, an object where text belongs), by field path: the rest of each event was kept.
    pub unreadable_fields: BTreeMap<String, u64>,
    /// Inputs cut short, by kind: `truncated_gzip`, `corrupt_gzip` (what came before was read),
    /// `expansion_ratio` (a gzip bomb: reading stopped), `read_error`.
    pub inputs_cut: BTreeMap<String, u64>,
    /// Inputs not read, by kind: `not_regular_file` (FIFO, socket, device in a directory),
    /// `already_read` (a symlink loop or a second link to a file), `unreadable`.
    pub inputs_unread: BTreeMap<String, u64>,
    /// The first few cut or unread inputs, with the path and what happened.
    pub input_examples: Vec<Example>,
    /// Live sources' health, by source name.
    pub sources: BTreeMap<String, crate::collect::health::SourceHealth>,
}

impl Stats {
    /// Counts an unparseable unit, normalising the reason so counts group.
    pub fn unparseable(&mut self, origin: &str, reason: &str) {
        self.records_read += 1;
        self.unparseable += 1;
        bump(&mut self.unparseable_reasons, &strip_positions(reason));
        if self.unparseable_examples.len() < MAX_EXAMPLES {
            self.unparseable_examples.push(Example {
                origin: origin.to_string(),
                reason: reason.to_string(),
            });
        }
    }

    /// Counts a skipped unit.
    pub fn skipped(&mut self, kind: &str) {
        self.records_read += 1;
        bump(&mut self.skipped, kind);
    }

    /// Counts the fields of `ev` that could not be read (`extra.unreadable`).
    pub fn unreadable_fields(&mut self, ev: &crate::event::CloudEvent) {
        for note in crate::normalize::lenient::unreadable(ev) {
            let field = note.split_once(": ").map_or(note, |(f, _)| f);
            bump(&mut self.unreadable_fields, field);
        }
    }

    /// Counts an input whose content was cut short (`kind` as in [`Stats::inputs_cut`]).
    pub fn input_cut(&mut self, path: &str, kind: &str, detail: &str) {
        bump(&mut self.inputs_cut, kind);
        self.input_example(path, detail);
    }

    /// Counts an input that was not read (`kind` as in [`Stats::inputs_unread`]).
    pub fn input_unread(&mut self, path: &str, kind: &str, detail: &str) {
        bump(&mut self.inputs_unread, kind);
        self.input_example(path, detail);
    }

    fn input_example(&mut self, path: &str, detail: &str) {
        if self.input_examples.len() < MAX_EXAMPLES {
            self.input_examples.push(Example {
                origin: path.to_string(),
                reason: detail.to_string(),
            });
        }
    }

    /// Adds another run's counters (several inputs, several workers).
    pub fn merge(&mut self, other: &Stats) {
        fn add(a: &mut BTreeMap<String, u64>, b: &BTreeMap<String, u64>) {
            for (k, v) in b {
                bump_by(a, k, *v);
            }
        }
        self.records_read += other.records_read;
        self.parsed += other.parsed;
        self.unparseable += other.unparseable;
        add(&mut self.unparseable_reasons, &other.unparseable_reasons);
        for e in &other.unparseable_examples {
            if self.unparseable_examples.len() < MAX_EXAMPLES {
                self.unparseable_examples.push(e.clone());
            }
        }
        add(&mut self.skipped, &other.skipped);
        self.duplicates += other.duplicates;
        self.operation_continuations += other.operation_continuations;
        self.failed_calls += other.failed_calls;
        self.read_only += other.read_only;
        self.data_plane += other.data_plane;
        self.terraform_originated += other.terraform_originated;
        self.operational += other.operational;
        self.unsupported += other.unsupported;
        add(&mut self.unsupported_by_name, &other.unsupported_by_name);
        add(&mut self.ambiguous, &other.ambiguous);
        add(&mut self.no_resource, &other.no_resource);
        self.mapped += other.mapped;
        add(&mut self.mapped_by_file, &other.mapped_by_file);
        self.in_sync += other.in_sync;
        add(&mut self.filtered, &other.filtered);
        add(&mut self.ignored, &other.ignored);
        self.alerts += other.alerts;
        add(&mut self.alerts_by_kind, &other.alerts_by_kind);
        self.store_errors += other.store_errors;
        self.store_commits += other.store_commits;
        self.state_errors.extend(
            other
                .state_errors
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        add(&mut self.unreadable_fields, &other.unreadable_fields);
        add(&mut self.inputs_cut, &other.inputs_cut);
        add(&mut self.inputs_unread, &other.inputs_unread);
        for e in &other.input_examples {
            if self.input_examples.len() < MAX_EXAMPLES {
                self.input_examples.push(e.clone());
            }
        }
        self.rule_reloads += other.rule_reloads;
        self.rule_reload_failures += other.rule_reload_failures;
        if !other.rule_errors.is_empty() {
            self.rule_errors.clone_from(&other.rule_errors);
        }
        self.catalog_reloads += other.catalog_reloads;
        self.catalog_reload_failures += other.catalog_reload_failures;
        if !other.catalog_errors.is_empty() {
            self.catalog_errors.clone_from(&other.catalog_errors);
        }
    }

    /// A short human summary (stderr).
    #[must_use]
    pub fn summary(&self) -> String {
        let kinds = self
            .alerts_by_kind
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut s = format!(
            "{} records: {} parsed, {} unparseable, {} skipped; {} alerts{}\n\
             silent: {} read-only, {} failed, {} data-plane, {} by Terraform, {} duplicates; \
             {} in sync; {} unsupported ({} names)",
            self.records_read,
            self.parsed,
            self.unparseable,
            self.skipped.values().sum::<u64>(),
            self.alerts,
            if kinds.is_empty() {
                String::new()
            } else {
                format!(" ({kinds})")
            },
            self.read_only,
            self.failed_calls,
            self.data_plane,
            self.terraform_originated,
            self.duplicates,
            self.in_sync,
            self.unsupported,
            self.unsupported_by_name.len(),
        );
        let mut top: Vec<(&String, &u64)> = self.unsupported_by_name.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        if !top.is_empty() {
            let names: Vec<String> = top
                .iter()
                .take(5)
                .map(|(k, v)| format!("{} ×{v}", printable(k)))
                .collect();
            let _ = write!(s, "\ntop unsupported: {}", names.join(", "));
        }
        if self.store_errors > 0 {
            let _ = write!(
                s,
                "\nstore errors: {} (alerts were delivered but not recorded; see the log)",
                self.store_errors
            );
        }
        for (file, err) in &self.state_errors {
            let _ = write!(s, "\nstate not loaded: {file}: {err}");
        }
        let cut: u64 = self.inputs_cut.values().sum();
        let unread: u64 = self.inputs_unread.values().sum();
        if cut + unread > 0 {
            let kinds = |m: &BTreeMap<String, u64>| {
                if m.is_empty() {
                    return String::new();
                }
                let list: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
                format!(" ({})", list.join(", "))
            };
            let _ = write!(
                s,
                "\ninputs: {cut} cut short{}, {unread} not read{}",
                kinds(&self.inputs_cut),
                kinds(&self.inputs_unread)
            );
            for e in &self.input_examples {
                let _ = write!(s, "\n  {}: {}", printable(&e.origin), printable(&e.reason));
            }
        }
        s
    }
}

/// Drops ` at line N column M` so reasons group across records.
fn strip_positions(reason: &str) -> String {
    match reason.find(" at line ") {
        Some(i) => reason[..i].to_string(),
        None => reason.to_string(),
    }
}

//! Pipeline counters: every record is accounted for, by what happened to it.
//!
//! `records_read` = `parsed` + `unparseable` + Σ`skipped`; every parsed event lands in exactly
//! one of `duplicates`, `operation_continuations`, `failed_calls`, `read_only`, `data_plane`,
//! `terraform_originated`, `operational`, `unsupported`, `ambiguous`, `no_resource` or `mapped`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// How many examples of unparseable input to keep (with their origin) for the report.
const MAX_EXAMPLES: usize = 20;

/// An example of input that could not be read.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Example {
    /// `file:line`.
    pub origin: String,
    /// What was wrong.
    pub reason: String,
}

/// Counters for one pipeline run (replay) or since start (live).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
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
    /// Remote states whose last refresh failed (location → reason); the last good copy is used.
    pub state_stale: BTreeMap<String, String>,
    /// Live sources' health, by source name.
    pub sources: BTreeMap<String, crate::collect::health::SourceHealth>,
}

impl Stats {
    /// Counts an unparseable unit, normalising the reason so counts group.
    pub fn unparseable(&mut self, origin: &str, reason: &str) {
        self.records_read += 1;
        self.unparseable += 1;
        let key = strip_positions(reason);
        *self.unparseable_reasons.entry(key).or_default() += 1;
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
        *self.skipped.entry(kind.to_string()).or_default() += 1;
    }

    /// Adds another run's counters (several inputs, several workers).
    pub fn merge(&mut self, other: &Stats) {
        fn add(a: &mut BTreeMap<String, u64>, b: &BTreeMap<String, u64>) {
            for (k, v) in b {
                *a.entry(k.clone()).or_default() += v;
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
        self.rule_reloads += other.rule_reloads;
        self.rule_reload_failures += other.rule_reload_failures;
        if !other.rule_errors.is_empty() {
            self.rule_errors.clone_from(&other.rule_errors);
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
                .map(|(k, v)| format!("{k} ×{v}"))
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

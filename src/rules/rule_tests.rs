//! Rule tests as data: `tests:` under a rule or in a sibling `*.tests.yaml`, each a partial alert
//! (missing fields filled with defaults) or a raw cloud event, and the expected outcome.
//!
//! Event tests need the pipeline's normaliser; the runner takes it as an optional converter and
//! reports event tests as failures ("needs pipeline") when it is absent — never as passes.

use super::RuleSet;
use super::eval::EvalContext;
use super::yaml::Pos;
use crate::alert::{Alert, Severity};
use chrono::NaiveDate;
use serde_json::{Map, Value, json};
use std::fmt;

/// What a test expects of its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The rule matches (and is not skipped by a filter).
    Match,
    /// The rule does not match.
    NoMatch,
    /// The rule's conditions hold but an identity filter skips the alert.
    Skip,
}

impl Expect {
    /// Parses `match` / `no_match` / `skip`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Expect> {
        match s {
            "match" => Some(Expect::Match),
            "no_match" => Some(Expect::NoMatch),
            "skip" => Some(Expect::Skip),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Expect::Match => "match",
            Expect::NoMatch => "no_match",
            Expect::Skip => "skip",
        }
    }
}

/// A test's input.
#[derive(Debug, Clone, PartialEq)]
pub enum TestInput {
    /// A (completed) alert.
    Alert(Box<Alert>),
    /// A raw event (CloudTrail record, GCP audit log entry) for the pipeline to convert.
    Event(Value),
}

/// One rule test.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleTest {
    /// Rule id under test.
    pub rule: String,
    /// Test name.
    pub name: String,
    /// Expected outcome.
    pub expect: Expect,
    /// Input.
    pub input: TestInput,
    /// `context.tags`.
    pub tags: Option<Map<String, Value>>,
    /// File it came from.
    pub file: String,
    /// Where it starts.
    pub pos: Pos,
}

/// Converts a raw event into alerts (the pipeline: normalise → map → detect).
pub type EventConverter<'a> = &'a dyn Fn(&Value) -> Vec<Alert>;

/// Fills a partial alert with defaults. The provider defaults from the resource type prefix.
pub fn build_test_alert(partial: &Value) -> Result<Alert, String> {
    let rtype = partial
        .pointer("/resource/type")
        .and_then(Value::as_str)
        .unwrap_or("aws_instance");
    let provider = if rtype.starts_with("google_") {
        "gcp"
    } else {
        "aws"
    };
    let mut base = json!({
        "schema": crate::alert::SCHEMA,
        "id": "test-alert",
        "time": "2026-01-01T00:00:00Z",
        "kind": "attribute_drift",
        "severity": "medium",
        "provider": provider,
        "resource": {"type": rtype, "id": "test-id", "address": format!("{rtype}.test"), "managed": true},
        "diffs": [],
        "event": {"id": "test-event", "name": "TestEvent", "service": "test", "time": null, "region": "us-east-1", "account": "123456789012"},
        "actor": {"type": "IAMUser", "principal": "AIDATEST", "arn": "arn:aws:iam::123456789012:user/alice", "email": null, "session": "alice", "user_agent": "aws-cli/2", "source_ip": "198.51.100.7", "via": "cli"},
        "rules": [],
        "remediation": [],
        "runbook": null
    });
    merge(&mut base, partial);
    serde_json::from_value(base).map_err(|e| e.to_string())
}

fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRow {
    /// Rule id.
    pub rule: String,
    /// Test name.
    pub name: String,
    /// Passed?
    pub passed: bool,
    /// Why it failed (or what happened).
    pub why: String,
    /// `file:line`.
    pub location: String,
}

/// Result of running rule tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestReport {
    /// One row per test.
    pub rows: Vec<TestRow>,
    /// Load problems (when the rules did not load, there are no rows).
    pub diagnostics: Vec<super::Diagnostic>,
}

impl TestReport {
    /// Everything loaded and every test passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        !super::diag::has_errors(&self.diagnostics) && self.rows.iter().all(|r| r.passed)
    }

    /// Failing rows.
    pub fn failures(&self) -> impl Iterator<Item = &TestRow> {
        self.rows.iter().filter(|r| !r.passed)
    }
}

impl fmt::Display for TestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        let w_rule = self
            .rows
            .iter()
            .map(|r| r.rule.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let w_name = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(f, "{:<w_rule$}  {:<w_name$}  RESULT  WHY", "RULE", "TEST")?;
        for r in &self.rows {
            let result = if r.passed { "pass" } else { "FAIL" };
            writeln!(
                f,
                "{:<w_rule$}  {:<w_name$}  {result:<6}  {}",
                r.rule, r.name, r.why
            )?;
        }
        let failed = self.failures().count();
        write!(
            f,
            "{} tests, {} passed, {failed} failed",
            self.rows.len(),
            self.rows.len() - failed
        )
    }
}

impl RuleSet {
    /// Runs every loaded rule test. `today` drives ignore expiry; the default severity is medium.
    #[must_use]
    pub fn run_tests(&self, converter: Option<EventConverter<'_>>, today: NaiveDate) -> TestReport {
        let mut report = TestReport::default();
        for t in &self.tests {
            let ctx = EvalContext {
                default_severity: Severity::Medium,
                today,
                tags: t.tags.as_ref(),
            };
            let alerts = match &t.input {
                TestInput::Alert(a) => vec![(**a).clone()],
                TestInput::Event(raw) => {
                    if let Some(convert) = converter {
                        convert(raw)
                    } else {
                        report.rows.push(row(t, false, "needs pipeline: event fixtures need the event converter, which was not given".to_owned()));
                        continue;
                    }
                }
            };
            let mut outcome = Expect::NoMatch;
            for alert in &alerts {
                let eval = self.evaluate(alert, &ctx);
                if eval.matched.iter().any(|m| m.id == t.rule) {
                    outcome = Expect::Match;
                    break;
                }
                if eval.skipped_by.contains(&t.rule) {
                    outcome = Expect::Skip;
                }
            }
            let passed = outcome == t.expect;
            let why = if passed {
                String::new()
            } else if alerts.is_empty() {
                "the event produced no alert".to_owned()
            } else {
                format!("expected {}, got {}", t.expect.as_str(), outcome.as_str())
            };
            report.rows.push(row(t, passed, why));
        }
        report
    }
}

fn row(t: &RuleTest, passed: bool, why: String) -> TestRow {
    TestRow {
        rule: t.rule.clone(),
        name: t.name.clone(),
        passed,
        why,
        location: format!("{}:{}", t.file, t.pos.line),
    }
}

/// Loads rules from `paths` and runs their tests. Load errors are in `diagnostics` (and there
/// are then no rows).
#[must_use]
pub fn run_tests(
    paths: &[std::path::PathBuf],
    converter: Option<EventConverter<'_>>,
    today: NaiveDate,
) -> TestReport {
    match RuleSet::load(paths) {
        Ok(set) => {
            let mut report = set.run_tests(converter, today);
            report.diagnostics = set.warnings().to_vec();
            report
        }
        Err(diagnostics) => TestReport {
            rows: Vec::new(),
            diagnostics,
        },
    }
}

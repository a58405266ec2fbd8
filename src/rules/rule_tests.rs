//! Rule tests as data: `tests:` under a rule or in a sibling `*.tests.yaml`, each a partial alert
//! (missing fields filled with defaults) or a raw cloud event, and the expected outcome.
//!
//! Event tests need the pipeline's normaliser; the runner takes it as an optional converter and
//! reports event tests as failures ("needs pipeline") when it is absent — never as passes.

use super::RuleSet;
use super::diag::{Code, Diagnostic, suggestion_suffix};
use super::eval::EvalContext;
use super::parse::Parser;
use super::yaml::Node;
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

/// Fills a partial alert with defaults: the resource type defaults to `default_type` (the rule's
/// first exact type for tests nested under a rule) and the provider to the type's prefix.
pub fn build_test_alert(partial: &Value, default_type: Option<&str>) -> Result<Alert, String> {
    let rtype = partial
        .pointer("/resource/type")
        .and_then(Value::as_str)
        .or(default_type)
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

const TEST_KEYS: &[&str] = &["rule", "name", "expect", "alert", "event", "context"];

/// Reads one test (`rule` is given for tests nested under a rule).
pub(crate) fn parse_test(
    p: &mut Parser,
    node: &Node,
    path: &str,
    rule: Option<&str>,
    default_type: Option<&str>,
) -> Option<RuleTest> {
    let entries = p.map(node, path)?;
    let allowed = if rule.is_some() {
        &TEST_KEYS[1..]
    } else {
        TEST_KEYS
    };
    p.check_keys(entries, allowed, path);
    let rule_id = match rule {
        Some(r) => r.to_owned(),
        None => p
            .required(node, "rule", path)
            .and_then(|n| p.string(n, &format!("{path}.rule")))?,
    };
    let name = p
        .required(node, "name", path)
        .and_then(|n| p.string(n, &format!("{path}.name")))?;
    let expect_node = p.required(node, "expect", path)?;
    let expect_text = p.string(expect_node, &format!("{path}.expect"))?;
    let Some(expect) = Expect::parse(&expect_text) else {
        p.push(
            Diagnostic::error(
                p.file,
                expect_node.pos,
                Code::BadTest,
                format!(
                    "unknown expectation '{expect_text}'{}",
                    suggestion_suffix(&expect_text, ["match", "no_match", "skip"])
                ),
            )
            .with_hint("expect is match, no_match or skip"),
        );
        return None;
    };
    let tags = match node.get("context") {
        None => None,
        Some(ctx) => {
            let entries = p.map(ctx, &format!("{path}.context"))?;
            p.check_keys(entries, &["tags"], &format!("{path}.context"));
            match ctx.get("tags").map(Node::to_json) {
                Some(serde_json::Value::Object(m)) => Some(m),
                Some(_) => {
                    p.push(Diagnostic::error(
                        p.file,
                        ctx.pos,
                        Code::BadTest,
                        format!("{path}.context.tags must be a mapping"),
                    ));
                    return None;
                }
                None => None,
            }
        }
    };
    let input = match (node.get("alert"), node.get("event")) {
        (Some(a), None) => match build_test_alert(&a.to_json(), default_type) {
            Ok(alert) => TestInput::Alert(Box::new(alert)),
            Err(e) => {
                p.push(Diagnostic::error(
                    p.file,
                    a.pos,
                    Code::BadTest,
                    format!("{path}.alert is not a valid partial alert: {e}"),
                ));
                return None;
            }
        },
        (None, Some(e)) => TestInput::Event(e.to_json()),
        _ => {
            p.push(Diagnostic::error(
                p.file,
                node.pos,
                Code::BadTest,
                format!("{path} needs exactly one of 'alert' or 'event'"),
            ));
            return None;
        }
    };
    Some(RuleTest {
        rule: rule_id,
        name,
        expect,
        input,
        tags,
        file: p.file.to_owned(),
        pos: node.pos,
    })
}

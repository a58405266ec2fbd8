//! Invalid rule fixtures (`tests/fixtures/rules/`): each error class is reported with its exact
//! file:line:column and stable code, all problems of a file at once, never a panic.

use chrono::NaiveDate;
use std::path::PathBuf;
use tfdrift::rules::{self, DiagSeverity, Diagnostic};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from("tests/fixtures/rules").join(name)
}

fn validate(name: &str) -> Vec<Diagnostic> {
    let channels = ["slack".to_owned(), "pagerduty".to_owned()];
    rules::validate_paths_at(
        &[fixture(name)],
        &channels,
        NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid date"),
    )
}

/// `(line, column, code, severity)` of every diagnostic.
fn summary(diags: &[Diagnostic]) -> Vec<(u32, u32, &'static str, &'static str)> {
    diags
        .iter()
        .map(|d| {
            let level = if d.severity == DiagSeverity::Error {
                "error"
            } else {
                "warning"
            };
            (d.line, d.column, d.code.id(), level)
        })
        .collect()
}

fn assert_single(name: &str, line: u32, column: u32, code: &str, message_part: &str) -> Diagnostic {
    let diags = validate(name);
    let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
    assert_eq!(
        summary(&diags),
        vec![(line, column, code, "error")],
        "{name}:\n{}",
        text.join("\n")
    );
    assert!(diags[0].message.contains(message_part), "{}", diags[0]);
    assert_eq!(diags[0].file, fixture(name).display().to_string());
    diags.into_iter().next().expect("one diagnostic")
}

#[test]
fn unknown_operator_suggests_the_closest() {
    let d = assert_single(
        "unknown_operator.yaml",
        7,
        19,
        "R001",
        "unknown operator 'chnaged' (did you mean 'changed'?)",
    );
    assert_eq!(
        d.to_string().lines().next().unwrap(),
        "tests/fixtures/rules/unknown_operator.yaml:7:19: error[R001]: unknown operator 'chnaged' (did you mean 'changed'?)"
    );
    assert!(d.hint.unwrap().contains("cidr_contains"));
}

#[test]
fn unknown_field() {
    assert_single(
        "unknown_field.yaml",
        5,
        16,
        "R002",
        "unknown field 'actor.rn' (did you mean 'actor.arn'?)",
    );
}

#[test]
fn unknown_key_names_its_path() {
    assert_single(
        "unknown_key.yaml",
        4,
        5,
        "R003",
        "unknown key 'runbok' in rule 't1' (did you mean 'runbook'?)",
    );
}

#[test]
fn bad_regex() {
    assert_single("bad_regex.yaml", 7, 16, "R004", "invalid regex '([a-z'");
}

#[test]
fn from_to_without_changed() {
    assert_single(
        "from_to_without_changed.yaml",
        8,
        9,
        "R005",
        "'from' only applies to operator 'changed'",
    );
}

#[test]
fn duplicate_id_points_at_the_first() {
    let d = assert_single("duplicate_id.yaml", 4, 5, "R006", "duplicate rule id 't1'");
    assert!(d.hint.unwrap().ends_with("duplicate_id.yaml:2:5"));
}

#[test]
fn unknown_channel_only_when_channels_are_configured() {
    assert_single(
        "unknown_channel.yaml",
        6,
        27,
        "R007",
        "unknown channel 'pagerdty' (did you mean 'pagerduty'?)",
    );
    let none = rules::validate_paths_at(
        &[fixture("unknown_channel.yaml")],
        &[],
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
    );
    assert!(none.is_empty(), "{none:?}");
}

#[test]
fn unknown_template_field() {
    assert_single(
        "unknown_template.yaml",
        5,
        9,
        "R008",
        "unknown field '{resource.adress}' (did you mean 'resource.address'?)",
    );
}

#[test]
fn unknown_terraform_type_but_globs_pass() {
    assert_single(
        "unknown_type.yaml",
        4,
        36,
        "R009",
        "unknown Terraform resource type 'aws_instanse' (did you mean 'aws_instance'?)",
    );
}

#[test]
fn yaml_syntax_error() {
    assert_single("yaml_syntax.yaml", 3, 15, "R010", "unclosed bracket '['");
}

#[test]
fn tabs_are_reported_where_they_are() {
    assert_single("tabs.yaml", 3, 1, "R010", "tab character");
}

#[test]
fn wrong_type() {
    assert_single(
        "wrong_type.yaml",
        4,
        21,
        "R011",
        "must be a list, found a string",
    );
}

#[test]
fn bad_severity() {
    assert_single(
        "bad_severity.yaml",
        3,
        15,
        "R013",
        "unknown severity 'critcal' (did you mean 'critical'?)",
    );
}

#[test]
fn bad_cidr() {
    assert_single("bad_cidr.yaml", 7, 16, "R015", "'0.0.0.0/33' is not a CIDR");
}

#[test]
fn in_needs_a_list() {
    assert_single(
        "bad_value.yaml",
        7,
        16,
        "R016",
        "operator 'in' needs a list 'value'",
    );
}

#[test]
fn unknown_action_and_filter_action() {
    let diags = validate("unknown_action.yaml");
    assert_eq!(
        summary(&diags),
        vec![(5, 15, "R017", "error"), (9, 17, "R017", "error")],
        "{diags:?}"
    );
    assert!(
        diags[0]
            .message
            .contains("unknown action type 'alrt' (did you mean 'alert'?)")
    );
    assert!(diags[1].message.contains("unknown filter action 'drop'"));
}

#[test]
fn ignore_entries_bad_date_missing_reason_and_expiry() {
    let diags = validate("ignores.yaml");
    assert_eq!(
        summary(&diags),
        vec![
            (2, 5, "R019", "warning"),
            (10, 14, "R018", "error"),
            (11, 5, "R012", "error")
        ],
        "{diags:?}"
    );
    assert!(diags[0].message.contains("expired on 2026-01-31"));
    assert!(diags[2].message.contains("has no 'reason'"));
}

#[test]
fn legacy_template_alias_is_a_warning() {
    let diags = validate("legacy_alias.yaml");
    assert_eq!(
        summary(&diags),
        vec![(5, 9, "R020", "warning")],
        "{diags:?}"
    );
    assert!(diags[0].hint.as_deref().unwrap().contains("{resource.id}"));
    // Warnings do not stop loading.
    assert!(rules::RuleSet::load(&[fixture("legacy_alias.yaml")]).is_ok());
}

#[test]
fn bad_test_expectation() {
    assert_single(
        "bad_test.yaml",
        6,
        17,
        "R022",
        "unknown expectation 'matches' (did you mean 'match'?)",
    );
}

#[test]
fn every_problem_of_a_file_at_once() {
    let diags = validate("many_errors.yaml");
    assert_eq!(
        summary(&diags),
        vec![
            (3, 15, "R013", "error"),
            (4, 22, "R009", "error"),
            (7, 19, "R001", "error"),
            (8, 16, "R002", "error"),
            (11, 19, "R008", "error"),
            (12, 5, "R006", "error"),
            (14, 5, "R003", "error"),
        ],
        "{diags:#?}"
    );
    assert!(rules::RuleSet::load(&[fixture("many_errors.yaml")]).is_err());
}

#[test]
fn alias_bombs_are_rejected_not_expanded() {
    let diags = validate("alias_bomb.yaml");
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].code.id(), "R010");
}

#[test]
fn huge_and_hostile_inputs_are_errors_not_panics() {
    let deep = format!("rules: {}", "[".repeat(10_000));
    assert!(rules::RuleSet::from_str("deep.yaml", &deep).is_err());
    let huge = format!("# {}\n", "x".repeat(5 * 1024 * 1024));
    let err = rules::RuleSet::from_str("huge.yaml", &huge).unwrap_err();
    assert_eq!(err[0].code.id(), "R010");
    assert!(rules::RuleSet::from_str("n.yaml", "rules: 3").is_err());
    assert!(rules::RuleSet::from_str("n.yaml", "- just\n- a list").is_err());
    assert!(rules::RuleSet::from_str("e.yaml", "").unwrap().is_empty());
}

#[test]
fn missing_path_is_an_io_error() {
    let diags = validate("does-not-exist.yaml");
    assert_eq!(summary(&diags), vec![(0, 0, "R021", "error")]);
}

//! Diagnostics: every problem found in rule files, with file:line:column, a stable code and a hint.
//!
//! Codes are stable (tools and docs refer to them); add new ones at the end, never renumber.

use super::yaml::Pos;
use std::fmt;

/// Whether a diagnostic blocks loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiagSeverity {
    /// Rules still load; the user should fix it.
    Warning,
    /// The file is rejected.
    Error,
}

/// A stable diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// R001: an `operator` no one knows.
    UnknownOperator,
    /// R002: a `field:` that is not an alert field.
    UnknownField,
    /// R003: a mapping key that is not allowed there.
    UnknownKey,
    /// R004: a `matches` pattern that is not a valid regex.
    BadRegex,
    /// R005: `from` / `to` on an operator other than `changed`.
    FromToWithoutChanged,
    /// R006: two rules with the same id.
    DuplicateId,
    /// R007: an action routes to a channel that is not configured.
    UnknownChannel,
    /// R008: a template names a field we cannot fill.
    UnknownTemplateField,
    /// R009: a `resource_types` entry that the provider does not have.
    UnknownTerraformType,
    /// R010: the file is not valid YAML (syntax, tabs, budget exceeded, too large).
    YamlSyntax,
    /// R011: a value of the wrong type.
    WrongType,
    /// R012: a required key is missing.
    MissingKey,
    /// R013: a severity that is not critical/high/medium/low/info.
    BadSeverity,
    /// R014: a glob that does not compile.
    BadGlob,
    /// R015: a CIDR that does not parse.
    BadCidr,
    /// R016: a value an operator cannot use (missing, wrong shape, `changed` on a field).
    BadValue,
    /// R017: an unknown action type or filter action.
    UnknownAction,
    /// R018: a date that is not `YYYY-MM-DD`.
    BadDate,
    /// R019: an ignore entry past its `expires` date (warning; it no longer applies).
    ExpiredIgnore,
    /// R020: a legacy template alias such as `{instance_id}` (warning).
    LegacyTemplateAlias,
    /// R021: a file or directory that cannot be read.
    Io,
    /// R022: a malformed rule test.
    BadTest,
}

impl Code {
    /// `R001` … form.
    #[must_use]
    pub fn id(self) -> &'static str {
        match self {
            Code::UnknownOperator => "R001",
            Code::UnknownField => "R002",
            Code::UnknownKey => "R003",
            Code::BadRegex => "R004",
            Code::FromToWithoutChanged => "R005",
            Code::DuplicateId => "R006",
            Code::UnknownChannel => "R007",
            Code::UnknownTemplateField => "R008",
            Code::UnknownTerraformType => "R009",
            Code::YamlSyntax => "R010",
            Code::WrongType => "R011",
            Code::MissingKey => "R012",
            Code::BadSeverity => "R013",
            Code::BadGlob => "R014",
            Code::BadCidr => "R015",
            Code::BadValue => "R016",
            Code::UnknownAction => "R017",
            Code::BadDate => "R018",
            Code::ExpiredIgnore => "R019",
            Code::LegacyTemplateAlias => "R020",
            Code::Io => "R021",
            Code::BadTest => "R022",
        }
    }

    /// Kebab-case name (`unknown-operator`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Code::UnknownOperator => "unknown-operator",
            Code::UnknownField => "unknown-field",
            Code::UnknownKey => "unknown-key",
            Code::BadRegex => "bad-regex",
            Code::FromToWithoutChanged => "from-to-without-changed",
            Code::DuplicateId => "duplicate-id",
            Code::UnknownChannel => "unknown-channel",
            Code::UnknownTemplateField => "unknown-template-field",
            Code::UnknownTerraformType => "unknown-terraform-type",
            Code::YamlSyntax => "yaml-syntax",
            Code::WrongType => "wrong-type",
            Code::MissingKey => "missing-key",
            Code::BadSeverity => "bad-severity",
            Code::BadGlob => "bad-glob",
            Code::BadCidr => "bad-cidr",
            Code::BadValue => "bad-value",
            Code::UnknownAction => "unknown-action",
            Code::BadDate => "bad-date",
            Code::ExpiredIgnore => "expired-ignore",
            Code::LegacyTemplateAlias => "legacy-template-alias",
            Code::Io => "io",
            Code::BadTest => "bad-test",
        }
    }
}

/// One problem in a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File name as given (relative paths stay relative).
    pub file: String,
    /// 1-based line (0 when the whole file is meant).
    pub line: u32,
    /// 1-based column (0 when the whole file is meant).
    pub column: u32,
    /// Stable code.
    pub code: Code,
    /// What is wrong, quoting the offending value.
    pub message: String,
    /// How to fix it, when we can tell.
    pub hint: Option<String>,
    /// Error or warning.
    pub severity: DiagSeverity,
}

impl Diagnostic {
    /// An error at `pos`.
    #[must_use]
    pub fn error(file: &str, pos: Pos, code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_owned(),
            line: pos.line,
            column: pos.column,
            code,
            message: message.into(),
            hint: None,
            severity: DiagSeverity::Error,
        }
    }

    /// A warning at `pos`.
    #[must_use]
    pub fn warning(file: &str, pos: Pos, code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: DiagSeverity::Warning,
            ..Diagnostic::error(file, pos, code, message)
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint when there is one.
    #[must_use]
    pub fn with_opt_hint(mut self, hint: Option<String>) -> Diagnostic {
        self.hint = hint;
        self
    }

    /// Whether it blocks loading.
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == DiagSeverity::Error
    }

    /// `file:line:column` prefix.
    #[must_use]
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file, self.line, self.column)
    }
}

impl fmt::Display for Diagnostic {
    /// `rules/aws.yaml:14:9: error[R001]: unknown operator 'chnaged' (did you mean 'changed'?)`,
    /// with the hint on a second line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            DiagSeverity::Error => "error",
            DiagSeverity::Warning => "warning",
        };
        write!(
            f,
            "{}: {level}[{}]: {}",
            self.location(),
            self.code.id(),
            self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint ({}): {hint}", self.code.name())?;
        }
        Ok(())
    }
}

/// Whether any diagnostic is an error.
#[must_use]
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

/// Closest candidate by edit distance, when close enough to be a plausible typo.
#[must_use]
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let len = word.chars().count();
    let limit = (len / 3).max(2);
    candidates
        .into_iter()
        // Cheap length check first: this runs against ~1,500 Terraform type names.
        .filter(|c| c.chars().count().abs_diff(len) <= limit)
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `(did you mean 'x'?)` suffix, or empty.
#[must_use]
pub fn suggestion_suffix<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|s| format!(" (did you mean '{s}'?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_the_documented_shape() {
        let d = Diagnostic::error(
            "rules/aws.yaml",
            Pos {
                line: 14,
                column: 9,
            },
            Code::UnknownOperator,
            "unknown operator 'chnaged' (did you mean 'changed'?)",
        )
        .with_hint("operators: changed, equals");
        assert_eq!(
            d.to_string(),
            "rules/aws.yaml:14:9: error[R001]: unknown operator 'chnaged' (did you mean 'changed'?)\n  = hint (unknown-operator): operators: changed, equals"
        );
    }

    #[test]
    fn did_you_mean_picks_close_words_only() {
        assert_eq!(
            did_you_mean("chnaged", ["changed", "equals"]),
            Some("changed")
        );
        assert_eq!(did_you_mean("zzzzzz", ["changed", "equals"]), None);
    }
}

//! Known Terraform resource types, to flag typos in `resource_types`.
//!
//! The AWS list is generated from the provider schema (`scripts/gen-terraform-types.sh`, AWS
//! provider 5.100.0); the google list is hand-written and covers common types only, so an unknown
//! `google_*` type is reported as an error only when it is close to a known one (a likely typo) and
//! as a warning otherwise. Other providers' types are not checked.

use super::diag::{Code, Diagnostic, did_you_mean};
use super::yaml::Pos;
use std::collections::HashSet;
use std::sync::LazyLock;

static AWS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../assets/catalog/terraform_types_aws.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});
static GOOGLE: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../assets/catalog/terraform_types_google.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// Whether a type is known (`None` when its provider is not checked).
#[must_use]
pub fn is_known(rtype: &str) -> Option<bool> {
    if rtype.starts_with("aws_") {
        Some(AWS.contains(rtype))
    } else if rtype.starts_with("google_") {
        Some(GOOGLE.contains(rtype))
    } else {
        None
    }
}

/// A diagnostic for an unknown exact type.
#[must_use]
pub fn check_type(file: &str, pos: Pos, rtype: &str) -> Option<Diagnostic> {
    if is_known(rtype)? {
        return None;
    }
    let list = if rtype.starts_with("aws_") {
        &*AWS
    } else {
        &*GOOGLE
    };
    let mut sorted: Vec<&str> = list.iter().copied().collect();
    sorted.sort_unstable();
    let suggestion = did_you_mean(rtype, sorted);
    let message = format!(
        "unknown Terraform resource type '{rtype}'{}",
        suggestion
            .map(|s| format!(" (did you mean '{s}'?)"))
            .unwrap_or_default()
    );
    let hint = "resource types are checked against assets/catalog/terraform_types_*.txt (scripts/gen-terraform-types.sh)";
    if rtype.starts_with("google_") && suggestion.is_none() {
        Some(
            Diagnostic::warning(file, pos, Code::UnknownTerraformType, message)
                .with_hint(format!("{hint}; the google list is partial")),
        )
    } else {
        Some(Diagnostic::error(file, pos, Code::UnknownTerraformType, message).with_hint(hint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_types() {
        assert_eq!(is_known("aws_instance"), Some(true));
        assert_eq!(is_known("aws_instanse"), Some(false));
        assert_eq!(is_known("google_compute_firewall"), Some(true));
        assert_eq!(is_known("azurerm_thing"), None);
        let d = check_type("f", Pos::default(), "aws_instanse").unwrap();
        assert!(d.is_error() && d.message.contains("did you mean 'aws_instance'"));
    }
}

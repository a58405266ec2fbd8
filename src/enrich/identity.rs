//! Identity: the human behind the call, and how they made it.
//!
//! CloudTrail names a role session, an SSO permission set, a federated user or a service; GCP
//! names an email and, for impersonation, a chain of delegates. The on-call engineer wants one
//! name to message: that is `human`, with the rest kept alongside for the record.

use std::net::IpAddr;

use crate::alert::{Identity, Via};
use crate::event::CloudEvent;

/// Prefix of IAM Identity Center (SSO) role names: `AWSReservedSSO_<PermissionSet>_<hash>`.
const SSO_PREFIX: &str = "AWSReservedSSO_";

/// Builds the identity from the event's actor and user agent.
#[must_use]
pub fn identity(ev: &CloudEvent) -> Identity {
    let a = &ev.actor;
    let via = via(ev);
    let (tool, sdk_language) = user_agent(a.user_agent.as_deref().unwrap_or_default());
    let mut id = Identity {
        via,
        tool,
        sdk_language,
        source_ip: a.source_ip.clone(),
        source_kind: source_kind(a.source_ip.as_deref()).to_string(),
        mfa: a.mfa,
        invoked_by: a.invoked_by.clone(),
        account: ev.account.clone(),
        ..Identity::default()
    };
    match ev.provider {
        crate::event::Provider::Aws => aws(ev, &mut id),
        crate::event::Provider::Gcp => gcp(ev, &mut id),
    }
    id.display = display(&id);
    id
}

/// How the change was made, read from the user agent and the identity.
///
/// Order matters: Terraform first (its calls are silent); then a real AWS service acting on its
/// own or on a caller's behalf (`AWSService` principal, `invokedBy`); then an explicit CLI; then
/// the console — its own user agents (`console.ec2.amazonaws.com`, `AWS Internal`, a browser) or
/// a session whose credential came from the console (`sessionCredentialFromConsole`), which
/// wins over the service-looking host name the console's backends put in the user agent.
#[must_use]
pub fn via(ev: &CloudEvent) -> Via {
    let a = &ev.actor;
    let ua = a.user_agent.as_deref().unwrap_or_default();
    let lower = ua.to_ascii_lowercase();
    if crate::pipeline::classify::is_terraform_agent(ua) {
        Via::Terraform
    } else if a.identity_type.as_deref() == Some("AWSService") || a.invoked_by.is_some() {
        Via::Service
    } else if lower.contains("aws-cli/")
        || lower.contains("gcloud")
        || lower.contains("google-cloud-sdk")
    {
        Via::Cli
    } else if console_agent(&lower) || console_session(ev) {
        Via::Console
    } else if lower.ends_with(".amazonaws.com") || lower.contains("cloudformation") {
        Via::Service
    } else if lower.contains("boto3")
        || lower.contains("botocore")
        || lower.contains("aws-sdk-")
        || lower.contains("aws-internal/")
        || lower.contains("google-api-")
        || lower.contains("gl-python")
        || lower.contains("gl-go")
        || lower.contains("gl-java")
        || lower.contains("grpc-")
    {
        Via::Sdk
    } else {
        Via::Unknown
    }
}

/// User agents (lower-cased) of the AWS and Google consoles: `console.amazonaws.com`,
/// per-service consoles (`console.ec2.amazonaws.com`, `s3.console.aws.amazon.com`),
/// `signin.amazonaws.com`, `AWS Internal` (console backends), a browser.
fn console_agent(lower: &str) -> bool {
    let host = lower.split_whitespace().next().unwrap_or_default();
    lower == "aws internal"
        || lower.starts_with("mozilla/")
        || lower.contains("console.amazonaws.com")
        || lower.contains("console.aws.amazon.com")
        || lower.contains("signin.amazonaws.com")
        || (host.starts_with("console.") && host.ends_with(".amazonaws.com"))
        || host.contains(".console.")
        || lower.contains("console.cloud.google.com")
        || lower.contains("cloud console")
        || lower.contains("console/")
}

/// CloudTrail's top-level `sessionCredentialFromConsole: "true"` (kept by the normaliser in
/// `extra`): the session was opened by signing in to the console.
fn console_session(ev: &CloudEvent) -> bool {
    match ev.extra.get("sessionCredentialFromConsole") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The role name from an assumed-role ARN or a session issuer ARN.
fn role_name(arn: &str) -> Option<&str> {
    if let Some(rest) = arn.split_once(":assumed-role/").map(|(_, r)| r) {
        return rest.split('/').next();
    }
    arn.split_once(":role/")
        .map(|(_, r)| r.rsplit('/').next().unwrap_or(r))
}

/// `AWSReservedSSO_DevAdmin_abc123` → `DevAdmin` (permission set names may contain `_`).
fn permission_set(role: &str) -> Option<&str> {
    let rest = role.strip_prefix(SSO_PREFIX)?;
    Some(rest.rsplit_once('_').map_or(rest, |(ps, _hash)| ps))
}

/// Account id from an ARN (`arn:aws:sts::123456789012:…`).
fn arn_account(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(4)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn aws(ev: &CloudEvent, id: &mut Identity) {
    let a = &ev.actor;
    let arn = a.arn.as_deref().unwrap_or_default();
    if let Some(acct) = arn_account(arn) {
        id.account = Some(acct);
    }
    let t = a.identity_type.as_deref().unwrap_or_default();
    match t {
        "IAMUser" => {
            id.kind = "iam_user".into();
            id.human = a
                .session
                .clone()
                .or_else(|| arn.rsplit('/').next().map(str::to_string));
        }
        "AssumedRole" => {
            let role = role_name(arn)
                .or_else(|| a.session_issuer.as_deref().and_then(role_name))
                .map(str::to_string);
            let session = a.session.clone();
            if let Some(ps) = role.as_deref().and_then(permission_set) {
                id.kind = "sso_user".into();
                id.role = Some(ps.to_string());
            } else {
                id.kind = "assumed_role".into();
                id.role.clone_from(&role);
            }
            // A service session (`invokedBy`, or a session name that is an instance or Lambda
            // id) is not a person; a human's session name usually is their user or email.
            id.human = session.filter(|s| a.invoked_by.is_none() && !machine_session(s));
        }
        "FederatedUser" => {
            id.kind = "federated_user".into();
            id.human = arn
                .split_once(":federated-user/")
                .map(|(_, u)| u.to_string())
                .or_else(|| a.session.clone());
        }
        "Root" => {
            id.kind = "root".into();
            id.human = Some(format!(
                "root of account {}",
                id.account.as_deref().unwrap_or("?")
            ));
        }
        "AWSService" => {
            id.kind = "aws_service".into();
        }
        "AWSAccount" => {
            id.kind = "aws_account".into();
            // Another account's principal: the principal id may carry a session name.
            id.human = a
                .principal
                .as_deref()
                .and_then(|p| p.split_once(':'))
                .map(|(_, s)| s.to_string());
        }
        _ => {
            id.kind = "unknown".into();
            id.human.clone_from(&a.session);
        }
    }
}

/// Session names AWS services pick: EC2 instance ids, Lambda-style names, botocore defaults.
fn machine_session(s: &str) -> bool {
    s.starts_with("i-") && s.len() > 2 && s[2..].chars().all(|c| c.is_ascii_hexdigit())
        || s.starts_with("botocore-session-")
        || s.starts_with("aws-go-sdk-")
        || s.chars().all(|c| c.is_ascii_digit())
}

fn is_service_account(email: &str) -> bool {
    email.ends_with(".gserviceaccount.com")
}

fn gcp(ev: &CloudEvent, id: &mut Identity) {
    let a = &ev.actor;
    let email = a.email.clone();
    id.delegation.clone_from(&a.delegation);
    if let Some(e) = &email
        && !a.delegation.is_empty()
    {
        id.delegation.push(e.clone());
    }
    match email.as_deref() {
        Some(e) if is_service_account(e) => {
            id.kind = "gcp_service_account".into();
            id.role = Some(e.to_string());
            // Impersonation: the original caller is the first non-service-account delegate.
            id.human = a
                .delegation
                .iter()
                .find(|d| !is_service_account(d))
                .cloned();
        }
        Some(e) => {
            id.kind = "gcp_user".into();
            id.human = Some(e.to_string());
        }
        None => {
            id.kind = "unknown".into();
            id.human = a
                .delegation
                .iter()
                .find(|d| !is_service_account(d))
                .cloned();
        }
    }
}

fn display(id: &Identity) -> String {
    let who = match (&id.human, id.kind.as_str()) {
        (Some(h), "sso_user") => format!("{h} (SSO {})", id.role.as_deref().unwrap_or("?")),
        (Some(h), "assumed_role") => format!("{h} (role {})", id.role.as_deref().unwrap_or("?")),
        (Some(h), "gcp_service_account") => {
            format!("{h} as {}", id.role.as_deref().unwrap_or("?"))
        }
        (Some(h), _) => h.clone(),
        (None, _) => id
            .invoked_by
            .clone()
            .or_else(|| id.role.clone().map(|r| format!("role {r}")))
            .unwrap_or_else(|| id.kind.clone()),
    };
    let via = match id.via {
        Via::Console => "console",
        Via::Cli => "CLI",
        Via::Sdk => "SDK",
        Via::Terraform => "Terraform",
        Via::Service => "service",
        Via::Unknown => return who,
    };
    match &id.tool {
        Some(t) if id.via != Via::Console => format!("{who} via {via} ({t})"),
        _ => format!("{who} via {via}"),
    }
}

/// User-agent products, in priority order, with the language they imply (empty: none).
const KNOWN: &[(&str, &str)] = &[
    ("terraform/", ""),
    // Console back ends call through SDKs: `[S3Console/0.4, aws-internal/3 aws-sdk-java/…`.
    ("console/", ""),
    ("opentofu/", ""),
    ("aws-cli/", "python"),
    ("boto3/", "python"),
    ("botocore/", "python"),
    ("aws-sdk-go-v2/", "go"),
    ("aws-sdk-go/", "go"),
    ("aws-sdk-java/", "java"),
    ("aws-sdk-java-v2/", "java"),
    ("aws-sdk-js/", "javascript"),
    ("aws-sdk-nodejs/", "javascript"),
    ("aws-sdk-dotnet", "dotnet"),
    ("aws-sdk-ruby", "ruby"),
    ("aws-sdk-php/", "php"),
    ("aws-sdk-rust/", "rust"),
    ("aws-sdk-cpp/", "cpp"),
    ("aws-powershell", "powershell"),
    ("google-api-go-client/", "go"),
    ("google-api-python-client/", "python"),
    ("gl-python/", "python"),
    ("gl-go/", "go"),
    ("gl-java/", "java"),
    ("gl-node/", "javascript"),
    ("gcloud", "python"),
    ("google-cloud-sdk", "python"),
    ("cloudformation", ""),
];

/// (tool with version, language) from a user agent.
#[must_use]
pub fn user_agent(ua: &str) -> (Option<String>, Option<String>) {
    let lower = ua.to_ascii_lowercase();
    // The new AWS SDK format states the language outright: `lang/python#3.11.4`.
    let mut lang = lower
        .split(|c: char| c.is_whitespace() || c == ',')
        .find_map(|t| t.strip_prefix("lang/"))
        .map(|l| l.split(['#', '/']).next().unwrap_or(l).to_string());
    let tokens: Vec<&str> = ua.split_whitespace().collect();
    for (needle, language) in KNOWN {
        if let Some(pos) = lower.find(needle) {
            if lang.is_none() && !language.is_empty() {
                lang = Some((*language).to_string());
            }
            // The whole token around the match (`[aws-cli/2.13.5` → `aws-cli/2.13.5`).
            let tool = tokens
                .iter()
                .find(|t| t.to_ascii_lowercase().contains(needle))
                .copied()
                .unwrap_or_else(|| ua[pos..].split_whitespace().next().unwrap_or_default())
                .trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')' | ','));
            let tool = if *needle == "gcloud" {
                // `command/gcloud.compute.instances.insert` says which command ran.
                tool.strip_prefix("command/").unwrap_or(tool)
            } else {
                tool
            };
            return (Some(tool.to_string()), lang);
        }
    }
    if lower.starts_with("mozilla/") {
        return (Some("browser".into()), lang);
    }
    let first = tokens
        .first()
        .filter(|t| t.contains('/'))
        .map(|t| (*t).to_string());
    (first, lang)
}

/// Classifies a source IP or host.
#[must_use]
pub fn source_kind(src: Option<&str>) -> &'static str {
    let Some(src) = src.filter(|s| !s.is_empty()) else {
        return "unknown";
    };
    if let Ok(ip) = src.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                if v4.is_loopback() {
                    "loopback"
                } else if v4.is_private()
                    || v4.is_link_local()
                    || (o[0] == 100 && (o[1] & 0xc0) == 64)
                {
                    "private"
                } else {
                    "public"
                }
            }
            IpAddr::V6(v6) => {
                let seg = v6.segments()[0];
                if v6.is_loopback() {
                    "loopback"
                } else if (seg & 0xfe00) == 0xfc00 || (seg & 0xffc0) == 0xfe80 {
                    "private"
                } else {
                    "public"
                }
            }
        };
    }
    let lower = src.to_ascii_lowercase();
    if lower.ends_with(".amazonaws.com") || lower == "aws internal" {
        "aws_service"
    } else if lower.contains("internal") || lower.ends_with(".googleapis.com") {
        "internal"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents() {
        assert_eq!(
            user_agent("aws-cli/2.13.5 Python/3.11.4 Linux/6 exe/x86_64"),
            (Some("aws-cli/2.13.5".into()), Some("python".into()))
        );
        assert_eq!(
            user_agent("Boto3/1.17.80 Python/3.9.5 Darwin/20.3.0 Botocore/1.20.80"),
            (Some("Boto3/1.17.80".into()), Some("python".into()))
        );
        assert_eq!(
            user_agent("aws-sdk-go/1.44.1 (go1.20; linux; amd64)")
                .1
                .as_deref(),
            Some("go")
        );
        assert_eq!(
            user_agent("aws-sdk-java/2.20.1 ua/2.0 os/Linux lang/java#17.0.2 md/internal")
                .1
                .as_deref(),
            Some("java")
        );
        assert_eq!(
            user_agent("APN/1.0 HashiCorp/1.0 Terraform/1.5.7 (+https://www.terraform.io)")
                .0
                .as_deref(),
            Some("Terraform/1.5.7")
        );
        assert_eq!(
            user_agent(
                "fake-user-agent-string command/gcloud.compute.instances.insert invocation-id/a1"
            )
            .0
            .as_deref(),
            Some("gcloud.compute.instances.insert")
        );
        assert_eq!(
            user_agent("Mozilla/5.0 (Macintosh)").0.as_deref(),
            Some("browser")
        );
    }

    #[test]
    fn source_kinds() {
        assert_eq!(source_kind(Some("10.0.0.1")), "private");
        assert_eq!(source_kind(Some("100.64.1.1")), "private");
        assert_eq!(source_kind(Some("203.0.113.50")), "public");
        assert_eq!(source_kind(Some("127.0.0.1")), "loopback");
        assert_eq!(source_kind(Some("fd00::1")), "private");
        assert_eq!(source_kind(Some("lambda.amazonaws.com")), "aws_service");
        assert_eq!(source_kind(Some("AWS Internal")), "aws_service");
        assert_eq!(source_kind(Some("gce-internal-ip")), "internal");
        assert_eq!(source_kind(None), "unknown");
    }

    #[test]
    fn sso_permission_sets() {
        assert_eq!(
            permission_set("AWSReservedSSO_DevAdmin_abc123"),
            Some("DevAdmin")
        );
        assert_eq!(
            permission_set("AWSReservedSSO_developer_admin_asdf"),
            Some("developer_admin")
        );
        assert_eq!(permission_set("Admin"), None);
    }
}

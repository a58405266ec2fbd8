//! Which events can never be drift, decided before the catalog is consulted: failed calls,
//! read-only calls, data-plane calls and Terraform's own changes. Each has a counter; none is
//! dropped silently.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::event::{CloudEvent, Provider};

/// [`AWS_DATA_PLANE`] as a set: this is probed for every record.
static AWS_DATA_PLANE_SET: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| AWS_DATA_PLANE.iter().copied().collect());

/// Why an event is not a drift candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silent {
    /// The call failed (`errorCode`, non-zero `status.code`).
    FailedCall,
    /// The call only reads.
    ReadOnly,
    /// Object/item reads and writes, crypto, sign-in, role assumption: not infrastructure.
    DataPlane,
    /// Terraform (or OpenTofu, or a configured principal) made it.
    TerraformOriginated,
}

/// AWS calls that touch data, identity sessions or crypto, never infrastructure Terraform manages.
const AWS_DATA_PLANE: &[&str] = &[
    // S3 objects
    "GetObject",
    "PutObject",
    "DeleteObject",
    "DeleteObjects",
    "CopyObject",
    "HeadObject",
    "UploadPart",
    "UploadPartCopy",
    "CreateMultipartUpload",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "RestoreObject",
    "PutObjectAcl",
    "PutObjectTagging",
    "DeleteObjectTagging",
    "PutObjectRetention",
    "PutObjectLegalHold",
    "SelectObjectContent",
    "GetObjectAcl",
    "GetObjectTagging",
    "GetObjectAttributes",
    // KMS crypto
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateRandom",
    "Sign",
    "Verify",
    "GenerateMac",
    "VerifyMac",
    // Sign-in, sessions
    "ConsoleLogin",
    "CheckMfa",
    "SwitchRole",
    "ExitRole",
    "RenewRole",
    "GetSigninToken",
    "CredentialChallenge",
    "CredentialVerification",
    "UserAuthentication",
    "Federate",
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetSessionToken",
    "GetFederationToken",
    "GetCallerIdentity",
    "DecodeAuthorizationMessage",
    "GetAccessKeyInfo",
    "SetTokenPreferences",
    "GetRoleCredentials",
    "Logout",
    "Authenticate",
    "CreateToken",
    "StartSession",
    "ResumeSession",
    "TerminateSession",
    "SendSSHPublicKey",
    "SendSerialConsoleSSHPublicKey",
    // DynamoDB items
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
    // Messaging and streams
    "Invoke",
    "InvokeAsync",
    "InvokeWithResponseStream",
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    "Publish",
    "PublishBatch",
    "PutRecord",
    "PutRecords",
    "PutRecordBatch",
    "GetRecords",
    "GetShardIterator",
    "PutEvents",
    "PutLogEvents",
    "CreateLogStream",
    "PutMetricData",
    "StartQuery",
    "StopQuery",
    "GetQueryResults",
    // Secrets and parameters as data
    "GetSecretValue",
    "BatchGetSecretValue",
    "GetParameter",
    "GetParameters",
    "GetParametersByPath",
    // SSM agent chatter
    "UpdateInstanceInformation",
    "PutInventory",
    "PutComplianceItems",
    "SendCommand",
    "ListInstanceAssociations",
    "UpdateInstanceAssociationStatus",
];

/// AWS name prefixes that only read, used when a record has no `readOnly` flag.
const AWS_READ_PREFIXES: &[&str] = &[
    "Get", "List", "Describe", "Head", "Lookup", "Search", "BatchGet", "Scan", "Query", "Select",
    "Check", "Validate", "Estimate", "Preview", "Simulate", "View", "Download", "Discover", "Poll",
    "Retrieve", "Read", "Filter",
];

/// GCP method verbs (last segment, lower-cased) that only read.
const GCP_READ_VERBS: &[&str] = &[
    "get",
    "list",
    "aggregatedlist",
    "search",
    "testiampermissions",
    "getiampolicy",
    "watch",
    "lookup",
    "batchget",
    "read",
    "listeffectivetags",
    "getpolicy",
    "fetch",
    "check",
];

/// GCP methods that are data plane whatever their verb.
const GCP_DATA_PLANE_PREFIXES: &[&str] = &[
    "storage.objects.",
    "google.storage.objects.",
    "google.pubsub.v1.Publisher.Publish",
    "google.pubsub.v1.Subscriber.Pull",
    "google.pubsub.v1.Subscriber.StreamingPull",
    "google.pubsub.v1.Subscriber.Acknowledge",
    "google.pubsub.v1.Subscriber.ModifyAckDeadline",
    "google.cloud.bigquery.v2.JobService.",
    "jobservice.",
    "google.iam.credentials.v1.",
    "google.ssh-serialport.",
    "google.cloud.oslogin.dataplane.",
];

const GCP_DATA_PLANE_METHODS: &[&str] = &[
    "Encrypt",
    "Decrypt",
    "AsymmetricSign",
    "AsymmetricDecrypt",
    "MacSign",
    "MacVerify",
    "GenerateRandomBytes",
    "SignJwt",
    "SignBlob",
    "GenerateAccessToken",
    "GenerateIdToken",
    "AuthorizeUser",
];

/// Whether a user agent says Terraform or OpenTofu made the call.
#[must_use]
pub fn is_terraform_agent(ua: &str) -> bool {
    ua.contains("Terraform/") || ua.contains("OpenTofu/") || ua.contains("terraform-provider-")
}

fn aws_read_by_name(name: &str) -> bool {
    AWS_READ_PREFIXES.iter().any(|p| {
        name.strip_prefix(p).is_some_and(|rest| {
            rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_uppercase())
        })
    })
}

fn gcp_read_by_name(action: &str) -> bool {
    let verb = action
        .rsplit('.')
        .next()
        .unwrap_or(action)
        .to_ascii_lowercase();
    GCP_READ_VERBS
        .iter()
        .any(|v| verb == *v || verb.starts_with(v) && *v != "check")
}

/// The part of [`classify`] that needs only the call itself (no caller): failed, data-plane or
/// read-only, else `None`. The replay prefilter decides from these few fields of a record
/// without building its event.
#[must_use]
pub fn silent_call(
    provider: Provider,
    failed: bool,
    category: Option<&str>,
    action: &str,
    read_only: Option<bool>,
) -> Option<Silent> {
    if failed {
        return Some(Silent::FailedCall);
    }
    let data = category == Some("Data")
        || match provider {
            Provider::Aws => AWS_DATA_PLANE_SET.contains(action),
            Provider::Gcp => {
                GCP_DATA_PLANE_PREFIXES
                    .iter()
                    .any(|p| action.starts_with(p))
                    || GCP_DATA_PLANE_METHODS.contains(&action)
            }
        };
    if data {
        return Some(Silent::DataPlane);
    }
    let read_only = match read_only {
        Some(flag) => flag,
        None => match provider {
            Provider::Aws => aws_read_by_name(action),
            Provider::Gcp => gcp_read_by_name(action),
        },
    };
    read_only.then_some(Silent::ReadOnly)
}

/// Decides whether an event is silent and why. `terraform_principal` says whether the caller is
/// one of the configured Terraform identities.
#[must_use]
pub fn classify(ev: &CloudEvent, terraform_principal: bool) -> Option<Silent> {
    if let Some(silent) = silent_call(
        ev.provider,
        ev.error_code.is_some(),
        ev.category.as_deref(),
        &ev.action,
        ev.read_only,
    ) {
        return Some(silent);
    }
    if terraform_principal
        || ev
            .actor
            .user_agent
            .as_deref()
            .is_some_and(is_terraform_agent)
    {
        return Some(Silent::TerraformOriginated);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(provider: Provider, action: &str) -> CloudEvent {
        let mut e = CloudEvent::new(provider);
        e.action = action.into();
        e
    }

    #[test]
    fn names_decide_when_flags_are_missing() {
        assert_eq!(
            classify(&ev(Provider::Aws, "DescribeInstances"), false),
            Some(Silent::ReadOnly)
        );
        assert_eq!(
            classify(&ev(Provider::Aws, "GetObject"), false),
            Some(Silent::DataPlane)
        );
        assert_eq!(classify(&ev(Provider::Aws, "Getaway"), false), None);
        assert_eq!(
            classify(&ev(Provider::Aws, "ModifyInstanceAttribute"), false),
            None
        );
        assert_eq!(
            classify(&ev(Provider::Gcp, "compute.instances.get"), false),
            Some(Silent::ReadOnly)
        );
        assert_eq!(
            classify(&ev(Provider::Gcp, "storage.objects.create"), false),
            Some(Silent::DataPlane)
        );
        assert_eq!(
            classify(&ev(Provider::Gcp, "compute.firewalls.patch"), false),
            None
        );
    }

    #[test]
    fn terraform_agents() {
        let mut e = ev(Provider::Aws, "ModifyInstanceAttribute");
        e.actor.user_agent = Some("[APN/1.0 HashiCorp/1.0 Terraform/1.5.7 (+https://www.terraform.io) terraform-provider-aws/5.0.0]".into());
        assert_eq!(classify(&e, false), Some(Silent::TerraformOriginated));
        e.error_code = Some("AccessDenied".into());
        assert_eq!(classify(&e, false), Some(Silent::FailedCall));
    }
}

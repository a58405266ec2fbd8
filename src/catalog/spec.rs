//! The catalog file format (YAML, one file per service), as deserialised.
//!
//! ```yaml
//! provider: aws
//! source: ec2.amazonaws.com          # default event source for the events below
//! events:
//!   - name: ModifyInstanceAttribute
//!     type: aws_instance
//!     kind: update
//!     id: request.instanceId
//!     attributes:
//!       - { path: instance_type, from: request.instanceType.value }
//!   - name: AttachRolePolicy
//!     type: aws_iam_role_policy_attachment
//!     kind: create
//!     match: { role: request.roleName, policy_arn: request.policyArn }
//!     alternatives:                  # tried in order when the first target is not in state
//!       - type: aws_iam_role
//!         kind: update
//!         id: request.roleName
//!         attributes: [{ path: managed_policy_arns, from: request.policyArn, convert: list, op: add }]
//! ```
//! Expressions are paths rooted at `request`, `response`, `extra`, `resource_name`, `event` or
//! the `foreach` item `item`; `[*]` fans out over arrays; ` | filter` post-processes strings; a
//! string with `{…}` is a template, one in single quotes a literal. An event may also set
//! `severity` (its drift's default, `low` for a stopped instance), `otherwise` (targets used when
//! its `foreach` list is empty: a `SetIamPolicy` logged without its delta) and `also` (further
//! parts with their own `foreach`: the accounts a sharing call adds, then those it removes).

use std::collections::BTreeMap;

use serde::Deserialize;

/// A catalog file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    /// `aws` or `gcp`.
    pub provider: String,
    /// Default event source (`ec2.amazonaws.com`, `compute.googleapis.com`).
    #[serde(default)]
    pub source: Option<String>,
    /// Free text about the service.
    #[serde(default)]
    pub description: Option<String>,
    /// Event mappings.
    #[serde(default)]
    pub events: Vec<EventSpec>,
    /// Mutating calls that change runtime state, not configuration Terraform manages
    /// (reboots, start/stop): counted as `operational`, never alerts, never "unsupported".
    #[serde(default)]
    pub operational: Vec<String>,
}

/// One or several event names that map the same way.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Names {
    /// A single name.
    One(String),
    /// Several names sharing the mapping.
    Many(Vec<String>),
}

impl Names {
    /// No name (an `also` part).
    #[must_use]
    pub fn none() -> Names {
        Names::Many(Vec::new())
    }

    /// All names.
    #[must_use]
    pub fn all(&self) -> Vec<&str> {
        match self {
            Names::One(n) => vec![n.as_str()],
            Names::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// One or several expressions (alternatives: the first that yields a value wins).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Exprs {
    /// One expression.
    One(String),
    /// Alternatives in order.
    Many(Vec<String>),
}

impl Exprs {
    /// All expressions, in order.
    #[must_use]
    pub fn all(&self) -> Vec<&str> {
        match self {
            Exprs::One(e) => vec![e.as_str()],
            Exprs::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// What kind of change an event makes to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// The resource comes into existence.
    Create,
    /// Attributes change.
    Update,
    /// The resource goes away.
    Delete,
    /// Only tags / labels change.
    Tag,
}

/// How an observed value combines with the state value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// The observed value replaces the state value.
    #[default]
    Set,
    /// Elements (lists) or entries (maps) are added to the state value.
    Add,
    /// Elements or keys are removed from the state value.
    Remove,
}

/// Value conversions from the API's shape to Terraform's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Convert {
    /// As is.
    Raw,
    /// To a string (numbers and bools printed).
    String,
    /// To a boolean (`"true"`, `1`, `"Enabled"` …).
    Bool,
    /// To an integer.
    Int,
    /// JSON text (possibly URL-encoded) parsed to a value: policies.
    Json,
    /// A scalar or `{items:[…]}` wrapper to a list.
    List,
    /// Tag lists in any AWS shape (`tagSet.items[{key,value}]`, `[{Key,Value}]`, `{k: v}`) to a map.
    Tags,
    /// Tag keys to remove (`[{key}]`, `["k"]`, `tagKeys`) to a list of keys.
    TagKeys,
    /// EC2 `ipPermissions` to Terraform `ingress` / `egress` rule blocks.
    Ec2IpPermissions,
    /// EC2 `{"value": x}` attribute wrapper to `x`.
    Ec2Value,
    /// S3 `VersioningConfiguration.Status` to `Enabled`/`Suspended` string.
    S3VersioningStatus,
    /// S3 versioning status to the `aws_s3_bucket` `versioning.0.enabled` bool.
    S3VersioningEnabled,
    /// Lambda `environment: {variables}` to Terraform's `environment` block list.
    LambdaEnvironment,
    /// GCP labels map (already a map): kept as is but empty → null.
    Labels,
    /// GCP firewall `alloweds` / `denieds` (`IPProtocol`, `ports`) to Terraform's
    /// `allowed` / `denied` blocks (`protocol`, `ports`).
    GcpFirewallRules,
}

/// Where the Terraform type comes from, when one event can hit several types by id prefix
/// (EC2 `CreateTags` on `i-…`, `sg-…`, `vpc-…`).
pub type PrefixTypes = BTreeMap<String, String>;

/// A target: one way an event can touch a Terraform resource type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Terraform type (fallback when `type_by_prefix` matches nothing).
    #[serde(rename = "type")]
    pub rtype: String,
    /// Id prefix → Terraform type.
    #[serde(default)]
    pub type_by_prefix: Option<PrefixTypes>,
    /// Change kind.
    #[serde(default)]
    pub kind: Option<ChangeKind>,
    /// Change kind read from the event (`item.action`: ADD → create …).
    #[serde(default)]
    pub kind_from: Option<KindFrom>,
    /// Resource id expression(s).
    #[serde(default)]
    pub id: Option<Exprs>,
    /// Identify by attribute values instead of id (`role` + `policy_arn`), in the order of
    /// Terraform's import id (the values joined by `/` are the displayed id).
    #[serde(default, rename = "match")]
    pub match_attrs: Option<serde_json::Map<String, serde_json::Value>>,
    /// Request fields that become Terraform attributes.
    #[serde(default)]
    pub attributes: Vec<AttrSpec>,
}

/// Change kind chosen by a value in the event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindFrom {
    /// Expression giving the discriminating value.
    pub from: String,
    /// Value → kind.
    pub map: BTreeMap<String, ChangeKind>,
}

/// Combination chosen by a value in the event (`item.action`: ADD → add).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpFrom {
    /// Expression giving the discriminating value.
    pub from: String,
    /// Value → op.
    pub map: BTreeMap<String, Op>,
}

/// A condition on an event value.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// Expression giving the value.
    pub from: String,
    /// Accepted values.
    pub equals: Vec<String>,
}

/// One attribute extraction.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttrSpec {
    /// Terraform attribute path (`instance_type`, `versioning.0.enabled`, `tags`).
    pub path: String,
    /// Expression(s) for the observed value; the first that yields a value wins.
    #[serde(default)]
    pub from: Option<Exprs>,
    /// A fixed observed value (DisableKey → `is_enabled: false`), instead of `from`.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    /// Op read from the event, instead of a fixed `op`.
    #[serde(default)]
    pub op_from: Option<OpFrom>,
    /// Extract only when a request value equals one of these (SNS `SetTopicAttributes`:
    /// `attributeName` says which attribute `attributeValue` sets).
    #[serde(default)]
    pub when: Option<When>,
    /// Conversion to Terraform's shape.
    #[serde(default)]
    pub convert: Option<Convert>,
    /// How the value combines with the state's.
    #[serde(default)]
    pub op: Op,
    /// Values are sensitive: always masked in output (Lambda environment values …).
    #[serde(default)]
    pub sensitive: bool,
}

/// One event mapping.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// Event name(s) (`ModifyInstanceAttribute`, `compute.firewalls.patch`); none in an
    /// `also` part.
    #[serde(default = "Names::none")]
    pub name: Names,
    /// Event source override (disambiguates names shared by services).
    #[serde(default)]
    pub source: Option<String>,
    /// Fan out over a list: one change per element, bound to `item`.
    #[serde(default)]
    pub foreach: Option<String>,
    /// Primary target type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// See [`TargetSpec::type_by_prefix`].
    #[serde(default)]
    pub type_by_prefix: Option<PrefixTypes>,
    /// See [`TargetSpec::kind`].
    #[serde(default)]
    pub kind: Option<ChangeKind>,
    /// See [`TargetSpec::kind_from`].
    #[serde(default)]
    pub kind_from: Option<KindFrom>,
    /// See [`TargetSpec::id`].
    #[serde(default)]
    pub id: Option<Exprs>,
    /// See [`TargetSpec::match_attrs`].
    #[serde(default, rename = "match")]
    pub match_attrs: Option<serde_json::Map<String, serde_json::Value>>,
    /// See [`TargetSpec::attributes`].
    #[serde(default)]
    pub attributes: Vec<AttrSpec>,
    /// Further targets, tried in order when the primary is not managed.
    #[serde(default)]
    pub alternatives: Vec<TargetSpec>,
    /// With `foreach`: targets used once, without `item`, when the list is empty or absent
    /// (a `SetIamPolicy` logged without its `policyDelta` still changes the whole policy).
    #[serde(default)]
    pub otherwise: Vec<TargetSpec>,
    /// Why the mapping is the way it is (kept for `tfdrift catalog`).
    #[serde(default)]
    pub note: Option<String>,
    /// Default severity of drift this event reveals, instead of the profile's (a stopped
    /// instance is `low`); rules still raise or ignore it.
    #[serde(default)]
    pub severity: Option<crate::alert::Severity>,
    /// Further parts of the same event, each with its own `foreach` and targets (no `name`).
    #[serde(default)]
    pub also: Vec<EventSpec>,
}

impl EventSpec {
    /// The primary target followed by the alternatives.
    #[must_use]
    pub fn targets(&self) -> Vec<TargetSpec> {
        let mut out = vec![TargetSpec {
            rtype: self.rtype.clone(),
            type_by_prefix: self.type_by_prefix.clone(),
            kind: self.kind,
            kind_from: self.kind_from.clone(),
            id: self.id.clone(),
            match_attrs: self.match_attrs.clone(),
            attributes: self.attributes.clone(),
        }];
        out.extend(self.alternatives.iter().cloned());
        out
    }
}

//! The S3 backend of remote state: `s3://bucket/key` (the default workspace, plus every
//! workspace Terraform keeps under `env:/<ws>/<key>`) or a prefix `s3://bucket/dir/` (every
//! `*.tfstate` below it). Versions are ETags: a listing gives each object's ETag and only changed
//! objects are fetched. Refresh and merge logic live in [`super`].

use super::{Backend, Fetched, Listed, RemoteStates};

/// Workspace key prefix Terraform's S3 backend uses by default.
pub const WORKSPACE_PREFIX: &str = "env:";

/// A parsed `s3://bucket/key-or-prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// Bucket.
    pub bucket: String,
    /// Key, or prefix when `is_prefix`.
    pub key: String,
    /// Ends with `/` (or is the bucket): discover every `*.tfstate` below.
    pub is_prefix: bool,
}

impl S3Location {
    /// Parses `s3://bucket/key`, `s3://bucket/prefix/` or `s3://bucket`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{url}: not an s3:// location"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{url}: no bucket (expected s3://bucket/key)"));
        }
        Ok(Self {
            bucket: bucket.to_string(),
            key: key.to_string(),
            is_prefix: key.is_empty() || key.ends_with('/'),
        })
    }

    /// Whether `key` (from a listing) belongs to this location.
    #[must_use]
    pub fn matches(&self, key: &str) -> bool {
        if self.is_prefix {
            return key.starts_with(&self.key) && key.ends_with(".tfstate");
        }
        if key == self.key {
            return true;
        }
        // env:/<ws>/<key>
        key.strip_prefix(WORKSPACE_PREFIX)
            .and_then(|r| r.strip_prefix('/'))
            .and_then(|r| r.split_once('/'))
            .is_some_and(|(ws, k)| !ws.is_empty() && k == self.key)
    }

    /// The listing prefixes that find every matching object.
    fn list_prefixes(&self) -> Vec<String> {
        if self.is_prefix {
            vec![self.key.clone()]
        } else {
            vec![self.key.clone(), format!("{WORKSPACE_PREFIX}/")]
        }
    }
}

/// An SDK error on one line: the service's code and message when S3 answered
/// (`NoSuchBucket: The specified bucket does not exist`), else the whole cause chain (a refused
/// connection, a timeout). Never the raw response, which is long and says nothing more.
fn sdk_error<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let Some(service) = e.as_service_error() {
        return aws_sdk_s3::error::DisplayErrorContext(service).to_string();
    }
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Reads state objects with the AWS SDK (credentials from the default chain or the pipeline's
/// `SdkConfig`).
#[derive(Debug, Clone)]
pub struct S3Backend {
    client: aws_sdk_s3::Client,
}

impl From<aws_sdk_s3::Client> for S3Backend {
    fn from(client: aws_sdk_s3::Client) -> Self {
        Self { client }
    }
}

/// Every object of a set of S3 locations, with the last good parse of each.
pub type S3States = RemoteStates<S3Backend>;

impl Backend for S3Backend {
    type Location = S3Location;

    fn parse(url: &str) -> Result<S3Location, String> {
        S3Location::parse(url)
    }

    async fn list(&self, loc: &S3Location) -> Result<Vec<Listed>, String> {
        let mut out = Vec::new();
        for prefix in loc.list_prefixes() {
            let mut token = None;
            loop {
                let page = self
                    .client
                    .list_objects_v2()
                    .bucket(&loc.bucket)
                    .prefix(&prefix)
                    .set_continuation_token(token.take())
                    .send()
                    .await
                    .map_err(|e| format!("list s3://{}/{prefix}: {}", loc.bucket, sdk_error(&e)))?;
                for o in page.contents() {
                    if let Some(k) = o.key()
                        && loc.matches(k)
                    {
                        out.push(Listed {
                            name: format!("s3://{}/{k}", loc.bucket),
                            bucket: loc.bucket.clone(),
                            key: k.to_string(),
                            version: o.e_tag().unwrap_or_default().to_string(),
                        });
                    }
                }
                match page.next_continuation_token() {
                    Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        Ok(out)
    }

    async fn fetch(&self, obj: &Listed) -> Result<Fetched, String> {
        let got = self
            .client
            .get_object()
            .bucket(&obj.bucket)
            .key(&obj.key)
            .send()
            .await
            .map_err(|e| format!("get: {}", sdk_error(&e)))?;
        let version = got.e_tag().map(str::to_string);
        let bytes = got
            .body
            .collect()
            .await
            .map_err(|e| format!("read: {e}"))?
            .into_bytes()
            .to_vec();
        Ok(Fetched { bytes, version })
    }
}

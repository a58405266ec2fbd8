//! The GCS backend of remote state, for Terraform's `gcs` backend layout
//! (`<prefix>/default.tfstate`, `<prefix>/<workspace>.tfstate`, locks in `*.tflock`).
//!
//! A location is `gs://bucket/prefix` (every `*.tfstate` below the prefix: each workspace of a
//! backend, and of the backends below it), `gs://bucket` (the whole bucket) or one object
//! `gs://bucket/path/x.tfstate`. Versions are GCS generations: only objects whose generation
//! changed are fetched. Objects are read with Google's `google-cloud-storage` client; listing
//! goes through the JSON API (`GET /storage/v1/b/B/o?prefix=`) with reqwest, because that
//! client lists over gRPC, which no local emulator serves. Both use the same credentials:
//! Application Default Credentials, or anonymous ones for an `http://` endpoint override (a
//! local fake-gcs-server; a token is never sent in clear text). Refresh and merge logic live in
//! [`super`].

use google_cloud_auth::credentials::{self, CacheableResource, Credentials};
use google_cloud_storage::client::Storage;

use super::{Backend, Fetched, Listed, RemoteStates};

/// URL scheme of GCS locations.
pub const SCHEME: &str = "gs://";

/// The public JSON API endpoint (used when no override is configured).
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

/// OAuth scope: reading state never needs more.
const READ_ONLY_SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_only";

/// Objects per listing page (the API's maximum).
const PAGE_SIZE: u32 = 1000;

/// A parsed `gs://bucket[/prefix | /path/x.tfstate]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcsLocation {
    /// Bucket.
    pub bucket: String,
    /// The object name, or the listing prefix (empty or ending with `/`) when `is_prefix`.
    pub key: String,
    /// Discover every `*.tfstate` below `key`.
    pub is_prefix: bool,
}

impl GcsLocation {
    /// Parses `gs://bucket/prefix` (as in the backend's `prefix` setting, with or without a
    /// trailing `/`), `gs://bucket` or `gs://bucket/path/x.tfstate`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix(SCHEME)
            .ok_or_else(|| format!("{url}: not a gs:// location"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!(
                "{url}: no bucket (expected gs://bucket/prefix or gs://bucket/path/x.tfstate)"
            ));
        }
        let bucket = bucket.to_string();
        if key.ends_with(".tfstate") {
            return Ok(Self {
                bucket,
                key: key.to_string(),
                is_prefix: false,
            });
        }
        let key = if key.is_empty() || key.ends_with('/') {
            key.to_string()
        } else {
            format!("{key}/")
        };
        Ok(Self {
            bucket,
            key,
            is_prefix: true,
        })
    }

    /// Whether object `name` (from a listing) belongs to this location: the object itself, or a
    /// `*.tfstate` below the prefix (locks, `*.tflock`, never).
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        if self.is_prefix {
            name.starts_with(&self.key) && name.ends_with(".tfstate")
        } else {
            name == self.key
        }
    }
}

/// One page of `objects.list` (JSON API); other fields are ignored.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectsPage {
    #[serde(default)]
    items: Vec<ObjectItem>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct ObjectItem {
    name: String,
    /// int64 as a JSON string.
    #[serde(default)]
    generation: Option<String>,
}

struct Clients {
    storage: Storage,
    credentials: Credentials,
    http: reqwest::Client,
    endpoint: String,
}

/// Reads state objects from GCS; clients are built on the first refresh (and retried on every
/// refresh while that fails, e.g. no credentials yet).
pub struct GcsBackend {
    endpoint: Option<String>,
    page_size: u32,
    clients: Option<Clients>,
}

impl GcsBackend {
    /// A backend for `endpoint` (default: the public API with Application Default
    /// Credentials).
    #[must_use]
    pub fn new(endpoint: Option<String>) -> Self {
        Self {
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_string()),
            page_size: PAGE_SIZE,
            clients: None,
        }
    }

    /// Lists `n` objects per page (tests use a small page to exercise paging).
    #[must_use]
    pub fn with_page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(1, PAGE_SIZE);
        self
    }

    async fn build(&self) -> Result<Clients, String> {
        let endpoint = self
            .endpoint
            .clone()
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let credentials = if endpoint.starts_with("http://") {
            credentials::anonymous::Builder::new().build()
        } else {
            credentials::Builder::default()
                .with_scopes([READ_ONLY_SCOPE])
                .build()
                .map_err(|e| {
                    format!(
                        "GCP credentials: {e}; set GOOGLE_APPLICATION_CREDENTIALS or run \
                         `gcloud auth application-default login`"
                    )
                })?
        };
        let mut builder = Storage::builder().with_credentials(credentials.clone());
        if self.endpoint.is_some() {
            builder = builder.with_endpoint(endpoint.clone());
        }
        let storage = builder
            .build()
            .await
            .map_err(|e| format!("GCS client for {endpoint}: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_mins(1))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Clients {
            storage,
            credentials,
            http,
            endpoint,
        })
    }

    fn clients(&self) -> Result<&Clients, String> {
        self.clients
            .as_ref()
            .ok_or_else(|| "GCS client not ready".to_string())
    }

    /// The `objects.list` URL for one page.
    fn list_url(
        &self,
        endpoint: &str,
        bucket: &str,
        prefix: &str,
        page: Option<&str>,
    ) -> Result<reqwest::Url, String> {
        let mut url = reqwest::Url::parse(endpoint)
            .map_err(|e| format!("GCS endpoint {endpoint:?} is not a URL: {e}"))?;
        url.path_segments_mut()
            .map_err(|()| format!("GCS endpoint {endpoint:?} cannot take a path"))?
            .pop_if_empty()
            .extend(["storage", "v1", "b", bucket, "o"]);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("prefix", prefix)
                .append_pair("maxResults", &self.page_size.to_string())
                .append_pair("fields", "items(name,generation),nextPageToken");
            if let Some(p) = page {
                q.append_pair("pageToken", p);
            }
        }
        Ok(url)
    }
}

/// Every object of a set of GCS locations, with the last good parse of each.
pub type GcsStates = RemoteStates<GcsBackend>;

/// The text of a JSON API error body (`{"error": {"message": …}}`), shortened.
fn api_error(body: &str) -> String {
    let msg = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.trim().to_string());
    msg.chars().take(200).collect()
}

impl Backend for GcsBackend {
    type Location = GcsLocation;

    fn parse(url: &str) -> Result<GcsLocation, String> {
        GcsLocation::parse(url)
    }

    async fn prepare(&mut self) -> Result<(), String> {
        if self.clients.is_none() {
            self.clients = Some(self.build().await?);
        }
        Ok(())
    }

    async fn list(&self, loc: &GcsLocation) -> Result<Vec<Listed>, String> {
        let c = self.clients()?;
        let what = format!("list gs://{}/{}", loc.bucket, loc.key);
        // `http::Extensions` (no entity tag: always the current headers); `http` is not a
        // direct dependency, hence `Default::default()`.
        #[allow(clippy::default_trait_access)]
        let headers = match c.credentials.headers(Default::default()).await {
            Ok(CacheableResource::New { data, .. }) => data,
            Ok(CacheableResource::NotModified) => reqwest::header::HeaderMap::new(),
            Err(e) => return Err(format!("{what}: GCP credentials: {e}")),
        };
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let url = self.list_url(&c.endpoint, &loc.bucket, &loc.key, page.as_deref())?;
            let resp = c
                .http
                .get(url)
                .headers(headers.clone())
                .send()
                .await
                .map_err(|e| format!("{what}: {}", error_chain(&e.without_url())))?;
            let status = resp.status();
            let body = resp.text().await.map_err(|e| {
                format!(
                    "{what}: reading the reply: {}",
                    error_chain(&e.without_url())
                )
            })?;
            if !status.is_success() {
                return Err(format!("{what}: HTTP {status}: {}", api_error(&body)));
            }
            let parsed: ObjectsPage = serde_json::from_str(&body)
                .map_err(|e| format!("{what}: unexpected reply ({e})"))?;
            for o in parsed.items {
                if loc.matches(&o.name) {
                    out.push(Listed {
                        name: format!("{SCHEME}{}/{}", loc.bucket, o.name),
                        bucket: loc.bucket.clone(),
                        key: o.name,
                        version: o.generation.unwrap_or_default(),
                    });
                }
            }
            match parsed.next_page_token {
                Some(t) if !t.is_empty() => page = Some(t),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn fetch(&self, obj: &Listed) -> Result<Fetched, String> {
        let c = self.clients()?;
        let mut resp = c
            .storage
            .read_object(format!("projects/_/buckets/{}", obj.bucket), &obj.key)
            .send()
            .await
            .map_err(|e| format!("read: {e}"))?;
        let version = Some(resp.object().generation.to_string());
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.next().await {
            bytes.extend_from_slice(&chunk.map_err(|e| format!("read: {e}"))?);
        }
        Ok(Fetched { bytes, version })
    }
}

/// An error and its causes on one line (reqwest's own message is often just "error sending
/// request"; the cause says "Connection refused"). The URL is left out by the caller: an
/// endpoint URL may carry credentials.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
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

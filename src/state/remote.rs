//! Terraform state read from S3 (never written), refreshed in the background.
//!
//! A location is `s3://bucket/key` (the default workspace, plus every workspace found under
//! `env:/<ws>/<key>`) or a prefix `s3://bucket/dir/` (every `*.tfstate` below it). Reads are
//! conditional: a listing gives each object's ETag and only changed objects are fetched.
//! Refreshes run every `interval` and right after a Terraform-originated event. A failed or
//! corrupt refresh keeps the last good copy and reports the location as stale
//! (`Stats::state_stale`, a `state_stale` warning in the log).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::index::StateIndex;
use super::load::load_states;
use super::parse::{Resource, parse_state};
use crate::pipeline::SourceItem;

/// Workspace key prefix Terraform's S3 backend uses by default.
pub const WORKSPACE_PREFIX: &str = "env:";

/// Remote state for the live pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteStateConfig {
    /// Local state paths merged into the index (loaded once).
    pub local: Vec<String>,
    /// `s3://…` locations.
    pub remote: Vec<String>,
    /// AWS region of the buckets.
    pub region: String,
    /// Custom S3 endpoint (local server).
    pub endpoint_url: Option<String>,
    /// Time between refreshes.
    pub interval: Duration,
}

/// Whether a state location is remote (handled here rather than by `load_states`).
#[must_use]
pub fn is_remote(location: &str) -> bool {
    location.starts_with("s3://")
}

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
            return Err(format!("{url}: no bucket"));
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

#[derive(Debug)]
struct Object {
    etag: String,
    resources: Vec<Resource>,
}

/// What a refresh did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refresh {
    /// Objects fetched (new or changed ETag).
    pub fetched: usize,
    /// Objects gone since the last refresh.
    pub removed: usize,
    /// The merged resources changed.
    pub changed: bool,
}

/// Every object of a set of S3 locations, with the last good parse of each.
pub struct S3States {
    client: aws_sdk_s3::Client,
    locations: Vec<(String, Result<S3Location, String>)>,
    objects: BTreeMap<String, Object>,
    stale: BTreeMap<String, String>,
}

impl S3States {
    /// A set over `urls`; nothing is read until [`S3States::refresh`].
    #[must_use]
    pub fn new(client: aws_sdk_s3::Client, urls: &[String]) -> Self {
        Self {
            client,
            locations: urls
                .iter()
                .map(|u| (u.clone(), S3Location::parse(u)))
                .collect(),
            objects: BTreeMap::new(),
            stale: BTreeMap::new(),
        }
    }

    /// Locations (or objects) whose last refresh failed, with why.
    #[must_use]
    pub fn stale(&self) -> &BTreeMap<String, String> {
        &self.stale
    }

    /// State objects known, as `s3://bucket/key`.
    #[must_use]
    pub fn objects(&self) -> Vec<String> {
        self.objects.keys().cloned().collect()
    }

    /// Every resource of the last good copy of every object.
    #[must_use]
    pub fn resources(&self) -> Vec<Resource> {
        self.objects
            .values()
            .flat_map(|o| o.resources.iter().cloned())
            .collect()
    }

    async fn list(&self, loc: &S3Location) -> Result<Vec<(String, String)>, String> {
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
                    .map_err(|e| {
                        format!(
                            "list s3://{}/{prefix}: {}",
                            loc.bucket,
                            aws_sdk_s3::error::DisplayErrorContext(&e)
                        )
                    })?;
                for o in page.contents() {
                    if let (Some(k), etag) = (o.key(), o.e_tag().unwrap_or_default())
                        && loc.matches(k)
                    {
                        out.push((k.to_string(), etag.to_string()));
                    }
                }
                match page.next_continuation_token() {
                    Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
        let obj = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| format!("get: {}", aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        Ok(obj
            .body
            .collect()
            .await
            .map_err(|e| format!("read: {e}"))?
            .into_bytes()
            .to_vec())
    }

    /// Lists every location and fetches the objects whose ETag changed.
    pub async fn refresh(&mut self) -> Refresh {
        let mut r = Refresh::default();
        let mut stale = BTreeMap::new();
        let mut present = std::collections::BTreeSet::new();
        let mut listed_ok: Vec<S3Location> = Vec::new();
        for (url, loc) in &self.locations {
            let loc = match loc {
                Ok(l) => l,
                Err(e) => {
                    stale.insert(url.clone(), e.clone());
                    continue;
                }
            };
            let listing = match self.list(loc).await {
                Ok(l) => l,
                Err(e) => {
                    stale.insert(url.clone(), e);
                    continue;
                }
            };
            listed_ok.push(loc.clone());
            if listing.is_empty() {
                stale.insert(url.clone(), "no state object found".into());
            }
            for (key, etag) in listing {
                let name = format!("s3://{}/{key}", loc.bucket);
                present.insert(name.clone());
                if self.objects.get(&name).is_some_and(|o| o.etag == etag) {
                    continue;
                }
                let parsed = self
                    .get(&loc.bucket, &key)
                    .await
                    .and_then(|b| parse_state(&name, &b).map_err(|e| e.to_string()));
                match parsed {
                    Ok(resources) => {
                        r.fetched += 1;
                        r.changed = true;
                        self.objects.insert(name, Object { etag, resources });
                    }
                    Err(e) => {
                        if self.objects.contains_key(&name) {
                            present.insert(name.clone());
                        }
                        stale.insert(name, e);
                    }
                }
            }
        }
        // Objects gone from a location that listed fine are dropped (workspace deleted).
        let gone: Vec<String> = self
            .objects
            .keys()
            .filter(|n| !present.contains(*n))
            .filter(|n| {
                listed_ok.iter().any(|l| {
                    n.strip_prefix(&format!("s3://{}/", l.bucket))
                        .is_some_and(|k| l.matches(k))
                })
            })
            .cloned()
            .collect();
        for n in gone {
            self.objects.remove(&n);
            r.removed += 1;
            r.changed = true;
        }
        for (loc, why) in &stale {
            if self.stale.get(loc) != Some(why) {
                tracing::warn!(state = %loc, reason = %why, "state_stale: refresh failed; keeping the last good copy");
            }
        }
        self.stale = stale;
        r
    }
}

/// Refreshes remote state every `interval` and on `refresh`, sending each new index (local +
/// remote) to the engine; cancels `ready` after the first load; runs until `cancel`.
pub async fn refresh_loop(
    cfg: RemoteStateConfig,
    aws: Option<aws_config::SdkConfig>,
    tx: mpsc::Sender<SourceItem>,
    refresh: Arc<Notify>,
    cancel: CancellationToken,
    ready: CancellationToken,
) {
    let sdk =
        crate::collect::aws_sdk_config(&cfg.region, cfg.endpoint_url.as_deref(), aws.as_ref())
            .await;
    let client = crate::collect::s3_client(&sdk);
    let (local, _failures) = load_states(&cfg.local);
    let local: Vec<Resource> = local.resources().to_vec();
    let mut states = S3States::new(client, &cfg.remote);
    let mut last_stale = None;
    loop {
        let r = states.refresh().await;
        if r.changed || last_stale.as_ref() != Some(states.stale()) {
            let mut all = local.clone();
            all.extend(states.resources());
            let item = SourceItem::State {
                index: Arc::new(StateIndex::new(all)),
                stale: states.stale().clone(),
            };
            if tx.send(item).await.is_err() {
                return;
            }
            last_stale = Some(states.stale().clone());
        }
        // The first load is in the engine's queue ahead of any event: sources may start.
        ready.cancel();
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(cfg.interval) => {}
            () = refresh.notified() => {}
        }
    }
}

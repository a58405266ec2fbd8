//! Terraform state read from remote backends (never written, never locked), refreshed in the
//! background: S3 ([`s3`]) and GCS ([`gcs`]).
//!
//! Each backend only knows how to list a location (object names with a version token: the S3
//! ETag, the GCS generation) and fetch one object. The refresh logic is shared here: only
//! objects whose version changed are fetched; a failed or corrupt read keeps the last good copy
//! and reports the object (or location) as stale (`Stats::state_stale`, a `state_stale` warning
//! in the log); objects gone from a location that listed fine are dropped (a deleted
//! workspace). [`refresh_loop`] refreshes every `interval` and right after a
//! Terraform-originated event, and sends each new merged index to the engine.

pub mod gcs;
pub mod s3;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::index::StateIndex;
use super::load::load_states;
use super::parse::{Resource, parse_state};
use crate::pipeline::SourceItem;

pub use gcs::{GcsBackend, GcsLocation, GcsStates};
pub use s3::{S3Backend, S3Location, S3States, WORKSPACE_PREFIX};

/// Longest a listing or a read may take: a hung backend makes its locations stale (and the
/// next refresh tries again) instead of stopping every refresh.
const OPERATION_TIMEOUT: Duration = Duration::from_mins(2);

/// `fut`'s result, or a timeout error naming `what`.
async fn bounded<T>(what: &str, fut: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(OPERATION_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{what}: no answer within {} s",
                OPERATION_TIMEOUT.as_secs()
            ))
        })
}

/// Remote state for the live pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemoteStateConfig {
    /// Local state paths merged into the index (loaded once).
    pub local: Vec<String>,
    /// `s3://…` and `gs://…` locations.
    pub remote: Vec<String>,
    /// AWS region of the S3 buckets.
    pub region: String,
    /// Custom S3 endpoint (local server).
    pub endpoint_url: Option<String>,
    /// Custom GCS endpoint (a local fake-gcs-server; `http://` means anonymous credentials).
    pub gcs_endpoint_url: Option<String>,
    /// Time between refreshes.
    pub interval: Duration,
}

/// Whether a state location is remote (handled here rather than by `load_states`).
#[must_use]
pub fn is_remote(location: &str) -> bool {
    location.starts_with("s3://") || location.starts_with(gcs::SCHEME)
}

/// One object found by listing a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Full name, `s3://bucket/key` or `gs://bucket/name`: the key of the object everywhere
    /// (stale reports, resources' origin).
    pub name: String,
    /// Bucket.
    pub bucket: String,
    /// Key / object name inside the bucket.
    pub key: String,
    /// Version token: an unchanged token means unchanged content (ETag, generation).
    pub version: String,
}

/// An object's content, with the version it was read at when the backend tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The version of these bytes (may be newer than the listing's).
    pub version: Option<String>,
}

/// What a remote state backend provides; [`RemoteStates`] does the rest.
pub trait Backend {
    /// A parsed location URL.
    type Location: Send + Sync;

    /// Parses a location URL; the error names the URL and the expected form.
    fn parse(url: &str) -> Result<Self::Location, String>;

    /// Called before every refresh (e.g. to build clients lazily, retried until it works);
    /// an error marks every location stale with it.
    fn prepare(&mut self) -> impl Future<Output = Result<(), String>> + Send {
        async { Ok(()) }
    }

    /// Every state object of `loc`, with its version.
    fn list(
        &self,
        loc: &Self::Location,
    ) -> impl Future<Output = Result<Vec<Listed>, String>> + Send;

    /// The content of one listed object.
    fn fetch(&self, obj: &Listed) -> impl Future<Output = Result<Fetched, String>> + Send;
}

#[derive(Debug)]
struct Object {
    version: String,
    /// The location URL that listed it (for dropping deleted objects).
    location: String,
    resources: Vec<Resource>,
}

/// What a refresh did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Refresh {
    /// Objects fetched (new or changed version).
    pub fetched: usize,
    /// Objects gone since the last refresh.
    pub removed: usize,
    /// The merged resources changed.
    pub changed: bool,
}

/// Every object of a set of locations of one backend, with the last good parse of each.
pub struct RemoteStates<B: Backend> {
    backend: B,
    locations: Vec<(String, Result<B::Location, String>)>,
    objects: BTreeMap<String, Object>,
    stale: BTreeMap<String, String>,
    /// Log each new `state_stale` (the live refresher); a one-shot read reports them itself.
    log_stale: bool,
}

impl<B: Backend> RemoteStates<B> {
    /// A set over `urls`; nothing is read until [`RemoteStates::refresh`].
    #[must_use]
    pub fn new(backend: impl Into<B>, urls: &[String]) -> Self {
        Self {
            backend: backend.into(),
            locations: urls.iter().map(|u| (u.clone(), B::parse(u))).collect(),
            objects: BTreeMap::new(),
            stale: BTreeMap::new(),
            log_stale: true,
        }
    }

    /// Stops logging failed reads (the caller reports [`RemoteStates::stale`] itself).
    #[must_use]
    pub fn quiet(mut self) -> Self {
        self.log_stale = false;
        self
    }

    /// Locations (or objects) whose last refresh failed, with why.
    #[must_use]
    pub fn stale(&self) -> &BTreeMap<String, String> {
        &self.stale
    }

    /// State objects known, by full name (`s3://bucket/key`, `gs://bucket/name`).
    #[must_use]
    pub fn objects(&self) -> Vec<String> {
        self.objects.keys().cloned().collect()
    }

    /// The version (ETag, generation) of the last good copy of `name`.
    #[must_use]
    pub fn version(&self, name: &str) -> Option<&str> {
        self.objects.get(name).map(|o| o.version.as_str())
    }

    /// Every resource of the last good copy of every object.
    #[must_use]
    pub fn resources(&self) -> Vec<Resource> {
        self.objects
            .values()
            .flat_map(|o| o.resources.iter().cloned())
            .collect()
    }

    /// Lists every location and fetches the objects whose version changed.
    pub async fn refresh(&mut self) -> Refresh {
        let mut r = Refresh::default();
        let mut stale = BTreeMap::new();
        let mut present = BTreeSet::new();
        let mut listed_ok = BTreeSet::new();
        if let Err(e) = self.backend.prepare().await {
            for (url, _) in &self.locations {
                stale.insert(url.clone(), e.clone());
            }
        } else {
            for (url, loc) in &self.locations {
                let listing = match loc {
                    Ok(loc) => bounded(url, Box::pin(self.backend.list(loc))).await,
                    Err(e) => Err(e.clone()),
                };
                let listing = match listing {
                    Ok(l) => l,
                    Err(e) => {
                        stale.insert(url.clone(), e);
                        continue;
                    }
                };
                listed_ok.insert(url.clone());
                if listing.is_empty() {
                    stale.insert(url.clone(), "no state object found".into());
                }
                for obj in listing {
                    present.insert(obj.name.clone());
                    if self
                        .objects
                        .get(&obj.name)
                        .is_some_and(|o| o.version == obj.version)
                    {
                        continue;
                    }
                    let fetched = bounded(&obj.name, Box::pin(self.backend.fetch(&obj))).await;
                    let parsed = fetched.and_then(|f| {
                        parse_state(&obj.name, &f.bytes)
                            .map(|res| (f.version, res))
                            .map_err(|e| e.to_string())
                    });
                    match parsed {
                        Ok((version, resources)) => {
                            r.fetched += 1;
                            r.changed = true;
                            let object = Object {
                                version: version.unwrap_or(obj.version),
                                location: url.clone(),
                                resources,
                            };
                            self.objects.insert(obj.name, object);
                        }
                        Err(e) => {
                            stale.insert(obj.name, e);
                        }
                    }
                }
            }
        }
        // Objects gone from a location that listed fine are dropped (workspace deleted).
        let gone: Vec<String> = self
            .objects
            .iter()
            .filter(|(n, o)| !present.contains(*n) && listed_ok.contains(&o.location))
            .map(|(n, _)| n.clone())
            .collect();
        for n in gone {
            self.objects.remove(&n);
            r.removed += 1;
            r.changed = true;
        }
        for (loc, why) in &stale {
            if self.log_stale && self.stale.get(loc) != Some(why) {
                tracing::warn!(state = %loc, reason = %why, "state_stale: refresh failed; keeping the last good copy");
            }
        }
        self.stale = stale;
        r
    }
}

/// The S3 and GCS sets of `cfg.remote`, with the clients the settings ask for (endpoint,
/// region, credentials): the live refresher and `tfdrift state show` read remote state alike.
async fn open_sets(
    cfg: &RemoteStateConfig,
    aws: Option<&aws_config::SdkConfig>,
) -> (Option<S3States>, Option<GcsStates>) {
    let (gs_urls, s3_urls): (Vec<String>, Vec<String>) = cfg
        .remote
        .iter()
        .cloned()
        .partition(|u| u.starts_with(gcs::SCHEME));
    let mut s3 = None;
    if !s3_urls.is_empty() {
        let sdk = Box::pin(crate::collect::aws_sdk_config(
            &cfg.region,
            cfg.endpoint_url.as_deref(),
            aws,
        ))
        .await;
        s3 = Some(S3States::new(crate::collect::s3_client(&sdk), &s3_urls));
    }
    let gs = (!gs_urls.is_empty())
        .then(|| GcsStates::new(GcsBackend::new(cfg.gcs_endpoint_url.clone()), &gs_urls));
    (s3, gs)
}

/// Remote state read once.
#[derive(Debug, Default)]
pub struct LoadedOnce {
    /// Every resource of every object read.
    pub resources: Vec<Resource>,
    /// State objects read, by full name.
    pub objects: Vec<String>,
    /// Locations (or objects) that could not be read, with why and what to check.
    pub failed: BTreeMap<String, String>,
}

/// Reads every remote location of `cfg` once (`tfdrift state show`), with the same clients
/// and settings as the live refresher; the local paths of `cfg` are not read here.
pub async fn load_once(cfg: &RemoteStateConfig, aws: Option<&aws_config::SdkConfig>) -> LoadedOnce {
    let (s3, gs) = open_sets(cfg, aws).await;
    // The caller names every failure with what to check: no "keeping the last good copy" log.
    let (mut s3, mut gs) = (s3.map(RemoteStates::quiet), gs.map(RemoteStates::quiet));
    let mut out = LoadedOnce::default();
    if let Some(s) = &mut s3 {
        Box::pin(s.refresh()).await;
        out.resources.extend(s.resources());
        out.objects.extend(s.objects());
        out.failed.extend(s.stale().clone());
    }
    if let Some(g) = &mut gs {
        Box::pin(g.refresh()).await;
        out.resources.extend(g.resources());
        out.objects.extend(g.objects());
        out.failed.extend(g.stale().clone());
    }
    for (location, why) in &mut out.failed {
        // A parse error already names the object and the fix; a read error gets what to check.
        if !why.contains(&format!("'{location}'")) {
            why.push_str(" (");
            why.push_str(failure_hint(location));
            why.push(')');
        }
    }
    out
}

/// What to check when `location` cannot be read.
#[must_use]
pub fn failure_hint(location: &str) -> &'static str {
    if location.starts_with(gcs::SCHEME) {
        "check the bucket and object prefix, `remote_state.gcs_endpoint_url`, and the credentials: Application Default Credentials with storage.objects.list and storage.objects.get"
    } else {
        "check the bucket and key (or prefix ending in /), `remote_state.region` and `remote_state.endpoint_url`, and the AWS credentials: s3:ListBucket and s3:GetObject"
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
    let (mut s3, mut gs) = open_sets(&cfg, aws.as_ref()).await;
    let (local, _failures) = load_states(&cfg.local);
    let local: Vec<Resource> = local.resources().to_vec();
    let mut last_stale = None;
    loop {
        let mut changed = false;
        let mut stale = BTreeMap::new();
        if let Some(s) = &mut s3 {
            // Boxed: the backends' futures are large and this loop lives for the whole run.
            changed |= Box::pin(s.refresh()).await.changed;
            stale.extend(s.stale().clone());
        }
        if let Some(g) = &mut gs {
            changed |= Box::pin(g.refresh()).await.changed;
            stale.extend(g.stale().clone());
        }
        if changed || last_stale.as_ref() != Some(&stale) {
            let mut all = local.clone();
            all.extend(s3.iter().flat_map(RemoteStates::resources));
            all.extend(gs.iter().flat_map(RemoteStates::resources));
            let item = SourceItem::State {
                index: Arc::new(StateIndex::new(all)),
                stale: stale.clone(),
            };
            if tx.send(item).await.is_err() {
                return;
            }
            last_stale = Some(stale);
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

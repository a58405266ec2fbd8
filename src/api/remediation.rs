//! The remediation calls of the team API (see [`crate::remediation`]): a responder requests a
//! restore or an accept of a drift, the daemon plans it in the workspace whose state holds the
//! drift's address and stores the saved plan's sha256 and masked text; an admin other than the
//! requester approves, and the daemon applies exactly that file — unless it expired, was
//! superseded or changed on disk. Every step is stored before it is answered; terraform's
//! output goes to the daemon's log (masked) and into the stored request.

use std::sync::Arc;

use chrono::Utc;
use tonic::{Request, Response, Status};

use super::auth::require;
use super::proto as pb;
use super::server::{ApiState, blocking};
use super::tokens::Role;
use crate::reconcile::settings::Target;
use crate::reconcile::{Context, WorkspaceSpec, schedule};
use crate::remediation::{
    self as rem, Kind, Now, Refusal, Remediation, RemediationSettings, Status as RemStatus, exec,
};

/// What the remediation calls need from the daemon: the profile's settings and workspaces, and
/// a private directory for the saved plans (they hold state values: mode 0700, removed when the
/// daemon exits — a restart expires every pending plan).
pub struct RemediationApi {
    settings: RemediationSettings,
    ctx: Context,
    specs: Vec<WorkspaceSpec>,
    plans: tempfile::TempDir,
    /// One terraform run at a time per daemon (plans and applies of the same workspace).
    terraform: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for RemediationApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemediationApi")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RemediationApi {
    /// The daemon's remediation over its reconcile context and `workspaces:`.
    pub fn new(
        settings: RemediationSettings,
        ctx: Context,
        specs: Vec<WorkspaceSpec>,
    ) -> std::io::Result<Self> {
        let plans = tempfile::Builder::new()
            .prefix("tfdrift-plans-")
            .tempdir()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(plans.path(), std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self {
            settings,
            ctx,
            specs,
            plans,
            terraform: tokio::sync::Mutex::new(()),
        })
    }

    async fn targets(&self) -> Vec<Target> {
        schedule::targets(&self.ctx, &self.specs).await.0
    }
}

impl ApiState {
    /// Serves the remediation calls (without it they answer FAILED_PRECONDITION).
    #[must_use]
    pub fn with_remediation(mut self, api: RemediationApi) -> Self {
        self.remediation = Some(Arc::new(api));
        self
    }

    fn remediation_api(&self) -> Result<Arc<RemediationApi>, Status> {
        match &self.remediation {
            Some(r) if r.settings.enabled => Ok(r.clone()),
            _ => Err(Status::failed_precondition(
                "remediation is off in this daemon's profile: set `remediation: {enabled: true}` (and `workspaces:`) and restart it",
            )),
        }
    }
}

fn time(t: Option<chrono::DateTime<Utc>>) -> String {
    t.map(super::convert::time).unwrap_or_default()
}

fn to_pb(r: &Remediation, needed: u32) -> pb::Remediation {
    pb::Remediation {
        id: r.id,
        drift_id: r.drift_id.clone(),
        kind: r.kind.as_str().into(),
        note: r.note.clone(),
        workspace: r.workspace.clone(),
        address: r.address.clone(),
        requested_by: r.requested_by.clone(),
        requested_at: time(Some(r.requested_at)),
        expires_at: time(Some(r.expires_at)),
        plan_sha256: r.plan_sha256.clone(),
        plan_text: r.plan_text.clone(),
        status: r.status.as_str().into(),
        approvers: r.approvers.clone(),
        approvals_needed: needed,
        decided_by: r.decided_by.clone().unwrap_or_default(),
        decided_at: time(r.decided_at),
        output: r.output.clone(),
        reason: r.reason.clone().unwrap_or_default(),
    }
}

fn needed(state: &ApiState) -> u32 {
    state
        .remediation
        .as_ref()
        .map_or(1, |r| r.settings.approvals)
}

/// `RequestRemediation`: plan, store, answer pending.
pub async fn request(
    state: &Arc<ApiState>,
    req: Request<pb::RequestRemediationRequest>,
) -> Result<Response<pb::Remediation>, Status> {
    let caller = require(&req, Role::Responder, "requesting a remediation")?;
    let api = state.remediation_api()?;
    let r = req.into_inner();
    let kind = Kind::parse(&r.kind).ok_or_else(|| {
        Status::invalid_argument(format!("kind '{}' is not restore or accept", r.kind))
    })?;
    let id = r.drift_id.clone();
    let drift = blocking(state, move |s| s.drift(&id))
        .await?
        .ok_or_else(|| {
            Status::not_found(format!("no drift '{}' in the daemon's store", r.drift_id))
        })?;
    if drift.resolved_at.is_some() {
        return Err(Status::failed_precondition(format!(
            "drift {} is resolved: there is nothing to remediate",
            drift.id
        )));
    }
    let address = drift.address.clone().ok_or_else(|| {
        Status::failed_precondition(format!(
            "drift {} has no Terraform address (an unmanaged resource): terraform cannot target it",
            drift.id
        ))
    })?;
    let _running = api.terraform.lock().await;
    let mut found = None;
    let mut errors = Vec::new();
    for t in api.targets().await {
        match exec::holds(&api.ctx.settings, &t, &address).await {
            Ok(true) => {
                found = Some(t);
                break;
            }
            Ok(false) => {}
            Err(e) => errors.push(format!("{}: {}", t.name, e.lines().next().unwrap_or(""))),
        }
    }
    let target = found.ok_or_else(|| {
        Status::failed_precondition(format!(
            "no workspace of the profile holds {address} in its state{}",
            if errors.is_empty() {
                String::new()
            } else {
                format!(" (could not read: {})", errors.join("; "))
            }
        ))
    })?;
    let now = Utc::now();
    let file = api.plans.path().join(format!(
        "{}-{}-{}.tfplan",
        drift.id,
        kind.as_str(),
        now.timestamp_nanos_opt().unwrap_or_default()
    ));
    tracing::info!(drift = %drift.id, %address, workspace = %target.name, kind = kind.as_str(), who = %caller.name, "Planning a remediation");
    let text = exec::plan(&api.ctx.settings, &target, kind, &address, &file)
        .await
        .map_err(Status::failed_precondition)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o400));
    }
    let sha = rem::file_sha256(&file)
        .ok_or_else(|| Status::internal("the saved plan cannot be read back"))?;
    let planned_at = Utc::now();
    let ttl = chrono::Duration::from_std(api.settings.plan_ttl)
        .unwrap_or_else(|_| chrono::Duration::minutes(15));
    let mut row = Remediation {
        id: 0,
        drift_id: drift.id.clone(),
        kind,
        note: r.note,
        workspace: target.name.clone(),
        address,
        requested_by: caller.name.clone(),
        requested_at: planned_at,
        expires_at: planned_at + ttl,
        plan_path: file.display().to_string(),
        plan_sha256: sha,
        plan_text: text,
        drift_fingerprint: rem::drift_fingerprint(&drift),
        status: RemStatus::Pending,
        approvers: Vec::new(),
        decided_by: None,
        decided_at: None,
        output: String::new(),
        reason: None,
    };
    let stored = row.clone();
    row.id = blocking(state, move |s| s.insert_remediation(&stored)).await?;
    tracing::info!(id = row.id, drift = %row.drift_id, sha256 = %row.plan_sha256, "Remediation planned; waiting for approval");
    Ok(Response::new(to_pb(&row, api.settings.approvals)))
}

async fn load(state: &Arc<ApiState>, id: i64) -> Result<Remediation, Status> {
    blocking(state, move |s| s.remediation(id))
        .await?
        .ok_or_else(|| Status::not_found(format!("no remediation {id} in the daemon's store")))
}

async fn write(state: &Arc<ApiState>, r: &Remediation, from: RemStatus) -> Result<(), Status> {
    let row = r.clone();
    if blocking(state, move |s| s.update_remediation(&row, from)).await? {
        Ok(())
    } else {
        Err(Status::aborted(format!(
            "remediation {} changed while this call ran (another approval or rejection): read it again",
            r.id
        )))
    }
}

/// `ApproveRemediation`: refuse what may not be applied, count the approval, apply the saved
/// plan when enough admins approved.
pub async fn approve(
    state: &Arc<ApiState>,
    req: Request<pb::ApproveRemediationRequest>,
) -> Result<Response<pb::Remediation>, Status> {
    let caller = require(&req, Role::Admin, "approving a remediation")?;
    let api = state.remediation_api()?;
    let mut r = load(state, req.into_inner().id).await?;
    let drift_id = r.drift_id.clone();
    let (newest, drift) = blocking(state, move |s| {
        let newest = s
            .remediations(Some(&drift_id), 1)?
            .first()
            .map_or(0, |x| x.id);
        Ok((newest, s.drift(&drift_id)?))
    })
    .await?;
    let now = Now {
        caller: &caller.name,
        at: Utc::now(),
        newest_for_drift: newest,
        drift: drift.map(|d| (rem::drift_fingerprint(&d), d.resolved_at.is_some())),
        plan_sha256: rem::file_sha256(std::path::Path::new(&r.plan_path)),
    };
    if let Err(refusal) = rem::check_approval(&r, &now) {
        tracing::warn!(id = r.id, who = %caller.name, reason = %refusal, "Remediation approval refused");
        if let Some(st) = refusal.status() {
            let mut ended = r.clone();
            ended.status = st;
            ended.reason = Some(refusal.to_string());
            ended.decided_by = Some(caller.name.clone());
            ended.decided_at = Some(now.at);
            // Best effort: a concurrent change leaves the row as the other call wrote it. The
            // plan can never be applied now: its file goes.
            if write(state, &ended, RemStatus::Pending).await.is_ok() {
                let _ = std::fs::remove_file(&r.plan_path);
            }
        }
        return Err(match refusal {
            Refusal::SelfApproval { .. } => Status::permission_denied(refusal.to_string()),
            _ => Status::failed_precondition(refusal.to_string()),
        });
    }
    r.approvers.push(caller.name.clone());
    let needed = api.settings.approvals;
    if r.approvers.len() < usize::try_from(needed).unwrap_or(1) {
        write(state, &r, RemStatus::Pending).await?;
        tracing::info!(id = r.id, who = %caller.name, approvals = r.approvers.len(), needed, "Remediation approved; more approvals needed");
        return Ok(Response::new(to_pb(&r, needed)));
    }
    r.status = RemStatus::Applying;
    r.decided_by = Some(caller.name.clone());
    r.decided_at = Some(now.at);
    write(state, &r, RemStatus::Pending).await?;
    let _running = api.terraform.lock().await;
    let target = api
        .targets()
        .await
        .into_iter()
        .find(|t| t.name == r.workspace);
    let result = match target {
        None => Err(format!(
            "workspace '{}' is no longer in the daemon's profile",
            r.workspace
        )),
        Some(t) => {
            tracing::info!(id = r.id, workspace = %t.name, address = %r.address, who = %caller.name, "Applying an approved remediation plan");
            exec::apply(&api.ctx.settings, &t, std::path::Path::new(&r.plan_path)).await
        }
    };
    let (status, output) = match result {
        Ok(out) => (RemStatus::Applied, out),
        Err(out) => (RemStatus::Failed, out),
    };
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        tracing::info!(id = r.id, "terraform apply: {line}");
    }
    r.status = status;
    r.output = output;
    if status == RemStatus::Failed {
        r.reason = Some(
            crate::reconcile::exec::first_lines(&[], &r.output, "")
                .lines()
                .next()
                .unwrap_or("terraform apply failed")
                .to_string(),
        );
    }
    write(state, &r, RemStatus::Applying).await?;
    let _ = std::fs::remove_file(&r.plan_path);
    state.poke();
    tracing::info!(id = r.id, status = status.as_str(), "Remediation finished");
    Ok(Response::new(to_pb(&r, needed)))
}

/// `RejectRemediation`: an admin ends a pending request.
pub async fn reject(
    state: &Arc<ApiState>,
    req: Request<pb::RejectRemediationRequest>,
) -> Result<Response<pb::Remediation>, Status> {
    let caller = require(&req, Role::Admin, "rejecting a remediation")?;
    state.remediation_api()?;
    let body = req.into_inner();
    let mut r = load(state, body.id).await?;
    if r.status != RemStatus::Pending {
        return Err(Status::failed_precondition(format!(
            "remediation {} is {}, not pending",
            r.id,
            r.status.as_str()
        )));
    }
    r.status = RemStatus::Rejected;
    r.decided_by = Some(caller.name.clone());
    r.decided_at = Some(Utc::now());
    r.reason = Some(if body.reason.is_empty() {
        format!("rejected by {}", caller.name)
    } else {
        body.reason
    });
    write(state, &r, RemStatus::Pending).await?;
    let _ = std::fs::remove_file(&r.plan_path);
    tracing::info!(id = r.id, who = %caller.name, "Remediation rejected");
    Ok(Response::new(to_pb(&r, needed(state))))
}

/// `ListRemediations`.
pub async fn list(
    state: &Arc<ApiState>,
    req: Request<pb::ListRemediationsRequest>,
) -> Result<Response<pb::ListRemediationsReply>, Status> {
    require(&req, Role::Viewer, "listing remediations")?;
    let r = req.into_inner();
    let drift = (!r.drift_id.is_empty()).then_some(r.drift_id);
    let limit = match r.limit {
        0 => 100,
        n => usize::try_from(n).unwrap_or(1000).min(1000),
    };
    let rows = blocking(state, move |s| s.remediations(drift.as_deref(), limit)).await?;
    let n = needed(state);
    Ok(Response::new(pb::ListRemediationsReply {
        remediations: rows.iter().map(|r| to_pb(r, n)).collect(),
    }))
}

/// `GetRemediation`.
pub async fn get(
    state: &Arc<ApiState>,
    req: Request<pb::GetRemediationRequest>,
) -> Result<Response<pb::Remediation>, Status> {
    require(&req, Role::Viewer, "reading remediations")?;
    let r = load(state, req.into_inner().id).await?;
    Ok(Response::new(to_pb(&r, needed(state))))
}

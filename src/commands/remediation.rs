//! `tfdrift remediation request|list|show|approve|reject`: remediation behind approval, through
//! the daemon (`--connect URL` or the profile's `daemon:`). The daemon plans, stores and applies;
//! this prints what it answered, or its refusal with the reason (exit 1).

use std::process::ExitCode;

use anyhow::Context as _;
use tfdrift::api::client::{Client, ClientOptions};
use tfdrift::api::proto as pb;

use crate::cli::RemediationCommand;

/// Runs one `remediation` subcommand.
pub fn run(cmd: &RemediationCommand) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cmd {
        RemediationCommand::Request {
            drift,
            kind,
            note,
            json,
            connect,
            profile,
        } => {
            let opts = super::watch::options(connect, profile)?;
            let req = pb::RequestRemediationRequest {
                drift_id: drift.clone(),
                kind: kind.clone(),
                note: note.clone(),
            };
            rt.block_on(one(&opts, *json, true, async |c| {
                c.daemon().request_remediation(req).await
            }))
        }
        RemediationCommand::List {
            drift,
            json,
            connect,
            profile,
        } => {
            let opts = super::watch::options(connect, profile)?;
            let req = pb::ListRemediationsRequest {
                drift_id: drift.clone().unwrap_or_default(),
                limit: 0,
            };
            rt.block_on(async {
                let mut c = match Client::connect(&opts).await {
                    Ok(c) => c,
                    Err(e) => return fail(&e.to_string()),
                };
                let url = c.url().to_string();
                let reply = match c.daemon().list_remediations(req).await {
                    Ok(r) => r.into_inner(),
                    Err(s) => return fail(&refused(&url, &s)),
                };
                for r in &reply.remediations {
                    if *json {
                        println!("{}", to_json(r));
                    } else {
                        println!(
                            "{:>4} {:<10} {:<8} {} {} (workspace {}) requested by {} at {}{}",
                            r.id,
                            r.status,
                            r.kind,
                            r.drift_id,
                            r.address,
                            r.workspace,
                            r.requested_by,
                            r.requested_at,
                            if r.decided_by.is_empty() {
                                String::new()
                            } else {
                                format!(", {} by {}", r.status, r.decided_by)
                            }
                        );
                    }
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        RemediationCommand::Show {
            id,
            json,
            connect,
            profile,
        } => {
            let opts = super::watch::options(connect, profile)?;
            let req = pb::GetRemediationRequest { id: *id };
            rt.block_on(one(&opts, *json, true, async |c| {
                c.daemon().get_remediation(req).await
            }))
        }
        RemediationCommand::Approve {
            id,
            json,
            connect,
            profile,
        } => {
            let opts = super::watch::options(connect, profile)?;
            let req = pb::ApproveRemediationRequest { id: *id };
            rt.block_on(one(&opts, *json, false, async |c| {
                c.daemon().approve_remediation(req).await
            }))
        }
        RemediationCommand::Reject {
            id,
            reason,
            json,
            connect,
            profile,
        } => {
            let opts = super::watch::options(connect, profile)?;
            let req = pb::RejectRemediationRequest {
                id: *id,
                reason: reason.clone(),
            };
            rt.block_on(one(&opts, *json, false, async |c| {
                c.daemon().reject_remediation(req).await
            }))
        }
    }
}

/// One call answering a request: printed, exit 2 when its apply failed.
async fn one(
    opts: &ClientOptions,
    json: bool,
    with_plan: bool,
    call: impl AsyncFnOnce(&mut Client) -> Result<tonic::Response<pb::Remediation>, tonic::Status>,
) -> anyhow::Result<ExitCode> {
    let mut c = match Client::connect(opts).await {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    let url = c.url().to_string();
    let r = match call(&mut c).await {
        Ok(r) => r.into_inner(),
        Err(s) => return fail(&refused(&url, &s)),
    };
    if json {
        println!("{}", to_json(&r));
    } else {
        print_one(&r, with_plan);
    }
    Ok(if r.status == "failed" {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_one(r: &pb::Remediation, with_plan: bool) {
    println!(
        "remediation {}: {} {} of {} ({}) in workspace {}",
        r.id, r.status, r.kind, r.address, r.drift_id, r.workspace
    );
    println!("  requested by {} at {}", r.requested_by, r.requested_at);
    println!("  plan sha256 {} expires {}", r.plan_sha256, r.expires_at);
    println!(
        "  approvals {}/{}{}",
        r.approvers.len(),
        r.approvals_needed,
        if r.approvers.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.approvers.join(", "))
        }
    );
    if !r.decided_by.is_empty() {
        println!("  {} by {} at {}", r.status, r.decided_by, r.decided_at);
    }
    if !r.reason.is_empty() {
        println!("  reason: {}", r.reason);
    }
    if with_plan && !r.plan_text.is_empty() {
        println!("--- plan ---\n{}", r.plan_text.trim_end());
    }
    if !r.output.is_empty() {
        println!("--- terraform apply ---\n{}", r.output.trim_end());
    }
}

fn to_json(r: &pb::Remediation) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "drift_id": r.drift_id,
        "kind": r.kind,
        "note": r.note,
        "workspace": r.workspace,
        "address": r.address,
        "requested_by": r.requested_by,
        "requested_at": r.requested_at,
        "expires_at": r.expires_at,
        "plan_sha256": r.plan_sha256,
        "plan_text": r.plan_text,
        "status": r.status,
        "approvers": r.approvers,
        "approvals_needed": r.approvals_needed,
        "decided_by": r.decided_by,
        "decided_at": r.decided_at,
        "output": r.output,
        "reason": r.reason,
    })
}

fn refused(url: &str, s: &tonic::Status) -> String {
    match s.code() {
        tonic::Code::Unavailable => format!("cannot reach the daemon at {url}: {}", s.message()),
        code => format!("refused by the daemon ({code:?}): {}", s.message()),
    }
}

#[allow(clippy::unnecessary_wraps)]
fn fail(msg: &str) -> anyhow::Result<ExitCode> {
    eprintln!("error: {msg}");
    Ok(ExitCode::from(1))
}

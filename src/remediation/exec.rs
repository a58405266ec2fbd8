//! Terraform for a remediation: find the workspace whose state holds an address (`terraform
//! state list`), make a saved plan targeting it (`plan -input=false -lock=false -target=ADDR
//! -out=PLAN`, `-refresh-only` to accept), read it back as text (`show -no-color PLAN`), and
//! apply exactly that file (`apply -input=false PLAN`). Every run has the reconcile's timeout;
//! every text that leaves here is masked.

use std::path::Path;

use super::{Kind, mask_output};
use crate::reconcile::exec::{command, first_lines, output};
use crate::reconcile::settings::{ReconcileSettings, Target};

async fn bounded(
    settings: &ReconcileSettings,
    c: tokio::process::Command,
    what: &str,
) -> Result<std::process::Output, String> {
    match tokio::time::timeout(settings.timeout, output(c, what)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "{what} did not finish within {}s (reconcile.timeout); it was stopped",
            settings.timeout.as_secs()
        )),
    }
}

async fn init_if_needed(settings: &ReconcileSettings, target: &Target) -> Result<(), String> {
    if !target.dir.is_dir() {
        return Err(format!(
            "{}: no such directory (workspaces[].dir must be a Terraform root module on disk)",
            target.dir.display()
        ));
    }
    if target.dir.join(".terraform").exists() {
        return Ok(());
    }
    let mut c = command(settings, target);
    c.args(["init", "-input=false", "-no-color"]);
    let out = bounded(settings, c, "terraform init").await?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "terraform init failed:\n{}",
            first_lines(
                &[],
                &String::from_utf8_lossy(&out.stderr),
                &String::from_utf8_lossy(&out.stdout)
            )
        ))
    }
}

/// Whether the target's state holds `address` (`terraform state list`).
pub async fn holds(
    settings: &ReconcileSettings,
    target: &Target,
    address: &str,
) -> Result<bool, String> {
    init_if_needed(settings, target).await?;
    let mut c = command(settings, target);
    c.args(["state", "list"]);
    let out = bounded(settings, c, "terraform state list").await?;
    if !out.status.success() {
        return Err(first_lines(&[], &String::from_utf8_lossy(&out.stderr), ""));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == address))
}

/// Makes the saved plan at `plan` and returns its text (masked). A plan with nothing to do is
/// an error: there is nothing to approve.
pub async fn plan(
    settings: &ReconcileSettings,
    target: &Target,
    kind: Kind,
    address: &str,
    plan: &Path,
) -> Result<String, String> {
    init_if_needed(settings, target).await?;
    let mut c = command(settings, target);
    c.args([
        "plan",
        "-input=false",
        "-lock=false",
        "-no-color",
        "-detailed-exitcode",
    ]);
    if kind == Kind::Accept {
        c.arg("-refresh-only");
    }
    c.arg(format!("-target={address}"))
        .arg(format!("-out={}", plan.display()));
    for v in &target.var_files {
        c.arg(format!("-var-file={v}"));
    }
    let out = bounded(settings, c, "terraform plan").await?;
    match out.status.code() {
        Some(2) => {}
        Some(0) => {
            return Err(format!(
                "terraform plan -target={address} has nothing to change: {address} is in line already, nothing to {}",
                kind.as_str()
            ));
        }
        _ => {
            return Err(format!(
                "terraform plan failed:\n{}",
                mask_output(&first_lines(
                    &[],
                    &String::from_utf8_lossy(&out.stderr),
                    &String::from_utf8_lossy(&out.stdout)
                ))
            ));
        }
    }
    let mut c = command(settings, target);
    c.args(["show", "-no-color"]).arg(plan);
    let shown = bounded(settings, c, "terraform show").await?;
    if !shown.status.success() {
        return Err(format!(
            "terraform show failed:\n{}",
            mask_output(&first_lines(
                &[],
                &String::from_utf8_lossy(&shown.stderr),
                ""
            ))
        ));
    }
    Ok(mask_output(&String::from_utf8_lossy(&shown.stdout)))
}

/// Applies the saved plan; `Ok(output)` when terraform succeeded, `Err(output)` otherwise
/// (both masked, stdout then stderr).
pub async fn apply(
    settings: &ReconcileSettings,
    target: &Target,
    plan: &Path,
) -> Result<String, String> {
    let mut c = command(settings, target);
    c.args(["apply", "-input=false", "-no-color"]).arg(plan);
    let out = bounded(settings, c, "terraform apply").await?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    if !err.trim().is_empty() {
        text.push('\n');
        text.push_str(&err);
    }
    let text = mask_output(&text);
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

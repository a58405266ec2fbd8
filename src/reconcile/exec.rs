//! Runs terraform for a reconcile: `init` when the root module was never initialised, then
//! `plan -refresh-only -json -lock=false -input=false -out=TMP` and `show -json TMP`. Never
//! `apply`, never a state write; the plan file lives in a temporary directory removed after.
//! A failure is an error with the first lines of what Terraform said (diagnostics first), never
//! taken for "in sync".

use std::path::Path;
use std::process::Stdio;

use super::plan::{PlanDoc, StreamReport, parse_plan, parse_stream};
use super::settings::{ReconcileSettings, Target};

/// Lines of stderr / diagnostics kept for the board.
pub const ERROR_LINES: usize = 6;

/// What a successful plan gave.
#[derive(Debug, Clone, Default)]
pub struct Planned {
    /// The UI stream.
    pub stream: StreamReport,
    /// The plan document.
    pub doc: PlanDoc,
}

/// terraform in a target's directory, workspace and environment (also used by remediation).
pub(crate) fn command(settings: &ReconcileSettings, target: &Target) -> tokio::process::Command {
    let bin = settings.terraform.as_deref().unwrap_or("terraform");
    let mut c = tokio::process::Command::new(bin);
    c.arg(format!("-chdir={}", target.dir.display()))
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_INPUT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if target.workspace == "default" {
        c.env_remove("TF_WORKSPACE");
    } else {
        c.env("TF_WORKSPACE", &target.workspace);
    }
    for (k, v) in &target.env {
        c.env(k, v);
    }
    c
}

/// The first lines of a failure: diagnostics, then stderr, then stdout.
pub(crate) fn first_lines(diags: &[String], stderr: &str, stdout: &str) -> String {
    let mut lines: Vec<String> = diags.to_vec();
    for text in [stderr, stdout] {
        lines.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| {
                    !l.is_empty() && !l.starts_with('{') && !l.chars().all(|c| "│╷╵─ ".contains(c))
                })
                .map(|l| l.trim_start_matches(['│', '╷', '╵', ' ']).to_string()),
        );
    }
    lines.dedup();
    lines.truncate(ERROR_LINES);
    if lines.is_empty() {
        "terraform failed without saying why".into()
    } else {
        lines.join("\n")
    }
}

/// Runs `c` to completion; a missing binary is named as such.
pub(crate) async fn output(
    mut c: tokio::process::Command,
    what: &str,
) -> Result<std::process::Output, String> {
    c.output().await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("{what}: terraform is not installed or not on PATH (install it, or set reconcile.terraform to its path)")
        } else {
            format!("{what}: cannot run terraform: {e}")
        }
    })
}

/// The workspaces `terraform workspace list` shows for a root module (for `workspace: "*"`).
pub async fn workspaces(settings: &ReconcileSettings, dir: &Path) -> Result<Vec<String>, String> {
    let t = Target {
        name: String::new(),
        dir: dir.to_path_buf(),
        workspace: "default".into(),
        var_files: Vec::new(),
        env: std::collections::BTreeMap::new(),
    };
    let mut c = command(settings, &t);
    c.args(["workspace", "list"]);
    let out = output(c, "terraform workspace list").await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(first_lines(
            &[],
            &String::from_utf8_lossy(&out.stderr),
            &stdout,
        ));
    }
    Ok(stdout
        .lines()
        .map(|l| l.trim_start_matches('*').trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Plans one workspace refresh-only and reads the plan.
pub async fn plan(settings: &ReconcileSettings, target: &Target) -> Result<Planned, String> {
    if !target.dir.is_dir() {
        return Err(format!(
            "{}: no such directory (workspaces[].dir must be a Terraform root module on disk)",
            target.dir.display()
        ));
    }
    if !target.dir.join(".terraform").exists() {
        let mut c = command(settings, target);
        c.args(["init", "-input=false", "-no-color"]);
        let out = output(c, "terraform init").await?;
        if !out.status.success() {
            return Err(format!(
                "terraform init failed:\n{}",
                first_lines(
                    &[],
                    &String::from_utf8_lossy(&out.stderr),
                    &String::from_utf8_lossy(&out.stdout)
                )
            ));
        }
    }
    let tmp =
        tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let plan_file = tmp.path().join("reconcile.tfplan");
    let mut c = command(settings, target);
    c.args([
        "plan",
        "-refresh-only",
        "-json",
        "-lock=false",
        "-input=false",
        "-no-color",
    ])
    .arg(format!("-out={}", plan_file.display()));
    for v in &target.var_files {
        c.arg(format!("-var-file={v}"));
    }
    let out = output(c, "terraform plan").await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stream = parse_stream(&stdout);
    if !out.status.success() || !stream.errors.is_empty() || !plan_file.exists() {
        return Err(first_lines(&stream.errors, &stderr, ""));
    }
    let mut c = command(settings, target);
    c.args(["show", "-json", "-no-color"]).arg(&plan_file);
    let shown = output(c, "terraform show").await?;
    if !shown.status.success() {
        return Err(format!(
            "terraform show -json failed:\n{}",
            first_lines(&[], &String::from_utf8_lossy(&shown.stderr), "")
        ));
    }
    let doc = parse_plan(&shown.stdout).map_err(|e| format!("terraform show -json: {e}"))?;
    Ok(Planned { stream, doc })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_prefer_diagnostics_and_drop_box_drawing() {
        let stderr = "╷\n│ Error: failed to get shared config profile, nope\n│ \n╵\n";
        let s = first_lines(&["No valid credential sources found".into()], stderr, "");
        assert_eq!(
            s,
            "No valid credential sources found\nError: failed to get shared config profile, nope"
        );
        assert_eq!(
            first_lines(&[], "", ""),
            "terraform failed without saying why"
        );
    }
}

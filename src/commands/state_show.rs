//! `tfdrift state show`: the managed resources tfdrift indexes, from local files and from the
//! `s3://` / `gs://` states a profile names (read once, with the profile's `remote_state`
//! endpoint and credential settings, exactly as the live pipeline reads them).
//!
//! A remote location that cannot be read does not hide the others: every state that loaded is
//! shown, each failure is named on stderr with what to check, and the exit status is 1. The
//! on-call engineer asking "does tfdrift see this resource?" gets the answer for everything
//! readable, and a script (or a tired human) cannot take a partial table for a complete one.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use tfdrift::state::StateIndex;
use tfdrift::state::remote::{RemoteStateConfig, is_remote, load_once};

use crate::cli::StateShowArgs;

pub fn run(args: &StateShowArgs) -> anyhow::Result<ExitCode> {
    if args.state.is_empty() && args.profile.profile.is_none() {
        anyhow::bail!("name a state (--state PATH) or a profile (--profile NAME)");
    }
    let setup = super::setup(&args.profile, &args.state, &[])?;
    let mut remote: Vec<String> = Vec::new();
    for s in setup.profile.state.iter().chain(&args.state) {
        if is_remote(s) && !remote.contains(s) {
            remote.push(s.clone());
        }
    }
    let mut index = setup.state.clone();
    let mut failed = std::collections::BTreeMap::new();
    let mut objects = 0;
    if !remote.is_empty() {
        let settings = &setup.profile.remote_state;
        let cfg = RemoteStateConfig {
            local: Vec::new(),
            remote,
            region: settings.region.clone(),
            endpoint_url: settings.endpoint_url.clone(),
            gcs_endpoint_url: settings.gcs_endpoint_url.clone(),
            ..RemoteStateConfig::default()
        };
        let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
        let loaded = rt.block_on(load_once(&cfg, None));
        objects = loaded.objects.len();
        let mut all = setup.state.resources().to_vec();
        all.extend(loaded.resources);
        index = std::sync::Arc::new(StateIndex::new(all));
        failed = loaded.failed;
    }
    let mut rows = index.summary();
    // A resource id can be a credential (an `aws_iam_access_key`'s id is its access key id):
    // the same detector as for alerts.
    for r in &mut rows {
        for t in [Some(&mut r.address), r.id.as_mut(), Some(&mut r.state_file)]
            .into_iter()
            .flatten()
        {
            if let Some(m) = tfdrift::mask::mask_text(t, false) {
                *t = m;
            }
        }
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        for r in &rows {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        }
    } else {
        let w = rows
            .iter()
            .map(|r| r.address.len())
            .max()
            .unwrap_or(7)
            .max(7);
        let t = rows.iter().map(|r| r.rtype.len()).max().unwrap_or(4).max(4);
        writeln!(
            out,
            "{:w$}  {:t$}  {:10}  ID",
            "ADDRESS", "TYPE", "PROVIDER"
        )?;
        for r in &rows {
            writeln!(
                out,
                "{:w$}  {:t$}  {:10}  {}",
                r.address,
                r.rtype,
                r.provider,
                r.id.as_deref().unwrap_or("-")
            )?;
        }
    }
    out.flush()?;
    if objects > 0 {
        eprintln!(
            "{} managed resource instances ({objects} remote state objects)",
            rows.len()
        );
    } else {
        eprintln!("{} managed resource instances", rows.len());
    }
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for (location, why) in &failed {
        eprintln!("error: remote state not read: {location}: {why}");
    }
    eprintln!(
        "error: {} remote state location(s) could not be read: the list above lacks their resources",
        failed.len()
    );
    Ok(ExitCode::from(1))
}

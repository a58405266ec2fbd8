//! `tfdrift api token --name N --role R`: a new random token, shown once, and the
//! `tokens.yaml` line (its SHA-256, never the token) that admits it.

use std::process::ExitCode;

use anyhow::Context as _;
use tfdrift::api::tokens::{Role, generate};

use crate::cli::ApiCommand;

pub fn run(cmd: &ApiCommand) -> anyhow::Result<ExitCode> {
    let ApiCommand::Token { name, role } = cmd;
    let role = Role::parse(role).context("role must be viewer, responder or admin")?;
    if name.trim().is_empty() {
        anyhow::bail!("--name is empty: name the person or robot the token is for");
    }
    let (token, line) = generate(name, role).context("the system random source failed")?;
    // stdout: the token, then the line (scripts take `head -1` and `tail -1`).
    println!("{token}");
    println!("{line}");
    eprintln!(
        "The first line is the token, shown only now: hand it to {name} (they set TFDRIFT_TOKEN \
         or use --token-file). Add the second line to the daemon's api.tokens_file (re-read on \
         change, no restart)."
    );
    Ok(ExitCode::SUCCESS)
}

//! `tfdrift state show`: the managed resources tfdrift indexes.

use std::io::Write as _;
use std::process::ExitCode;

use crate::cli::StateShowArgs;

pub fn run(args: &StateShowArgs) -> anyhow::Result<ExitCode> {
    if args.state.is_empty() && args.profile.profile.is_none() {
        anyhow::bail!("name a state (--state PATH) or a profile (--profile NAME)");
    }
    let setup = super::setup(&args.profile, &args.state, &[])?;
    let rows = setup.state.summary();
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
    eprintln!("{} managed resource instances", rows.len());
    Ok(ExitCode::SUCCESS)
}

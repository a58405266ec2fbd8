//! `tfdrift explain PLAN.json`: the plan guard — which changes of a saved plan would revert an
//! open out-of-band change (who, when, via what), which are code changes; exit 2 when a revert
//! is at or above `--min-severity`, unless `--allow-revert`.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context as _;
use tfdrift::alert::Severity;
use tfdrift::reconcile::attribution::{Subject, attribute};
use tfdrift::reconcile::explain::{blocks, explain, render};
use tfdrift::reconcile::{Attribution, plan::parse_plan};
use tfdrift::store::DriftFilter;

use crate::cli::ExplainArgs;

pub fn run(args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let min = Severity::parse(&args.min_severity).ok_or_else(|| {
        anyhow::anyhow!(
            "--min-severity '{}' is not a severity: use info, low, medium, high or critical",
            args.min_severity
        )
    })?;
    let bytes = if args.plan.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::stdin()
            .read_to_end(&mut b)
            .context("reading the plan from stdin")?;
        b
    } else {
        std::fs::read(&args.plan).with_context(|| {
            format!(
                "cannot read the plan '{}' (give `terraform show -json PLANFILE` output)",
                args.plan.display()
            )
        })?
    };
    let doc = parse_plan(&bytes).with_context(|| format!("{}", args.plan.display()))?;
    let Some(name) = &args.profile.profile else {
        anyhow::bail!(
            "name a profile: tfdrift explain PLAN.json --profile NAME (its store holds the open drifts)"
        );
    };
    let profile = tfdrift::config::load_profile(args.profile.config.as_deref(), name)?;
    let store = super::open_store(&profile.store.clone().unwrap_or_default())?;
    let open = store.drifts(&DriftFilter {
        unresolved_only: true,
        ..DriftFilter::default()
    })?;
    let now = chrono::Utc::now();
    let mut who = |d: &tfdrift::drift::Drift| -> Attribution {
        let subject = Subject {
            rtype: &d.rtype,
            id: &d.resource_id,
            address: d.address.as_deref().unwrap_or_default(),
            attribute: &d.attribute,
            deleted: d.kind == tfdrift::alert::AlertKind::ManagedResourceDeleted.as_str(),
        };
        let a = attribute(store.as_ref(), &subject, now, &open);
        if a.seen {
            return a;
        }
        Attribution {
            seen: !d.actors.is_empty(),
            actor: d.actors.last().cloned(),
            via: None,
            at: Some(d.first_seen),
            alert_id: Some(d.last_alert_id.clone()),
            event: None,
        }
    };
    let explained = explain(&doc, &open, &mut who);
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&explained)?),
        f => println!("{}", render(&explained, f == "markdown")),
    }
    if blocks(&explained, min) && !args.allow_revert {
        eprintln!(
            "the apply would revert open drift(s) at or above {}: accept them (tfdrift drifts resolve), change the code, or pass --allow-revert",
            min.as_str()
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

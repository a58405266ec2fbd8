//! `tfdrift drifts list|show|resolve`: the drift set of a profile's store, for people and CI.

use std::fmt::Write as _;
use std::process::ExitCode;

use tfdrift::alert::Severity;
use tfdrift::drift::{Drift, Status};
use tfdrift::store::{DriftAction, DriftFilter, Store};

use crate::cli::{DriftIdArgs, DriftsCommand, ProfileArgs};

/// Runs a `drifts` subcommand.
pub fn run(cmd: &DriftsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DriftsCommand::List(a) => {
            let store = store(&a.profile, "list")?;
            let min = match &a.min_severity {
                Some(s) => Some(Severity::parse(s).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--min-severity '{s}' is not a severity: use info, low, medium, high or critical"
                    )
                })?),
                None => None,
            };
            let drifts = store.drifts(&DriftFilter {
                unresolved_only: a.status == "open",
                min_severity: min,
                limit: 0,
            })?;
            if a.json {
                for d in &drifts {
                    println!("{}", serde_json::to_string(d)?);
                }
            } else {
                print_table(&drifts);
            }
            let open = drifts.iter().filter(|d| d.is_unresolved()).count();
            if a.fail_on_open && open > 0 {
                eprintln!("{open} unresolved drift(s)");
                return Ok(ExitCode::from(2));
            }
            Ok(ExitCode::SUCCESS)
        }
        DriftsCommand::Show(a) => show(a),
        DriftsCommand::Resolve(a) => {
            let store = store(&a.profile, "resolve")?;
            let who = a
                .who
                .clone()
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "cli".into());
            match store.drift_act(&a.id, DriftAction::Resolve, &who, chrono::Utc::now())? {
                Some(d) => {
                    println!(
                        "{} resolved by {who}; {} channel(s) will be told (by a running `tfdrift tui --no-ui`)",
                        d.id,
                        d.channels.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                None => anyhow::bail!(
                    "no unresolved drift '{}' in this profile's store (list them with `tfdrift drifts list --status all`)",
                    a.id
                ),
            }
        }
    }
}

fn store(p: &ProfileArgs, verb: &str) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    let Some(name) = &p.profile else {
        anyhow::bail!("name a profile: tfdrift drifts {verb} … --profile NAME");
    };
    let profile = tfdrift::config::load_profile(p.config.as_deref(), name)?;
    super::open_store(&profile.store.clone().unwrap_or_default())
}

fn resource(d: &Drift) -> String {
    let r = d
        .address
        .clone()
        .unwrap_or_else(|| format!("{} {}", d.rtype, d.resource_id));
    if d.attribute.is_empty() {
        r
    } else {
        format!("{r} {}", d.attribute)
    }
}

fn status(d: &Drift) -> String {
    match (d.status, d.resolved_reason) {
        (Status::Resolved, Some(r)) => format!("resolved:{}", r.as_str()),
        (s, _) => s.as_str().to_string(),
    }
}

fn print_table(drifts: &[Drift]) {
    println!(
        "{:<28} {:<9} {:<20} {:>5} {:<20} RESOURCE",
        "ID", "SEVERITY", "STATUS", "SEEN", "LAST SEEN"
    );
    for d in drifts {
        println!(
            "{:<28} {:<9} {:<20} {:>5} {:<20} {}",
            d.id,
            d.severity.as_str(),
            status(d),
            d.occurrences,
            d.last_seen.format("%Y-%m-%d %H:%M:%S"),
            resource(d)
        );
    }
}

fn show(a: &DriftIdArgs) -> anyhow::Result<ExitCode> {
    let store = store(&a.profile, "show")?;
    let Some(d) = store.drift(&a.id)? else {
        anyhow::bail!(
            "no drift '{}' in this profile's store (ids are the `drift_id` of alerts; list them with `tfdrift drifts list --status all`)",
            a.id
        );
    };
    let events = store.drift_events(&a.id)?;
    if a.json {
        println!("{}", serde_json::json!({"drift": d, "events": events}));
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}  {}", d.id, resource(&d));
    println!("  status:      {} (episode {})", status(&d), d.episode);
    println!("  severity:    {}", d.severity.as_str());
    println!("  kind:        {}", d.kind);
    println!("  first seen:  {}", d.first_seen.to_rfc3339());
    println!(
        "  last seen:   {} ({} occurrence(s))",
        d.last_seen.to_rfc3339(),
        d.occurrences
    );
    println!("  actors:      {}", d.actors.join(", "));
    println!("  state:       {}", d.state_value);
    println!("  observed:    {}", d.observed);
    if !d.rules.is_empty() {
        println!("  rules:       {}", d.rules.join(", "));
    }
    if let (Some(at), Some(r)) = (d.resolved_at, d.resolved_reason) {
        println!(
            "  resolved:    {} {} by {}",
            at.to_rfc3339(),
            r.as_str(),
            d.resolved_by.as_deref().unwrap_or("(unknown)")
        );
    }
    println!("  last alert:  {}", d.last_alert_id);
    println!("events:");
    for e in &events {
        let mut line = format!("  {} {}", e.at.to_rfc3339(), e.kind.as_str());
        if let Some(r) = e.reason {
            let _ = write!(line, " ({})", r.as_str());
        }
        if let Some(w) = &e.who {
            let _ = write!(line, " by {w}");
        }
        if let Some(al) = &e.alert_id {
            let _ = write!(line, " alert {al}");
        }
        if let Some(n) = &e.note {
            let _ = write!(line, " · {n}");
        }
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

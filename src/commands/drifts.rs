//! `tfdrift drifts list|show|resolve`: the drift set of a profile's store, for people and CI —
//! or of a team-mode daemon through its API (`--connect URL`, or a profile with `daemon:`), with
//! the same output (the `--json` lines are the same bytes) and the same exit statuses.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use tfdrift::alert::Severity;
use tfdrift::api::client::{Client, ClientOptions};
use tfdrift::api::proto as pb;
use tfdrift::drift::{Drift, DriftEvent, Status};
use tfdrift::store::{DriftAction, DriftFilter, Store};

use crate::cli::{ConnectArgs, DriftIdArgs, DriftsCommand, DriftsListArgs, ProfileArgs};

/// Where the drifts are read: the profile's store, or a daemon.
enum Source {
    Local(Arc<dyn Store>),
    Remote(ClientOptions),
}

/// Runs a `drifts` subcommand.
pub fn run(cmd: &DriftsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DriftsCommand::List(a) => list(a),
        DriftsCommand::Show(a) => show(a),
        DriftsCommand::Resolve(a) => resolve(a),
    }
}

/// `--connect` wins; else the profile: its `daemon:` (a client profile) or its store.
fn source(p: &ProfileArgs, c: &ConnectArgs, verb: &str) -> anyhow::Result<Source> {
    if c.connect.is_some() {
        return Ok(Source::Remote(super::watch::options(c, p)?));
    }
    let Some(name) = &p.profile else {
        anyhow::bail!(
            "name a profile (tfdrift drifts {verb} … --profile NAME) or a daemon (--connect URL)"
        );
    };
    let profile = tfdrift::config::load_profile(p.config.as_deref(), name)?;
    if profile.daemon.is_some() {
        return Ok(Source::Remote(super::watch::options(c, p)?));
    }
    Ok(Source::Local(super::open_store(
        &profile.store.clone().unwrap_or_default(),
    )?))
}

/// Runs one call on the daemon (connects, calls, returns).
fn on_daemon<T>(
    opts: &ClientOptions,
    f: impl AsyncFnOnce(&mut Client) -> Result<T, tfdrift::api::client::ClientError>,
) -> anyhow::Result<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let mut c = Client::connect(opts).await?;
        f(&mut c).await
    })
    .map_err(|e| anyhow::anyhow!("{e}"))
}

fn list(a: &DriftsListArgs) -> anyhow::Result<ExitCode> {
    let min = match &a.min_severity {
        Some(s) => Some(Severity::parse(s).ok_or_else(|| {
            anyhow::anyhow!(
                "--min-severity '{s}' is not a severity: use info, low, medium, high or critical"
            )
        })?),
        None => None,
    };
    let drifts = match source(&a.profile, &a.remote, "list")? {
        Source::Local(store) => store.drifts(&DriftFilter {
            unresolved_only: a.status == "open",
            min_severity: min,
            limit: 0,
        })?,
        Source::Remote(opts) => {
            let req = pb::ListDriftsRequest {
                status: a.status.clone(),
                min_severity: min.map(|s| s.as_str().to_string()).unwrap_or_default(),
                limit: 0,
            };
            let reply = on_daemon(&opts, async |c| c.list_drifts(req).await)?;
            reply
                .drifts
                .iter()
                .map(tfdrift::api::drifts::from_record)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("{} answered ListDrifts: {e}", opts.url))?
        }
    };
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

fn resolve(a: &DriftIdArgs) -> anyhow::Result<ExitCode> {
    match source(&a.profile, &a.remote, "resolve")? {
        Source::Local(store) => {
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
        Source::Remote(opts) => {
            let reply = on_daemon(&opts, async |c| {
                c.act_drift(&a.id, pb::Action::Resolve, None).await
            })?;
            println!(
                "{} resolved by {} on the daemon; it tells every channel that heard of it",
                a.id,
                reply.status.map(|s| s.who).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
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
    let (d, events) = match source(&a.profile, &a.remote, "show")? {
        Source::Local(store) => {
            let Some(d) = store.drift(&a.id)? else {
                anyhow::bail!(
                    "no drift '{}' in this profile's store (ids are the `drift_id` of alerts; list them with `tfdrift drifts list --status all`)",
                    a.id
                );
            };
            let events = store.drift_events(&a.id)?;
            (d, events)
        }
        Source::Remote(opts) => {
            let reply = on_daemon(&opts, async |c| c.get_drift(&a.id, 0).await)?;
            let bad = |e: String| anyhow::anyhow!("{} answered GetDrift: {e}", opts.url);
            let d = reply
                .drift
                .as_ref()
                .ok_or_else(|| bad("no drift in the reply".into()))
                .and_then(|r| tfdrift::api::drifts::from_record(r).map_err(bad))?;
            let events = reply
                .events
                .iter()
                .map(|e| tfdrift::api::drifts::event_from(&d.id, e))
                .collect::<Result<Vec<DriftEvent>, _>>()
                .map_err(bad)?;
            (d, events)
        }
    };
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

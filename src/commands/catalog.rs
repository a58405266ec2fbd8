//! `tfdrift catalog`: coverage by service; `catalog check`: coverage on real logs, per catalog
//! file; `catalog show`: an event name's mapping and the file it comes from. With a profile,
//! its own `catalog:` files are loaded over the built-in catalog.

use std::process::ExitCode;
use std::sync::Arc;

use tfdrift::catalog::Catalog;
use tfdrift::catalog::user::Shown;
use tfdrift::config::Profile;
use tfdrift::pipeline::{Engine, EngineOptions, Stats, replay::replay_paths};
use tfdrift::state::StateIndex;

use crate::cli::{CatalogArgs, CatalogCommand};

pub fn run(args: &CatalogArgs) -> anyhow::Result<ExitCode> {
    let profile = match &args.profile.profile {
        Some(name) => tfdrift::config::load_profile(args.profile.config.as_deref(), name)?,
        None => Profile::default(),
    };
    let catalog = super::load_catalog(&profile)?;
    match &args.command {
        Some(CatalogCommand::Show { event }) => return Ok(show(&catalog, event, args.json)),
        None => {
            let rows = catalog.coverage();
            if args.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:4}  {:40}  {:>6}  {:>6}  TYPES",
                    "PROV", "SOURCE", "EVENTS", "ATTRS"
                );
                for r in &rows {
                    println!(
                        "{:4}  {:40}  {:>6}  {:>6}  {}",
                        r.provider,
                        r.source,
                        r.events,
                        r.with_attributes,
                        r.types.len()
                    );
                }
                let events: usize = rows.iter().map(|r| r.events).sum();
                let attrs: usize = rows.iter().map(|r| r.with_attributes).sum();
                println!(
                    "total: {events} mappings ({attrs} with attribute extraction), {} services",
                    rows.len()
                );
            }
        }
        Some(CatalogCommand::Check { inputs }) => {
            let mut engine = Engine::new(
                Arc::new(catalog),
                Arc::new(StateIndex::default()),
                &EngineOptions::default(),
            )?;
            let mut stats = Stats::default();
            replay_paths(&mut engine, inputs, &mut stats, &mut |_| {})?;
            let understood = stats.mapped + stats.operational;
            let mutating = understood
                + stats.unsupported
                + stats.ambiguous.values().sum::<u64>()
                + stats.no_resource.values().sum::<u64>();
            #[allow(clippy::cast_precision_loss)]
            let share = if mutating == 0 {
                100.0
            } else {
                understood as f64 * 100.0 / mutating as f64
            };
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"mutating": mutating, "mapped": understood, "share_percent": share,
                        "unsupported": stats.unsupported_by_name, "ambiguous": stats.ambiguous,
                        "no_resource": stats.no_resource, "mapped_by_file": stats.mapped_by_file})
                );
            } else {
                println!("{mutating} mutating events, {understood} mapped ({share:.1}%)");
                let mut names: Vec<_> = stats.unsupported_by_name.iter().collect();
                names.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                for (n, c) in names {
                    println!("  unsupported  {c:>5}  {n}");
                }
                for (n, c) in &stats.ambiguous {
                    println!("  ambiguous    {c:>5}  {n}");
                }
                for (n, c) in &stats.no_resource {
                    println!("  no resource  {c:>5}  {n}");
                }
                for (file, c) in &stats.mapped_by_file {
                    println!("  mapped by    {c:>5}  {file}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `catalog show EVENT`: every mapping of the name, with its file; exit 1 when none.
fn show(catalog: &Catalog, event: &str, json: bool) -> ExitCode {
    let found = catalog.explain(event);
    if json {
        let rows: Vec<serde_json::Value> = found
            .iter()
            .map(|s| match s {
                Shown::Operational { provider, sources } => serde_json::json!({
                    "provider": provider.as_str(), "operational": true, "sources": sources,
                }),
                Shown::Mapping { provider, mapping } => serde_json::json!({
                    "provider": provider.as_str(), "name": mapping.name, "source": mapping.source,
                    "file": mapping.file,
                    "types": mapping.all_targets().iter().map(|t| t.rtype.as_str()).collect::<Vec<_>>(),
                    "attributes": mapping.all_targets().iter()
                        .flat_map(|t| t.attributes.iter().map(|a| a.path.as_str())).collect::<Vec<_>>(),
                }),
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else if found.is_empty() {
        eprintln!(
            "'{event}' is not in the catalog: events with that name are counted as unsupported (map it in a profile's `catalog:` file)"
        );
    } else {
        for s in &found {
            match s {
                Shown::Operational { provider, sources } => {
                    let sources: Vec<&str> =
                        sources.iter().map(|s| s.unwrap_or("any source")).collect();
                    println!(
                        "{} {event}: operational (start/stop/reboot: counted, never alerted) for {}",
                        provider.as_str(),
                        sources.join(", ")
                    );
                }
                Shown::Mapping { provider, mapping } => {
                    println!(
                        "{} {} ({}) from {}",
                        provider.as_str(),
                        mapping.name,
                        mapping.source.as_deref().unwrap_or("any source"),
                        mapping.file
                    );
                    for t in mapping.all_targets() {
                        let attrs: Vec<&str> =
                            t.attributes.iter().map(|a| a.path.as_str()).collect();
                        println!(
                            "  → {}{}",
                            t.rtype,
                            if attrs.is_empty() {
                                String::new()
                            } else {
                                format!(" [{}]", attrs.join(", "))
                            }
                        );
                    }
                }
            }
        }
    }
    if found.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

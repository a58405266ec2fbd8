//! `tfdrift catalog`: coverage by service; `catalog check`: coverage on real logs.

use std::process::ExitCode;
use std::sync::Arc;

use tfdrift::catalog::Catalog;
use tfdrift::pipeline::{Engine, EngineOptions, Stats, replay::replay_paths};
use tfdrift::state::StateIndex;

use crate::cli::{CatalogArgs, CatalogCommand};

pub fn run(args: &CatalogArgs) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::embedded()?;
    match &args.command {
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
                        "no_resource": stats.no_resource})
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
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! tfdrift: real-time drift detection for Terraform-managed cloud infrastructure.
//!
//! The library is the whole detection pipeline with no UI dependency:
//! `input` → `normalize` → `catalog`/`map` → `detect` → (rules) → `alert`, with `state` feeding
//! detection. The binary adds the command line and, behind the `tui` feature, the terminal UI.

pub mod alert;
pub mod api;
pub mod assets;
pub mod backoff;
pub mod catalog;
pub mod collect;
pub mod compare;
pub mod config;
pub mod detect;
pub mod drift;
pub mod enrich;
pub mod event;
pub mod fsutil;
pub mod fswatch;
pub mod input;
pub mod map;
pub mod mask;
pub mod normalize;
pub mod notify;
pub mod pipeline;
pub mod reconcile;
pub mod remediation;
pub mod rules;
pub mod state;
pub mod store;
#[cfg(feature = "tui")]
pub mod tui;

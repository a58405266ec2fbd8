//! The terminal UI (feature `tui`): TEA style — one [`App`](app::App) state, [`Action`](app::Action)s
//! from keys, mouse, the pipeline and a tick; [`App::update`](app::App::update) is the only
//! mutation; panes are functions drawing from `&App`. The runtime drains every queued message,
//! then draws once, and only when something visible changed.

pub mod app;
pub mod backend;
pub mod clipboard;
pub mod command;
pub mod diff;
pub mod editor;
pub mod feed;
pub mod filter;
pub mod group;
pub mod keymap;
pub mod logs;
pub mod markdown;
pub mod now;
pub mod persist;
pub mod remedy;
pub mod run;
pub mod theme;
pub mod ui;
pub mod why;
pub mod workspaces;

pub use app::{Action, App, Effect, Meta};
pub use run::{AlertConverter, RunOptions, run};

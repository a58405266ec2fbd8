//! The detection pipeline: the synchronous [`engine::Engine`] that turns events into alerts, and
//! the drivers around it (replay of recorded files; live tasks come with the live sources).

pub mod assemble;
pub mod classify;
pub mod engine;
pub mod replay;
pub mod runtime;
pub mod stats;

pub use engine::{Engine, EngineOptions, Signals};
pub use runtime::{BatchAck, PipelineConfig, PipelineHandle, SourceItem, spawn};
pub use stats::Stats;

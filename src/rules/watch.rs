//! Hot reload (placeholder).
/// Placeholder.
pub struct RuleWatcher;

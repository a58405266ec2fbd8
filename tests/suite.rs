//! The integration tests, as one test binary: every `tests/<name>.rs` is a module here.
//!
//! One binary instead of one per file: each test binary links the whole dependency tree (AWS and
//! Google SDKs, tonic, ratatui), so fifty of them took gigabytes of disk and minutes of linking
//! in CI; one links once. Run a file's tests with `cargo test --test suite <name>::`.
//! Cargo's automatic test discovery is off (`autotests = false`): a new file here needs its `mod`
//! line below.

// Shared support for several files.
mod common;
mod drift_support;
mod gcp_support;
mod gcs_support;
mod live_support;
#[path = "support/team.rs"]
mod team_support;
mod tf_support;

// One module per test file.
mod catalog_cases;
mod catalog_corpus;
mod catalog_loads;
mod catalog_reload;
mod catalog_types;
mod corpus_inputs;
mod corpus_states;
mod daemon_cli;
mod demo;
mod deploy;
mod drift_lifecycle;
mod durable_acks;
mod enrich;
mod golden;
mod hostile_input;
mod live_config;
mod live_falco_grpc;
mod live_falco_http;
mod live_pubsub;
mod live_s3_backfill;
mod live_sqs;
mod live_sqs_kill;
mod live_state_gcs;
mod live_state_s3;
mod live_state_show;
mod normalize_shapes;
mod notify_http;
mod notify_issues;
mod notify_kill;
mod notify_resolve;
mod notify_routing;
mod notify_smtp;
mod pipeline_rule_reload;
mod reconcile;
mod reconcile_daemon;
mod remediation;
mod replay_equivalence;
mod rules_eval;
mod rules_packs;
mod rules_validate;
mod secrets_everywhere;
mod store;
mod store_kill;
mod team_api;
mod team_drifts;
mod team_monitor;
mod team_rules;
mod terraform_cli_config;
mod terraform_drift_applied;
mod terraform_refresh_only;
mod terraform_s3_backend;
mod tui_e2e;
mod tui_snapshots;

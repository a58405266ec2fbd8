//! Team mode: the headless daemon owns the pipeline and serves a gRPC API (`proto/tfdrift/v1`,
//! package `tfdrift.v1`); monitors and scripts attach to it ([`client`]).
//!
//! Every call carries the client's protocol version ([`PROTOCOL_HEADER`]) and, when the daemon
//! has a tokens file, a bearer token; [`auth::Gate`] checks both before any handler runs and
//! hands the handler the [`tokens::Caller`] whose name is recorded with every write.

pub mod auth;
pub mod client;
pub mod convert;
pub mod drifts;
pub mod remediation;
pub mod rules;
pub mod server;
pub mod settings;
pub mod tokens;
pub mod watch;
pub mod workspaces;

/// Code generated from `proto/tfdrift/v1/*.proto`.
#[allow(
    missing_docs,
    nonstandard_style,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    unreachable_pub
)]
pub mod proto {
    tonic::include_proto!("tfdrift.v1");
}

/// The daemon's side of the same service, generated with every message from [`proto`] except the
/// `Watch` stream's items, sent pre-encoded ([`watch::Encoded`]; see `build.rs`).
#[allow(
    missing_docs,
    nonstandard_style,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    unreachable_pub
)]
pub mod proto_server {
    include!(concat!(env!("OUT_DIR"), "/api_server/tfdrift.v1.rs"));
}

/// Protocol major: changes only with an incompatible change (then the package becomes `v2`).
pub const PROTOCOL_MAJOR: u32 = 1;
/// Protocol minor: bumped when fields or calls are added (compatible both ways). 1: drift acts
/// (`ActRequest.drift_id`) and the Rules calls; 2: the drift calls (`ListDrifts`,
/// `GetDrift`), the reconcile board (`ListWorkspaceRuns`) and remediation behind approval.
pub const PROTOCOL_MINOR: u32 = 2;
/// Metadata key carrying the client's `MAJOR.MINOR`.
pub const PROTOCOL_HEADER: &str = "tfdrift-protocol";

/// This build's protocol version, `MAJOR.MINOR`.
#[must_use]
pub fn protocol() -> String {
    format!("{PROTOCOL_MAJOR}.{PROTOCOL_MINOR}")
}

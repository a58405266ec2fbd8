//! Terraform state: parsing v4 state files and indexing their managed resources for lookups by
//! type and id, and by alternate identities (ARN, name, bucket, self link, GCP relative name).
//!
//! Remote backends (S3, GCS) are read by [`remote`]; everything else works on bytes.

pub mod index;
pub mod load;
pub mod parse;
pub mod remote;

pub use index::{StateIndex, StateSummary};
pub use load::{LoadFailure, load_states};
pub use parse::{Resource, StateError, parse_state};

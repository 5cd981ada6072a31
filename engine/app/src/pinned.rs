//! Flows as a case was pinned to them: a stored flow version linked again.

use blankett_core::store::FlowVersion;
use blankett_core::{Flow, Sources, load};

/// A flow version as the store keeps it (see `AppState::start`), linked again: the flow
/// `flow_id` with `content_hash`, or `None` if the sources do not give it.
pub fn flow_from_version(version: &FlowVersion, flow_id: &str, content_hash: &str) -> Option<Flow> {
    let sources: Sources = serde_json::from_str(&version.sources).ok()?;
    let (defs, _) = load(&sources);
    defs.flows
        .into_iter()
        .find(|f| f.id == flow_id && f.content_hash == content_hash)
}

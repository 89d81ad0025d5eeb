//! Every counter the tenant authorization filter emits, declared once.
//! Labels (see [`crate::metrics`]): `rule` and `reason`.

/// Requests allowed (label `rule`; none when unmatched and allowed).
pub const ALLOWED: &str = "edgeward.tenant.allowed";
/// Requests denied (labels `rule` when a rule decided, `reason`).
pub const DENIED: &str = "edgeward.tenant.denied";
/// Requests let through that the policy would have denied (shadow mode;
/// labels `rule`, `reason`).
pub const SHADOW_DENIED: &str = "edgeward.tenant.shadow_denied";
/// Client-supplied copies of identity headers, removed.
pub const IDENTITY_HEADER_REMOVED: &str = "edgeward.tenant.identity_header_removed";
/// Method-override headers removed (`method_override: strip`).
pub const METHOD_OVERRIDE_REMOVED: &str = "edgeward.tenant.method_override_removed";

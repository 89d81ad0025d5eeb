//! Tenant authorization: may this caller, for this tenant, do this method
//! on this resource? Ordered allow/deny rules over the verified identity
//! (`edgeward.identity`), the canonical path, headers, the client address,
//! the time, the mTLS peer and the JSON body, with the tenant bound to a
//! path segment, header or body field. Filter `edgeward_tenant`.
//!
//! - [`config`]: the policy, compiled and validated at configure time;
//! - [`engine`]: the decision, pure;
//! - [`runtime`]: [`TenantFilter`], the filter on the shared layer.

pub mod config;
pub mod engine;
pub mod metrics;
pub mod runtime;

pub use config::AuthzConfig;
pub use runtime::{TenantFilter, DECISION_PROPERTY};
